#!/usr/bin/env bash
# Wall time of `kernel-builder list-variants` on the all-backends fixture
# (5 backends x 2 torch versions x 3 systems = 26 variants). Goal: <= 20 ms.
# Usage: scripts/bench-list-variants.sh [path/to/kernel-builder]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --locked -q --manifest-path "$root/Cargo.toml" -p kernel-builder
  bin="$root/target/release/kernel-builder"
fi
fixture="$root/builder/cli/tests/fixtures/all-backends"
python3 - "$bin" "$fixture" <<'PY'
import statistics, subprocess, sys, time
bin, fixture = sys.argv[1], sys.argv[2]
cmd = [bin, "list-variants", fixture]
for _ in range(5):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
times = []
for _ in range(100):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
mean, median, p95 = statistics.mean(times), statistics.median(times), times[94]
print(f"list-variants (all-backends, 26 variants): mean {mean:.2f} ms, median {median:.2f} ms, p95 {p95:.2f} ms over 100 runs")
if median > 20:
    sys.exit(f"FAIL: median {median:.2f} ms exceeds the 20 ms goal")
print("bench: 1 passed, 0 failed")
PY
