"""The one CSV reader: a file (or `-`, standard input) of numbers with an optional header row,
read once, front to back, chunk by chunk, with bounded memory.

Every line is read with a length limit (MAX_LINE_CHARS) before the csv module splits it, so a
line without an end (/dev/zero, a file of one endless line) cannot grow without bound; cells are
parsed into float64. A FIFO or standard input is read once, as it comes: the row count is known
up front (for the progress bar) only for regular files, by a quick count of their line ends.
Bad input (invalid UTF-8, a cell that is not a number, a ragged row, an over-long line) is an
InputError naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
from typing import Iterator

import numpy as np

from .errors import InputError

MAX_LINE_CHARS = 1 << 20  # one CSV line (a row of numbers); longer lines are refused
MAX_CELL_CHARS = 1000  # one cell: a float needs far fewer digits


def is_number(cell: str) -> bool:
    """Whether a CSV cell holds a number (float() reads it; digits bounded)."""
    if len(cell) > MAX_CELL_CHARS:
        return False
    try:
        float(cell)
        return True
    except ValueError:
        return False


class CsvRows:
    """Rows of a CSV of numbers, the target column left out; `chunks(n)` yields (rows, columns)
    float64 arrays. `columns` holds the header's names (None without one); `total` the number
    of data rows when it can be known without reading the stream (a regular file), else None."""

    def __init__(self, path: str, target: str | None):
        self.path = "standard input" if path == "-" else path
        self.handle = _open_text(path)
        self.reader = csv.reader(self._lines())
        self.line = 0
        first = self._next_row()
        if first is None:
            self.handle.close()
            raise InputError(f"{self.path}: the CSV file is empty")
        if all(is_number(cell) for cell in first[1]):
            self.columns, self.pending = None, first
            self.width = len(first[1])
        else:
            self.columns, self.pending = [c.strip() for c in first[1]], None
            self.width = len(self.columns)
        self.keep = list(range(self.width))
        if target is not None:
            if self.columns is not None:
                if target not in self.columns:
                    raise InputError(f"{self.path}: no column named {target!r}; columns: {', '.join(self.columns)}")
                drop = self.columns.index(target)
            elif target.isdigit() and int(target) < self.width:
                drop = int(target)
            else:
                raise InputError(f"{self.path}: the CSV has no header, so --target must be a column position 0..{self.width - 1}")
            self.keep.remove(drop)
        lines = _count_lines(path)
        self.total = None if lines is None else lines - (1 if self.columns else 0)

    @property
    def features(self) -> int:
        return len(self.keep)

    def _lines(self) -> Iterator[str]:
        """The file's lines, each read with a length limit (the csv module gets no unbounded line)."""
        while True:
            try:
                line = self.handle.readline(MAX_LINE_CHARS + 2)
            except UnicodeDecodeError as err:
                raise InputError(f"{self.path}: is not UTF-8 text ({err.reason}, after line {self.line}); npinfer "
                                 "reads CSV files of numbers in UTF-8") from None
            if not line:
                return
            if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
                raise InputError(f"{self.path}: line {self.line + 1} is longer than {MAX_LINE_CHARS:,} characters; "
                                 "this is not a CSV of numbers")
            yield line

    def _next_row(self):
        try:
            for row in self.reader:
                self.line += 1
                if any(cell.strip() for cell in row):
                    return self.line, row
        except csv.Error as err:
            raise InputError(f"{self.path}: line {self.line + 1} is not readable CSV ({err})") from None
        return None

    def chunks(self, chunk_rows: int) -> Iterator[np.ndarray]:
        try:
            while True:
                rows = []
                if self.pending is not None:
                    rows.append(self.pending)
                    self.pending = None
                while len(rows) < chunk_rows:
                    row = self._next_row()
                    if row is None:
                        break
                    rows.append(row)
                if not rows:
                    return
                yield self._parse(rows)
        finally:
            self.handle.close()

    def read_all(self) -> np.ndarray:
        """Every data row as one (rows, columns) array."""
        parts = list(self.chunks(1 << 16))
        return np.concatenate(parts) if parts else np.empty((0, len(self.keep)), np.float64)

    def _parse(self, rows) -> np.ndarray:
        values = np.empty((len(rows), len(self.keep)), np.float64)  # (rows, kept columns)
        for i, (number, row) in enumerate(rows):
            if len(row) != self.width:
                raise InputError(f"{self.path}: line {number} has {len(row)} values, expected {self.width}")
            for k, j in enumerate(self.keep):
                cell = row[j]
                try:
                    if len(cell) > MAX_CELL_CHARS:
                        raise ValueError
                    values[i, k] = float(cell)
                except ValueError:
                    name = f"'{self.columns[j]}'" if self.columns else str(j + 1)
                    shown = cell.strip() if len(cell) <= 40 else cell.strip()[:40] + f"... ({len(cell):,} characters)"
                    raise InputError(f"{self.path}: line {number}, column {name}: {shown!r} is not a number") from None
        return values


def _open_text(path: str):
    """The CSV as text (UTF-8, a byte-order mark skipped): a file, or standard input for `-`."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a CSV file") from None


def _count_lines(path: str) -> int | None:
    """Line ends in a regular file under 1 GiB (a quick pass for the progress bar); None for a
    stream (standard input, a FIFO, a device), which can be read only once, and for larger files."""
    if path == "-":
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size >= (1 << 30):
        return None
    count = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return count
