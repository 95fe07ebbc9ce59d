#!/usr/bin/env bash
# Runs tritonserver on a model repository, on 127.0.0.1 only, in the foreground:
#
#   scripts/triton/serve.sh REPOSITORY GRPC_PORT HTTP_PORT
#
# with the environment printed by scripts/setup-triton.sh (the venv's tritonserver, the assembled
# Python backend, the library path its stub needs). The process execs into `timeout`, whose child
# is tritonserver: the caller stops it by PID (SIGTERM is passed on), or, for a hard kill, by
# process group; and the server cannot outlive HEPINFER_TRITON_MAX_SECONDS (default 1800) even
# if the caller dies. Metrics are off; HTTP serves health checks for scripts.
set -euo pipefail
repo="$1" grpc="$2" http="$3"
: "${HEPINFER_TRITONSERVER:?run: eval \"\$(scripts/setup-triton.sh)\"}"
# The Python stub links libpython3.X.so: the one of the venv's Python, not another on the system.
# The server and its Python stubs see the Triton venv's libraries only, not a caller's own
# LD_LIBRARY_PATH or virtual environment (e.g. the torch venv of a `--features torch` run).
# PATH too: the stub's embedded Python took its prefix (its site-packages: numpy, onnxruntime)
# from the first `python3` on PATH; with a torch venv first there, the Python backend answered
# with empty output tensors.
export LD_LIBRARY_PATH="$HEPINFER_TRITON_LD_LIBRARY_PATH"
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME
if [ -n "${HEPINFER_TRITON_PYTHON:-}" ]; then
  export PATH="$(dirname "$HEPINFER_TRITON_PYTHON"):$PATH"
fi
exec timeout --kill-after=10 "${HEPINFER_TRITON_MAX_SECONDS:-1800}" "$HEPINFER_TRITONSERVER" \
  --model-repository="$repo" \
  --backend-directory="$HEPINFER_TRITON_BACKENDS" \
  --grpc-address=127.0.0.1 --grpc-port="$grpc" \
  --http-address=127.0.0.1 --http-port="$http" \
  --allow-metrics=false --allow-gpu-metrics=false --allow-cpu-metrics=false \
  --strict-readiness=true --exit-on-error=true --log-verbose=0
