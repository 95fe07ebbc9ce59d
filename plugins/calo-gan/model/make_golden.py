"""Writes golden.npz: a fixed noise batch (numpy seed 4242) with conditions covering the three
particle types and 1-100 GeV, and the ONNX outputs, for the Rust plugin's tests (1e-5)."""

import pathlib

import numpy as np
import onnxruntime as ort

HERE = pathlib.Path(__file__).parent
rng = np.random.default_rng(4242)
n = 16
noise = rng.standard_normal((n, 32)).astype(np.float32)
energy = np.geomspace(1.0, 100.0, n).astype(np.float32)[:, None]
particle = np.eye(3, dtype=np.float32)[np.arange(n) % 3]
sess = ort.InferenceSession(str(HERE / "calo_gan.onnx"), providers=["CPUExecutionProvider"])
l0, l1, l2 = sess.run(["layer0", "layer1", "layer2"], {"noise": noise, "energy": energy, "particle": particle})
np.savez(HERE / "golden.npz", noise=noise, energy=energy, particle=particle, layer0=l0, layer1=l1, layer2=l2)
print("golden.npz written")
