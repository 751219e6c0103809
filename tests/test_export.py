"""npinfer export: the standalone NumPy script matches Keras for every zoo model it supports,
passes ruff, runs from the command line, and refuses the rest by layer name."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npinfer
import zoo
from npinfer.export import export_script
from npinfer.spec import Call, LayerSpec
from parity import as_list, assert_close

CASES = [(flavor, c.name) for c in zoo.CASES.values() if not c.refuse and not c.stateful for flavor in c.flavors]
_exported: dict = {}


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.mark.parametrize("flavor,case", CASES, ids=[f"{f}-{c}" for f, c in CASES])
def test_exported_script_matches_keras_or_is_refused_by_name(keras_fixtures, export_dir, flavor, case):
    fx = keras_fixtures[flavor]
    model = npinfer.load(fx.path(case, "keras"))
    target = export_dir / f"{flavor}_{case}.py"
    try:
        export_script(model, str(target), source_name=f"{case}.keras")
    except npinfer.UnsupportedLayerError as err:
        assert "cannot be exported" in str(err) or "masks" in str(err)
        _exported[(flavor, case)] = None
        return
    script = _load_script(target)
    for batch in (1, 7):
        inputs = fx.inputs(case, batch)
        for j, (got, expected) in enumerate(zip(as_list(script.predict(*inputs)), fx.outputs(case, batch))):
            assert_close(got, expected, what=f"exported output {j}")
    _exported[(flavor, case)] = target


EXPORTED_AT_LEAST = 362  # every zoo variant, the registered custom layer through its EXPORT_FUNCTION


def test_export_coverage_does_not_shrink_and_every_script_passes_ruff(keras_fixtures, tmp_path):
    """Refusals pass the parity test above, so count the exports: a layer or option that
    stops exporting fails here instead of passing silently. Every exported script (written
    here, whichever worker ran the parity tests) passes ruff."""
    exported, refused = [], []
    for flavor, case in CASES:
        model = npinfer.load(keras_fixtures[flavor].path(case, "keras"))
        target = tmp_path / f"{flavor}_{case}.py"
        try:
            export_script(model, str(target), weights="sidecar", source_name=f"{case}.keras")
            exported.append(target)
        except npinfer.UnsupportedLayerError as err:
            refused.append(f"{flavor}/{case}: {str(err).split('; export supports')[0]}")
    assert len(exported) >= EXPORTED_AT_LEAST, "\n".join(refused)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", *map(str, exported)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_export_command_and_script_cli(tmp_path):
    from npinfer.cli import main
    from npinfer.demo import data_path

    script = tmp_path / "predict_model.py"
    assert main(["export", data_path("rnn_sample.keras"), "-o", str(script)]) == 0
    done = subprocess.run([sys.executable, str(script), data_path("rnn_sample.csv"), "--look-back", "4", "--target", "Y"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from npinfer import demo

    assert_close(np.array([float(v) for v in done.stdout.split()], np.float32), demo.run().keras)
    text = script.read_text()
    assert "import npinfer" not in text and "h = activation(x_t @ W + h @ U + b)" in text
    assert "rnn_sample.keras" in text.splitlines()[0] and "Inputs: 'input_layer' (None, 4, 3)" in text


def test_sidecar_weights(tmp_path):
    model = npinfer.load(Path(__file__).parent / "fixtures" / "keras3" / "lstm_default" / "model.keras")
    written = export_script(model, str(tmp_path / "lstm.py"), weights="sidecar")
    assert [Path(p).name for p in written] == ["lstm.py", "lstm.npz"]
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32)
    assert_close(_load_script(tmp_path / "lstm.py").predict(x), model.predict(x))
    assert "WEIGHTS_BASE64" not in (tmp_path / "lstm.py").read_text()


def test_refusals_name_the_layer(keras_fixtures):
    model = npinfer.load(keras_fixtures["keras3"].path("stateful_lstm", "keras"))
    with pytest.raises(npinfer.UnsupportedLayerError, match=r"layer 'lstm' \(LSTM\) cannot be exported: it is stateful"):
        export_script(model, "/nonexistent/never.py")


def _attention_variant(path, inputs=None, **options):
    """The zoo model at `path` with its attention layer called with other call options (and,
    with `inputs`, extra tensor arguments read from new inputs {kwarg: shape}); return_attention_scores
    adds the weights as a second model output."""
    spec = copy.deepcopy(npinfer.load(path).spec)
    layer = next(entry for entry in spec.layers if "Attention" in entry.class_name)
    layer.inbound[0].options.update(options)
    for name, shape in (inputs or {}).items():
        spec.layers.insert(0, LayerSpec(name, "InputLayer", {"shape": [None, *shape], "dtype": "float32"}))
        spec.inputs = list(spec.inputs) + [(name, 0, 0)]
        layer.inbound[0].tensor_kwargs[name] = [(name, 0, 0)]
    if options.get("return_attention_scores"):
        spec.outputs = list(spec.outputs) + [(layer.name, 0, 1)]
    return npinfer.Model(spec)


ATTENTION_CASES = ["attention_dot", "attention_scaled_with_key", "attention_concat_score_causal", "additive_attention",
                   "multi_head_attention_self", "multi_head_attention_cross_key_causal", "multi_head_attention_causal_no_bias"]


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
@pytest.mark.parametrize("case", ATTENTION_CASES)
def test_exported_attention_scores_and_causal_masks_match_npinfer(keras_fixtures, tmp_path, flavor, case):
    """No zoo model returns attention scores, and not every one is causal: the exported script
    gives npinfer's own outputs, bit for bit, with both call options."""
    for causal in (False, True):
        model = _attention_variant(keras_fixtures[flavor].path(case, "keras"), use_causal_mask=causal,
                                   return_attention_scores=True)
        target = tmp_path / f"{case}_{causal}.py"
        export_script(model, str(target))
        script = _load_script(target)
        rng = np.random.default_rng(0)
        inputs = [rng.normal(size=(3, *t.shape[1:])).astype(np.float32) for t in model.inputs]
        got, expected = script.predict(*inputs), model.predict(inputs if len(inputs) > 1 else inputs[0])
        assert len(got) == len(expected) == 2
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
        assert "def multi_head_attention(" in target.read_text() or "def attend(" in target.read_text()


