"""What every script `npinfer export` writes carries besides the model's own math: its weights
loader, the input check of `predict`, reading .npy / CSV inputs (with the article's sliding
windows), writing outputs, and the command line.

export.py copies these functions into each script by their source, with NumPy and the
standard library only; this module is never imported by npinfer itself.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import os
import sys
import zlib

import numpy as np


def embedded_weights(encoded):
    """The weights stored in the script: a zlib-compressed, base64-encoded .npz (no pickle)."""
    data = zlib.decompress(base64.b64decode(encoded))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def sidecar_weights(file_name):
    """The weights in the .npz beside the script (no pickle)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def prepare_inputs(x, names, shapes, integer_inputs, batch_axes, dtype):
    """predict's arguments as arrays in input order: separate arrays, one list in input order,
    or a dict by input name (as npinfer's and Keras's predict take them); each checked
    against its shape (None: any size), integer inputs as int64, the rest in `dtype`."""
    if len(x) == 1 and isinstance(x[0], dict):
        given = x[0]
        if sorted(given) != sorted(names):
            raise ValueError(f"inputs by name: expected {names}, got {list(given)}")
        x = [given[name] for name in names]
    elif len(x) == 1 and len(names) > 1 and isinstance(x[0], (list, tuple)):
        x = list(x[0])
    if len(x) != len(names):
        raise ValueError(f"the model takes {len(names)} input(s) {names}, got {len(x)}")
    inputs = [np.asarray(a, np.int64 if i in integer_inputs else dtype) for i, a in enumerate(x)]
    for i, (a, shape) in enumerate(zip(inputs, shapes)):
        if a.ndim != len(shape) or any(s is not None and s != g for s, g in zip(shape, a.shape)):
            raise ValueError(f"input {i} expects shape {shape}, got {a.shape}")
    if len({a.shape[axis] for a, axis in zip(inputs, batch_axes) if axis is not None}) > 1:
        raise ValueError("all inputs need the same batch size")
    return inputs


def read_input(path, look_back=None, target=None):
    """A .npy array, or CSV rows (optional header); --look-back builds sliding windows as the article does."""
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    values = np.array([[float(v) for v in row] for row in rows])
    if target is not None:
        column = header.index(target) if header else int(target)
        values = np.delete(values, column, axis=1)
    if look_back:
        values = np.stack([values[i : i + look_back] for i in range(len(values) - look_back + 1)])
    return values


def write_output(path, y):
    """y to a .npy file, or as CSV rows to a file or stdout."""
    if path and path.endswith(".npy"):
        np.save(path, y)
        return
    text = "\n".join(",".join(f"{v:.9g}" for v in row) for row in np.asarray(y).reshape(len(y), -1)) + "\n"
    if path:
        with open(path, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def main(predict, batch_axes):
    """The script's command line: an input file in, the model's output(s) out."""
    parser = argparse.ArgumentParser(description="Predict with this model (NumPy only).")
    parser.add_argument("input", help=".npy or .csv")
    parser.add_argument("-o", "--output", help=".npy or .csv (default: CSV on stdout)")
    parser.add_argument("--look-back", type=int, help="CSV: sliding windows of N rows")
    parser.add_argument("--target", help="CSV: a column to leave out (name, or position without a header)")
    args = parser.parse_args()
    if args.look_back and any(batch_axes):
        parser.error("--look-back builds batch-first windows, but this model takes time-major input; give a .npy array")
    y = predict(read_input(args.input, args.look_back, args.target))
    for i, output in enumerate(y if isinstance(y, list) else [y]):
        write_output(args.output if i == 0 else (args.output or "") + f".{i}", output)
