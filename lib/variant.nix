# One variant derivation: $out/<variant>.
#
#   1. source set: only the files the plan names (pure.variantSource)
#   2. `kernel-builder create-pyproject --variant <v> --unique-id <id>`
#   3. CMake + Ninja (native variants)
#   4. `kernel-builder nix install-variant`: package files, _ops.py, the
#      extension and metadata.json (with the flake's provenance) into
#      $out/<variant>
#   5. hooks (lib/hooks/verify-variant.sh): strip runpaths, remove
#      bytecode, check-abi, check-builds, verify (the `kernels` loader),
#      hash; any finding fails the build.
{
  lib,
  cmake,
  ninja,
  patchelf,
  kernel-builder,
  pure,
  plan,
  path,
  variant,
  toolchain,
  kernelProvenance,
  doGetKernelCheck,
  testPython,
}:
let
  native = variant.framework != "torch-noarch";
  uniqueId = kernelProvenance.unique;
  opsName = pure.opsName plan variant uniqueId;
in
toolchain.stdenv.mkDerivation {
  pname = "${plan.kernel.name}-${variant.name}";
  version = toString plan.kernel.version;
  src = pure.variantSource { inherit path plan variant; };

  nativeBuildInputs = [
    kernel-builder
    patchelf
  ]
  ++ lib.optionals native [
    cmake
    ninja
  ]
  ++ toolchain.nativeBuildInputs;
  buildInputs = toolchain.buildInputs;

  # Configured by hand after create-pyproject has written CMakeLists.txt.
  dontUseCmakeConfigure = true;
  dontUseNinjaBuild = true;
  dontUseNinjaInstall = true;
  # Runpaths are removed by the hooks, not shrunk to store paths.
  dontPatchELF = true;
  dontStrip = false;

  env = {
    KB_KERNEL_COMMIT = if kernelProvenance.commit == null then "" else kernelProvenance.commit;
    KB_KERNEL_DIRTY = if kernelProvenance.dirty then "1" else "0";
    KB_TOOLCHAIN = builtins.toJSON toolchain.description;
    KB_GET_KERNEL_CHECK = if doGetKernelCheck then "1" else "0";
    KB_CHECK_ABI_FLAGS = toolchain.checkAbiFlags;
    KB_OPS_NAME = opsName;
  };

  configurePhase = ''
    runHook preConfigure
    export HOME=$TMPDIR/home
    mkdir -p "$HOME"
    kernel-builder create-pyproject --force --variant ${variant.name} --unique-id ${uniqueId} .
  ''
  + lib.optionalString native ''
    cmake -S . -B build-nix -G Ninja -DCMAKE_BUILD_TYPE=Release \
      ${lib.concatStringsSep " " (map lib.escapeShellArg toolchain.cmakeFlags)}
  ''
  + ''
    runHook postConfigure
  '';

  buildPhase = ''
    runHook preBuild
  ''
  + lib.optionalString native ''
    cmake --build build-nix --parallel "$NIX_BUILD_CORES"
  ''
  + ''
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    kernel-builder nix install-variant --variant ${variant.name} --unique-id ${uniqueId} \
      --build-dir build-nix --out "$out"
    runHook postInstall
  '';

  # After stdenv's fixup (which strips debug symbols): the verifier hooks.
  postFixup = ''
    export PATH=${testPython}/bin:$PATH
    . ${./hooks/verify-variant.sh}
    kb_verify_variant "$out" ${variant.name}
  '';

  passthru = {
    inherit variant opsName toolchain;
    variantName = variant.name;
  };

  meta = {
    description = "${plan.kernel.name} ${variant.name} (kernel-builder)";
    license = lib.licenses.free;
    platforms = [ (if variant.system == null then "x86_64-linux" else variant.system) ] ++ lib.optionals (variant.system == null) [
      "aarch64-linux"
      "aarch64-darwin"
    ];
  };
}