def test_attention_tensor_arguments_export_as_predict_runs_them(keras_fixtures, tmp_path):
    """MultiHeadAttention's attention_mask and value_mask tensors (once refused by export while
    predict took them): the script calls the same multi_head_attention function, so it gives
    npinfer's outputs bit for bit (the zoo's multi_head_attention_*_mask cases check Keras)."""
    for flavor in ("keras3", "tf_keras"):
        model = _attention_variant(keras_fixtures[flavor].path("multi_head_attention_self", "keras"),
                                   {"attention_mask": (6, 6), "value_mask": (6,)}, return_attention_scores=True)
        target = tmp_path / f"{flavor}.py"
        export_script(model, str(target))
        rng = np.random.default_rng(3)
        x = rng.normal(size=(5, 6, 8)).astype(np.float32)
        allowed = (rng.uniform(size=(5, 6, 6)) > 0.3).astype(np.float32)
        keep = (rng.uniform(size=(5, 6)) > 0.3).astype(np.float32)
        got, expected = _load_script(target).predict(x, allowed, keep), model.predict([x, allowed, keep])
        assert "attention_mask=inputs[1]" in target.read_text()
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def _layer(spec, name):
    return next(entry for entry in spec.layers if entry.name == name)


def _merges_keras3_extremes(spec):
    """Add / Multiply become Maximum / Minimum, and every merge follows Keras 3's mask rules."""
    _layer(spec, "add").class_name, _layer(spec, "multiply").class_name = "Maximum", "Minimum"
    for name in ("add", "multiply", "concatenate"):
        _layer(spec, name).config["semantics"] = "keras3"


def _merges_keras2_extremes(spec):
    _layer(spec, "add").class_name, _layer(spec, "multiply").class_name = "Maximum", "Minimum"


