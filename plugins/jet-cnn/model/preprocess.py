"""Jet images for the W-tagging CNN, from raw constituents (see MODEL.md, "Inputs").

Only IEEE basic operations (+, -, *, /, sqrt, floor) on float32 decide where a constituent
lands, so a Rust re-implementation that follows the same order lands every constituent in the
same pixel. Imported by train.py, evaluate.py and make_golden.py.
"""
import numpy as np

NPIX = 25
F32 = np.float32
PI = F32(np.pi)  # 3.1415927 as float32
TWO_PI = F32(2.0 * np.pi)  # 6.2831855 as float32
SEED2_MIN_R2 = F32(0.04)  # second seed at least ΔR 0.2 from the first
INV_PIX = F32(10.0)  # 1 / pixel size (0.1)
HALF = F32(12.5)  # NPIX / 2: pixel 12 is centred on the first seed


def wrap_dphi(dphi):
    """Wraps float32 angle differences into (-pi, pi] by adding/subtracting 2*pi once."""
    dphi = dphi.astype(F32, copy=True)
    dphi = np.where(dphi > PI, dphi - TWO_PI, dphi)
    dphi = np.where(dphi <= -PI, dphi + TWO_PI, dphi)
    return dphi.astype(F32)


def jet_image(eta, phi, pt):
    """The normalised 25x25 image (float32, [x, y]) of one jet's constituents."""
    img = np.zeros((NPIX, NPIX), dtype=F32)
    eta, phi, pt = eta.astype(F32), phi.astype(F32), pt.astype(F32)
    if pt.shape[0] == 0:
        return img
    s1 = int(np.argmax(pt))  # first occurrence wins ties
    x = (eta - eta[s1]).astype(F32)
    y = wrap_dphi(phi - phi[s1])
    r2 = (x * x + y * y).astype(F32)
    far = np.nonzero(r2 > SEED2_MIN_R2)[0]
    if far.shape[0] > 0:
        s2 = int(far[np.argmax(pt[far])])
        r = np.sqrt(r2[s2]).astype(F32)
        c = F32(x[s2] / r)
        s = F32(y[s2] / r)
        # Rotate so that the second seed points to -y: (x2, y2) -> (0, -r).
        xr = ((-s) * x + c * y).astype(F32)
        yr = ((-c) * x - s * y).astype(F32)
        x, y = xr, yr
    left = float(np.sum(pt[x < 0], dtype=np.float64))
    right = float(np.sum(pt[x > 0], dtype=np.float64))
    if left > right:
        x = (-x).astype(F32)
    ix = np.floor(x * INV_PIX + HALF).astype(np.int64)
    iy = np.floor(y * INV_PIX + HALF).astype(np.int64)
    ok = (ix >= 0) & (ix < NPIX) & (iy >= 0) & (iy < NPIX)
    np.add.at(img, (ix[ok], iy[ok]), pt[ok])
    total = F32(np.sum(img, dtype=F32))
    if total > 0:
        img = (img / total).astype(F32)
    return img


def preprocess(d):
    """Model input float32 [n_jets, 1, 25, 25] from an npz-like mapping (offsets, c_eta, c_phi, c_pt)."""
    offsets = np.asarray(d["offsets"], dtype=np.int64)
    eta = np.asarray(d["c_eta"], dtype=F32)
    phi = np.asarray(d["c_phi"], dtype=F32)
    pt = np.asarray(d["c_pt"], dtype=F32)
    n_jets = offsets.shape[0] - 1
    out = np.zeros((n_jets, 1, NPIX, NPIX), dtype=F32)
    for i in range(n_jets):
        a, b = offsets[i], offsets[i + 1]
        out[i, 0] = jet_image(eta[a:b], phi[a:b], pt[a:b])
    return out


def run_toydet(kind, n, seed, out_path):
    """Writes `toydet KIND --n N --seed S -o OUT` and returns the loaded npz as a dict.

    Uses the binary in $TOYDET if set, else `cargo run --release -p toydet` from the repository
    (honouring $CARGO_TARGET_DIR).
    """
    import os
    import subprocess

    args = [kind, "--n", str(n), "--seed", str(seed), "-o", str(out_path)]
    exe = os.environ.get("TOYDET")
    if exe:
        cmd = [exe] + args
    else:
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        cmd = ["cargo", "run", "--release", "-q", "--manifest-path",
               os.path.join(root, "Cargo.toml"), "-p", "toydet", "--"] + args
    subprocess.run(cmd, check=True)
    with np.load(out_path) as f:
        return {k: f[k] for k in f.files}
