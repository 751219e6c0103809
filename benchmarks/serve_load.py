"""Load test of `npinfer serve` (issue 23) against ONNX Runtime behind the same HTTP stack.

    python benchmarks/serve_load.py                       # 64 and 16 connections x 2000 requests each
    python benchmarks/serve_load.py --requests 300        # a quicker look

The model: LSTM(64) on (50, 8) with random weights, built in Keras 3, saved as .keras (npinfer)
and written as one ONNX LSTM node (ONNX Runtime, benchmarks/onnx_nodes.py); their outputs are
checked against each other first. Each server runs in its own process, pinned to CPU 0 where
the machine allows (BLAS and ORT at one thread); the load client runs here, pinned to CPU 1:

- npinfer serve with dynamic batching (--max-batch-size 32 --max-delay-ms 2);
- npinfer serve without batching (--max-batch-size 1);
- ONNX Runtime in the very same starlette/uvicorn app (npinfer.serve.create_app: the same
  parsing, logging and metrics) with batching off: what a hand-written server around ORT does.

Every request is a batch-1 KServe v2 JSON infer over a kept-alive connection; each connection
sends its requests one after another. Reports requests/s, p50 and p99 latency and the ratios
to ORT in results/serve.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"
WORK = HERE / "work"
RESULTS = HERE / "results"
SHAPE = (50, 8)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- the model files -----------------------------------------------------------------------------

def build_models() -> tuple[Path, Path]:
    """lstm.keras and lstm.onnx (one LSTM node) with the same random weights, checked equal."""
    WORK.mkdir(exist_ok=True)
    keras_path, onnx_path = WORK / "serve_lstm.keras", WORK / "serve_lstm.onnx"
    if not (keras_path.exists() and onnx_path.exists()):
        import keras

        sys.path.insert(0, str(HERE))
        from onnx_nodes import write_node_model

        model = keras.Sequential([keras.Input(SHAPE), keras.layers.LSTM(64)])
        rng = np.random.default_rng(0)
        model.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()])
        model.save(keras_path)
        assert write_node_model(model, onnx_path)
    import onnxruntime

    sys.path.insert(0, str(SOURCE))
    import npinfer

    x = np.random.default_rng(1).normal(size=(4, *SHAPE)).astype(np.float32)
    ours = npinfer.load(keras_path).predict(x)
    theirs = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.max(np.abs(ours - theirs)) < 1e-5, np.max(np.abs(ours - theirs))
    return keras_path, onnx_path


# -- ONNX Runtime behind npinfer.serve's app -------------------------------------------------------

class OrtModel:
    """An ONNX Runtime session with the few Model attributes npinfer.serve reads."""

    def __init__(self, path: str):
        import onnxruntime

        from npinfer.model import TensorInfo

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [TensorInfo("x", (None, *SHAPE), "float32")]
        self.outputs = [TensorInfo("output", (None, 64), "float32")]
        self.output_names = ["output"]
        self.batch_first, self.stateful = True, False

    def prepare_inputs(self, arrays: dict) -> list:
        x = np.ascontiguousarray(arrays["x"], dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != SHAPE:
            from npinfer.errors import InputShapeError

            raise InputShapeError(f"input 'x' expects shape (None, 50, 8), got {x.shape}")
        return [x]

    def predict(self, x):
        return self.session.run(None, {"x": x})[0]


def serve_ort(path: str, port: int) -> None:
    from npinfer.serve import run

    run({"lstm": OrtModel(path)}, port=port, max_batch_size=1, threads=1)


# -- servers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(cpu: int):
    def pin():
        try:
            os.sched_setaffinity(0, {cpu})
        except (AttributeError, OSError):
            pass
    return pin


def start(command: list[str], port: int) -> subprocess.Popen:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(SOURCE)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_pin(0))  # noqa: PLW1509 (no threads started here yet)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(1024):
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


# -- the load client -------------------------------------------------------------------------------

def request_bytes(model: str, input_name: str, count: int = 16) -> list[bytes]:
    rng = np.random.default_rng(2)
    out = []
    for _ in range(count):
        x = rng.normal(size=(1, *SHAPE)).astype(np.float32)
        body = json.dumps({"inputs": [{"name": input_name, "shape": [1, *SHAPE], "datatype": "FP32",
                                       "data": x.ravel().tolist()}]}).encode()
        head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


async def _connection(port: int, requests: list[bytes], count: int, latencies: list, failures: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(count):
        started = time.perf_counter()
        writer.write(requests[i % len(requests)])
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            failures.append(head.split(b"\r\n")[0])
    writer.close()


async def _load(port: int, requests: list[bytes], connections: int, per_connection: int) -> dict:
    latencies, failures = [], []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, requests, per_connection, latencies, failures) for _ in range(connections)))
    seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "failures": len(failures), "seconds": seconds, "rps": len(latencies) / seconds,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def load(port: int, model: str, input_name: str, connections: int, per_connection: int) -> dict:
    requests = request_bytes(model, input_name)
    asyncio.run(_load(port, requests, connections, max(per_connection // 20, 5)))  # warm up
    return asyncio.run(_load(port, requests, connections, per_connection))


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per connection (default 2000)")
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 16])
    parser.add_argument("--serve-ort", nargs=2, metavar=("ONNX", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ort:
        sys.path.insert(0, str(SOURCE))
        serve_ort(args.serve_ort[0], int(args.serve_ort[1]))
        return
    keras_path, onnx_path = build_models()
    _pin(1)()
    servers = {
        "npinfer serve, batching (32 / 2 ms)": lambda port: [sys.executable, "-m", "npinfer.cli", "serve", str(keras_path), "--name",
                                                             "lstm", "--port", str(port)],
        "npinfer serve, no batching": lambda port: [sys.executable, "-m", "npinfer.cli", "serve", str(keras_path), "--name", "lstm",
                                                    "--port", str(port), "--max-batch-size", "1"],
        "ONNX Runtime, same stack, no batching": lambda port: [sys.executable, __file__, "--serve-ort", str(onnx_path), str(port)],
    }
    inputs = {"ONNX Runtime, same stack, no batching": "x"}
    import npinfer

    npinfer_input = npinfer.load(keras_path).input_names[0]
    rows = []
    for connections in args.connections:
        for label, command in servers.items():
            port = free_port()
            process = start(command(port), port)
            try:
                result = load(port, "lstm", inputs.get(label, npinfer_input), connections, args.requests)
            finally:
                stop(process)
            rows.append({"server": label, "connections": connections, **result})
            print(f"{connections:3d} conn  {label:40s} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms  "
                  f"p99 {result['p99_ms']:6.1f} ms  failures {result['failures']}", flush=True)
    write_results(rows, args)


def write_results(rows: list[dict], args) -> None:
    import onnxruntime
    import starlette
    import uvicorn

    RESULTS.mkdir(exist_ok=True)
    lines = ["# npinfer serve under load (benchmarks/serve_load.py)", "",
             (f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores (shared with other work: noisy), "
              f"Python {platform.python_version()}, NumPy {np.__version__}, ONNX Runtime {onnxruntime.__version__}, "
              f"starlette {starlette.__version__}, uvicorn {uvicorn.__version__} (h11, asyncio loop)."), "",
             (f"LSTM(64) on (50, 8); batch-1 KServe v2 JSON requests, {args.requests} per connection, kept alive; server on CPU 0 "
              "(BLAS / ORT one thread), client on CPU 1. Ratios are to ONNX Runtime at the same connection count."), "",
             "| connections | server | requests/s | p50 ms | p99 ms | failures | req/s ÷ ORT | p99 ÷ ORT |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ort = next(r for r in rows if r["connections"] == row["connections"] and r["server"].startswith("ONNX"))
        lines.append(f"| {row['connections']} | {row['server']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                     f"{row['failures']} | **{row['rps'] / ort['rps']:.2f}** | {row['p99_ms'] / ort['p99_ms']:.2f} |")
    (RESULTS / "serve.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'serve.md'}")


if __name__ == "__main__":
    main()
