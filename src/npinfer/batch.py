"""Predicting files of any size: read in chunks, window across chunk boundaries, write as it goes.

Memory stays bounded by the chunk size, not the file size. With a look-back, the last
look_back - 1 rows of each chunk are carried into the next, so the windows are exactly those
of the whole file; the samples are computed in fixed tiles (tiles.py), so the predictions are
bit for bit the same whatever the chunk size (and the same as on Dask).

    for y in npinfer.predict_chunks(model, "sensors.csv", look_back=50, target="label"):
        ...
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from typing import Any, Iterator

import numpy as np

from .atomic import atomic_write
from .csv_rows import CsvRows
from .datafiles import npy_layout as _npy_layout, sliding_windows
from .errors import InputError
from .tiles import chunk_size, predict_tiles, retiled

DEFAULT_CHUNK_ROWS = 100_000


# -- sources: 2-D row chunks (rows, columns) -------------------------------------------------


class RowSource:
    """Rows of a table, chunk by chunk, the target column left out. `total` is the row count
    when known up front (for the progress bar)."""

    columns: list[str] | None = None
    total: int | None = None

    @property
    def features(self) -> int:
        """Columns the model sees (the target left out)."""
        raise NotImplementedError

    def chunks(self, chunk_rows: int) -> Iterator[np.ndarray]:
        raise NotImplementedError


class ArrayRows(RowSource):
    """An in-memory array (rows, columns), a pandas DataFrame, or a 3-D array of ready windows."""

    def __init__(self, data: Any, target: str | None):
        if hasattr(data, "to_numpy") and hasattr(data, "columns"):  # a pandas DataFrame
            columns = [str(c) for c in data.columns]
            if target is not None:
                if target not in columns:
                    raise InputError(f"no column named {target!r}; columns: {', '.join(columns)}")
                data = data.drop(columns=[target])
                columns.remove(target)
            self.columns = columns
            data = data.to_numpy()
        elif target is not None:
            raise InputError("--target names a column of a table (CSV, Parquet or DataFrame), not of an array")
        self.data = np.asarray(data)
        if self.data.dtype.kind not in "biuf":
            raise InputError(f"the data must be numbers, got {self.data.dtype}")
        self.total = len(self.data)

    @property
    def features(self) -> int:
        return self.data.shape[-1] if self.data.ndim >= 2 else 1

    def chunks(self, chunk_rows):
        for start in range(0, len(self.data), chunk_rows):
            yield np.asarray(self.data[start : start + chunk_rows])


class NpyRows(RowSource):
    """A .npy file read sequentially, one chunk at a time (no memory map: resident memory
    stays at one chunk however large the file)."""

    def __init__(self, path: str, target: str | None):
        if target is not None:
            raise InputError("--target names a column of a table (CSV or Parquet), not of a .npy array")
        self.path = path
        try:
            with open(path, "rb") as handle:
                self.shape, self.dtype, self.offset = _npy_layout(handle, path)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        self.total = self.shape[0] if self.shape else 0

    @property
    def features(self) -> int:
        return self.shape[-1] if len(self.shape) >= 2 else 1

    @property
    def data(self):  # the rank, for callers that ask whether the rows are ready windows
        return np.empty((0,) + self.shape[1:], self.dtype)

    def chunks(self, chunk_rows):
        row = int(np.prod(self.shape[1:], dtype=np.int64))
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            for start in range(0, self.total, chunk_rows):
                count = min(chunk_rows, self.total - start)
                values = np.fromfile(handle, dtype=self.dtype, count=count * row)
                if values.size != count * row:
                    raise InputError(f"{self.path}: the file ends before row {start + values.size // max(row, 1) + 1} of {self.total}")
                yield values.reshape((count,) + self.shape[1:])


class ParquetRows(RowSource):
    """A Parquet file read batch by batch with pyarrow (the `parquet` extra)."""

    def __init__(self, path: str, target: str | None):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("reading Parquet needs pyarrow: pip install 'npinfer[parquet]'") from None
        try:
            self.file = pq.ParquetFile(path)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except Exception as err:  # pyarrow raises its own error types for unreadable files
            raise InputError(f"{path}: cannot read it as Parquet ({type(err).__name__}: {err})") from None
        self.path = path
        self.columns = [c for c in self.file.schema_arrow.names]
        if target is not None:
            if target not in self.columns:
                raise InputError(f"{path}: no column named {target!r}; columns: {', '.join(self.columns)}")
            self.columns.remove(target)
        import pyarrow as pa

        for name in self.columns:  # numbers only: a timestamp, string or nested column is refused by name
            kind = self.file.schema_arrow.field(name).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
                raise InputError(f"{path}: column '{name}' holds {kind} values, not numbers; drop it or convert it "
                                 "to numbers first (or name it with --target if it is the target)")
        self.total = self.file.metadata.num_rows

    @property
    def features(self) -> int:
        return len(self.columns)

    def chunks(self, chunk_rows):
        start = 0
        for batch in self.file.iter_batches(batch_size=chunk_rows, columns=self.columns):
            values = np.empty((batch.num_rows, len(self.columns)), np.float64)
            for k, name in enumerate(self.columns):
                column = batch.column(name)
                if column.null_count:
                    row = next(i for i, v in enumerate(column.is_null().to_pylist()) if v)
                    raise InputError(f"{self.path}: row {start + row + 1}, column '{name}': the value is missing")
                try:
                    values[:, k] = column.to_numpy(zero_copy_only=False)
                except (TypeError, ValueError):
                    raise InputError(f"{self.path}: column '{name}' holds {column.type}, not numbers") from None
            start += batch.num_rows
            yield values


def open_rows(source: Any, target: str | None = None) -> RowSource:
    """A RowSource for a path (.csv, .npy, .parquet), an array or a DataFrame."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        extension = os.path.splitext(path)[1].lower()
        kinds = {".csv": CsvRows, ".npy": NpyRows, ".parquet": ParquetRows, ".pq": ParquetRows}
        if path == "-":  # standard input: CSV, read once as it comes
            return CsvRows(path, target)
        if extension not in kinds:
            raise InputError(f"{path}: streamed input must be .csv, .npy or .parquet")
        return kinds[extension](path, target)
    return ArrayRows(source, target)


