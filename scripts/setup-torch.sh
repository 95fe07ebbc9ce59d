#!/usr/bin/env bash
# Sets up libtorch for hepinfer's `torch` feature (TorchScript backend, issue #7): creates or
# reuses a Python virtual environment in the project directory (`.venv`, git-ignored) holding
# `torch==2.13.0` from PyPI — the libtorch that `tch` 0.26 is built for — and prints, on stdout,
# the environment `tch`'s build script and the programs need. Progress goes to stderr, so
#
#   eval "$(scripts/setup-torch.sh)"
#   cargo build -p hepinfer --features torch
#
# The wheel with its CUDA dependencies is about 5 GB and takes minutes to install; the venv is the
# cache: a later run that finds torch 2.13.0 in it installs nothing. Nothing is downloaded from
# anywhere but PyPI (no libtorch zip from download.pytorch.org: tch's `download-libtorch` is off).
# HEPINFER_TORCH_VENV overrides the venv's location.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HEPINFER_TORCH_VENV:-$root/.venv}"
want=2.13.0
log() { echo "setup-torch: $*" >&2; }

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
else
  log "torch $want already in $venv"
fi
libdir="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
[ -f "$libdir/libtorch_cpu.so" ] || { log "no libtorch_cpu.so in $libdir"; exit 1; }
# tch's build script runs `python` from PATH when VIRTUAL_ENV is set and asks torch for its
# include and library directories (LIBTORCH_USE_PYTORCH=1). libhepinfer.so and the host's tests
# carry an rpath to $libdir (host/build.rs); other programs that link the host find libtorch
# through LD_LIBRARY_PATH.
cat <<ENV
export LIBTORCH_USE_PYTORCH=1
export VIRTUAL_ENV='$venv'
export PATH='$venv/bin':"\$PATH"
export LD_LIBRARY_PATH='$libdir'"\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
log "ok: libtorch $want in $libdir"
