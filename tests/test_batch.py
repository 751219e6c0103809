"""Streaming file prediction: any chunking gives the whole-file result bit for bit; bad files name row and column."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer.batch import Progress, predict_chunks, predict_file
from npinfer.cli import main
from npinfer.errors import InputError
from npinfer import tiles
from npinfer.tiles import CHUNK_UNIT, piece_lengths, retiled

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE = npinfer.load(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras")  # (None, 4, 3) -> (None, 1)
LSTM = npinfer.load(FIXTURES / "keras3" / "lstm_default" / "model.keras")  # (None, 6, 4) -> (None, 5)
DENSE_LIKE = npinfer.load(FIXTURES / "keras3" / "functional_two_inputs_two_outputs" / "model.keras")
ROWS = 2 * CHUNK_UNIT + 555  # three chunk units, the last partial


def _table(rows=ROWS, seed=0):
    return np.random.default_rng(seed).normal(size=(rows, 4)).round(6)  # X1..X3 and a target Y


def _whole(values):
    """model.predict on every window of the file at once (Keras's way, one batch)."""
    windows = np.lib.stride_tricks.sliding_window_view(values[:, :3], 4, axis=0).transpose(0, 2, 1)
    return ARTICLE.predict(np.ascontiguousarray(windows))


def _at_once(model, rows, look_back):
    """The file in one chunk: the reference every chunking must reproduce bit for bit."""
    return np.concatenate(list(predict_chunks(model, rows, look_back=look_back, chunk_rows=10**9)))


def _write_csv(path, values, header=True):
    lines = (["X1,X2,X3,Y"] if header else []) + [",".join(repr(float(v)) for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("chunk_rows", [1, 3, 17, 1000, 1025, 5000])
def test_chunks_give_the_whole_file_result_bit_for_bit_for_csv_npy_and_parquet(tmp_path, chunk_rows):
    values = _table()
    expected = _at_once(ARTICLE, values[:, :3], 4)
    assert np.array_equal(expected, _whole(values))  # predict on all windows computes the same tiles
    _write_csv(tmp_path / "d.csv", values)
    np.save(tmp_path / "d.npy", values[:, :3])
    import pandas as pd

    pd.DataFrame(values, columns=["X1", "X2", "X3", "Y"]).to_parquet(tmp_path / "d.parquet")
    for source, target in ((tmp_path / "d.csv", "Y"), (tmp_path / "d.npy", None), (tmp_path / "d.parquet", "Y")):
        got = np.concatenate(list(predict_chunks(ARTICLE, source, look_back=4, target=target, chunk_rows=chunk_rows)))
        assert got.shape == expected.shape and np.array_equal(got, expected), f"{source.name} chunk_rows={chunk_rows}"


@pytest.mark.parametrize("tile_work", [None, 1e5])  # 4096-sample tiles, or 128 as for a heavy recurrent model
@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("chunk_rows", [7, 8192])
def test_thread_count_and_chunking_do_not_change_a_bit(monkeypatch, tile_work, threads, chunk_rows):
    if tile_work is not None:
        monkeypatch.setattr(tiles, "TILE_WORK", tile_work)
    rows = np.random.default_rng(4).normal(size=(2 * CHUNK_UNIT + 9, 4))
    windows = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(rows, 6, axis=0).transpose(0, 2, 1))
    assert tiles.tile_size(LSTM, [windows]) == (4096 if tile_work is None else tiles.SMALLEST_TILE)
    expected = _at_once(LSTM, rows, 6)
    monkeypatch.setattr(LSTM, "_tiles", {})  # (a model keeps its tile sizes per sample shape; TILE_WORK is patched)
    assert np.array_equal(expected, LSTM.predict(windows))  # predict computes the same tiles
    monkeypatch.setenv("NPINFER_THREADS", threads)
    got = np.concatenate(list(predict_chunks(LSTM, rows, look_back=6, chunk_rows=chunk_rows)))
    assert np.array_equal(got, expected)


def test_retiled_cuts_rows_on_tile_boundaries():
    chunks = [np.arange(a, b) for a, b in ((0, 5), (5, 6), (6, 30), (30, 31))]
    pieces = list(retiled(iter(chunks), size=8, first_extra=3))
    assert [len(p) for p in pieces] == [11, 8, 8, 4] == piece_lengths(31, 8, 4)
    assert np.array_equal(np.concatenate(pieces), np.arange(31))
    assert piece_lengths(5, 8, None) == [5] and piece_lengths(16, 8, None) == [8, 8]


def test_arrays_and_dataframes(tmp_path):
    import pandas as pd

    values = _table()
    expected = _at_once(ARTICLE, values[:, :3], 4)
    frame = pd.DataFrame(values, columns=["X1", "X2", "X3", "Y"])
    assert np.array_equal(np.concatenate(list(predict_chunks(ARTICLE, frame, look_back=4, target="Y", chunk_rows=7))), expected)
    assert np.array_equal(np.concatenate(list(predict_chunks(ARTICLE, values[:, :3], look_back=4, chunk_rows=9))), expected)


@pytest.mark.parametrize("ext", [".csv", ".npy", ".parquet"])
def test_output_formats_written_atomically(tmp_path, ext):
    values = _table()
    _write_csv(tmp_path / "d.csv", values)
    out = tmp_path / f"y{ext}"
    written = predict_file(ARTICLE, str(tmp_path / "d.csv"), str(out), look_back=4, target="Y", chunk_rows=10, quiet=True)
    assert written == len(values) - 3
    expected = _at_once(ARTICLE, values[:, :3], 4)
    if ext == ".npy":
        got = np.load(out)
    elif ext == ".csv":
        got = np.loadtxt(out, delimiter=",", skiprows=1, dtype=np.float32).reshape(-1, 1)
    else:
        import pandas as pd

        got = pd.read_parquet(out).to_numpy()
    assert got.dtype == np.float32 and np.array_equal(got, expected)  # 9 significant digits round-trip a float32
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["d.csv", out.name])


@pytest.mark.parametrize("text,message", [
    ("X1,X2,X3,Y\n1,2,3,4\n1,2,3\n", "line 3 has 3 values, expected 4"),
    ("X1,X2,X3,Y\n1,2,3,4\n1,x,3,4\n", "line 3, column 'X2': 'x' is not a number"),
    ("X1,X2,X3,Y\n1,2,3,4\n1,2,3,4\n", "2 rows are fewer than the look-back of 4"),
    ("X1,X2,Y\n1,2,3\n", "the model reads 3 features but the table has 2 columns"),
])
def test_bad_files_name_row_and_column_and_write_nothing(tmp_path, text, message):
    (tmp_path / "d.csv").write_text(text)
    out = tmp_path / "y.csv"
    with pytest.raises(InputError, match=message):
        predict_file(ARTICLE, str(tmp_path / "d.csv"), str(out), look_back=4, target="Y", quiet=True)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_missing_parquet_value_names_row_and_column(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(_table(10), columns=["X1", "X2", "X3", "Y"])
    frame.loc[6, "X2"] = None
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(InputError, match="row 7, column 'X2': the value is missing"):
        list(predict_chunks(ARTICLE, tmp_path / "d.parquet", look_back=4, target="Y"))


def test_cli_streams_with_chunk_rows_and_quiet(tmp_path, capsys):
    values = _table(40)
    _write_csv(tmp_path / "d.csv", values)
    code = main(["predict", str(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras"), str(tmp_path / "d.csv"),
                 "--look-back", "4", "--target", "Y", "--chunk-rows", "6", "--quiet", "-o", str(tmp_path / "y.npy")])
    assert code == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), _at_once(ARTICLE, values[:, :3], 4))
    assert "37 predictions" in capsys.readouterr().err


def test_progress_bar_reports_rows_rate_and_time_left():
    stream = io.StringIO()
    progress = Progress(total=1000, enabled=True, stream=stream)
    progress.shown = -1e9
    progress.update(250)
    progress.finish()
    text = stream.getvalue()
    assert "250 rows" in text and "rows/s" in text and "25.0%" in text and "s left" in text and text.endswith("\n")
    quiet = io.StringIO()
    Progress(total=10, enabled=False, stream=quiet).update(5)
    assert quiet.getvalue() == ""
    assert sys.stderr is not None


def test_models_with_several_inputs_are_refused_for_streaming(tmp_path):
    with pytest.raises(InputError, match="2 inputs"):
        list(predict_chunks(DENSE_LIKE, np.zeros((3, 4))))


def test_batch_size_is_refused_for_streamed_files(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 4, 3)))
    code = main(["predict", str(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras"), str(tmp_path / "x.npy"),
                 "--batch-size", "2", "-o", str(tmp_path / "y.npy")])
    assert code != 0 and "--batch-size applies to .npz input" in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()
