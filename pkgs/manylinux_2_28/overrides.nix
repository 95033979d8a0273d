# Overrides of the manylinux_2_28 package set: make the toolset's programs
# run from the Nix store and point linker scripts at store paths.
{ toolset }:
final: prev:
let
  inherit (final) lib;
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
  # The compiler's own programs run on the build machine: patch them
  # against the RPM set's libraries, with nixpkgs' glibc as the loader.
  runnable =
    drv: libs:
    drv.overrideAttrs (old: {
      nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.autoPatchelfHook ];
      buildInputs = (old.buildInputs or [ ]) ++ libs;
      dontAutoPatchelf = false;
      # Libraries a program may dlopen but the toolchain never needs here.
      autoPatchelfIgnoreMissingDeps = [ "*" ];
    });
  hostLibs = builtins.filter (x: x != null) (
    map (n: final.${n} or null) [
      "gmp"
      "mpfr"
      "libmpc"
      "zlib"
      "libzstd"
      "libstdc++"
      "libgcc"
      "elfutils-libelf"
    ]
  );
  # /usr/lib64/... and /lib64/... in GNU ld scripts -> this package's store path.
  fixLinkerScripts =
    drv: deps:
    drv.overrideAttrs (old: {
      postInstall = (old.postInstall or "") + ''
        for script in $(find "$out/lib" -maxdepth 1 -name '*.so' -type f -size -4k); do
          if grep -q 'GNU ld script' "$script"; then
            substituteInPlace "$script" \
              --replace-quiet /usr/lib64/ "$out/lib/" \
              --replace-quiet /lib64/ "$out/lib/"
            ${lib.concatMapStrings (d: ''
              substituteInPlace "$script" --replace-quiet "$out/lib/$(basename ${d})" "${d}"
            '') deps}
          fi
        done
      '';
    });
in
{
  "${toolset}-gcc" = runnable prev."${toolset}-gcc" hostLibs;
  "${toolset}-gcc-c++" = runnable prev."${toolset}-gcc-c++" hostLibs;
  "${toolset}-binutils" = runnable prev."${toolset}-binutils" hostLibs;
  glibc-devel = fixLinkerScripts prev.glibc-devel [ ];
  "${toolset}-libstdc++-devel" = prev."${toolset}-libstdc++-devel".overrideAttrs (old: {
    # libstdc++.so is `INPUT(/usr/lib64/libstdc++.so.6 -lstdc++_nonshared)`:
    # the EL8 libstdc++ (GCC 8, GLIBCXX_3.4.25) plus newer symbols linked
    # statically. Point it at the libstdc++ RPM of this set.
    postInstall = (old.postInstall or "") + ''
      for script in $(grep -rl 'libstdc++.so.6' "$out/lib" --include='libstdc++.so' || true); do
        substituteInPlace "$script" \
          --replace-quiet /usr/lib64/libstdc++.so.6 ${final."libstdc++"}/lib/libstdc++.so.6
      done
    '';
  });
}
