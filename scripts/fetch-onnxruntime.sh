#!/usr/bin/env bash
# Fetches ONNX Runtime 1.31.1 for hepinfer: downloads the `onnxruntime==1.31.1` wheel from PyPI
# (the only place this project takes it from), checks its SHA-256, and unpacks
# libonnxruntime.so.1.31.1 into .deps/onnxruntime/lib/. Idempotent: does nothing when present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.deps/onnxruntime/lib"
lib="libonnxruntime.so.1.31.1"
wheel="onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl"
sha256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"

if [ -f "$dest/$lib" ]; then
  exit 0
fi
if [ "$(uname -m)" != "x86_64" ] || [ "$(uname -s)" != "Linux" ]; then
  echo "fetch-onnxruntime: only linux x86_64 is set up; set ORT_DYLIB_PATH to your own libonnxruntime.so.1.31.x" >&2
  exit 1
fi
cache="$root/.deps/cache"
mkdir -p "$cache" "$dest"
if [ ! -f "$cache/$wheel" ]; then
  echo "fetch-onnxruntime: downloading onnxruntime==1.31.1 from PyPI"
  # Pin the platform and interpreter so that every machine gets the same file, whatever its Python.
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$cache" onnxruntime==1.31.1
fi
echo "$sha256  $cache/$wheel" | sha256sum -c --quiet - || {
  echo "fetch-onnxruntime: $wheel does not have the expected SHA-256; remove $cache and retry" >&2
  exit 1
}
python3 - "$cache/$wheel" "$dest" "$lib" <<'PY'
import sys, zipfile, os
wheel, dest, lib = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    data = z.read(f"onnxruntime/capi/{lib}")
tmp = os.path.join(dest, lib + ".tmp")
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, os.path.join(dest, lib))
PY
ln -sf "$lib" "$dest/libonnxruntime.so"
echo "fetch-onnxruntime: $dest/$lib"
