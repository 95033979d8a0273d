# shellcheck shell=sh
# Verifier hooks of a kernel variant, run after the variant is installed into
# $out/<variant>. POSIX sh: sourced by the nixpkgs stdenv build (bash) and by
# the nixpkgs-free assembly derivation (busybox sh) that the test suite builds
# in the sandbox. Every step that finds a problem fails the build.
#
# Settings (environment):
#   KB_CHECK_ABI_FLAGS   extra flags for `kernel-builder check-abi`
#                        (e.g. `--torch-stable-abi 2.11`, `--macos 15.0`)
#   KB_GET_KERNEL_CHECK  1 (default) runs `kernel-builder verify` (the real
#                        `kernels` loader); 0 skips it (doGetKernelCheck = false)
#   KB_PATCHELF          patchelf to use (default: patchelf on PATH)
#   KB                   kernel-builder to use (default: kernel-builder on PATH)

kb_log() {
  echo "kernel-builder hooks: $*" >&2
}

kb_fail() {
  echo "kernel-builder hooks: error: $*" >&2
  exit 1
}

# The output must hold exactly the variant directory: what the attribute
# name, the plan and the install step call it.
kb_check_output_layout() {
  out=$1
  variant=$2
  [ -d "$out/$variant" ] || kb_fail "$out/$variant is missing: the build must install the variant into \$out/$variant (the plan's variant name)"
  for entry in "$out"/* "$out"/.[!.]*; do
    [ -e "$entry" ] || continue
    [ "$entry" = "$out/$variant" ] || kb_fail "unexpected $entry: \$out may only contain $variant"
  done
}

# Remove runpaths (ELF-embedded library directories): kernels find torch's
# libraries through the loaded torch, never through build-machine paths.
kb_strip_runpaths() {
  dir=$1
  case "$(uname -s)" in
    Darwin) return 0 ;;
  esac
  patchelf=${KB_PATCHELF:-patchelf}
  find "$dir" -type f -name '*.so' | sort > "${TMPDIR:-/tmp}/kb-so-list"
  while IFS= read -r so; do
    "$patchelf" --remove-rpath "$so" || kb_fail "patchelf --remove-rpath $so failed"
    rpath=$("$patchelf" --print-rpath "$so") || kb_fail "patchelf --print-rpath $so failed"
    [ -z "$rpath" ] || kb_fail "$so still has runpath $rpath"
    kb_log "stripped runpath of ${so#"$dir"/}"
  done < "${TMPDIR:-/tmp}/kb-so-list"
}

kb_remove_bytecode() {
  dir=$1
  find "$dir" -name __pycache__ -type d -prune -exec rm -rf {} +
  find "$dir" -name '*.pyc' -type f -exec rm -f {} +
}

kb_verify_variant() {
  out=$1
  variant=$2
  kb=${KB:-kernel-builder}
  dir="$out/$variant"
  kb_check_output_layout "$out" "$variant"
  kb_strip_runpaths "$dir"
  kb_remove_bytecode "$dir"
  kb_log "check-abi $variant"
  # shellcheck disable=SC2086
  $kb check-abi $KB_CHECK_ABI_FLAGS "$dir" || kb_fail "check-abi found ABI violations in $variant (listed above)"
  kb_log "check-builds $variant"
  $kb check-builds "$dir" || kb_fail "check-builds found layout problems in $variant (listed above)"
  if [ "${KB_GET_KERNEL_CHECK:-1}" = 1 ]; then
    kb_log "verify (get_kernel) $variant"
    $kb verify "$dir" || kb_fail "the kernels loader cannot load $variant (see above); doGetKernelCheck = false skips this check, which is not recommended"
  else
    kb_log "get_kernel check skipped (doGetKernelCheck = false)"
  fi
  kb_remove_bytecode "$dir"
  kb_log "hash $variant"
  $kb hash "$dir" || kb_fail "hash failed for $variant"
  $kb hash --check "$dir" || kb_fail "the digests just written do not verify for $variant"
  kb_log "$variant verified"
}
