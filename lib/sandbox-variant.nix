# A variant derivation that needs no nixpkgs: it assembles a variant from
# prebuilt inputs with `kernel-builder nix install-variant` (the same step the
# full build uses) and runs the verifier hooks (lib/hooks/verify-variant.sh),
# with nothing from the host but /bin/sh.
#
# The test suite builds it in the Nix sandbox (builder/cli/tests/it/nix_sandbox.rs,
# `nix-build --option sandbox true --option sandbox-paths /bin/sh=<busybox>`)
# to show that the hooks run, and gate the build, inside the sandbox. It also
# serves to package variants built elsewhere.
{
  # Kernel directory (with build.toml and kernel-plan.json).
  path,
  # Variant name from the plan.
  variant,
  # Unique part of the ops name.
  uniqueId,
  # Directory with `<ops_name>.abi3.so` for native variants.
  prebuilt ? null,
  # Self-contained tools: bin/kernel-builder and bin/patchelf (see the test).
  tools,
  kernelCommit ? null,
  kernelDirty ? false,
  doGetKernelCheck ? false,
  checkAbiFlags ? "",
  system ? builtins.currentSystem,
}:
let
  pure = import ./pure.nix;
  plan = pure.readPlan { inherit path; };
  v = pure.variantByName plan variant;
in
derivation {
  name = "${plan.kernel.name}-${variant}";
  inherit system tools;
  builder = "/bin/sh";
  args = [ ./sandbox-builder.sh ];
  src = pure.variantSource {
    inherit path plan;
    variant = v;
  };
  prebuilt = if prebuilt == null then "" else prebuilt;
  hooks = ./hooks/verify-variant.sh;
  KB_VARIANT = variant;
  KB_UNIQUE_ID = uniqueId;
  KB_KERNEL_COMMIT = if kernelCommit == null then "" else kernelCommit;
  KB_KERNEL_DIRTY = if kernelDirty then "1" else "0";
  KB_GET_KERNEL_CHECK = if doGetKernelCheck then "1" else "0";
  KB_CHECK_ABI_FLAGS = checkAbiFlags;
  KB_TOOLCHAIN = builtins.toJSON { kind = "prebuilt"; };
}
