//! Python programs the build runs, kept as real `.py` files (linted by ruff
//! and tested by pytest in `scripts/test.sh`).

/// Prints `{"torch", "python", "abi"}` of a torch environment.
pub const TORCH_PROBE: &str = include_str!("../py/torch_probe.py");

/// Prints the Python version, then the torch and kernels versions.
pub const DOCTOR_PYTHON: &str = include_str!("../py/doctor_python.py");

/// Translates one CUDA source of a ROCm kernel with torch's hipify; written
/// into generated projects as `cmake/hipify.py`.
pub const HIPIFY: &str = include_str!("../py/hipify.py");

/// Downloads or unpacks a `depends` entry (the hash is checked in Rust).
pub const FETCH_DEPENDENCY: &str = include_str!("../py/fetch_dependency.py");
