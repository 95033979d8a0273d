# The ROCm toolkit of one version: every component merged into one prefix
# (the layout hipcc expects under ROCM_PATH), hipcc wrapped to find it.
{ version, packages }:
final: prev:
let
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
in
{
  toolkit = pkgs.symlinkJoin {
    name = "rocm-toolkit-${version}";
    paths = map (p: final.${p}) (builtins.filter (p: final ? ${p}) packages);
    nativeBuildInputs = [ pkgs.makeWrapper ];
    postBuild = ''
      for prog in hipcc hipconfig; do
        if [ -e "$out/bin/$prog" ]; then
          wrapProgram "$out/bin/$prog" \
            --set ROCM_PATH "$out" \
            --set HIP_PATH "$out" \
            --set HIP_CLANG_PATH "$out/llvm/bin" \
            --set HIP_DEVICE_LIB_PATH "$out/amdgcn/bitcode"
        fi
      done
    '';
    passthru = {
      inherit version;
    };
  };
}
