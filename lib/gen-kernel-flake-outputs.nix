# `lib.genKernelFlakeOutputs`: the outputs of a kernel flake.
#
#   outputs = { self, kernel-builder }:
#     kernel-builder.lib.genKernelFlakeOutputs { inherit self; path = ./.; };
#
# Per system (the matrix's systems):
#   packages.default / bundle          required variants of the system, $out/<variant>
#   packages.redistributable.<variant> one variant, $out/<variant>
#   packages.build-and-copy            `nix run .#build-and-copy`: ./build/<variant>, atomically
#   packages.build-and-upload          the same, then `kernel-builder upload`
#   packages.ci-test                   runs the kernels_ci tests of the bundle's variants
#   packages.ciTests.<variant>         runs the kernels_ci tests of one variant
#   packages.kernel-builder            the CLI this flake pins
#   devShells.default / <variant>      toolchain + .venv + LOCAL_KERNELS (`use flake` in .envrc)
#   devShells.test / test-<variant>    Python with the built variant importable
#
# Attribute names are the plan's variant names (kernel-plan.json, checked
# against build.toml); nothing here derives or filters names. The attribute
# sets are built without evaluating nixpkgs, so `builtins.attrNames` of them
# is cheap and is what the test suite compares with `list-variants`.
{
  builder,
  pure ? import ./pure.nix,
}:
{
  self,
  path,
  # Extra Python packages for tests and shells: `ps: [ ps.numpy ]`.
  pythonCheckInputs ? (ps: [ ]),
  # Extra native tools for tests and shells: `pkgs: [ pkgs.gdb ]`.
  nativeCheckInputs ? (pkgs: [ ]),
  # Restrict `bundle`/`default` to these framework versions (e.g. [ "2.15" ]);
  # every plan variant stays available under `redistributable`.
  torchVersions ? null,
  # Run the real `kernels` loader on each variant in the sandbox. Only turn off
  # for kernels that cannot import without a GPU (e.g. `triton.autotune`).
  doGetKernelCheck ? true,
}:
let
  plan = pure.readPlan { inherit path; };
  kernelProvenance = pure.provenance self;
  builderProvenance = pure.provenance builder.self;

  perSystem =
    system:
    let
      names = pure.variantNames plan system;
      hasVariants = names != [ ];
      # Everything below is evaluated only when a value is demanded.
      kb = (builder.pkgsFor system).callPackage ./kernel.nix {
        inherit
          pure
          plan
          path
          system
          kernelProvenance
          builderProvenance
          pythonCheckInputs
          nativeCheckInputs
          doGetKernelCheck
          ;
      };
      redistributable = pure.genAttrs names (n: kb.variant n);
      bundleNames = map (v: v.name) (pure.bundleVariants { inherit plan system torchVersions; });
      bundle = kb.bundle (map (n: redistributable.${n}) bundleNames);
      ciTests = pure.genAttrs names (n: kb.ciTest n redistributable.${n});
      defaultName = (pure.defaultVariant plan system).name;
      packages =
        {
          kernel-builder = kb.kernel-builder;
          inherit redistributable ciTests;
        }
        // (
          if hasVariants then
            {
              default = bundle;
              inherit bundle;
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
            default = kb.devShell defaultName;
            test = kb.testShell defaultName redistributable.${defaultName};
          }
          // pure.genAttrs names (n: kb.devShell n)
          // builtins.listToAttrs (
            map (n: {
              name = "test-${n}";
              value = kb.testShell n redistributable.${n};
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
