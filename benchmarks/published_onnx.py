"""Published-ONNX benchmark (issue 20): silero-vad's per-chunk latency, streamed with its state
carried, and a scikit-learn RandomForestRegressor exported by skl2onnx at batch 1 and 10,000 rows —
npinfer against ONNX Runtime (1 and 2 intra-op threads) in the same run, interleaved, as ratios.
Each row is checked first: npinfer's outputs equal ONNX Runtime's (within 1e-5, relative for large values).

    python benchmarks/published_onnx.py [--budget SECONDS] [--out benchmarks/results/published_onnx.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import interleaved_per_call_seconds  # noqa: E402


def ort_sessions(path) -> dict:
    """ONNX Runtime sessions on `path` with 1 and 2 intra-op threads."""
    import onnxruntime as ort

    sessions = {}
    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        sessions[f"ort_{threads}_thread{'s' if threads > 1 else ''}"] = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])
    return sessions


def silero_rows(budget: float) -> list[dict]:
    """One streamed chunk (512 samples at 16 kHz, 256 at 8 kHz, plus the context) per call."""
    import npinfer

    data = Path(importlib.util.find_spec("silero_vad").submodule_search_locations[0]) / "data"
    rows = []
    for name, sr in (("silero_vad.onnx", 16000), ("silero_vad.onnx", 8000), ("silero_vad_op18_ifless.onnx", 16000)):
        samples = {16000: 576, 8000: 288}[sr]
        x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, samples)).astype(np.float32)
        constants = {"sr": np.array(sr, np.int64)}
        state = np.zeros((2, 1, 128), np.float32)
        model = npinfer.load(data / name)
        stream = model.stream(carry={"state": "stateN"}, initial={"state": state}, constants=constants)
        calls = {"npinfer": lambda: stream.predict(x)}
        feeds = {"input": x, "state": state, **constants}
        sessions = ort_sessions(data / name)
        for label, session in sessions.items():
            calls[label] = lambda s=session: s.run(None, feeds)
        expected = next(iter(sessions.values())).run(None, feeds)[0]
        got = model.predict({"input": x, "state": state, **constants})[0]
        diff = float(np.max(np.abs(got - expected)))
        assert diff <= 1e-5, f"{name} {sr}: npinfer differs from ONNX Runtime by {diff}"
        rows.append({"model": f"silero-vad {name} {sr // 1000} kHz, one chunk", "batch": 1, "max_diff": diff,
                     "us": {k: v * 1e6 for k, v in interleaved_per_call_seconds(calls, budget=budget * len(calls)).items()}})
    return rows


def forest_rows(budget: float) -> list[dict]:
    """RandomForestRegressor(100 trees, depth 10) on 20 features (npinfer does not run
    TreeEnsembleClassifier yet: the classifier's row waits for it)."""
    from skl2onnx import to_onnx
    from sklearn.datasets import make_regression
    from sklearn.ensemble import RandomForestRegressor

    import npinfer

    x, y = make_regression(n_samples=2000, n_features=20, n_informative=10, random_state=0)
    x = x.astype(np.float32)
    forest = RandomForestRegressor(n_estimators=100, max_depth=10, random_state=0).fit(x, y)
    onnx_model = to_onnx(forest, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forest.onnx"
        path.write_bytes(onnx_model.SerializeToString())
        model = npinfer.load(path)
        sessions = ort_sessions(path)
        name = model.input_names[0]
        for batch in (1, 10_000):
            rows_x = np.random.default_rng(1).normal(size=(batch, 20)).astype(np.float32)
            expected = next(iter(sessions.values())).run(None, {name: rows_x})[0]
            got = model.predict(rows_x)
            diff = float(np.max(np.abs(got - expected)))  # ORT sums trees across threads in float32
            assert diff <= 1e-5 * max(1.0, float(np.max(np.abs(expected)))), f"differs from ONNX Runtime by {diff}"
            calls = {"npinfer": lambda: model.predict(rows_x)}
            for label, session in sessions.items():
                calls[label] = lambda s=session: s.run(None, {name: rows_x})
            rows.append({"model": "RandomForestRegressor (100 trees, depth 10, 20 features)", "batch": batch,
                         "max_diff": diff,
                         "us": {k: v * 1e6 for k, v in interleaved_per_call_seconds(calls, budget=budget * len(calls)).items()}})
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = ["| model | batch | npinfer µs | ORT 1 thread µs | ORT 2 threads µs | npinfer / best ORT | max diff |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        us = row["us"]
        best = min(us["ort_1_thread"], us["ort_2_threads"])
        lines.append(f"| {row['model']} | {row['batch']:,} | {us['npinfer']:,.0f} | {us['ort_1_thread']:,.0f} | "
                     f"{us['ort_2_threads']:,.0f} | {us['npinfer'] / best:.2f}x | {row['max_diff']:.1e} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per runtime and row")
    parser.add_argument("--out", default=str(HERE / "results" / "published_onnx.md"))
    parser.add_argument("--only", choices=["silero", "forest"], help="one part only")
    args = parser.parse_args()
    rows = []
    if args.only in (None, "silero"):
        rows += silero_rows(args.budget)
    if args.only in (None, "forest"):
        rows += forest_rows(args.budget)
    import onnxruntime

    lines = [f"# Published ONNX models: npinfer vs ONNX Runtime ({time.strftime('%Y-%m-%d')})", "",
             f"Median µs per call, interleaved rounds, same process; {platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, NumPy {np.__version__}, ONNX Runtime {onnxruntime.__version__}. "
             "Ratios below 1 mean npinfer is faster. Generated by `python benchmarks/published_onnx.py`.", ""]
    lines += table(rows)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
