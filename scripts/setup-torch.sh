#!/usr/bin/env bash
# Sets up libtorch for hepinfer's `torch` feature (TorchScript backend) and prints, on stdout, the
# environment `tch`'s build script and the programs need. Progress goes to stderr, so
#
#   eval "$(scripts/setup-torch.sh)"
#   cargo build -p hepinfer --features torch
#
# Default: a CPU-only libtorch in `.libtorch/` (git-ignored), unpacked from PyPI wheels with pip:
# `torch==2.13.0` (the libtorch `tch` 0.26 is built for) without its dependencies, plus the two
# small CUDA wheels `libtorch_cpu.so` itself is linked against (cudart, cupti; never called
# without a GPU). The GPU parts of the wheel (`libtorch_cuda*.so` and the libraries only they
# need) are removed, and `libtorch.so` — in the wheel only a wrapper that links
# `libtorch_cuda.so` — is a link to `libtorch_cpu.so`. About 1.3 GB instead of the 5 GB the wheel
# takes with its CUDA dependencies; CPU operators are all in `libtorch_cpu.so`. The directory is
# the cache: a later run that finds it complete installs nothing. Nothing is downloaded from
# anywhere but PyPI (`tch`'s `download-libtorch` is off).
#
# HEPINFER_TORCH_VENV=DIR instead uses a full Python environment with torch 2.13.0 (e.g. the
# `.venv` the training scripts run in), creating it and installing torch there if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want=2.13.0
log() { echo "setup-torch: $*" >&2; }

if [ -n "${HEPINFER_TORCH_VENV:-}" ]; then
  venv="$HEPINFER_TORCH_VENV"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv" >&2 || {
      log "python3 -m venv failed: install the python3-venv package"; exit 1; }
  fi
  have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
  if [ "$have" != "$want" ]; then
    log "installing torch==$want into $venv (about 5 GB with its CUDA libraries; a few minutes)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      "torch==$want" >&2
    have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
    [ "$have" = "$want" ] || { log "torch $have installed, expected $want"; exit 1; }
  fi
  libdir="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  [ -f "$libdir/libtorch_cpu.so" ] || { log "no libtorch_cpu.so in $libdir"; exit 1; }
  # tch's build script runs `python` from PATH when VIRTUAL_ENV is set and asks torch for its
  # include and library directories (LIBTORCH_USE_PYTORCH=1).
  cat <<ENV
export LIBTORCH_USE_PYTORCH=1
export VIRTUAL_ENV='$venv'
export PATH='$venv/bin':"\$PATH"
export LD_LIBRARY_PATH='$libdir'"\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
  log "ok: libtorch $want from $venv"
  exit 0
fi

dest="$root/.libtorch"
torch="$dest/site/torch"   # LIBTORCH: include/ and lib/ as tch expects them
if [ "$(cat "$torch/build-version" 2>/dev/null || true)" != "$want" ]; then
  log "unpacking torch==$want (CPU libraries only) into $dest (about 1 GB from PyPI; a minute or two)"
  rm -rf "$dest"
  # The CUDA wheels' versions are those torch 2.13.0 pins (through cuda-toolkit 13.0.3).
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-cache-dir --no-deps \
    --target "$dest/site" "torch==$want" "nvidia-cuda-runtime==13.0.96" \
    "nvidia-cuda-cupti==13.0.85" >&2
  lib="$torch/lib"
  [ -f "$lib/libtorch_cpu.so" ] || { log "no libtorch_cpu.so in $lib"; exit 1; }
  rm -f "$lib"/libtorch_cuda*.so "$lib"/libc10_cuda.so "$lib"/libtorch_nvshmem.so \
    "$lib"/libcaffe2_nvrtc.so "$lib"/libtorch_python.so "$lib"/libtorch_global_deps.so
  ln -sf libtorch_cpu.so "$lib/libtorch.so"
  # What libtorch_cpu.so needs must resolve (its RPATH points at ../../nvidia/cu13/lib).
  if missing="$(ldd "$lib/libtorch_cpu.so" | grep 'not found')"; then
    log "libtorch_cpu.so has unresolved libraries:"; echo "$missing" >&2; exit 1
  fi
  # Written last: its presence marks a complete directory; tch checks the version in it.
  echo "$want" >"$torch/build-version"
else
  log "torch $want (CPU) already in $dest"
fi
# libhepinfer.so and the host's tests carry an rpath to the library directory (host/build.rs);
# other programs that link the host find libtorch through LD_LIBRARY_PATH.
cat <<ENV
export LIBTORCH='$torch'
export LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH='$torch/lib'"\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
log "ok: libtorch $want (CPU) in $torch/lib"
