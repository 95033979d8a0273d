//! Variant names: formatted by the plan, parsed by the checks, one type.
//!
//! The grammar is the loader's: `torch<M><m>[-cxx11]-<compute>-<arch>-<os>`,
//! `torch-stable-abi<M><m>-<compute>-<arch>-<os>`,
//! `tvm-ffi<M><m>-<compute>-<arch>-<os>` and `torch-<backend>` (noarch), where
//! the framework version is one digit of major version followed by the minor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::Version;

/// The framework of a variant: the one enum for it (plan, names, checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    Torch,
    TorchStableAbi,
    TorchNoarch,
    TvmFfi,
}

impl Framework {
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::Torch => "torch",
            Framework::TorchStableAbi => "torch-stable-abi",
            Framework::TorchNoarch => "torch-noarch",
            Framework::TvmFfi => "tvm-ffi",
        }
    }
}

/// `framework == "tvm-ffi"` reads as the plan JSON spells it.
impl PartialEq<&str> for Framework {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A variant directory name, structured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VariantName {
    pub framework: Framework,
    /// Framework (torch, stable ABI, tvm-ffi) major and minor version;
    /// `None` for noarch variants.
    pub version: Option<(u32, u32)>,
    /// The `-cxx11`/`-cxx98` tag of torch variants (absent on macOS).
    pub cxx11: Option<bool>,
    /// `cpu`, `cu132`, `rocm72`, `xpu20253`, `metal`; for noarch variants the
    /// backend name (`cpu`, `cuda`, `universal`, ...).
    pub compute: String,
    /// `x86_64`, `aarch64`; `None` for noarch variants.
    pub arch: Option<String>,
    /// `linux`, `darwin`, `windows`; `None` for noarch variants.
    pub os: Option<String>,
}

fn major_minor(v: &Version) -> (u32, u32) {
    let part = |i: usize| v.0.get(i).copied().unwrap_or(0) as u32;
    (part(0), part(1))
}

fn split_system(system: &str) -> (String, String) {
    let (a, o) = system.split_once('-').unwrap_or((system, ""));
    (a.to_string(), o.to_string())
}

impl VariantName {
    /// `torch-<backend>`.
    pub fn noarch(backend: &str) -> VariantName {
        VariantName {
            framework: Framework::TorchNoarch,
            version: None,
            cxx11: None,
            compute: backend.to_string(),
            arch: None,
            os: None,
        }
    }

    /// A compiled variant for `system` (`x86_64-linux`).
    pub fn compiled(
        framework: Framework,
        version: &Version,
        cxx11: Option<bool>,
        compute: &str,
        system: &str,
    ) -> VariantName {
        let (arch, os) = split_system(system);
        VariantName {
            framework,
            version: Some(major_minor(version)),
            cxx11,
            compute: compute.to_string(),
            arch: Some(arch),
            os: Some(os),
        }
    }

    pub fn parse(s: &str) -> Result<VariantName, String> {
        s.parse()
    }

    /// The backend (`cpu`, `cuda`, `rocm`, `xpu`, `metal`, ...) as
    /// `metadata.json` spells `backend.type`; `None` for the legacy
    /// `torch-universal`.
    pub fn backend(&self) -> Option<&str> {
        let c = self.compute.as_str();
        if self.framework == Framework::TorchNoarch {
            return match c {
                "universal" => None,
                "npu" => Some("cann"),
                other => Some(other),
            };
        }
        let numeric_after = |p: &str| {
            c.strip_prefix(p)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        };
        if numeric_after("cu") {
            Some("cuda")
        } else if numeric_after("rocm") {
            Some("rocm")
        } else if numeric_after("xpu") {
            Some("xpu")
        } else if numeric_after("cann") {
            Some("cann")
        } else {
            Some(c)
        }
    }

    /// The toolkit version digits of the compute tag (`cu132` -> `132`).
    pub fn toolkit_digits(&self) -> Option<&str> {
        ["cu", "rocm", "xpu", "cann"]
            .iter()
            .find_map(|p| self.compute.strip_prefix(p))
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    }

