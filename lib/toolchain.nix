# The toolchain of one variant: stdenv, Python with the variant's torch, the
# compute toolkit, and what the generated CMake project needs (KB_* cache
# variables). Selected by the plan's fields (framework version, backend,
# toolkit) and checked against data/matrix.toml; nothing is derived here.
#
# Linux variants use the manylinux_2_28 stdenv (pkgs/manylinux_2_28: the
# AlmaLinux 8 gcc toolset, glibc 2.28); macOS variants nixpkgs' stdenv.
{
  lib,
  pkgs,
  stdenv,
  python3,
  pure,
  plan,
  variant,
  system,
}:
let
  isDarwin = lib.hasSuffix "-darwin" system;
  toolkit = pure.toolkitFor variant;

  # Framework: the variant's torch, or for noarch variants the newest torch
  # of the matrix (used for the checks, as the local backend does).
  torchVersion =
    if variant.torch != null then
      variant.torch.version
    else if (variant."tvm-ffi" or null) != null then
      null
    else
      lib.last (lib.sort (a: b: builtins.compareVersions a b < 0) (builtins.attrNames pure.matrix.torch));
  wheelVariant =
    if variant.torch != null then
      variant
    else
      variant
      // {
        torch = {
          version = torchVersion;
        };
        backend = "cpu";
        toolkit = null;
      };
  torch =
    if torchVersion == null then
      null
    else
      pkgs.kbTorch.fromWheel {
        wheel = pure.torchWheelFor {
          wheels = pkgs.kbTorch.wheels;
          variant = wheelVariant;
          inherit system;
        };
        runtimeLibs =
          cudaRuntime
          ++ lib.optional (rocm != null) rocm.toolkit
          ++ lib.optional (xpu != null) xpu.toolkit;
      };
  tvmFfi = if (variant."tvm-ffi" or null) != null then pkgs.kbPython.wheel "apache-tvm-ffi" else null;

  # The kernel's python-depends for this variant (general and per backend,
  # as the plan lists them), from the recorded wheels.
  pythonDepends = pkgs.kbPython.forDepends {
    names = variant."python-depends" or [ ];
    inherit torch;
  };

  buildPython = python3.withPackages (
    ps:
    lib.optional (torch != null) torch
    ++ lib.optional (tvmFfi != null) tvmFfi
    ++ pythonDepends
    ++ [ ps.setuptools ]
  );

  cudaPackages =
    if toolkit.kind != "cuda" then
      null
    else if pkgs ? ${toolkit.nixpkgsAttr} then
      pkgs.${toolkit.nixpkgsAttr}
    else
      throw "kernel-builder: variant ${variant.name} needs CUDA ${toolkit.version}, but the nixpkgs of this flake has no `${toolkit.nixpkgsAttr}`; update the kernel-builder flake input (`nix flake update kernel-builder`)";
  rocm = if toolkit.kind == "rocm" then pkgs.kbRocm.forVersion toolkit.version else null;
  xpu = if toolkit.kind == "xpu" then pkgs.kbXpu.forVersion toolkit.version else null;

  kernelStdenv =
    if isDarwin then
      stdenv
    else if pkgs.kbManylinux ? stdenv then
      pkgs.kbManylinux.stdenv
    else
      throw "kernel-builder: no manylinux_2_28 stdenv for ${system}";

  cudaFlags = lib.optionals (cudaPackages != null) [
    "-DKB_NVCC=${lib.getBin cudaPackages.cuda_nvcc}/bin/nvcc"
    "-DKB_NVCC_CCBIN=${kernelStdenv.cc}/bin/c++"
    "-DKB_CUDART=${lib.getLib cudaPackages.cuda_cudart}/lib/libcudart.so"
    "-DKB_CUDA_INCLUDE_DIRS=${
      lib.concatStringsSep ";" (
        [
          "${lib.getDev cudaPackages.cuda_cudart}/include"
          "${lib.getDev cudaPackages.cuda_cccl}/include"
        ]
        ++ map (p: "${lib.getDev p}/include") cudaMathLibs
      )
    }"
    # Math libraries (linked as needed by the generated CMake).
    "-DKB_CUDA_LIBRARY_DIRS=${lib.concatStringsSep ";" (map (p: "${lib.getLib p}/lib") cudaMathLibs)}"
  ];
  # Headers Torch's CUDA headers include and libraries Torch's CMake config
  # links (cuBLAS, cuSPARSE, cuSOLVER, cuRAND, cuFFT, NVTX).
  cudaMathLibs = lib.optionals (cudaPackages != null) (
    builtins.filter (p: p != null) (
      map (n: cudaPackages.${n} or null) [
        "libcublas"
        "libcusparse"
        "libcusolver"
        "libcurand"
        "libcufft"
        "cuda_nvtx"
      ]
    )
  );
  # `depends` of the variant's kernels (data/depends.toml).
  depends = import ./depends.nix { inherit lib pkgs variant; };
  rocmFlags = lib.optionals (rocm != null) [
    "-DKB_HIPCC=${rocm.toolkit}/bin/hipcc"
    "-DKB_HIP_RUNTIME=${rocm.toolkit}/lib/libamdhip64.so"
  ];
  xpuFlags = lib.optionals (xpu != null) [ "-DKB_SYCL_CXX=${xpu.toolkit}/bin/icpx" ];

  # Libraries the torch wheel loads at import (the get_kernel check imports it).
  cudaRuntime = lib.optionals (cudaPackages != null) (
    builtins.filter (p: p != null) (
      map (n: cudaPackages.${n} or null) [
        "cuda_cudart"
        "cuda_cupti"
        "cuda_nvrtc"
        "cuda_nvtx"
        "libcublas"
        "libcufft"
        "libcufile"
        "libcurand"
        "libcusolver"
        "libcusparse"
        "libcusparse_lt"
        "libnvjitlink"
        "cudnn"
        "nccl"
      ]
    )
  );
in
{
  stdenv = kernelStdenv;
  inherit
    torch
    pythonDepends
    buildPython
    cudaPackages
    rocm
    xpu
    cudaRuntime
    ;
  nativeBuildInputs =
    lib.optional (cudaPackages != null) cudaPackages.cuda_nvcc
    ++ lib.optional (rocm != null) rocm.toolkit
    ++ lib.optional (xpu != null) xpu.toolkit;
  buildInputs = cudaRuntime;
  cmakeFlags = [
    "-DPython3_EXECUTABLE=${buildPython}/bin/python"
  ]
  ++ cudaFlags
  ++ rocmFlags
  ++ xpuFlags
  ++ depends.cmakeFlags;
  checkAbiFlags = lib.concatStringsSep " " (
    lib.optionals ((variant."stable-abi" or null) != null) [
      "--torch-stable-abi"
      variant."stable-abi"
    ]
  );
  description = {
    kind = "nix";
    system = system;
    stdenv = if isDarwin then "nixpkgs ${stdenv.cc.name}" else pkgs.kbManylinux.description;
    python = python3.version;
    torch = if torch == null then null else torch.version;
    cuda = if cudaPackages == null then null else cudaPackages.cudaMajorMinorVersion or toolkit.version;
    rocm = if rocm == null then null else toolkit.version;
    xpu = if xpu == null then null else toolkit.version;
    nixpkgs = lib.version;
  };
}
