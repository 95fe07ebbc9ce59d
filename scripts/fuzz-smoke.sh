#!/usr/bin/env bash
# Bounded smoke run of every cargo-fuzz target in fuzz/ (FUZZ_SECONDS each, default 30), from the
# committed seeds in fuzz/seeds/<target>/ (new corpus entries go to fuzz/target/corpus/, ignored).
# Built unoptimised with debug assertions (`cargo fuzz build --dev`): it compiles in a third of
# the time of `-O`, and overflow checks are on; FUZZ_OPT=1 builds optimised as long runs should
# (the long runs in fuzz/README.md use -O).
# Needs the plugins built (scripts/build.sh debug, or HEPINFER_FUZZ_PLUGINS=DIR already set to a
# directory of built plugin libraries) and ONNX Runtime fetched.
#
# Toolchain, decided at run time and never downloaded:
#   - nightly installed: libFuzzer with AddressSanitizer (cargo +nightly fuzz run);
#   - else stable without sanitizers (cargo +stable fuzz run -s none), with a loud notice;
#   - cargo-fuzz missing: installed from crates.io (cargo install cargo-fuzz, ~2 min).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
seconds="${FUZZ_SECONDS:-30}"
cargo fmt --check
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz not installed: installing it from crates.io"
  cargo install cargo-fuzz --locked --quiet
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly) sanitizer=(-s address)
  echo "fuzz-smoke: nightly found: libFuzzer with AddressSanitizer"
else
  toolchain=(+stable) sanitizer=(-s none)
  echo "################################################################################"
  echo "fuzz-smoke: NOTICE: no nightly toolchain: fuzzing on stable WITHOUT sanitizers"
  echo "fuzz-smoke: (out-of-bounds reads in unsafe code will not be caught here)"
  echo "################################################################################"
fi
export HEPINFER_FUZZ_PLUGINS="${HEPINFER_FUZZ_PLUGINS:-$root/target/debug/hepinfer-plugins}"
[ -d "$HEPINFER_FUZZ_PLUGINS" ] || {
  echo "fuzz-smoke: no plugins in $HEPINFER_FUZZ_PLUGINS: run scripts/build.sh debug first" >&2
  exit 1
}
if [ "${FUZZ_OPT:-0}" = 1 ]; then build=(-O); else build=(--dev); fi
cargo "${toolchain[@]}" fuzz build "${build[@]}" "${sanitizer[@]}"
for target in $(cargo "${toolchain[@]}" fuzz list); do
  mkdir -p "target/corpus/$target"
  echo "fuzz-smoke: $target for ${seconds}s"
  # Output to a log: libFuzzer is chatty; on failure its report and the crashing input are shown.
  if ! cargo "${toolchain[@]}" fuzz run "${build[@]}" "${sanitizer[@]}" "$target" "target/corpus/$target" \
      "seeds/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 \
      >"target/smoke-$target.log" 2>&1; then
    tail -n 60 "target/smoke-$target.log" >&2
    echo "fuzz-smoke: $target FAILED (input saved under fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E '^Done|#[0-9]+ *DONE' "target/smoke-$target.log" | tail -n 1
done
