# The oneAPI toolkit of one version: the components merged into one prefix.
{ version, packages }:
final: prev:
let
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
in
{
  toolkit = pkgs.symlinkJoin {
    name = "oneapi-toolkit-${version}";
    paths = map (p: final.${p}) (builtins.filter (p: final ? ${p}) packages);
    passthru = {
      inherit version;
    };
  };
}
