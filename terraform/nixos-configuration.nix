# NixOS configuration of the kernel build machine. bootstrap.sh installs it
# as /etc/nixos/configuration.nix next to kernel-builder.json, the settings
# Terraform renders from variables.tf.
{ modulesPath, pkgs, ... }:
let
  settings = builtins.fromJSON (builtins.readFile ./kernel-builder.json);
in
{
  imports = [ "${modulesPath}/virtualisation/amazon-image.nix" ];

  # The Nix store lives on the data volume (bootstrap.sh copied /nix there).
  fileSystems."/nix" = {
    device = "/dev/disk/by-label/nix-store";
    fsType = "ext4";
    neededForBoot = true;
    options = [ "noatime" ];
  };

  nix.settings = {
    experimental-features = [
      "nix-command"
      "flakes"
    ];
    # Kernels are only built sandboxed (see the Security guide).
    sandbox = true;
    max-jobs = settings.max_jobs;
    trusted-users = [
      "root"
      "builder"
    ];
    extra-substituters = map (s: s.url) settings.substituters;
    extra-trusted-public-keys = map (s: s.key) settings.substituters;
  };
  nix.gc = {
    automatic = true;
    dates = "weekly";
    options = "--delete-older-than 30d";
  };

  # `use flake` in a kernel's .envrc activates its devshell on `cd`.
  programs.direnv = {
    enable = true;
    nix-direnv.enable = true;
  };

  users.users.builder = {
    isNormalUser = true;
    extraGroups = [ "wheel" ];
    openssh.authorizedKeys.keys = [ settings.ssh_public_key ];
  };
  security.sudo.wheelNeedsPassword = false;

  services.openssh = {
    enable = true;
    settings = {
      PasswordAuthentication = false;
      PermitRootLogin = "no";
    };
  };

  # NVIDIA driver for running CUDA tests on GPU instances; builds do not need it.
  hardware.graphics.enable = true;
  hardware.nvidia = {
    open = true;
    datacenter.enable = true;
  };
  nixpkgs.config.allowUnfree = true;

  environment.systemPackages = with pkgs; [
    git
    gh
    tmux
    htop
    nvtopPackages.nvidia
  ];

  system.stateVersion = "25.11";
}
