# oneAPI overrides: the compiler's programs run from the store.
final: prev:
let
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
  compiler = builtins.filter (n: builtins.match "intel-oneapi-compiler-dpcpp-cpp-[0-9.]+" n != null) (
    builtins.attrNames prev.metadata.packages
  );
in
builtins.listToAttrs (
  map (n: {
    name = n;
    value = prev.${n}.overrideAttrs (old: {
      nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.autoPatchelfHook ];
      buildInputs =
        (old.buildInputs or [ ])
        ++ (with pkgs; [
          stdenv.cc.cc.lib
          zlib
          zstd
          libxml2
          ocl-icd
          level-zero
        ])
        ++ (old.propagatedBuildInputs or [ ]);
      dontAutoPatchelf = false;
      autoPatchelfIgnoreMissingDeps = [ "libcuda.so.1" ];
    });
  }) compiler
)
