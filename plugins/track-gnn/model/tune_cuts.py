"""Derives the triplet tolerances of preprocess.py from the training events.

    python tune_cuts.py [--events 120] [--seed 1001] [--particles 1000]

For every pair of true doublets (x, m), (m, y) of one particle (a true triplet; skips over a
missed layer included) it takes |dkappa| and |ddip| and prints, per layer of the middle hit, the
largest value, its 99.9 % quantile and the tolerance preprocess.py uses: 1.15 x that quantile,
rounded up to two significant digits (the largest values are lone Gaussian tails; a track has
several triplets, so losing one rarely loses an edge). The defaults are the training sample of train.py.
"""

import argparse
import collections
import math
import pathlib
import tempfile

import numpy as np

import preprocess as P
import toydet_data


def round_up(v, digits=2):
    """v rounded up to `digits` significant digits."""
    if v <= 0:
        return 0.0
    e = math.floor(math.log10(v)) - digits + 1
    return math.ceil(v / 10 ** e - 1e-9) * 10 ** e


def true_triplet_differences(ev):
    """(middle layer, |dkappa|, |ddip|) arrays over the true triplets of one event."""
    d = P.build_doublets(ev["hits"], ev["layer"])
    d = d[:, P.edge_truth(d, ev["particle"]) > 0]
    kappa, dip = P.doublet_params(ev["hits"], d)
    outgoing = collections.defaultdict(list)
    for j, a in enumerate(d[0].tolist()):
        outgoing[a].append(j)
    i_idx, j_idx = [], []
    for i, m in enumerate(d[1].tolist()):
        for j in outgoing.get(m, ()):
            i_idx.append(i)
            j_idx.append(j)
    i_idx, j_idx = np.array(i_idx, dtype=np.int64), np.array(j_idx, dtype=np.int64)
    mid = np.asarray(ev["layer"])[d[1, i_idx]]
    return mid, np.abs(kappa[i_idx] - kappa[j_idx]), np.abs(dip[i_idx] - dip[j_idx])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1001)
    ap.add_argument("--particles", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = toydet_data.generate("tracker", pathlib.Path(tmp) / "tune.npz", args.events, args.seed,
                                    "--particles", args.particles)
        parts = [true_triplet_differences(ev) for ev in P.load_events(path)]
    mid, dk, dc = (np.concatenate(x) for x in zip(*parts))
    tk, tc = [0.0] * P.N_LAYERS, [0.0] * P.N_LAYERS
    print(f"{len(mid)} true triplets")
    print("layer  n        dkappa max  q99.9     tol      ddip max  q99.9   tol")
    for l in range(1, P.N_LAYERS - 1):
        s = mid == l
        tk[l] = round_up(1.15 * np.quantile(dk[s], 0.999))
        tc[l] = round_up(1.15 * np.quantile(dc[s], 0.999))
        print(f"{l:>5} {s.sum():>7} {dk[s].max():>11.3e} {np.quantile(dk[s], 0.999):.3e} {tk[l]:.2e}"
              f" {dc[s].max():>9.4f} {np.quantile(dc[s], 0.999):.4f} {tc[l]:.2g}")
    print("TRIPLET_DKAPPA =", tuple(float(f"{v:.2g}") for v in tk))
    print("TRIPLET_DDIP =", tuple(float(f"{v:.2g}") for v in tc))


if __name__ == "__main__":
    main()
