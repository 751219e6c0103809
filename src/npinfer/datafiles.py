"""Reading prediction inputs (.npy, .npz, .csv) and writing outputs (.npy, .npz, .csv, stdout).

CSV sliding windows follow the article exactly: window i holds rows i .. i+look_back-1 of the
feature columns, for i = 0 .. rows-look_back, so 10 rows with look-back 4 give 7 windows.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
from dataclasses import dataclass

import numpy as np

from .atomic import atomic_write
from .csv_rows import CsvRows
from .errors import InputError


@dataclass
class Table:
    """A numeric CSV: column names (None without a header) and values (rows, columns)."""

    columns: list[str] | None
    values: np.ndarray


def read_csv(path: str) -> Table:
    """Parse a CSV of numbers with an optional header row (`-`: standard input); every other cell
    must be a number. The same reader as streamed prediction (csv_rows.CsvRows)."""
    rows = CsvRows(path, None)
    values = rows.read_all()
    if not len(values):
        raise InputError(f"{rows.path}: the CSV file has a header but no data rows")
    return Table(rows.columns, values)


def drop_column(table: Table, target: str, path: str) -> Table:
    """Leave out the target column, named by header name (or 0-based position without a header)."""
    if table.columns is not None:
        if target not in table.columns:
            raise InputError(f"{path}: no column named {target!r}; columns: {', '.join(table.columns)}")
        index = table.columns.index(target)
    else:
        if not target.isdigit() or int(target) >= table.values.shape[1]:
            raise InputError(f"{path}: the CSV has no header, so --target must be a column position 0..{table.values.shape[1] - 1}")
        index = int(target)
    keep = [j for j in range(table.values.shape[1]) if j != index]
    names = [table.columns[j] for j in keep] if table.columns else None
    return Table(names, table.values[:, keep])


def sliding_windows(values: np.ndarray, look_back: int) -> np.ndarray:
    """(rows, features) -> (rows - look_back + 1, look_back, features), as the article builds them."""
    if isinstance(look_back, bool) or not isinstance(look_back, int) or look_back < 1:
        raise InputError(f"look-back must be a positive integer, got {look_back!r}")
    rows = values.shape[0]
    if rows < look_back:
        raise InputError(f"{rows} rows are fewer than the look-back of {look_back}: no complete window")
    windows = np.lib.stride_tricks.sliding_window_view(values, look_back, axis=0)  # (windows, features, look_back)
    return np.ascontiguousarray(windows.transpose(0, 2, 1))


def read_input(path: str, look_back: int | None = None, target: str | None = None):
    """Model input from a file: an array, or a dict of arrays from a multi-array .npz."""
    extension = ".csv" if path == "-" else os.path.splitext(path)[1].lower()
    if extension == ".csv":
        table = read_csv(path)
        if target is not None:
            table = drop_column(table, target, path)
        return table.values if look_back is None else sliding_windows(table.values, look_back)
    if target is not None or look_back is not None:
        raise InputError("--look-back and --target apply to CSV input only")
    if extension not in (".npy", ".npz"):
        raise InputError(f"{path}: input must be .npy, .npz or .csv")
    if extension == ".npy":
        try:
            with open(path, "rb") as handle:
                npy_layout(handle, path)  # the header's shape checked against the file before np.load allocates
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read it as {extension} ({err})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        try:
            arrays = {name: loaded[name] for name in loaded.files}
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path}: cannot read it as .npz ({err})") from None
    if not arrays:
        raise InputError(f"{path}: the .npz holds no arrays")
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def npy_layout(handle, path: str):
    """(shape, dtype, data offset) from a .npy header, checked: no objects, no Fortran order, no
    negative sizes, and no more data declared than the file holds (nothing allocated yet)."""
    try:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(handle, max_header_size=1 << 16)
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise InputError(f"{path}: cannot read it as .npy ({err})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(f"{path}: holds {dtype} values, not numbers")
    if fortran and len(shape) > 1:
        raise InputError(f"{path}: a Fortran-ordered array; save it with np.save(path, np.ascontiguousarray(x))")
    if any(int(d) < 0 for d in shape):
        raise InputError(f"{path}: the .npy header declares the shape {tuple(shape)}, with a negative size")
    offset = handle.tell()
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    try:
        status = os.fstat(handle.fileno())
        held = status.st_size - offset if stat.S_ISREG(status.st_mode) else None  # a pipe's size is unknown
    except (OSError, AttributeError, io.UnsupportedOperation):
        held = None
    if held is not None and declared > held:
        raise InputError(f"{path}: the .npy header declares the shape {tuple(shape)} ({declared:,} bytes) but the file "
                         f"holds {held:,} bytes of data; it is truncated or not what it says")
    return tuple(shape), dtype, offset


def write_output(path: str | None, outputs: list[np.ndarray], names: list[str]) -> None:
    """Write predictions: .npy (one output), .npz (by output name), .csv or stdout (2-D outputs)."""
    extension = os.path.splitext(path)[1].lower() if path else ".csv"
    if extension == ".npz":
        with atomic_write(path) as handle:
            np.savez(handle, **_unique(names, outputs))
        return
    if extension == ".npy":
        if len(outputs) != 1:
            raise InputError(f"the model has {len(outputs)} outputs; write them to a .npz instead of .npy")
        with atomic_write(path) as handle:
            np.save(handle, outputs[0], allow_pickle=False)
        return
    if extension != ".csv":
        raise InputError(f"{path}: output must be .npy, .npz or .csv")
    text = _csv_text(outputs, names)
    if path is None:
        sys.stdout.write(text)
        return
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def _csv_text(outputs: list[np.ndarray], names: list[str]) -> str:
    header = []
    for name, array in zip(names, outputs):
        if array.ndim != 2:
            raise InputError(
                f"output '{name}' has shape {array.shape}; CSV holds one row per sample (2-D outputs): write a .npy or .npz"
            )
        header += [name] if array.shape[1] == 1 else [f"{name}_{j}" for j in range(array.shape[1])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in np.concatenate(outputs, axis=1):
        writer.writerow([repr(float(v)) if row.dtype == np.float64 else f"{v:.9g}" for v in row])
    return buffer.getvalue()


def _unique(names: list[str], outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    result: dict[str, np.ndarray] = {}
    for name, array in zip(names, outputs):
        key, n = name, 1
        while key in result:
            key, n = f"{name}_{n}", n + 1
        result[key] = array
    return result
