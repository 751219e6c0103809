"""npinfer against Keras and ONNX Runtime, side by side in one run.

    pip install -e ".[bench]"
    python benchmarks/run.py            # everything (~10 minutes)
    python benchmarks/run.py --quick    # fewer repeats, no 65536 batch, no reference evaluator

For every model and batch size: builds the Keras model, saves it as .keras, converts it to
ONNX with tf2onnx, checks every runtime's outputs against Keras, then times npinfer,
Keras (predict, predict_on_batch, direct call), ONNX Runtime (1 and 2 intra-op threads) and
the ONNX reference evaluator (pure NumPy). Also cold start (fresh process: import, load,
predict once; wall time and peak RSS) and installed sizes. Writes results/latest.md,
results/latest.json and results/latest.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import models  # noqa: E402
from onnx_nodes import write_node_model  # noqa: E402
from timing import per_call_seconds  # noqa: E402

WORK = HERE / "work"
RESULTS = HERE / "results"


def convert_to_onnx(keras_model, name: str, input_shape):
    import tensorflow as tf
    import tf2onnx

    keras_model.output_names = ["output"]  # tf2onnx needs this on Keras 3
    spec = (tf.TensorSpec((None,) + tuple(input_shape), tf.float32, name="x"),)
    proto, _ = tf2onnx.convert.from_keras(keras_model, input_signature=spec, opset=17)
    path = WORK / f"{name}.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def keras_runtimes(keras_model):
    return {
        "keras_predict": lambda x: keras_model.predict(x, verbose=0, batch_size=len(x)),
        "keras_predict_on_batch": lambda x: keras_model.predict_on_batch(x),
        "keras_call": lambda x: np.asarray(keras_model(x, training=False)),
    }


def bench_model(keras, name: str, quick: bool, budget: float) -> list[dict]:
    """Build and save the model, convert it to ONNX, time Keras here; time npinfer and ONNX
    Runtime in a fresh process without TensorFlow (its idle thread pools would slow them)."""
    import subprocess

    _, shape, batches = models.SPECS[name]
    keras_model = models.build(keras, name)
    keras_model.save(WORK / f"{name}.keras")
    convert_to_onnx(keras_model, name, shape)
    node_file = WORK / f"{name}_node.onnx"
    node_file.unlink(missing_ok=True)
    write_node_model(keras_model, node_file)  # LSTM / GRU as one ONNX node (tf2onnx writes a GRU as a Loop)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        if quick and batch > 1024:
            continue
        x = rng.normal(size=(batch,) + shape).astype(np.float32)
        reference = np.asarray(keras_model(x, training=False))
        np.save(WORK / "x.npy", x)
        np.save(WORK / "reference.npy", reference)
        row = {"model": name, "batch": batch, "us": {}, "max_diff": {}}
        for runtime, run in keras_runtimes(keras_model).items():
            row["max_diff"][runtime] = float(np.max(np.abs(np.asarray(run(x)) - reference)))
            row["us"][runtime] = per_call_seconds(lambda: run(x), budget=budget / 2) * 1e6
        done = subprocess.run([sys.executable, str(HERE / "time_runtimes.py"), name, str(budget), "quick" if quick else "full"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        row["us"].update(measured["us"])
        row["max_diff"].update(measured["max_diff"])
        row["memory"] = measured["memory"]
        for runtime, diff in row["max_diff"].items():
            if diff > 1e-4 and not runtime.startswith("onnx_reference"):
                raise SystemExit(f"{runtime} disagrees with Keras on {name} batch {batch}: {diff}")
            if diff > 1e-4:  # e.g. the ONNX reference evaluator on tf2onnx's Loop graphs: reported, not timed
                print(f"  note: {runtime} disagrees with Keras by {diff:.3g}; its time is not reported", flush=True)
                row["us"].pop(runtime, None)
        best_ort = min(us for runtime, us in row["us"].items() if runtime.startswith("ort_"))
        row["ratio_vs_ort"] = row["us"]["npinfer"] / best_ort
        row["ratio_vs_keras_predict"] = row["us"]["npinfer"] / row["us"]["keras_predict"]
        row["samples_per_s"] = batch / row["us"]["npinfer"] * 1e6
        if "npinfer_onnx" in row["us"]:
            row["onnx_vs_keras_file"] = row["us"]["npinfer_onnx"] / row["us"]["npinfer"]
        print(f"{name:>18} b={batch:<6} npinfer {row['us']['npinfer']:>11.1f} us  ORT {best_ort:>11.1f} us  "
              f"ratio {row['ratio_vs_ort']:.2f}  keras.predict {row['us']['keras_predict']:>11.1f} us", flush=True)
        rows.append(row)
    keras.backend.clear_session()
    return rows


COLD_START = {
    "npinfer": "import numpy as np, npinfer; m = npinfer.load(PATH); m.predict(np.zeros((1, 50, 16), np.float32))",
    # the native format (npinfer convert model.keras model.npz): no HDF5 reader to import
    "npinfer (.npz)": "import numpy as np, npinfer; m = npinfer.load(PATH.replace('.keras', '.npz')); "
                      "m.predict(np.zeros((1, 50, 16), np.float32))",
    "keras": "import numpy as np, keras; m = keras.saving.load_model(PATH); m.predict(np.zeros((1, 50, 16), np.float32), verbose=0)",
    "onnxruntime": "import numpy as np, onnxruntime as ort; s = ort.InferenceSession(PATH.replace('.keras', '.onnx'), "
                   "providers=['CPUExecutionProvider']); s.run(None, {'x': np.zeros((1, 50, 16), np.float32)})",
}


def cold_start(repeats: int = 3) -> dict:
    """Fresh process: import, load the LSTM(64) model, predict once. Median wall time, peak RSS."""
    import subprocess

    path = str(WORK / "lstm64.keras")
    import npinfer

    npinfer.load(path).save(path.replace(".keras", ".npz"))
    # VmHWM (peak RSS of this process image): ru_maxrss would include the parent's, inherited across exec
    probe = ("import time; t = time.perf_counter(); PATH = {path!r}; {code}; "
             "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
             "print(time.perf_counter() - t, hwm)")
    # As after a normal install: bytecode is cached (one uncounted run writes it first).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    results = {}
    for name, code in COLD_START.items():
        runs = []
        for attempt in range(repeats + 1):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", probe.format(path=path, code=code)], capture_output=True, text=True,
                                  env=env)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"cold start of {name} failed:\n{done.stderr[-2000:]}")
            inner, rss_kb = done.stdout.strip().splitlines()[-1].split()
            if attempt:  # the first run only warms the bytecode cache
                runs.append({"wall_s": wall, "in_process_s": float(inner), "peak_rss_mb": int(rss_kb) / 1024})
        runs.sort(key=lambda r: r["wall_s"])
        results[name] = runs[len(runs) // 2]
    return results


def installed_size(distributions: list[str]) -> float:
    """Megabytes on disk of these distributions and everything they require."""
    from importlib import metadata

    seen, todo, total = set(), list(distributions), 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            try:
                total += Path(dist.locate_file(file)).stat().st_size
            except OSError:
                pass
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            todo.append(requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0].split("~")[0].strip())
    return total / 1e6


def write_results(rows, cold, sizes, quick: bool) -> None:
    RESULTS.mkdir(exist_ok=True)
    import numpy
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"NumPy {numpy.__version__}")
    import keras
    import onnxruntime

    versions = f"Keras {keras.__version__}, ONNX Runtime {onnxruntime.__version__}"
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine}; {versions}{' (quick run)' if quick else ''}.",
             "Times are the median µs per call (npinfer, ONNX Runtime and the reference evaluator timed in 5 alternating rounds, "
             "a fresh TensorFlow-free process); ratio = npinfer / best ONNX Runtime (below 1: npinfer is faster). ONNX Runtime "
             "runs tf2onnx's file and, for LSTM(64) and GRU(64), the model written as one ONNX LSTM / GRU node too; the best "
             "of those counts.", "",
             "| model | batch | npinfer µs | ORT 1 thr µs | ORT 2 thr µs | Keras predict µs | Keras call µs | ONNX ref µs | ratio vs ORT | npinfer / Keras predict | samples/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        us = r["us"]
        lines.append(
            f"| {r['model']} | {r['batch']} | {us['npinfer']:.1f} | {us['ort_1_thread']:.1f} | {us['ort_2_threads']:.1f} | "
            f"{us['keras_predict']:.0f} | {us['keras_call']:.0f} | {_reference(r)} | "
            f"**{r['ratio_vs_ort']:.2f}** | {r['ratio_vs_keras_predict']:.5f} | {r['samples_per_s']:,.0f} |")
    onnx_rows = [r for r in rows if "npinfer_onnx" in r["us"]]
    lines += ["", "The same models loaded from ONNX files (one LSTM / GRU node, benchmarks/onnx_nodes.py) into npinfer, "
              "against npinfer on the .keras file, and ONNX Runtime on the node file:", "",
              "| model | batch | npinfer .onnx µs | npinfer .keras µs | .onnx / .keras | ORT node 1 thr µs | ORT node 2 thr µs |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['us']['npinfer_onnx']:.1f} | {r['us']['npinfer']:.1f} | "
              f"**{r['onnx_vs_keras_file']:.2f}** | {r['us']['ort_node_1_thread']:.1f} | {r['us']['ort_node_2_threads']:.1f} |"
              for r in onnx_rows]
    lines += ["", "npinfer memory during one predict (tracemalloc peak of NumPy allocations, steady state) against the "
              "largest activation of that batch:", "", "| model | batch | peak MB | largest activation MB | ratio |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['memory']['peak_mb']:.2f} | {r['memory']['largest_activation_mb']:.2f} | "
              f"{r['memory']['ratio']:.2f} |" for r in rows if r["batch"] >= min(1024, max(models.SPECS[r["model"]][2]))]
    lines += ["", "Cold start (fresh process: import, load the LSTM(64) model, predict once; median of 3):", "",
              "| runtime | wall s | peak RSS MB |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['wall_s']:.2f} | {v['peak_rss_mb']:.0f} |" for k, v in cold.items()]
    lines += ["", "Installed size with dependencies:", "", "| stack | MB |", "|---|---:|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in sizes.items()]
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "latest.json").write_text(json.dumps({"machine": machine, "versions": versions, "rows": rows,
                                                     "cold_start": cold, "installed_mb": sizes}, indent=1))
    plot(rows)
    print("\n".join(lines))


def _reference(row) -> str:
    if "onnx_reference" in row["us"]:
        return f"{row['us']['onnx_reference']:.0f}"
    if "onnx_reference" in row["max_diff"]:
        return f"wrong ({row['max_diff']['onnx_reference']:.2g})"
    return "-"


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model']}\nb={r['batch']}" for r in rows]
    ratios = [r["ratio_vs_ort"] for r in rows]
    figure, axes = plt.subplots(figsize=(max(8, len(rows) * 0.6), 4))
    axes.bar(range(len(rows)), ratios, color=["tab:green" if v <= 1 else "tab:orange" for v in ratios])
    axes.axhline(1.0, color="0.3", linewidth=1)
    axes.set_yscale("log")
    axes.set_xticks(range(len(rows)), labels, rotation=70, fontsize=7)
    axes.set_ylabel("npinfer time / best ONNX Runtime time")
    figure.tight_layout()
    figure.savefig(RESULTS / "latest.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(models.SPECS))
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    import keras

    names = args.models.split(",") if args.models else list(models.SPECS)
    budget = 0.5 if args.quick else 1.5
    rows = [row for name in names for row in bench_model(keras, name, args.quick, budget)]
    if "lstm64" not in names:
        models.build(keras, "lstm64").save(WORK / "lstm64.keras")
        convert_to_onnx(models.build(keras, "lstm64"), "lstm64", (50, 16))
    cold = cold_start()
    sizes = {
        "npinfer + numpy + pyfive": installed_size(["npinfer"]),
        "tensorflow (with keras)": installed_size(["tensorflow"]),
        "onnxruntime": installed_size(["onnxruntime"]),
    }
    write_results(rows, cold, sizes, args.quick)


if __name__ == "__main__":
    main()
