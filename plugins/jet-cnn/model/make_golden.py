"""Writes golden.npz: raw constituents of 50 held-out jets, their images from preprocess.py and
the ONNX (and TorchScript) outputs, for testing a re-implementation of the preprocessing.

Usage (from the repository root):
    .venv/bin/python plugins/jet-cnn/model/make_golden.py
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = P.run_toydet("jetimage", 5_000, SEED, os.path.join(tmp, "g.npz"))
    # Three jets near phi = +-pi (wrap-around) first, then the first jets of the sample.
    idx = [int(i) for i in np.nonzero(np.abs(d["jet_phi"]) > 3.0)[0][:3]]
    idx += [i for i in range(N_GOLDEN) if i not in idx][: N_GOLDEN - len(idx)]
    idx = sorted(idx)
    o = d["offsets"]
    g = {k: d[k][idx] for k in ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "label")}
    offsets = [0]
    for k in ("c_eta", "c_phi", "c_pt"):
        g[k] = np.concatenate([d[k][o[i]:o[i + 1]] for i in idx]).astype(np.float32)
    for i in idx:
        offsets.append(offsets[-1] + int(o[i + 1] - o[i]))
    g["offsets"] = np.asarray(offsets, dtype=np.int64)
    g["image"] = P.preprocess(g)
    g["p_w"] = evaluate.run_onnx(os.path.join(HERE, "model.onnx"), g["image"])[:, None]
    ts = torch.jit.load(os.path.join(HERE, "model.pt"))
    with torch.no_grad():
        g["p_w_torchscript"] = ts(torch.from_numpy(g["image"])).numpy()
    assert np.max(np.abs(g["p_w"] - g["p_w_torchscript"])) < 1e-5
    np.savez(os.path.join(HERE, "golden.npz"), **g)
    print(f"golden.npz: {len(idx)} jets, {len(g['c_pt'])} constituents")


if __name__ == "__main__":
    main()
