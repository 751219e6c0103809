"""Scoring on a Dask cluster: `npinfer.dask.predict(model, data, look_back=...)`.

The model travels once to each worker (as npinfer's own .npz bytes, scattered), each
partition is predicted where it lives, and a partition that needs the rows before it for
its look-back windows gets the last look_back - 1 rows of the partitions before it.
Partitions are re-cut on the tile boundaries of single-machine scoring (tiles.py), so the
result equals the single-machine result bit for bit. Tasks are pure, so when a worker dies
Dask reruns its tasks on the others. Needs the `dask` extra (dask[distributed]).
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import numpy as np

from .errors import InputError, NpinferError
from .tiles import chunk_size, piece_lengths, predict_tiles

_models: dict[str, Any] = {}  # on each worker: npz digest -> Model, loaded once


def _model_from(payload: tuple[str, bytes]):
    digest, data = payload
    model = _models.get(digest)
    if model is None:
        from . import load

        path = os.path.join(_scratch(), f"npinfer-{digest}.npz")
        if not os.path.exists(path):
            with open(path + ".part", "wb") as handle:
                handle.write(data)
            os.replace(path + ".part", path)
        model = _models[digest] = load(path)
    return model


def _scratch() -> str:
    import tempfile

    return tempfile.gettempdir()


def _predict_block(payload, head: np.ndarray | None, block: np.ndarray, look_back: int | None) -> np.ndarray:
    """Predictions for the windows that END in this block (all its rows without a look-back)."""
    model = _model_from(payload)
    rows = np.asarray(block)
    if look_back is None:
        return np.asarray(predict_tiles(model, rows))
    data = rows if head is None or len(head) == 0 else np.concatenate([np.asarray(head), rows])
    if len(data) < look_back:
        return np.empty((0,) + tuple(d or 0 for d in model.output_shape[1:]), model.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(data, look_back, axis=0).transpose(0, 2, 1)
    return np.asarray(predict_tiles(model, np.ascontiguousarray(windows)))


def _tail(blocks: list[np.ndarray], rows: int) -> np.ndarray:
    """The last `rows` rows of these blocks together (all of them when there are fewer)."""
    joined = np.concatenate([np.asarray(b) for b in blocks]) if blocks else np.empty((0, 0))
    return joined[max(0, len(joined) - rows):]


def _payload(model) -> tuple[str, bytes]:
    """The model as npinfer .npz bytes (what workers receive), with a digest naming it."""
    from .format import spec_bytes

    data = spec_bytes(model.spec)
    return hashlib.sha256(data).hexdigest()[:16], data


def as_dask_array(data, target: str | None = None):
    """A 2-D dask array (rows, features) from a dask array or a dask DataFrame (target left out)."""
    import dask.array as da

    if hasattr(data, "to_dask_array"):  # a dask DataFrame
        if target is not None:
            if target not in data.columns:
                raise InputError(f"no column named {target!r}; columns: {', '.join(map(str, data.columns))}")
            data = data.drop(columns=[target])
        data = data.to_dask_array(lengths=True)
    elif target is not None:
        raise InputError("target names a column of a dask DataFrame, not of an array")
    if not isinstance(data, da.Array):
        raise InputError(f"npinfer.dask.predict needs a dask array or DataFrame, got {type(data).__name__}")
    if any(np.isnan(c) for c in data.chunks[0]):
        data = data.compute_chunk_sizes()
    return data.rechunk({i: -1 for i in range(1, data.ndim)})


def predict(model, data, look_back: int | None = None, target: str | None = None, client=None):
    """Predictions as a dask array (rows or windows, output...), computed where the data lives.

    data: a dask array (rows, features), a dask array of ready inputs (samples, time,
    features), or a dask DataFrame. look_back: sliding windows over the rows, across
    partition boundaries. client: a distributed Client (default: the current one, if any).
    Partitions are re-cut to multiples of 4096 samples near their first partition's size."""
    import dask
    import dask.array as da

    from .batch import require_one_batch_first_input

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError("npinfer.dask.predict runs models with one input and one output")
    require_one_batch_first_input(model, "npinfer.dask.predict")
    x = as_dask_array(data, target)
    if look_back is not None and (isinstance(look_back, bool) or not isinstance(look_back, int) or look_back < 1):
        raise InputError(f"look_back must be a positive integer, got {look_back!r}")
    total = int(sum(x.chunks[0]))
    if total == 0:
        raise InputError("the data has no rows")
    if look_back is not None and total < look_back:
        raise InputError(f"{total} rows are fewer than the look-back of {look_back}: no complete window")
    aligned = piece_lengths(total, chunk_size(x.chunks[0][0]), look_back)
    if tuple(aligned) != tuple(x.chunks[0]):
        x = x.rechunk({0: tuple(aligned)})
    payload = _payload(model)
    client = client or _current_client()
    shared = client.scatter(payload, broadcast=True, hash=False) if client is not None else dask.delayed(payload, pure=True)
    blocks = list(x.to_delayed().ravel())
    lengths = list(x.chunks[0])
    out_tail = tuple(d if d is not None else 0 for d in model.output_shape[1:])
    pieces, start = [], 0
    for i, (block, length) in enumerate(zip(blocks, lengths)):
        head = None
        if look_back is not None and look_back > 1 and i:
            need, j, before = look_back - 1, i, []
            while need > 0 and j > 0:  # the rows just before this block, from as many blocks as it takes
                j -= 1
                before.insert(0, blocks[j])
                need -= lengths[j]
            head = dask.delayed(_tail)(before, look_back - 1)
        count = length if look_back is None else max(0, start + length - max(look_back - 1, start))
        task = dask.delayed(_predict_block, pure=True)(shared, head, block, look_back)
        pieces.append(da.from_delayed(task, shape=(count,) + out_tail, dtype=model.dtype))
        start += length
    return da.concatenate(pieces, axis=0)


