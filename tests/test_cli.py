"""The npinfer command: every subcommand, its exit codes, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer.cli import main
from npinfer.demo import data_path

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE = str(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras")
ARTICLE_H5_KERAS2 = str(FIXTURES / "tf_keras" / "article_simple_rnn" / "model.h5")
TWO_OUT = str(FIXTURES / "keras3" / "functional_two_inputs_two_outputs" / "model.keras")
SAMPLE = data_path("rnn_sample.csv")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summary(capsys):
    code, out, err = run(capsys, "summary", ARTICLE_H5_KERAS2)
    assert code == 0 and "simple_rnn (SimpleRNN)" in out and "Total params: 25" in out and "keras 2." in out


def test_convert_then_predict_from_npz(capsys, tmp_path):
    target = tmp_path / "article.npz"
    code, out, _ = run(capsys, "convert", ARTICLE, "-o", str(target))
    assert code == 0 and "25 parameters" in out
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, _ = run(capsys, "predict", str(target), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert code == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), npinfer.load(ARTICLE).predict(x))


def test_predict_csv_windows_to_stdout_and_csv(capsys, tmp_path):
    code, out, _ = run(capsys, "predict", data_path("rnn_sample.keras"), SAMPLE, "--look-back", "4", "--target", "Y")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "dense" and len(lines) == 8
    code, _, err = run(capsys, "predict", data_path("rnn_sample.keras"), SAMPLE, "--look-back", "4", "--target", "Y",
                       "-o", str(tmp_path / "y.csv"))
    assert code == 0 and (tmp_path / "y.csv").read_text().splitlines() == lines
    assert "wrote" in err


def test_predict_multi_output_npz(capsys, tmp_path):
    np.savez(tmp_path / "x.npz", sequence=np.ones((3, 6, 3)), static=np.ones((3, 4)))
    code, _, _ = run(capsys, "predict", TWO_OUT, str(tmp_path / "x.npz"), "-o", str(tmp_path / "y.npz"))
    assert code == 0
    with np.load(tmp_path / "y.npz") as y:
        assert y["forecast"].shape == (3, 2) and y["score"].shape == (3, 1)


@pytest.mark.parametrize("argv,code,message", [
    (["summary", "missing.keras"], 1, "cannot read the model: missing.keras: no such file"),
    (["predict", ARTICLE, SAMPLE], 2, "give --look-back N for table input (this model reads 4 steps: --look-back 4)"),
    (["predict", ARTICLE, SAMPLE, "--look-back", "4"], 1, "if one is the target, leave it out with --target COLUMN"),
    (["predict", ARTICLE, SAMPLE, "--look-back", "40", "--target", "Y"], 1, "fewer than the look-back of 40"),
    (["predict", ARTICLE, SAMPLE, "--look-back", "4", "--target", "Z"], 1, "no column named 'Z'"),
    (["predict", TWO_OUT, "x.npy", "-o", "y.npy"], 1, "no such file"),
])
def test_errors_are_one_line_with_exit_codes(capsys, tmp_path, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    got, out, err = run(capsys, *argv)
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("npinfer:")]) == 1


def test_failed_run_leaves_no_output_file(capsys, tmp_path):
    target = tmp_path / "y.csv"
    np.save(tmp_path / "x.npy", np.ones((2, 5, 3)))  # wrong time length
    code, _, err = run(capsys, "predict", ARTICLE, str(tmp_path / "x.npy"), "-o", str(target))
    assert code == 1 and "expects shape (None, 4, 3)" in err
    assert not target.exists() and os.listdir(tmp_path) == ["x.npy"]


def test_an_existing_output_survives_a_failed_write(capsys, tmp_path):
    target = tmp_path / "y.csv"
    target.write_text("precious\n")
    np.save(tmp_path / "x.npy", np.ones((2, 4, 3)))
    np.savez(tmp_path / "x2.npz", a=np.ones((2, 4, 3)))
    code, _, _ = run(capsys, "predict", TWO_OUT, str(tmp_path / "x.npy"), "-o", str(target))
    assert code == 1 and target.read_text() == "precious\n"


def test_refuses_to_overwrite_its_input(capsys, tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(Path(ARTICLE).read_bytes())
    code, _, err = run(capsys, "convert", str(model), "-o", str(model))
    assert code == 2 and "is the input file" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["predict"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["predict", ARTICLE, SAMPLE, "--look-back", "0"])
    assert caught.value.code == 2


def test_debug_environment_variable_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("NPINFER_DEBUG", "1")
    code, _, err = run(capsys, "summary", "missing.keras")
    assert code == 1 and "Traceback" in err


def test_demo_prints_the_article_comparison(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "largest difference" in out and "npinfer matches Keras" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 7


def test_demo_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--plot", str(tmp_path / "parity.png"))
    assert code == 0 and (tmp_path / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_plot_without_matplotlib_says_how_to_get_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(capsys, "demo", "--plot", str(tmp_path / "parity.png"))
    assert code == 1 and "pip install matplotlib" in err and "largest difference" in out
    assert not (tmp_path / "parity.png").exists()


def test_console_script_runs_the_demo():
    done = subprocess.run([sys.executable, "-m", "npinfer.cli", "demo"], capture_output=True, text=True)
    assert done.returncode == 0 and "npinfer matches Keras" in done.stdout


def test_demo_numbers_match_the_recorded_keras_predictions():
    from npinfer import demo

    from parity import assert_close

    result = demo.run()
    assert result.npinfer.shape == (7,)
    assert_close(result.npinfer, result.keras)
