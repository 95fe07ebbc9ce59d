"""Measures the shipped b-tag ONNX model on a held-out toydet sample (seed 1001 by default).

Usage (from the repository root):
    .venv/bin/python plugins/btag-rnn/model/evaluate.py [--n 100000] [--seed 1001] [--model PATH]
Prints the numbers quoted in MODEL.md. The training data used seed 1; any other seed is held out.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FC = 0.07  # c fraction in the b-tagging discriminant


def discriminant(p):
    """D_b = ln(p_b / (f_c p_c + (1 - f_c) p_light)), with f_c = 0.07."""
    eps = 1e-12
    return np.log((p[:, 0] + eps) / (FC * p[:, 1] + (1 - FC) * p[:, 2] + eps))


def run_onnx(path, tracks, n_tracks, batch=4096):
    """Runs model.onnx through onnxruntime (CPU, one thread) in chunks of `batch` jets."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    outs = []
    for i in range(0, len(n_tracks), batch):
        outs.append(sess.run(["probs"], {"tracks": tracks[i:i + batch],
                                         "n_tracks": n_tracks[i:i + batch]})[0])
    return np.concatenate(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1001)
    ap.add_argument("--model", default=os.path.join(HERE, "model.onnx"))
    a = ap.parse_args()
    if a.seed == 1:
        sys.exit("seed 1 is the training sample; pick another seed")

    with tempfile.TemporaryDirectory() as tmp:
        d = P.run_toydet("flavour", a.n, a.seed, os.path.join(tmp, "heldout.npz"))
    x, n = P.preprocess(d)
    y = d["label"]
    p = run_onnx(a.model, x, n)
    # The batch axis must be free: single-jet calls must agree with batched ones.
    p1 = np.concatenate([run_onnx(a.model, x[i:i + 1], n[i:i + 1]) for i in range(50)])
    assert np.max(np.abs(p1 - p[:50])) < 1e-5, "batch-1 and batched ONNX outputs differ"
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)

    db = discriminant(p)
    is_b, is_c, is_l = y == 0, y == 1, y == 2
    sel_bl = is_b | is_l
    auc_bl = roc_auc_score(is_b[sel_bl], db[sel_bl])
    sel_bc = is_b | is_c
    auc_bc = roc_auc_score(is_b[sel_bc], db[sel_bc])
    cut = np.quantile(db[is_b], 0.30)  # 70 % of b jets pass db > cut
    eff_b = np.mean(db[is_b] > cut)
    eff_l = np.mean(db[is_l] > cut)
    eff_c = np.mean(db[is_c] > cut)
    # c vs light from the c probability alone.
    sel_cl = is_c | is_l
    auc_cl = roc_auc_score(is_c[sel_cl], p[sel_cl, 1] / (p[sel_cl, 1] + p[sel_cl, 2]))
    print(f"held-out sample: toydet flavour --n {a.n} --seed {a.seed} "
          f"({is_b.sum()} b, {is_c.sum()} c, {is_l.sum()} light jets)")
    print(f"discriminant D_b = ln(p_b / ({FC} p_c + {1 - FC:.2f} p_light))")
    print(f"AUC(b vs light)               = {auc_bl:.4f}")
    print(f"AUC(b vs c)                   = {auc_bc:.4f}")
    print(f"AUC(c vs light), p_c/(p_c+p_l) = {auc_cl:.4f}")
    print(f"working point D_b > {cut:.3f}: b efficiency {eff_b:.3f}")
    print(f"  light-jet rejection 1/eff   = {1 / max(eff_l, 1e-9):.1f} (eff {eff_l:.4f})")
    print(f"  c-jet rejection 1/eff       = {1 / max(eff_c, 1e-9):.2f} (eff {eff_c:.4f})")
    print(f"accuracy (argmax)             = {np.mean(p.argmax(1) == y):.4f}")
    print(f"ONNX Runtime, 1 thread: {latency_us(a.model, x, n, 1):.1f} us/jet at batch 1, "
          f"{latency_us(a.model, x, n, 16):.1f} us/jet at batch 16 (median of 5 x 200 calls)")


def latency_us(path, tracks, n_tracks, batch):
    """Median over 5 repeats of the per-jet time of 200 ONNX calls of `batch` jets."""
    import time

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = [{"tracks": tracks[i:i + batch], "n_tracks": n_tracks[i:i + batch]}
             for i in range(0, 200 * batch, batch)]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for f in feeds:
            sess.run(["probs"], f)
        times.append((time.perf_counter() - t0) / (200 * batch) * 1e6)
    return float(np.median(times))


if __name__ == "__main__":
    main()
