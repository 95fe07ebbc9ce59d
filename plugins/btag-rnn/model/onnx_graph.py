"""Writes the b-tag RNN as a lean ONNX graph (opset 17) from its torch weights.

`torch.onnx.export` turns the masked gather of `train.BTagRNN` into ~45 nodes (Shape, Gather,
Expand, an `If`...) whose per-node overhead dominated a one-jet call in ONNX Runtime. The same
network written directly is 9 nodes, and it takes a dynamic number of time steps:

    lens   = Cast<int32>(Max(n_tracks, 1))          # a jet without tracks reads step 0
    h      = LSTM(Transpose(tracks), W, R, B, lens)  # Y_h: hidden state after step lens - 1
    probs  = Softmax(Gemm(Relu(Gemm(Squeeze(h), fc1)), fc2))

ONNX's LSTM with `sequence_lens` returns in `Y_h` the hidden state after each row's last valid
step, which is what the torch model gathers; the outputs are identical (checked below against the
torch module and, with --check, against another ONNX file).

Usage (from the repository root), rewriting model.onnx from the weights in model.pt:
    .venv/bin/python plugins/btag-rnn/model/onnx_graph.py [--check OLD.onnx]
"""
import argparse
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
N_FEATURES = 6


def _iofc(w, hidden):
    """torch's gate order (i, f, g, o) → ONNX's (i, o, f, c), along the first axis."""
    i, f, g, o = (w[k * hidden:(k + 1) * hidden] for k in range(4))
    return np.concatenate([i, o, f, g])


def lean_model(state):
    """The ONNX model of a `BTagRNN` state dict (tensor name → array)."""
    st = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, np.float32)
          for k, v in state.items()}
    hidden = st["lstm.weight_hh_l0"].shape[1]
    W = _iofc(st["lstm.weight_ih_l0"], hidden)[None]
    R = _iofc(st["lstm.weight_hh_l0"], hidden)[None]
    B = np.concatenate([_iofc(st["lstm.bias_ih_l0"], hidden),
                        _iofc(st["lstm.bias_hh_l0"], hidden)])[None]
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (W, "W"), (R, "R"), (B, "B"),
        (st["fc1.weight"], "fc1_w"), (st["fc1.bias"], "fc1_b"),
        (st["fc2.weight"], "fc2_w"), (st["fc2.bias"], "fc2_b"),
        (np.array(1, np.int64), "one"), (np.array([0], np.int64), "axis0"))]
    nodes = [
        helper.make_node("Max", ["n_tracks", "one"], ["n_steps"]),
        helper.make_node("Cast", ["n_steps"], ["lens"], to=TensorProto.INT32),
        helper.make_node("Transpose", ["tracks"], ["x_tbf"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["x_tbf", "W", "R", "B", "lens"], ["", "h_last"],
                         hidden_size=hidden),
        helper.make_node("Squeeze", ["h_last", "axis0"], ["h"]),
        helper.make_node("Gemm", ["h", "fc1_w", "fc1_b"], ["z1"], transB=1),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "fc2_w", "fc2_b"], ["z2"], transB=1),
        helper.make_node("Softmax", ["z2"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "btag_rnn",
        [helper.make_tensor_value_info("tracks", TensorProto.FLOAT, ["batch", "steps", N_FEATURES]),
         helper.make_tensor_value_info("n_tracks", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
        inits)
    # IR version 8: what ONNX Runtime 1.31 and every recent release read.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="hepinfer btag-rnn onnx_graph.py", ir_version=8)
    onnx.checker.check_model(model)
    return model


def run_onnx(model_bytes, tracks, n_tracks):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    s = ort.InferenceSession(model_bytes, o, providers=["CPUExecutionProvider"])
    return s.run(None, {"tracks": tracks, "n_tracks": n_tracks})[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(HERE, "model.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "model.onnx"))
    ap.add_argument("--check", help="another ONNX export of the same weights to compare with")
    a = ap.parse_args()
    ts = torch.jit.load(a.weights, map_location="cpu")
    model = lean_model(dict(ts.state_dict()))
    data = model.SerializeToString()
    # Compare with the torch module on random jets of every length, full 15 steps.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 15, N_FEATURES)).astype(np.float32)
    n = np.arange(64, dtype=np.int64) % 16
    for j in range(64):
        x[j, max(n[j], 1):] = 0.0
    with torch.no_grad():
        want = ts(torch.from_numpy(x), torch.from_numpy(n)).numpy()
    got = run_onnx(data, x, n)
    print(f"max |lean ONNX - TorchScript| = {np.abs(got - want).max():.2e}")
    assert np.abs(got - want).max() < 1e-5
    if a.check:
        old = run_onnx(open(a.check, "rb").read(), x, n)
        print(f"max |lean ONNX - {a.check}| = {np.abs(got - old).max():.2e}")
        assert np.abs(got - old).max() < 1e-6
    with open(a.out, "wb") as f:
        f.write(data)
    print(f"{a.out}: {len(model.graph.node)} nodes, {len(data)} bytes")


if __name__ == "__main__":
    main()
