"""Every fast path is an optimisation of a readable function and tested equal to it: the
recurrent kernels (kernels.py, hoisted and fused input) against recurrent.rnn over the cells'
steps, the paired directions (paired.py) against two readable loops, Conv's gathered windows
against conv, BatchNormalization's folded scale and offset against batch_normalization.
(The readable functions are what the parity tests check against Keras, torch and ONNX Runtime.)
In float64 the two agree to rounding (1e-12); in float32 to the parity bound."""

from __future__ import annotations

import numpy as np
import pytest

from npinfer.layers import create_layer
from npinfer.layers.cells import CELLS
from npinfer.layers.conv import conv, conv_bounded, conv_gathered
from npinfer.layers.normalization import batch_normalization
from npinfer.layers.paired import PairedDirections
from npinfer.layers.recurrent import rnn, run_over_time

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}  # float32: the parity bound (another summation order)
CELL_OPTIONS = [("SimpleRNNCell", {}), ("SimpleRNNCell", {"use_bias": False}), ("LSTMCell", {}), ("LSTMCell", {"use_bias": False}),
                ("GRUCell", {"reset_after": True}), ("GRUCell", {"reset_after": False}), ("GRUCell", {"use_bias": False}),
                ("GRUCell", {"reset_after": False, "use_bias": False}),
                # ONNX's clip, small enough to bind (the gates' pre-activations pass it; an LSTM's c does too)
                ("SimpleRNNCell", {"clip": 0.5}), ("LSTMCell", {"clip": 0.3}), ("LSTMCell", {"clip": 2.0}),
                ("GRUCell", {"reset_after": True, "clip": 0.4}), ("GRUCell", {"reset_after": False, "clip": 0.4})]


def _cell(class_name, options, units, features, dtype, seed=0):
    rng = np.random.default_rng(seed)
    cls = CELLS[class_name]
    config = {"units": units, **options}
    gates = cls.GATES * units
    weights = {"kernel": rng.normal(0, 0.4, (features, gates)), "recurrent_kernel": rng.normal(0, 0.4, (units, gates))}
    if config.get("use_bias", True):
        shape = (2, gates) if class_name == "GRUCell" and config.get("reset_after", True) else (gates,)
        weights["bias"] = rng.normal(0, 0.4, shape)
    cell = cls("cell", config, {k: v.astype(dtype) for k, v in weights.items()}, dtype)
    cell.check(features)
    return cell


def _compare(fast, readable, dtype, what):
    assert fast.shape == readable.shape and fast.dtype == readable.dtype == dtype, what
    np.testing.assert_allclose(fast, readable, rtol=0, atol=TOLERANCE[dtype], err_msg=what)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("units", [3, 32])  # narrow and wide layers (they fuse their input at other batches)
@pytest.mark.parametrize("class_name,options", CELL_OPTIONS, ids=[f"{c}-{o}" for c, o in CELL_OPTIONS])
def test_fast_kernels_equal_the_readable_steps(class_name, options, units, dtype):
    cell = _cell(class_name, options, units, features=5, dtype=dtype)
    assert cell.fast is not None
    rng = np.random.default_rng(1)
    for batch in (1, 5, 40):
        x = rng.normal(size=(batch, 7, 5)).astype(dtype)
        states = [rng.normal(0, 0.5, (batch, size)).astype(dtype) for size in cell.state_sizes]
        for go_backwards in (False, True):
            outputs, final = rnn(x, cell.step_function(), states, go_backwards, return_sequences=True)
            for fused in (False, True) if cell.FUSES_INPUT else (False,):
                last, sequence, fast_final = cell.fast.run(x, states, cell.state_sizes, True, go_backwards, True, fused)
                what = f"batch {batch} go_backwards={go_backwards} fused={fused}"
                _compare(sequence, outputs, dtype, f"{what}: sequence")
                _compare(last, outputs[:, -1], dtype, f"{what}: last output")
                for a, b in zip(fast_final, final):
                    _compare(a, b, dtype, f"{what}: states")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("class_name,options", CELL_OPTIONS, ids=[f"{c}-{o}" for c, o in CELL_OPTIONS])
def test_paired_directions_equal_two_readable_loops(class_name, options, dtype):
    forward, backward = (_cell(class_name, options, 4, features=3, dtype=dtype, seed=s) for s in (2, 3))
    paired = PairedDirections(forward, backward)
    x = np.random.default_rng(4).normal(size=(3, 6, 3)).astype(dtype)
    last, sequence, states = run_over_time(paired, x, None, return_sequences=True)
    for cell, go_backwards, half in ((forward, False, 0), (backward, True, 1)):
        outputs, final = rnn(x, cell.step_function(), [np.zeros((3, s), dtype) for s in cell.state_sizes], go_backwards,
                             return_sequences=True)
        _compare(np.ascontiguousarray(paired.split(sequence)[half]), outputs, dtype, f"direction {half}: sequence")
        for a, b in zip(states, final):
            _compare(np.ascontiguousarray(paired.split(a)[half]), b, dtype, f"direction {half}: states")


GEOMETRIES = [((3,), "valid", (1,), (1,)), ((3,), "same", (1,), (1,)), ((4,), "same", (2,), (1,)), ((3,), "causal", (1,), (2,)),
              ((2,), "valid", (3,), (2,)), ((5,), "causal", (1,), (1,)), ((1,), "same", (1,), (1,)),
              ((3, 2), "same", (2, 1), (1, 1)), ((2, 3), "valid", (1, 2), (2, 1)), ((2, 2, 3), "same", (1, 2, 1), (1, 1, 1))]


