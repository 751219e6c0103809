"""Loading and predicting never imports TensorFlow, Keras, torch or h5py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

SCRIPT = r"""
import json, sys
import numpy as np
import npinfer
paths = json.loads(sys.argv[1])
for path in paths:
    model = npinfer.load(path)
    if path.endswith(".keras"):
        model.save(path + ".npz")
        npinfer.load(path + ".npz").predict(np.zeros((2, 4, 3), np.float32))
    model.predict(np.zeros((2, 4, 3), np.float32))
forbidden = [m for m in ("tensorflow", "keras", "tf_keras", "torch", "h5py", "jax") if m in sys.modules]
print(json.dumps({"forbidden": forbidden, "loaded": len(paths)}))
"""


def test_load_and_predict_import_only_numpy_and_pyfive(tmp_path):
    paths = []
    for flavor in ("keras3", "tf_keras"):
        for ext in ("keras", "h5"):
            source = FIXTURES / flavor / "article_simple_rnn" / f"model.{ext}"
            target = tmp_path / f"{flavor}.{ext}"
            target.write_bytes(source.read_bytes())
            paths.append(str(target))
    paths.append(_torch_converted(tmp_path))
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(paths)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"forbidden": [], "loaded": 5}


def _torch_converted(tmp_path) -> str:
    """A PyTorch LSTM converted here (torch imported in this process) and saved as .npz."""
    import torch

    import npinfer

    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh())
    lstm = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True)
    model = npinfer.from_torch(torch.nn.Sequential(module, lstm), torch.zeros(2, 4, 3))
    path = tmp_path / "torch.npz"
    model.save(path)
    return str(path)


def test_loading_a_small_model_skips_file_prediction_and_thread_machinery(tmp_path):
    """Cold start (issue 5): load (.npz: no pyfive, whose importlib.metadata pulls csv and
    tempfile in) + predict at a small batch leave csv, tempfile, concurrent.futures and
    npinfer.batch unimported (each is imported where first needed)."""
    import npinfer

    path = tmp_path / "article.npz"
    npinfer.load(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras").save(path)
    script = (
        "import sys, json, numpy as np, npinfer\n"
        f"model = npinfer.load({str(path)!r})\n"
        "model.predict(np.zeros((2, 4, 3), np.float32))\n"
        "lazy = ('csv', 'tempfile', 'concurrent.futures', 'npinfer.batch', 'npinfer.datafiles')\n"
        "print(json.dumps([m for m in lazy if m in sys.modules]))\n"
        "npinfer.predict_chunks\n"
        "print(json.dumps('npinfer.batch' in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-2]) == []
    assert json.loads(lines[-1]) is True  # and the lazy attribute still works


def test_the_tensor_tier_imports_only_numpy(tmp_path):
    """An ONNX graph on the tensor tier (integer arithmetic) loads and
    predicts without onnx, onnxruntime or any framework."""
    import numpy as np
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Add", ["sq", "x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["n"])])
    path = tmp_path / "typed.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString())
    script = (
        "import sys, json, numpy as np, npinfer\n"
        f"model = npinfer.load({str(path)!r})\n"
        "y = model.predict(np.arange(4, dtype=np.int64))\n"
        "forbidden = [m for m in ('tensorflow', 'keras', 'torch', 'h5py', 'onnx', 'onnxruntime') if m in sys.modules]\n"
        "print(json.dumps({'tier': type(model).__name__, 'y': y.tolist(), 'forbidden': forbidden}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"tier": "TypedModel", "y": (np.arange(4) ** 2 + np.arange(4)).tolist(), "forbidden": []}
