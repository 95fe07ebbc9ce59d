"""Writes golden.npz: one small event (100 particles, toydet seed 4242), its preprocess.py
node features and edge index, and the ONNX edge scores, for the Rust plugin's tests (1e-5)."""

import pathlib
import tempfile

import numpy as np
import onnxruntime as ort

import preprocess as P
import toydet_data

HERE = pathlib.Path(__file__).parent

with tempfile.TemporaryDirectory() as tmp:
    ev = next(P.load_events(toydet_data.generate("tracker", pathlib.Path(tmp) / "g.npz", 1, 4242, "--particles", 100)))
x = P.node_features(ev["hits"])
e = P.build_edges(ev["hits"], ev["layer"])
sess = ort.InferenceSession(str(HERE / "track_gnn.onnx"), providers=["CPUExecutionProvider"])
s = sess.run(["edge_scores"], {"node_features": x, "edge_index": e})[0]
np.savez(HERE / "golden.npz", hits=ev["hits"], hit_layer=ev["layer"].astype(np.int32),
         hit_particle=ev["particle"], node_features=x, edge_index=e, edge_scores=s,
         edge_truth=P.edge_truth(e, ev["particle"]))
print(f"golden.npz: {len(x)} hits, {e.shape[1]} edges")
