# Extension of the manylinux_2_28 set: the glibc 2.28 sysroot, the unwrapped
# gcc and binutils of the toolset, wrapped with nixpkgs' cc-wrapper into a
# stdenv.
#
# The AlmaLinux glibc is used as the *target* libc (headers, crt files,
# libc.so linker script, libc_nonshared.a) only; the compiler's own programs
# run with nixpkgs' glibc (autoPatchelf in overrides.nix), because the
# AlmaLinux dynamic loader hardcodes FHS paths.
{ toolset }:
final: prev:
let
  inherit (final) lib;
  pkgs = final.callPackage ({ pkgs }: pkgs) { };
  triple =
    {
      x86_64-linux = "x86_64-redhat-linux";
      aarch64-linux = "aarch64-redhat-linux";
    }
    .${pkgs.stdenv.hostPlatform.system};
  glibcVersion = final.glibc.version or "2.28";
  gccVersion = lib.versions.major final."${toolset}-gcc".version;
in
{
  # glibc 2.28 as a libc for the wrappers: lib/ (crt*.o, libc.so script,
  # libc.so.6, ld-linux) and include/ (glibc + kernel headers).
  sysroot =
    (pkgs.symlinkJoin {
      name = "glibc-${glibcVersion}-manylinux_2_28";
      paths = [
        final.glibc
        final.glibc-devel
        final.glibc-headers
        final.kernel-headers
      ];
      postBuild = ''
        # The linker script must be a real file naming this sysroot.
        for s in libc.so libpthread.so libm.so; do
          if [ -L "$out/lib/$s" ]; then
            target=$(readlink -f "$out/lib/$s")
            rm "$out/lib/$s"
            sed -e "s|/[^ ]*/lib/\([^ /]*\.so[.0-9]*\)|$out/lib/\1|g" \
                -e "s|/[^ ]*/lib/\([^ /]*\.a\)|$out/lib/\1|g" "$target" > "$out/lib/$s"
          fi
        done
      '';
    }).overrideAttrs
      (old: {
        passthru = (old.passthru or { }) // {
          version = glibcVersion;
          pname = "glibc";
        };
      });

  gcc-unwrapped =
    (pkgs.symlinkJoin {
      name = "${toolset}-gcc-${final."${toolset}-gcc".version}";
      paths = [
        final."${toolset}-gcc"
        final."${toolset}-gcc-c++"
        final."${toolset}-libstdc++-devel"
        final."libstdc++"
        final.libgcc
      ];
    }).overrideAttrs
      (old: {
        passthru = (old.passthru or { }) // {
          isGNU = true;
          langC = true;
          langCC = true;
          langFortran = false;
          hardeningUnsupportedFlags = [ ];
          version = final."${toolset}-gcc".version;
          targetConfig = triple;
          lib = final."libstdc++";
        };
      });

  binutils-unwrapped =
    (pkgs.symlinkJoin {
      name = "${toolset}-binutils-${final."${toolset}-binutils".version}";
      paths = [ final."${toolset}-binutils" ];
    }).overrideAttrs
      (old: {
        passthru = (old.passthru or { }) // {
          targetPrefix = "";
          isGNU = true;
        };
      });

  bintools = pkgs.wrapBintoolsWith {
    bintools = final.binutils-unwrapped;
    libc = final.sysroot;
  };

  cc = pkgs.wrapCCWith {
    cc = final.gcc-unwrapped;
    bintools = final.bintools;
    libc = final.sysroot;
    # The toolset's C++ headers (include/c++/<major>) come with the compiler.
    extraBuildCommands = ''
      echo "-isystem ${final.gcc-unwrapped}/include/c++/${gccVersion}" >> $out/nix-support/libcxx-cxxflags
      echo "-isystem ${final.gcc-unwrapped}/include/c++/${gccVersion}/${triple}" >> $out/nix-support/libcxx-cxxflags
    '';
  };

  stdenv = pkgs.overrideCC pkgs.stdenv final.cc;

  description = "manylinux_2_28: ${toolset} gcc ${final."${toolset}-gcc".version}, glibc ${glibcVersion} (AlmaLinux 8)";
}
