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
from npinfer.spec import LayerSpec
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


EXPORTED_AT_LEAST = 315  # of the 341 zoo variants; the rest use masks or a custom layer


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
    assert "rnn_sample.keras" in text.splitlines()[0] and "Inputs: input_layer (None, 4, 3)" in text


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


def test_attention_tensor_arguments_are_refused_by_name(keras_fixtures):
    """MultiHeadAttention's attention_mask (and value_mask, key_mask) tensors are not exported."""
    path = keras_fixtures["keras3"].path("multi_head_attention_self", "keras")
    model = _attention_variant(path, {"attention_mask": (6, 6)})
    with pytest.raises(npinfer.UnsupportedLayerError, match=r"layer 'multi_head_attention' \(MultiHeadAttention\) "
                                                          r"cannot be exported: it is called with extra arguments \(attention_mask\)"):
        export_script(model, "/nonexistent/never.py")
