"""Trains the jet-image CNN (W vs QCD) on toydet jets and exports model.onnx and model.pt.

Usage (from the repository root):
    .venv/bin/python plugins/jet-cnn/model/train.py [--n-train 150000] [--epochs 8]
Deterministic for a given seed and thread count (torch CPU, fixed data seed 1).
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


class JetCNN(nn.Module):
    """Conv(8)-pool-Conv(16)-pool-Dense(64)-Dense(1)-sigmoid on a 1x25x25 image."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 25 -> 12
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 6
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 6 * 6, 64), nn.ReLU(),
                                  nn.Linear(64, 1))

    def logits(self, image):
        # Pixels hold fractions of the jet pT (mostly << 1); sqrt spreads the soft pixels out.
        return self.head(self.features(torch.sqrt(image)))

    def forward(self, image):
        return torch.sigmoid(self.logits(image))


def export(model, out_dir):
    """Writes model.onnx (opset 17, dynamic batch) and model.pt (TorchScript trace)."""
    model.eval()
    ex = torch.zeros(2, 1, P.NPIX, P.NPIX)
    torch.onnx.export(
        model, (ex,), os.path.join(out_dir, "model.onnx"), dynamo=False, opset_version=17,
        input_names=["image"], output_names=["p_w"],
        dynamic_axes={"image": {0: "batch"}, "p_w": {0: "batch"}},
    )
    torch.jit.trace(model, (ex,)).save(os.path.join(out_dir, "model.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=150_000)
    ap.add_argument("--data-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        d = P.run_toydet("jetimage", a.n_train, a.data_seed, os.path.join(tmp, "train.npz"))
    x = P.preprocess(d)
    y = d["label"].astype(np.float32)
    print(f"data+preprocessing {time.time() - t0:.0f} s, {len(y)} jets", flush=True)

    n_val = len(y) // 10
    xt, yt = torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:])
    xv, yv = torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val])
    model = JetCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(a.seed)
    bs = 512
    for ep in range(a.epochs):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        tot = 0.0
        for i in range(0, len(yt), bs):
            b = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(model.logits(xt[b]).squeeze(1), yt[b])
            loss.backward()
            opt.step()
            tot += loss.item() * len(b)
        sched.step()
        model.eval()
        with torch.no_grad():
            vl = loss_fn(model.logits(xv).squeeze(1), yv).item()
        print(f"epoch {ep + 1}/{a.epochs}: train loss {tot / len(yt):.4f} val loss {vl:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    export(model, a.out)
    print(f"total training time {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
