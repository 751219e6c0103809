"""One function per layer kind that importers make from plain values (arrays, ints, the
builder's tensors), so that an operator of one framework and the operator of the same math in
another call the same code: ONNX Conv and torch's nn.Conv2d / F.conv2d reach `conv`, ONNX Gemm
and nn.Linear `dense`, ONNX Add and torch's `+` `binary`, ...

`b` is a builder: `b.emit(class_name, config, inputs, weights=None, kwargs=None, base=None)`
adds a layer called once and returns its outputs (base: a suffix naming a helper layer)."""

from __future__ import annotations

import numpy as np

from .layout import REVERSED, conv_kernel, conv_transpose_kernel, crop_items, on_axis


def pad(b, x, pads, value=0.0, base=None):
    """x padded with `value` by [before, after] per axis (every axis)."""
    return b.emit("tensor.Pad", {"pads": [[int(p[0]), int(p[1])] for p in pads], "value": float(value)}, [x], base=base)[0]


def spatial_pad(b, x, pads, fill=0.0):
    """x (batch, channels, *spatial) padded with `fill` by (before, after) per spatial axis (or pads None)."""
    if not pads or not any(before or after for before, after in pads):
        return x
    return b.emit("tensor.Pad", {"pads": [[0, 0], [0, 0]] + [list(p) for p in pads], "value": fill}, [x], base="pad")[0]


def crop(b, x, pads, base="crop"):
    """x (batch, channels, *spatial) with (before, after) cut from each spatial axis."""
    if not any(before or after for before, after in pads):
        return x
    return b.emit("tensor.Index", {"items": crop_items(pads)}, [x], base=base)[0]


def reverse(b, x, axis: int, rank: int, base=None):
    """x with axis `axis` reversed (time steps last to first)."""
    return b.emit("tensor.Index", {"items": on_axis(axis, rank, REVERSED)}, [x], base=base)[0]


def dense(b, x, kernel: np.ndarray, bias: np.ndarray | None):
    """y = x kernel + bias; kernel (in, out)."""
    weights = {"kernel": kernel}
    if bias is not None:
        weights["bias"] = bias
    return b.emit("Dense", {"units": int(kernel.shape[1]), "use_bias": bias is not None}, [x], weights)[0]


def matmul(b, x, other):
    """x @ other: `other` a tensor, or an array stored as the layer's weight."""
    if isinstance(other, np.ndarray):
        return b.emit("tensor.MatMul", {"operand": True}, [x], {"operand": other})[0]
    return b.emit("tensor.MatMul", {}, [x, other])[0]


def binary(b, op: str, x, other, swap: bool = False):
    """op(x, other) (op(other, x) with swap): `other` a tensor, a number (a scalar option) or an
    array (stored as the weight "operand")."""
    if isinstance(other, np.ndarray):
        return b.emit("tensor.Binary", {"op": op, "operand": True, "swap": swap}, [x], {"operand": other})[0]
    if isinstance(other, (int, float)) and not isinstance(other, bool):
        return b.emit("tensor.Binary", {"op": op, "scalar": other, "swap": swap}, [x])[0]
    return b.emit("tensor.Binary", {"op": op, **({"swap": True} if swap else {})}, [x, other])[0]


def embedding(b, x, table: np.ndarray):
    """Rows of `table` (input_dim, output_dim) picked by the integer tensor x."""
    return b.emit("Embedding", {"input_dim": int(table.shape[0]), "output_dim": int(table.shape[1])}, [x],
                  {"embeddings": table})[0]


def conv(b, x, weight: np.ndarray, bias: np.ndarray | None, strides, dilations, groups: int, pads=None,
         padding: str = "valid", kernel=None):
    """A channels-first convolution (weight (out, in/groups, *k)) -> Conv1D / 2D / 3D on
    (batch, channels, *spatial), after explicit (before, after) `pads` as a tensor.Pad."""
    kernel = weight.shape[2:] if kernel is None else kernel
    weights = {"kernel": conv_kernel(weight)}  # (*k, in/groups, out)
    if bias is not None:
        weights["bias"] = bias
    config = {"filters": int(weight.shape[0]), "kernel_size": [int(k) for k in kernel], "strides": [int(s) for s in strides],
              "dilation_rate": [int(d) for d in dilations], "groups": int(groups), "padding": padding,
              "data_format": "channels_first", "use_bias": bias is not None}
    return b.emit(f"Conv{len(kernel)}D", config, [spatial_pad(b, x, pads)], weights)[0]


def conv_transpose(b, x, weight: np.ndarray, bias: np.ndarray | None, strides, dilations, output_padding, cut,
                   cut_base="crop", kernel=None):
    """A transposed convolution (weight (in, out, *k)) -> Conv1D / 2D / 3DTranspose ('valid' with
    output_padding), then `cut` (before, after) cut from each spatial axis."""
    kernel = weight.shape[2:] if kernel is None else kernel
    weights = {"kernel": conv_transpose_kernel(weight)}  # (*k, out, in)
    if bias is not None:
        weights["bias"] = bias
    config = {"filters": int(weight.shape[1]), "kernel_size": [int(k) for k in kernel], "strides": [int(s) for s in strides],
              "dilation_rate": [int(d) for d in dilations], "padding": "valid",
              "output_padding": [int(p) for p in output_padding], "data_format": "channels_first", "use_bias": bias is not None}
    y = b.emit(f"Conv{len(kernel)}DTranspose", config, [x], weights)[0]
    return crop(b, y, cut, cut_base)


def pool(b, x, kind: str, size, strides, pads=None, padding: str = "valid"):
    """Max ("Max") or average ("Average") pooling over (batch, channels, *spatial), after explicit
    pads (-inf for max; zeros, counted in the average)."""
    x = spatial_pad(b, x, pads, float("-inf") if kind == "Max" else 0.0)
    config = {"pool_size": [int(s) for s in size], "strides": [int(s) for s in strides], "padding": padding,
              "data_format": "channels_first"}
    return b.emit(f"{kind}Pooling{len(size)}D", config, [x])[0]


def global_pool(b, x, kind: str, n: int):
    """Max or average over all n spatial axes of (batch, channels, *spatial), the axes kept (size 1)."""
    return b.emit(f"Global{kind}Pooling{n}D", {"data_format": "channels_first", "keepdims": True}, [x])[0]


def batch_norm(b, x, mean: np.ndarray, variance: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
               eps: float):
    """Normalized over axis 1 (channels) with the running statistics; gamma and beta each
    optional (absent ones are 1 and 0; both absent: neither scaled nor centred)."""
    channels = mean.shape[0]
    config = {"axis": 1, "epsilon": float(eps), "center": True, "scale": True}
    if gamma is None and beta is None:
        config.update(center=False, scale=False)
        return b.emit("BatchNormalization", config, [x], {"moving_mean": mean, "moving_variance": variance})[0]
    weights = {"gamma": np.ones(channels, np.float32) if gamma is None else gamma,
               "beta": np.zeros(channels, np.float32) if beta is None else beta,
               "moving_mean": mean, "moving_variance": variance}
    return b.emit("BatchNormalization", config, [x], weights)[0]


def layer_norm(b, x, axes: list, gamma: np.ndarray | None, beta: np.ndarray | None, eps: float):
    """Normalized over `axes`, then scaled by gamma and shifted by beta (each optional)."""
    config = {"axis": axes, "epsilon": float(eps), "scale": gamma is not None, "center": beta is not None}
    weights = {}
    if gamma is not None:
        weights["gamma"] = gamma
    if beta is not None:
        weights["beta"] = beta
    return b.emit("LayerNormalization", config, [x], weights)[0]