# -- prediction ------------------------------------------------------------------------------


def windowed(chunks: Iterator[np.ndarray], look_back: int | None) -> Iterator[np.ndarray]:
    """Model inputs from row chunks: the rows themselves, or look-back windows that continue
    across chunk boundaries (the last look_back - 1 rows are carried over)."""
    if look_back is None:
        yield from chunks
        return
    carry = None
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        data = chunk if carry is None else np.concatenate([carry, chunk])
        if len(data) >= look_back:
            yield sliding_windows(data, look_back)  # (windows, look_back, features)
        carry = data[max(0, len(data) - (look_back - 1)):]  # the rows the next windows start in
    if seen < look_back:
        raise InputError(f"{seen} rows are fewer than the look-back of {look_back}: no complete window")


def predict_chunks(model, source: Any, look_back: int | None = None, target: str | None = None,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator:
    """Predictions chunk by chunk for an array, a pandas DataFrame or a file path (.csv, .npy,
    .parquet); with `look_back`, sliding windows as the article builds them, across chunks.

    Yields what `model.predict` returns for each chunk of samples (chunk_rows rounded down
    to a multiple of 4096, at least 4096). Joined, they are bit for bit the same for any
    chunk_rows, and equal model.predict on all windows at once up to float rounding (~1e-7)."""
    require_one_batch_first_input(model, "chunked prediction")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InputError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    rows = open_rows(source, target)
    for x in tiled_inputs(rows, chunk_rows, look_back):
        yield predict_tiles(model, x)


def require_one_batch_first_input(model, what: str) -> None:
    """Refuse models that a table of rows cannot feed: several inputs, or a time-major input."""
    if len(model.inputs) != 1:
        raise InputError(f"the model has {len(model.inputs)} inputs; {what} reads one table")
    if not model.batch_first:
        raise InputError(f"the model takes its batch on another axis than 0 (time-major input) or does not say which; "
                         f"{what} needs the batch on axis 0")


def tiled_inputs(rows: RowSource, chunk_rows: int, look_back: int | None, counted=None) -> Iterator[np.ndarray]:
    """Model inputs whose chunks start on tile boundaries (see tiles.py)."""
    chunks = rows.chunks(chunk_rows)
    if counted is not None:
        chunks = counted(chunks)
    first_extra = look_back - 1 if look_back else 0
    return windowed(retiled(chunks, chunk_size(chunk_rows), first_extra), look_back)


# -- writing as it goes ------------------------------------------------------------------------


class Progress:
    """rows done, rows per second and time left, on stderr, when it is a terminal."""

    def __init__(self, total: int | None, enabled: bool, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.shown = 0.0

    def update(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if not self.enabled or now - self.shown < 0.2:
            return
        self.shown = now
        rate = self.done / max(now - self.start, 1e-9)
        text = f"\r{self.done:,} rows  {rate:,.0f} rows/s"
        if self.total:
            left = max(self.total - self.done, 0) / max(rate, 1e-9)
            text += f"  {100 * min(self.done / self.total, 1):5.1f}%  {left:,.0f} s left"
        self.stream.write(text + "   ")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.start
            self.stream.write(f"\r{self.done:,} rows in {elapsed:,.1f} s ({self.done / max(elapsed, 1e-9):,.0f} rows/s)      \n")
            self.stream.flush()


class OutputWriter:
    """Appends prediction chunks to a .csv, .npy or .parquet file, or CSV on stdout."""

    def __init__(self, handle, path: str | None, names: list[str]):
        self.handle = handle
        self.path = path
        self.names = names
        self.kind = os.path.splitext(path)[1].lower() if path else ".csv"
        self.rows = 0
        self.shape = None
        self.dtype = None
        self.parquet = None
        if self.kind not in (".csv", ".npy", ".parquet", ".pq"):
            raise InputError(f"{path}: output must be .csv, .npy or .parquet")

    def write(self, outputs: list[np.ndarray]) -> None:
        if self.kind == ".npy":
            if len(outputs) != 1:
                raise InputError(f"the model has {len(outputs)} outputs; write them to .csv or .parquet instead of .npy")
            self._npy(outputs[0])
            return
        for name, array in zip(self.names, outputs):
            if array.ndim != 2:
                raise InputError(f"output '{name}' has shape {array.shape}; a table holds one row per sample: write a .npy")
        table = np.concatenate(outputs, axis=1)
        columns = [name if a.shape[1] == 1 else f"{name}_{j}" for name, a in zip(self.names, outputs) for j in range(a.shape[1])]
        if self.kind == ".csv":
            self._csv(table, columns)
        else:
            self._parquet(table, columns)
        self.rows += len(table)

    def _csv(self, table, columns) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if self.rows == 0 and self.shape is None:
            writer.writerow(columns)
            self.shape = ()
        for row in table:
            writer.writerow([f"{v:.9g}" if table.dtype == np.float32 else repr(float(v)) for v in row])
        self.handle.write(text.getvalue().encode("utf-8"))

    def _npy(self, array) -> None:
        if self.shape is None:
            self.shape, self.dtype = array.shape[1:], array.dtype
            self.handle.write(_npy_header((0,) + self.shape, self.dtype))
        elif array.shape[1:] != self.shape:
            raise InputError(f"output chunks changed shape: {array.shape[1:]} after {self.shape}")
        self.handle.write(np.ascontiguousarray(array, self.dtype).tobytes())
        self.rows += len(array)

    def _parquet(self, table, columns) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        batch = pa.table({name: table[:, j] for j, name in enumerate(columns)})
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.handle, batch.schema)
        self.parquet.write_table(batch)

    def close(self) -> None:
        if self.kind == ".npy" and self.shape is not None:
            self.handle.seek(0)
            self.handle.write(_npy_header((self.rows,) + self.shape, self.dtype))
        if self.parquet is not None:
            self.parquet.close()


NPY_HEADER_BYTES = 256


def _npy_header(shape: tuple, dtype) -> bytes:
    """A version 1.0 .npy header padded to a fixed size, so it can be rewritten with the final row count."""
    header = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
    room = NPY_HEADER_BYTES - 10 - 1
    if len(header) > room:
        raise InputError(f"an output of shape {shape} is too large for a streamed .npy")
    return b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little") + (header.ljust(room) + "\n").encode("latin-1")


def predict_file(model, source: str, output: str | None, look_back: int | None = None, target: str | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, quiet: bool = False) -> int:
    """Stream `source` through the model into `output` (atomically: the file appears only when
    complete; stdout gets CSV as it goes). Returns the number of predictions written."""
    require_one_batch_first_input(model, "streamed prediction")
    rows = open_rows(source, target)
    check_columns(model, rows, source, look_back, target)
    progress = Progress(rows.total, enabled=not quiet and sys.stderr.isatty())
    results = (predict_tiles(model, x) for x in tiled_inputs(rows, chunk_rows, look_back, lambda chunks: _counted(chunks, progress)))
    return write_outputs(output, model.output_names, (r if isinstance(r, list) else [r] for r in results), progress)


def write_outputs(output: str | None, names: list[str], results: Iterator[list[np.ndarray]], progress: Progress) -> int:
    """Write each chunk's outputs (a list of arrays) as it comes: to `output` atomically (the
    file appears only when complete), or as CSV on stdout. Returns the rows written."""

    def run(handle) -> int:
        writer = OutputWriter(handle, output, names)
        for outputs in results:
            writer.write(outputs)
        writer.close()
        return writer.rows

    if output is None:
        written = run(_StdoutBytes())
    else:
        with atomic_write(output) as handle:
            written = run(handle)
    progress.finish()
    return written


def check_columns(model, rows: RowSource, source, look_back, target) -> None:
    """Refuse a table whose column count does not fit the model, before anything is read."""
    width = rows.features
    shape = model.inputs[0].shape
    ready_windows = isinstance(rows, (ArrayRows, NpyRows)) and rows.data.ndim == 3
    if len(shape) == 3 and look_back is None and not ready_windows:
        steps = f" (this model reads {shape[1]} steps: --look-back {shape[1]})" if shape[1] else ""
        raise InputError(f"the model reads sequences (batch, time, features): give a look-back for table input{steps}")
    expected = shape[-1]
    if width is not None and expected is not None and width != expected:
        hint = "; if one is the target, leave it out with --target COLUMN" if width == expected + 1 and target is None else ""
        raise InputError(f"{source}: the model reads {expected} features but the table has {width} columns{hint}")


def _counted(chunks, progress: Progress):
    for chunk in chunks:
        progress.update(len(chunk))
        yield chunk


class _StdoutBytes:
    def write(self, data: bytes) -> None:
        sys.stdout.write(data.decode("utf-8"))

    def seek(self, position: int) -> None:
        raise InputError("a .npy cannot be written to stdout")
