"""Trains the seq-classifier reference model and exports it to ONNX.

The task: sequences of up to 15 steps x 8 features, zero-padded, belonging to one of three
classes that differ in the tails and correlations of their features (a stand-in for a
track-based tagger, with the same tensor shapes as the b-tagging RNN: 15 x 8 -> 3). The model is
an LSTM(64) -> Dense(32) -> Dense(3) with softmax, the size of the b-tagging RNN
(plugins/btag-rnn), so host overhead is measured on a model of realistic cost (~30 us/call).

Reproducible: fixed seeds, single-threaded torch. Run from this directory:
    ../../../.venv/bin/python train.py
Writes model.onnx and prints the held-out accuracy that MODEL.md quotes.
"""
import numpy as np
import torch
import torch.nn as nn

SEED = 20261123
MAX_LEN, N_FEAT, N_CLASS = 15, 8, 3
GOLDEN = 256


def make_data(n, rng):
    y = rng.integers(0, N_CLASS, n)
    lengths = rng.integers(2, MAX_LEN + 1, n)
    x = np.zeros((n, MAX_LEN, N_FEAT), np.float32)
    for i in range(n):
        L, c = lengths[i], y[i]
        base = rng.normal(0.0, 1.0, (L, N_FEAT))
        # Class 0: heavy positive tail in feature 0 (a "displaced" component) on some steps.
        # Class 1: a milder tail; class 2: none, but correlated features 2 and 3.
        if c == 0:
            k = rng.integers(1, max(2, L // 2))
            base[:k, 0] += rng.exponential(3.0, k)
            base[:k, 1] += rng.exponential(1.5, k)
        elif c == 1:
            k = rng.integers(1, max(2, L // 3))
            base[:k, 0] += rng.exponential(1.2, k)
        else:
            base[:, 3] = 0.8 * base[:, 2] + 0.6 * base[:, 3]
        # Sort steps by feature 0, descending (as a tagger sorts tracks by significance).
        base = base[np.argsort(-base[:, 0], kind="stable")]
        x[i, :L] = base
    return x, y.astype(np.int64), lengths


class SeqClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_FEAT, 64, batch_first=True)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, N_CLASS)

    def forward(self, sequences):
        # Padded steps are all-zero; the hidden state is taken at the last non-padded step so
        # that padding never changes the answer. Computed with tensor ops that export to ONNX.
        nonzero = (sequences.abs().sum(dim=2) > 0).to(torch.int64)
        last = torch.clamp(nonzero.sum(dim=1) - 1, min=0)
        out, _ = self.lstm(sequences)
        idx = last.view(-1, 1, 1).expand(-1, 1, out.shape[2])
        h = out.gather(1, idx).squeeze(1)
        return torch.softmax(self.fc2(torch.relu(self.fc1(h))), dim=1)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=SEED, help="training seed (data and weights)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", default="model.onnx", help="ONNX file to write")
    ap.add_argument("--no-golden", action="store_true", help="do not write the golden_* files")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    xtr, ytr, _ = make_data(40000, rng)
    xte, yte, _ = make_data(10000, rng)
    model = SeqClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(xt))
        for b in range(0, len(xt), 256):
            i = perm[b : b + 256]
            p = model(xt[i])
            loss = nn.functional.nll_loss(torch.log(p + 1e-7), yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
        print(f"epoch {epoch}: loss {loss.item():.4f} held-out accuracy {acc:.4f}")
    model.eval()
    torch.onnx.export(
        model,
        (torch.from_numpy(xte[:2]),),
        args.out,
        input_names=["sequences"],
        output_names=["probabilities"],
        dynamic_axes={"sequences": {0: "n"}, "probabilities": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    # Golden tensors for the Rust tests: held-out inputs, labels and the probabilities that
    # onnxruntime (Python) gives for them, as raw little-endian arrays.
    import onnxruntime as ort

    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    if args.no_golden:
        acc_onnx = (sess.run(None, {"sequences": xte})[0].argmax(1) == yte).mean()
        print(f"final held-out accuracy {acc:.4f} (torch), {acc_onnx:.4f} (onnxruntime) on {len(yte)} sequences")
        return
    gx = xte[:GOLDEN]
    gp = sess.run(None, {"sequences": gx})[0].astype(np.float32)
    gx.astype("<f4").tofile("golden_x.f32")
    yte[:GOLDEN].astype("<i8").tofile("golden_y.i64")
    gp.astype("<f4").tofile("golden_p.f32")
    onnx_acc = (sess.run(None, {"sequences": xte})[0].argmax(1) == yte).mean()
    print(f"final held-out accuracy {acc:.4f} (torch), {onnx_acc:.4f} (onnxruntime) on {len(yte)} sequences")


if __name__ == "__main__":
    main()
