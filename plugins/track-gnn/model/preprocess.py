"""Graph construction and node features for the track-gnn edge classifier.

This module is the reference that the Rust plugin re-implements; MODEL.md states the same rules.
It is imported by train.py, evaluate.py and make_golden.py.

All arithmetic is float64 on the float32 hit coordinates; node features are cast to float32 at
the end. Edges go from a hit on layer l to a hit on layer l+1 or l+2 (one missed layer allowed)
and pass two doublet cuts:

    dphi  = wrap(phi_b - phi_a) into [-pi, pi)
    dr    = r_b - r_a                          (> 0: b is on the outer layer)
    |dphi| / dr          <= PHI_SLOPE_MAX      (rad/mm)
    |z_a - r_a*(z_b - z_a)/dr| <= Z0_MAX       (mm, the segment's intercept with the beam line)

Doublets alone grow as hits squared (every hit pairs with every hit of the window), so the graph
keeps only doublets that continue a track: two doublets (x, m) and (m, y) sharing the middle hit
m are *compatible* when the circles through the beam line and each doublet have the same
curvature and the same dip dz/dchord, within per-layer tolerances (|dkappa| <= TRIPLET_DKAPPA,
|ddip| <= TRIPLET_DDIP, indexed by m's layer). A doublet is *good* when it is compatible with a
doublet on each side (the middle of four hits on one helix). The graph is every doublet of a
compatible pair that contains a good doublet. A fake must now line up with two other hits
instead of one, so fake edges no longer dominate at high pile-up.

Edges are returned sorted by (src, dst), src = inner hit index, dst = outer hit index, as int64.
"""

import numpy as np

N_LAYERS = 10
#: Layer pairs (inner, outer): neighbours and one missed layer.
LAYER_PAIRS = [(l, l + 1) for l in range(N_LAYERS - 1)] + [(l, l + 2) for l in range(N_LAYERS - 2)]
#: Azimuthal slope cut in rad/mm; a 0.5 GeV track in 2 T bends by at most ~7.6e-4 rad/mm
#: inside r = 1020 mm.
PHI_SLOPE_MAX = 8.0e-4
#: Longitudinal cut on the segment's z intercept at r = 0 in mm (beam spot sigma_z = 55 mm: 3.6 sigma).
Z0_MAX = 200.0
#: Triplet tolerances by the layer of the middle hit (layers 0 and 9 are never in the middle):
#: 1.15 x the 99.9 % quantile of the difference between the two doublets of a true triplet in
#: the 120 training events (tune_cuts.py), rounded up to two significant digits. In 1/mm.
TRIPLET_DKAPPA = (0.0, 1.3e-4, 5.5e-5, 2.5e-5, 1.5e-5, 9.6e-6, 5.2e-6, 3.8e-6, 3.7e-6, 0.0)
#: Dip (dz / chord ~ cot theta) tolerance by the layer of the middle hit.
TRIPLET_DDIP = (0.0, 0.0034, 0.0094, 0.015, 0.028, 0.025, 0.037, 0.070, 0.14, 0.0)


def node_features(hits):
    """[n, 3] float32 features (r / 1000, phi / pi, z / 1000) from [n, 3] hits (x, y, z) in mm."""
    h = np.asarray(hits, dtype=np.float32).astype(np.float64)
    r = np.sqrt(h[:, 0] ** 2 + h[:, 1] ** 2)
    phi = np.arctan2(h[:, 1], h[:, 0])
    return np.stack([r / 1000.0, phi / np.pi, h[:, 2] / 1000.0], axis=1).astype(np.float32)


def build_edges(hits, layer, tolerances=None):
    """[2, n_edges] int64 edge index (src inner, dst outer) of the hits, sorted by (src, dst).

    `tolerances` = (dkappa, ddip) per middle layer replaces TRIPLET_DKAPPA / TRIPLET_DDIP
    (tune_cuts.py passes infinite ones to see every doublet)."""
    d = build_doublets(hits, layer)
    if d.shape[1] == 0:
        return d
    kappa, dip = doublet_params(hits, d)
    tk, td = tolerances or (TRIPLET_DKAPPA, TRIPLET_DDIP)
    i, j = compatible_pairs(d, kappa, dip, np.asarray(layer), np.asarray(tk), np.asarray(td))
    n = d.shape[1]
    has_in = np.zeros(n, bool)
    has_out = np.zeros(n, bool)
    has_in[j] = True
    has_out[i] = True
    good = has_in & has_out
    sel = good[i] | good[j]
    keep = np.zeros(n, bool)
    keep[i[sel]] = True
    keep[j[sel]] = True
    return d[:, keep]


def doublet_params(hits, d):
    """Per doublet (a, b): signed curvature kappa (1/mm) of the circle through the beam line, a
    and b, and its dip dz / chord (~ cot theta: the chord is shorter than the arc by
    (kappa * chord)^2 / 24 <= 0.3 %, alike for neighbouring doublets of one track).

        chord = sqrt((x_b - x_a)**2 + (y_b - y_a)**2)
        kappa = 2 * (x_a*y_b - y_a*x_b) / (r_a * r_b * chord)     (= 2 sin(dphi) / chord)
        dip   = (z_b - z_a) / chord
    """
    h = np.asarray(hits, dtype=np.float32).astype(np.float64)
    x, y, z = h[:, 0], h[:, 1], h[:, 2]
    r = np.sqrt(x ** 2 + y ** 2)
    a, b = d[0], d[1]
    chord = np.sqrt((x[b] - x[a]) ** 2 + (y[b] - y[a]) ** 2)
    kappa = 2.0 * (x[a] * y[b] - y[a] * x[b]) / (r[a] * r[b] * chord)
    return kappa, (z[b] - z[a]) / chord


