"""Rewrites the exported track_gnn.onnx so that ONNX Runtime runs its message passing faster,
with bit-identical scores.

torch.onnx exports `zeros_like(h).scatter_add(0, idx.expand(-1, H), m)` as
`ScatterElements(reduction="add")` over an index expanded to [E, H]: ONNX Runtime then adds one
element at a time, with an index per element, and this was half of the network's time. The same
sum is `ScatterND(reduction="add")` with the un-expanded index [E, 1]: one row of H values per
edge. Both add the updates of one node in edge order, so the sums are the same floats (checked
below, and by tests/golden.rs against the stored scores). The `Slice` that trimmed the messages
to the expanded index's shape (the whole tensor) and the now unused `Expand` go too.

Usage (in plugins/track-gnn/model, after train.py), rewriting in place:
    ../../../.venv/bin/python optimize_onnx.py track_gnn.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper


def rewrite(model):
    """The model with every scatter-add as ScatterND; unused nodes removed."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    nodes = []
    for n in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "ScatterElements" and attrs.get("reduction") == b"add" \
                and attrs.get("axis", 0) == 0 and producer[n.input[1]].op_type == "Expand":
            index = producer[n.input[1]].input[0]  # [E, 1], before the expand to [E, H]
            updates = n.input[2]
            if producer.get(updates) is not None and producer[updates].op_type == "Slice":
                updates = producer[updates].input[0]
            nodes.append(helper.make_node("ScatterND", [n.input[0], index, updates],
                                          list(n.output), name=n.name + "_nd", reduction="add"))
        else:
            nodes.append(n)
    # Drop nodes whose outputs nothing reads any more, until none is left.
    while True:
        used = {i for n in nodes for i in n.input} | {o.name for o in graph.output}
        keep = [n for n in nodes if any(o in used for o in n.output)]
        if len(keep) == len(nodes):
            break
        nodes = keep
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def check(before, after):
    """Runs both on a random graph; the scores must be identical."""
    import onnxruntime as ort
    rng = np.random.default_rng(3)
    n, e = 500, 900
    x = np.stack([np.sort(rng.uniform(0.03, 1.0, n)), rng.uniform(-1, 1, n),
                  rng.uniform(-1, 1, n)], 1).astype(np.float32)
    src = rng.integers(0, n - 1, e)
    dst = src + 1 + (rng.integers(0, 1 << 30, e) % (n - 1 - src))
    feeds = {"node_features": x, "edge_index": np.stack([src, dst]).astype(np.int64)}
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    run = [ort.InferenceSession(m.SerializeToString(), o, providers=["CPUExecutionProvider"])
           .run(None, feeds)[0] for m in (before, after)]
    diff = float(np.abs(run[0] - run[1]).max())
    print(f"max |rewritten - exported| on a random graph: {diff:.1e}")
    assert diff == 0.0


def main(path):
    before = onnx.load(path)
    after = rewrite(onnx.load(path))
    n_before, n_after = len(before.graph.node), len(after.graph.node)
    if n_before == n_after:
        print(f"{path}: nothing to rewrite")
        return
    check(before, after)
    onnx.save(after, path)
    print(f"{path}: {n_before} -> {n_after} nodes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
