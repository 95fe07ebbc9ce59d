"""Measures the shipped track_gnn.onnx on held-out toydet events through onnxruntime.

    python evaluate.py [--events 10] [--particles 1000] [--seed 7777] [--model track_gnn.onnx]

Regenerates the events with toydet (a seed never used in training), builds graphs with
preprocess.py, and reports graph-construction efficiency, edge efficiency and purity at score 0.5,
and track finding (connected components of edges above 0.5, TrackML double-majority matching).
It also checks that ONNX and TorchScript agree on a graph of another size. Writes eval.json.
"""

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np
import onnxruntime as ort
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import preprocess as P
import toydet_data

HERE = pathlib.Path(__file__).parent


def tracks_from_edges(n_hits, edges, scores, cut=0.5):
    """Track label per hit: connected components of the edges with score > cut."""
    e = edges[:, scores > cut]
    adj = coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n_hits, n_hits))
    return connected_components(adj, directed=False)[1]


def double_majority(track, particle, pt, pid, min_hits=5, pt_min=1.0):
    """(efficiency, fake rate): a track matches particle p if > 50 % of its hits are p's and it
    holds > 50 % of p's hits. Efficiency over particles with pT > pt_min and >= min_hits hits;
    fake rate over tracks with >= 3 hits."""
    n_track = np.bincount(track)
    n_part = np.bincount(particle, minlength=pid.max() + 1)
    pairs, counts = np.unique(np.stack([track, particle]), axis=1, return_counts=True)
    good = (pairs[1] != 0) & (2 * counts > n_track[pairs[0]]) & (2 * counts > n_part[pairs[1]])
    matched_p = set(pairs[1][good].tolist())
    matched_t = set(pairs[0][good].tolist())
    sel = [p for p, ptv in zip(pid, pt) if ptv > pt_min and n_part[p] >= min_hits]
    eff = np.mean([p in matched_p for p in sel])
    cand = np.flatnonzero(n_track >= 3)
    fake = np.mean([t not in matched_t for t in cand])
    return eff, fake


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7777)
    ap.add_argument("--model", default=str(HERE / "track_gnn.onnx"))
    ap.add_argument("--torchscript", default=str(HERE / "track_gnn.pt"))
    ap.add_argument("--out", default=str(HERE / "eval.json"))
    args = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as tmp:
        path = toydet_data.generate("tracker", pathlib.Path(tmp) / "eval.npz", args.events, args.seed,
                                    "--particles", args.particles)
        events = list(P.load_events(path))
    tot = dict(true_seg=0, seg_found=0, true_edges=0, edges=0, sel=0, sel_true=0)
    effs, fakes, times, n_hits = [], [], [], []
    for ev in events:
        x = P.node_features(ev["hits"])
        e = P.build_edges(ev["hits"], ev["layer"])
        y = P.edge_truth(e, ev["particle"]) > 0
        t = time.perf_counter()
        s = sess.run(["edge_scores"], {"node_features": x, "edge_index": e})[0]
        times.append(time.perf_counter() - t)
        n_hits.append(len(x))
        segs = P.true_segments(ev["layer"], ev["particle"])
        es = set(zip(e[0].tolist(), e[1].tolist()))
        tot["true_seg"] += len(segs)
        tot["seg_found"] += sum(sg in es for sg in segs)
        tot["true_edges"] += int(y.sum())
        tot["edges"] += e.shape[1]
        tot["sel"] += int((s > 0.5).sum())
        tot["sel_true"] += int(((s > 0.5) & y).sum())
        track = tracks_from_edges(len(x), e, s)
        eff, fake = double_majority(track, ev["particle"], ev["particle_pt"], ev["particle_id"])
        effs.append(eff)
        fakes.append(fake)
    res = {
        "events": args.events, "particles_per_event": args.particles, "seed": args.seed,
        "hits_per_event": float(np.mean(n_hits)), "edges_per_event": tot["edges"] / args.events,
        "graph_construction_efficiency": tot["seg_found"] / tot["true_seg"],
        "true_edge_fraction": tot["true_edges"] / tot["edges"],
        "edge_efficiency@0.5": tot["sel_true"] / tot["true_edges"],
        "edge_purity@0.5": tot["sel_true"] / max(1, tot["sel"]),
        "track_efficiency_double_majority(pT>1,>=5 hits)": float(np.mean(effs)),
        "track_fake_rate(>=3 hits)": float(np.mean(fakes)),
        "onnx_ms_per_event_1_thread": 1000 * float(np.median(times)),
    }
    # ONNX vs TorchScript on a graph of another size (first 2,000 hits of the first event).
    if pathlib.Path(args.torchscript).exists():
        import torch
        ev = events[0]
        x = P.node_features(ev["hits"][:2000])
        e = P.build_edges(ev["hits"][:2000], ev["layer"][:2000])
        o = sess.run(["edge_scores"], {"node_features": x, "edge_index": e})[0]
        ts = torch.jit.load(args.torchscript)(torch.from_numpy(x), torch.from_numpy(e)).detach().numpy()
        res["onnx_vs_torchscript_max_abs_diff"] = float(np.abs(o - ts).max())
        res["onnx_vs_torchscript_edges"] = int(e.shape[1])
    print(json.dumps(res, indent=1))
    pathlib.Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
