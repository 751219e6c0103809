"""Bidirectional at small batches runs both directions in one loop (layers/paired.py): the
same numbers as two separate loops, for every twin-cell kind and option, and never where it
cannot (masks, initial states, traces, large batches)."""

from __future__ import annotations

import numpy as np
import pytest

import npinfer
from npinfer.layers import paired, wrappers
from parity import assert_close

CASES = ["bidirectional_lstm_concat", "bidirectional_lstm_concat_sequences", "bidirectional_lstm_state",
         "bidirectional_lstm_none_sequences", "bidirectional_lstm_mul_sequences", "bidirectional_lstm_ave_sequences",
         "bidirectional_gru_concat", "bidirectional_gru_state_none", "bidirectional_gru_none_sequences",
         "bidirectional_simplernn_concat", "bidirectional_simplernn_none_sequences", "bidirectional_stacked_with_dense",
         "conv_bidirectional_lstm_dense"]


def _outputs(model, x):
    result = model.predict(x)
    return result if isinstance(result, list) else [result]


@pytest.mark.parametrize("case", CASES)
def test_one_loop_equals_two_loops_and_keras(keras_fixtures, case, monkeypatch):
    fx = keras_fixtures["keras3"]
    x = fx.inputs(case, 7)[0]
    model = npinfer.load(fx.path(case, "keras"))
    runs = []
    original = wrappers.Bidirectional._run_paired

    def counted(self, x):
        runs.append(self.name)
        return original(self, x)

    monkeypatch.setattr(wrappers.Bidirectional, "_run_paired", counted)
    together = _outputs(model, x)
    assert runs, "the paired loop did not run"
    for got, expected in zip(together, fx.outputs(case, 7)):
        assert_close(got, expected)
    monkeypatch.setattr(wrappers, "PAIRED_MAX_BATCH", 0)  # two loops, as before
    apart = _outputs(npinfer.load(fx.path(case, "keras")), x)
    for a, b in zip(together, apart):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


@pytest.mark.parametrize("case", ["mask_bidirectional_lstm", "bidirectional_initial_state", "bidirectional_custom_backward"])
def test_masks_initial_states_and_other_backward_layers_keep_two_loops(keras_fixtures, case, monkeypatch):
    fx = keras_fixtures["keras3"]
    monkeypatch.setattr(wrappers.Bidirectional, "_run_paired", lambda self, x: pytest.fail("paired where it must not be"))
    inputs = fx.inputs(case, 7)
    model = npinfer.load(fx.path(case, "keras"))
    for got, expected in zip(_outputs(model, inputs if len(inputs) > 1 else inputs[0]), fx.outputs(case, 7)):
        assert_close(got, expected)


def test_trace_and_large_batches_keep_two_loops(keras_fixtures, monkeypatch):
    fx = keras_fixtures["keras3"]
    model = npinfer.load(fx.path("bidirectional_lstm_concat", "keras"))
    monkeypatch.setattr(wrappers.Bidirectional, "_run_paired", lambda self, x: pytest.fail("paired where it must not be"))
    record = model.trace(fx.inputs("bidirectional_lstm_concat", 7)[0], sample=3)
    assert len(next(layer for layer in record["layers"] if layer.get("directions"))["directions"]) == 2
    x = fx.inputs("bidirectional_lstm_concat", 64)[0]
    assert x.shape[0] > paired.PAIRED_MAX_BATCH
    assert_close(model.predict(x), fx.outputs("bidirectional_lstm_concat", 64)[0])