    pub fn is_noarch(&self) -> bool {
        self.framework == Framework::TorchNoarch
    }
}

impl fmt::Display for VariantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.version.unwrap_or((0, 0));
        match self.framework {
            Framework::TorchNoarch => return write!(f, "torch-{}", self.compute),
            Framework::Torch => {
                write!(f, "torch{major}{minor}")?;
                match self.cxx11 {
                    Some(true) => f.write_str("-cxx11")?,
                    Some(false) => f.write_str("-cxx98")?,
                    None => {}
                }
            }
            Framework::TorchStableAbi => write!(f, "torch-stable-abi{major}{minor}")?,
            Framework::TvmFfi => write!(f, "tvm-ffi{major}{minor}")?,
        }
        write!(
            f,
            "-{}-{}-{}",
            self.compute,
            self.arch.as_deref().unwrap_or_default(),
            self.os.as_deref().unwrap_or_default()
        )
    }
}

impl Serialize for VariantName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One digit of major version, the rest is the minor (the loader's rule);
/// the minor has no leading zero, so formatting gives the name back.
fn split_version(digits: &str) -> Option<(u32, u32)> {
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (ma, mi) = digits.split_at(1);
    if mi.len() > 1 && mi.starts_with('0') {
        return None;
    }
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

fn is_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl FromStr for VariantName {
    type Err = String;

    fn from_str(s: &str) -> Result<VariantName, String> {
        let bad = || {
            format!(
                "`{s}` is not a variant name (expected e.g. `torch215-cxx11-cu132-x86_64-linux`, \
                 `torch215-cpu-aarch64-darwin`, `torch-stable-abi211-cpu-x86_64-linux`, \
                 `tvm-ffi01-cu132-x86_64-linux` or `torch-cpu`)"
            )
        };
        let compiled = |framework: Framework,
                        version: (u32, u32),
                        cxx11: Option<bool>,
                        rest: &[&str]|
         -> Result<VariantName, String> {
            match rest {
                [compute, arch, os]
                    if is_part(compute)
                        && is_part(arch)
                        && is_part(os)
                        && !matches!(*compute, "cxx11" | "cxx98") =>
                {
                    Ok(VariantName {
                        framework,
                        version: Some(version),
                        cxx11,
                        compute: compute.to_string(),
                        arch: Some(arch.to_string()),
                        os: Some(os.to_string()),
                    })
                }
                _ => Err(bad()),
            }
        };
        let parts: Vec<&str> = s.split('-').collect();
        if let Some(rest) = s.strip_prefix("torch-stable-abi") {
            let tail: Vec<&str> = rest.split('-').collect();
            let version = split_version(tail[0]).ok_or_else(bad)?;
            return compiled(Framework::TorchStableAbi, version, None, &tail[1..]);
        }
        if parts[0] == "torch" {
            if parts.len() < 2 || !parts[1..].iter().all(|p| is_part(p)) {
                return Err(bad());
            }
            return Ok(VariantName::noarch(&parts[1..].join("-")));
        }
        if let Some(ver) = parts[0].strip_prefix("torch") {
            let version = split_version(ver).ok_or_else(bad)?;
            let (cxx11, rest) = match parts.get(1) {
                Some(&"cxx11") => (Some(true), &parts[2..]),
                Some(&"cxx98") => (Some(false), &parts[2..]),
                _ => (None, &parts[1..]),
            };
            return compiled(Framework::Torch, version, cxx11, rest);
        }
        if parts[0] == "tvm" && parts.len() >= 2 {
            if let Some(ver) = parts[1].strip_prefix("ffi") {
                let version = split_version(ver).ok_or_else(bad)?;
                return compiled(Framework::TvmFfi, version, None, &parts[2..]);
            }
        }
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn variant_names() {
        let v = VariantName::parse("torch215-cxx11-cu132-x86_64-linux").unwrap();
        assert_eq!(v.framework, Framework::Torch);
        assert_eq!(v.version, Some((2, 15)));
        assert_eq!(v.cxx11, Some(true));
        assert_eq!(v.backend(), Some("cuda"));
        assert_eq!(v.toolkit_digits(), Some("132"));
        assert_eq!(v.arch.as_deref(), Some("x86_64"));
        let v = VariantName::parse("torch215-metal-aarch64-darwin").unwrap();
        assert_eq!(v.backend(), Some("metal"));
        assert_eq!(v.os.as_deref(), Some("darwin"));
        let v = VariantName::parse("torch-stable-abi211-rocm72-x86_64-linux").unwrap();
        assert_eq!(v.framework, Framework::TorchStableAbi);
        assert_eq!(v.version, Some((2, 11)));
        assert_eq!(v.backend(), Some("rocm"));
        let v = VariantName::parse("tvm-ffi01-xpu20253-x86_64-linux").unwrap();
        assert_eq!(v.backend(), Some("xpu"));
        let v = VariantName::parse("torch-cpu").unwrap();
        assert!(v.is_noarch());
        assert_eq!(v.backend(), Some("cpu"));
        assert_eq!(
            VariantName::parse("torch-universal").unwrap().backend(),
            None
        );
        for bad in [
            "torch",
            "torch2-cpu-x86_64-linux",
            "torch215-cxx11-cpu-x86_64",
            "relu",
            "tvm-ffi-cpu-x86_64-linux",
            "torch215-cxx11-cpu-x86_64-linux-extra",
        ] {
            assert!(VariantName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn constructors_format_the_plan_names() {
        let v215: Version = "2.15".parse().unwrap();
        assert_eq!(
            VariantName::compiled(Framework::Torch, &v215, Some(true), "cu132", "x86_64-linux")
                .to_string(),
            "torch215-cxx11-cu132-x86_64-linux"
        );
        assert_eq!(
            VariantName::compiled(Framework::Torch, &v215, None, "metal", "aarch64-darwin")
                .to_string(),
            "torch215-metal-aarch64-darwin"
        );
        let tvm: Version = "0.1".parse().unwrap();
        assert_eq!(
            VariantName::compiled(Framework::TvmFfi, &tvm, None, "cpu", "x86_64-linux").to_string(),
            "tvm-ffi01-cpu-x86_64-linux"
        );
        assert_eq!(VariantName::noarch("cuda").to_string(), "torch-cuda");
    }

    fn part() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,7}"
    }

    fn name() -> impl Strategy<Value = VariantName> {
        let compiled = (
            prop_oneof![
                Just(Framework::Torch),
                Just(Framework::TorchStableAbi),
                Just(Framework::TvmFfi)
            ],
            0u32..10,
            0u32..200,
            prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
            part().prop_filter("not a C++ ABI tag", |c| c != "cxx11" && c != "cxx98"),
            part(),
            part(),
        )
            .prop_map(
                |(framework, ma, mi, cxx11, compute, arch, os)| VariantName {
                    framework,
                    version: Some((ma, mi)),
                    cxx11: if framework == Framework::Torch {
                        cxx11
                    } else {
                        None
                    },
                    compute,
                    arch: Some(arch),
                    os: Some(os),
                },
            );
        let noarch = "[a-z][a-z0-9]{0,7}"
            .prop_filter("not a framework prefix", |c| !c.starts_with("stable"))
            .prop_map(|c| VariantName::noarch(&c));
        prop_oneof![compiled, noarch]
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(v in name()) {
            let s = v.to_string();
            prop_assert_eq!(VariantName::parse(&s), Ok(v));
        }

        #[test]
        fn parse_then_format_round_trips(s in "(torch|tvm|torch-stable-abi)[0-9a-z_-]{0,30}") {
            if let Ok(v) = VariantName::parse(&s) {
                prop_assert_eq!(v.to_string(), s);
            }
        }
    }
}
