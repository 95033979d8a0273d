# torch from the official binary wheels, one per torch x compute x system of
# the matrix, from two generated files (URL and sha256 of each wheel, never
# edited by hand):
#   wheels.json          torch's default wheels on the Python package index
#                        (committed; each wheel's compute read from its
#                        torch/version.py):
#     cargo xtask pkgmeta torch-wheels --index https://pypi.org/simple -o pkgs/torch/wheels.json
#   wheels-pytorch.json  the other cells, from PyTorch's own indexes
#                        (download.pytorch.org; not reachable where this was
#                        written, so not committed yet):
#     cargo xtask pkgmeta torch-wheels --python cp313 -o pkgs/torch/wheels-pytorch.json
# The wheels' native libraries are patched against nixpkgs' CUDA / the ROCm
# and oneAPI package sets, which stand in for the nvidia-* / rocm / intel
# pip packages.
{
  lib,
  stdenv,
  python3,
  fetchurl,
  autoPatchelfHook,
}:
let
  pyTag = "cp" + lib.replaceStrings [ "." ] [ "" ] python3.pythonVersion;
  files = builtins.filter builtins.pathExists [
    ./wheels.json
    ./wheels-pytorch.json
  ];
  loaded = map lib.importJSON files;
  wheels = {
    # The package index first: its cells are the committed, verified ones.
    wheels = lib.concatMap (d: d.wheels or [ ]) loaded;
    pythons = lib.unique (map (d: d.python) loaded);
  };
  fromWheel =
    {
      # One entry of wheels.json.
      wheel,
      # Libraries the wheel's native code loads (CUDA/ROCm/oneAPI runtime).
      runtimeLibs ? [ ],
    }:
    if wheels.pythons != [ pyTag ] && wheels.pythons != [ ] then
      throw "kernel-builder: pkgs/torch/wheels*.json list ${builtins.concatStringsSep ", " wheels.pythons} wheels, but this nixpkgs' python3 is ${python3.pythonVersion}; regenerate them with `--python ${pyTag}` (see pkgs/README.md)"
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
