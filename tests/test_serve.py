"""npinfer serve (issue 23): real clients, unchanged, against a running server.

tritonclient[http] (binary tensors and JSON) and plain HTTP for KServe v2 and TF Serving's row
and columnar formats; answers equal Model.predict (bit-equal over binary, within 1e-6 relative
after JSON); every bad request gets its 4xx and the server stays healthy; concurrent requests
are batched (the /metrics histogram says so) and each gets its own rows; the queue limit answers
503; SIGTERM with requests in flight loses none. The models are small: the article's SimpleRNN
fixture, a hand-built two-input model (int32 tokens + float32 features, two outputs) and a
stateful SimpleRNN."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer.spec import Call, LayerSpec, ModelSpec

import starlette  # noqa: E402,F401  (the test extra installs the serve stack: a missing one fails, never skips)
import tritonclient.http as triton  # noqa: E402
import uvicorn  # noqa: E402

from npinfer.serve import create_app

FIXTURE = Path(__file__).parent / "fixtures" / "keras3" / "article_simple_rnn" / "model.keras"
SOURCE = Path(__file__).parent.parent / "src"
RNG = np.random.default_rng(23)


def _f32(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def two_input_model() -> npinfer.Model:
    """tokens (int32) -> Embedding -> mean, + tanh(Dense(features)) -> 'sum'; Dense(features) -> 'head'."""
    layers = [LayerSpec("tokens", "InputLayer", {"shape": [None, 6], "dtype": "int32"}),
              LayerSpec("features", "InputLayer", {"shape": [None, 4], "dtype": "float32"}),
              LayerSpec("embedding", "Embedding", {"input_dim": 5, "output_dim": 3}, {"embeddings": _f32(5, 3)}, [Call([("tokens", 0, 0)])]),
              LayerSpec("pool", "GlobalAveragePooling1D", {}, {}, [Call([("embedding", 0, 0)])]),
              LayerSpec("dense", "Dense", {"units": 3, "activation": "tanh"}, {"kernel": _f32(4, 3), "bias": _f32(3)},
                        [Call([("features", 0, 0)])]),
              LayerSpec("sum", "Add", {}, {}, [Call([("pool", 0, 0), ("dense", 0, 0)])]),
              LayerSpec("head", "Dense", {"units": 2}, {"kernel": _f32(4, 2), "bias": _f32(2)}, [Call([("features", 0, 0)])])]
    return npinfer.Model(ModelSpec("two", layers, [("tokens", 0, 0), ("features", 0, 0)], [("sum", 0, 0), ("head", 0, 0)]))


def stateful_model() -> npinfer.Model:
    layers = [LayerSpec("x", "InputLayer", {"shape": [2, 5, 3], "dtype": "float32"}),
              LayerSpec("rnn", "SimpleRNN", {"units": 4, "stateful": True},
                        {"kernel": _f32(3, 4), "recurrent_kernel": _f32(4, 4), "bias": _f32(4)}, [Call([("x", 0, 0)])])]
    return npinfer.Model(ModelSpec("stateful", layers, [("x", 0, 0)], [("rnn", 0, 0)]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body=None, headers=None):
    """(status, headers, body bytes) over plain http.client."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_json(port, path, value):
    status, _, body = request(port, "POST", path, value, {"Content-Type": "application/json"})
    return status, json.loads(body)


def assert_json_close(got, expected):
    got = np.asarray(got, dtype=np.float64)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-6, atol=0)


