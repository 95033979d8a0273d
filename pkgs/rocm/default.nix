# ROCm from AMD's RPM repository (repo.radeon.com), one package set per ROCm
# version of the matrix, with the package-set pattern (metadata JSON ->
# generic builder -> overrides -> toolkit). `forVersion "7.1"` gives the set;
# its `toolkit` merges the components and wraps hipcc.
{
  lib,
  callPackage,
  stdenv,
}:
let
  system = stdenv.hostPlatform.system;
  # What HIP kernels and torch's ROCm wheel need: compiler, runtime, device
  # libraries and the math/communication libraries libtorch_hip links.
  packages = [
    "hipcc"
    "hip-devel"
    "hip-runtime-amd"
    "rocm-llvm"
    "rocm-device-libs"
    "rocm-core"
    "comgr"
    "hsa-rocr"
    "rocblas"
    "hipblas"
    "hipblaslt"
    "hipfft"
    "hipsparse"
    "hipsolver"
    "rocsolver"
    "hiprand"
    "rocrand"
    "miopen-hip"
    "rccl"
    "roctracer"
  ];
  regenerate =
    version:
    lib.concatStringsSep " " (
      [
        "cargo xtask pkgmeta rpm --arch x86_64"
        "--repo https://repo.radeon.com/rocm/el8/${version}/main"
        "--repo https://repo.almalinux.org/almalinux/8/BaseOS/x86_64/os"
      ]
      ++ map (p: "--package ${p}") packages
      ++ [
        "--exclude bash --exclude filesystem --exclude 'glibc*' --exclude 'perl*' --exclude 'python3*'"
        "--exclude libdrm --exclude numactl-libs --exclude elfutils-libelf --exclude zlib --exclude ncurses-libs"
        "-o pkgs/rocm/metadata/${version}-${system}.json"
      ]
    );
  forVersion =
    version:
    callPackage ../package-set.nix { } {
      name = "ROCm ${version} ${system}";
      metadataFile = ./metadata + "/${version}-${system}.json";
      regenerate = regenerate version;
      prefixes = [ "opt/rocm-*" ];
      overrides = [ (import ./overrides.nix) ];
      extensions = [ (import ./toolkit.nix { inherit version packages; }) ];
    };
in
{
  inherit forVersion packages;
}
