"""npinfer export of models converted from PyTorch: the standalone NumPy script matches torch
itself (within 1e-5, float32 throughout) on an input of another batch size and length than the
example the model was converted on, passes ruff, and refuses what it cannot write by layer name.

Covers the tensor.* operations, LSTM projections (proj_size) and time-major inputs (batch on axis 1)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import npinfer
from npinfer.export import export_script, script_text
from npinfer.spec import Call, LayerSpec, ModelSpec
from parity import as_list, assert_close
from test_torch_parity import (
    _BN,
    FUNCTIONAL,
    Composed,
    FixedLength,
    Functional,
    LSTMAutoencoder,
    MnistNet,
    Tagger,
    TimeMajorRegressor,
    _functional_inputs,
    _outputs,
    _seq,
    _train_briefly,
)

torch.set_num_threads(1)
TOLERANCE = 1e-5


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_torch_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ruff(*paths: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", *map(str, paths)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def _numpy(value) -> list[np.ndarray]:
    return [t.numpy() for t in _outputs(value)]


def export_and_compare(module, example, other, path: Path):
    """Train briefly, convert on `example`, export, and compare the script's predict on `other`
    with torch and with npinfer (both within the parity tolerance: the script computes with the
    readable layer functions, npinfer with their fast paths, which sum in another order, so
    float32 results differ by a few ulps, more where terms cancel); the script passes ruff."""
    torch.manual_seed(0)
    _train_briefly(module, example)
    model = npinfer.from_torch(module, example)
    export_script(model, str(path), source_name=type(module).__name__)
    script = _load_script(path)
    inputs = _numpy(other if isinstance(other, tuple) else (other,))
    with torch.no_grad():
        expected = _numpy(module(*(other if isinstance(other, tuple) else (other,))))
    got = as_list(script.predict(*inputs))
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == np.float32, f"output {i}: {a.dtype}"
        assert_close(a, b, tolerance=TOLERANCE, what=f"exported output {i}")
    ours = as_list(model.predict(inputs if len(inputs) > 1 else inputs[0]))
    for i, (a, b) in enumerate(zip(got, ours)):
        assert_close(a, b, tolerance=TOLERANCE, what=f"exported output {i} against npinfer")
    _ruff(path)
    return model, script


# -- recurrent modules: every kind x direction x layout, proj_size, no bias, relu, 2 layers -------

RECURRENT = [
    (kind, layers, bidirectional, batch_first, bias, extra)
    for kind in ("RNN", "LSTM", "GRU") for bidirectional in (False, True) for batch_first in (False, True)
    for layers, bias, extra in [(1, True, {})] + ([(2, False, {})] if bidirectional != batch_first else [])
] + [
    ("RNN", 2, True, False, True, {"nonlinearity": "relu"}),
    ("LSTM", 1, False, True, True, {"proj_size": 3}),
    ("LSTM", 1, True, False, True, {"proj_size": 3}),
    ("LSTM", 2, True, True, False, {"proj_size": 2}),
    ("LSTM", 2, False, False, True, {"proj_size": 4}),
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,bias,extra", RECURRENT,
                         ids=[f"{k}-{n}l-{'bi' if b else 'uni'}-{'bf' if f else 'tm'}-{'bias' if c else 'nobias'}"
                              f"{''.join('-' + str(v) for v in e.values())}" for k, n, b, f, c, e in RECURRENT])
def test_exported_recurrent_modules_match_torch(tmp_path, kind, layers, bidirectional, batch_first, bias, extra):
    torch.manual_seed(1)
    module = getattr(nn, kind)(4, 6, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias, **extra)
    model, script = export_and_compare(module, _seq(3, 7, 4, batch_first), _seq(5, 11, 4, batch_first), tmp_path / "m.py")
    assert script.BATCH_AXES == [0 if batch_first else 1] == model.batch_axes


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_exported_recurrent_modules_with_initial_states(tmp_path, kind, batch_first):
    torch.manual_seed(2)
    module = getattr(nn, kind)(4, 5, num_layers=2, bidirectional=True, batch_first=batch_first,
                               **({"proj_size": 3} if kind == "LSTM" else {}))
    hidden = 3 if kind == "LSTM" else 5

    def example(batch, steps):
        h = torch.randn(4, batch, hidden)
        return (_seq(batch, steps, 4, batch_first), (h, torch.randn(4, batch, 5)) if kind == "LSTM" else h)

    export_and_compare(module, example(3, 6), example(4, 9), tmp_path / "m.py")


# -- modules whose forward composes tensor functions -------------------------------------------

class Arithmetic(nn.Module):
    """Two inputs (floats, token ids) through a GRU and an Embedding: integers through a transpose then .float(), every binary
    op with tensors, scalars (either side) and parameters, abs/log/exp/sqrt/neg,
    max/min(dim)/sum, log_softmax over time, indexing with None / ... / steps, flatten, bmm, split."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 4, batch_first=True)  # reads x first: its length may change
        self.emb = nn.Embedding(10, 4)
        self.c = nn.Parameter(torch.rand(4) + 0.5)
        self.m = nn.Parameter(torch.randn(4, 3) * 0.5)

    def forward(self, x, ids):
        x, _ = self.rnn(x)
        e = self.emb(ids)  # (batch, time, 4)
        f = ids.transpose(0, 1).float().transpose(0, 1).unsqueeze(-1) / 10.0  # integers made floats
        y = torch.maximum(x, e) - torch.minimum(x, 0.5 * e) + f
        z = (y.abs() + 1.0).log() / self.c + (2.0 - y) ** 2 + 2.0 ** (-y.abs()) - torch.exp(-y).sqrt().neg()
        s = torch.log_softmax(z, dim=1)
        picked = s[..., None, 1::2].flatten(2)  # (batch, time, 2)
        a, b = z.split([1, 3], dim=-1)
        scores = torch.bmm(z, z.transpose(1, 2)) / 4.0  # (batch, time, time)
        pooled = torch.max(scores, dim=-1)[0] + scores.min(dim=1)[0] - scores.sum(dim=(1, 2), keepdim=True)[:, 0]
        return picked, a * b.mean(-1, keepdim=True), pooled, (z @ self.m).softmax(-1)


