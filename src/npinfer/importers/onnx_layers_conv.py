"""ONNX window operators on (batch, channels, *spatial): Conv, ConvTranspose, MaxPool,
AveragePool, GlobalAveragePool, GlobalMaxPool, Resize -> the channels_first Keras-style layers
(kernels in their layout, explicit pads as a tensor.Pad before).
"""

from __future__ import annotations

import numpy as np

from .toolkit import emit
from .toolkit.values import DimRef, Tensor, as_sizes, text


def _window_pads(c, x: Tensor, attrs, kernel, strides, dilations, what: str):
    """(the 'padding' a Keras-style window layer takes, explicit (before, after) pads or None) for
    an ONNX window op: SAME_UPPER is TensorFlow's 'same'; NOTSET pads and SAME_LOWER explicit."""
    auto_pad = text(attrs.get("auto_pad"), "NOTSET")
    n = len(kernel)
    if auto_pad == "VALID":
        return "valid", None
    if auto_pad == "SAME_UPPER":
        return "same", None
    if auto_pad == "SAME_LOWER":
        spatial = x.shape[2:]
        if any(size is None for size, s in zip(spatial, strides) if s > 1):
            raise c.refuse(f"auto_pad=SAME_LOWER with strides {strides} over sizes known only at run time is not supported")
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = d * (k - 1) if s == 1 else max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total - total // 2, total // 2))
        return "valid", pads
    if auto_pad != "NOTSET":
        raise c.refuse(f"auto_pad={auto_pad} is not supported in {what}")
    given = [int(p) for p in attrs.get("pads", [0] * 2 * n)]
    return "valid", list(zip(given[:n], given[n:]))


def _window(c, x, attrs, kernel_default):
    kernel = [int(k) for k in attrs.get("kernel_shape", kernel_default)]
    n = len(kernel)
    if n not in (1, 2, 3) or len(x.shape) != n + 2:
        raise c.refuse(f"{n}-D windows over an input of shape {x.shape} are not supported (1-D, 2-D or 3-D on (batch, channels, ...))")
    strides = [int(v) for v in attrs.get("strides", [1] * n)]
    dilations = [int(v) for v in attrs.get("dilations", [1] * n)]
    return kernel, strides, dilations


def op_conv(c, args, attrs):
    x = c.tensor(args[0], "X of Conv")
    w = c.constant(args[1], "W of Conv (the weights)")
    bias = c.constant(args[2], "B of Conv") if len(args) > 2 and args[2] is not None else None
    kernel, strides, dilations = _window(c, x, attrs, w.shape[2:])
    padding, pads = _window_pads(c, x, attrs, kernel, strides, dilations, "Conv")
    return [emit.conv(c, x, w, bias, strides, dilations, int(attrs.get("group", 1)), pads, padding, kernel)]


def op_conv_transpose(c, args, attrs):
    """ConvTranspose: Keras's transposed convolution ('valid', output_padding), then the pads cut
    from both ends (out = strides * (in - 1) + output_padding + span - pads)."""
    x = c.tensor(args[0], "X of ConvTranspose")
    w = c.constant(args[1], "W of ConvTranspose (the weights)")
    bias = c.constant(args[2], "B of ConvTranspose") if len(args) > 2 and args[2] is not None else None
    kernel, strides, dilations = _window(c, x, attrs, w.shape[2:])
    n = len(kernel)
    if int(attrs.get("group", 1)) != 1 or "output_shape" in attrs or text(attrs.get("auto_pad"), "NOTSET") not in ("NOTSET", "VALID"):
        raise c.refuse("group != 1, output_shape and auto_pad other than NOTSET / VALID are not supported")
    pads = [int(p) for p in attrs.get("pads", [0] * 2 * n)]
    output_padding = [int(v) for v in attrs.get("output_padding", [0] * n)]
    return [emit.conv_transpose(c, x, w, bias, strides, dilations, output_padding, list(zip(pads[:n], pads[n:])), "cut", kernel)]


def _pool(kind):
    def convert(c, args, attrs):
        x = c.tensor(args[0])
        if "kernel_shape" not in attrs:
            raise c.refuse("kernel_shape is required")
        kernel, strides, dilations = _window(c, x, attrs, None)
        if attrs.get("ceil_mode", 0) or any(d != 1 for d in dilations) or attrs.get("storage_order", 0):
            raise c.refuse("ceil_mode, dilations and storage_order are not supported")
        padding, pads = _window_pads(c, x, attrs, kernel, strides, dilations, kind)
        if kind == "Average" and pads and any(b or a for b, a in pads) and not attrs.get("count_include_pad", 0):
            raise c.refuse("AveragePool with explicit pads and count_include_pad=0 is not supported (auto_pad=SAME_UPPER is)")
        return [emit.pool(c, x, kind, kernel, strides, pads, padding)]
    return convert


