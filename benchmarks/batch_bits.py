"""predict's fixed tiles: time predict(x) and check predict(x, batch_size=b) is predict(x) bit for bit.

Run: PYTHONPATH=src python benchmarks/batch_bits.py   (hand-built models with random weights;
no framework needed). Prints per model and batch the median ms per predict(x) and the largest
|predict(x, batch_size=b) - predict(x)| over b in 1, 7, 64 (0.0: the same bits). Compare two
versions by running it with each on the same machine in one session."""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import per_call_seconds  # noqa: E402

from npinfer import Model  # noqa: E402
from npinfer.spec import Call, LayerSpec, ModelSpec  # noqa: E402

rng = np.random.default_rng(0)


def _f32(*shape):
    return rng.normal(0, 0.3, shape).astype(np.float32)


def _model(shape, *layers) -> Model:
    """Input of `shape` (no batch) into the (name, class, config, weights) layers in a chain."""
    specs, prev = [LayerSpec("x", "InputLayer", {"shape": [None, *shape], "dtype": "float32"})], "x"
    for name, kind, config, weights in layers:
        specs.append(LayerSpec(name, kind, config, weights, [Call([(prev, 0, 0)])]))
        prev = name
    return Model(ModelSpec("m", specs, [("x", 0, 0)], [(prev, 0, 0)]))


def models():
    lstm = _model((50, 16), ("r", "LSTM", {"units": 64}, {"kernel": _f32(16, 256), "recurrent_kernel": _f32(64, 256), "bias": _f32(256)}),
                  ("o", "Dense", {"units": 1}, {"kernel": _f32(64, 1), "bias": _f32(1)}))
    dense = _model((20,), ("d", "Dense", {"units": 64, "activation": "relu"}, {"kernel": _f32(20, 64), "bias": _f32(64)}),
                   ("o", "Dense", {"units": 3}, {"kernel": _f32(64, 3), "bias": _f32(3)}))
    conv = _model((100, 8), ("c", "Conv1D", {"filters": 32, "kernel_size": 5, "activation": "relu"}, {"kernel": _f32(5, 8, 32), "bias": _f32(32)}),
                  ("p", "GlobalAveragePooling1D", {}, {}), ("o", "Dense", {"units": 1}, {"kernel": _f32(32, 1), "bias": _f32(1)}))
    return [("LSTM(64) 50x16", lstm, (50, 16), (256, 1024)), ("Dense(64)-Dense(3)", dense, (20,), (1, 32, 100_000)),
            ("Conv1D(32)", conv, (100, 8), (32, 1024))]


def main() -> None:
    for name, model, shape, batches in models():
        for batch in batches:
            x = rng.normal(size=(batch, *shape)).astype(np.float32)
            ms = 1e3 * per_call_seconds(lambda: model.predict(x), budget=1.0)
            whole = model.predict(x)
            diff = max((float(np.abs(model.predict(x, batch_size=b) - whole).max()) for b in (1, 7, 64) if batch > 1), default=0.0)
            print(f"{name:20s} batch {batch:7d}: {ms:9.3f} ms   max diff over batch_size 1/7/64: {diff:.3g}")


if __name__ == "__main__":
    main()
