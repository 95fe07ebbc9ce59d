"""Writes golden.npz: one small event (100 particles, toydet seed 4242), its preprocess.py
node features and edge index, and the ONNX edge scores, for the Rust plugin's tests (1e-5); and
one event at twice the training pile-up (2,000 particles, seed 4243) with only hits, layers and edge
index (`dense_*`), so that the triplet filter is checked where fakes compete, with its ONNX
edge scores and the default track builder's hit labels (`evaluate.walk_tracks`)."""

import pathlib
import tempfile

import numpy as np
import onnxruntime as ort

import preprocess as P
from evaluate import walk_tracks
import toydet_data

HERE = pathlib.Path(__file__).parent

with tempfile.TemporaryDirectory() as tmp:
    ev = next(P.load_events(toydet_data.generate("tracker", pathlib.Path(tmp) / "g.npz", 1, 4242, "--particles", 100)))
    dense = next(P.load_events(toydet_data.generate("tracker", pathlib.Path(tmp) / "d.npz", 1, 4243, "--particles", 2000)))
x = P.node_features(ev["hits"])
e = P.build_edges(ev["hits"], ev["layer"])
sess = ort.InferenceSession(str(HERE / "track_gnn.onnx"), providers=["CPUExecutionProvider"])
s = sess.run(["edge_scores"], {"node_features": x, "edge_index": e})[0]
de = P.build_edges(dense["hits"], dense["layer"])
ds = sess.run(["edge_scores"], {"node_features": P.node_features(dense["hits"]), "edge_index": de})[0]
np.savez(HERE / "golden.npz", hits=ev["hits"], hit_layer=ev["layer"].astype(np.int32),
         hit_particle=ev["particle"], node_features=x, edge_index=e, edge_scores=s,
         edge_truth=P.edge_truth(e, ev["particle"]), dense_hits=dense["hits"],
         dense_hit_layer=dense["layer"].astype(np.int32),
         dense_edge_index=de, dense_edge_scores=ds,
         dense_hit_track=walk_tracks(len(dense["hits"]), dense["layer"], de, ds))
print(f"golden.npz: {len(x)} hits, {e.shape[1]} edges; dense event {len(dense['hits'])} hits")