def _conv_position_by_position(x, kernel, strides, padding, dilation):
    """An independent reference for the window geometry: padding from TensorFlow's rule, then
    each output position's window read with plain indexing."""
    pads = []
    for size, k, s, d in zip(x.shape[1:-1], kernel.shape[:-2], strides, dilation):
        span = d * (k - 1) + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((span - 1, 0))
        else:
            total = max((-(-size // s) - 1) * s + span - size, 0)
            pads.append((total // 2, total - total // 2))
    padded = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out = [(p - (d * (k - 1) + 1)) // s + 1 for p, k, s, d in zip(padded.shape[1:-1], kernel.shape[:-2], strides, dilation)]
    y = np.zeros((x.shape[0],) + tuple(max(o, 0) for o in out) + (kernel.shape[-1],))
    for position in np.ndindex(*y.shape[1:-1]):
        for tap in np.ndindex(*kernel.shape[:-2]):
            at = tuple(p * s + t * d for p, s, t, d in zip(position, strides, tap, dilation))
            y[(slice(None),) + position] += padded[(slice(None),) + at] @ kernel[tap]
    return y


@pytest.mark.parametrize("kernel,padding,strides,dilation", GEOMETRIES)
def test_window_geometry_equals_reading_each_position(kernel, padding, strides, dilation):
    """conv (per tap), conv_gathered and conv_bounded read the windows through window_view;
    an explicit loop over positions checks that view, on a reversed (negative-stride) input too."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2,) + (11, 9, 7)[: len(kernel)] + (3,))
    weights = rng.normal(size=kernel + (3, 4))
    for given in (x, x[:, ::-1]):
        expected = _conv_position_by_position(given, weights, strides, padding, dilation)
        for y in (conv(given, weights, None, strides, padding, dilation, 1, None),
                  conv_gathered(given, weights, None, strides, padding, dilation, None),
                  conv_bounded(given, weights, None, strides, padding, dilation, 1, None)):
            np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 9, 3), (3, 2, 3), (0, 2, 3)])  # no rows, no output positions (kernel 3 'valid'), both
def test_convolutions_of_nothing_are_empty(shape):
    x = np.zeros(shape, np.float32)
    weights = np.ones((3, 3, 4), np.float32)
    expected = (shape[0], max(shape[1] - 2, 0), 4)
    for y in (conv(x, weights, None, (1,), "valid", (1,), 1, None), conv_gathered(x, weights, None, (1,), "valid", (1,), None),
              conv_bounded(x, weights, None, (1,), "valid", (1,), 1, None)):
        assert y.shape == expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel,padding,strides,dilation", GEOMETRIES)
def test_conv_gathered_windows_equal_one_product_per_tap(kernel, padding, strides, dilation, dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4,) + (11, 9, 7)[: len(kernel)] + (3,)).astype(dtype)
    weights = rng.normal(size=kernel + (3, 6)).astype(dtype)
    bias = rng.normal(size=(6,)).astype(dtype)
    fast = conv_gathered(x, weights, bias, strides, padding, dilation, np.tanh)
    _compare(fast, conv(x, weights, bias, strides, padding, dilation, 1, np.tanh), dtype, "conv")


@pytest.mark.parametrize("cap,batch,filters,products", [(1, 1, 1, 0), (1, 7, 5, 7), (5000, 7, 5, 3), (1 << 20, 7, 5, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_layer_in_batch_chunks_equals_the_readable_function(cap, batch, filters, products, dtype, monkeypatch):
    """Conv.call gathers a chunk of the batch at a time (`products` gathered products: 0 is
    one product per tap); every way equals the readable conv."""
    from npinfer.layers import conv as conv_module

    monkeypatch.setattr(conv_module, "IM2COL_MAX_VALUES", cap)
    calls = []
    monkeypatch.setattr(conv_module, "conv_gathered", lambda *args, **kw: calls.append(1) or conv_gathered(*args, **kw))
    rng = np.random.default_rng(7)
    weights = {"kernel": rng.normal(size=(3, 2, 3, filters)), "bias": rng.normal(size=(filters,))}
    layer = create_layer("conv", "Conv2D", {"filters": filters, "kernel_size": [3, 2], "padding": "same", "activation": "relu"},
                         weights, dtype)
    layer.setup([(None, 10, 9, 3)])
    x = rng.normal(size=(batch, 10, 9, 3)).astype(dtype)  # 90 positions a row, 1620 gathered values a row
    readable = conv(x, layer.weights["kernel"], layer.weights["bias"], (1, 1), "same", (1, 1), 1, activations_relu)
    _compare(layer.call([x], None)[0], readable, dtype, "chunked conv")
    assert len(calls) == products


def activations_relu(y):
    return np.maximum(y, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("config", [{}, {"axis": 1}, {"center": False}, {"scale": False, "epsilon": 0.1}])
def test_batch_normalization_folded_equals_the_readable_function(config, dtype):
    rng = np.random.default_rng(6)
    axis = config.get("axis", -1)
    size = 6 if axis == 1 else 4
    names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
    weights = {name: rng.normal(size=size) for name in names}
    weights.update(moving_mean=rng.normal(size=size), moving_variance=rng.uniform(0.1, 2.0, size=size))
    layer = create_layer("bn", "BatchNormalization", config, weights, dtype)
    layer.setup([(None, 6, 4)])
    x = rng.normal(size=(5, 6, 4)).astype(dtype)
    readable = batch_normalization(x, layer.weights["moving_mean"], layer.weights["moving_variance"], layer.weights.get("gamma"),
                                   layer.weights.get("beta"), layer.config["epsilon"], layer.axes)
    _compare(layer.call([x], None)[0], readable, dtype, "batch normalization")
