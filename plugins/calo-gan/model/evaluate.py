"""Measures the shipped calo_gan.onnx against held-out toydet showers through onnxruntime.

    python evaluate.py [--n 90000] [--seed 9999] [--model calo_gan.onnx]

For every particle type and 10 GeV bin from 10 to 100 GeV it compares the mean total-energy
response (sum of cells / E) and the resolution (std / mean of that ratio) of the GAN with the toy
simulation at the same (E, type). Plots layer energy fractions and the middle-layer shower width
(response.png, shapes.png), times the generator at batch 64 on one thread, checks ONNX against
TorchScript, and writes eval.json.
"""

import argparse
import json
import pathlib
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

import toydet_data  # noqa: E402

HERE = pathlib.Path(__file__).parent
Z_DIM = 32
NAMES = ["e+", "gamma", "pi+"]


def generate(sess, energy, particle, rng, batch=4096):
    """GAN showers for conditions (energy [N] GeV, particle [N] class index)."""
    outs = [[], [], []]
    for i in range(0, len(energy), batch):
        e = energy[i:i + batch, None].astype(np.float32)
        p = np.eye(3, dtype=np.float32)[particle[i:i + batch]]
        z = rng.standard_normal((len(e), Z_DIM)).astype(np.float32)
        for k, o in enumerate(sess.run(["layer0", "layer1", "layer2"], {"noise": z, "energy": e, "particle": p})):
            outs[k].append(o)
    return [np.concatenate(o) for o in outs]


def width_mm(layer1):
    """Energy-weighted RMS of x in the 12x12 middle layer (40 mm cells), in mm."""
    x = (np.arange(12) - 5.5) * 40.0
    ex = layer1.sum(1)  # project on x
    tot = ex.sum(1) + 1e-9
    m = (ex * x).sum(1) / tot
    return np.sqrt(np.clip((ex * x ** 2).sum(1) / tot - m ** 2, 0, None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=90000)
    ap.add_argument("--seed", type=int, default=9999)
    ap.add_argument("--model", default=str(HERE / "calo_gan.onnx"))
    ap.add_argument("--torchscript", default=str(HERE / "calo_gan.pt"))
    ap.add_argument("--outdir", default=str(HERE))
    args = ap.parse_args()
    out = pathlib.Path(args.outdir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as tmp:
        d = dict(np.load(toydet_data.generate("calo", pathlib.Path(tmp) / "eval.npz", args.n, args.seed)))
    E, T = d["energy"], d["particle"]
    real = [d["layer0"], d["layer1"], d["layer2"]]
    fake = generate(sess, E, T, np.random.default_rng(args.seed))
    assert all((f >= 0).all() for f in fake), "negative cell energy"
    tot_r = sum(l.sum((1, 2)) for l in real)
    tot_f = sum(l.sum((1, 2)) for l in fake)
    bins, worst_mean, worst_res = [], 0.0, 0.0
    for k in range(3):
        for lo in range(10, 100, 10):
            s = (T == k) & (E >= lo) & (E < lo + 10)
            rr, rf = tot_r[s] / E[s], tot_f[s] / E[s]
            mr, mf = rr.mean(), rf.mean()
            sr, sf = rr.std() / mr, rf.std() / mf
            b = {"particle": NAMES[k], "bin_gev": [lo, lo + 10], "n": int(s.sum()),
                 "toy_response": float(mr), "gan_response": float(mf), "response_ratio": float(mf / mr),
                 "toy_resolution": float(sr), "gan_resolution": float(sf), "resolution_ratio": float(sf / sr)}
            bins.append(b)
            worst_mean = max(worst_mean, float(abs(mf / mr - 1)))
            worst_res = max(worst_res, float(abs(sf / sr - 1)))
    # Response plot.
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2), dpi=70)
    for k, c in enumerate(["C0", "C1", "C2"]):
        bk = [b for b in bins if b["particle"] == NAMES[k]]
        x = [b["bin_gev"][0] + 5 for b in bk]
        ax[0].plot(x, [b["toy_response"] for b in bk], "o-", c=c, label=f"{NAMES[k]} toy")
        ax[0].plot(x, [b["gan_response"] for b in bk], "x--", c=c, label=f"{NAMES[k]} GAN")
        ax[1].plot(x, [b["toy_resolution"] for b in bk], "o-", c=c)
        ax[1].plot(x, [b["gan_resolution"] for b in bk], "x--", c=c)
    ax[0].set(xlabel="E [GeV]", ylabel="mean sum/E")
    ax[1].set(xlabel="E [GeV]", ylabel="std/mean of sum/E", yscale="log")
    ax[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "response.png")
    # Shapes: layer fractions and middle-layer width per particle type.
    fig, ax = plt.subplots(3, 4, figsize=(10, 6.5), dpi=60)
    for k in range(3):
        s = (T == k) & (E >= 10)
        for l in range(3):
            fr = real[l][s].sum((1, 2)) / (tot_r[s] + 1e-9)
            ff = fake[l][s].sum((1, 2)) / (tot_f[s] + 1e-9)
            rng_ = (0, max(fr.max(), ff.max(), 1e-3))
            ax[k, l].hist(fr, 50, rng_, histtype="step", density=True, label="toy")
            ax[k, l].hist(ff, 50, rng_, histtype="step", density=True, label="GAN")
            ax[k, l].set_title(f"{NAMES[k]}: E{l}/E_tot", fontsize=8)
        wr, wf = width_mm(real[1][s]), width_mm(fake[1][s])
        ax[k, 3].hist(wr, 50, (0, 120), histtype="step", density=True, label="toy")
        ax[k, 3].hist(wf, 50, (0, 120), histtype="step", density=True, label="GAN")
        ax[k, 3].set_title(f"{NAMES[k]}: layer-1 width [mm]", fontsize=8)
    ax[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "shapes.png")
    # Throughput at batch 64, one thread.
    rng = np.random.default_rng(0)
    feed = {"noise": rng.standard_normal((64, Z_DIM)).astype(np.float32),
            "energy": np.full((64, 1), 50.0, np.float32), "particle": np.eye(3, dtype=np.float32)[np.arange(64) % 3]}
    for _ in range(20):
        sess.run(None, feed)
    rates = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(200):
            sess.run(None, feed)
        rates.append(64 * 200 / (time.perf_counter() - t))
    res = {"n": args.n, "seed": args.seed, "worst_response_deviation": worst_mean,
           "worst_resolution_deviation": worst_res, "showers_per_s_batch64_1thread": float(np.median(rates)),
           "bins": bins}
    if pathlib.Path(args.torchscript).exists():
        import torch
        g = torch.jit.load(args.torchscript)
        o = sess.run(None, feed)
        t = g(*(torch.from_numpy(feed[k]) for k in ["noise", "energy", "particle"]))
        res["onnx_vs_torchscript_max_abs_diff"] = float(max(np.abs(a - b.detach().numpy()).max() for a, b in zip(o, t)))
    summary = {k: v for k, v in res.items() if k != "bins"}
    print(json.dumps(summary, indent=1))
    for b in bins:
        print(f"{b['particle']:6s} {b['bin_gev']} n={b['n']:5d} resp {b['response_ratio']:.3f} res {b['resolution_ratio']:.3f}")
    (out / "eval.json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