def _current_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def connect(scheduler: str):
    """A distributed Client: `local:N` starts N local worker processes; anything else is an address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise NpinferError("--dask needs dask's distributed scheduler: pip install 'npinfer[dask]'") from None
    if scheduler.startswith("local:"):
        count = scheduler.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"--dask local:N needs a positive N, got {scheduler!r}")
        # one core per worker: npinfer inside a worker does not split batches over threads too
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=":0",
                               env={"NPINFER_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        return Client(cluster)
    return Client(scheduler, timeout=30)


def read_table(path: str, chunk_rows: int, look_back: int | None = None):
    """A lazy dask array or DataFrame for a .csv, .parquet or .npy file (.npy read in tile-aligned pieces)."""
    import dask.array as da
    import dask.dataframe as dd

    extension = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if extension == ".csv":
        from .batch import CsvRows

        header = CsvRows(path, None).columns is not None  # a header row, or numbers from the first line
        return dd.read_csv(path, blocksize="64MB", dtype="float64", header=0 if header else None)
    if extension in (".parquet", ".pq"):
        return dd.read_parquet(path)
    if extension == ".npy":  # each worker reads its own rows from the file (it must see the same path)
        import dask

        from .batch import _npy_layout

        with open(path, "rb") as handle:
            shape, dtype, offset = _npy_layout(handle, path)
        if not shape or shape[0] == 0:
            raise InputError(f"{path}: the array has no rows")
        pieces, start = [], 0
        for length in piece_lengths(shape[0], chunk_size(chunk_rows), look_back):
            task = dask.delayed(_read_npy_rows, pure=True)(path, offset, shape, dtype.str, start, start + length)
            pieces.append(da.from_delayed(task, shape=(length,) + shape[1:], dtype=dtype))
            start += length
        return da.concatenate(pieces, axis=0)
    raise InputError(f"{path}: input for --dask must be .csv, .parquet or .npy")


def _read_npy_rows(path: str, offset: int, shape: tuple, dtype: str, start: int, stop: int) -> np.ndarray:
    row = int(np.prod(shape[1:], dtype=np.int64))
    with open(path, "rb") as handle:
        handle.seek(offset + start * row * np.dtype(dtype).itemsize)
        values = np.fromfile(handle, dtype=dtype, count=(stop - start) * row)
    if values.size != (stop - start) * row:
        raise InputError(f"{path}: the file ends before row {stop}")
    return values.reshape((stop - start,) + tuple(shape[1:]))


def predict_file_on_dask(model, source: str, output: str | None, scheduler: str, look_back: int | None = None,
                         target: str | None = None, chunk_rows: int = 100_000, quiet: bool = False) -> int:
    """`npinfer predict ... --dask`: the file is read and predicted on the cluster, the output
    written here, partition by partition, atomically."""
    client = connect(scheduler)
    try:
        result = predict(model, read_table(source, chunk_rows, look_back), look_back=look_back, target=target, client=client)
        return write_predictions(client, result, output, model.output_names, quiet=quiet)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler.startswith("local:"):
            cluster.close()


RETRIES = 3


def write_predictions(client, result, output: str | None, names: list[str], quiet: bool = False) -> int:
    """Compute the partitions of `result` in parallel and write them in order (atomically).

    A partition lost with a dying worker is computed again (up to RETRIES times); if it still
    fails the run stops with an NpinferError and nothing is written. Returns the rows written."""
    from .batch import Progress, write_outputs

    expected = int(sum(result.chunks[0]))
    progress = Progress(expected, enabled=not quiet and sys.stderr.isatty())
    blocks = list(result.blocks)

    def partitions():
        futures = client.compute(blocks)  # all partitions run in parallel ...
        for i, future in enumerate(futures):  # ... and are written in order as they come back
            values = _result_with_retries(client, future, blocks[i], i)
            progress.update(len(values))
            yield [values]

    written = write_outputs(output, names, partitions(), progress)
    if written != expected:
        raise NpinferError(f"the cluster returned {written} predictions, expected {expected}")
    return written


def _result_with_retries(client, future, block, index: int) -> np.ndarray:
    for attempt in range(RETRIES + 1):
        try:
            values = future.result()
            future.release()
            return values
        except NpinferError:
            raise
        except Exception as err:  # lost workers surface as several distributed error types
            if attempt == RETRIES:
                raise NpinferError(f"partition {index} failed {RETRIES + 1} times on the cluster "
                                   f"({type(err).__name__}: {err}); nothing was written") from None
            future = client.compute(block)
    raise AssertionError("unreachable")