class ThreadServer:
    """uvicorn serving create_app(models) in a thread (the Python API, no process)."""

    def __init__(self, models: dict, **options):
        self.port = free_port()
        self.models = models
        config = uvicorn.Config(create_app(models, **options), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def served():
    models = {"rnn": npinfer.load(FIXTURE), "two": two_input_model(), "stateful": stateful_model()}
    with ThreadServer(models, max_delay_ms=10, max_body_mb=1) as server:
        yield server


@pytest.fixture()
def client(served):
    connection = triton.InferenceServerClient(f"127.0.0.1:{served.port}")
    yield connection
    connection.close()


# -- KServe v2 with Triton's client ------------------------------------------------------------

def test_health_and_metadata_through_tritonclient(served, client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("rnn") and client.is_model_ready("two", "1")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    meta = client.get_model_metadata("two")
    assert meta["inputs"] == [{"name": "tokens", "datatype": "INT32", "shape": [-1, 6]},
                              {"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["sum", "head"]
    status, _, body = request(served.port, "GET", "/v2/models/rnn/versions/2")
    assert status == 404 and "no version '2'" in json.loads(body)["error"]


def _two_inputs(rows):
    return RNG.integers(0, 5, (rows, 6)).astype(np.int32), _f32(rows, 4)


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False, None])  # None: the client's default (all outputs binary)
def test_tritonclient_answers_equal_predict(served, client, binary_in, binary_out):
    tokens, features = _two_inputs(3)
    inputs = [triton.InferInput("tokens", list(tokens.shape), "INT32"), triton.InferInput("features", list(features.shape), "FP32")]
    inputs[0].set_data_from_numpy(tokens, binary_data=binary_in)
    inputs[1].set_data_from_numpy(features, binary_data=binary_in)
    outputs = None if binary_out is None else [triton.InferRequestedOutput(n, binary_data=binary_out) for n in ("head", "sum")]
    result = client.infer("two", inputs, outputs=outputs, request_id="r7")
    expected = dict(zip(["sum", "head"], served.models["two"].predict([tokens, features])))
    assert result.get_response()["id"] == "r7"
    for name in ("sum", "head"):
        got = result.as_numpy(name)
        assert got.dtype == np.float32 and got.shape == expected[name].shape
        if binary_out is not False:
            assert got.tobytes() == expected[name].tobytes()  # bit-equal over binary
        else:
            assert_json_close(got, expected[name])


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_on_the_keras_fixture(served, client, binary):
    x = _f32(5, 4, 3)
    given = triton.InferInput("input_layer", list(x.shape), "FP32")
    given.set_data_from_numpy(x, binary_data=binary)
    result = client.infer("rnn", [given], outputs=[triton.InferRequestedOutput("dense", binary_data=binary)], model_version="1")
    expected = served.models["rnn"].predict(x)
    if binary:
        assert result.as_numpy("dense").tobytes() == expected.tobytes()
    else:
        assert_json_close(result.as_numpy("dense"), expected)


# -- KServe v2 JSON by hand: datatypes, nested and flat data ----------------------------------

@pytest.mark.parametrize("datatype", ["FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"])
@pytest.mark.parametrize("nested", [True, False])
def test_kserve_json_datatypes_nested_and_flat(served, datatype, nested):
    tokens, _ = _two_inputs(2)
    features = RNG.integers(0, 4, (2, 4)) if "INT" in datatype else _f32(2, 4).astype(np.float16 if datatype == "FP16" else np.float64)
    data = features.tolist() if nested else features.ravel().tolist()
    body = {"id": "a", "inputs": [{"name": "tokens", "shape": [2, 6], "datatype": "INT64", "data": tokens.tolist()},
                                  {"name": "features", "shape": [2, 4], "datatype": datatype, "data": data}]}
    status, answer = post_json(served.port, "/v2/models/two/infer", body)
    assert status == 200, answer
    expected = served.models["two"].predict([tokens, features])
    assert answer["model_name"] == "two" and answer["model_version"] == "1" and answer["id"] == "a"
    for out, want in zip(answer["outputs"], expected):
        assert out["datatype"] == "FP32" and out["shape"] == list(want.shape)
        assert_json_close(np.reshape(out["data"], out["shape"]), want)


# -- TF Serving REST ---------------------------------------------------------------------------

def test_tf_serving_row_and_columnar_one_input(served):
    x = _f32(3, 4, 3)
    expected = served.models["rnn"].predict(x)
    status, answer = post_json(served.port, "/v1/models/rnn:predict", {"instances": x.tolist()})
    assert status == 200, answer
    assert_json_close(answer["predictions"], expected)
    status, answer = post_json(served.port, "/v1/models/rnn/versions/1:predict",
                               {"signature_name": "serving_default", "inputs": x.tolist()})
    assert status == 200, answer
    assert_json_close(answer["outputs"], expected)


def test_tf_serving_row_and_columnar_two_inputs(served):
    tokens, features = _two_inputs(3)
    summed, head = served.models["two"].predict([tokens, features])
    rows = [{"tokens": t.tolist(), "features": f.tolist()} for t, f in zip(tokens, features)]
    status, answer = post_json(served.port, "/v1/models/two:predict", {"instances": rows})
    assert status == 200, answer
    assert_json_close([p["sum"] for p in answer["predictions"]], summed)
    assert_json_close([p["head"] for p in answer["predictions"]], head)
    status, answer = post_json(served.port, "/v1/models/two:predict", {"inputs": {"features": features.tolist(), "tokens": tokens.tolist()}})
    assert status == 200, answer
    assert_json_close(answer["outputs"]["sum"], summed)
    assert_json_close(answer["outputs"]["head"], head)


def test_tf_serving_status_and_metadata(served):
    status, _, body = request(served.port, "GET", "/v1/models/two")
    assert status == 200 and json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    status, _, body = request(served.port, "GET", "/v1/models/two/versions/1/metadata")
    signature = json.loads(body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert status == 200 and signature["inputs"]["tokens"]["dtype"] == "DT_INT32"
    assert signature["inputs"]["features"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}, {"size": "4", "name": ""}]


# -- bad requests: 4xx naming the problem, and the server stays healthy -------------------------

def _infer(inputs, **extra):
    return {"inputs": inputs, **extra}


_X = {"name": "input_layer", "shape": [1, 4, 3], "datatype": "FP32", "data": list(range(12))}
_X_HEAD = {k: v for k, v in _X.items() if k != "data"}


def _binary(tensor: dict, tail: bytes):
    """(body, headers) of a binary-extension request: a JSON header of one tensor, then `tail`."""
    header = json.dumps(_infer([tensor])).encode()
    return header + tail, {"Inference-Header-Content-Length": str(len(header))}

BAD = [
    ("bad json", "POST", "/v2/models/rnn/infer", b"{not json", {}, 400, "not valid JSON"),
    ("json not an object", "POST", "/v2/models/rnn/infer", b"[1, 2]", {}, 400, "must be a JSON object"),
    ("unknown model", "POST", "/v2/models/nope/infer", _infer([_X]), {}, 404, "unknown model 'nope'"),
    ("unknown version", "POST", "/v2/models/rnn/versions/3/infer", _infer([_X]), {}, 404, "no version '3'"),
    ("unknown input", "POST", "/v2/models/rnn/infer", _infer([{**_X, "name": "x"}]), {}, 400, "unknown input 'x'"),
    ("missing input", "POST", "/v2/models/two/infer", _infer([{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                                                 "data": [1, 2, 3, 4]}]), {}, 400, "missing input(s) tokens"),
    ("no inputs", "POST", "/v2/models/rnn/infer", {"inputs": []}, {}, 400, "'inputs' must be a non-empty list"),
    ("data count", "POST", "/v2/models/rnn/infer", _infer([{**_X, "data": [1, 2, 3]}]), {}, 400, "needs 12 values"),
    ("model shape", "POST", "/v2/models/rnn/infer", _infer([{**_X, "shape": [1, 6, 2]}]), {}, 400, "expects shape"),
    ("bad shape", "POST", "/v2/models/rnn/infer", _infer([{**_X, "shape": [1, -4, 3]}]), {}, 400, "'shape' must be"),
    ("BYTES", "POST", "/v2/models/rnn/infer", _infer([{**_X, "datatype": "BYTES"}]), {}, 400, "datatype 'BYTES' is not supported"),
    ("unknown datatype", "POST", "/v2/models/rnn/infer", _infer([{**_X, "datatype": "FP8"}]), {}, 400, "datatype 'FP8'"),
    ("BOOL to a float input", "POST", "/v2/models/rnn/infer", _infer([{**_X, "datatype": "BOOL", "data": [True] * 12}]), {}, 400,
     "datatype BOOL is refused"),
    ("FP32 to an int input", "POST", "/v2/models/two/infer",
     _infer([{"name": "tokens", "shape": [1, 6], "datatype": "FP32", "data": [1] * 6},
             {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1] * 4}]), {}, 400, "input 'tokens' takes int32"),
    ("floats as INT64", "POST", "/v2/models/two/infer",
     _infer([{"name": "tokens", "shape": [1, 6], "datatype": "INT64", "data": [1.5] * 6},
             {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1] * 4}]), {}, 400, "holds non-integers"),
    ("strings", "POST", "/v2/models/rnn/infer", _infer([{**_X, "data": ["a"] * 12}]), {}, 400, "holds strings"),
    ("ragged", "POST", "/v2/models/rnn/infer", _infer([{**_X, "data": [[1, 2], [3]]}]), {}, 400, "not a rectangular"),
    ("unknown output", "POST", "/v2/models/rnn/infer", _infer([_X], outputs=[{"name": "y"}]), {}, 400, "unknown output 'y'"),
    ("class_count", "POST", "/v2/models/rnn/infer", _infer([_X], outputs=[{"name": "dense", "parameters": {"class_count": 2}}]), {},
     400, "classification"),
    ("binary size", "POST", "/v2/models/rnn/infer", *_binary({**_X_HEAD, "parameters": {"binary_data_size": 40}}, bytes(40)), 400,
     "binary_data_size says 40"),
    ("header length", "POST", "/v2/models/rnn/infer", json.dumps(_infer([_X])).encode(), {"Inference-Header-Content-Length": "99999"},
     400, "outside the body"),
    ("trailing bytes", "POST", "/v2/models/rnn/infer", *_binary(_X, b"xx"), 400, "2 bytes after"),
    ("gzip", "POST", "/v2/models/rnn/infer", b"\x1f\x8b", {"Content-Encoding": "gzip"}, 415, "Content-Encoding 'gzip'"),
    ("too large", "POST", "/v2/models/rnn/infer", b" " * (1024 * 1024 + 1), {}, 413, "over the limit"),
    ("unknown route", "GET", "/v3/things", None, {}, 404, "Not Found"),
    ("wrong method", "GET", "/v2/models/rnn/infer", None, {}, 405, "Method Not Allowed"),
    ("tf both formats", "POST", "/v1/models/rnn:predict", {"instances": [1], "inputs": [1]}, {}, 400, "exactly one of"),
    ("tf neither format", "POST", "/v1/models/rnn:predict", {"foo": 1}, {}, 400, "exactly one of"),
    ("tf signature", "POST", "/v1/models/rnn:predict", {"signature_name": "x", "instances": [1]}, {}, 400, "unknown signature_name 'x'"),
    ("tf classify", "POST", "/v1/models/rnn:classify", {"instances": [1]}, {}, 400, "':classify' is not supported"),
    ("tf strings", "POST", "/v1/models/rnn:predict", {"instances": [[["a", "b", "c"]] * 4]}, {}, 400, "must hold numbers"),
    ("tf ragged", "POST", "/v1/models/rnn:predict", {"instances": [[[1, 2, 3]] * 4, [[1, 2]]]}, {}, 400, "not a rectangular"),
    ("tf shape", "POST", "/v1/models/rnn:predict", {"instances": [[[1, 2]] * 4]}, {}, 400, "expects shape"),
    ("tf unknown input", "POST", "/v1/models/two:predict", {"inputs": {"tokens": [[1] * 6], "features": [[1] * 4], "z": 1}}, {}, 400,
     "unknown input(s) 'z'"),
    ("tf instance lacks", "POST", "/v1/models/two:predict", {"instances": [{"tokens": [1] * 6}]}, {}, 400, "lacks input 'features'"),
    ("tf rows not objects", "POST", "/v1/models/two:predict", {"instances": [[1] * 6]}, {}, 400, "by input name"),
    ("tf unknown model", "GET", "/v1/models/nope/metadata", None, {}, 404, "unknown model 'nope'"),
    ("tf bad route", "GET", "/v1/models/rnn/labels", None, {}, 404, "no route"),
    ("tf predict by GET", "GET", "/v1/models/rnn:predict", None, {}, 405, "takes POST"),
    ("tf metadata by POST", "POST", "/v1/models/rnn/metadata", b"{}", {}, 405, "use GET"),
]


