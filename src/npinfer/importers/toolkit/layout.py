"""Layouts and layer-config pieces every graph importer writes the same way: weights in the
layers' layout (the channels-first kernels of ONNX and torch convolutions), per-axis options,
run-time size entries and tensor.Index items."""

from __future__ import annotations

import numpy as np

from .values import DimRef

ALL = {"slice": [None, None, None]}  # a tensor.Index item that keeps an axis whole
REVERSED = {"slice": [None, None, -1]}  # ... that reverses it


def per_axis(value, n: int) -> tuple:
    """An option given once for all n axes, or once per axis, as n ints."""
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """A channels-first convolution's weight (out, in/groups, *k) -> the ConvND kernel (*k, in/groups, out)."""
    return np.ascontiguousarray(weight.transpose(*range(2, weight.ndim), 1, 0))


def conv_transpose_kernel(weight: np.ndarray) -> np.ndarray:
    """A transposed convolution's weight (in, out, *k) -> the ConvNDTranspose kernel (*k, out, in)."""
    return np.ascontiguousarray(weight.transpose(*range(2, weight.ndim), 1, 0))


def dim_entry(size: DimRef, inputs: list) -> dict:
    """A run-time size as a tensor.Reshape / Full / Tile / Expand entry {"dim": [k, axis]}: axis
    `axis` of inputs[k], its tensor added to `inputs` (the layer's inputs) if it is not there yet."""
    if size.tensor not in inputs:
        inputs.append(size.tensor)
    return {"dim": [inputs.index(size.tensor), size.axis]}


def on_axis(axis: int, rank: int, item) -> list:
    """tensor.Index items that apply `item` ({"index": i} or {"slice": [...]}) to `axis` of a rank-`rank` tensor."""
    return [ALL] * (axis % rank) + [item]


def crop_items(pads) -> list:
    """tensor.Index items that cut (before, after) from each spatial axis of (batch, channels, *spatial)."""
    return [ALL] * 2 + [{"slice": [before, -after if after else None, None]} for before, after in pads]
