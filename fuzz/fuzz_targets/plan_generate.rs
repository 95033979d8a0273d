//! build.toml -> plan -> generated files. The input bytes become a
//! `build.toml` (structured, or raw text when they start with `#`); every
//! property of `gen_oracle::check` must hold, and any finding is a crash
//! (the flag-opacity classes included, since the generator keeps every flag
//! byte-exact or refuses it).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../builder/cli/tests/it/support/gen_oracle.rs"]
mod gen_oracle;

fuzz_target!(|data: &[u8]| {
    let src = gen_oracle::toml_from_bytes(data);
    if let Some(f) = gen_oracle::check(&src).into_iter().next() {
        panic!("{}: {}\n--- build.toml ---\n{src}", f.class, f.detail);
    }
});
