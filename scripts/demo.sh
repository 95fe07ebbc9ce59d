#!/usr/bin/env bash
# The main job on a fresh machine: fetches ONNX Runtime, builds the host and the plugins
# (release), creates the demo conditions database (SQLite) and runs the demo event loop through
# the C ABI with the models it serves. Extra arguments go to `hepinfer-demo` (e.g. `--compare
# HEPINFER_DEMO_V2`, `--events 2000`); unless they say `--plots DIR`, the plots and the report
# page go to target/release/demo/report/ (open report.html).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
bash scripts/build.sh release
target="${CARGO_TARGET_DIR:-$root/target}/release"
bash scripts/make-demo-db.sh "$target/hepinfer" "$target/demo/conditions.db"
plots=()
[[ " $* " == *" --plots "* ]] || plots=(--plots "$target/demo/report")
exec "$target/hepinfer-demo" --conddb "sqlite://$target/demo/conditions.db" --global-tag HEPINFER_DEMO_V1 "${plots[@]}" "$@"
