"""Stores the hepinfer signature (`hepinfer.json` extra file) in a TorchScript export, taking the
input and output names, dtypes and shapes from the model's ONNX twin (exported from the same
module, so the inputs are in `forward`'s positional order). The host refuses TorchScript files
without a signature (host/src/runtime/torch.rs).

    .venv/bin/python scripts/embed-torch-signature.py MODEL.onnx MODEL.pt

Rewrites MODEL.pt in place (weights and graph unchanged); update the model's SHA256SUMS after.
"""
import json
import sys

import onnx
import torch

DTYPES = {1: "f32", 2: "u8", 6: "i32", 7: "i64", 11: "f64"}


def ports(values, skip=()):
    out = []
    for v in values:
        if v.name in skip:
            continue
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        out.append({"name": v.name, "dtype": DTYPES[t.elem_type], "shape": dims})
    return out


def main(onnx_path, pt_path):
    m = onnx.load(onnx_path)
    initializers = {i.name for i in m.graph.initializer}
    sig = {"inputs": ports(m.graph.input, initializers), "outputs": ports(m.graph.output)}
    module = torch.jit.load(pt_path, map_location="cpu")
    torch.jit.save(module, pt_path, _extra_files={"hepinfer.json": json.dumps(sig)})
    print(f"{pt_path}: {json.dumps(sig)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
