# The package-set pattern: metadata JSON -> generic builder -> overrides ->
# extensions, as a fixed point of overlays (lib.makeScope), so later overlays
# see the final versions of earlier packages.
#
#   components     one derivation per RPM of the metadata (rpm/generic-builder.nix)
#   overrides      fix what does not build or run (dependencies, FHS paths)
#   extensions     derivations combining the parts (toolchains, stdenvs)
{
  lib,
  newScope,
  callPackage,
}:
{
  # For messages: `manylinux_2_28 x86_64-linux`, `ROCm 7.1`.
  name,
  # pkgs/<set>/metadata/<...>.json, written by `cargo xtask pkgmeta rpm`.
  metadataFile,
  # The command that (re)generates the metadata file.
  regenerate,
  prefixes,
  overrides ? [ ],
  extensions ? [ ],
}:
let
  metadata =
    if builtins.pathExists metadataFile then
      lib.importJSON metadataFile
    else
      throw "kernel-builder: the ${name} package set has no metadata (${toString metadataFile} is missing). Generate it on a machine that can reach the repository with:\n  ${regenerate}\nsee pkgs/README.md.";
  genericBuilder = callPackage ./rpm/generic-builder.nix { };
  components =
    final: prev:
    lib.mapAttrs (
      pname: meta:
      genericBuilder {
        inherit pname meta prefixes;
        deps = map (d: final.${d}) meta.depends;
      }
    ) metadata.packages;
  base = final: {
    inherit metadata name;
  };
in
lib.makeScope newScope (lib.extends (lib.composeManyExtensions ([ components ] ++ overrides ++ extensions)) base)
