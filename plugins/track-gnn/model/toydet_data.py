"""Runs the toydet generator (the Rust binary) to make the npz files used by train/evaluate.

The binary is `$TOYDET` if set, else `<repo>/target/release/toydet`, built with cargo if absent.
"""

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[3]


def toydet_binary():
    """Path of the toydet executable (builds it with `cargo build --release -p toydet` if needed)."""
    env = os.environ.get("TOYDET")
    if env:
        return env
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    exe = target / "release" / "toydet"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "toydet"], cwd=REPO, check=True)
    return str(exe)


def generate(kind, out, n, seed, *extra):
    """`toydet KIND --n N --seed S -o OUT [extra...]`; returns OUT."""
    cmd = [toydet_binary(), kind, "--n", str(n), "--seed", str(seed), "-o", str(out), *map(str, extra)]
    subprocess.run(cmd, check=True)
    return out
