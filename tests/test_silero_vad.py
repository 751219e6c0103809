"""silero-vad, the most used small ONNX model (voice activity detection), as published in its
wheel (silero-vad 6.2.3, MIT): every ONNX variant, 16 kHz and 8 kHz, over a whole clip chunk by
chunk with the state carried, through npinfer's streaming API — against ONNX Runtime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from ops_parity import run_onnxruntime

import npinfer

DATA = Path(importlib.util.find_spec("silero_vad").submodule_search_locations[0]) / "data"
CHUNK = {16000: 512, 8000: 256}  # samples per call, as silero's OnnxWrapper feeds them
CONTEXT = {16000: 64, 8000: 32}  # the previous chunk's last samples, prepended to each


def clip(sr: int, seconds: float = 1.5) -> np.ndarray:
    """A seeded clip: quiet noise, then bursts of a voiced-like harmonic tone (so the model's
    probability moves from near 0 to near 1 and back)."""
    rng = np.random.default_rng(sr)
    t = np.arange(int(sr * seconds)) / sr
    voice = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((140, 280, 420, 700, 1100), 1))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > 0).astype(float) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (0.3 * envelope * voice + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def chunks(audio: np.ndarray, sr: int):
    """(1, context + chunk) inputs, each carrying the previous chunk's tail."""
    context = np.zeros((1, CONTEXT[sr]), np.float32)
    for start in range(0, audio.size - CHUNK[sr] + 1, CHUNK[sr]):
        x = np.concatenate([context, audio[None, start:start + CHUNK[sr]]], axis=1)
        context = x[:, -CONTEXT[sr]:]
        yield x


VARIANTS = [("silero_vad.onnx", 16000), ("silero_vad.onnx", 8000), ("silero_vad_16k_op15.onnx", 16000),
            ("silero_vad_half.onnx", 16000), ("silero_vad_half.onnx", 8000), ("silero_vad_op18_ifless.onnx", 16000),
            ("silero_vad_op18_ifless.onnx", 8000), ("silero_vad_openvino_16k.onnx", 16000)]


@pytest.mark.parametrize("name,sr", VARIANTS)
def test_silero_vad_streams_a_clip_as_onnx_runtime_does(name, sr):
    import onnx

    path = DATA / name
    model = npinfer.load(path)
    has_sr = "sr" in model.input_names
    constants = {"sr": np.array(sr, np.int64)} if has_sr else {}
    state = np.zeros((2, 1, 128), np.float32)
    stream = model.stream(carry={"state": "stateN"}, initial={"state": state}, constants=constants)
    reference = onnx.load(path)
    probabilities = []
    for x in chunks(clip(sr), sr):
        expected, state = run_onnxruntime(reference, {"input": x, "state": state, **constants})
        got = stream.predict(x)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        np.testing.assert_allclose(stream.state["state"], state, rtol=1e-5, atol=1e-5)  # LSTM cell states reach ~10
        probabilities.append(float(expected.reshape(-1)[0]))
    assert min(probabilities) < 0.2 and max(probabilities) > 0.5  # the clip exercises both ends


def test_silero_vad_sequence_variant_over_a_whole_clip():
    """The 16 kHz sequence variant takes all chunks at once (sequence, 576) with h and c."""
    import onnx

    path = DATA / "silero_vad_16k_sequence.onnx"
    x = np.concatenate(list(chunks(clip(16000), 16000)), axis=0)  # (chunks, 576)
    feeds = {"input": x, "h": np.zeros((1, 1, 128), np.float32), "c": np.zeros((1, 1, 128), np.float32)}
    expected = run_onnxruntime(onnx.load(path), feeds)
    got = npinfer.load(path).predict(feeds)
    got = [got] if len(expected) == 1 else got
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
