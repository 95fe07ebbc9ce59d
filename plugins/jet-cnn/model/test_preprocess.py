"""Checks of the jet-image preprocessing on hand-made jets (plain asserts, no test framework).

Usage: .venv/bin/python plugins/jet-cnn/model/test_preprocess.py   (exits non-zero on failure)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess as P  # noqa: E402

F = np.float32


def img(eta, phi, pt):
    return P.jet_image(np.array(eta, F), np.array(phi, F), np.array(pt, F))


def test_centre_rotate_flip_normalise():
    # Hardest at (1, 1); second (ΔR 0.5) to its +η side; a third, softer one on the +φ side.
    im = img([1.0, 1.5, 1.0], [1.0, 1.0, 1.3], [100.0, 50.0, 10.0])
    assert abs(im.sum() - 1.0) < 1e-6
    assert abs(im[12, 12] - 100 / 160) < 1e-6  # first seed at the centre
    assert abs(im[12, 7] - 50 / 160) < 1e-6  # second seed straight down, 5 pixels away
    # The third lies at +φ, which the rotation maps to x = -0.3; the flip brings it to +x.
    assert abs(im[15, 12] - 10 / 160) < 1e-6, np.argwhere(im > 0)


def test_phi_wraparound_and_empty():
    a = img([0.0, 0.0], [3.1, -3.1], [100.0, 50.0])  # Δφ = 0.083, not 6.2
    b = img([0.0, 0.0], [0.0, 0.083185], [100.0, 50.0])
    assert np.allclose(a, b, atol=1e-6)
    assert img([], [], []).sum() == 0.0


def test_no_second_seed_keeps_orientation_and_ties_pick_first():
    # Everything within ΔR 0.2: no rotation; of two equal-pT constituents index 0 is the centre.
    im = img([0.0, 0.1], [0.0, 0.0], [10.0, 10.0])
    assert im[12, 12] == 0.5 and im[13, 12] == 0.5
    # Now index 0 (at +0.1) is the centre, the other lands at x = -0.1; the seed itself (x = 0)
    # counts on neither side, so the left side is harder and the flip moves it to +x.
    im = img([0.1, 0.0], [0.0, 0.0], [10.0, 10.0])
    assert im[12, 12] == 0.5 and im[13, 12] == 0.5


def test_pixel_edges_follow_the_recipe():
    # x = 0.15 gives 0.15*10 + 12.5 = 14.0 in float32: the lower edge of pixel 14.
    assert np.floor(F(0.15) * P.INV_PIX + P.HALF) == 14
    im = img([0.0, 0.15], [0.0, 0.0], [10.0, 5.0])
    assert im[14, 12] == F(5.0) / F(15.0)
    # Constituents beyond the image edge (|x| >= 1.25) are dropped before normalising.
    im = img([0.0, 0.0], [0.0, 0.1], [10.0, 1.0])
    im2 = img([0.0, 0.0, 1.3], [0.0, 0.1, 0.0], [10.0, 1.0, 2.0])
    assert im2.shape == (25, 25) and abs(im2.sum() - 1.0) < 1e-6
    assert not np.allclose(im, im2)  # the far one rotated the image, but is itself outside


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
