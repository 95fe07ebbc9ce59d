"""The Python side of `hepinfer bench --btag`: the b-tag model through onnxruntime's
InferenceSession.run, one session shared by all threads (onnxruntime releases the GIL inside
run), with the host's session settings (1 intra-op and 1 inter-op thread, all graph
optimisations, no CPU arena).

    python bench-ort-python.py MODEL DIR N_JETS

DIR holds `tracks.f32` ([N_JETS, 15, 6] little-endian float32) and `n_tracks.i64` ([N_JETS]),
written by the bench. The script prints `ready`, then serves one measurement round per line read
from stdin, `BATCH THREADS ROUND_MS`, answering `US_PER_JET` (the bench interleaves these rounds
with its own sides), until stdin closes.
"""
import os
import sys
import threading
import time

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def calls_per_second(sess, feeds, threads, seconds):
    stop = threading.Event()
    counts = [0] * threads

    def work(t):
        n = 0
        while not stop.is_set():
            sess.run(None, feeds[t])
            n += 1
        counts[t] = n

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for p in pool:
        p.start()
    time.sleep(seconds)
    stop.set()
    for p in pool:
        p.join()
    return sum(counts) / (time.perf_counter() - start)


def main(model, data_dir, n_jets):
    n_jets = int(n_jets)
    x = np.fromfile(os.path.join(data_dir, "tracks.f32"), dtype="<f4").reshape(n_jets, 15, 6)
    n = np.fromfile(os.path.join(data_dir, "n_tracks.i64"), dtype="<i8")
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.enable_cpu_mem_arena = False
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
    print(f"ready onnxruntime {ort.__version__}", flush=True)
    for line in sys.stdin:
        b, t, ms = map(int, line.split())
        # Thread k takes jets [k·b, (k+1)·b), as the Rust sides do.
        feeds = [{"tracks": x[k * b:(k + 1) * b], "n_tracks": n[k * b:(k + 1) * b]}
                 for k in range(t)]
        calls = calls_per_second(sess, feeds, t, ms / 1000.0)
        print(f"{1e6 / (calls * b):.4f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