@pytest.mark.parametrize("method,path,body,headers,code,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_requests_get_their_4xx_and_the_server_stays_healthy(served, method, path, body, headers, code, message):
    status, _, answer = request(served.port, method, path, body, headers)
    assert status == code, answer
    assert message in json.loads(answer)["error"]
    assert request(served.port, "GET", "/v2/health/ready")[0] == 200
    status, _, answer = request(served.port, "POST", "/v2/models/rnn/infer", _infer([_X]))
    assert status == 200, answer


# -- batching ----------------------------------------------------------------------------------

def _metric(port: int, name: str, labels: str) -> dict:
    """{le: cumulative count} of a histogram series in /metrics."""
    text = request(port, "GET", "/metrics")[2].decode()
    found = re.findall(rf'^{name}_bucket{{{labels},le="([^"]+)"}} (\d+)$', text, re.MULTILINE)
    return {le: int(count) for le, count in found}


def test_concurrent_requests_are_batched_and_each_gets_its_rows(served):
    before = _metric(served.port, "npinfer_batch_requests", 'model="rnn"')
    inputs = [_f32(1 + i % 3, 4, 3) for i in range(48)]
    barrier = threading.Barrier(len(inputs))

    def send(x):
        body = json.dumps(_infer([{"name": "input_layer", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}])).encode()
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        connection.connect()
        barrier.wait()
        connection.request("POST", "/v2/models/rnn/infer", body=body)
        answer = json.loads(connection.getresponse().read())
        connection.close()
        return answer

    with ThreadPoolExecutor(len(inputs)) as pool:
        answers = list(pool.map(send, inputs))
    for x, answer in zip(inputs, answers):
        out = answer["outputs"][0]
        assert out["shape"] == [len(x), 1]  # exactly its own rows
        np.testing.assert_allclose(np.reshape(out["data"], out["shape"]), served.models["rnn"].predict(x), rtol=1e-6, atol=1e-7)
    after = _metric(served.port, "npinfer_batch_requests", 'model="rnn"')
    runs = after["+Inf"] - before.get("+Inf", 0)
    single = after["1"] - before.get("1", 0)
    assert runs < len(inputs) and single < runs  # some runs gathered several requests


def test_stateful_model_is_served_one_request_at_a_time(served):
    model = served.models["stateful"]
    inputs = [_f32(2, 5, 3) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda x: post_json(served.port, "/v1/models/stateful:predict", {"inputs": x.tolist()}), inputs))
    assert all(status == 200 for status, _ in answers)
    counts = _metric(served.port, "npinfer_batch_requests", 'model="stateful"')
    assert counts["1"] == counts["+Inf"] >= 6  # never batched
    assert model.carried_states()  # the model carried its state from call to call


