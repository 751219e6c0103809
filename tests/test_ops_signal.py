"""The tensor tier's signal family (src/npinfer/ops/signal.py: DFT, STFT) against ONNX Runtime,
strictly (dtype, shape, values): every float type, real and complex layouts, forward / inverse,
full / onesided, the signal axis as opset 17's attribute and opset 20's run-time input, dft_length
padding and truncation, STFT frames, windows and steps. onnx.reference decides where ONNX Runtime
has no answer: an IRFFT whose dft_length is not the default (ONNX Runtime's results there match no
consistent rule: some lengths agree with numpy.fft.irfft, others with nothing), and an STFT with
neither window nor frame_length (ONNX Runtime fails; the spec takes the signal's length). Malformed
nodes and unsupported types give typed errors naming the node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from ops_parity import assert_same, graph_model, run_onnxruntime, run_reference

import npinfer
from npinfer.errors import ModelFormatError, ResourceLimitError

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F16, F32, F64)
# (forward or inverse, onesided, input layout): the combinations ONNX defines
MODES = {"fft": (0, 0, 1), "fft-complex": (0, 0, 2), "rfft": (0, 1, 1), "ifft": (1, 0, 2), "ifft-real": (1, 0, 1),
         "irfft": (1, 1, 2)}


def run_tensor_tier(model, feeds: dict) -> list:
    """npinfer's outputs on the tensor tier (TypedModel), in the graph's order."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


# atol in units of the largest |value|: FFTs add in different orders, float16 is rounded once from
# float32. ONNX Runtime's own float kernels lose more than that on some lengths (its float32 STFT of 7-sample
# frames is off by ~2e-6 of the largest value, 16 ulps, where npinfer is within 1 ulp of a float64 FFT) and
# its double kernels work to about float32 precision (its double inverse DFT is off by ~1e-8): float64 is
# compared with ONNX Runtime to 1e-6, with onnx.reference to 8 ulps, and with torch.fft in test_float64_precision.
ULPS = {F16: 8, F32: 64, F64: 8}
FLOAT64_VS_ONNXRUNTIME = 1e-6


def assert_transform(got, expected, judge=run_onnxruntime) -> None:
    """Same dtype and shape; values within the tolerance above of the largest value."""
    dtype = expected[0].dtype
    scale = max(float(np.abs(expected[0].astype(F64)).max()), 1.0)
    relative = FLOAT64_VS_ONNXRUNTIME if dtype == F64 and judge is run_onnxruntime else ULPS[dtype] * float(np.finfo(dtype).eps)
    assert_same(got, expected, rtol=0, atol=relative * scale)


def check(node, feeds: dict, dtype, opset: int, judge=run_onnxruntime) -> list:
    model = graph_model([node], inputs=feeds, outputs={"y": dtype}, opset=opset)
    expected = judge(model, feeds)
    got = run_tensor_tier(model, feeds)
    assert_transform(got, expected, judge)
    if np.dtype(dtype) == F64 and judge is run_onnxruntime:  # and float64 precision against ONNX's semantics
        assert_transform(got, run_reference(model, feeds), run_reference)
    return got


def signal(rng, shape, dtype) -> np.ndarray:
    return (rng.standard_normal(shape) * 2).astype(dtype)


# -- DFT -----------------------------------------------------------------------------------

def dft_node(opset: int, axis, mode: str, with_length: bool):
    inverse, onesided, _ = MODES[mode]
    inputs = ["x", "n" if with_length else ""]
    attributes = {"inverse": inverse, "onesided": onesided}
    if opset >= 20 and axis is not None:
        inputs.append("axis")  # a run-time input from opset 20
    elif axis is not None:
        attributes["axis"] = axis
    while inputs[-1] == "":
        inputs.pop()
    return helper.make_node("DFT", inputs, ["y"], **attributes)


DFT_CASES = [(opset, dtype, mode, axis, length)
             for opset in (17, 20) for dtype in FLOATS for mode in MODES for axis in (None, 0, 2, -3)
             for length in (None, "shorter", "longer")]


@pytest.mark.parametrize("opset,dtype,mode,axis,length", DFT_CASES,
                         ids=[f"op{o}-{d.name}-{m}-axis{a}-{n}" for o, d, m, a, n in DFT_CASES])