def _merges_with_an_unmasked_input(spec):
    """The GRU called a second time on the raw input (no mask): Multiply (Keras 3) and Concatenate
    then see one mask and one None; the last LSTM reads backwards, zeroing masked outputs, and
    returns its sequence and states."""
    gru = _layer(spec, "gru")
    gru.inbound.append(Call([(spec.inputs[0][0], 0, 0)]))
    for name in ("add", "multiply"):
        _layer(spec, name).config["semantics"] = "keras3"  # Concatenate keeps Keras 2's `all`: a real mask for lstm_1
    _layer(spec, "multiply").inbound[0].inputs[1] = ("gru", 1, 0)
    _layer(spec, "concatenate").inbound[0].inputs = [("gru", 1, 0), ("add", 0, 0)]  # no mask, then a mask
    lstm = _layer(spec, "lstm_1")
    lstm.config.update(return_sequences=True, return_state=True, go_backwards=True, zero_output_for_mask=True)
    spec.outputs = [("lstm_1", 0, 0), ("lstm_1", 0, 1), ("lstm_1", 0, 2), ("multiply", 0, 0)]


def _bidirectional_states_unmerged(spec):
    """The second Bidirectional keeps forward and backward apart and returns its states (all model outputs)."""
    second = _layer(spec, "bidirectional_1")
    second.config["merge_mode"] = None
    for part in ("layer", "backward_layer"):
        second.config[part]["config"]["return_state"] = True
    spec.outputs = [("dense", 0, 0), ("bidirectional_1", 0, 1), ("bidirectional_1", 0, 2), ("bidirectional_1", 0, 3)]


def _attention_causal_with_scores(spec):
    """The attention layer causal, its output (rows of masked queries zeroed) and scores model outputs too."""
    layer = next(entry for entry in spec.layers if "Attention" in entry.class_name)
    layer.inbound[0].options.update(use_causal_mask=True, return_attention_scores=True)
    spec.outputs = list(spec.outputs) + [(layer.name, 0, 0), (layer.name, 0, 1)]


def _attention_key_keras3_scores(spec):
    """MultiHeadAttention given a key (its mask too), Keras 3 semantics, causal, returning scores."""
    _attention_causal_with_scores(spec)
    layer = _layer(spec, "multi_head_attention")
    layer.config["semantics"] = "keras3"
    layer.inbound[0].inputs.append(layer.inbound[0].inputs[0])


def _without_explicit_masks(spec):
    """Keras 3's recorded mask arguments dropped: the pooling then sees the propagated mask,
    which MultiHeadAttention (Keras 3) removes from its inputs once it has run."""
    for entry in spec.layers:
        for call in entry.inbound:
            call.tensor_kwargs.pop("mask", None)


MASK_VARIANTS = [
    ("tf_keras", "mask_through_merges", _merges_keras3_extremes),
    ("tf_keras", "mask_through_merges", _merges_keras2_extremes),
    ("tf_keras", "mask_through_merges", _merges_with_an_unmasked_input),
    ("tf_keras", "mask_bidirectional_lstm", _bidirectional_states_unmerged),
    ("tf_keras", "attention_with_mask", _attention_causal_with_scores),
    ("tf_keras", "transformer_block_masked", _attention_causal_with_scores),
    ("tf_keras", "transformer_block_masked", _attention_key_keras3_scores),
    ("keras3", "transformer_block_masked", _without_explicit_masks),
]


@pytest.mark.parametrize("flavor,case,edit", MASK_VARIANTS, ids=[f"{c}-{e.__name__}" for _, c, e in MASK_VARIANTS])
def test_exported_masks_match_npinfer_beyond_the_zoo(keras_fixtures, tmp_path, flavor, case, edit):
    """Mask paths no zoo model takes (Keras 3 Maximum / Minimum / Multiply with masks, a merge
    with one unmasked input, zero_output_for_mask backwards with states, Bidirectional
    merge_mode None with states, causal attention under masks returning scores, a masked
    key): the exported script gives npinfer's outputs on left and right padded inputs."""
    fx = keras_fixtures[flavor]
    spec = copy.deepcopy(npinfer.load(fx.path(case, "keras")).spec)
    edit(spec)
    model = npinfer.Model(spec)
    target = tmp_path / "masked.py"
    export_script(model, str(target))
    script = _load_script(target)
    inputs = fx.inputs(case, 7)
    got, expected = as_list(script.predict(*inputs)), as_list(model.predict(inputs if len(inputs) > 1 else inputs[0]))
    assert len(got) == len(expected) == len(spec.outputs)
    for j, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, what=f"exported output {j}")