# -- the command line: queue limit, SIGTERM, the missing extra -----------------------------------

def _start_cli(tmp_path, *options) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(tmp_path / f"serve-{port}.log", "w")  # noqa: SIM115 (the server's output, for as long as it runs)
    process = subprocess.Popen([sys.executable, "-m", "npinfer.cli", "serve", str(FIXTURE), "--name", "rnn", "--port", str(port), *options],
                               stdout=log, stderr=subprocess.STDOUT, env={"PYTHONPATH": str(SOURCE), "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 30
    while True:
        try:
            if request(port, "GET", "/v2/health/ready")[0] == 200:
                return process, port
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / f"serve-{port}.log").read_text()
        time.sleep(0.1)


def _rnn_request(port, x):
    return post_json(port, "/v2/models/rnn/infer", _infer([{"name": "input_layer", "shape": list(x.shape), "datatype": "FP32",
                                                             "data": x.tolist()}]))


def _wait_pending(port: int, count: int) -> None:
    """Until /metrics says `count` requests wait in model rnn's queue."""
    deadline = time.monotonic() + 10
    while f'npinfer_pending_requests{{model="rnn"}} {count}\n' not in request(port, "GET", "/metrics")[2].decode():
        assert time.monotonic() < deadline, f"{count} requests never waited together"
        time.sleep(0.01)


def test_queue_limit_answers_503_and_sigterm_drains_in_flight_requests(tmp_path):
    process, port = _start_cli(tmp_path, "--max-queue", "8", "--max-delay-ms", "1500", "--max-batch-size", "64")
    try:
        inputs = [_f32(1, 4, 3) for _ in range(8)]
        with ThreadPoolExecutor(9) as pool:
            waiting = [pool.submit(_rnn_request, port, x) for x in inputs]  # held up to 1.5 s, gathering a batch
            _wait_pending(port, 8)
            status, answer = _rnn_request(port, inputs[0])  # a ninth: the queue is full
            assert status == 503 and "--max-queue 8" in answer["error"]
            assert [f.result()[0] for f in waiting] == [200] * 8
            waiting = [pool.submit(_rnn_request, port, x) for x in inputs]
            _wait_pending(port, 8)  # all 8 in the server, waiting for their batch
            process.send_signal(signal.SIGTERM)
            answers = [f.result() for f in waiting]
        assert [status for status, _ in answers] == [200] * 8  # none lost
        expected = npinfer.load(FIXTURE)
        for x, (_, answer) in zip(inputs, answers):
            np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (1, 1)), expected.predict(x), rtol=1e-6, atol=1e-7)
        # uvicorn shuts down gracefully, then re-raises the signal: the process ends as SIGTERM ends it
        # (systemd counts that a clean stop)
        assert process.wait(15) in (0, -signal.SIGTERM)
        log = (tmp_path / f"serve-{port}.log").read_text()
        assert "Application shutdown complete" in log
        assert log.count('"POST /v2/models/rnn/infer" 200') == 16 and " 503 " in log  # one line per request
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_without_the_extra_says_how_to_install_it():
    script = ("import sys; sys.modules['starlette'] = None\n"
              "from npinfer.cli import main\n"
              f"sys.exit(main(['serve', {str(FIXTURE)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONPATH": str(SOURCE)},
                          check=False)
    assert done.returncode == 1
    assert "pip install 'npinfer[serve]'" in done.stderr and "starlette" in done.stderr


