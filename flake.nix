{
  description = "kernel-builder: build, check and publish Hugging Face Hub kernels";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      pure = import ./lib/pure.nix;
      # The systems of the variant matrix (data/matrix.toml).
      systems = pure.systems;
      overlay = import ./pkgs/overlay.nix { builderSelf = self; };
      # One nixpkgs per system, instantiated only when a derivation needs it.
      pkgsBySystem = pure.genAttrs systems (
        system:
        import nixpkgs {
          inherit system;
          overlays = [ overlay ];
          # CUDA is unfree; kernels built for it must be allowed to use it.
          config.allowUnfree = true;
        }
      );
      builder = {
        inherit self nixpkgs overlay;
        pkgsFor = system: pkgsBySystem.${system};
      };
      forAllSystems = f: pure.genAttrs systems (system: f pkgsBySystem.${system});
    in
    {
      # `genKernelFlakeOutputs` and the pure plan helpers.
      lib = import ./lib { inherit builder; };

      overlays.default = overlay;

      packages = forAllSystems (pkgs: {
        kernel-builder = pkgs.kernel-builder;
        default = pkgs.kernel-builder;
      });

      # Working on this repository: Rust, Nix formatting, Python, CMake.
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            nixfmt
            python3
            cmake
            ninja
            patchelf
            git
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      templates = rec {
        kernel = {
          path = ./templates/flake;
          description = "A Hugging Face Hub kernel built with kernel-builder";
          welcomeText = ''
            Kernel flake created. Next:
              - write build.toml (or start from `kernel-builder init`)
              - `nix run .#build-and-copy -L`, or `nix develop` / `echo 'use flake' > .envrc`
              - optional, faster evaluation: `kernel-builder plan --write` and commit kernel-plan.json
          '';
        };
        default = kernel;
      };

      checks = forAllSystems (pkgs: {
        kernel-builder = pkgs.kernel-builder;
      });
    };
}
