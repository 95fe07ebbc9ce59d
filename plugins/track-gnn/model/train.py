"""Trains the track-gnn interaction network on toydet tracker events and exports it.

    python train.py [--steps 2000] [--out .]

Reproducible: fixed seeds for the data (toydet seed 1001), the initial weights and the sector
sampling; one CPU thread. Writes track_gnn.onnx, track_gnn.pt (TorchScript) and train_log.json.
"""

import argparse
import json
import math
import pathlib
import tempfile
import time

import numpy as np
import torch

import gnn
import preprocess as P
import toydet_data

SEED = 1001
N_EVENTS = 120
N_PARTICLES = 1000
#: Events at five times the pile-up (toydet seed SEED + 1), every other step: the triplet graph
#: is ~99.7 % true at 1,000 particles, so the fakes the network must learn to reject come mostly
#: from dense events (~3 % fakes).
N_DENSE_EVENTS = 24
N_DENSE_PARTICLES = 5000
#: Loss weight of a fake edge. Fakes are rare; unweighted, training can settle on calling every
#: edge true (seen once in two otherwise identical runs).
FAKE_WEIGHT = 5.0
SECTOR = math.pi / 2  # training crops: hits in a random phi sector, full pile-up density


def load_graphs(path):
    graphs = []
    for ev in P.load_events(path):
        e = P.build_edges(ev["hits"], ev["layer"])
        x = P.node_features(ev["hits"])
        graphs.append((x, e, P.edge_truth(e, ev["particle"])))
    return graphs


def crop(graph, rng):
    """Sub-graph of the hits with phi in a random sector (edges with both ends inside)."""
    x, e, y = graph
    phi = x[:, 1].astype(np.float64) * math.pi
    lo = rng.uniform(-math.pi, math.pi)
    inside = np.mod(phi - lo, 2 * math.pi) < SECTOR
    keep = inside[e[0]] & inside[e[1]]
    new_id = np.cumsum(inside) - 1
    return (
        torch.from_numpy(x[inside]),
        torch.from_numpy(new_id[e[:, keep]].astype(np.int64)),
        torch.from_numpy(y[keep]),
    )


def export(model, graph, out):
    """ONNX (opset 17, dynamic hits and edges) and TorchScript files."""
    x, e, _ = graph
    x, e = torch.from_numpy(x), torch.from_numpy(e)
    model.eval()
    torch.onnx.export(
        model,
        (x, e),
        str(out / "track_gnn.onnx"),
        input_names=["node_features", "edge_index"],
        output_names=["edge_scores"],
        dynamic_axes={"node_features": {0: "n_hits"}, "edge_index": {1: "n_edges"}, "edge_scores": {0: "n_edges"}},
        opset_version=17,
        dynamo=False,
    )
    torch.jit.save(torch.jit.script(model), str(out / "track_gnn.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = toydet_data.generate("tracker", pathlib.Path(tmp) / "train.npz", N_EVENTS, SEED,
                                    "--particles", N_PARTICLES)
        graphs = load_graphs(path)
        path = toydet_data.generate("tracker", pathlib.Path(tmp) / "dense.npz", N_DENSE_EVENTS,
                                    SEED + 1, "--particles", N_DENSE_PARTICLES)
        dense = load_graphs(path)
    print(f"{len(graphs)} graphs, {np.mean([g[1].shape[1] for g in graphs]):.0f} edges/event, "
          f"data {time.time() - t0:.0f}s", flush=True)
    model = gnn.EdgeClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps, pct_start=0.05)
    log = []
    t1 = time.time()
    for step in range(args.steps):
        pool = dense if rng.random() < 0.5 else graphs
        x, e, y = crop(pool[rng.integers(len(pool))], rng)
        model.train()
        p = model(x, e)
        loss = torch.nn.functional.binary_cross_entropy(p, y, weight=torch.where(y > 0, 1.0, FAKE_WEIGHT))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == args.steps - 1:
            with torch.no_grad():
                sel = p > 0.5
                eff = (sel & (y > 0)).sum().item() / max(1, (y > 0).sum().item())
                pur = (sel & (y > 0)).sum().item() / max(1, sel.sum().item())
            log.append({"step": step, "loss": loss.item(), "eff": eff, "purity": pur, "t": time.time() - t1})
            print(json.dumps(log[-1]), flush=True)
    train_s = time.time() - t1
    export(model, graphs[0], out)
    (out / "train_log.json").write_text(json.dumps({
        "seed": SEED, "events": N_EVENTS, "particles": N_PARTICLES,
        "dense_events": N_DENSE_EVENTS, "dense_particles": N_DENSE_PARTICLES,
        "fake_weight": FAKE_WEIGHT, "steps": args.steps,
        "train_seconds": round(train_s), "torch": torch.__version__, "log": log}, indent=1))
    print(f"done in {train_s:.0f}s")


if __name__ == "__main__":
    main()
