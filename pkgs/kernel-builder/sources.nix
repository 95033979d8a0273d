# What building the CLI reads, relative to the repository root: the crate and
# every file it embeds (`include_str!` of data, init templates, skills).
# builder/cli/tests/it/nix_structure.rs checks that this covers every embedded path.
[
  "Cargo.toml"
  "Cargo.lock"
  "builder"
  "data"
  "templates/init"
  "skills"
]
