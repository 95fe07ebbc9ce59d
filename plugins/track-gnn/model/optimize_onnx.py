"""Rewrites the exported track_gnn.onnx so that ONNX Runtime runs its message passing faster,
with bit-identical scores.

torch.onnx exports `zeros_like(h).scatter_add(0, idx.expand(-1, H), m)` as
`ScatterElements(reduction="add")` over an index expanded to [E, H]: ONNX Runtime then adds one
element at a time, with an index per element, and this was half of the network's time. The same
sum is `ScatterND(reduction="add")` with the un-expanded index [E, 1]: one row of H values per
edge. Both add the updates of one node in edge order, so the sums are the same floats (checked
below, and by tests/golden.rs against the stored scores). The `Slice` that trimmed the messages
to the expanded index's shape (the whole tensor) and the now unused `Expand` go too.

Second rewrite, not bit-identical (the sums of a matrix product are grouped differently;
scores move by ~1e-6, checked ≤ 1e-5 below and by tests/golden.rs): every `Gemm` whose input
is a `Concat` of three hidden-width parts is a sum of three products, so the concatenated
matrix, which ONNX Runtime copies and which was 15 % of the network's time, is never made:
- `Gemm(Concat(Gather(h, src), Gather(h, dst), e))` (edge update, head) becomes one `Gather`
  of h by the [E, 2] index (src, dst), seen as [E, 2H], times the first 2H weight columns,
  added through Gemm's `C` input to `Gemm(e)` with the last H columns and the bias;
- `Gemm(Concat(h, m_in, m_out))` (node update) becomes three chained Gemms, each adding the
  previous one's result through `C`.

Usage (in plugins/track-gnn/model, after train.py), rewriting in place:
    ../../../.venv/bin/python optimize_onnx.py track_gnn.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def prune(nodes, graph):
    """`nodes` without those whose outputs nothing reads any more, repeated until none is left."""
    while True:
        used = {i for n in nodes for i in n.input} | {o.name for o in graph.output}
        keep = [n for n in nodes if any(o in used for o in n.output)]
        if len(keep) == len(nodes):
            return nodes
        nodes = keep


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
    nodes = prune(nodes, graph)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def widths(model):
    """Static last dimension of every value ONNX shape inference knows."""
    inferred = onnx.shape_inference.infer_shapes(model)
    out = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and dims[-1].HasField("dim_value"):
            out[v.name] = dims[-1].dim_value
    # What inference leaves open here: a scatter's output is shaped like its data input, and
    # `ConstantOfShape(Shape(x))` like x.
    producer = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        src = None
        if n.op_type == "ScatterND":
            src = n.input[0]
        elif n.op_type == "ConstantOfShape" and getattr(producer.get(n.input[0]), "op_type", "") == "Shape" \
                and not producer[n.input[0]].attribute:
            src = producer[n.input[0]].input[0]
        if src in out and n.output[0] not in out:
            out[n.output[0]] = out[src]
    return out


def split_concat_gemms(model):
    """The model with every Gemm over a Concat of three hidden-width parts as a sum of products
    (module docstring); unused nodes and weights removed."""
    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    readers = {}
    for n in graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    width = widths(model)
    attrs = lambda n: {a.name: helper.get_attribute_value(a) for a in n.attribute}
    new_init, nodes, pairs = [], [], {}

    def weight(name, w):
        new_init.append(numpy_helper.from_array(np.ascontiguousarray(w), name))
        return name

    def gemm(a, w, c, out):
        return helper.make_node("Gemm", [a, w, c], [out], name=out, transB=1)

    for n in graph.node:
        cat = producer.get(n.input[0]) if n.op_type == "Gemm" else None
        parts = list(cat.input) if cat is not None and cat.op_type == "Concat" else []
        a = attrs(n)
        if (len(parts) != 3 or attrs(cat).get("axis") not in (1, -1) or readers[n.input[0]] != 1
                or a.get("transB") != 1 or a.get("transA", 0) != 0
                or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0
                or n.input[1] not in init or len(n.input) < 3
                or any(width.get(p, 0) < 16 for p in parts)):
            nodes.append(n)
            continue
        w = numpy_helper.to_array(init[n.input[1]])  # [out, sum of part widths]
        cols = np.cumsum([0] + [width[p] for p in parts])
        assert cols[-1] == w.shape[1], (n.name, cols, w.shape)
        base = n.name or n.output[0]
        g0, g1 = (producer.get(p) for p in parts[:2])
        if (g0 is not None and g1 is not None and g0.op_type == g1.op_type == "Gather"
                and g0.input[0] == g1.input[0] and attrs(g0).get("axis", 0) == 0
                and attrs(g1).get("axis", 0) == 0 and width[parts[0]] == width[parts[1]]):
            # h[i0] and h[i1] side by side are h gathered by the [E, 2] index (i0, i1).
            key = (g0.input[1], g1.input[1])
            if key not in pairs:
                pairs[key] = f"{base}/index_pair"
                nodes += [
                    helper.make_node("Unsqueeze", [key[0], "split_axis1"], [f"{base}/i0"]),
                    helper.make_node("Unsqueeze", [key[1], "split_axis1"], [f"{base}/i1"]),
                    helper.make_node("Concat", [f"{base}/i0", f"{base}/i1"], [pairs[key]], axis=1),
                ]
            shape = weight(f"{base}/pair_shape", np.array([-1, cols[2]], np.int64))
            nodes += [
                gemm(parts[2], weight(f"{base}/w_edge", w[:, cols[2]:]), n.input[2], f"{base}/edge"),
                helper.make_node("Gather", [g0.input[0], pairs[key]], [f"{base}/ends"], axis=0),
                helper.make_node("Reshape", [f"{base}/ends", shape], [f"{base}/ends_flat"]),
                gemm(f"{base}/ends_flat", weight(f"{base}/w_ends", w[:, :cols[2]]),
                     f"{base}/edge", n.output[0]),
            ]
        else:
            acc = n.input[2]
            for k, p in enumerate(parts):
                out = n.output[0] if k == 2 else f"{base}/part{k}"
                nodes.append(gemm(p, weight(f"{base}/w{k}", w[:, cols[k]:cols[k + 1]]), acc, out))
                acc = out
    new_init.append(numpy_helper.from_array(np.array([1], np.int64), "split_axis1"))
    nodes = prune(nodes, graph)
    used = {i for n in nodes for i in n.input}
    kept_init = [t for t in list(graph.initializer) + new_init if t.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    onnx.checker.check_model(model)
    return model


def check(before, after, tolerance):
    """Runs both on a random graph; the scores must agree within `tolerance`."""
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
    assert diff <= tolerance, f"{diff} > {tolerance}"
    flips = int(((run[0] > 0.5) != (run[1] > 0.5)).sum())
    print(f"edges changing side of the 0.5 working point: {flips}")
    assert flips == 0


def main(path):
    before = onnx.load(path)
    scatter = rewrite(onnx.load(path))
    check(before, scatter, 0.0)
    after = split_concat_gemms(onnx.load_from_string(scatter.SerializeToString()))
    check(before, after, 1e-5)
    ops = lambda m: sum(n.op_type == "Concat" for n in m.graph.node)
    print(f"{path}: {len(before.graph.node)} -> {len(after.graph.node)} nodes, "
          f"{ops(before)} -> {ops(after)} Concat")
    onnx.save(after, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