def _global_pool(kind):
    def convert(c, args, attrs):
        x = c.tensor(args[0])
        if len(x.shape) not in (3, 4, 5):
            raise c.refuse(f"an input of shape {x.shape} is not supported (1-D, 2-D or 3-D on (batch, channels, ...))")
        return [emit.global_pool(c, x, kind, len(x.shape) - 2)]
    return convert


def op_resize(c, args, attrs):
    """Resize on the spatial axes of (batch, channels, *spatial): nearest with integer factors
    (asymmetric + floor, or half_pixel + round_prefer_floor / ceil: repeat), linear with half_pixel
    (2-D: tf.image.resize's bilinear), nearest with half_pixel + round_prefer_ceil (2-D: its nearest)."""
    x = c.tensor(args[0], "X of Resize")
    mode = text(attrs.get("mode"), "nearest")
    transform = text(attrs.get("coordinate_transformation_mode"), "half_pixel")
    rounding = text(attrs.get("nearest_mode"), "round_prefer_floor")
    if attrs.get("antialias", 0) or attrs.get("axes") is not None or text(attrs.get("keep_aspect_ratio_policy"), "stretch") != "stretch":
        raise c.refuse("antialias, axes and keep_aspect_ratio_policy are not supported")
    rank = len(x.shape) - 2
    scales = c.constant(args[2], "scales") if len(args) > 2 and args[2] is not None and np.size(c.constant(args[2], "scales")) else None
    sizes = None
    if len(args) > 3 and args[3] is not None:  # constants, or [x.shape[0], x.shape[1], h, w] as exporters write it
        given = as_sizes(args[3])
        keeps = given is not None and len(given.entries) == len(x.shape) and all(
            (isinstance(e, DimRef) and e.tensor == x and e.axis == k) or e == x.shape[k] for k, e in enumerate(given.entries[:2]))
        if not keeps or not all(isinstance(e, (int, np.integer)) for e in given.entries[2:]):
            raise c.refuse("sizes must keep the batch and channel axes and give the spatial sizes as constants")
        sizes = [None, None] + [int(e) for e in given.entries[2:]]
    factors = [float(v) for v in scales] if scales is not None else None
    if factors is None and sizes is not None and None not in x.shape[2:]:
        factors = [1.0, 1.0] + [float(o) / i for o, i in zip(sizes[2:], x.shape[2:])]
    if factors is None or rank not in (1, 2, 3) or factors[:2] != [1.0, 1.0]:
        raise c.refuse("scales (or sizes of a fixed input) of 1 on the batch and channel axes are required")
    spatial = factors[2:]
    integer = all(f >= 1 and f == int(f) for f in spatial)
    repeats = mode == "nearest" and integer and ((transform == "asymmetric" and rounding == "floor") or (
        transform in ("half_pixel", "pytorch_half_pixel") and rounding in ("round_prefer_floor", "round_prefer_ceil")))
    if repeats or (mode == "linear" and transform == "half_pixel" and integer and rank == 2):
        config = {"size": [int(f) for f in spatial], "data_format": "channels_first",
                  "interpolation": "nearest" if mode == "nearest" else "bilinear"}
        return [c.one(f"UpSampling{rank}D", config, [x])]
    exact_nearest = mode == "nearest" and transform == "half_pixel" and rounding == "round_prefer_ceil"
    if rank == 2 and (exact_nearest or (mode == "linear" and transform == "half_pixel")) and None not in x.shape[2:]:
        height, width = (int(sizes[2]), int(sizes[3])) if sizes is not None else (int(x.shape[2] * spatial[0]), int(x.shape[3] * spatial[1]))
        config = {"height": height, "width": width, "interpolation": "nearest" if mode == "nearest" else "bilinear",
                  "data_format": "channels_first"}
        return [c.one("Resizing", config, [x])]
    raise c.refuse(f"mode={mode}, coordinate_transformation_mode={transform}, nearest_mode={rounding} with scales {spatial} "
                   "is not supported; supported: nearest with integer scales (asymmetric + floor, or half_pixel), linear + "
                   "half_pixel, nearest + half_pixel + round_prefer_ceil (2-D)")


OPERATORS = {
    "Conv": op_conv, "ConvTranspose": op_conv_transpose, "MaxPool": _pool("Max"), "AveragePool": _pool("Average"),
    "GlobalAveragePool": _global_pool("Average"), "GlobalMaxPool": _global_pool("Max"), "Resize": op_resize,
}
