"""Writes a Triton model repository serving hepinfer ONNX models through the Python backend.

    make-repository.py OUT NAME=MODEL.onnx [NAME=MODEL.onnx ...] [--max-queue-delay-us N]
                       [--instances N] [--declare-sha256 NAME=HEX]

Each model becomes OUT/NAME/config.pbtxt and OUT/NAME/1/{model.py, model.onnx}: inputs and
outputs read from the ONNX file (first dimension = batch dimension), `dynamic_batching` on, and
the SHA-256 of the ONNX file declared as the parameter `hepinfer_sha256`, which hepinfer's kserve
backend checks against the payload. `--declare-sha256` declares another hash instead (tests of
the refusal). Needs onnxruntime (run it with the Triton venv's Python).
"""

import argparse
import hashlib
import os
import shutil
import sysconfig

import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {
    "tensor(float)": "TYPE_FP32",
    "tensor(double)": "TYPE_FP64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(uint8)": "TYPE_UINT8",
}


def dims(shape):
    return "[" + ", ".join(str(d) if isinstance(d, int) else "-1" for d in shape[1:]) + "]"


def tensor(kind, t):
    if len(t.shape) == 1:
        # A tensor with only the batch dimension: one element per item on the wire, reshaped to
        # a scalar for the model.
        extra = "dims: [1] reshape: { shape: [] }"
    else:
        extra = f"dims: {dims(t.shape)}"
    return f'  {{ name: "{t.name}" data_type: {TYPES[t.type]} {extra} }}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("models", nargs="+", help="NAME=MODEL.onnx")
    ap.add_argument("--max-queue-delay-us", type=int, default=2000)
    ap.add_argument("--max-batch-size", type=int, default=4096)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--declare-sha256", action="append", default=[], help="NAME=HEX")
    a = ap.parse_args()
    declared = dict(x.split("=", 1) for x in a.declare_sha256)
    os.makedirs(a.out, exist_ok=True)
    for spec in a.models:
        name, onnx = spec.split("=", 1)
        with open(onnx, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        s = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        d = os.path.join(a.out, name)
        os.makedirs(os.path.join(d, "1"), exist_ok=True)
        shutil.copyfile(onnx, os.path.join(d, "1", "model.onnx"))
        shutil.copyfile(os.path.join(HERE, "model.py"), os.path.join(d, "1", "model.py"))
        # This interpreter's packages (onnxruntime, numpy) for the stub, which lacks them.
        with open(os.path.join(d, "1", "site-packages.path"), "w") as f:
            paths = sysconfig.get_paths()
            f.write(os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]])))
        inputs = ",\n".join(tensor("input", t) for t in s.get_inputs())
        outputs = ",\n".join(tensor("output", t) for t in s.get_outputs())
        with open(os.path.join(d, "config.pbtxt"), "w") as f:
            f.write(
                f'name: "{name}"\n'
                'backend: "python"\n'
                f"max_batch_size: {a.max_batch_size}\n"
                f"input [\n{inputs}\n]\n"
                f"output [\n{outputs}\n]\n"
                f"dynamic_batching {{ max_queue_delay_microseconds: {a.max_queue_delay_us} }}\n"
                f"instance_group [ {{ kind: KIND_CPU count: {a.instances} }} ]\n"
                f'parameters {{ key: "hepinfer_sha256" value: {{ string_value: "{declared.get(name, sha)}" }} }}\n'
            )
        print(f"{name}: {onnx} sha256 {sha}")


if __name__ == "__main__":
    main()
