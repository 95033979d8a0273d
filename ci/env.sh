# Sourced by ci/*.sh: the release binary and the shared torch environment.
kb="$PWD/target/release/kernel-builder"
cargo build --release --locked -q -p kernel-builder
KB_PYTHON=$("$kb" toolchain --torch 2.15 --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['torch']['python'])")
KB_VENV=$(dirname "$(dirname "$KB_PYTHON")")
export KB_PYTHON KB_VENV
