# `lib.genKernelFlakeOutputs`: the outputs of a kernel flake. A drop-in for
# the reference builder's function of the same name:
#
#   outputs = { self, kernel-builder }:
#     kernel-builder.lib.genKernelFlakeOutputs { inherit self; path = ./.; };
#
# Per system (the matrix's systems):
#   packages.default / bundle          bundle variants of the system, $out/<variant>,
#                                      plus $out/CARD.md (filled) and $out/benchmarks/
#   packages.backendBundle.<backend>   the bundle of one backend
#   packages.ci                        one variant per backend (what kernel CI builds)
#   packages.redistributable.<variant> one variant, $out/<variant>
#   packages.build-and-copy            `nix run .#build-and-copy`: ./build/<variant>, atomically
#   packages.build-and-upload          the same, then `kernel-builder upload`
#   packages.ci-test                   runs the kernels_ci tests of the bundle's variants
#   packages.ciTests.<variant>         runs the kernels_ci tests of one variant
#   packages.kernel-builder            the CLI this flake pins
#   packages.kernels                   Python with the `kernels` loader (`nix run .#kernels`)
#   packages.variants / archVariants   variant names (lists, not derivations)
#   devShells.default / <variant>      toolchain + .venv + LOCAL_KERNELS (`use flake` in .envrc)
#   devShells.test / test-<variant>    Python with the built variant importable
#   devShells.devShells / testShells   the same shells as attribute sets (reference layout)
#
# The plan: the committed kernel-plan.json (checked against build.toml and
# the matrix), or, when the kernel commits none, computed from build.toml by
# the Rust CLI in a derivation (import from derivation). Attribute names are
# the plan's variant names; nothing here derives or filters names. With a
# committed plan the attribute sets are built without evaluating nixpkgs, so
# `builtins.attrNames` of them is cheap and is what the test suite compares
# with `list-variants`.
{
  builder,
  pure ? import ./pure.nix,
}:
{
  self,
  path,
  # The reference builder's deprecated way to pass the revision; accepted so
  # that old kernel flakes evaluate, unused (`self` gives the provenance).
  rev ? null,
  # Extra Python packages for tests and shells: `ps: [ ps.numpy ]`.
  pythonCheckInputs ? (ps: [ ]),
  # Extra native inputs from Python packages for shells and tests (the
  # reference builder's option; called with `python3.pkgs`).
  pythonNativeCheckInputs ? (ps: [ ]),
  # Extra native tools for tests and shells: `pkgs: [ pkgs.gdb ]`.
  nativeCheckInputs ? (pkgs: [ ]),
  # Which variants the bundle holds: a function of the default version
  # entries (`defaults: builtins.filter (v: (v.cudaVersion or "") != "12.6") defaults`,
  # as in the reference builder), or a list of framework versions
  # (`[ "2.15" ]`). Every plan variant stays available under `redistributable`.
  torchVersions ? null,
  # Run the real `kernels` loader on each variant in the sandbox. Only turn off
  # for kernels that cannot import without a GPU (e.g. `triton.autotune`).
  doGetKernelCheck ? true,
}:
assert
  torchVersions == null
  || builtins.isFunction torchVersions
  || builtins.isList torchVersions
  || throw "kernel-builder: `torchVersions` must be a function of the default versions (`defaults: ...`) or a list of versions";
let
  kernelProvenance = pure.provenance self;
  builderProvenance = pure.provenance builder.self;
  hasPlanFile = builtins.pathExists (path + "/${pure.planFileName}");
  # The committed plan is shared by every system.
  committedPlan = pure.readPlan { inherit path; };

  perSystem =
    system:
    let
      # Everything below is evaluated only when a value is demanded.
      pkgs = builder.pkgsFor system;
      plan =
        if hasPlanFile then
          committedPlan
        else
          pure.planFor {
            inherit path;
            kernelBuilder = pkgs.buildPackages.kernel-builder;
            system = pkgs.stdenv.buildPlatform.system;
          };
      names = pure.variantNames plan system;
      hasVariants = names != [ ];
      kb = pkgs.callPackage ./kernel.nix {
        inherit
          pure
          plan
          path
          system
          kernelProvenance
          builderProvenance
          pythonCheckInputs
          pythonNativeCheckInputs
          nativeCheckInputs
          doGetKernelCheck
          ;
      };
      redistributable = pure.genAttrs names (n: kb.variant n);
      bundleSet = pure.bundleVariants { inherit plan system torchVersions; };
      bundleNames = map (v: v.name) bundleSet;
      bundle = kb.bundle (map (n: redistributable.${n}) bundleNames);
      backends = pure.unique (map (v: v.backend) bundleSet);
      backendBundle = pure.genAttrs backends (
        b: kb.bundle (map (v: redistributable.${v.name}) (builtins.filter (v: v.backend == b) bundleSet))
      );
      ci = kb.bundle (map (v: redistributable.${v.name}) (pure.ciVariants plan system));
      ciTests = pure.genAttrs names (n: kb.ciTest n redistributable.${n});
      defaultName = (pure.defaultVariant plan system).name;
      devShellSet = pure.genAttrs names (n: kb.devShell n);
      testShellSet = pure.genAttrs names (n: kb.testShell n redistributable.${n});
      packages = {
        kernel-builder = kb.kernel-builder;
        kernels = kb.kernels;
        inherit redistributable ciTests;
        variants = names;
        archVariants = map (v: v.name) (builtins.filter (v: v.system == system) plan.variants);
      }
      // (
        if hasVariants then
          {
            default = bundle;
            inherit bundle backendBundle ci;
            build-and-copy = kb.buildAndCopy bundle;
            build-and-upload = kb.buildAndUpload bundle;
            ci-test = kb.ciTestAll (map (n: ciTests.${n}) bundleNames);
          }
        else
          { }
      );
      devShells =
        if hasVariants then
          {
            default = devShellSet.${defaultName};
            test = testShellSet.${defaultName};
            devShells = devShellSet;
            testShells = testShellSet;
          }
          // devShellSet
          // builtins.listToAttrs (
            map (n: {
              name = "test-${n}";
              value = testShellSet.${n};
            }) names
          )
        else
          { };
    in
    {
      inherit packages devShells;
    };

  all = pure.genAttrs pure.systems perSystem;
in
{
  packages = builtins.mapAttrs (_: s: s.packages) all;
  devShells = builtins.mapAttrs (_: s: s.devShells) all;
  # `nix flake check` builds every variant of the bundle.
  checks = builtins.mapAttrs (_: s: if s.packages ? bundle then { bundle = s.packages.bundle; } else { }) all;
}
