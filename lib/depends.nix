# `depends` of a variant's kernels, from data/depends.toml (the file the
# Rust CLI reads too): one fixed-output derivation per dependency, with the
# hash the local backend verifies, and the CMake cache variables
# (-D<env>=<root>) the generated project reads (kb_dependency()).
#
#   wheel:   fetchurl { url; sha256 } of the PyPI wheel, unpacked; the root is
#            `root` inside it.
#   archive: fetchzip { url; hash } (top directory stripped), i.e. the same
#            NAR hash as fetchFromGitHub for GitHub release archives.
# A dependency without a pinned hash throws with the reason and how to
# provide it.
{
  lib,
  pkgs,
  variant,
}:
let
  data = builtins.fromTOML (builtins.readFile ../data/depends.toml);
  # builtins only: this file is also evaluated with minimal `lib` stubs.
  toolkitMM =
    if (variant.toolkit or null) == null then
      null
    else
      let
        parts = builtins.splitVersion variant.toolkit;
      in
      "${builtins.elemAt parts 0}.${builtins.elemAt parts 1}";
  fetchFor =
    name: dep:
    let
      matching = builtins.filter (f: (f.toolkit or null) == null || f.toolkit == toolkitMM) (
        dep.fetch or [ ]
      );
    in
    if matching == [ ] then
      throw "kernel-builder: dependency `${name}` has no source for toolkit ${toString toolkitMM} in data/depends.toml"
    else
      builtins.head matching;
  root =
    name: dep:
    let
      f = fetchFor name dep;
      how = "set ${dep.env} to a source tree of ${name} ${dep.version or ""} (see data/depends.toml)";
    in
    if f.kind == "wheel" then
      let
        wheel = pkgs.fetchurl {
          inherit (f) url sha256;
        };
        unpacked = pkgs.runCommand "${name}-${dep.version}" { nativeBuildInputs = [ pkgs.unzip ]; } ''
          mkdir -p $out
          unzip -q ${wheel} -d $out
        '';
      in
      "${unpacked}/${f.root}"
    else if (f.hash or "") == "" then
      throw "kernel-builder: `${name}` cannot be fetched: ${f.unpinned or "no hash is recorded"}; ${how}"
    else
      pkgs.fetchzip {
        inherit (f) url hash;
      };
  kernelDeps = builtins.foldl' (acc: d: if builtins.elem d acc then acc else acc ++ [ d ]) [ ] (
    builtins.concatLists (map (k: k.depends or [ ]) (variant.kernels or [ ]))
  );
  external = builtins.filter (
    n:
    let
      d = data.dependency.${n} or (throw "kernel-builder: unknown dependency `${n}` (not in data/depends.toml)");
    in
    (d.provided-by or null) == null
  ) kernelDeps;
in
{
  # -D<env>=<root> for the generated CMake project.
  cmakeFlags = map (
    n:
    let
      d = data.dependency.${n};
    in
    "-D${d.env}=${root n d}"
  ) external;
}
