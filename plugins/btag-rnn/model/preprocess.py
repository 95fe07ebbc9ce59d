"""Track features of the b-tag RNN, from raw framework quantities (see MODEL.md, "Inputs").

Everything is float32 arithmetic in the order written here, so that a Rust re-implementation
matches to 1e-5. Imported by train.py, evaluate.py and make_golden.py.
"""
import numpy as np

MAX_TRACKS = 15
N_FEATURES = 6
FEATURE_NAMES = ["sd0", "sz0", "sd0_sig", "sz0_sig", "log_ptfrac", "dr"]

F32 = np.float32
PI = F32(np.pi)  # 3.1415927 as float32
TWO_PI = F32(2.0 * np.pi)  # 6.2831855 as float32


def wrap_dphi(dphi):
    """Wraps float32 angle differences into (-pi, pi] by adding/subtracting 2*pi once."""
    dphi = dphi.astype(F32, copy=True)
    dphi = np.where(dphi > PI, dphi - TWO_PI, dphi)
    dphi = np.where(dphi <= -PI, dphi + TWO_PI, dphi)
    return dphi.astype(F32)


def sign_pos(x):
    """+1 where x >= 0 (zero counts as positive), -1 elsewhere, float32."""
    return np.where(x >= 0, F32(1.0), F32(-1.0)).astype(F32)


def track_features(jet_pt, jet_eta, jet_phi, trk_pt, trk_eta, trk_phi, trk_d0, trk_z0,
                   trk_sigma_d0, trk_sigma_z0):
    """Per-track features (n_tracks, 6) float32 for tracks of one jet (scalars for the jet).

    Also returns the sort key |d0|/sigma(d0) (float32).
    """
    jet_pt, jet_eta, jet_phi = F32(jet_pt), F32(jet_eta), F32(jet_phi)
    d0 = trk_d0.astype(F32)
    z0 = trk_z0.astype(F32)
    sd0_err = trk_sigma_d0.astype(F32)
    sz0_err = trk_sigma_z0.astype(F32)
    deta = (trk_eta.astype(F32) - jet_eta).astype(F32)
    dphi = wrap_dphi(trk_phi.astype(F32) - jet_phi)
    # Lifetime signs: + when the point of closest approach lies on the jet side.
    s_d0 = sign_pos(d0 * dphi)
    s_z0 = sign_pos(z0 * (jet_eta - trk_eta.astype(F32)))
    abs_d0 = np.abs(d0)
    abs_z0 = np.abs(z0)
    sin_theta = (F32(1.0) / np.cosh(trk_eta.astype(F32))).astype(F32)
    sd0 = (s_d0 * abs_d0).astype(F32)
    sz0 = (s_z0 * abs_z0 * sin_theta).astype(F32)
    sd0_sig = (sd0 / sd0_err).astype(F32)
    sz0_sig = ((s_z0 * abs_z0) / sz0_err).astype(F32)
    feats = np.empty((d0.shape[0], N_FEATURES), dtype=F32)
    feats[:, 0] = np.clip(sd0 * F32(10.0), F32(-10.0), F32(10.0))
    feats[:, 1] = np.clip(sz0 * F32(10.0), F32(-10.0), F32(10.0))
    feats[:, 2] = np.clip(sd0_sig, F32(-30.0), F32(30.0)) * F32(0.1)
    feats[:, 3] = np.clip(sz0_sig, F32(-30.0), F32(30.0)) * F32(0.1)
    feats[:, 4] = np.log(trk_pt.astype(F32) / jet_pt)
    feats[:, 5] = np.sqrt(deta * deta + dphi * dphi) * F32(10.0)
    key = (abs_d0 / sd0_err).astype(F32)
    return feats, key


def preprocess(d):
    """Model inputs from an npz-like mapping of raw arrays.

    Returns (tracks float32 [n_jets, 15, 6], n_tracks int64 [n_jets]). Tracks are sorted by
    |d0|/sigma(d0) descending (stable: equal keys keep input order), truncated to 15, padded
    with 0.0.
    """
    offsets = np.asarray(d["offsets"], dtype=np.int64)
    n_jets = offsets.shape[0] - 1
    tracks = np.zeros((n_jets, MAX_TRACKS, N_FEATURES), dtype=F32)
    n_tracks = np.zeros(n_jets, dtype=np.int64)
    names = ["trk_pt", "trk_eta", "trk_phi", "trk_d0", "trk_z0", "trk_sigma_d0", "trk_sigma_z0"]
    arrays = [np.asarray(d[k], dtype=F32) for k in names]
    jet_pt = np.asarray(d["jet_pt"], dtype=F32)
    jet_eta = np.asarray(d["jet_eta"], dtype=F32)
    jet_phi = np.asarray(d["jet_phi"], dtype=F32)
    for i in range(n_jets):
        a, b = offsets[i], offsets[i + 1]
        if b <= a:
            continue
        feats, key = track_features(jet_pt[i], jet_eta[i], jet_phi[i], *[x[a:b] for x in arrays])
        order = np.argsort(-key, kind="stable")[:MAX_TRACKS]
        tracks[i, : order.shape[0]] = feats[order]
        n_tracks[i] = order.shape[0]
    return tracks, n_tracks


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
