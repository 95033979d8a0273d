# torch from the official binary wheels, one per torch x compute x system of
# the matrix. `wheels.json` is written by
#   cargo xtask pkgmeta torch-wheels --python cp313 -o pkgs/torch/wheels.json
# (URL and sha256 of each wheel, from download.pytorch.org). The wheels'
# native libraries are patched against nixpkgs' CUDA / the ROCm and oneAPI
# package sets, which stand in for the nvidia-* / rocm / intel pip packages.
{
  lib,
  stdenv,
  python3,
  fetchurl,
  autoPatchelfHook,
}:
let
  wheelsFile = ./wheels.json;
  pyTag = "cp" + lib.replaceStrings [ "." ] [ "" ] python3.pythonVersion;
  wheels =
    if builtins.pathExists wheelsFile then
      lib.importJSON wheelsFile
    else
      throw "kernel-builder: pkgs/torch/wheels.json is missing. Generate it on a machine that can reach download.pytorch.org with:\n  cargo xtask pkgmeta torch-wheels --python ${pyTag} -o pkgs/torch/wheels.json\nsee pkgs/README.md.";

  fromWheel =
    {
      # One entry of wheels.json.
      wheel,
      # Libraries the wheel's native code loads (CUDA/ROCm/oneAPI runtime).
      runtimeLibs ? [ ],
    }:
    if (wheels.python or pyTag) != pyTag then
      throw "kernel-builder: pkgs/torch/wheels.json lists ${wheels.python} wheels, but this nixpkgs' python3 is ${python3.pythonVersion}; regenerate it with `--python ${pyTag}`"
    else
      python3.pkgs.buildPythonPackage {
        pname = "torch";
        inherit (wheel) version;
        format = "wheel";
        src = fetchurl {
          inherit (wheel) url sha256;
          name = wheel.filename;
        };
        nativeBuildInputs = lib.optionals stdenv.hostPlatform.isLinux [ autoPatchelfHook ];
        buildInputs = runtimeLibs ++ lib.optionals stdenv.hostPlatform.isLinux [ stdenv.cc.cc.lib ];
        dependencies = with python3.pkgs; [
          filelock
          fsspec
          jinja2
          networkx
          setuptools
          sympy
          typing-extensions
        ];
        # The driver comes from the machine that runs the kernel.
        autoPatchelfIgnoreMissingDeps = [
          "libcuda.so.1"
          "libnvidia-ml.so.1"
        ];
        # nvidia-*/triton pip requirements are replaced by Nix libraries.
        dontCheckRuntimeDeps = true;
        pythonImportsCheck = [ ];
        passthru = {
          inherit wheel;
        };
        meta = {
          description = "PyTorch ${wheel.version} (official wheel ${wheel.filename})";
          homepage = "https://pytorch.org";
          license = lib.licenses.bsd3;
          sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
        };
      };
in
{
  inherit wheels fromWheel pyTag;
}