def test_dft(opset, dtype, mode, axis, length):
    rng = np.random.default_rng(opset)
    x = signal(rng, (4, 5, 6, MODES[mode][2]), dtype)  # (4, 5, 6, real or complex)
    feeds = {"x": x}
    signal_axis = (1 if opset < 20 else -2) if axis is None else axis
    if length is not None:  # int64 and int32 lengths, below and above the axis's size
        size = x.shape[signal_axis]
        feeds["n"] = np.array(size - 2, np.int64) if length == "shorter" else np.array(size + 3, np.int32)
    if opset >= 20 and axis is not None:
        feeds["axis"] = np.array(axis, np.int64)
    judge = run_reference if mode == "irfft" and length is not None else run_onnxruntime
    got = check(dft_node(opset, axis, mode, length is not None), feeds, dtype, opset, judge)
    assert got[0].shape[-1] == (1 if mode == "irfft" else 2)


@pytest.mark.parametrize("mode", list(MODES))
def test_dft_rank_two_signal_along_axis_zero(mode):
    """A signal with no batch axis: (n, 1 or 2), axis 0."""
    x = signal(np.random.default_rng(1), (9, MODES[mode][2]), F32)
    check(dft_node(17, 0, mode, False), {"x": x}, F32, 17)


@pytest.mark.parametrize("dtype", FLOATS)
def test_dft_round_trip(dtype):
    """IRFFT(RFFT(x)) and IFFT(FFT(x)) give x back, through npinfer alone (float64 stays float64)."""
    x = signal(np.random.default_rng(2), (3, 8, 1), dtype)
    forward = graph_model([helper.make_node("DFT", ["x"], ["s"], onesided=1),
                           helper.make_node("DFT", ["s"], ["y"], onesided=1, inverse=1)],
                          inputs={"x": x}, outputs={"y": dtype}, opset=20)
    full = graph_model([helper.make_node("DFT", ["x"], ["s"]), helper.make_node("DFT", ["s"], ["y"], inverse=1)],
                       inputs={"x": x}, outputs={"y": dtype}, opset=20)
    tolerance = 8 * float(np.finfo(dtype).eps) * float(np.abs(x).max())
    back = run_tensor_tier(forward, {"x": x})[0]
    assert back.dtype == dtype and back.shape == x.shape
    np.testing.assert_allclose(back, x, atol=tolerance, rtol=0)
    back = run_tensor_tier(full, {"x": x})[0]
    assert back.dtype == dtype and back.shape == (3, 8, 2)
    np.testing.assert_allclose(back[..., :1], x, atol=tolerance, rtol=0)
    np.testing.assert_allclose(back[..., 1:], 0, atol=tolerance, rtol=0)


@pytest.mark.parametrize("mode", list(MODES))
def test_float64_precision(mode):
    """float64 stays float64: DFT against torch.fft in double precision, to 8 ulps of the largest value."""
    import torch

    layout = MODES[mode][2]
    x = signal(np.random.default_rng(7), (3, 12, layout), F64)
    z = torch.from_numpy(x[..., 0] + 1j * x[..., 1] if layout == 2 else x[..., 0].copy())
    expected = {"fft": torch.fft.fft, "fft-complex": torch.fft.fft, "rfft": torch.fft.rfft, "ifft": torch.fft.ifft,
                "ifft-real": torch.fft.ifft, "irfft": torch.fft.irfft}[mode](z, dim=1).resolve_conj().numpy()
    expected = np.stack([expected.real, expected.imag], -1) if np.iscomplexobj(expected) else expected[..., None]
    got = run_tensor_tier(graph_model([dft_node(20, None, mode, False)], inputs={"x": x}, outputs={"y": F64},
                                      opset=20), {"x": x})
    assert_transform(got, [expected], run_reference)


# -- STFT ----------------------------------------------------------------------------------

STFT_FRAMES = {  # name -> (window, frame_length): which of the two optional inputs are given
    "length": (False, True), "window": (True, False), "both": (True, True), "neither": (False, False)}
STFT_CASES = [(dtype, layout, onesided, frames, step)
              for dtype in FLOATS for layout in (1, 2) for onesided in (0, 1) for frames in STFT_FRAMES for step in (1, 3)]


