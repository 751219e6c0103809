"""Model.predict and friends: inputs in every accepted form, clear errors for the rest."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npinfer
from npinfer import InputError, InputShapeError, NpinferError
from parity import assert_close

FIXTURES = Path(__file__).parent / "fixtures" / "keras3"
ARTICLE = npinfer.load(FIXTURES / "article_simple_rnn" / "model.keras")
TWO_IN_TWO_OUT = npinfer.load(FIXTURES / "functional_two_inputs_two_outputs" / "model.keras")
VARIABLE = npinfer.load(Path(__file__).parent / "fixtures" / "tf_keras" / "lstm_variable_time" / "model.h5")


def _data(case):
    with np.load(FIXTURES / case / "data.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_one_output_is_an_array_several_are_a_list():
    x = _data("article_simple_rnn")["x/7/0"]
    assert isinstance(ARTICLE.predict(x), np.ndarray)
    data = _data("functional_two_inputs_two_outputs")
    result = TWO_IN_TWO_OUT.predict([data["x/7/0"], data["x/7/1"]])
    assert isinstance(result, list) and [r.shape for r in result] == [(7, 2), (7, 1)]


def test_nested_lists_and_integer_arrays_are_accepted():
    x = np.arange(2 * 4 * 3).reshape(2, 4, 3) % 5
    expected = ARTICLE.predict(x.astype(np.float32))
    assert np.array_equal(ARTICLE.predict(x.tolist()), expected)
    assert np.array_equal(ARTICLE.predict(x.astype(np.int64)), expected)
    assert ARTICLE.predict(x).dtype == np.float32


def test_inputs_by_name_equal_inputs_by_position():
    data = _data("functional_two_inputs_two_outputs")
    by_position = TWO_IN_TWO_OUT.predict([data["x/7/0"], data["x/7/1"]])
    by_name = TWO_IN_TWO_OUT.predict({"static": data["x/7/1"], "sequence": data["x/7/0"]})
    for a, b in zip(by_position, by_name):
        assert np.array_equal(a, b)
    assert TWO_IN_TWO_OUT.input_names == ["sequence", "static"]
    assert TWO_IN_TWO_OUT.output_names == ["forecast", "score"]


@pytest.mark.parametrize("bad,message", [
    (np.zeros((2, 5, 3)), r"expects shape \(None, 4, 3\).*got \(2, 5, 3\)"),
    (np.zeros((2, 4, 2)), r"expects shape \(None, 4, 3\).*got \(2, 4, 2\)"),
    (np.zeros((4, 3)), r"expects shape \(None, 4, 3\).*got \(4, 3\)"),
    (np.zeros((1, 2, 4, 3)), r"got \(1, 2, 4, 3\)"),
])
def test_wrong_shapes_say_expected_and_got(bad, message):
    with pytest.raises(InputShapeError, match=message):
        ARTICLE.predict(bad)


@pytest.mark.parametrize("bad,message", [
    ([[["a", "b", "c"]] * 4], "strings"),
    ([[[1, 2, 3]] * 4, [[1, 2]] * 4], "rectangular|ragged"),
    (np.array([None], dtype=object), "ragged or mixed"),
    (np.zeros((1, 4, 3), dtype=complex), "complex"),
])
def test_non_numeric_input_is_refused(bad, message):
    with pytest.raises(InputError, match=message):
        ARTICLE.predict(bad)


def test_multi_input_errors():
    data = _data("functional_two_inputs_two_outputs")
    with pytest.raises(InputError, match="2 inputs"):
        TWO_IN_TWO_OUT.predict(data["x/7/0"])
    with pytest.raises(InputError, match="expected"):
        TWO_IN_TWO_OUT.predict({"sequence": data["x/7/0"]})
    with pytest.raises(InputShapeError, match="same batch size"):
        TWO_IN_TWO_OUT.predict([data["x/7/0"], data["x/1/1"]])


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 40), chunk=st.integers(1, 50))
def test_batch_size_chunks_give_the_same_numbers(batch, chunk):
    # The same bits: chunks are whole tiles (test_parallel.test_batch_size_and_threads_give_the_same_bits)
    x = np.random.default_rng(batch).normal(size=(batch, 4, 3)).astype(np.float32)
    assert np.array_equal(ARTICLE.predict(x, batch_size=chunk), ARTICLE.predict(x))


def test_bad_batch_size():
    with pytest.raises(InputError, match="batch_size"):
        ARTICLE.predict(np.zeros((5, 4, 3)), batch_size=0)


def test_variable_time_accepts_any_length_but_not_zero():
    for steps in (1, 2, 17):
        assert VARIABLE.predict(np.ones((3, steps, 4))).shape == (3, 5)
    with pytest.raises(InputShapeError, match="at least one time step"):
        VARIABLE.predict(np.ones((3, 0, 4)))


def test_empty_batch_gives_empty_output():
    assert ARTICLE.predict(np.zeros((0, 4, 3))).shape == (0, 1)


def test_predict_is_deterministic_and_does_not_touch_the_input():
    x = np.random.default_rng(1).normal(size=(9, 4, 3)).astype(np.float32)
    before = x.copy()
    first = ARTICLE.predict(x)
    assert np.array_equal(ARTICLE.predict(x), first) and np.array_equal(x, before)


def test_intermediate_outputs_by_layer_name():
    data = _data("functional_two_inputs_two_outputs")
    result = TWO_IN_TWO_OUT.predict([data["x/7/0"], data["x/7/1"]], outputs=["encoder", "sum"])
    assert set(result) == {"encoder", "sum", "forecast", "score"}
    assert_close(result["encoder"], data["mid/encoder/0"])
    assert_close(result["forecast"], data["keras/7/0"])
    with pytest.raises(NpinferError, match="no layer named 'nope'"):
        TWO_IN_TWO_OUT.predict([data["x/7/0"], data["x/7/1"]], outputs=["nope"])


def test_float64_mode_computes_in_float64():
    model = npinfer.load(FIXTURES / "article_simple_rnn" / "model.keras", dtype="float64")
    x = _data("article_simple_rnn")["x/7/0"]
    y = model.predict(x)
    assert y.dtype == np.float64
    assert_close(y, ARTICLE.predict(x), same_dtype=False)
    with pytest.raises(npinfer.UnsupportedOptionError, match="float16"):
        npinfer.load(FIXTURES / "article_simple_rnn" / "model.keras", dtype="float16")


def test_shapes_layers_and_summary(capsys):
    assert ARTICLE.input_shape == (None, 4, 3)
    assert ARTICLE.output_shape == (None, 1)
    assert TWO_IN_TWO_OUT.input_shape == [(None, 6, 3), (None, 4)]
    assert ARTICLE.get_layer("simple_rnn").param_count == 3 * 3 + 3 * 3 + 3
    with pytest.raises(NpinferError, match="no layer named"):
        ARTICLE.get_layer("missing")
    ARTICLE.summary()
    text = capsys.readouterr().out
    assert "simple_rnn (SimpleRNN)" in text and "(None, 3)" in text and "Total params: 25" in text
    lines = []
    TWO_IN_TWO_OUT.summary(print_fn=lines.append)
    assert any("Connected to" in line for line in lines)
    assert any("join (Concatenate)" in line and "encoder[0][0]" in line for line in lines)


def test_calling_the_model_is_predict():
    x = _data("article_simple_rnn")["x/1/0"]
    assert np.array_equal(ARTICLE(x), ARTICLE.predict(x))
    assert "25 params" in repr(ARTICLE)


def _embedding_model():
    from npinfer.spec import Call, LayerSpec, ModelSpec

    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    layers = [LayerSpec("ids", "InputLayer", {"shape": [None, 4], "dtype": "int32"}),
              LayerSpec("emb", "Embedding", {"input_dim": 10, "output_dim": 2}, {"embeddings": table}, [Call([("ids", 0, 0)])])]
    return npinfer.Model(ModelSpec("m", layers, [("ids", 0, 0)], [("emb", 0, 0)]))


def test_embedding_ids_out_of_range_are_an_error():
    model = _embedding_model()
    assert model.predict([[1, 2, 3, 9]])[0, 3].tolist() == [18.0, 19.0]
    with pytest.raises(InputError, match="index 10 is out of range: input_dim is 10, so ids must be 0..9"):
        model.predict([[1, 2, 3, 10]])
    with pytest.raises(InputError, match="index -1 is out of range"):
        model.predict([[1, -1, 3, 4]])
    with pytest.raises(InputError, match="takes integers"):
        model.predict([[1.5, 2, 3, 4]])


def test_nan_and_inf_propagate_without_errors():
    x = np.ones((3, 4, 3), np.float32)
    x[0, 1, 2] = np.nan
    x[1, 0, 0] = np.inf
    before = np.geterr()
    with warnings.catch_warnings(), np.errstate(all="raise"):  # no warning, no FloatingPointError
        warnings.simplefilter("error")
        y = ARTICLE.predict(x)
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}  # the caller's state is back
    assert np.geterr() == before
    assert np.isnan(y[0, 0])  # NaN flows through tanh and the products, as in Keras
    assert np.isfinite(y[2, 0])  # other samples are untouched


def test_register_layer_validates_what_it_registers():
    class Twice(npinfer.Layer):
        def build(self, input_shapes):
            return [input_shapes[0]]

        def call(self, inputs, ctx):
            return [inputs[0] * 2]

    with pytest.raises(TypeError, match="subclass of npinfer.Layer"):
        npinfer.register_layer("Twice", object)
    with pytest.raises(ValueError, match="built-in"):
        npinfer.register_layer("Dense", Twice)
    npinfer.register_layer("my>Twice", Twice)
    try:
        assert "my>Twice" in npinfer.supported_layers()
    finally:
        npinfer.unregister_layer("my>Twice")
    assert "my>Twice" not in npinfer.supported_layers()
