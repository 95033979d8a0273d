//! The integration tests: one binary, one module per area, shared helpers in
//! [`support`]. Tests that need tools the fast suite does not install (torch
//! and `kernels`, compilers, Nix) are `#[ignore = "needs ..."]`;
//! `scripts/test.sh` runs them explicitly with `--ignored` after installing
//! what they need.

mod support;

mod authoring_card;
mod authoring_cli_docs;
mod authoring_e2e;
mod authoring_init;
mod authoring_skills;
mod checks_abi;
mod checks_builds;
mod checks_hash;
mod checks_verify;
mod cli;
mod compat_fixtures;
mod config_rules;
mod examples_plans;
mod files_untrusted;
mod fuzz_generated;
mod fuzz_parser;
mod hub_compliance;
mod hub_failures;
mod hub_reliability;
mod hub_upload;
mod local_build;
mod nix_cli;
mod nix_depends;
mod nix_dropin;
mod nix_eval;
mod nix_sandbox;
mod nix_structure;
mod plan_golden;
mod pyproject_gen;
mod reference_parser;
mod snapshots;
mod update_build;
