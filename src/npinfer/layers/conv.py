"""1-D convolutions: Conv1D (padding valid / same / causal, strides, dilation, groups),
SeparableConv1D and DepthwiseConv1D, channels_last or channels_first.

Canonical kernels are Keras's: Conv1D (k, in/groups, filters); depthwise (k, in, multiplier),
output channel c*multiplier + m; pointwise (1, in*multiplier, filters).
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from . import activations
from .base import REQUIRED, Layer, format_shape, require_bool, require_positive_int
from .core import dense

# Conv1D gathers every tap's window into one (batch, out, kernel*in) array up to this many
# values (1 MB of float32); beyond, one product per tap keeps peak memory near the output's size.
IM2COL_MAX_VALUES = 1 << 18

CONV_OPTIONS = {
    "kernel_size": REQUIRED, "strides": 1, "padding": "valid", "data_format": "channels_last",
    "dilation_rate": 1, "activation": "linear", "use_bias": True,
}


def _single(layer: Layer, key: str) -> int:
    value = layer.config[key]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise layer.refuse(key, layer.config[key], "a positive integer")
    return value


def output_length(steps, kernel, stride, dilation, padding):
    """Output steps of a 1-D window op (None if steps is unknown), and the (left, right) padding."""
    span = dilation * (kernel - 1) + 1
    if steps is None:
        return None, None
    if padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + span - steps, 0)
        return out, (total // 2, total - total // 2)
    if padding == "causal":
        return (steps + span - 1 - span) // stride + 1, (span - 1, 0)
    return max((steps - span) // stride + 1, 0), (0, 0)


def pad_steps(x, left, right, fill=0.0):
    """x (batch, steps, channels) with `fill` added before and after the time axis."""
    if not (left or right):
        return x
    batch, steps, channels = x.shape  # (np.pad costs far more Python time per call)
    padded = np.full((batch, left + steps + right, channels), fill, x.dtype)
    padded[:, left : left + steps] = x
    return padded


def windows(x, kernel, strides, dilation, padding, fill=0.0):
    """For each of the `kernel` taps j, the (batch, out, channels) slice of x (padded with
    `fill` as `padding` asks) that tap j reads: steps t*strides + j*dilation."""
    out, (left, right) = output_length(x.shape[1], kernel, strides, dilation, padding)
    x = pad_steps(x, left, right, fill)
    return [x[:, j * dilation : j * dilation + (out - 1) * strides + 1 if out else 0 : strides] for j in range(kernel)]


def add_bias(y, bias, activation):
    """activation(y + bias), in place where it can."""
    if bias is not None:
        y += bias
    return y if activation is None else activation(y)


def conv1d(x, kernel, bias, strides, padding, dilation, groups, activation):
    """1-D convolution, channels last: kernel (k, in / groups, filters); padding valid / same / causal.
    y[t] = activation(sum_j x[t*strides + j*dilation] @ kernel[j] + bias), per channel group."""
    taps = windows(x, kernel.shape[0], strides, dilation, padding)
    batch, out = taps[0].shape[:2]
    per_group_in, filters = kernel.shape[1], kernel.shape[2]
    y = np.zeros((batch, out, filters), x.dtype)
    grouped = y.reshape(batch, out, groups, filters // groups)  # a view of y
    for window, w in zip(taps, kernel):
        if groups == 1:
            y += window @ w  # (batch, out, filters)
        else:
            grouped += np.einsum("bogi,igf->bogf", window.reshape(batch, out, groups, per_group_in),
                                 w.reshape(per_group_in, groups, filters // groups))
    return add_bias(y, bias, activation)


def conv1d_gathered(x, kernel, bias, strides, padding, dilation, activation):
    """conv1d without groups as ONE product: every tap's window side by side, (batch, out,
    k*in) @ kernel (k*in, filters). Faster than a product per tap; the gathered windows cost
    memory (Conv1D uses it up to IM2COL_MAX_VALUES)."""
    columns = np.concatenate(windows(x, kernel.shape[0], strides, dilation, padding), axis=-1)  # (batch, out, k*in)
    return dense(columns, kernel.reshape(-1, kernel.shape[2]), bias, activation)


def depthwise_conv1d(x, kernel, bias, strides, padding, dilation, activation):
    """Each input channel c convolved with its own `multiplier` filters, channels last:
    kernel (k, channels, multiplier); output channel c * multiplier + m."""
    taps = windows(x, kernel.shape[0], strides, dilation, padding)
    batch, out, channels = taps[0].shape
    y = np.zeros((batch, out, channels, kernel.shape[2]), x.dtype)
    for window, w in zip(taps, kernel):
        y += window[..., None] * w  # (batch, out, channels, multiplier)
    return add_bias(y.reshape(batch, out, -1), bias, activation)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation, activation):
    """Depthwise convolution (no bias), then a pointwise 1x1 convolution to `filters`, bias,
    activation: depthwise_kernel (k, channels, multiplier), pointwise_kernel (1, channels * multiplier, filters)."""
    y = depthwise_conv1d(x, depthwise_kernel, None, strides, padding, dilation, None)  # (batch, out, channels * multiplier)
    return dense(y, pointwise_kernel[0], bias, activation)  # (batch, out, filters)


class WindowOp(Layer):
    """Shared geometry of the 1-D convolutions and poolings: kernel, strides, dilation, padding."""

    PADDINGS = ("valid", "same", "causal")

    def geometry(self, input_shapes, kernel_key="kernel_size", stride_key="strides", dilation_key="dilation_rate"):
        self.expect_inputs(input_shapes, rank=3)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        if self.config["padding"] not in self.PADDINGS:
            raise self.refuse("padding", self.config["padding"], ", ".join(self.PADDINGS))
        self.kernel = _single(self, kernel_key)
        self.stride = _single(self, stride_key) if self.config.get(stride_key) is not None else self.kernel
        self.dilation = _single(self, dilation_key) if dilation_key in self.config else 1
        if self.stride > 1 and self.dilation > 1 and self.config["padding"] != "valid":  # Keras allows neither; torch: valid
            raise self.refuse("strides", self.config[stride_key], "1 when dilation_rate > 1 with 'same' or 'causal' padding")
        shape = input_shapes[0]
        channels_last = self.config["data_format"] == "channels_last"
        steps, channels = (shape[1], shape[2]) if channels_last else (shape[2], shape[1])
        if channels is None:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a known channel size, got {format_shape(shape)}")
        out, _ = output_length(steps, self.kernel, self.stride, self.dilation, self.config["padding"])
        return steps, channels, out

    def out_shape(self, out, channels):
        return (None, out, channels) if self.config["data_format"] == "channels_last" else (None, channels, out)

    def to_channels_last(self, x):
        return x if self.config["data_format"] == "channels_last" else x.transpose(0, 2, 1)

    def from_channels_last(self, y):
        return y if self.config["data_format"] == "channels_last" else np.ascontiguousarray(y.transpose(0, 2, 1))

    def arguments(self) -> tuple:
        """(strides, padding, dilation) as the window functions take them."""
        return self.stride, self.config["padding"], self.dilation

    def finish_build(self, channels_out: int, out) -> list:
        """Check the bias, set up the activation, return the output shape (convolutions)."""
        if self.config["use_bias"]:
            self.expect_weight("bias", (channels_out,))
        self.activation = activations.get(self.config["activation"])
        activations.check_axes(self.config["activation"], 3, f"layer '{self.name}'")
        return [activations.output_shape(self.config["activation"], self.out_shape(out, channels_out))]

    def export_window(self, e, function, *args):
        """A window function on the layer's input in channels last, back to its data format."""
        first = self.config["data_format"] == "channels_first"
        y = e.call(function, e.code(f"{e.input}.transpose(0, 2, 1)") if first else e.input, *args)
        return [f"{y}.transpose(0, 2, 1)" if first else y]


