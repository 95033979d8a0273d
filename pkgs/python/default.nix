# Python packages from wheels that nixpkgs does not carry (or not in the
# version kernel-builder needs): the `kernels` loader, apache-tvm-ffi and
# the packages behind each `python-depends` name (python-depends.json).
#
# `wheels.json` is generated, never edited (URLs and sha256 exactly as the
# Python package index gives them, and each wheel's requirements read from
# its METADATA):
#   cargo xtask pkgmeta wheels --index https://pypi.org/simple \
#     --package kernels==0.19.1 --package apache-tvm-ffi==0.1.15.post2 \
#     --package einops==0.8.2 --package helion==1.5.1 \
#     --package nvidia-cutlass-dsl==4.8.1 --package onednn-devel==2026.1.0 \
#     -o pkgs/python/wheels.json
# A wheel's requirements resolve to other recorded wheels first, then to
# nixpkgs' python3.pkgs (`torch` to the variant's torch).
{
  lib,
  stdenv,
  python3,
  fetchurl,
  autoPatchelfHook,
}:
let
  wheelsFile = ./wheels.json;
  regenerate = "cargo xtask pkgmeta wheels --index https://pypi.org/simple --package kernels==0.19.1 --package apache-tvm-ffi==0.1.15.post2 --package einops==0.8.2 --package helion==1.5.1 --package nvidia-cutlass-dsl==4.8.1 --package onednn-devel==2026.1.0 -o pkgs/python/wheels.json";
  system = stdenv.hostPlatform.system;
  data =
    if builtins.pathExists wheelsFile then
      lib.importJSON wheelsFile
    else
      throw "kernel-builder: pkgs/python/wheels.json is missing. Generate it with:\n  ${regenerate}\nsee pkgs/README.md.";
  dependsMap = (lib.importJSON ./python-depends.json).depends;

  recorded = name: builtins.filter (w: w.name == name && (w.system == null || w.system == system)) (
    data.wheels or [ ]
  );
  unavailableFor =
    name:
    builtins.filter (k: lib.hasPrefix "${name}==" k && builtins.elem system data.unavailable.${k}) (
      builtins.attrNames (data.unavailable or { })
    );

  # One wheel as a Python package; `torch` replaces a `torch` requirement.
  wheelWith =
    torch: name:
    let
      found = recorded name;
      w =
        if found != [ ] then
          builtins.head found
        else if unavailableFor name != [ ] then
          throw "kernel-builder: ${builtins.head (unavailableFor name)} publishes no wheel for ${system} on ${data.index} (pkgs/python/wheels.json lists it as unavailable there)"
        else
          throw "kernel-builder: pkgs/python/wheels.json has no ${name} wheel for ${system}; add `--package ${name}==<version>` to its generator command and rerun it:\n  ${regenerate}";
      dependency =
        d:
        if recorded d != [ ] || unavailableFor d != [ ] then
          wheelWith torch d
        else if d == "torch" && torch != null then
          torch
        else if python3.pkgs ? ${d} then
          python3.pkgs.${d}
        else
          throw "kernel-builder: ${w.filename} requires ${d}, which neither pkgs/python/wheels.json nor this nixpkgs' python3.pkgs has; add `--package ${d}==<version>` to the generator command of pkgs/python/wheels.json";
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
      dependencies = map dependency (w.requires or [ ]);
      # Versions come from the wheels' pins, not nixpkgs' checks.
      dontCheckRuntimeDeps = true;
      passthru.wheel = w;
      meta = {
        description = "${name} ${w.version} (wheel ${w.filename})";
        sourceProvenance = lib.optionals (w.system != null) [ lib.sourceTypes.binaryNativeCode ];
      };
    };

  wheel = wheelWith null;

  # The Python packages of a variant's `python-depends` names.
  forDepends =
    {
      names,
      torch ? null,
    }:
    lib.concatMap (
      n:
      let
        d =
          dependsMap.${n}
            or (throw "kernel-builder: python-depends `${n}` is not in pkgs/python/python-depends.json; the loader does not accept it");
      in
      if d ? unavailable then
        throw "kernel-builder: python-depends `${n}`: ${d.unavailable}"
      else
        map (wheelWith torch) d.python
    ) names;
in
{
  inherit
    data
    wheel
    wheelWith
    forDepends
    ;
  wheels = data;
}
