"""Writes golden.npz: raw inputs of 50 held-out jets, their model inputs from preprocess.py and
the ONNX (and TorchScript) outputs, for testing a re-implementation of the preprocessing.

Usage (from the repository root):
    .venv/bin/python plugins/btag-rnn/model/make_golden.py
"""
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402
import preprocess as P  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 2024
N_GOLDEN = 50
RAW = ["trk_pt", "trk_eta", "trk_phi", "trk_d0", "trk_z0", "trk_sigma_d0", "trk_sigma_z0"]


def pick(d):
    """Edge cases first (no tracks, more than 15 tracks, jet near phi = +-pi), then the rest."""
    n = np.diff(d["offsets"])
    chosen = []
    for mask, k in ((n == 0, 2), (n > P.MAX_TRACKS, 3), (np.abs(d["jet_phi"]) > 3.05, 3)):
        chosen += [int(i) for i in np.nonzero(mask)[0][:k] if int(i) not in chosen]
    for i in range(len(n)):
        if len(chosen) == N_GOLDEN:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = P.run_toydet("flavour", 20_000, SEED, os.path.join(tmp, "g.npz"))
    idx = pick(d)
    o = d["offsets"]
    g = {k: d[k][idx] for k in ("jet_pt", "jet_eta", "jet_phi", "label")}
    parts = {k: [] for k in RAW}
    offsets = [0]
    for i in idx:
        for k in RAW:
            parts[k].append(d[k][o[i]:o[i + 1]])
        offsets.append(offsets[-1] + int(o[i + 1] - o[i]))
    for k in RAW:
        g[k] = np.concatenate(parts[k]).astype(np.float32)
    g["offsets"] = np.asarray(offsets, dtype=np.int64)
    # Unsorted per-track features and sort keys, to localise a mismatch.
    feats, keys = [], []
    for j in range(len(idx)):
        a, b = offsets[j], offsets[j + 1]
        f, k = P.track_features(g["jet_pt"][j], g["jet_eta"][j], g["jet_phi"][j],
                                *[g[r][a:b] for r in RAW])
        feats.append(f)
        keys.append(k)
    g["trk_features"] = np.concatenate(feats).reshape(-1, P.N_FEATURES).astype(np.float32)
    g["trk_sort_key"] = np.concatenate(keys).astype(np.float32)
    g["tracks"], g["n_tracks"] = P.preprocess(g)
    g["probs"] = evaluate.run_onnx(os.path.join(HERE, "model.onnx"), g["tracks"], g["n_tracks"])
    ts = torch.jit.load(os.path.join(HERE, "model.pt"))
    with torch.no_grad():
        g["probs_torchscript"] = ts(torch.from_numpy(g["tracks"]),
                                    torch.from_numpy(g["n_tracks"])).numpy()
    assert np.max(np.abs(g["probs"] - g["probs_torchscript"])) < 1e-5
    np.savez(os.path.join(HERE, "golden.npz"), **g)
    print(f"golden.npz: {len(idx)} jets, {len(g['trk_pt'])} tracks, n_tracks {g['n_tracks'].tolist()}")


if __name__ == "__main__":
    main()
