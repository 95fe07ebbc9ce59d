#!/usr/bin/env bash
# Creates (or reuses) .deps/bench-venv: a Python venv with the onnxruntime==1.31.1 wheel the host
# uses (from scripts/fetch-onnxruntime.sh's checked download) and numpy, for the Python column of
# `hepinfer bench --btag`. Prints the interpreter's path on stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.deps/bench-venv"
"$root/scripts/fetch-onnxruntime.sh" >&2
if ! "$venv/bin/python" -c 'import onnxruntime, numpy' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$root/.deps/cache/onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl" numpy >&2
fi
echo "$venv/bin/python"
