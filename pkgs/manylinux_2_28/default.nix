# The manylinux_2_28 stdenv: kernels are compiled and linked against glibc
# 2.28 and the libstdc++ scheme of the AlmaLinux 8 gcc toolset (the base of
# the manylinux_2_28 images), so their versioned symbols stay within the
# policy (GLIBC 2.28, GLIBCXX 3.4.24, CXXABI 1.3.11).
#
# Package-set pattern: metadata/<system>.json (`cargo xtask pkgmeta rpm`,
# see pkgs/README.md) -> rpm/generic-builder.nix -> overrides.nix ->
# toolchain.nix (sysroot, gcc, binutils, wrapped into `stdenv`).
{
  lib,
  stdenv,
  callPackage,
}:
let
  system = stdenv.hostPlatform.system;
  arch = stdenv.hostPlatform.parsed.cpu.name;
  # The gcc toolset of the manylinux_2_28 images.
  toolset = "gcc-toolset-14";
  supported = builtins.elem system [
    "x86_64-linux"
    "aarch64-linux"
  ];
  regenerate = lib.concatStringsSep " " [
    "cargo xtask pkgmeta rpm"
    "--arch ${arch}"
    "--repo https://repo.almalinux.org/almalinux/8/AppStream/${arch}/os"
    "--repo https://repo.almalinux.org/almalinux/8/BaseOS/${arch}/os"
    "--package ${toolset}-gcc-c++ --package ${toolset}-binutils"
    "--package ${toolset}-libstdc++-devel --package libstdc++ --package libgcc"
    "--package glibc --package glibc-devel --package glibc-headers --package kernel-headers"
    "--exclude bash --exclude filesystem --exclude basesystem --exclude setup --exclude tzdata"
    "--exclude 'glibc-langpack-*' --exclude glibc-minimal-langpack --exclude info --exclude coreutils"
    "--exclude environment-modules --exclude scl-utils --exclude libselinux --exclude 'systemd*'"
    "-o pkgs/manylinux_2_28/metadata/${system}.json"
  ];
  set = callPackage ../package-set.nix { } {
    name = "manylinux_2_28 ${system}";
    metadataFile = ./metadata + "/${system}.json";
    inherit regenerate;
    prefixes = [
      "opt/rh/${toolset}/root/usr"
      "usr"
    ];
    overrides = [ (import ./overrides.nix { inherit toolset; }) ];
    extensions = [ (import ./toolchain.nix { inherit toolset; }) ];
  };
in
if supported then
  set
else
  {
    description = "none";
    # No `stdenv` attribute: callers fall back to nixpkgs' stdenv (macOS).
  }
