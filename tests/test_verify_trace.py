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
