"""Streaming: chunks give what the whole sequence gives (and so what Keras gives)."""

from __future__ import annotations

import numpy as np
import pytest

import npinfer
from parity import as_list, assert_close

STREAMABLE = [
    ("keras3", "article_simple_rnn"), ("tf_keras", "lstm_sequences"), ("keras3", "gru_state_sequences"),
    ("keras3", "simplernn_variable_time"), ("tf_keras", "mask_lstm_right_padded"), ("keras3", "embedding_gru_classifier"),
    ("keras3", "time_distributed_dense"), ("tf_keras", "functional_two_inputs_two_outputs"),
    ("keras3", "stacked_lstm_gru_rnn"), ("tf_keras", "rnn_stacked_cells_state"), ("keras3", "transformer_block_masked"),
    ("tf_keras", "identity_at_inference_sequence"),
]
NOT_STREAMABLE = [
    ("keras3", "bidirectional_lstm_concat", "reads the sequence backwards too"),
    ("tf_keras", "conv1d_valid", "depends on other time steps"),
    ("keras3", "encoder_decoder_initial_state", "initial state comes from another layer"),
    ("keras3", "attention_dot", "depends on other time steps"),
    ("tf_keras", "pooling_global_max", "depends on other time steps"),
    ("keras3", "group_normalization", "depends on other time steps"),
]


def _split(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(x, cuts, axis=1)


@pytest.mark.parametrize("flavor,case", STREAMABLE, ids=[f"{f}-{c}" for f, c in STREAMABLE])
def test_chunks_give_what_the_whole_sequence_gives(keras_fixtures, flavor, case):
    fx = keras_fixtures[flavor]
    model = npinfer.load(fx.path(case, "keras"))
    if case == "transformer_block_masked":
        with pytest.raises(npinfer.UnsupportedLayerError, match="multi_head_attention"):
            model.stream()
        return
    inputs = fx.inputs(case, 7)
    expected = fx.outputs(case, 7)
    steps = max(x.shape[1] for x in inputs if x.ndim >= 3 or x.dtype.kind == "i")  # sequences and token ids
    for cuts in ([1], [steps // 2], list(range(1, steps))):  # two chunks, halves, one step at a time
        stream = model.stream()
        parts = [_split(x, cuts) if x.ndim >= 2 and x.shape[1] == steps else [x] * (len(cuts) + 1) for x in inputs]
        outputs = [as_list(stream.predict([p[i] for p in parts] if len(inputs) > 1 else parts[0][i])) for i in range(len(cuts) + 1)]
        for j, want in enumerate(expected):
            chunks = [o[j] for o in outputs]
            got = np.concatenate(chunks, axis=1) if want.ndim == 3 and chunks[0].ndim == 3 and chunks[0].shape[1] < want.shape[1] else chunks[-1]
            assert_close(got, want, what=f"output {j} with chunks cut at {cuts}")


@pytest.mark.parametrize("flavor,case,why", NOT_STREAMABLE, ids=[f"{f}-{c}" for f, c, _ in NOT_STREAMABLE])
def test_models_that_need_the_whole_sequence_are_refused_by_layer(keras_fixtures, flavor, case, why):
    model = npinfer.load(keras_fixtures[flavor].path(case, "keras"))
    with pytest.raises(npinfer.UnsupportedLayerError, match=why) as caught:
        model.stream()
    assert "cannot be streamed" in str(caught.value)


def test_stream_reset_and_bad_chunks(golden):
    model = npinfer.load(golden["keras3"].path("lstm_variable_time", "keras"))
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32)
    stream = model.stream()
    first = stream.predict(x[:, :2])
    stream.predict(x[:, 2:])
    stream.reset()
    assert np.array_equal(stream.predict(x[:, :2]), first)
    with pytest.raises(npinfer.InputShapeError, match=r"expects shape \(None, None, 4\).*got \(3, 2, 5\)"):
        stream.predict(np.zeros((3, 2, 5)))
    with pytest.raises(npinfer.InputShapeError, match="keeps states for a batch of 3, got a batch of 2"):
        stream.predict(np.zeros((2, 2, 4)))
    assert np.array_equal(model.predict(x), model.predict(x))  # the model itself holds no stream state