class Conv1D(WindowOp):
    """y[t] = activation(sum_j x[t*stride + j*dilation] @ kernel[j] + bias), per channel group."""

    OPTIONS = {**CONV_OPTIONS, "filters": REQUIRED, "groups": 1}

    @classmethod
    def weight_names(cls, config):
        return ["kernel", "bias"] if config.get("use_bias", True) else ["kernel"]

    def build(self, input_shapes):
        steps, channels, out = self.geometry(input_shapes)
        filters = require_positive_int(self, "filters")
        groups = require_positive_int(self, "groups")
        require_bool(self, "use_bias")
        if channels % groups or filters % groups:
            raise ModelFormatError(f"layer '{self.name}' (Conv1D): groups={groups} must divide {channels} channels and {filters} filters")
        self.groups = groups
        self.expect_weight("kernel", (self.kernel, channels // groups, filters))
        return self.finish_build(filters, out)

    def call(self, inputs, ctx):
        x = self.to_channels_last(inputs[0])
        kernel, bias = self.weights["kernel"], self.weights.get("bias")
        out, _ = output_length(x.shape[1], self.kernel, self.stride, self.dilation, self.config["padding"])
        if self.groups == 1 and x.shape[0] * out * self.kernel * x.shape[2] <= IM2COL_MAX_VALUES:
            y = conv1d_gathered(x, kernel, bias, *self.arguments(), self.activation)
        else:  # large inputs: one product per tap (peak memory near the output's size)
            y = conv1d(x, kernel, bias, *self.arguments(), self.groups, self.activation)
        return [self.from_channels_last(y)]

    def export(self, e):
        return self.export_window(e, conv1d, e.weight("kernel"), e.weight("bias"), *self.arguments(), self.groups,
                                  e.activation(self.config["activation"]))


class DepthwiseConv1D(WindowOp):
    """Per-channel convolution; output channel c*depth_multiplier + m."""

    OPTIONS = {**CONV_OPTIONS, "depth_multiplier": 1}

    @classmethod
    def weight_names(cls, config):
        return ["depthwise_kernel", "bias"] if config.get("use_bias", True) else ["depthwise_kernel"]

    def build(self, input_shapes):
        steps, channels, out = self.geometry(input_shapes)
        multiplier = require_positive_int(self, "depth_multiplier")
        require_bool(self, "use_bias")
        self.expect_weight("depthwise_kernel", (self.kernel, channels, multiplier))
        return self.finish_build(channels * multiplier, out)

    def call(self, inputs, ctx):
        return [self.from_channels_last(depthwise_conv1d(self.to_channels_last(inputs[0]), self.weights["depthwise_kernel"],
                                                         self.weights.get("bias"), *self.arguments(), self.activation))]

    def export(self, e):
        return self.export_window(e, depthwise_conv1d, e.weight("depthwise_kernel"), e.weight("bias"), *self.arguments(),
                                  e.activation(self.config["activation"]))


class SeparableConv1D(WindowOp):
    """Depthwise convolution, then a pointwise (1x1) convolution to `filters`, bias, activation."""

    OPTIONS = {**CONV_OPTIONS, "filters": REQUIRED, "depth_multiplier": 1}

    @classmethod
    def weight_names(cls, config):
        names = ["depthwise_kernel", "pointwise_kernel"]
        return names + ["bias"] if config.get("use_bias", True) else names

    def build(self, input_shapes):
        steps, channels, out = self.geometry(input_shapes)
        filters = require_positive_int(self, "filters")
        multiplier = require_positive_int(self, "depth_multiplier")
        require_bool(self, "use_bias")
        self.expect_weight("depthwise_kernel", (self.kernel, channels, multiplier))
        self.expect_weight("pointwise_kernel", (1, channels * multiplier, filters))
        return self.finish_build(filters, out)

    def call(self, inputs, ctx):
        return [self.from_channels_last(separable_conv1d(
            self.to_channels_last(inputs[0]), self.weights["depthwise_kernel"], self.weights["pointwise_kernel"],
            self.weights.get("bias"), *self.arguments(), self.activation))]

    def export(self, e):
        return self.export_window(e, separable_conv1d, e.weight("depthwise_kernel"), e.weight("pointwise_kernel"),
                                  e.weight("bias"), *self.arguments(), e.activation(self.config["activation"]))
