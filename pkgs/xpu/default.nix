# Intel oneAPI (XPU) from Intel's RPM repository, one package set per oneAPI
# version of the matrix, with the package-set pattern. `forVersion
# "2025.3.2"` gives the set; its `toolkit` holds icpx and the SYCL runtime.
{
  lib,
  callPackage,
  stdenv,
}:
let
  system = stdenv.hostPlatform.system;
  packagesFor =
    version:
    let
      mm = lib.versions.majorMinor version;
    in
    [
      "intel-oneapi-compiler-dpcpp-cpp-${mm}"
      "intel-oneapi-compiler-dpcpp-cpp-runtime-${mm}"
      "intel-oneapi-mkl-sycl-devel-${mm}"
      "intel-oneapi-dnnl-devel-${mm}"
      "intel-pti-dev"
    ];
  regenerate =
    version:
    lib.concatStringsSep " " (
      [
        "cargo xtask pkgmeta rpm --arch x86_64"
        "--repo https://yum.repos.intel.com/oneapi"
      ]
      ++ map (p: "--package ${p}") (packagesFor version)
      ++ [
        "--exclude bash --exclude 'glibc*' --exclude 'perl*' --exclude 'python3*' --exclude 'libstdc++*' --exclude 'libgcc*'"
        "-o pkgs/xpu/metadata/${version}-${system}.json"
      ]
    );
  forVersion =
    version:
    callPackage ../package-set.nix { } {
      name = "oneAPI ${version} ${system}";
      metadataFile = ./metadata + "/${version}-${system}.json";
      regenerate = regenerate version;
      # /opt/intel/oneapi/<component>/<major.minor>/{bin,lib,include}
      prefixes = [ "opt/intel/oneapi/*/${lib.versions.majorMinor version}" ];
      overrides = [ (import ./overrides.nix) ];
      extensions = [
        (import ./toolkit.nix {
          inherit version;
          packages = packagesFor version;
        })
      ];
    };
in
{
  inherit forVersion packagesFor;
}
