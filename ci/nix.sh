#!/usr/bin/env bash
# The Nix layer's checks (issue [4]). Idempotent: installs what is missing
# (Debian's nix-bin, a static busybox for the sandbox's /bin/sh, gcc,
# patchelf), then shows:
#   - every .nix file parses (nix-instantiate --parse);
#   - the pure parts evaluate (nix-instantiate --eval --strict): plan reading
#     and its staleness check, source sets, matrix/toolkit selection,
#     provenance; for every example kernel and fixture the attribute names the
#     flake exposes equal `kernel-builder list-variants --json` per system,
#     also through real flake evaluation (`nix eval`);
#   - a real sandboxed Nix build (no nixpkgs) that assembles a variant and
#     runs the verifier hooks inside the sandbox, and fails on an ABI
#     violation;
#   - a kernel flake written like the community kernels' (no
#     kernel-plan.json, the reference builder's argument names) evaluates
#     through real flake evaluation with the test stand-in for nixpkgs: the
#     plan is computed by the CLI in a sandboxed derivation and the variant
#     names of every system equal `list-variants` (nix_dropin);
#   - the committed package data re-checked against the Python package
#     index (builder/xtask/tests/pkgdata.rs, a sample; it prints SKIPPED with
#     the reason when the index is unreachable);
#   - (the package-set metadata generators, `cargo xtask pkgmeta`, their
#     offline data checks and the private-CA TLS test are in the fast suite:
#     builder/xtask/tests/).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nix-instantiate >/dev/null 2>&1 || need+=(nix-bin)
if ! { [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; }; then
  need+=(busybox-static)
fi
command -v file >/dev/null 2>&1 || need+=(file)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v patchelf >/dev/null 2>&1 || need+=(patchelf)
command -v gzip >/dev/null 2>&1 || need+=(gzip)
if ((${#need[@]})); then
  echo "== installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Re-check busybox after installation (file may only now be present).
file -L /bin/busybox | grep -q 'statically linked' || {
  echo "error: /bin/busybox is not static; install busybox-static" >&2
  exit 1
}
mkdir -p /nix/store /nix/var/nix
nix-instantiate --version

echo "== every .nix file parses"
count=0
while IFS= read -r -d '' f; do
  nix-instantiate --parse "$f" >/dev/null
  count=$((count + 1))
done < <(find . \( -path ./target -o -path ./.git -o -name build -o -name .venv \) -prune -o -name '*.nix' -print0)
echo "$count files"

echo "== pure parts evaluate (example: plan of examples/relu -> attribute names)"
cargo build --locked -q -p kernel-builder
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -f examples/relu/build.toml ]; then
  cp -r examples/relu "$tmp/relu"
  rm -rf "$tmp/relu/build"
  target/debug/kernel-builder plan --write "$tmp/relu"
  nix-instantiate --eval --strict -E "
    let
      pure = import $PWD/lib/pure.nix;
      plan = pure.readPlan { path = $tmp/relu; };
    in builtins.listToAttrs (map (s: { name = s; value = builtins.length (pure.variantNames plan s); }) pure.systems)"
fi

echo "== Nix layer tests (the ignored nix_* tests)"
cargo test --locked -p kernel-builder --test it -- --ignored nix_ --test-threads 2
echo "== committed package data against the Python package index"
# With its output: agreement, or SKIPPED and why.
cargo test --locked -q -p xtask --test pkgdata -- --ignored sample_agrees_with_the_index --nocapture
echo "ci/nix.sh: ok"
