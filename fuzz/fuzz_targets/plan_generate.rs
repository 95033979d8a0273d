//! build.toml -> plan -> generated files. The input bytes become a
//! `build.toml` (structured, or raw text when they start with `#`); every
//! property of `gen_oracle::check` must hold. Flag-opacity findings (issue 15
//! part B) are reported once per class on standard error and only fail the
//! run with `KB_FUZZ_STRICT=1`.

#![no_main]

use std::collections::BTreeSet;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;

#[path = "../../builder/cli/tests/it/support/gen_oracle.rs"]
mod gen_oracle;

static REPORTED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fuzz_target!(|data: &[u8]| {
    let src = gen_oracle::toml_from_bytes(data);
    let strict = std::env::var_os("KB_FUZZ_STRICT").is_some();
    for f in gen_oracle::check(&src) {
        if strict || !f.is_part_b() {
            panic!("{}: {}\n--- build.toml ---\n{src}", f.class, f.detail);
        }
        if REPORTED.lock().unwrap().insert(f.class) {
            eprintln!(
                "part-B finding {}: {}\n--- build.toml ---\n{src}---",
                f.class, f.detail
            );
        }
    }
});
