"""Pooling over 1, 2 or 3 spatial axes: MaxPooling1D/2D/3D and AveragePooling1D/2D/3D (padding
valid / same), GlobalMaxPooling1D/2D/3D and GlobalAveragePooling1D/2D/3D (keepdims; masks as
Keras honours them in 1-D), channels_last or channels_first."""

from __future__ import annotations

import numpy as np

from .base import Layer
from .conv import WindowOp, spatial_rank, windows

POOL_OPTIONS = {"pool_size": 2, "strides": None, "padding": "valid", "data_format": "channels_last"}


def pool(x, size, strides, padding, kind):
    """Max or average over windows of `size`, channels last; 'same' padding as TensorFlow does
    it (max ignores the padding; the average divides by the number of real values in the window)."""
    ones = (1,) * len(size)
    if kind == "max":
        y = None
        for window in windows(x, size, strides, ones, padding, fill=-np.inf):
            y = window.copy() if y is None else np.maximum(y, window, out=y)
        return y
    total = sum(windows(x, size, strides, ones, padding))
    counts = sum(windows(np.ones((1,) + x.shape[1:-1] + (1,), x.dtype), size, strides, ones, padding))
    return (total / counts).astype(x.dtype, copy=False)


def global_pool(x, kind, axes, keepdims, mask=None):
    """Max or mean over the spatial `axes`. With a (batch, time) mask (1-D) the mean counts only
    the unmasked steps (a row masked everywhere gives NaN, as in Keras); the max ignores the
    mask, as Keras's does (masked steps hold Masking's zeros)."""
    if kind == "max":
        return np.max(x, axis=axes, keepdims=keepdims)
    if mask is None:
        return np.mean(x, axis=axes, keepdims=keepdims)
    weights = (mask[:, :, None] if axes == (1,) else mask[:, None, :]).astype(x.dtype)
    with np.errstate(invalid="ignore"):
        return (np.sum(x * weights, axis=axes, keepdims=keepdims) / np.sum(weights, axis=axes, keepdims=keepdims)).astype(x.dtype)


class Pooling(WindowOp):
    """Max or average over windows of pool_size."""

    OPTIONS = POOL_OPTIONS
    PADDINGS = ("valid", "same")
    MASKING = "drop"
    FUNCTION = staticmethod(pool)

    def build(self, input_shapes):
        spatial, channels, out = self.geometry(input_shapes, kernel_key="pool_size", dilation_key="none")
        return [self.out_shape(out, channels)]

    def arguments(self, get):
        return [self.kernel, self.strides, self.config["padding"], "max" if self.class_name.startswith("Max") else "average"]


class GlobalPooling(Layer):
    """Max or mean over the spatial axes."""

    OPTIONS = {"data_format": "channels_last", "keepdims": False}
    MASKING = "drop"
    FUNCTION = staticmethod(global_pool)

    def build(self, input_shapes):
        rank = spatial_rank(self.class_name)
        self.expect_inputs(input_shapes, rank=rank + 2)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        first = self.config["data_format"] == "channels_first"
        self.axes = tuple(range(2, rank + 2)) if first else tuple(range(1, rank + 1))
        shape = list(input_shapes[0])
        if self.config["keepdims"]:
            return [tuple(1 if i in self.axes else d for i, d in enumerate(shape))]
        return [tuple(d for i, d in enumerate(shape) if i not in self.axes)]

    def kind(self) -> str:
        return "max" if self.class_name.startswith("GlobalMax") else "mean"

    def arguments(self, get):
        return [self.kind(), self.axes, self.config["keepdims"]]

    def call(self, inputs, ctx):
        return [global_pool(inputs[0], *self.bound, ctx.mask(0))]

    def export(self, e):
        masked = [e.mask] if e.mask is not None and self.kind() == "mean" else []
        return [e.call(global_pool, e.input, *self.arguments(e), *masked)]