CUSTOM = [
    (Tagger, lambda: torch.randint(0, 20, (4, 9)), lambda: torch.randint(0, 20, (2, 13))),
    (TimeMajorRegressor, lambda: torch.randn(6, 5, 3), lambda: torch.randn(11, 8, 3)),
    (Composed, lambda: torch.randn(3, 7, 4), lambda: torch.randn(5, 10, 4)),
    (FixedLength, lambda: torch.randn(2, 5, 3), lambda: torch.randn(7, 5, 3)),
    (Arithmetic, lambda: (torch.randn(3, 6, 4), torch.randint(0, 10, (3, 6))),
     lambda: (torch.randn(4, 9, 4), torch.randint(0, 10, (4, 9)))),
    (MnistNet, lambda: torch.randn(2, 1, 28, 28), lambda: torch.randn(3, 1, 28, 28)),
    (LSTMAutoencoder, lambda: torch.randn(3, 6, 3), lambda: torch.randn(4, 10, 3)),
]


@pytest.mark.parametrize("make,example,other", CUSTOM, ids=[c[0].__name__ for c in CUSTOM])
def test_exported_custom_modules_match_torch(tmp_path, make, example, other):
    torch.manual_seed(9)
    export_and_compare(make(), example(), other(), tmp_path / "m.py")


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_exported_functional_forms_and_tensor_methods_match_torch(tmp_path, name):
    """Every F.* form and tensor method of the parity tests, written as a script."""
    fn, parameters, shapes = FUNCTIONAL[name]
    torch.manual_seed(13)
    buffers = {k: v.clone() for k, v in _BN.items()} if name.startswith("batch_norm") else None
    example, other = _functional_inputs(shapes)
    export_and_compare(Functional(fn, {k: v.clone() for k, v in parameters.items()}, buffers), example, other, tmp_path / "m.py")


def test_exported_max_indices_are_int64(tmp_path):
    class ValuesAndIndices(nn.Module):
        def forward(self, x):
            values, indices = x.max(dim=2)
            return values, indices

    model = npinfer.from_torch(ValuesAndIndices(), torch.randn(3, 5, 4))
    export_script(model, str(tmp_path / "m.py"))
    other = torch.randn(6, 5, 4)
    got, expected = _load_script(tmp_path / "m.py").predict(other.numpy()), ValuesAndIndices()(other)
    assert got[1].dtype == np.int64 and np.array_equal(got[1], expected[1].numpy())
    assert_close(got[0], expected[0].numpy(), tolerance=1e-6)


