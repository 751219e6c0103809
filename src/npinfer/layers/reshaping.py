"""Shape layers: UpSampling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D (channels_last or
channels_first), RepeatVector, Permute (any rank)."""

from __future__ import annotations

import numpy as np

from .base import REQUIRED, Layer, require_positive_int
from .conv import spatial_rank


def _pairs(layer: Layer, key: str, rank: int) -> list[tuple[int, int]]:
    """Option `key` as one (before, after) pair per spatial axis: an int (all axes, both sides),
    one int per axis (both sides), or one pair per axis; in 1-D also one pair."""
    value = layer.config[key]

    def pair(v):
        return (v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(v) if isinstance(v, list) else None

    if rank == 1 or not isinstance(value, list):
        pairs = [pair(value)]
    else:
        pairs = [pair(v) for v in value] if len(value) == rank else [None]
    if len(pairs) != rank or not all(p is not None and len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                               and v >= 0 for v in p) for p in pairs):
        raise layer.refuse(key, value, f"a non-negative integer, {rank} of them, or {rank} pairs of them")
    return pairs


def _spatial_axes(layer: Layer, input_shapes) -> tuple[int, ...]:
    """The spatial axes of the input (1D / 2D / 3D from the class name, data_format)."""
    rank = spatial_rank(layer.class_name)
    layer.expect_inputs(input_shapes, rank=rank + 2)
    data_format = layer.config.get("data_format", "channels_last")
    if data_format not in ("channels_last", "channels_first"):
        raise layer.refuse("data_format", data_format, "channels_last, channels_first")
    return tuple(range(2, rank + 2)) if data_format == "channels_first" else tuple(range(1, rank + 1))


def crop(x, crops, axes):
    """x with crops[i] = (before, after) positions removed from axis axes[i]."""
    index = [slice(None)] * x.ndim
    for (before, after), axis in zip(crops, axes):
        index[axis] = slice(before, x.shape[axis] - after)
    return x[tuple(index)]


def half_pixel_source(size, out):
    """Where each of `out` outputs samples an axis of `size` positions, with half-pixel centres
    as TensorFlow computes it (float32): (out + 0.5) * size / out - 0.5."""
    return (np.arange(out, dtype=np.float32) + np.float32(0.5)) * np.float32(size / out) - np.float32(0.5)


def linear_resize(x, out, axis):
    """x resized to `out` positions along `axis` by linear interpolation between half-pixel
    centres (one axis of tf.image.resize's bilinear method, as Keras uses it)."""
    size = x.shape[axis]
    source = half_pixel_source(size, out)
    below = np.floor(source)
    shape = [1] * x.ndim
    shape[axis] = out
    lerp = (source - below).astype(x.dtype).reshape(shape)
    low = np.take(x, np.maximum(below, 0).astype(np.int64), axis=axis)
    high = np.take(x, np.minimum(np.ceil(source), size - 1).astype(np.int64), axis=axis)
    return low + (high - low) * lerp


