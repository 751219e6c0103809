"""Keras 3 zoo models written as ONNX by tf2onnx (in the fixture generator) against Keras's own
outputs: LSTM, Bidirectional, go_backwards (ReverseSequence), Conv1D (tf2onnx's height-1 2-D
Conv), pooling, Dense, BatchNormalization, and the Loop graphs tf2onnx writes for SimpleRNN, GRU
and LSTMs with other activations (unrolled for a fixed sequence length; refused, naming the Loop
and what to do, for a variable one)."""

from __future__ import annotations

from functools import lru_cache

import pytest

import npinfer
import zoo
from generate_fixtures import ONNX_CASES
from npinfer.errors import UnsupportedOptionError
from parity import as_list, assert_close

# refused, and why: a Loop over a variable length; Keras 3's Embedding wraps negative ids with
# integer arithmetic (ids + vocabulary size) and a run-time Less / Where, which npinfer does not compute
REFUSED = {"simplernn_variable_time": "ONNX .* node .*fixed in the file.*load the Keras file",
           "gru_variable_time": "ONNX .* node .*fixed in the file.*load the Keras file",
           "embedding_gru_classifier": "ONNX Add node .*computes on integer values"}
CONVERTED = [c for c in ONNX_CASES if c not in REFUSED]


@lru_cache(maxsize=None)
def _loaded(path: str) -> npinfer.Model:
    return npinfer.load(path)


def _onnx_path(fx, case):
    meta = fx.meta(case)
    assert meta.get("onnx") == "ok", f"tf2onnx could not convert {case}: {meta.get('onnx')}"
    return str(fx.root / case / "model.onnx")


def _assert_matches_keras(model, fx, case, batch) -> None:
    """`model` (loaded from tf2onnx's file of `case`) gives Keras's outputs at `batch`."""
    inputs = fx.inputs(case, batch)
    got = as_list(model.predict(inputs if len(inputs) > 1 else inputs[0]))
    expected = fx.outputs(case, batch)
    assert len(got) == len(expected)
    for j, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, what=f"output {j}")


@pytest.mark.parametrize("batch", zoo.BATCH_SIZES)
@pytest.mark.parametrize("case", CONVERTED)
def test_tf2onnx_models_match_keras(keras_fixtures, case, batch):
    fx = keras_fixtures["keras3"]
    model = _loaded(_onnx_path(fx, case))
    _assert_matches_keras(model, fx, case, batch)


@pytest.mark.parametrize("batch", zoo.BATCH_SIZES)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_tf2onnx_graphs_the_layer_tier_refuses_run_on_the_tensor_tier(keras_fixtures, case, batch):
    """Integer ids added to a vocabulary size, Loops whose length is the input's: the layer tier
    refuses them (REFUSED says why); the tensor tier runs them and matches Keras."""
    from npinfer.importers.onnx_graph import load_onnx

    path = _onnx_path(keras_fixtures["keras3"], case)
    with pytest.raises(UnsupportedOptionError, match=REFUSED[case]):
        load_onnx(path, None)
    fx = keras_fixtures["keras3"]
    model = _loaded(path)
    assert type(model).__name__ == "TypedModel"
    _assert_matches_keras(model, fx, case, batch)


LOOP_CASES = ("article_simple_rnn", "gru_default", "lstm_hard_sigmoid")


@pytest.mark.parametrize("case", LOOP_CASES)
def test_unrolled_loops_save_each_weight_once_and_split_batches(keras_fixtures, case, tmp_path):
    """An unrolled Loop's layers share their weight arrays: the .npz stores each once, the round
    trip is bit-exact, and the batch (axis 0, the input's only free size) splits cleanly."""
    import numpy as np

    fx = keras_fixtures["keras3"]
    model = _loaded(_onnx_path(fx, case))
    x = fx.inputs(case, 64)[0]
    whole = model.predict(x)
    assert model.batch_axes == [0]
    assert np.array_equal(model.predict(x, batch_size=5), whole)  # whole tiles: the same bits
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path) as stored:
        arrays = [k for k in stored.files if k != "npinfer_config"]
    held = [w for spec in model.spec.layers for w in spec.weights.values()]
    assert len(arrays) == len({id(w) for w in held}) < len(held)
    again = npinfer.load(path)
    assert again.param_count == model.param_count == sum(stored_size for stored_size in {id(w): w.size for w in held}.values())
    assert np.array_equal(again.predict(x), whole)
