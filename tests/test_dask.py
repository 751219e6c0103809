"""npinfer.dask on a real distributed.LocalCluster with 2 worker processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

import npinfer
import npinfer.dask as npdask
from npinfer.batch import predict_chunks
from npinfer.errors import InputError
from npinfer.tiles import CHUNK_UNIT
from parity import assert_close

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE = npinfer.load(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras")  # (None, 4, 3) -> (None, 1)
LSTM = npinfer.load(FIXTURES / "tf_keras" / "lstm_variable_time" / "model.h5")  # (None, None, 4) -> (None, 5)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


def _single_machine(model, rows, look_back):
    """The single-machine result: the whole table in one chunk, on this process's threads."""
    expected = np.concatenate(list(predict_chunks(model, rows, look_back=look_back, chunk_rows=10**9)))
    windows = np.lib.stride_tricks.sliding_window_view(rows, look_back, axis=0).transpose(0, 2, 1)
    assert_close(expected, model.predict(np.ascontiguousarray(windows)), tolerance=1e-6)
    return expected


@pytest.mark.parametrize("chunk", [2, 13, 1000, 1500, 5000])
def test_dask_array_equals_single_machine_bit_for_bit(client, chunk):
    import dask.array as da

    rows = np.random.default_rng(chunk).normal(size=(2 * CHUNK_UNIT + 61, 3))
    result = npdask.predict(ARTICLE, da.from_array(rows, chunks=(chunk, 3)), look_back=4, client=client).compute()
    assert result.shape == (2 * CHUNK_UNIT + 58, 1)
    assert np.array_equal(result, _single_machine(ARTICLE, rows, 4))


def test_dask_dataframe_with_target_and_model_sent_once(client):
    import dask.dataframe as dd
    import pandas as pd

    values = np.random.default_rng(1).normal(size=(2 * CHUNK_UNIT + 300, 4))
    frame = dd.from_pandas(pd.DataFrame(values, columns=["X1", "X2", "X3", "Y"]), npartitions=5)
    result = npdask.predict(ARTICLE, frame, look_back=4, target="Y", client=client).compute()
    assert np.array_equal(result, _single_machine(ARTICLE, values[:, :3], 4))
    loaded = client.run(lambda: len(__import__("npinfer.dask").dask._models))
    assert all(count <= 2 for count in loaded.values()) and sum(loaded.values()) >= 1  # loaded once per worker and model


def test_refusals(client):
    import dask.array as da

    with pytest.raises(InputError, match="fewer than the look-back"):
        npdask.predict(ARTICLE, da.from_array(np.zeros((3, 3)), chunks=2), look_back=4, client=client)
    two_outputs = npinfer.load(FIXTURES / "keras3" / "functional_two_inputs_two_outputs" / "model.keras")
    with pytest.raises(InputError, match="one input and one output"):
        npdask.predict(two_outputs, da.zeros((4, 4)), client=client)
    with pytest.raises(InputError, match="dask array or DataFrame"):
        npdask.predict(ARTICLE, np.zeros((5, 3)), look_back=4, client=client)


def test_a_worker_dying_mid_run_does_not_lose_rows(client, tmp_path):
    import dask.array as da
    import threading

    rows = np.random.default_rng(2).normal(size=(6000, 4)).astype(np.float32)
    expected = _single_machine(LSTM, rows, 40)
    result = npdask.predict(LSTM, da.from_array(rows, chunks=(150, 4)), look_back=40, client=client)
    pids = client.run(os.getpid)
    killer = threading.Timer(0.5, os.kill, (next(iter(pids.values())), signal.SIGKILL))  # one worker dies mid-run
    killer.start()
    written = npdask.write_predictions(client, result, str(tmp_path / "y.npy"), LSTM.output_names, quiet=True)
    killer.join()
    assert written == len(expected)
    assert np.array_equal(np.load(tmp_path / "y.npy"), expected)


def test_cli_dask_local_cluster(tmp_path, capsys):
    from npinfer.cli import main

    values = np.random.default_rng(3).normal(size=(CHUNK_UNIT + 500, 4)).round(5)
    (tmp_path / "d.csv").write_text("X1,X2,X3,Y\n" + "\n".join(",".join(map(str, r)) for r in values) + "\n")
    code = main(["predict", str(FIXTURES / "keras3" / "article_simple_rnn" / "model.keras"), str(tmp_path / "d.csv"),
                 "--look-back", "4", "--target", "Y", "--dask", "local:2", "--quiet", "-o", str(tmp_path / "y.npy")])
    assert code == 0, capsys.readouterr().err
    assert np.array_equal(np.load(tmp_path / "y.npy"), _single_machine(ARTICLE, values[:, :3], 4))


def test_npy_read_by_workers_in_tile_aligned_pieces(client, tmp_path):
    rows = np.random.default_rng(5).normal(size=(3 * CHUNK_UNIT + 7, 3))
    np.save(tmp_path / "x.npy", rows)
    table = npdask.read_table(str(tmp_path / "x.npy"), 1500, look_back=4)
    assert table.chunks[0] == (CHUNK_UNIT + 3, CHUNK_UNIT, CHUNK_UNIT, 4)  # windows start on chunk boundaries: no re-cut needed
    result = npdask.predict(ARTICLE, table, look_back=4, client=client).compute()
    assert np.array_equal(result, _single_machine(ARTICLE, rows, 4))
