"""Times npinfer, ONNX Runtime and the ONNX reference evaluator on work/x.npy, in a process
without TensorFlow; checks each against Keras's work/reference.npy. Called by run.py.

    python benchmarks/time_runtimes.py MODEL BUDGET quick|full   -> one JSON line
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import interleaved_per_call_seconds  # noqa: E402

WORK = HERE / "work"


def main() -> None:
    name, budget, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    import onnxruntime as ort

    import npinfer

    x = np.load(WORK / "x.npy")
    reference = np.load(WORK / "reference.npy")
    model = npinfer.load(WORK / f"{name}.keras")
    runs = {"npinfer": model.predict}
    node_file = WORK / f"{name}_node.onnx"  # the model as one ONNX LSTM / GRU node (onnx_nodes.py), where written
    if node_file.exists():
        runs["npinfer_onnx"] = npinfer.load(node_file).predict
    for label, path in (("ort", WORK / f"{name}.onnx"), ("ort_node", node_file)):
        if not path.exists():
            continue
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            runs[f"{label}_{threads}_thread{'s' if threads > 1 else ''}"] = lambda x, s=session: s.run(None, {"x": x})[0]
    if mode == "full" and len(x) <= 32:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(str(WORK / f"{name}.onnx"))
        runs["onnx_reference"] = lambda x: evaluator.run(None, {"x": x})[0]
    out = {"us": {}, "max_diff": {}, "memory": memory(model, x)}
    for runtime, run in runs.items():
        out["max_diff"][runtime] = float(np.max(np.abs(np.asarray(run(x)) - reference)))
    timed = interleaved_per_call_seconds({runtime: (lambda run=run: run(x)) for runtime, run in runs.items()},
                                         budget=budget * len(runs))
    out["us"] = {runtime: seconds * 1e6 for runtime, seconds in timed.items()}
    print(json.dumps(out))


def memory(model, x) -> dict:
    """Peak bytes NumPy allocates during one predict (tracemalloc sees NumPy's allocations),
    against the largest activation (a layer's output) of this batch."""
    import tracemalloc

    names = [layer.name for layer in model.layers if layer.class_name != "InputLayer"]
    activations = model.predict(x, outputs=names)
    largest = max(sum(a.nbytes for a in (v if isinstance(v, list) else [v])) for v in activations.values())
    model.predict(x)  # buffers of this thread exist now, as in steady use
    tracemalloc.start()
    model.predict(x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_mb": peak / 1e6, "largest_activation_mb": largest / 1e6, "ratio": peak / max(largest, 1)}


if __name__ == "__main__":
    main()
