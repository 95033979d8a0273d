# Python packages from wheels that nixpkgs does not carry (or not in the
# version kernel-builder needs): the `kernels` loader, apache-tvm-ffi.
# `wheels.json` is written by
#   cargo xtask pkgmeta wheels --index https://pypi.org/simple \
#     --package kernels==0.17.2 --package apache-tvm-ffi==0.1.15.post2 \
#     -o pkgs/python/wheels.json
{
  lib,
  stdenv,
  python3,
  fetchurl,
  autoPatchelfHook,
}:
let
  wheelsFile = ./wheels.json;
  system = stdenv.hostPlatform.system;
  wheels =
    if builtins.pathExists wheelsFile then
      lib.importJSON wheelsFile
    else
      throw "kernel-builder: pkgs/python/wheels.json is missing. Generate it on a machine that can reach PyPI with:\n  cargo xtask pkgmeta wheels --index https://pypi.org/simple --package kernels==0.17.2 --package apache-tvm-ffi==0.1.15.post2 -o pkgs/python/wheels.json\nsee pkgs/README.md.";
  # Runtime requirements of these wheels, from nixpkgs.
  dependencies = {
    kernels = [
      "huggingface-hub"
      "packaging"
      "pyyaml"
      "tomli"
    ];
    apache-tvm-ffi = [ "typing-extensions" ];
  };
  wheel =
    name:
    let
      found = builtins.filter (w: w.name == name && (w.system == null || w.system == system)) (
        wheels.wheels or [ ]
      );
      w =
        if found == [ ] then
          throw "kernel-builder: pkgs/python/wheels.json has no ${name} wheel for ${system}; regenerate it (see pkgs/README.md)"
        else
          builtins.head found;
    in
    python3.pkgs.buildPythonPackage {
      pname = name;
      inherit (w) version;
      format = "wheel";
      src = fetchurl {
        inherit (w) url sha256;
        name = w.filename;
      };
      nativeBuildInputs = lib.optionals (w.system != null && stdenv.hostPlatform.isLinux) [
        autoPatchelfHook
      ];
      buildInputs = lib.optionals stdenv.hostPlatform.isLinux [ stdenv.cc.cc.lib ];
      dependencies = map (d: python3.pkgs.${d}) (
        builtins.filter (d: python3.pkgs ? ${d}) (dependencies.${name} or [ ])
      );
      dontCheckRuntimeDeps = true;
      meta = {
        description = "${name} ${w.version} (wheel ${w.filename})";
        sourceProvenance = lib.optionals (w.system != null) [ lib.sourceTypes.binaryNativeCode ];
      };
    };
in
{
  inherit wheels wheel;
}
