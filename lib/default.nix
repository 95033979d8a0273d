# `kernel-builder.lib`: what kernel flakes use.
#
# `builder` describes this flake: { self; nixpkgs; overlay; pkgsFor = system: pkgs; }.
# `pkgsFor` is only called when a derivation is demanded, so the attribute
# structure of kernel flakes evaluates without nixpkgs.
{ builder }:
let
  pure = import ./pure.nix;
in
{
  genKernelFlakeOutputs = import ./gen-kernel-flake-outputs.nix { inherit builder pure; };

  # Pure helpers (builtins only), for kernel flakes that want to inspect the plan.
  inherit (pure)
    readPlan
    planFor
    variantsForSystem
    variantNames
    variantByName
    bundleVariants
    defaultVariant
    sourcePaths
    variantSource
    provenance
    toolkitFor
    systems
    ;
  matrix = pure.matrix;
  # The default version entries `torchVersions` functions receive.
  defaultTorchVersions = pure.referenceVersions;
}
