# ROCm overrides: programs run from the store (autoPatchelf against the set
# and nixpkgs' system libraries).
final: prev:
let
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
  systemLibs = with pkgs; [
    stdenv.cc.cc.lib
    zlib
    zstd
    ncurses
    libdrm
    numactl
    elfutils
    libxml2
  ];
  patch =
    name:
    if prev ? ${name} then
      {
        ${name} = prev.${name}.overrideAttrs (old: {
          nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.autoPatchelfHook ];
          buildInputs = (old.buildInputs or [ ]) ++ systemLibs ++ (old.propagatedBuildInputs or [ ]);
          dontAutoPatchelf = false;
          autoPatchelfIgnoreMissingDeps = [
            "libamdhip64.so.*"
            "libhsa-runtime64.so.*"
          ];
        });
      }
    else
      { };
in
patch "rocm-llvm" // patch "hipcc" // patch "comgr" // patch "hsa-rocr" // patch "hip-runtime-amd"