def test_the_runtime_and_the_cli_never_import_the_server():
    script = ("import sys, json, numpy as np, npinfer, npinfer.cli\n"
              f"npinfer.load({str(FIXTURE)!r}).predict(np.zeros((2, 4, 3), np.float32))\n"
              "print(json.dumps([m for m in ('starlette', 'uvicorn', 'npinfer.serve') if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env={"PYTHONPATH": str(SOURCE)})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_metrics_are_prometheus_text(served):
    request(served.port, "GET", "/v2/health/live")
    text = request(served.port, "GET", "/metrics")[2].decode()
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r'^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$', line), line
    assert re.search(r'^npinfer_requests_total\{model="rnn",protocol="kserve",code="200"\} \d+$', text, re.MULTILINE)
    assert re.search(r'^npinfer_request_errors_total\{model="rnn",protocol="kserve",code="400"\} \d+$', text, re.MULTILINE)
    assert "npinfer_request_duration_seconds_bucket" in text and "npinfer_batch_size_bucket" in text


@pytest.mark.parametrize("argv,message", [
    (["serve", str(FIXTURE), str(FIXTURE)], "two models would be served under one name"),
    (["serve", str(FIXTURE), "--name", "a", "--name", "b"], "give --name once per MODEL"),
    (["serve", str(FIXTURE), "--max-delay-ms", "-1"], "--max-delay-ms must be 0 or more"),
])
def test_serve_usage_errors(capsys, argv, message):
    from npinfer.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err
