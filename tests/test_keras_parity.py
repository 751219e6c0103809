"""npinfer against real Keras 3 and tf-keras 2.x, for every zoo model, through every route:
the `.keras` file, the `.h5` file, `from_keras` on the live model, and an `.npz` round trip."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import npinfer
import zoo
from parity import as_list, assert_close

PARITY = [(flavor, c.name) for c in zoo.CASES.values() if not c.refuse and not c.stateful for flavor in c.flavors]
STATEFUL = [(flavor, c.name) for c in zoo.CASES.values() if c.stateful for flavor in c.flavors]
REFUSALS = [(flavor, c.name) for c in zoo.CASES.values() if c.refuse for flavor in c.flavors]
INTERMEDIATES = [(flavor, c.name) for c in zoo.CASES.values() if c.intermediates for flavor in c.flavors]
ROUTES = ("keras", "h5", "from_keras", "npz")
PARITY_ROUTES = [(flavor, case, route) for flavor, case in PARITY for route in ROUTES
                 if not (route == "h5" and flavor in zoo.CASES[case].no_h5)]


def _extensions(flavor: str, case: str) -> list[str]:
    """The files Keras wrote for this case: .keras, and .h5 unless the flavor cannot (zoo.Case.no_h5)."""
    return ["keras"] + ([] if flavor in zoo.CASES[case].no_h5 else ["h5"])


@lru_cache(maxsize=None)
def loaded(path: str, dtype: str = "float32") -> npinfer.Model:
    return npinfer.load(path, dtype=dtype)


@lru_cache(maxsize=None)
def round_tripped(path: str, npz_dir: str) -> npinfer.Model:
    target = f"{npz_dir}/{path.strip('/').replace('/', '_')}.npz"
    loaded(path).save(target)
    return npinfer.load(target)


@pytest.fixture(scope="session")
def npz_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("npz"))


def _predict(model, inputs):
    return as_list(model.predict(inputs if len(inputs) > 1 else inputs[0]))


@pytest.mark.parametrize("batch", zoo.BATCH_SIZES)
@pytest.mark.parametrize("flavor,case,route", PARITY_ROUTES, ids=[f"{f}-{c}-{r}" for f, c, r in PARITY_ROUTES])
def test_matches_keras(keras_fixtures, npz_dir, flavor, case, route, batch):
    fx = keras_fixtures[flavor]
    expected = fx.outputs(case, batch)
    if route == "from_keras":
        error = fx.meta(case).get("from_keras_error")
        assert error is None, f"npinfer.from_keras failed: {error}"
        got = fx.outputs(case, batch, prefix="from_keras")
    elif route == "npz":
        got = _predict(round_tripped(str(fx.path(case, "keras")), npz_dir), fx.inputs(case, batch))
    else:
        got = _predict(loaded(str(fx.path(case, route))), fx.inputs(case, batch))
    assert len(got) == len(expected), f"{len(got)} outputs, Keras gives {len(expected)}"
    for j, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, what=f"output {j}")


FLOAT64 = [p for p in PARITY if p[1].startswith(("simplernn_", "lstm_", "gru_", "stacked", "functional_", "activation_"))]


@pytest.mark.parametrize("flavor,case", FLOAT64, ids=[f"{f}-{c}" for f, c in FLOAT64])
def test_float64_mode_matches_keras(keras_fixtures, flavor, case):
    fx = keras_fixtures[flavor]
    model = loaded(str(fx.path(case, "keras")), "float64")
    for got, expected in zip(_predict(model, fx.inputs(case, 7)), fx.outputs(case, 7)):
        assert got.dtype == np.float64
        assert_close(got, expected, same_dtype=False)


@pytest.mark.parametrize("flavor,case", PARITY, ids=[f"{f}-{c}" for f, c in PARITY])
def test_npz_round_trip_is_bit_exact(keras_fixtures, npz_dir, flavor, case):
    fx = keras_fixtures[flavor]
    original = loaded(str(fx.path(case, "keras")))
    copy = round_tripped(str(fx.path(case, "keras")), npz_dir)
    for layer in original.spec.layers:
        twin = next(s for s in copy.spec.layers if s.name == layer.name)
        assert twin.config == layer.config and twin.class_name == layer.class_name
        for key, array in layer.weights.items():
            assert twin.weights[key].dtype == array.dtype and np.array_equal(twin.weights[key], array)
    for a, b in zip(_predict(original, fx.inputs(case, 64)), _predict(copy, fx.inputs(case, 64))):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("flavor,case", PARITY, ids=[f"{f}-{c}" for f, c in PARITY])
def test_shapes_and_parameter_counts_match_keras(keras_fixtures, flavor, case):
    fx = keras_fixtures[flavor]
    meta = fx.meta(case)
    if case == "activation_glu":
        # Keras's Activation layer reports its input shape (None, 8) for glu, but glu halves the
        # axis: Keras's real output, checked in test_matches_keras, is (batch, 4) as npinfer says.
        meta = {**meta, "output_shapes": {**meta["output_shapes"], "activation": [[None, 4]]}}
    for ext in _extensions(flavor, case):
        model = loaded(str(fx.path(case, ext)))
        assert model.param_count == meta["param_count"]
        for name, shapes in meta["output_shapes"].items():  # nested models are flattened: not listed
            assert [list(s) for s in model.node_output_shapes(name)] == shapes, name


@pytest.mark.parametrize("flavor,case", INTERMEDIATES, ids=[f"{f}-{c}" for f, c in INTERMEDIATES])
def test_intermediate_outputs_match_keras(keras_fixtures, flavor, case):
    fx = keras_fixtures[flavor]
    data = fx.data(case)
    layers = sorted({key.split("/")[1] for key in data if key.startswith("mid/")})
    model = loaded(str(fx.path(case, "keras")))
    inputs = fx.inputs(case, 7)
    result = model.predict(inputs if len(inputs) > 1 else inputs[0], outputs=layers)
    for name in layers:
        values = as_list(result[name])
        expected = [data[f"mid/{name}/{j}"] for j in range(len(values))]
        assert len([k for k in data if k.startswith(f"mid/{name}/")]) == len(values)
        for a, e in zip(values, expected):
            assert_close(a, e, what=f"layer {name}")
    for name, expected in zip(model.output_names, fx.outputs(case, 7)):
        assert_close(as_list(result[name])[0], expected, what=f"model output {name}")


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("flavor,case", REFUSALS, ids=[f"{f}-{c}" for f, c in REFUSALS])
def test_refuses_unsupported_models_by_name(keras_fixtures, flavor, case, ext):
    error_name, text = zoo.CASES[case].refuse
    path = keras_fixtures[flavor].path(case, ext)
    with pytest.raises(getattr(npinfer, error_name)) as caught:
        npinfer.load(path)
    message = str(caught.value)
    assert text in message, message
    assert "supported" in message, message


def _as_keras_2_2_file(source, target):
    """Rewrite a tf-keras .h5 the way standalone Keras 2.2 wrote it: version 2.2.4, the Sequential
    config as a bare layer list with the input shape on the first layer, and recurrent configs
    without `recurrent_activation` / `reset_after` (whose Keras 2.2 defaults were hard_sigmoid
    and False)."""
    import json
    import shutil

    import h5py  # test extra; writes the edited attributes

    shutil.copy(source, target)
    with h5py.File(target, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        layers = config["config"]["layers"]
        first = layers.pop(0)
        assert first["class_name"] == "InputLayer"
        layers[0]["config"]["batch_input_shape"] = first["config"]["batch_input_shape"]
        for layer in layers:
            layer["config"].pop("recurrent_activation", None)
            layer["config"].pop("reset_after", None)
        config["config"] = layers
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.2.4"


@pytest.mark.parametrize("case", ["lstm_hard_sigmoid", "gru_hard_sigmoid_reset_before"])
def test_keras_2_2_files_get_keras_2_2_defaults(keras_fixtures, tmp_path, case):
    fx = keras_fixtures["tf_keras"]
    old = tmp_path / "old.h5"
    _as_keras_2_2_file(fx.path(case, "h5"), old)
    model = npinfer.load(old)
    assert model.layers[1].config["recurrent_activation"]["slope"] == 0.2
    for batch in zoo.BATCH_SIZES:
        for got, expected in zip(_predict(model, fx.inputs(case, batch)), fx.outputs(case, batch)):
            assert_close(got, expected)


@pytest.mark.parametrize("flavor", zoo.FLAVORS)
def test_h5_nested_layers_of_one_name_are_refused_by_name(keras_fixtures, tmp_path, flavor):
    """A nested model's .h5 weights are told apart by layer name: two layers of one name in the
    nested models cannot be, and are refused by name (here the GRU renamed as the LSTM)."""
    import json
    import shutil

    import h5py  # test extra; edits the config

    target = tmp_path / "same_names.h5"
    shutil.copy(keras_fixtures[flavor].path("nested_sequential_in_sequential", "h5"), target)
    with h5py.File(target, "r+") as handle:
        text = handle.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        config = json.loads(text)
        middle = next(e for e in config["config"]["layers"] if e["class_name"] == "Sequential")
        gru = next(e for e in middle["config"]["layers"] if e["class_name"] == "GRU")
        gru["config"]["name"] = "lstm"
        gru.pop("name", None)
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(npinfer.ModelFormatError, match="two layers named 'lstm'.*save the model as .keras"):
        npinfer.load(target)


@pytest.mark.parametrize("route", ["keras", "h5", "from_keras", "npz"])
@pytest.mark.parametrize("flavor,case", STATEFUL, ids=[f"{f}-{c}" for f, c in STATEFUL])
def test_stateful_models_match_keras_call_for_call(keras_fixtures, npz_dir, flavor, case, route):
    """Consecutive predict calls carry the state over; reset_states() clears it, as in Keras."""
    fx = keras_fixtures[flavor]
    meta, data = fx.meta(case), fx.data(case)
    if route == "from_keras":
        assert meta.get("from_keras_error") is None, meta.get("from_keras_error")
    model = None if route == "from_keras" else (
        round_tripped(str(fx.path(case, "keras")), npz_dir) if route == "npz" else npinfer.load(fx.path(case, route)))
    if model is not None:
        assert model.stateful
        model.reset_states()
    for step, action in enumerate(meta["stateful_calls"]):
        if action == "reset":
            if model is not None:
                model.reset_states()
            continue
        expected = data[f"stateful/{step}/keras/0"]
        got = data[f"stateful/{step}/from_keras/0"] if model is None else model.predict(data[f"stateful/{step}/x"])
        assert_close(got, expected, what=f"call {step}")


CONV_CASES = [c.name for c in zoo.CASES.values() if c.name.startswith("conv1d") and not c.refuse]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv1d_on_large_inputs_matches_keras(keras_fixtures, case, monkeypatch):
    """Large inputs take Conv1D's one-product-per-tap path (conv.IM2COL_MAX_VALUES), small ones
    the gathered windows: both against Keras (the zoo's batches are all small)."""
    from npinfer.layers import conv

    fx = keras_fixtures["keras3"]
    batch = zoo.BATCH_SIZES[-1]
    monkeypatch.setattr(conv, "IM2COL_MAX_VALUES", 0)
    model = npinfer.load(str(fx.path(case, "keras")))
    actual = _predict(model, fx.inputs(case, batch))
    for got, want in zip(actual, fx.outputs(case, batch)):
        assert_close(got, want)
