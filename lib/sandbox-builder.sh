# Builder of lib/sandbox-variant.nix (busybox sh; applets run without links).
set -eu
export PATH="$tools/bin"
export HOME="$TMPDIR/home"
mkdir -p "$HOME" "$TMPDIR/work"
cp -r "$src"/. "$TMPDIR/work/"
chmod -R u+w "$TMPDIR/work"
cd "$TMPDIR/work"
if [ -n "$prebuilt" ]; then
  build_dir="$prebuilt"
else
  build_dir="$TMPDIR/no-prebuilt"
fi
kernel-builder nix install-variant --variant "$KB_VARIANT" --unique-id "$KB_UNIQUE_ID" \
  --build-dir "$build_dir" --out "$out"
. "$hooks"
kb_verify_variant "$out" "$KB_VARIANT"