def test_time_major_scripts_take_the_layout_npinfer_takes(tmp_path):
    torch.manual_seed(3)
    model, script = export_and_compare(TimeMajorRegressor(), torch.randn(6, 5, 3), torch.randn(4, 2, 3), tmp_path / "tm.py")
    assert model.input_shape == script.INPUT_SHAPES[0] == (None, None, 3)
    assert "time-major" in script.predict.__doc__ and "time-major" in script.__doc__
    with pytest.raises(ValueError, match="expects shape"):
        script.predict(np.zeros((6, 5, 4), np.float32))  # features on the last axis, as npinfer checks
    with pytest.raises(npinfer.InputShapeError):
        model.predict(np.zeros((6, 5, 4), np.float32))
    done = subprocess.run([sys.executable, str(tmp_path / "tm.py"), "x.csv", "--look-back", "3"], capture_output=True, text=True)
    assert done.returncode != 0 and "time-major" in done.stderr
    np.save(tmp_path / "x.npy", np.ones((7, 2, 3), np.float32))  # (time, batch, features)
    done = subprocess.run([sys.executable, str(tmp_path / "tm.py"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), script.predict(np.ones((7, 2, 3), np.float32)))


def test_sizes_the_module_fixes_stay_fixed_in_the_script(tmp_path):
    """forward fixes the sequence length: the script refuses another one, as npinfer does."""
    torch.manual_seed(10)
    _, script = export_and_compare(FixedLength(), torch.randn(2, 5, 3), torch.randn(7, 5, 3), tmp_path / "f.py")
    assert script.INPUT_SHAPES == [(None, 5, 3)]
    with pytest.raises(ValueError, match=r"expects shape \(None, 5, 3\)"):
        script.predict(np.zeros((2, 6, 3), np.float32))


# -- the operations only ONNX graphs make: against npinfer's own layers ---------------------------

def _spec_model(inputs: dict, layers: list[tuple], outputs: list[str]) -> npinfer.Model:
    """inputs {name: (shape, dtype)}; layers (name, class_name, config, input names, weights)."""
    specs = [LayerSpec(name, "InputLayer", {"shape": list(shape), "dtype": dtype}) for name, (shape, dtype) in inputs.items()]
    for name, kind, config, reads, weights in layers:
        specs.append(LayerSpec(name, kind, config, weights, [Call([(r, 0, 0) for r in reads])]))
    return npinfer.Model(ModelSpec("ops", specs, [(n, 0, 0) for n in inputs], [(n, 0, 0) for n in outputs]))


def test_exported_onnx_style_operations_match_npinfer(tmp_path):
    rng = np.random.default_rng(0)
    operand = rng.uniform(0.5, 2.0, size=(5,)).astype(np.float32)
    unary = [(f"u_{op}", "tensor.Unary", {"op": op}, ["pos"], {})
             for op in ("reciprocal", "square", "sin", "cos", "erf", "log", "sqrt", "exp", "abs", "neg")]
    model = _spec_model(
        {"x": ((None, 4, 5), "float32"), "ids": ((None, 3), "int64")},
        [("abs", "tensor.Unary", {"op": "abs"}, ["x"], {}),
         ("pos", "tensor.Binary", {"op": "add", "scalar": 0.5}, ["abs"], {}),
         *unary,
         ("full", "tensor.Full", {"shape": [{"dim": [0, 0]}, 2, {"dim": [0, 2]}], "value": 1.5}, ["x"], {}),
         ("take", "tensor.Take", {"indices": [4, 0, -1], "axis": 2}, ["x"], {}),
         ("take_ids", "tensor.Take", {"indices": [2, 0], "axis": 1}, ["ids"], {}),
         ("cast_int", "tensor.Cast", {"to": "int64"}, ["x"], {}),
         ("cast_ids", "tensor.Cast", {"to": "float"}, ["take_ids"], {}),
         ("ids_twice", "tensor.Binary", {"op": "mul", "scalar": 2}, ["take_ids"], {}),  # integers read as floats
         ("ints_back", "tensor.Cast", {"to": "float"}, ["cast_int"], {}),
         ("pad", "tensor.Pad", {"pads": [[0, 0], [1, 0], [2, 3]], "value": -1.0}, ["x"], {}),
         ("power", "tensor.Binary", {"op": "pow", "operand": True, "swap": True}, ["pos"], {"operand": operand}),
         ("full_one", "tensor.Index", {"items": ["ellipsis", {"slice": [0, 1, None]}, {"index": 0}]}, ["x"], {}),
         ("squeeze", "tensor.Squeeze", {"axes": [1]}, ["full_one"], {}),
         ("flat", "tensor.Flatten", {"start": 0, "end": -1}, ["x"], {}),
         ("soft", "tensor.Softmax", {"axis": [1, 2], "log": False}, ["x"], {}),
         ("reshape", "tensor.Reshape", {"shape": [-1, 10]}, ["x"], {}),
         ("rows", "tensor.Reshape", {"shape": [{"dim": [1, 0]}, -1]}, ["x", "ids"], {}),  # -1 worked out: 20
         ("prod", "tensor.Reduce", {"op": "prod", "axes": [2], "keepdims": True}, ["pos"], {}),
         ("matmul", "tensor.MatMul", {"operand": True}, ["x"], {"operand": rng.normal(size=(5, 2)).astype(np.float32)})],
        [l[0] for l in unary] + ["full", "take", "cast_ids", "ids_twice", "ints_back", "pad", "power", "squeeze", "flat", "soft",
                                 "reshape", "rows", "prod", "matmul"])
    path = tmp_path / "ops.py"
    export_script(model, str(path))
    _ruff(path)
    script = _load_script(path)
    assert "checked_reshape(v_x" in path.read_text() or "checked_reshape(inputs[0]" in path.read_text()
    x = rng.normal(size=(6, 4, 5)).astype(np.float32) * 2
    ids = rng.integers(0, 9, size=(6, 3))
    got, expected = script.predict(x, ids), model.predict([x, ids])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)
    with pytest.raises(ValueError, match="same batch size"):  # npinfer: InputShapeError before the reshape's check
        script.predict(x, ids[:3])
    with pytest.raises(npinfer.InputShapeError):
        model.predict([x, ids[:3]])
    with pytest.raises(ValueError, match="built for"):
        script.checked_reshape(np.zeros((6, 40), np.float32), (3, -1), (None, 20))


