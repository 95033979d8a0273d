//! Facts about a variant's files that several checks share (native module
//! names, the module the loader expects, Python files naming the ops id).
//! A leaf: it uses nothing from the other check modules.

use std::path::Path;

use super::{Framework, VariantName};

/// Is this file name a native module or shared library?
pub fn is_native_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // `libfoo.so.1.2` is a versioned library; `foo.so.c` is not.
    let versioned_so = lower.rfind(".so.").is_some_and(|i| {
        let rest = &lower[i + 4..];
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    });
    lower.ends_with(".so")
        || versioned_so
        || lower.ends_with(".dylib")
        || lower.ends_with(".pyd")
        || lower.ends_with(".dll")
}

/// The names the native module of a compiled variant may have, from the
/// `id` in its metadata.json (the first is the usual one). Empty for noarch
/// variants, which have none.
pub fn expected_native_modules(vname: Option<&VariantName>, id: &str) -> Vec<String> {
    if vname.is_some_and(|v| v.is_noarch()) {
        Vec::new()
    } else if vname.and_then(|v| v.os.as_deref()) == Some("windows") {
        vec![format!("{id}.pyd")]
    } else if vname.map(|v| v.framework) == Some(Framework::TvmFfi) {
        vec![format!("{id}.abi3.so"), format!("{id}.so")]
    } else {
        vec![format!("{id}.abi3.so")]
    }
}

/// Python files other than `_ops.py` that contain `id` (relative paths).
pub fn python_files_mentioning(variant: &Path, id: &str) -> Vec<String> {
    let Ok(files) = kb_core::walk::files(variant, kb_core::walk::Rule::Variant) else {
        return Vec::new();
    };
    files
        .into_iter()
        .filter(|f| f.rel.ends_with(".py") && f.rel != "_ops.py")
        .filter(|f| kb_core::fsutil::read_regular_to_string(&f.path).is_ok_and(|t| t.contains(id)))
        .map(|f| f.rel)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_names() {
        for n in [
            "_relu.abi3.so",
            "libcudart.so.13",
            "libfoo.so.1.2.3",
            "x.dylib",
            "m.pyd",
            "c10.DLL",
        ] {
            assert!(is_native_name(n), "{n}");
        }
        for n in ["foo.so.c", "x.soap", "__init__.py", "libfoo.so.1a"] {
            assert!(!is_native_name(n), "{n}");
        }
    }
}
