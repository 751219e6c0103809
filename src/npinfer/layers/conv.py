"""Convolutions over 1, 2 or 3 spatial axes: Conv1D/2D/3D (padding valid / same, causal in 1-D,
strides, dilation, groups), DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1D/2D/3DTranspose,
channels_last or channels_first.

One implementation for every rank: the window functions below work on channels-last arrays
(batch, *spatial, channels); a layer moves a channels_first input there and back. A window
function is a product per kernel tap (no Python loop over positions); the gathered form (all
taps' windows side by side, ONE product) is the fast path, tested equal.

Canonical kernels are Keras's: Conv (*k, in / groups, filters); depthwise (*k, in, multiplier),
output channel c * multiplier + m; pointwise (1, ..., in * multiplier, filters); transposed
(*k, filters, in).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import ModelFormatError
from . import activations
from .base import REQUIRED, Layer, format_shape, require_bool, require_positive_int
from .core import dense

# Conv gathers every tap's window into one (rows, *out, kernel*in) array, a chunk of the batch
# at a time, of at most this many values (4 MB of float32) or the output's size if larger; a
# single row beyond it takes one product per tap, which keeps peak memory near the output's size.
IM2COL_MAX_VALUES = 1 << 20


def geometry(size, kernel, stride, dilation, padding):
    """(output size, padding before, padding after) of one spatial axis of a window op
    (TensorFlow's 'same': the odd pad after; 'causal': all before). None when size is unknown."""
    span = dilation * (kernel - 1) + 1
    if size is None:
        return None, None, None
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        return out, total // 2, total - total // 2
    if padding == "causal":
        return (size - 1) // stride + 1, span - 1, 0
    return max((size - span) // stride + 1, 0), 0, 0


def pad_spatial(x, pads, fill=0.0):
    """x (batch, *spatial, channels) with `fill` added before and after each spatial axis;
    pads: one (before, after) per spatial axis."""
    if not any(before or after for before, after in pads):
        return x
    shape = (x.shape[0],) + tuple(s + b + a for s, (b, a) in zip(x.shape[1:-1], pads)) + (x.shape[-1],)
    padded = np.full(shape, fill, x.dtype)  # (np.pad costs far more Python time per call)
    padded[(slice(None),) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[1:-1], pads))] = x
    return padded


def window_view(x, kernel, strides, dilation, padding, fill=0.0):
    """Every window of x (padded with `fill` as `padding` asks) as one read-only view, no copy:
    (batch, *out, *kernel, channels), [b, p, j, c] = x[b, p * strides + j * dilation, c]."""
    axes = [geometry(size, k, s, d, padding) for size, k, s, d in zip(x.shape[1:-1], kernel, strides, dilation)]
    x = pad_spatial(x, [(before, after) for _, before, after in axes], fill)
    steps = x.strides[1:-1]  # bytes between neighbours along each spatial axis
    shape = (x.shape[0],) + tuple(out for out, _, _ in axes) + tuple(kernel) + (x.shape[-1],)
    strides = ((x.strides[0],) + tuple(step * s for step, s in zip(steps, strides))
               + tuple(step * d for step, d in zip(steps, dilation)) + (x.strides[-1],))
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def windows(x, kernel, strides, dilation, padding, fill=0.0):
    """For each kernel tap (every position of the `kernel` shape, in C order), the slice of x
    (padded with `fill` as `padding` asks) that the tap reads: (batch, *out, channels), the
    positions out * strides + tap * dilation (views into window_view)."""
    view = window_view(x, kernel, strides, dilation, padding, fill)  # (batch, *out, *kernel, channels)
    leading = (slice(None),) * (1 + len(kernel))
    return [view[leading + tap] for tap in np.ndindex(*kernel)]


def add_bias(y, bias, activation):
    """activation(y + bias), in place where it can."""
    if bias is not None:
        y += bias
    return y if activation is None else activation(y)