# -- integers, and what stays refused -------------------------------------------------------------------------

def test_joining_integers_with_floats_casts_them_as_npinfer_does(tmp_path):
    model = _spec_model({"x": ((None, 3), "float32"), "ids": ((None, 3), "int64")},
                        [("join", "tensor.Concat", {"axis": 1}, ["x", "ids"], {})], ["join"])
    text, _ = script_text(model, "m", "embedded", "")
    assert "astype(np.float32)" in text
    x, ids = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32), np.arange(12).reshape(4, 3)
    expected = model.predict([x, ids])
    assert expected.dtype == np.float32
    (tmp_path / "joined.py").write_text(text)
    got = _load_script(tmp_path / "joined.py").predict(x, ids)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_unknown_batch_axis_is_refused_by_name():
    spec = npinfer.from_torch(nn.Linear(3, 2), torch.randn(2, 3)).spec
    spec.layers[0].config["batch_axis"] = None
    with pytest.raises(npinfer.UnsupportedLayerError, match="batch_axis None"):
        script_text(npinfer.Model(spec), "m", "embedded", "")


@pytest.mark.parametrize("kind,config,words", [
    ("tensor.Tile", {"repeats": [1, "2", 1]}, ["repeats"]),
    ("tensor.Tile", {"repeats": [2]}, ["repeats", "at least 3"]),
    ("tensor.Tile", {"repeats": [1, -1, 1]}, ["repeats", ">= 0"]),
    ("tensor.Expand", {"sizes": [-1, 4, 7, 5]}, ["sizes", "-1 only on the input's own axes"]),
    ("tensor.Expand", {"sizes": [-1, 3, 5]}, ["sizes", "matching"]),
    ("tensor.Expand", {"sizes": [-1, {"dim": [3, 0]}, 5]}, ["sizes", "dim"]),
    ("tensor.ArgReduce", {"op": "mean", "axis": 1}, ["op", "max, min"]),
    ("tensor.ArgReduce", {"op": "max", "axis": 3}, ["out of range"]),
], ids=["tile-not-int", "tile-short", "tile-negative", "expand-new-axis-keep", "expand-mismatch", "expand-bad-dim",
        "argreduce-op", "argreduce-axis"])
def test_tile_expand_argreduce_configs_are_checked(kind, config, words):
    """These ops' configs come from .npz files too: each option is checked when the model is built."""
    with pytest.raises(npinfer.NpinferError) as raised:
        _spec_model({"x": ((None, 4, 5), "float32")}, [("op", kind, config, ["x"], {})], ["op"])
    assert all(w in str(raised.value) for w in words), str(raised.value)
