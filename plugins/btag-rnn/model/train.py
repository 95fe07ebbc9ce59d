"""Trains the b-tag RNN on toydet flavour jets and exports model.onnx and model.pt.

Usage (from the repository root):
    .venv/bin/python plugins/btag-rnn/model/train.py [--n-train 200000] [--epochs 6]
Deterministic for a given seed and thread count (torch CPU, fixed data seed 1).

The candidate v2 model (MODEL.md, "v2 (candidate)") is the same script with another torch seed,
hidden size and schedule, written as model_v2.onnx only (no TorchScript file):
    .venv/bin/python plugins/btag-rnn/model/train.py --seed 7 --hidden 48 --epochs 4 \
        --suffix _v2 --onnx-only
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class BTagRNN(nn.Module):
    """LSTM(hidden, 64 by default) over the sorted tracks, last valid hidden state, Dense(32),
    Dense(3), softmax."""

    def __init__(self, n_features=P.N_FEATURES, hidden=64):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.fc1 = nn.Linear(hidden, 32)
        self.fc2 = nn.Linear(32, 3)

    def logits(self, tracks, n_tracks):
        out, _ = self.lstm(tracks)
        # Masking that survives ONNX export: the state after the last real track is gathered,
        # so padded steps after it cannot change the result. A jet without tracks reads step 0.
        idx = torch.clamp(n_tracks - 1, min=0).view(-1, 1, 1).expand(-1, 1, out.shape[2])
        h = torch.gather(out, 1, idx).squeeze(1)
        return self.fc2(torch.relu(self.fc1(h)))

    def forward(self, tracks, n_tracks):
        return torch.softmax(self.logits(tracks, n_tracks), dim=1)


def export(model, out_dir, suffix="", onnx_only=False):
    """Writes model{suffix}.onnx (opset 17, dynamic batch and steps; the lean graph of
    `onnx_graph.py`) and, unless `onnx_only`, model{suffix}.pt (TorchScript trace; run
    scripts/embed-torch-signature.py on it afterwards)."""
    import onnx_graph  # noqa: E402 (needs the onnx package, only for exporting)
    model.eval()
    ex_t = torch.zeros(2, P.MAX_TRACKS, P.N_FEATURES)
    ex_n = torch.tensor([3, 15], dtype=torch.int64)
    lean = onnx_graph.lean_model(model.state_dict())
    with open(os.path.join(out_dir, f"model{suffix}.onnx"), "wb") as f:
        f.write(lean.SerializeToString())
    if onnx_only:
        return
    traced = torch.jit.trace(model, (ex_t, ex_n))
    traced.save(os.path.join(out_dir, f"model{suffix}.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=200_000)
    ap.add_argument("--data-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=64, help="LSTM hidden size")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--suffix", default="",
                    help="written as model{SUFFIX}.onnx / .pt (e.g. _v2 for a candidate model)")
    ap.add_argument("--onnx-only", action="store_true", help="write no TorchScript file")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        d = P.run_toydet("flavour", a.n_train, a.data_seed, os.path.join(tmp, "train.npz"))
    x, n = P.preprocess(d)
    y = d["label"].astype(np.int64)
    print(f"data+preprocessing {time.time() - t0:.0f} s, {len(y)} jets", flush=True)

    n_val = len(y) // 10
    xt, nt, yt = map(torch.from_numpy, (x[n_val:], n[n_val:], y[n_val:]))
    xv, nv, yv = map(torch.from_numpy, (x[:n_val], n[:n_val], y[:n_val]))
    model = BTagRNN(hidden=a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    bs = 512
    for ep in range(a.epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        tot = 0.0
        for i in range(0, len(yt), bs):
            b = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(model.logits(xt[b], nt[b]), yt[b])
            loss.backward()
            opt.step()
            tot += loss.item() * len(b)
        sched.step()
        model.eval()
        with torch.no_grad():
            vl = loss_fn(model.logits(xv, nv), yv).item()
        print(f"epoch {ep + 1}/{a.epochs}: train loss {tot / len(yt):.4f} val loss {vl:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    export(model, a.out, a.suffix, a.onnx_only)
    print(f"total training time {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
