"""The examples run, and the article's hand-written loop agrees with npinfer and Keras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import npinfer
from npinfer import demo
from npinfer.datafiles import drop_column, read_csv, sliding_windows
from parity import assert_close

EXAMPLES = Path(__file__).parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import article_by_hand  # noqa: E402


def test_the_article_loop_by_hand_matches_keras_and_npinfer():
    model = npinfer.load(demo.data_path("rnn_sample.keras"))
    windows = np.random.default_rng(3).normal(size=(11, 4, 3)).astype(np.float32)
    assert_close(article_by_hand.by_hand(model, windows), model.predict(windows)[:, 0])
    result = demo.run()
    sample = sliding_windows(drop_column(read_csv(demo.data_path("rnn_sample.csv")), "Y", "csv").values, 4)
    assert_close(article_by_hand.by_hand(model, sample.astype(np.float32)), result.keras)


def test_article_by_hand_script_runs():
    done = subprocess.run([sys.executable, str(EXAMPLES / "article_by_hand.py")], capture_output=True, text=True)
    assert done.returncode == 0 and "largest difference" in done.stdout


def test_streaming_example_matches_whole_prediction():
    done = subprocess.run([sys.executable, str(EXAMPLES / "streaming_sensor.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    difference = float(done.stdout.strip().splitlines()[-1].split("difference")[1].strip(" )"))
    assert difference <= 1e-6
