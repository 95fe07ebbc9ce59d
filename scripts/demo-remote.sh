#!/usr/bin/env bash
# The main job with b-tagging and W-tagging served by a Triton Inference Server (issue #13):
#
#   scripts/demo-remote.sh [hepinfer-demo arguments]
#
# Sets up Triton (scripts/setup-triton.sh), builds everything (release), writes a model
# repository from the plugins' own ONNX models (scripts/triton/make-repository.py), starts
# tritonserver on free loopback ports, creates the demo conditions database with the global tag
# HEPINFER_DEMO_REMOTE_V1 (btag-rnn and jet-cnn remote, the rest local) and runs the same demo
# job as scripts/demo.sh under that global tag: the same physics table, the same C ABI calls.
# The server is stopped when the job ends, and cannot outlive HEPINFER_TRITON_MAX_SECONDS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
triton_env="$(bash scripts/setup-triton.sh)"
eval "$triton_env"
bash scripts/build.sh release
target="${CARGO_TARGET_DIR:-$root/target}/release"
work="$target/demo/triton"
rm -rf "$work"
mkdir -p "$work"
"$HEPINFER_TRITON_PYTHON" scripts/triton/make-repository.py "$work/models" \
  btag-rnn=plugins/btag-rnn/model/model.onnx jet-cnn=plugins/jet-cnn/model/model.onnx >&2
read -r grpc http < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
bash scripts/triton/serve.sh "$work/models" "$grpc" "$http" > "$work/tritonserver.log" 2>&1 &
server=$!
stop() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap stop EXIT
ready() { python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' \
  "http://127.0.0.1:$http/v2/health/ready" 2>/dev/null; }
for _ in $(seq 1 240); do
  ready && break
  kill -0 "$server" 2>/dev/null || { tail -n 30 "$work/tritonserver.log" >&2; echo "demo-remote: tritonserver exited" >&2; exit 1; }
  sleep 0.5
done
ready || { tail -n 30 "$work/tritonserver.log" >&2; echo "demo-remote: tritonserver not ready" >&2; exit 1; }
echo "demo-remote: tritonserver ready, gRPC on 127.0.0.1:$grpc (log: $work/tritonserver.log)" >&2
HEPINFER_DEMO_KSERVE_SERVERS="http://127.0.0.1:$grpc" \
  bash scripts/make-demo-db.sh "$target/hepinfer" "$target/demo/conditions.db"
"$target/hepinfer-demo" --conddb "sqlite://$target/demo/conditions.db" \
  --global-tag HEPINFER_DEMO_REMOTE_V1 "$@"