def cubic_resize(x, out, axis):
    """x resized to `out` positions along `axis` as TensorFlow's bicubic resize (half-pixel
    centres, Keys's cubic with a = -0.5, its coefficients read from a table of 1024 steps):
    four neighbours per output; a neighbour outside the input weighs 0 and the others are
    renormalised to sum 1."""
    size, a = x.shape[axis], np.float32(-0.5)
    source = half_pixel_source(size, out)
    base = np.floor(source)
    step = np.rint((source - base) * np.float32(1024)).astype(np.int64)  # the table row, 0..1024

    def near(i):  # |t| <= 1 at t = i / 1024
        t = (i / 1024).astype(np.float32)
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(i):  # 1 <= |t| <= 2 at t = 1 + i / 1024
        t = (i / 1024).astype(np.float32) + np.float32(1)
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    index = base.astype(np.int64)[:, None] + np.arange(-1, 3)  # (out, 4): the four neighbours
    weights = np.stack([far(step), near(step), near(1024 - step), far(1024 - step)], axis=1)  # (out, 4)
    weights = np.where((index >= 0) & (index < size), weights, np.float32(0))
    weights /= weights.sum(axis=1, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = out
    y = 0
    for k in range(4):
        y = y + np.take(x, np.clip(index[:, k], 0, size - 1), axis=axis) * weights[:, k].astype(x.dtype).reshape(shape)
    return y


def upsample(x, sizes, axes, interpolation="nearest"):
    """Each position of the `axes` repeated sizes[i] times (nearest), or the axes resized by
    those factors with TensorFlow's bilinear or bicubic interpolation (the last axis first, as it does)."""
    if interpolation == "nearest":
        for size, axis in zip(sizes, axes):
            x = np.repeat(x, size, axis=axis)
        return x
    resize_axis = cubic_resize if interpolation == "bicubic" else linear_resize
    for size, axis in reversed(list(zip(sizes, axes))):
        x = resize_axis(x, x.shape[axis] * size, axis)
    return x


class UpSampling(Layer):
    """UpSampling1D / 2D / 3D: each position repeated `size` times per axis (2D: or bilinear)."""

    OPTIONS = {"size": 2, "data_format": "channels_last", "interpolation": "nearest"}
    MASKING = "drop"
    FUNCTION = staticmethod(upsample)

    def build(self, input_shapes):
        self.axes = _spatial_axes(self, input_shapes)
        size = self.config["size"]
        sizes = [size] * len(self.axes) if isinstance(size, int) and not isinstance(size, bool) else size
        if not isinstance(sizes, list) or len(sizes) != len(self.axes) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise self.refuse("size", size, f"a positive integer or {len(self.axes)} of them")
        self.sizes = tuple(sizes)
        supported = ("nearest", "bilinear", "bicubic") if len(self.axes) == 2 else ("nearest",)
        if self.config["interpolation"] not in supported:
            raise self.refuse("interpolation", self.config["interpolation"], ", ".join(supported))
        shape = list(input_shapes[0])
        for size, axis in zip(self.sizes, self.axes):
            shape[axis] = None if shape[axis] is None else shape[axis] * size
        return [tuple(shape)]

    def arguments(self, get):
        return [self.sizes, self.axes, self.config["interpolation"]]


class ZeroPadding(Layer):
    """ZeroPadding1D / 2D / 3D: zeros added before and after each spatial axis."""

    OPTIONS = {"padding": 1, "data_format": "channels_last"}
    MASKING = "drop"
    FUNCTION = staticmethod(np.pad)

    def build(self, input_shapes):
        axes = _spatial_axes(self, input_shapes)
        pads = _pairs(self, "padding", len(axes))
        self.widths = [(0, 0)] * len(input_shapes[0])
        shape = list(input_shapes[0])
        for pad, axis in zip(pads, axes):
            self.widths[axis] = pad
            shape[axis] = None if shape[axis] is None else shape[axis] + sum(pad)
        return [tuple(shape)]

    def arguments(self, get):
        return [self.widths]


class Cropping(Layer):
    """Cropping1D / 2D / 3D: positions removed from the start and end of each spatial axis."""

    OPTIONS = {"cropping": REQUIRED, "data_format": "channels_last"}
    MASKING = "drop"
    FUNCTION = staticmethod(crop)

    def build(self, input_shapes):
        self.axes = _spatial_axes(self, input_shapes)
        self.crops = _pairs(self, "cropping", len(self.axes))
        shape = list(input_shapes[0])
        for (before, after), axis in zip(self.crops, self.axes):
            if shape[axis] is not None and before + after >= shape[axis]:
                raise self.refuse("cropping", self.config["cropping"], f"less than the {shape[axis]} positions of axis {axis} in total")
            shape[axis] = None if shape[axis] is None else shape[axis] - before - after
        return [tuple(shape)]

    def arguments(self, get):
        return [self.crops, self.axes]


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    OPTIONS = {"n": REQUIRED}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=2)
        n = require_positive_int(self, "n")
        return [(input_shapes[0][0], n, input_shapes[0][1])]

    def call(self, inputs, ctx):
        x = inputs[0]
        return [np.repeat(x[:, None, :], self.config["n"], axis=1)]

    def export(self, e):
        return [f"np.repeat({e.input}[:, None, :], {int(self.config['n'])!r}, axis=1)"]


class Permute(Layer):
    """Non-batch axes reordered by `dims` (1-based, as in Keras)."""

    OPTIONS = {"dims": REQUIRED}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        dims = self.config["dims"]
        rank = len(input_shapes[0])
        if not isinstance(dims, list) or sorted(dims) != list(range(1, rank)):
            raise self.refuse("dims", dims, f"a permutation of 1..{rank - 1}")
        self.order = (0, *dims)
        return [tuple(input_shapes[0][i] for i in self.order)]

    def call(self, inputs, ctx):
        return [np.ascontiguousarray(inputs[0].transpose(self.order))]

    def export(self, e):
        return [f"{e.input}.transpose({tuple(self.order)})"]