def test_exported_masked_scripts_read_as_written(keras_fixtures, tmp_path):
    """The masks are plain boolean arrays beside the tensors, passed to rnn()."""
    model = npinfer.load(keras_fixtures["tf_keras"].path("mask_lstm_right_padded", "keras"))
    export_script(model, str(tmp_path / "m.py"))
    text = (tmp_path / "m.py").read_text()
    assert "m_masking = np.any(inputs[0] != 0.0, axis=-1)" in text
    assert "return_sequences=True, mask=m_masking, zero_output_for_mask=False)" in text


def _two_masked_inputs_model(semantics):
    """Two token inputs through one Embedding (mask_zero; two calls, two different masks), every
    merge of the two and a Concatenate over time, each averaged over its unmasked steps."""
    from npinfer.spec import ModelSpec

    rng = np.random.default_rng(1)
    layers = [LayerSpec(name, "InputLayer", {"shape": [None, 6], "dtype": "int32"}) for name in ("a", "b")]
    layers.append(LayerSpec("embedding", "Embedding", {"input_dim": 5, "output_dim": 3, "mask_zero": True},
                            {"embeddings": rng.normal(size=(5, 3)).astype(np.float32)}, [Call([("a", 0, 0)]), Call([("b", 0, 0)])]))
    both = [("embedding", 0, 0), ("embedding", 1, 0)]
    outputs = []
    for kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
        config = {"semantics": semantics, **({"axis": 1} if kind == "Concatenate" else {})}
        layers.append(LayerSpec(kind.lower(), kind, config, {}, [Call(list(both))]))
        layers.append(LayerSpec(f"mean_{kind.lower()}", "GlobalAveragePooling1D", {}, {}, [Call([(kind.lower(), 0, 0)])]))
        outputs.append((f"mean_{kind.lower()}", 0, 0))
    return npinfer.Model(ModelSpec("two_masks", layers, [("a", 0, 0), ("b", 0, 0)], outputs))


@pytest.mark.parametrize("semantics", ["keras3", "keras2"])
def test_exported_merges_of_two_different_masks_match_npinfer(tmp_path, semantics):
    """Keras 3 ORs the masks (and keeps masked values out of Multiply, Maximum, Minimum);
    Keras 2 ANDs them; Concatenate over time joins them: with two different masks, the exported
    script gives npinfer's outputs."""
    model = _two_masked_inputs_model(semantics)
    export_script(model, str(tmp_path / "two.py"))
    script = _load_script(tmp_path / "two.py")
    rng = np.random.default_rng(2)
    ids = [rng.integers(0, 5, size=(9, 6)) for _ in range(2)]
    ids[0][:, 4:] = 0  # right padded
    ids[1][:, :2] = 0  # left padded
    ids[0][0] = ids[1][0] = 0  # one row masked everywhere
    got, expected = script.predict(*ids), model.predict(ids)
    assert len(got) == len(expected) == 7
    for j, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, what=f"exported output {j}")


def test_custom_layers_export_through_their_function_or_are_refused(keras_fixtures, tmp_path, monkeypatch):
    """A registered custom layer is written into the script by its class's EXPORT_FUNCTION (its
    source copied, called with inputs, weights and config); without one it is refused by name."""
    import custom_layers

    fx = keras_fixtures["keras3"]
    model = npinfer.load(fx.path("custom_layer_registered", "keras"))
    target = tmp_path / "custom.py"
    export_script(model, str(target))
    text = target.read_text()
    assert "def scale_shift(inputs, weights, config):" in text and "import npinfer" not in text
    script = _load_script(target)
    for got, expected in zip(as_list(script.predict(*fx.inputs("custom_layer_registered", 7))), fx.outputs("custom_layer_registered", 7)):
        assert_close(got, expected)
    monkeypatch.delattr(custom_layers.ScaleShift, "EXPORT_FUNCTION")
    with pytest.raises(npinfer.UnsupportedLayerError, match=r"\(zoo>ScaleShift\) cannot be exported: it is a registered custom layer without an EXPORT_FUNCTION"):
        export_script(model, str(tmp_path / "refused.py"))
