//! The committed `kernel-plan.json` of every example matches its `build.toml`
//! and the matrix (the flake refuses stale plans; this catches them first).

use std::path::Path;

use kb_core::config::load;
use kb_core::matrix::Matrix;
use kb_core::plan::{plan, Systems};

#[test]
fn committed_kernel_plans_are_current() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.join("build.toml").is_file()) {
        let loaded = load(Some(dir)).unwrap_or_else(|e| panic!("{e}"));
        let p = plan(
            &loaded.config,
            Matrix::get(),
            &Systems::All,
            &loaded.path,
            loaded.source.as_bytes(),
        )
        .unwrap();
        let expected = kb_build::backends::nix::plan_file_json(&p);
        let committed = std::fs::read_to_string(dir.join("kernel-plan.json")).unwrap_or_default();
        assert!(
            committed == expected,
            "{}/kernel-plan.json is stale: run `kernel-builder plan --write {}`",
            dir.display(),
            dir.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "expected the five examples, found {checked}");
}
