//! The scaffold templates of `init`, embedded in the binary so that it works
//! from any directory and offline. The sources live in `templates/init/`;
//! files ending in `.j2` are minijinja templates, the others are copied as
//! they are (`CARD.md` is itself a template, filled later by `fill-card`).

use kb_core::config::Backend;

/// When a template is part of the scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    Backend(Backend),
}

#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// Path under `templates/init/`.
    pub source: &'static str,
    pub text: &'static str,
    /// Destination in the kernel project; `{py}` stands for the Python name.
    pub dest: &'static str,
    pub when: When,
}

impl Template {
    /// Whether the template is rendered with minijinja (`.j2` sources).
    pub fn rendered(&self) -> bool {
        self.source.ends_with(".j2")
    }

    pub fn destination(&self, python_name: &str) -> String {
        self.dest.replace("{py}", python_name)
    }
}

macro_rules! template {
    ($source:literal => $dest:literal, $when:expr) => {
        Template {
            source: $source,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../templates/init/",
                $source
            )),
            dest: $dest,
            when: $when,
        }
    };
}

use When::Always;

/// Every scaffold file, in a fixed order.
pub const TEMPLATES: &[Template] = &[
    template!("build.toml.j2" => "build.toml", Always),
    template!("CARD.md" => "CARD.md", Always),
    template!("example.py.j2" => "example.py", Always),
    template!("flake.nix.j2" => "flake.nix", Always),
    template!("gitignore.j2" => ".gitignore", Always),
    template!("gitattributes.j2" => ".gitattributes", Always),
    template!("envrc.j2" => ".envrc", Always),
    template!("benchmarks/benchmark.py.j2" => "benchmarks/benchmark.py", Always),
    template!("tests/__init__.py.j2" => "tests/__init__.py", Always),
    template!("tests/conftest.py.j2" => "tests/conftest.py", Always),
    template!("tests/test_kernel.py.j2" => "tests/test_{py}.py", Always),
    template!("torch-ext/torch_binding.cpp.j2" => "torch-ext/torch_binding.cpp", Always),
    template!("torch-ext/torch_binding.h.j2" => "torch-ext/torch_binding.h", Always),
    template!("torch-ext/package/__init__.py.j2" => "torch-ext/{py}/__init__.py", Always),
    template!("kernel_cpu/kernel.cpp.j2" => "{py}_cpu/{py}.cpp", When::Backend(Backend::Cpu)),
    template!("kernel_cuda/kernel.cu.j2" => "{py}_cuda/{py}.cu", When::Backend(Backend::Cuda)),
    template!("kernel_cuda/kernel.h.j2" => "{py}_cuda/{py}.h", When::Backend(Backend::Cuda)),
    template!("kernel_cuda/torch.cpp.j2" => "{py}_cuda/{py}_torch.cpp", When::Backend(Backend::Cuda)),
    template!("kernel_rocm/kernel.hip.j2" => "{py}_rocm/{py}.hip", When::Backend(Backend::Rocm)),
    template!("kernel_metal/kernel.mm.j2" => "{py}_metal/{py}.mm", When::Backend(Backend::Metal)),
    template!("kernel_metal/kernel.metal.j2" => "{py}_metal/{py}.metal", When::Backend(Backend::Metal)),
    template!("kernel_xpu/kernel.cpp.j2" => "{py}_xpu/{py}.cpp", When::Backend(Backend::Xpu)),
];

/// Backends `init` has a kernel template for, in canonical order.
pub const SCAFFOLD_BACKENDS: [Backend; 5] = [
    Backend::Cpu,
    Backend::Cuda,
    Backend::Metal,
    Backend::Rocm,
    Backend::Xpu,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    #[test]
    fn every_template_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/init");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        files.sort();
        let mut embedded: Vec<String> = TEMPLATES.iter().map(|t| t.source.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded, "templates/init/ and TEMPLATES differ");
    }

    #[test]
    fn every_scaffold_backend_has_a_kernel() {
        for b in SCAFFOLD_BACKENDS {
            assert!(TEMPLATES.iter().any(|t| t.when == When::Backend(b)), "{b}");
        }
    }
}
