#!/usr/bin/env bash
# Sets up a Triton Inference Server for hepinfer's KServe v2 tests, benchmarks and remote demo.
#
# Creates or reuses a Python virtual environment in the project directory (`.triton-venv`,
# git-ignored) holding, from PyPI:
#   - nvidia-pytriton==0.7.0: its wheel ships a `tritonserver` 2.51 binary, libtritonserver.so and
#     the Python backend (one stub per Python version); it runs CPU-only on 127.0.0.1;
#   - onnxruntime==1.31.1 and numpy: what the generated Python-backend models run the project's
#     ONNX files with.
# Then assembles `.triton-venv/backends/python/` (the Python backend's files plus the stub built
# for the venv's Python) for `tritonserver --backend-directory`, and prints on stdout the
# environment the tests read, progress on stderr:
#
#   eval "$(scripts/setup-triton.sh)"
#   cargo test -p hepinfer --test triton
#
# The venv (~370 MB with its dependencies) is the cache: a later run that finds both packages at
# the pinned versions installs nothing. HEPINFER_TRITON_VENV overrides its location.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HEPINFER_TRITON_VENV:-$root/.triton-venv}"
pytriton=0.7.0
ort=1.31.1
log() { echo "setup-triton: $*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv" >&2 || {
    log "python3 -m venv failed: install the python3-venv package"; exit 1; }
fi
py="$venv/bin/python"
have="$("$py" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
print(version("nvidia-pytriton"), version("onnxruntime"), version("numpy"))
PY
)"
case "$have" in
  "$pytriton $ort "*) log "nvidia-pytriton $pytriton and onnxruntime $ort already in $venv" ;;
  *)
    log "installing nvidia-pytriton==$pytriton onnxruntime==$ort numpy into $venv (~370 MB)"
    "$py" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      "nvidia-pytriton==$pytriton" "onnxruntime==$ort" numpy >&2
    ;;
esac

pkg="$("$py" -c 'import os, pytriton; print(os.path.dirname(pytriton.__file__))')"
server="$pkg/tritonserver/bin/tritonserver"
[ -x "$server" ] || { log "no tritonserver binary at $server"; exit 1; }
pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
stub="$pkg/tritonserver/python_backend_stubs/$pyver/triton_python_backend_stub"
[ -x "$stub" ] || { log "the wheel has no Python backend stub for Python $pyver ($stub)"; exit 1; }

# --backend-directory wants <dir>/python/{libtriton_python.so, triton_python_backend_utils.py,
# triton_python_backend_stub}; the wheel keeps the stubs apart, one per Python version.
backends="$venv/backends"
mkdir -p "$backends/python"
for f in "$pkg/tritonserver/backends/python/"*; do
  ln -sf "$f" "$backends/python/"
done
ln -sf "$stub" "$backends/python/triton_python_backend_stub"

# The stub links libpython3.X.so: it must find the one of the Python that made the venv, not
# another on the system; the server needs the wheel's bundled libraries.
pylib="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
[ -e "$pylib/libpython$pyver.so.1.0" ] || [ -e "$pylib/libpython$pyver.so" ] || {
  log "the venv's Python has no shared libpython$pyver.so in $pylib (the Python backend stub needs one)"; exit 1; }
bundled="$(dirname "$pkg")/nvidia_pytriton.libs"
ldpath="$pylib"
[ -d "$bundled" ] && ldpath="$ldpath:$bundled"
ldpath="$ldpath:$pkg/tritonserver/lib"

cat <<ENV
export HEPINFER_TRITONSERVER='$server'
export HEPINFER_TRITON_BACKENDS='$backends'
export HEPINFER_TRITON_PYTHON='$py'
export HEPINFER_TRITON_LD_LIBRARY_PATH='$ldpath'
ENV
log "ok: $("$server" --version 2>/dev/null | head -1 || echo tritonserver) with Python $pyver backend"
