# Generic builder of the package-set pattern: one RPM from the metadata JSON
# (`cargo xtask pkgmeta rpm`) -> one derivation. The RPM is unpacked and
# the configured prefixes (e.g. `opt/rh/gcc-toolset-14/root/usr`, `usr`,
# `opt/rocm-7.1.0`) are merged into $out, lib64 into lib. The result may not
# run yet: `overrides.nix` of each set patches what must (autoPatchelf, FHS
# paths in scripts and linker scripts).
{
  lib,
  stdenvNoCC,
  fetchurl,
  libarchive,
}:
{
  pname,
  # One entry of the metadata `packages` attribute set.
  meta,
  # Globs, relative to the RPM root, whose contents are merged into $out.
  prefixes,
  # Derivations of the packages this one requires (by metadata `depends`).
  deps ? [ ],
}:
stdenvNoCC.mkDerivation {
  inherit pname;
  version = "${meta.version}-${meta.release}";

  src = fetchurl {
    inherit (meta) url sha256;
  };

  nativeBuildInputs = [ libarchive ];
  propagatedBuildInputs = deps;

  dontConfigure = true;
  dontBuild = true;
  # Vendor binaries stay as shipped; overrides decide what to patch.
  dontPatchELF = true;
  dontStrip = true;
  dontPatchShebangs = true;

  unpackPhase = ''
    runHook preUnpack
    mkdir rpm-root
    bsdtar -xf "$src" -C rpm-root
    runHook postUnpack
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p "$out"
    shopt -s nullglob dotglob
    for prefix in ${lib.concatStringsSep " " prefixes}; do
      for dir in rpm-root/$prefix; do
        if [ -d "$dir" ]; then
          cp -a "$dir"/. "$out"/
        fi
      done
    done
    if [ -d "$out/lib64" ] && [ ! -L "$out/lib64" ]; then
      mkdir -p "$out/lib"
      cp -a "$out/lib64"/. "$out/lib"/
      rm -rf "$out/lib64"
      ln -s lib "$out/lib64"
    fi
    runHook postInstall
  '';

  passthru.rpm = meta;

  meta = {
    description = "${pname} ${meta.version}-${meta.release} (repackaged RPM)";
    homepage = meta.url;
    sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
  };
}
