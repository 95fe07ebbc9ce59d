#!/usr/bin/env bash
# Runs every test of hepinfer on a fresh machine: installs what the tests need, fetches ONNX
# Runtime, builds the workspace and plugins, checks formatting, lints, the C header, the shipped
# model files, and runs the Rust, C and database test suites. `.ci/run` runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never
# One full build per profile, not an edit-compile loop: incremental state would only cost disk.
export CARGO_INCREMENTAL=0

step() { printf '\n== %s ==\n' "$*"; }

step "system packages"
bash scripts/install-deps.sh

step "ONNX Runtime 1.31.1 (from the onnxruntime wheel)"
bash scripts/fetch-onnxruntime.sh

step "shipped model files match their cards"
for sums in plugins/*/model/SHA256SUMS; do
  [ -f "$sums" ] || continue
  (cd "$(dirname "$sums")" && sha256sum --quiet -c SHA256SUMS) || { echo "hash mismatch in $sums" >&2; exit 1; }
  # ... and every hash is the one the model card states.
  while read -r hash file; do
    grep -q "$hash" "$(dirname "$sums")/MODEL.md" || { echo "$file: hash $hash is not in MODEL.md" >&2; exit 1; }
  done < "$sums"
  echo "ok: $sums"
done

step "format"
cargo fmt --all --check

step "build (debug) and gather plugins"
bash scripts/build.sh debug

step "clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Triton for the kserve backend's tests (nvidia-pytriton + onnxruntime wheels into .triton-venv, reused)"
# Assigned first so that a failed set-up stops the script here.
triton_env="$(bash scripts/setup-triton.sh)"
eval "$triton_env"

step "tests"
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
# cargo's own summary lines are read by CI; make sure at least one test ran.
grep -q "test result: ok" target/test-output.txt

step "fuzz smoke: every cargo-fuzz target for 30 s (nightly + ASan when installed, else stable)"
bash scripts/fuzz-smoke.sh

step "CMake: C++ API, installed package, framework-style examples, sanitizers"
bash scripts/cmake-test.sh

step "libtorch 2.13.0 for the torch feature (CPU libraries of the torch wheel from PyPI into .libtorch, reused)"
# Assigned first so that a failed set-up (e.g. disk full during pip) stops the script.
torch_env="$(bash scripts/setup-torch.sh)"
eval "$torch_env"

step "clippy and tests with the torch feature (TorchScript backend)"
cargo clippy -p hepinfer -p hepinfer-demo --features torch --all-targets --quiet -- -D warnings
# The rest of the suite ran above in the default build. Here: the torch feature's own tests, the
# remote-model tests against Triton and the C programs linking the library (a torch-linked
# process is where those could differ), and the demo's ONNX vs TorchScript global-tag comparison.
cargo test -p hepinfer --features torch --no-fail-fast --lib --test torch_concurrency \
  --test torch_determinism --test torch_errors --test torch_parity --test torch_threads \
  --test upload --test triton --test triton_conddb --test triton_faults --test c_api \
  2>&1 | tee target/test-output-torch.txt
cargo test -p hepinfer-demo --features torch --test compare_torch --no-fail-fast 2>&1 | tee -a target/test-output-torch.txt
grep -q "test result: ok" target/test-output-torch.txt
! grep -q "test result: FAILED" target/test-output-torch.txt
