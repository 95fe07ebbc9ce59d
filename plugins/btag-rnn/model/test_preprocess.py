"""Checks of the b-tag track preprocessing on hand-made jets (plain asserts, no test framework).

Usage: .venv/bin/python plugins/btag-rnn/model/test_preprocess.py   (exits non-zero on failure)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

F = np.float32


def jet(tracks, pt=50.0, eta=0.0, phi=0.0):
    """One jet; tracks as (pt, eta, phi, d0, z0, sd0, sz0) tuples."""
    t = np.array(tracks, F).reshape(-1, 7)
    d = {"jet_pt": np.array([pt], F), "jet_eta": np.array([eta], F),
         "jet_phi": np.array([phi], F), "offsets": np.array([0, len(t)], np.int64)}
    for i, k in enumerate(["trk_pt", "trk_eta", "trk_phi", "trk_d0", "trk_z0", "trk_sigma_d0",
                           "trk_sigma_z0"]):
        d[k] = t[:, i]
    return P.preprocess(d)


def test_lifetime_signs_and_values():
    # Track at +dphi with positive geometric d0: PCA on the jet side -> positive signed d0.
    x, n = jet([(10.0, 0.1, 0.05, 0.2, 0.3, 0.02, 0.04)])
    assert n[0] == 1
    f = x[0, 0]
    assert f[0] == F(0.2) * F(10)  # +2 (units of 100 um)
    # z0 > 0 with eta_trk > eta_jet: PCA behind the jet -> negative, times sin(theta).
    assert abs(f[1] - (-F(0.3) / np.cosh(F(0.1)) * 10)) < 1e-6
    assert abs(f[2] - 1.0) < 1e-6 and abs(f[3] - (-0.75)) < 1e-6
    assert abs(f[4] - np.log(F(10) / F(50))) < 1e-6
    assert abs(f[5] - np.sqrt(F(0.1) ** 2 + F(0.05) ** 2) * 10) < 1e-6
    # Mirror the track to -dphi: the sign of d0 flips.
    x, _ = jet([(10.0, 0.1, -0.05, 0.2, 0.3, 0.02, 0.04)])
    assert x[0, 0, 0] == -2.0


def test_sorting_ties_truncation_padding_and_clipping():
    trk = [(2.0, 0.0, 0.01, 0.001 * (i % 5), 0.0, 0.01, 0.02) for i in range(20)]
    trk[7] = (2.0, 0.0, 0.01, 5.0, 0.0, 0.01, 0.02)  # huge: clipped to 10 and 3
    x, n = jet(trk)
    assert n[0] == 15
    assert x[0, 0, 0] == 10.0 and x[0, 0, 2] == 3.0
    # Next come the four tracks with d0 = 0.004 (indices 4, 9, 14, 19) in input order.
    assert np.all(x[0, 1:5, 0] == F(0.004) * F(10))
    x, n = jet([])
    assert n[0] == 0 and not x.any()


def test_phi_wraparound():
    a, _ = jet([(5.0, 0.0, -3.1, 0.05, 0.0, 0.01, 0.02)], phi=3.1)
    b, _ = jet([(5.0, 0.0, 0.083185, 0.05, 0.0, 0.01, 0.02)], phi=0.0)
    assert np.allclose(a, b, atol=1e-5)


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
