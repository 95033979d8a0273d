//! Property tests: no input makes the parser, the migrator or the planner panic.

use std::path::Path;

use kb_core::config::migrate::migrate;
use kb_core::config::{parse_str, Capability, Version};
use kb_core::matrix::Matrix;
use kb_core::plan::{plan, Systems};
use proptest::prelude::*;

/// Fragments that steer random input towards valid-looking `build.toml` files.
const PIECES: &[&str] = &[
    "[general]\n",
    "name = \"relu\"\n",
    "version = 1\n",
    "edition = 5\n",
    "edition = 4\n",
    "license = \"MIT\"\n",
    "backends = [\"cpu\", \"cuda\", \"rocm\", \"xpu\", \"metal\"]\n",
    "backends = []\n",
    "[general.cuda]\n",
    "minver = \"13.0\"\n",
    "maxver = \"12.6\"\n",
    "capabilities = [\"8.0\"]\n",
    "[general.rocm]\n",
    "archs = [\"gfx90a\"]\n",
    "[general.hub]\n",
    "repo-id = \"a/b\"\n",
    "[torch]\n",
    "[torch-noarch]\n",
    "[tvm-ffi]\n",
    "src = []\n",
    "src = [\"x.cpp\"]\n",
    "stable-abi = \"2.11\"\n",
    "stable-abi = { cuda = \"2.15\" }\n",
    "minver = \"2.15\"\n",
    "[kernel.a]\n",
    "[kernel.b]\n",
    "backend = \"cuda\"\n",
    "backend = \"cpu\"\n",
    "backend = \"rocm\"\n",
    "depends = [\"torch\"]\n",
    "depends = []\n",
    "cuda-capabilities = [\"9.0a\", \"12.1+PTX\"]\n",
    "cuda-capabilities = [\"7.0\"]\n",
    "rocm-archs = [\"gfx942\"]\n",
    "cuda-minver = \"13.2\"\n",
    "python-depends = [\"einops\"]\n",
    "kernel-depends = [{ repo-id = \"a/b\", version = 1 }]\n",
    "include = [\"inc\"]\n",
    "\"\n",
    "[[kernel]]\n",
    "= =\n",
    "x = {\n",
    "\u{0}",
    "é",
    "[general.cuda.x]\n",
    "name = 1\n",
];

fn doc() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![4 => prop::sample::select(PIECES).prop_map(String::from), 1 => ".{0,12}"],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics(src in doc()) {
        let dir = Path::new("/nonexistent-kernel-dir");
        if let Ok((config, _)) = parse_str(&src, &dir.join("build.toml"), dir, false) {
            let _ = plan(&config, Matrix::get(), &Systems::All, Path::new("build.toml"), src.as_bytes());
        }
        let _ = migrate(&src, &dir.join("build.toml"), dir);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,300}") {
        let dir = Path::new("/nonexistent-kernel-dir");
        let _ = parse_str(&src, &dir.join("build.toml"), dir, false);
    }

    #[test]
    fn value_parsers_never_panic(s in "\\PC{0,20}") {
        let _ = s.parse::<Capability>();
        let _ = s.parse::<Version>();
        let _ = kb_core::config::check_rocm_arch(&s);
        let _ = kb_core::config::check_kernel_name(&s);
    }

    #[test]
    fn capability_round_trips(maj in prop::sample::select(vec![7u32, 8, 9, 10, 12]), ptx in any::<bool>()) {
        let s = format!("{maj}.0{}", if ptx { "+PTX" } else { "" });
        let c: Capability = s.parse().unwrap();
        prop_assert_eq!(c.to_string(), s);
    }
}
