"""Stores the hepinfer signature (`hepinfer.json` extra file) in a TorchScript export, taking the
input and output names, dtypes and shapes from the model's ONNX twin (exported from the same
module, so the inputs are in `forward`'s positional order). The host refuses TorchScript files
without a signature (host/src/runtime/torch.rs).

    .venv/bin/python scripts/embed-torch-signature.py MODEL.onnx MODEL.pt

Rewrites MODEL.pt in place (weights and graph unchanged); update the model's SHA256SUMS after.
"""
import json
import sys

import onnxruntime
import torch

DTYPES = {"tensor(float)": "f32", "tensor(uint8)": "u8", "tensor(int32)": "i32",
          "tensor(int64)": "i64", "tensor(double)": "f64"}


def ports(args):
    # As ONNX Runtime reports them after shape inference: exactly what the host compares with.
    return [{"name": a.name, "dtype": DTYPES[a.type],
             "shape": [d if isinstance(d, int) else -1 for d in a.shape]} for a in args]


def main(onnx_path, pt_path):
    sess = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    sig = {"inputs": ports(sess.get_inputs()), "outputs": ports(sess.get_outputs())}
    module = torch.jit.load(pt_path, map_location="cpu")
    torch.jit.save(module, pt_path, _extra_files={"hepinfer.json": json.dumps(sig)})
    print(f"{pt_path}: {json.dumps(sig)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