def conv(x, kernel, bias, strides, padding, dilation, groups, activation):
    """Convolution over x's spatial axes, channels last: kernel (*k, in / groups, filters).
    y[p] = activation(sum over taps j of x[p * strides + j * dilation] @ kernel[j] + bias),
    per channel group."""
    taps = windows(x, kernel.shape[:-2], strides, dilation, padding)
    per_group_in, filters = kernel.shape[-2], kernel.shape[-1]
    y = np.zeros(taps[0].shape[:-1] + (filters,), x.dtype)  # (batch, *out, filters)
    grouped = y.reshape(y.shape[:-1] + (groups, filters // groups))  # a view of y
    for window, w in zip(taps, kernel.reshape((-1, per_group_in, filters))):
        if groups == 1:
            y += window @ w
        else:
            grouped += np.einsum("...gi,igf->...gf", window.reshape(window.shape[:-1] + (groups, per_group_in)),
                                 w.reshape(per_group_in, groups, filters // groups))
    return add_bias(y, bias, activation)


def conv_gathered(x, kernel, bias, strides, padding, dilation, activation, out=None):
    """conv without groups as ONE product: every tap's window side by side, (batch, *out,
    taps*in) @ kernel (taps*in, filters). Faster than a product per tap; the gathered windows
    cost memory (the layers use it up to IM2COL_MAX_VALUES). `out`: an array for the result."""
    view = window_view(x, kernel.shape[:-2], strides, dilation, padding)  # (batch, *out, *k, in)
    columns = view.reshape(view.shape[: x.ndim - 1] + (kernel[..., 0].size,))  # (batch, *out, taps*in): one copy
    y = np.matmul(columns, kernel.reshape(-1, kernel.shape[-1]), out=out)  # (batch, *out, filters)
    return add_bias(y, bias, activation)


def conv_bounded(x, kernel, bias, strides, padding, dilation, groups, activation):
    """conv, fast: the gathered product (conv_gathered) a chunk of the batch at a time, each
    chunk's windows at most IM2COL_MAX_VALUES values or the output's size; one product per
    tap (conv) for groups, or when a single row's windows exceed that. Peak memory stays near
    the input plus twice the output."""
    out = [geometry(size, k, s, d, padding)[0] for size, k, s, d in zip(x.shape[1:-1], kernel.shape[:-2], strides, dilation)]
    shape = (x.shape[0],) + tuple(out) + (kernel.shape[-1],)  # (batch, *out, filters)
    gathered_per_row = int(np.prod(out)) * kernel[..., 0].size
    rows = max(IM2COL_MAX_VALUES, int(np.prod(shape))) // max(gathered_per_row, 1)  # rows whose gathered windows fit
    if groups != 1 or rows < 1:
        return conv(x, kernel, bias, strides, padding, dilation, groups, activation)
    y = np.empty(shape, np.result_type(x, kernel))
    for start in range(0, x.shape[0], rows):  # a chunk of the batch at a time: memory stays bounded
        conv_gathered(x[start : start + rows], kernel, None, strides, padding, dilation, None, out=y[start : start + rows])
    return add_bias(y, bias, activation)


def depthwise_conv(x, kernel, bias, strides, padding, dilation, activation):
    """Each input channel c convolved with its own `multiplier` filters, channels last:
    kernel (*k, channels, multiplier); output channel c * multiplier + m."""
    taps = windows(x, kernel.shape[:-2], strides, dilation, padding)
    y = np.zeros(taps[0].shape + (kernel.shape[-1],), x.dtype)  # (batch, *out, channels, multiplier)
    for window, w in zip(taps, kernel.reshape((-1,) + kernel.shape[-2:])):
        y += window[..., None] * w
    return add_bias(y.reshape(y.shape[:-2] + (-1,)), bias, activation)


def separable_conv(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation, activation):
    """Depthwise convolution (no bias), then a pointwise 1x1 convolution to `filters`, bias,
    activation: pointwise_kernel (1, ..., channels * multiplier, filters)."""
    y = depthwise_conv(x, depthwise_kernel, None, strides, padding, dilation, None)  # (batch, *out, channels * multiplier)
    return dense(y, pointwise_kernel.reshape(-1, pointwise_kernel.shape[-1]), bias, activation)  # (batch, *out, filters)


def transpose_length(size, kernel, stride, padding, output_padding, dilation):
    """Output size of a transposed convolution along one axis, as Keras computes it (None: unknown)."""
    if size is None:
        return None
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (size - 1) * stride + span + (max(span, stride) - span if output_padding is None else output_padding)
    return size * stride if output_padding is None else (size - 1) * stride + span % 2 + output_padding


def conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation, activation):
    """Transposed convolution (the gradient of conv with the same padding, as TensorFlow
    computes it), channels last: kernel (*k, filters, in). Each input position p adds
    x[p] @ kernel[j].T at p * strides + j * dilation for every tap j; the result is then cut
    to the output size, as much before as the forward convolution's padding puts there."""
    spatial, k = x.shape[1:-1], kernel.shape[:-2]
    out = [transpose_length(size, kj, s, padding, o, d) for size, kj, s, o, d in zip(spatial, k, strides, output_padding, dilation)]
    full = [(size - 1) * s + d * (kj - 1) + 1 for size, kj, s, d in zip(spatial, k, strides, dilation)]
    start = [max(f - o, 0) // 2 if padding == "same" else 0 for f, o in zip(full, out)]  # the forward 'same' padding before
    y = np.zeros((x.shape[0],) + tuple(max(f, b + o) for f, b, o in zip(full, start, out)) + (kernel.shape[-2],), x.dtype)
    for tap in np.ndindex(*k):
        index = tuple(slice(j * d, j * d + (size - 1) * s + 1, s) for j, d, s, size in zip(tap, dilation, strides, spatial))
        y[(slice(None),) + index] += x @ kernel[tap].T  # (batch, *spatial, filters)
    y = y[(slice(None),) + tuple(slice(b, b + o) for b, o in zip(start, out))]
    return add_bias(np.ascontiguousarray(y), bias, activation)


def channels_last(x):
    """(batch, channels, *spatial) -> (batch, *spatial, channels) (a view)."""
    return np.moveaxis(x, 1, -1)


def channels_first(y):
    """(batch, *spatial, channels) -> (batch, channels, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(y, -1, 1))


def spatial_rank(class_name: str) -> int:
    """1, 2 or 3: the spatial axes a Keras window layer works on, from its class name."""
    return int(re.search(r"([123])D", class_name).group(1))


CONV_OPTIONS = {
    "kernel_size": REQUIRED, "strides": 1, "padding": "valid", "data_format": "channels_last",
    "dilation_rate": 1, "activation": "linear", "use_bias": True,
}


class WindowOp(Layer):
    """Shared by the convolutions and poolings: spatial rank (from the class name), kernel,
    strides, dilation, padding, data format."""

    PADDINGS = ("valid", "same", "causal")
    MASKING = "drop"  # as Keras: its convolutions and poolings end masks

    def sizes(self, key: str, default=None) -> tuple:
        """Option `key` as one positive integer per spatial axis (an int stands for all)."""
        value = self.config.get(key)
        if value is None:
            return default
        values = [value] * self.rank if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(values, list) or len(values) != self.rank or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise self.refuse(key, value, f"a positive integer or {self.rank} of them")
        return tuple(values)

    def geometry(self, input_shapes, kernel_key="kernel_size", stride_key="strides", dilation_key="dilation_rate"):
        """(spatial sizes, channels, output sizes) of the input; sets kernel, strides, dilation."""
        self.rank = spatial_rank(self.class_name)
        self.expect_inputs(input_shapes, rank=self.rank + 2)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        paddings = self.PADDINGS if self.rank == 1 else tuple(p for p in self.PADDINGS if p != "causal")
        if self.config["padding"] not in paddings:
            raise self.refuse("padding", self.config["padding"], ", ".join(paddings))
        self.kernel = self.sizes(kernel_key)
        self.strides = self.sizes(stride_key, self.kernel)
        self.dilation = self.sizes(dilation_key, (1,) * self.rank)
        if max(self.strides) > 1 and max(self.dilation) > 1 and self.config["padding"] != "valid":  # Keras allows neither; torch: valid
            raise self.refuse("strides", self.config[stride_key], "1 when dilation_rate > 1 with 'same' or 'causal' padding")
        shape = input_shapes[0]
        first = self.config["data_format"] == "channels_first"
        spatial, channels = (shape[2:], shape[1]) if first else (shape[1:-1], shape[-1])
        if channels is None:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a known channel size, got {format_shape(shape)}")
        out = tuple(geometry(size, k, s, d, self.config["padding"])[0]
                    for size, k, s, d in zip(spatial, self.kernel, self.strides, self.dilation))
        self.positions = None if None in out else int(np.prod(out))  # output positions per sample
        return spatial, channels, out

    def window_work(self) -> tuple[float, int]:
        """Positions x kernel weights (roughly the multiply-adds), in one product per tap."""
        weights = sum(w.size for key, w in self.weights.items() if key != "bias")
        return (float(self.positions * weights), int(np.prod(self.kernel))) if weights and self.positions else (0.0, 0)

    def out_shape(self, out, channels):
        return (None, channels) + tuple(out) if self.config["data_format"] == "channels_first" else (None,) + tuple(out) + (channels,)

    def to_channels_last(self, x):
        return channels_last(x) if self.config["data_format"] == "channels_first" else x

    def from_channels_last(self, y):
        return channels_first(y) if self.config["data_format"] == "channels_first" else y

    def arguments(self, get) -> list:
        """(strides, padding, dilation) as the window functions take them."""
        return [self.strides, self.config["padding"], self.dilation]

    def finish_build(self, channels_out: int, out) -> list:
        """Check the bias, set up the activation, return the output shape (convolutions)."""
        if self.config["use_bias"]:
            self.expect_weight("bias", (channels_out,))
        self.activation = activations.get(self.config["activation"])
        activations.check_axes(self.config["activation"], self.rank + 2, f"layer '{self.name}'")
        return [activations.output_shape(self.config["activation"], self.out_shape(out, channels_out))]

    def call(self, inputs, ctx):
        return [self.from_channels_last(self.FUNCTION(self.to_channels_last(inputs[0]), *self.bound))]

    def export(self, e):
        """The window function on the input in channels last, back to the layer's data format."""
        first = self.config["data_format"] == "channels_first"
        y = e.call(self.FUNCTION, e.call(channels_last, e.input) if first else e.input, *self.arguments(e))
        return [e.call(channels_first, y) if first else y]


class Conv(WindowOp):
    """Conv1D / Conv2D / Conv3D: y[p] = activation(sum_j x[p*strides + j*dilation] @ kernel[j] + bias), per group."""

    OPTIONS = {**CONV_OPTIONS, "filters": REQUIRED, "groups": 1}
    FUNCTION = staticmethod(conv)

    @classmethod
    def weight_names(cls, config):
        return ["kernel", "bias"] if config.get("use_bias", True) else ["kernel"]

    def build(self, input_shapes):
        spatial, channels, out = self.geometry(input_shapes)
        filters = require_positive_int(self, "filters")
        groups = require_positive_int(self, "groups")
        require_bool(self, "use_bias")
        if channels % groups or filters % groups:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): groups={groups} must divide {channels} channels and {filters} filters")
        self.groups = groups
        self.expect_weight("kernel", self.kernel + (channels // groups, filters))
        return self.finish_build(filters, out)

    def arguments(self, get):
        return [get.weight("kernel"), get.weight("bias"), self.strides, self.config["padding"], self.dilation, self.groups,
                get.activation(self.config["activation"])]

    def call(self, inputs, ctx):
        return [self.from_channels_last(conv_bounded(self.to_channels_last(inputs[0]), *self.bound))]

    def window_work(self) -> tuple[float, int]:
        macs, _ = super().window_work()
        return macs, 1 if self.groups == 1 else int(np.prod(self.kernel))  # one gathered product, or one per tap


class DepthwiseConv(WindowOp):
    """DepthwiseConv1D / 2D: per-channel convolution; output channel c*depth_multiplier + m."""

    OPTIONS = {**CONV_OPTIONS, "depth_multiplier": 1}
    FUNCTION = staticmethod(depthwise_conv)

    @classmethod
    def weight_names(cls, config):
        return ["depthwise_kernel", "bias"] if config.get("use_bias", True) else ["depthwise_kernel"]

    def build(self, input_shapes):
        spatial, channels, out = self.geometry(input_shapes)
        multiplier = require_positive_int(self, "depth_multiplier")
        require_bool(self, "use_bias")
        self.expect_weight("depthwise_kernel", self.kernel + (channels, multiplier))
        return self.finish_build(channels * multiplier, out)

    def arguments(self, get):
        return [get.weight("depthwise_kernel"), get.weight("bias"), *super().arguments(get), get.activation(self.config["activation"])]


class SeparableConv(WindowOp):
    """SeparableConv1D / 2D: depthwise convolution, then a pointwise (1x1) convolution to `filters`, bias, activation."""

    OPTIONS = {**CONV_OPTIONS, "filters": REQUIRED, "depth_multiplier": 1}
    FUNCTION = staticmethod(separable_conv)

    @classmethod
    def weight_names(cls, config):
        names = ["depthwise_kernel", "pointwise_kernel"]
        return names + ["bias"] if config.get("use_bias", True) else names

    def build(self, input_shapes):
        spatial, channels, out = self.geometry(input_shapes)
        filters = require_positive_int(self, "filters")
        multiplier = require_positive_int(self, "depth_multiplier")
        require_bool(self, "use_bias")
        self.expect_weight("depthwise_kernel", self.kernel + (channels, multiplier))
        self.expect_weight("pointwise_kernel", (1,) * self.rank + (channels * multiplier, filters))
        return self.finish_build(filters, out)

    def arguments(self, get):
        return [get.weight("depthwise_kernel"), get.weight("pointwise_kernel"), get.weight("bias"), *super().arguments(get),
                get.activation(self.config["activation"])]


class ConvTranspose(WindowOp):
    """Conv1DTranspose / Conv2DTranspose / Conv3DTranspose (padding valid / same, output_padding)."""

    OPTIONS = {**CONV_OPTIONS, "filters": REQUIRED, "output_padding": None}
    PADDINGS = ("valid", "same")
    FUNCTION = staticmethod(conv_transpose)

    @classmethod
    def weight_names(cls, config):
        return ["kernel", "bias"] if config.get("use_bias", True) else ["kernel"]

    def build(self, input_shapes):
        spatial, channels, _ = self.geometry(input_shapes)
        filters = require_positive_int(self, "filters")
        require_bool(self, "use_bias")
        given = self.config["output_padding"]
        padding = (given,) * self.rank if isinstance(given, int) and not isinstance(given, bool) else given
        if padding is not None and not (isinstance(padding, list | tuple) and len(padding) == self.rank and all(
                isinstance(p, int) and not isinstance(p, bool) and 0 <= p < s for p, s in zip(padding, self.strides))):
            raise self.refuse("output_padding", given, f"None, or {self.rank} integers each below its stride")
        self.output_padding = (None,) * self.rank if padding is None else tuple(padding)
        self.expect_weight("kernel", self.kernel + (filters, channels))
        out = tuple(transpose_length(size, k, s, self.config["padding"], o, d)
                    for size, k, s, o, d in zip(spatial, self.kernel, self.strides, self.output_padding, self.dilation))
        self.positions = None if None in spatial else int(np.prod(spatial))  # each input position meets every tap
        return self.finish_build(filters, out)

    def arguments(self, get):
        return [get.weight("kernel"), get.weight("bias"), self.strides, self.config["padding"], self.output_padding,
                self.dilation, get.activation(self.config["activation"])]
