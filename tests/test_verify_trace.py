"""npinfer verify (against Keras, and against stored references without Keras) and trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer import verify as verify_module
from npinfer.cli import main
from parity import assert_close

FIXTURES = Path(__file__).parent / "fixtures"
LSTM = str(FIXTURES / "keras3" / "lstm_default" / "model.keras")
GRU_H5 = str(FIXTURES / "tf_keras" / "gru_reset_before" / "model.h5")
ARTICLE = str(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_against_keras_passes_and_a_tiny_tolerance_fails(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", LSTM, "--random", "6", "--plot", str(tmp_path / "parity.png"))
    assert code == 0 and "PASS lstm" in out and "against Keras 3" in out
    assert (tmp_path / "parity.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run(capsys, "verify", LSTM, "--random", "6", "--tolerance", "1e-12")
    assert code == 1 and "FAIL lstm" in out and "npinfer 0." in out and "reference 0." in out


def test_stored_references_verify_without_keras(capsys, tmp_path, monkeypatch):
    target = tmp_path / "gru.npz"
    code, out, _ = run(capsys, "convert", GRU_H5, "-o", str(target), "--with-reference", "--reference-samples", "5")
    assert code == 0 and "5 reference samples from Keras" in out
    stored = npinfer.load(target).spec.references
    assert stored["inputs"][0].shape[0] == 5
    assert_close(npinfer.load(target).predict(stored["inputs"][0]), stored["outputs"][0])
    monkeypatch.setattr(verify_module, "keras_available", lambda: False)
    code, out, _ = run(capsys, "verify", str(target))
    assert code == 0 and "stored in the file" in out and "PASS" in out
    code, _, err = run(capsys, "verify", str(target), "--random", "3")
    assert code == 1 and "stored inputs only" in err
    code, _, err = run(capsys, "verify", GRU_H5)
    assert code == 1 and "--with-reference" in err and "Traceback" not in err
    code, _, err = run(capsys, "convert", GRU_H5, "-o", str(tmp_path / "x.npz"), "--with-reference")
    assert code == 1 and "not installed" in err


def test_trace_records_every_gate_and_matches_the_model():
    model = npinfer.load(LSTM)
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32)
    record = model.trace(x, sample=2)
    (entry,) = record["layers"]
    (direction,) = entry["directions"]
    assert [s["time"] for s in direction["steps"]] == list(range(6))
    assert set(direction["steps"][0]) == {"time", "i", "f", "o", "candidate", "c", "h"}
    assert "c_t = f c_(t-1) + i candidate" in direction["equation"]
    assert_close(direction["steps"][-1]["h"], model.predict(x)[2])
    with pytest.raises(npinfer.NpinferError, match="sample 3 is out of range"):
        model.trace(x, sample=3)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_trace_command(capsys, tmp_path, fmt):
    np.save(tmp_path / "x.npy", np.random.default_rng(1).normal(size=(2, 4, 3)).astype(np.float32))
    code, out, _ = run(capsys, "trace", ARTICLE, "--input", str(tmp_path / "x.npy"), "--sample", "1", "--format", fmt,
                       "--plot", str(tmp_path / "trace.png"))
    assert code == 0 and (tmp_path / "trace.png").exists()
    if fmt == "json":
        record = json.loads(out)
        steps = record["layers"][0]["directions"][0]["steps"]
        assert len(steps) == 4 and len(steps[0]["h"]) == 3
    else:
        assert "h_t = activation(x_t W + h_(t-1) U + b)" in out and "t=  3" in out
    code, _, err = run(capsys, "trace", ARTICLE, "--input", str(tmp_path / "x.npy"), "--sample", "5")
    assert code == 1 and "out of range" in err and "Traceback" not in err


# -- masked models: the trace follows predict's masks (Masking, Embedding mask_zero) ------------

MASKED_CASES = [
    "mask_lstm_right_padded", "mask_gru_left_padded", "mask_simple_rnn_backwards", "mask_zero_output",
    "mask_bidirectional_lstm", "mask_bidirectional_left_padded_sequences", "embedding_mask_zero_lstm",
    "embedding_mask_bidirectional", "mask_through_merges",
]


def _direction_outputs(direction, layer) -> np.ndarray:
    """The outputs (steps, units) a direction gives, from its traced steps and mask alone, in the
    order it read the steps: h where the step is read; at a masked step zeros
    (zero_output_for_mask) or the previous output (zeros before the first step)."""
    outputs, previous = [], np.zeros_like(np.asarray(direction["steps"][0]["h"]))
    for step in direction["steps"]:
        if step["masked"]:
            previous = np.zeros_like(previous) if layer.config["zero_output_for_mask"] else previous
        else:
            previous = np.asarray(step["h"])
        outputs.append(previous)
    return np.stack(outputs)


def _layer_output(entry, parts, mode) -> np.ndarray:
    """The layer's (first) output for a batch of one, rebuilt from its directions' traces."""
    outs = []
    for direction, part in zip(entry["directions"], parts):
        seq = _direction_outputs(direction, part)
        if part.config["return_sequences"]:
            outs.append(seq[::-1] if len(parts) == 2 and part is parts[1] else seq)  # Bidirectional: backward to time order
        else:
            outs.append(seq[-1])
    if len(outs) == 1:
        return outs[0][None]
    merged = {"concat": lambda a, b: np.concatenate([a, b], axis=-1), "ave": lambda a, b: (a + b) / 2,
              "sum": lambda a, b: a + b, "mul": lambda a, b: a * b, None: lambda a, b: a}[mode](*outs)
    return merged[None]


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
@pytest.mark.parametrize("case", MASKED_CASES)
def test_trace_follows_masks_as_predict_and_keras_do(keras_fixtures, flavor, case):
    fixtures = keras_fixtures[flavor]
    model = npinfer.load(fixtures.path(case, "keras"))
    (x,) = fixtures.inputs(case, 7)
    expected = fixtures.outputs(case, 7)
    names = [layer.name for layer in model.layers if layer.class_name != "InputLayer"]
    batch = model.predict(x, outputs=names)
    seen_masked = 0
    for sample in range(x.shape[0]):
        record = model.trace(x, sample=sample)
        # the input's own mask: Masking(0.0) over feature vectors, or token id 0 with mask_zero
        keep = np.any(x[sample] != 0, axis=-1) if x.ndim == 3 else x[sample] != 0
        for entry in record["layers"]:
            layer = model.get_layer(entry["name"])
            whole = batch[entry["name"]]
            assert_close(entry["output"], (whole[0] if isinstance(whole, list) else whole)[sample : sample + 1],
                         what=f"{case} {entry['name']}")
            if "directions" not in entry:
                continue
            parts = [layer] if len(entry["directions"]) == 1 else [layer.forward, layer.backward]
            for direction, part in zip(entry["directions"], parts):
                assert np.array_equal(direction["mask"], keep), f"{direction['name']}: mask {direction['mask']}, input {keep}"
                assert direction["masked_output"] == ("zeros" if part.config["zero_output_for_mask"] else "the previous output")
                steps = direction["steps"]
                assert [s["masked"] for s in steps] == [not keep[s["time"]] for s in steps]
                states = [k for k in steps[0] if k in ("h", "c")]
                if steps[0]["masked"]:  # nothing read yet: the zero states carried over
                    assert not any(np.any(steps[0][k]) for k in states)
                for before, step in zip(steps, steps[1:]):
                    if step["masked"]:  # the states carried over unchanged
                        seen_masked += 1
                        for k in states:
                            assert np.array_equal(step[k], before[k]), f"{direction['name']} t={step['time']}: {k} changed"
            # every step's h, with the mask, gives exactly what predict gave for this layer
            assert_close(_layer_output(entry, parts, layer.config.get("merge_mode")), entry["output"], what=f"{case} {entry['name']} from its steps")
        # the traced final h against Keras's own output for that layer, where the model outputs it
        for j, ref in enumerate(model.spec.outputs):
            entry = next(e for e in record["layers"] if e["name"] == ref[0])
            if ref[2] == 0:
                assert_close(entry["output"][0], expected[j][sample], what=f"{case} output {j} vs Keras")
            layer = model.get_layer(ref[0])
            if "directions" not in entry or ref[2] >= len(entry["directions"]) or layer.config.get("merge_mode", None) is not None:
                continue  # a state output, or merged directions
            direction = entry["directions"][ref[2]]  # merge_mode None: output 0 forward, 1 backward
            part = layer if len(entry["directions"]) == 1 else [layer.forward, layer.backward][ref[2]]
            keras = expected[j][sample]
            read = [k for k, s in enumerate(direction["steps"]) if not s["masked"]]
            final_h = direction["steps"][-1]["h"]
            if part.config["return_sequences"]:
                keras = keras[::-1] if ref[2] == 1 else keras  # processing order
                if read:
                    assert_close(final_h, keras[read[-1]], what=f"{case} {direction['name']} final h vs Keras")
                    assert_close(_direction_outputs(direction, part), keras, what=f"{case} {direction['name']} vs Keras")
            elif read:
                assert_close(final_h, keras, what=f"{case} {direction['name']} final h vs Keras")
            if not read:
                assert not np.any(final_h)
    assert seen_masked > 0, "the fixture's inputs mask no step"


def test_trace_command_marks_masked_steps(capsys, tmp_path, keras_fixtures):
    fixtures = keras_fixtures["tf_keras"]
    (x,) = fixtures.inputs("mask_zero_output", 7)
    sample = next(i for i in range(x.shape[0]) if not np.all(np.any(x[i] != 0, axis=-1)))
    keep = np.any(x[sample] != 0, axis=-1)
    np.save(tmp_path / "x.npy", x)
    model = str(fixtures.path("mask_zero_output", "keras"))
    code, out, _ = run(capsys, "trace", model, "--input", str(tmp_path / "x.npy"), "--sample", str(sample), "--format", "json",
                       "--plot", str(tmp_path / "trace.png"))
    assert code == 0 and (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"
    direction = json.loads(out)["layers"][-1]["directions"][0]
    assert direction["mask"] == keep.tolist() and direction["masked_output"] == "zeros"
    assert [s["masked"] for s in direction["steps"]] == [not k for k in keep]
    code, out, _ = run(capsys, "trace", model, "--input", str(tmp_path / "x.npy"), "--sample", str(sample))
    masked = [str(t) for t in np.flatnonzero(~keep)]
    assert code == 0 and f"masked steps: {', '.join(masked)} (states carried over, output zeros)" in out
    assert out.count("[masked: states carried over]") == len(masked)


def test_tracing_a_stateful_model_starts_from_its_states_and_leaves_them_alone(keras_fixtures):
    """The trace of a stateful model starts from the states it carries; afterwards the model
    carries the same states as before (the next predict equals the one without a trace)."""
    fx = keras_fixtures["keras3"]
    data = fx.data("stateful_lstm")
    x0, x1 = data["stateful/0/x"], data["stateful/1/x"]
    traced, plain = npinfer.load(fx.path("stateful_lstm", "keras")), npinfer.load(fx.path("stateful_lstm", "keras"))
    traced.predict(x0)
    plain.predict(x0)
    expected = plain.predict(x1)  # the second call, continuing from the first call's states
    fresh = npinfer.load(fx.path("stateful_lstm", "keras")).predict(x1)  # the same call from zero states
    assert not np.allclose(expected, fresh)
    record = traced.trace(x1, sample=2)
    np.testing.assert_allclose(np.ravel(record["layers"][-1]["output"]), np.ravel(expected[2]), rtol=0, atol=1e-6)
    assert np.array_equal(traced.predict(x1), expected)  # the trace moved no state on
    with pytest.raises(npinfer.NpinferError, match="keeps states for a batch of 4, the input holds 3"):
        traced.trace(x1[:3])
    assert np.array_equal(traced.predict(x1[:4]), plain.predict(x1[:4]))  # a refused trace changes nothing either