def compatible_pairs(d, kappa, dip, layer, tk, td):
    """Index pairs (i, j) of doublets d[:, i] = (x, m), d[:, j] = (m, y) with
    |kappa_i - kappa_j| <= tk[layer m] and |dip_i - dip_j| <= td[layer m]."""
    # Doublets by (source, kappa); a window a little wider than the tolerance over the
    # combined key source + (kappa + 0.01) / 0.02 (kappa is ~1e-3 / mm, the offset keeps the
    # fraction in (0, 1)), then the exact test.
    key = d[0] + (kappa + 0.01) / 0.02
    order = np.argsort(key, kind="stable")
    skey = key[order]
    mid = d[1]
    t = tk[layer[mid]]
    lo = np.searchsorted(skey, mid + (kappa - t + 0.01) / 0.02 - 1e-6, side="left")
    hi = np.searchsorted(skey, mid + (kappa + t + 0.01) / 0.02 + 1e-6, side="right")
    cnt = hi - lo
    i = np.repeat(np.arange(d.shape[1]), cnt)
    j = order[np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())]
    m = layer[mid[i]]
    ok = (d[0, j] == mid[i]) & (np.abs(kappa[i] - kappa[j]) <= tk[m]) & (np.abs(dip[i] - dip[j]) <= td[m])
    return i[ok], j[ok]


def build_doublets(hits, layer):
    """[2, n] int64 doublets (src inner, dst outer) passing the two doublet cuts, by (src, dst)."""
    h = np.asarray(hits, dtype=np.float32).astype(np.float64)
    layer = np.asarray(layer)
    r = np.sqrt(h[:, 0] ** 2 + h[:, 1] ** 2)
    phi = np.arctan2(h[:, 1], h[:, 0])
    z = h[:, 2]
    by_layer = [np.flatnonzero(layer == l) for l in range(N_LAYERS)]
    srcs, dsts = [], []
    for la, lb in LAYER_PAIRS:
        ia, ib = by_layer[la], by_layer[lb]
        if len(ia) == 0 or len(ib) == 0:
            continue
        # Candidates from a phi window wide enough for the largest dr of the pair; the exact cut
        # below decides. Outer hits are repeated at phi +- 2 pi so that windows may wrap.
        width = PHI_SLOPE_MAX * (r[ib].max() - r[ia].min()) + 1e-9
        order = np.argsort(phi[ib], kind="stable")
        sb = ib[order]
        ext = np.concatenate([sb, sb, sb])
        ephi = np.concatenate([phi[sb] - 2 * np.pi, phi[sb], phi[sb] + 2 * np.pi])
        lo = np.searchsorted(ephi, phi[ia] - width, side="left")
        hi = np.searchsorted(ephi, phi[ia] + width, side="right")
        cnt = hi - lo
        a = np.repeat(ia, cnt)
        pos = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        b = ext[pos]
        dphi = np.mod(phi[b] - phi[a] + np.pi, 2 * np.pi) - np.pi
        dr = r[b] - r[a]
        ok = dr > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ok &= np.abs(dphi) / dr <= PHI_SLOPE_MAX
            z0 = z[a] - r[a] * (z[b] - z[a]) / dr
            ok &= np.abs(z0) <= Z0_MAX
        srcs.append(a[ok])
        dsts.append(b[ok])
    if not srcs:
        return np.zeros((2, 0), dtype=np.int64)
    e = np.stack([np.concatenate(srcs), np.concatenate(dsts)]).astype(np.int64)
    # A pair can only appear once (each hit is on one layer), so sorting makes it canonical.
    e = e[:, np.lexsort((e[1], e[0]))]
    return e


def edge_truth(edges, particle):
    """1.0 where both hits of an edge come from the same (non-noise) particle, else 0.0."""
    p = np.asarray(particle)
    return ((p[edges[0]] == p[edges[1]]) & (p[edges[0]] != 0)).astype(np.float32)


def true_segments(layer, particle):
    """Set of (inner, outer) hit pairs that are consecutive hits of one particle."""
    layer = np.asarray(layer)
    particle = np.asarray(particle)
    idx = np.flatnonzero(particle != 0)
    order = idx[np.lexsort((layer[idx], particle[idx]))]
    p = particle[order]
    same = p[:-1] == p[1:]
    return set(zip(order[:-1][same].tolist(), order[1:][same].tolist()))


def load_events(path):
    """Yields dicts (hits, layer, particle, particle_pt, ...) per event of a toydet tracker npz."""
    d = np.load(path)
    ho, po = d["hit_offsets"], d["particle_offsets"]
    for i in range(len(ho) - 1):
        s = slice(ho[i], ho[i + 1])
        ps = slice(po[i], po[i + 1])
        yield {
            "hits": d["hits"][s],
            "layer": d["hit_layer"][s],
            "particle": d["hit_particle"][s],
            "particle_id": d["particle_id"][ps],
            "particle_pt": d["particle_pt"][ps],
            "particle_eta": d["particle_eta"][ps],
        }
