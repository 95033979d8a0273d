//! The Python programs the checks run, kept as real `.py` files (linted by
//! ruff and tested by pytest in `scripts/test.sh`) and embedded here.

/// `verify_probe.py OUT.json`: what this Python has (torch, kernels, platform).
pub const VERIFY_PROBE: &str = include_str!("../py/verify_probe.py");

/// `verify_load.py OUT.json BACKEND REPO ID [REPO ID]`: load builds with the
/// real loader and call their ops.
pub const VERIFY_LOAD: &str = include_str!("../py/verify_load.py");

/// `verify_server.py SOCKET IDLE LOAD_TEXT`: a fork server that imports the
/// loader once and runs `verify_load.py` in a forked child per request.
pub const VERIFY_SERVER: &str = include_str!("../py/verify_server.py");
