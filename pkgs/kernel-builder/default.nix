# The kernel-builder CLI, built with nixpkgs' Rust tooling from Cargo.lock.
# The builder's commit (from the flake) is baked in for build provenance
# (`metadata.json` `provenance.kernel-builder`), as build.rs does from git.
{
  lib,
  rustPlatform,
  commit ? null,
  dirty ? true,
}:
let
  root = ../..;
  cargoToml = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
in
rustPlatform.buildRustPackage {
  pname = "kernel-builder";
  inherit (cargoToml.workspace.package) version;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions (map (p: root + "/${p}") (import ./sources.nix));
  };
  cargoLock.lockFile = root + "/Cargo.lock";
  cargoBuildFlags = [
    "--package"
    "kernel-builder"
  ];
  # Unit tests only: the integration tests need Nix, Python and compilers.
  cargoTestFlags = [
    "--workspace"
    "--lib"
  ];

  env = lib.optionalAttrs (commit != null) {
    KB_BUILDER_COMMIT = commit;
    KB_BUILDER_DIRTY = if dirty then "1" else "0";
  };

  meta = {
    description = "Build, check and publish Hugging Face Hub kernels";
    mainProgram = "kernel-builder";
    license = lib.licenses.asl20;
  };
}
