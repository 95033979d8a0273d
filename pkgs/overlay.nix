# The kernel-builder overlay (`overlays.default`): the CLI and the package
# sets kernel builds use.
#
#   kernel-builder  the Rust CLI, built from Cargo.lock
#   kbManylinux     manylinux_2_28 toolchain (AlmaLinux 8 gcc toolset RPMs) and its stdenv
#   kbTorch         torch from the official wheels, per torch x compute x system
#   kbRocm          ROCm from repo.radeon.com RPMs, per ROCm version
#   kbXpu           oneAPI (XPU) from Intel's RPM repository, per version
#   kbPython        Python wheels not in nixpkgs (kernels, apache-tvm-ffi)
#
# CUDA comes from nixpkgs' own cudaPackages_<major>_<minor>.
{ builderSelf }:
final: prev:
let
  pure = import ../lib/pure.nix;
  provenance = pure.provenance builderSelf;
in
{
  kernel-builder = final.callPackage ./kernel-builder {
    inherit (provenance) commit dirty;
  };
  kbManylinux = final.callPackage ./manylinux_2_28 { };
  kbTorch = final.callPackage ./torch { };
  kbRocm = final.callPackage ./rocm { };
  kbXpu = final.callPackage ./xpu { };
  kbPython = final.callPackage ./python { };
}
