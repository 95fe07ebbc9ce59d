"""Triton Python-backend model serving one of hepinfer's ONNX models through onnxruntime.

Generated model repositories (scripts/triton/make-repository.py) put this file beside the ONNX
file as `<model>/1/model.py`. One `execute` receives every request the dynamic batcher merged:
their inputs are concatenated along the batch dimension, run in one onnxruntime call, and the
outputs split back per request, so each request gets exactly its rows.
"""

import json
import os
import sys

# The backend's stub embeds the Python the venv was made from but not the venv's packages:
# make-repository.py writes the venv's site-packages path beside this file.
_paths = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site-packages.path")
if os.path.exists(_paths):
    with open(_paths) as _f:
        sys.path.extend(p for p in _f.read().split(os.pathsep) if p and p not in sys.path)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        # One thread per model instance: the server runs instances in parallel, like a job's
        # framework threads.
        options.intra_op_num_threads = int(
            config.get("parameters", {}).get("intra_op_threads", {}).get("string_value", "1")
        )
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        # The model-side names and shapes (after any `reshape` the configuration declares).
        self.inputs = [i["name"] for i in config["input"]]
        self.reshape = {
            i["name"]: [int(d) for d in i["reshape"]["shape"]]
            for i in config["input"]
            if "reshape" in i
        }
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        try:
            arrays = []
            for r in requests:
                row = []
                for name in self.inputs:
                    a = pb_utils.get_input_tensor_by_name(r, name).as_numpy()
                    if name in self.reshape:
                        a = a.reshape([a.shape[0]] + self.reshape[name])
                    row.append(a)
                arrays.append(row)
            sizes = [row[0].shape[0] for row in arrays]
            feed = {
                name: np.concatenate([row[i] for row in arrays])
                for i, name in enumerate(self.inputs)
            }
            results = self.session.run(self.outputs, feed)
        except Exception as e:  # every request of the batch gets the error, the server goes on
            error = pb_utils.TritonError(f"onnxruntime: {e}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        responses = []
        start = 0
        for n in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(out[start : start + n]))
                for name, out in zip(self.outputs, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += n
        return responses