@pytest.mark.parametrize("dtype,layout,onesided,frames,step", STFT_CASES,
                         ids=[f"{d.name}-c{c}-onesided{o}-{f}-step{s}" for d, c, o, f, s in STFT_CASES])
def test_stft(dtype, layout, onesided, frames, step):
    rng = np.random.default_rng(step + layout)
    x = signal(rng, (2, 23, layout), dtype)  # (batch, signal_length, real or complex)
    with_window, with_length = STFT_FRAMES[frames]
    index_type = np.int64 if step == 1 else np.int32
    feeds = {"x": x, "step": np.array(step, index_type)}
    if with_window:
        feeds["window"] = rng.uniform(0.1, 1.0, 7).astype(dtype)
    if with_length:
        feeds["length"] = np.array(7, index_type)
    inputs = ["x", "step", "window" if with_window else "", "length" if with_length else ""]
    while inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("STFT", inputs, ["y"], onesided=onesided)
    got = check(node, feeds, dtype, 17, run_reference if frames == "neither" else run_onnxruntime)
    length = 7 if with_window or with_length else 23
    assert got[0].shape == (2, (23 - length) // step + 1, length // 2 + 1 if onesided else length, 2)


def test_stft_default_onesided_and_one_element_lengths():
    """onesided defaults to 1; frame_step and frame_length as one-element tensors (ONNX Runtime takes them)."""
    x = signal(np.random.default_rng(3), (1, 16, 1), F32)
    feeds = {"x": x, "step": np.array([4], np.int64), "length": np.array([6], np.int64)}
    check(helper.make_node("STFT", ["x", "step", "", "length"], ["y"]), feeds, F32, 17)


# -- what is refused, and malformed nodes ------------------------------------------------------

def failure(node, feeds: dict, opset: int, error) -> str:
    model = graph_model([node], inputs=feeds, outputs={"y": F32}, opset=opset)
    with pytest.raises(error) as raised:
        run_tensor_tier(model, feeds)
    assert f"ONNX {node.op_type} node" in str(raised.value) and f"(opset {opset})" in str(raised.value)
    return str(raised.value)


@pytest.mark.parametrize("op", ["DFT", "STFT"])
def test_integer_signals_refused(op):
    x = np.arange(20, dtype=np.int32).reshape(1, 20, 1)
    inputs = ["x"] if op == "DFT" else ["x", "step"]
    feeds = {"x": x} if op == "DFT" else {"x": x, "step": np.array(2, np.int64)}
    assert "int32" in failure(helper.make_node(op, inputs, ["y"]), feeds, 17, npinfer.UnsupportedOptionError)


X_REAL = np.random.default_rng(4).standard_normal((2, 5, 1)).astype(np.float32)
X_COMPLEX = np.random.default_rng(5).standard_normal((2, 5, 2)).astype(np.float32)
MALFORMED_DFT = {  # name -> (opset, attributes, input, dft_length, axis input)
    "onesided-forward-of-complex": (17, {"onesided": 1}, X_COMPLEX, None, None),
    "irfft-of-real": (17, {"onesided": 1, "inverse": 1}, X_REAL, None, None),
    "axis-of-the-complex-parts": (17, {"axis": 2}, X_REAL, None, None),
    "axis-minus-one": (20, {}, X_REAL, None, np.array(-1, np.int64)),
    "axis-out-of-range": (20, {}, X_REAL, None, np.array(-4, np.int64)),
    "dft-length-zero": (17, {}, X_REAL, np.array(0, np.int64), None),
    "dft-length-float": (17, {}, X_REAL, np.array(4.0, np.float32), None),
    "layout-of-three": (17, {}, np.zeros((2, 5, 3), np.float32), None, None),
    "onesided-two": (17, {"onesided": 2}, X_REAL, None, None),
}


@pytest.mark.parametrize("case", list(MALFORMED_DFT))
def test_malformed_dft(case):
    opset, attributes, x, length, axis = MALFORMED_DFT[case]
    feeds = {"x": x} | ({"n": length} if length is not None else {}) | ({"axis": axis} if axis is not None else {})
    inputs = ["x", "n" if length is not None else "", "axis" if axis is not None else ""]
    while inputs[-1] == "":
        inputs.pop()
    failure(helper.make_node("DFT", inputs, ["y"], **attributes), feeds, opset, ModelFormatError)


SIGNAL = np.random.default_rng(6).standard_normal((1, 20, 1)).astype(np.float32)
MALFORMED_STFT = {  # name -> (feeds beyond x: step, window, length)
    "window-and-length-disagree": (np.array(4), np.ones(6, np.float32), np.array(5)),
    "frame-longer-than-signal": (np.array(4), None, np.array(21)),
    "step-zero": (np.array(0), None, np.array(6)),
    "length-zero": (np.array(4), None, np.array(0)),
    "window-of-another-type": (np.array(4), np.ones(6, np.float64), None),
    "window-2d": (np.array(4), np.ones((6, 1), np.float32), None),
}


@pytest.mark.parametrize("case", list(MALFORMED_STFT))
def test_malformed_stft(case):
    step, window, length = MALFORMED_STFT[case]
    feeds = {"x": SIGNAL, "step": step.astype(np.int64)}
    if window is not None:
        feeds["window"] = window
    if length is not None:
        feeds["length"] = length.astype(np.int64)
    inputs = ["x", "step", "window" if window is not None else "", "length" if length is not None else ""]
    while inputs[-1] == "":
        inputs.pop()
    failure(helper.make_node("STFT", inputs, ["y"]), feeds, 17, ModelFormatError)


def test_stft_needs_rank_three():
    feeds = {"x": SIGNAL[0], "step": np.array(4, np.int64), "length": np.array(6, np.int64)}
    failure(helper.make_node("STFT", ["x", "step", "", "length"], ["y"]), feeds, 17, ModelFormatError)


def test_dft_length_checked_against_the_budget():
    """A run-time dft_length of 2**40 is refused before anything is allocated."""
    feeds = {"x": X_REAL, "n": np.array(2 ** 40, np.int64)}
    with pytest.raises(ResourceLimitError, match="DFT"):
        run_tensor_tier(graph_model([helper.make_node("DFT", ["x", "n"], ["y"])], inputs=feeds,
                                    outputs={"y": F32}, opset=20), feeds)


# -- MelWeightMatrix -----------------------------------------------------------------------------

@pytest.mark.parametrize("bands, length, rate, low, high", [
    (8, 16, 8192, 0.0, 4096.0), (8, 16, 8192, 250.0, 3000.0), (40, 512, 16000, 20.0, 8000.0),
    (3, 64, 22050, 0.0, 5000.0), (13, 400, 16000, 300.0, 7600.0), (1, 8, 100, 10.0, 50.0)])
@pytest.mark.parametrize("index_type", [np.int32, np.int64])
@pytest.mark.parametrize("output_datatype", [None, TensorProto.DOUBLE, TensorProto.INT32, TensorProto.UINT8])
def test_mel_weight_matrix_matches_onnxruntime(bands, length, rate, low, high, index_type, output_datatype):
    from ops_parity import assert_matches_onnxruntime

    attributes = {} if output_datatype is None else {"output_datatype": output_datatype}
    node = helper.make_node("MelWeightMatrix", ["bands", "length", "rate", "low", "high"], ["y"], **attributes)
    feeds = {"bands": np.array(bands, index_type), "length": np.array(length, index_type),
             "rate": np.array(rate, index_type), "low": np.array(low, np.float32), "high": np.array(high, np.float32)}
    out = np.float32 if output_datatype is None else helper.tensor_dtype_to_np_dtype(output_datatype)
    assert_matches_onnxruntime(graph_model([node], feeds, {"y": out}, opset=17), feeds)


def test_mel_weight_matrix_with_a_band_past_the_nyquist_frequency_is_malformed(tmp_path):
    node = helper.make_node("MelWeightMatrix", ["bands", "length", "rate", "low", "high"], ["y"])
    feeds = {"bands": np.array(8, np.int64), "length": np.array(16, np.int64), "rate": np.array(8000, np.int64),
             "low": np.array(0.0, np.float32), "high": np.array(6000.0, np.float32)}
    path = tmp_path / "m.onnx"
    path.write_bytes(graph_model([node], feeds, {"y": np.float32}, opset=17).SerializeToString())
    with pytest.raises(npinfer.ModelFormatError, match="MelWeightMatrix.*sample_rate / 2"):
        npinfer.load(path).predict(feeds)
