"""Hostile data files and streams (issue 18 items 5-8): every one ends with a typed error naming
the file, or with the right predictions, read once with bounded memory."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer.cli import main
from npinfer.demo import data_path
from npinfer.spec import Call, LayerSpec, ModelSpec

ARTICLE = str(Path(__file__).parent / "fixtures" / "keras3" / "article_simple_rnn" / "model.keras")
SAMPLE = data_path("rnn_sample.csv")


def _npy_header(version: int, shape: str) -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
    size_bytes = 2 if version == 1 else 4
    header += " " * (64 - (len(header) + 6 + 2 + size_bytes + 1) % 64) + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode("latin1")


CASES = {
    "digits.csv": (b"a,b,c\n" + b"1" * 200_000 + b",2,3\n4,5,6\n", "line 2"),
    "long_cell.csv": (b"a,b,c\n" + b"1" * 100_000 + b",2,3\n4,5,6\n", "is not a number"),
    "invalid_utf8.csv": (b"a,b,c\n\xff\xfe,2,3\n", "not UTF-8"),
    "random.csv": (np.random.default_rng(0).bytes(200_000), "not UTF-8"),
    "endless_line.csv": (b"1," * 600_000, "longer than"),
    "huge_v2.npy": (_npy_header(2, "(1073741824, 3)") + b"\0" * 100, "declares the shape (1073741824, 3)"),
    "negative.npy": (_npy_header(1, "(-1, 4, 3)"), "negative size"),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("output", ["out.npy", "out.npz"])  # streamed, and read whole
def test_hostile_data_files_are_refused_naming_the_file(tmp_path, capsys, name, output):
    content, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(content)
    look_back = [] if name.endswith(".npy") else ["--look-back", "4"]
    code = main(["predict", ARTICLE, str(path), *look_back, "-o", str(tmp_path / output), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "internal error" not in err, err
    assert str(path) in err and expected in err, err


def test_a_link_to_dev_zero_as_csv_is_refused_not_read_forever(tmp_path, capsys):
    link = tmp_path / "zero.csv"
    os.symlink("/dev/zero", link)
    assert main(["predict", ARTICLE, str(link), "--look-back", "4", "--quiet"]) == 1
    assert "longer than" in capsys.readouterr().err


def test_parquet_timestamp_column_is_refused_by_name(tmp_path, capsys):
    import pandas as pd  # pandas and pyarrow are in the test extra
    path = tmp_path / "ts.parquet"
    pd.DataFrame({"t": pd.date_range("2020-01-01", periods=10, freq="h"), "a": np.arange(10.0), "b": np.ones(10),
                  "c": np.zeros(10)}).to_parquet(path)
    assert main(["predict", ARTICLE, str(path), "--look-back", "4", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "column 't' holds timestamp" in err and str(path) in err


def _expected_article_predictions() -> np.ndarray:
    model = npinfer.load(ARTICLE)
    from npinfer.datafiles import drop_column, read_csv, sliding_windows

    return model.predict(sliding_windows(drop_column(read_csv(SAMPLE), "Y", SAMPLE).values, 4)).ravel()


def test_fifo_and_standard_input_are_read_once(tmp_path):
    """A FIFO and `-` (standard input) are read in one pass, as they come, and predict the same
    numbers as the file; the progress shows rows done without a total."""
    expected = _expected_article_predictions()
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(Path(SAMPLE).read_bytes()))
    feeder.start()
    command = [sys.executable, "-m", "npinfer.cli", "predict", ARTICLE]
    done = subprocess.run(command + [str(fifo), "--look-back", "4", "--target", "Y"], capture_output=True, text=True,
                          timeout=120)
    feeder.join()
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.array(done.stdout.split()[1:], np.float32), expected.astype(np.float32))
    with open(SAMPLE, "rb") as stdin:
        done = subprocess.run(command + ["-", "--look-back", "4", "--target", "Y"], stdin=stdin, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.array(done.stdout.split()[1:], np.float32), expected.astype(np.float32))


def test_progress_without_a_total_shows_rows_done():
    import io

    from npinfer.batch import Progress

    stream = io.StringIO()
    progress = Progress(None, enabled=True, stream=stream)
    progress.update(1500)
    progress.finish()
    assert "1,500" in stream.getvalue() and "%" not in stream.getvalue()


@pytest.mark.parametrize("make", ["torch_save", "torch_save_legacy", "torchscript", "saved_model", "dev_zero", "none"])
def test_files_npinfer_does_not_read_are_named_for_what_they_are(tmp_path, make):
    if make == "none":
        with pytest.raises(npinfer.ModelFormatError, match="path of a model file"):
            npinfer.load(None)
        return
    expected = {"torch_save": "a PyTorch file", "torch_save_legacy": "Python pickle", "torchscript": "TorchScript",
                "saved_model": "TensorFlow SavedModel", "dev_zero": "not a regular file"}[make]
    if make.startswith("torch"):
        import torch  # in the test extra
        module = torch.nn.Linear(3, 2)
        path = tmp_path / "model.pt"
        if make == "torchscript":
            torch.jit.save(torch.jit.script(module), path)
        else:
            torch.save(module.state_dict(), path, _use_new_zipfile_serialization=make == "torch_save")
    elif make == "saved_model":
        path = tmp_path / "saved_model.pb"
        path.write_bytes(b"\x08\x01\x12\x04\x0a\x02\x08\x01")
    else:
        path = tmp_path / "z.onnx"
        os.symlink("/dev/zero", path)
    with pytest.raises(npinfer.ModelFormatError, match=expected) as info:
        npinfer.load(path)
    assert str(path) in str(info.value)
    if make.startswith("torch"):
        assert "from_torch" in str(info.value) and "torch.onnx.export" in str(info.value)


def _spec_error(tmp_path, kind: str) -> Path:
    x = LayerSpec("x", "InputLayer", {"shape": [None, 3]})
    dense = lambda name, source: LayerSpec(name, "Dense", {"units": 3}, {  # noqa: E731
        "kernel": np.ones((3, 3), np.float32), "bias": np.zeros(3, np.float32)}, [Call([(source, 0, 0)])])
    layers = {
        "cycle": [x, dense("a", "b"), dense("b", "a")],
        "duplicate": [x, dense("a", "x"), dense("a", "x")],
        "unsupported": [x, LayerSpec("w", "NoSuchLayer", {}, {}, [Call([("x", 0, 0)])])],
        "weight_shape": [x, LayerSpec("a", "Dense", {"units": 3}, {"kernel": np.ones((4, 3), np.float32),
                                                                    "bias": np.zeros(3, np.float32)}, [Call([("x", 0, 0)])])],
    }[kind]
    out = layers[-1].name
    from npinfer.format import save_spec

    path = tmp_path / f"{kind}.npz"
    save_spec(ModelSpec(kind, layers, [("x", 0, 0)], [(out, 0, 0)]), path)
    return path


@pytest.mark.parametrize("kind", ["cycle", "duplicate", "unsupported", "weight_shape"])
def test_every_load_error_names_the_file(tmp_path, capsys, kind):
    path = _spec_error(tmp_path, kind)
    with pytest.raises(npinfer.NpinferError) as info:
        npinfer.load(path)
    assert str(info.value).startswith(str(path)), info.value
    assert main(["summary", str(path)]) == 1
    assert str(path) in capsys.readouterr().err


def test_loading_pauses_the_garbage_collector_only_while_it_runs(tmp_path):
    """npinfer.load pauses Python's cyclic collector while it builds the graph (graph.gc_paused)
    and always turns it back on — after a refusal too — but never turns on one the caller had off."""
    import gc

    assert gc.isenabled()
    with pytest.raises(npinfer.NpinferError):
        npinfer.load(_spec_error(tmp_path, "cycle"))
    assert gc.isenabled()
    npinfer.load(ARTICLE).predict(np.ones((2, 4, 3), np.float32))
    assert gc.isenabled()
    gc.disable()
    try:
        npinfer.load(ARTICLE)
        assert not gc.isenabled()
    finally:
        gc.enable()
