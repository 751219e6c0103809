"""ONNX operators of the nn family (tensor tier): convolutions, pooling, normalization layers,
Dropout at inference, Col2Im, Resize / Upsample, GridSample, AffineGrid, DeformConv (on
GridSample's bilinear taps), RoiAlign, NonMaxSuppression. See ops/registry.py for the operator
contract.

ONNX lays images out channels first, (batch, channels, *spatial); the window functions of the
layer tier (layers/conv.py) work channels last, so an operator moves the channel axis at the
boundary (a view) and calls them — the math of a convolution or a window exists once. Every
result keeps the input's type; float16 sums (a convolution's, an average's) are accumulated in
float32 and rounded to float16 once, as ONNX Runtime's CPU kernels do.
"""

from __future__ import annotations

import numpy as np

from ..layers.conv import channels_first, channels_last, conv_bounded, conv_transpose, pad_spatial, window_view
from ..layers.normalization import batch_normalization, group_normalization
from .elementwise import same_type
from .registry import Call, operator
from .values import FLOATS, type_name

INT8 = (np.dtype(np.int8), np.dtype(np.uint8))


def accumulator(dtype) -> np.dtype:
    """The type a sum over `dtype` values is accumulated in: float32 for float16, else itself."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def image(call: Call, x, what: str = "X") -> int:
    """The number of spatial axes of x (batch, channels, *spatial); at least one."""
    if x.ndim < 3:
        raise call.malformed(f"takes {what} of rank 3 or more (batch, channels, *spatial), got shape {list(x.shape)}")
    return x.ndim - 2


def per_axis(call: Call, name: str, n: int, default: int = 1) -> tuple:
    """Attribute `name` as n positive integers (default: n times `default`)."""
    values = call.ints(name, (default,) * n)
    if len(values) != n or any(v < 1 for v in values):
        raise call.malformed(f"has {name}={list(values)}; it needs {n} positive integers")
    return values


def explicit_pads(call: Call, n: int) -> list:
    """The `pads` attribute as n (before, after) pairs (non-negative)."""
    pads = call.ints("pads", (0,) * 2 * n)
    if len(pads) != 2 * n:
        raise call.malformed(f"has pads={list(pads)}; it needs {2 * n} integers")
    if any(p < 0 for p in pads):
        raise call.refuse(f"negative pads {list(pads)}")
    return list(zip(pads[:n], pads[n:]))


def window_geometry(call: Call, spatial, kernel, strides, dilations, ceil_mode: bool = False):
    """(output sizes, [(pad before, pad after)] per axis) of an ONNX window op from auto_pad /
    pads (SAME_UPPER puts the odd pad after, SAME_LOWER before); ceil_mode rounds the count of
    windows up, the last window starting inside the input or its pad before."""
    n = len(spatial)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    auto_pad = call.string("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-size // s) for size, s in zip(spatial, strides)]
        totals = [max((o - 1) * s + span - size, 0) for o, s, span, size in zip(out, strides, spans, spatial)]
        upper = auto_pad == "SAME_UPPER"
        pads = [(t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in totals]
    elif auto_pad in ("NOTSET", "VALID"):
        pads = explicit_pads(call, n) if auto_pad == "NOTSET" else [(0, 0)] * n
        out = []
        for size, (before, after), span, s in zip(spatial, pads, spans, strides):
            room = size + before + after - span
            count = (-(-room // s) if ceil_mode else room // s) + 1
            if ceil_mode and (count - 1) * s >= size + before:
                count -= 1
            out.append(count)
    else:
        raise call.malformed(f"has auto_pad={auto_pad!r} (NOTSET, SAME_UPPER, SAME_LOWER or VALID)")
    if any(o < 1 for o in out):
        raise call.malformed(f"has a window larger than its padded input {list(spatial)}")
    return out, pads


def padded_windows(call: Call, x, kernel, strides, dilations, pads, out, fill=0):
    """Every window of x (batch, channels, *spatial) padded with `fill` by `pads` (and after
    the end as far as the last of `out` windows reaches) as one view, channels last:
    (batch, *out, *kernel, channels)."""
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    reach = [(b, max(a, (o - 1) * s + span - size - b))
             for size, (b, a), o, s, span in zip(x.shape[2:], pads, out, strides, spans)]
    call.admit((x.shape[0],) + tuple(size + b + a for size, (b, a) in zip(x.shape[2:], reach)) + (x.shape[1],),
               x.dtype, "a padded input")
    view = window_view(pad_spatial(channels_last(x), reach, fill), kernel, strides, dilations, "valid")
    return view[(slice(None),) + tuple(slice(0, o) for o in out)]


# -- convolutions ----------------------------------------------------------------------------

CONV_ATTRIBUTES = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def kernel_shape(call: Call, w, n: int) -> tuple:
    """The kernel's spatial shape (W's trailing axes; kernel_shape, if given, must agree)."""
    kernel = tuple(w.shape[2:])
    if len(kernel) != n or (call.has("kernel_shape") and call.ints("kernel_shape") != kernel):
        given = f" and kernel_shape={list(call.ints('kernel_shape'))}" if call.has("kernel_shape") else ""
        raise call.malformed(f"has weights of shape {list(w.shape)} for {n} spatial axes{given}")
    return kernel


@operator("Conv", attributes=CONV_ATTRIBUTES)
def conv(call: Call, x, w, b=None):
    """Y[n, m] = sum over c, taps of X[n, c, p * strides + tap * dilations - pads] W[m, c, tap] + B[m], per group."""
    dtype = same_type(call, [x, w] + ([b] if b is not None else []), FLOATS)
    n = image(call, x)
    kernel = kernel_shape(call, w, n)
    groups = int(call.attr("group", 1))
    if groups < 1 or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise call.malformed(f"has group={groups} for {x.shape[1]} input channels and weights {list(w.shape)}")
    if b is not None and b.shape != (w.shape[0],):
        raise call.malformed(f"has a bias of shape {list(b.shape)} for {w.shape[0]} output channels")
    strides, dilations = per_axis(call, "strides", n), per_axis(call, "dilations", n)
    out, pads = window_geometry(call, x.shape[2:], kernel, strides, dilations)
    call.admit((x.shape[0], w.shape[0], *out), dtype)
    acc = accumulator(dtype)
    call.admit((x.shape[0], *(s + p + q for s, (p, q) in zip(x.shape[2:], pads)), x.shape[1]), acc, "a padded input")
    xl = pad_spatial(channels_last(x.astype(acc, copy=False)), pads)  # (batch, *padded, channels)
    kernel_last = call.prepared((1,), ("kernel", str(acc)),  # made once where W is a constant
                                lambda: np.transpose(w, tuple(range(2, n + 2)) + (1, 0)).astype(acc))  # (*k, in / groups, filters)
    y = conv_bounded(xl, kernel_last, None if b is None else b.astype(acc, copy=False), strides, "valid", dilations, groups, None)
    return channels_first(y).astype(dtype, copy=False)  # (batch, filters, *out)


def transpose_geometry(call: Call, spatial, kernel, strides, dilations, output_padding):
    """(output sizes, pads before) of ConvTranspose: explicit pads; or output_shape (pads then
    ignored) / auto_pad SAME_* splitting the total padding (SAME_UPPER: the odd one after, else
    before)."""
    n = len(spatial)
    full = [s * (size - 1) + op + d * (k - 1) + 1
            for size, k, s, d, op in zip(spatial, kernel, strides, dilations, output_padding)]
    auto_pad = call.string("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise call.malformed(f"has auto_pad={auto_pad!r}")
    if call.has("output_shape") or (auto_pad in ("SAME_UPPER", "SAME_LOWER") and not call.has("pads")):
        out = list(call.ints("output_shape"))[-n:] if call.has("output_shape") else [s * size for s, size in zip(strides, spatial)]
        if len(out) != n:
            raise call.malformed(f"has output_shape={list(call.ints('output_shape'))} for {n} spatial axes")
        totals = [f - o for f, o in zip(full, out)]  # output_shape overrides pads (the spec; ORT)
        before = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals]
    else:
        pads = explicit_pads(call, n) if auto_pad == "NOTSET" else [(0, 0)] * n
        out = [f - b - a for f, (b, a) in zip(full, pads)]
        before = [b for b, _ in pads]
    if any(o < 1 for o in out):
        raise call.malformed(f"gives an output of size {out}")
    return out, before


@operator("ConvTranspose", attributes=CONV_ATTRIBUTES + ("output_padding", "output_shape"))
def conv_transpose_(call: Call, x, w, b=None):
    """The transpose of Conv: each input position adds X[n, c, p] W[c, m, tap] at p * strides +
    tap * dilations, per group; then pads (or output_shape) cut the result (zeros past its end)."""
    dtype = same_type(call, [x, w] + ([b] if b is not None else []), FLOATS)
    n = image(call, x)
    kernel = kernel_shape(call, w, n)
    groups = int(call.attr("group", 1))
    if groups < 1 or x.shape[1] != w.shape[0] or x.shape[1] % groups:
        raise call.malformed(f"has group={groups} for {x.shape[1]} input channels and weights {list(w.shape)}")
    filters = w.shape[1] * groups
    if b is not None and b.shape != (filters,):
        raise call.malformed(f"has a bias of shape {list(b.shape)} for {filters} output channels")
    strides, dilations = per_axis(call, "strides", n), per_axis(call, "dilations", n)
    output_padding = call.ints("output_padding", (0,) * n)
    if len(output_padding) != n or any(p < 0 for p in output_padding):
        raise call.malformed(f"has output_padding={list(output_padding)}")
    out, before = transpose_geometry(call, x.shape[2:], kernel, strides, dilations, output_padding)
    shape = call.admit((x.shape[0], *out, filters), dtype)
    acc = accumulator(dtype)
    call.admit((x.shape[0], *(s * (i - 1) + d * (k - 1) + 1 for i, k, s, d in zip(x.shape[2:], kernel, strides, dilations)),
                filters), acc, "the full transposed convolution")
    xl = channels_last(x.astype(acc, copy=False))  # (batch, *spatial, in)
    per_in = x.shape[1] // groups
    parts = []
    for g in range(groups):
        kernel_g = np.transpose(w[g * per_in:(g + 1) * per_in], tuple(range(2, n + 2)) + (1, 0)).astype(acc)  # (*k, M/g, in/g)
        parts.append(conv_transpose(xl[..., g * per_in:(g + 1) * per_in], kernel_g, None, strides, "valid", (0,) * n,
                                    dilations, None))  # (batch, *full, M/g)
    full = parts[0] if groups == 1 else np.concatenate(parts, axis=-1)
    y = np.zeros(shape, acc)  # (batch, *out, filters): the window [before, before + out) of full, zeros outside it
    target, source = [slice(None)], [slice(None)]
    for f, o, s in zip(full.shape[1:-1], out, before):
        lo, hi = max(s, 0), min(s + o, f)
        target.append(slice(lo - s, max(hi - s, lo - s)))
        source.append(slice(lo, max(hi, lo)))
    y[tuple(target)] = full[tuple(source)]
    if b is not None:
        y += b.astype(acc)
    return channels_first(y).astype(dtype, copy=False)


# -- pooling ---------------------------------------------------------------------------------

def lowest(dtype):
    """The fill that never wins a max: -inf for floats, the type's minimum for integers."""
    return -np.inf if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min


def pool_setup(call: Call, x, dilated: bool = True):
    """(kernel, strides, dilations, out, pads, kernel axes of the window view) of a pooling node."""
    n = image(call, x)
    kernel = per_axis(call, "kernel_shape", n) if call.has("kernel_shape") else None
    if kernel is None:
        raise call.malformed("has no kernel_shape")
    strides = per_axis(call, "strides", n)
    dilations = per_axis(call, "dilations", n) if dilated else (1,) * n
    ceil_mode = bool(call.attr("ceil_mode", 0))
    out, pads = window_geometry(call, x.shape[2:], kernel, strides, dilations, ceil_mode)
    call.admit((x.shape[0], x.shape[1], *out), x.dtype)
    return kernel, strides, dilations, out, pads, tuple(range(1 + n, 1 + 2 * n))


def max_indices(view, x, strides, dilations, pads, kaxes, column_major: bool):
    """The flat index into x (batch, channels, *spatial) of each window's first maximum; with
    column_major the spatial axes are flattened in Fortran order (storage_order 1)."""
    n = len(kaxes)
    flat = view.reshape(view.shape[: 1 + n] + (-1, view.shape[-1]))  # (batch, *out, taps, channels)
    best = np.argmax(flat, axis=1 + n)  # (batch, *out, channels): the tap
    taps = np.unravel_index(best, view.shape[1 + n: 1 + 2 * n])
    spatial = x.shape[2:]
    coords = []
    for axis in range(n):
        p = np.arange(view.shape[1 + axis]).reshape((1,) * (1 + axis) + (-1,) + (1,) * (n - axis))
        coords.append(p * strides[axis] + taps[axis] * dilations[axis] - pads[axis][0])
    within = np.ravel_multi_index(coords, spatial, order="F" if column_major else "C", mode="clip")
    plane = int(np.prod(spatial))
    batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * (n + 1))
    channel = np.arange(x.shape[1]).reshape((1,) * (n + 1) + (-1,))
    return channels_first((batch * x.shape[1] + channel) * plane + within).astype(np.int64)


@operator("MaxPool", attributes=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"))
def max_pool(call: Call, x):
    """The maximum of each window (pads never win); Indices: where it is, flattened over X."""
    same_type(call, [x], FLOATS + INT8)
    kernel, strides, dilations, out, pads, kaxes = pool_setup(call, x)
    view = padded_windows(call, x, kernel, strides, dilations, pads, out, lowest(x.dtype))  # (batch, *out, *k, channels)
    y = channels_first(view.max(axis=kaxes))
    if len(call.node.outputs) < 2 or not call.node.outputs[1]:
        return y
    return y, max_indices(view, x, strides, dilations, pads, kaxes, bool(call.attr("storage_order", 0)))


def window_counts(call: Call, x, kernel, strides, dilations, pads, out, include_pad: bool):
    """How many positions each window averages over, (1, *out, *k, 1) summed to (1, *out, 1):
    the input's, plus the explicit pads with count_include_pad (never what ceil_mode adds)."""
    ones = np.ones((1, 1) + x.shape[2:], accumulator(x.dtype))
    if include_pad:
        ones = channels_first(pad_spatial(channels_last(ones), pads, 1))
        pads = [(0, 0)] * len(pads)
    return padded_windows(call, ones, kernel, strides, dilations, pads, out).sum(axis=tuple(range(1 + len(kernel), 1 + 2 * len(kernel))))


@operator("AveragePool", attributes=("auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"))
def average_pool(call: Call, x):
    """The mean of each window: over its input positions, and its pads with count_include_pad."""
    same_type(call, [x], FLOATS)
    kernel, strides, dilations, out, pads, kaxes = pool_setup(call, x, dilated=call.opset >= 19)
    acc = x.astype(accumulator(x.dtype), copy=False)
    total = padded_windows(call, acc, kernel, strides, dilations, pads, out).sum(axis=kaxes)  # (batch, *out, channels)
    counts = window_counts(call, x, kernel, strides, dilations, pads, out, bool(call.attr("count_include_pad", 0)))
    return channels_first(total / counts).astype(x.dtype, copy=False)


def lp_norm(values, p: int, axis):
    """(sum of |values| ** p over `axis`) ** (1 / p)."""
    if p == 1:
        return np.abs(values).sum(axis=axis)
    if p == 2:
        return np.sqrt(np.square(values).sum(axis=axis))
    return (np.abs(values) ** p).sum(axis=axis) ** (1.0 / p)


def lp_order(call: Call) -> int:
    p = call.attr("p", 2)
    if isinstance(p, float):  # LpPool-1 / GlobalLpPool-1 declared p a float
        if not p.is_integer():
            raise call.refuse(f"p={p} (an integer p)")
        p = int(p)
    if p < 1:
        raise call.malformed(f"has p={p}; it needs p >= 1")
    return p


@operator("LpPool", attributes=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"))
def lp_pool(call: Call, x):
    """(sum over each window of |x| ** p) ** (1 / p); pads are zeros."""
    same_type(call, [x], FLOATS)
    kernel, strides, dilations, out, pads, kaxes = pool_setup(call, x, dilated=call.opset >= 18)
    acc = x.astype(accumulator(x.dtype), copy=False)
    view = padded_windows(call, acc, kernel, strides, dilations, pads, out)
    return channels_first(lp_norm(view, lp_order(call), kaxes)).astype(x.dtype, copy=False)


def global_axes(call: Call, x) -> tuple:
    return tuple(range(2, 2 + image(call, x)))


@operator("GlobalAveragePool")
def global_average_pool(call: Call, x):
    same_type(call, [x], FLOATS)
    axes = global_axes(call, x)
    return np.mean(x, axis=axes, keepdims=True, dtype=accumulator(x.dtype)).astype(x.dtype, copy=False)


@operator("GlobalMaxPool")
def global_max_pool(call: Call, x):
    same_type(call, [x], FLOATS)
    return np.max(x, axis=global_axes(call, x), keepdims=True)


@operator("GlobalLpPool", attributes=("p",))
def global_lp_pool(call: Call, x):
    same_type(call, [x], FLOATS)
    axes = global_axes(call, x)
    y = lp_norm(x.astype(accumulator(x.dtype), copy=False), lp_order(call), axes)
    return np.expand_dims(y, axes).astype(x.dtype, copy=False)


@operator("MaxUnpool", attributes=("kernel_shape", "pads", "strides"))
def max_unpool(call: Call, x, indices, output_shape=None):
    """Zeros of the pooled input's shape with each value of X put back where Indices says
    (flat indices over the whole output, as MaxPool gives them)."""
    same_type(call, [x], FLOATS)
    if indices.dtype != np.int64 or indices.shape != x.shape:
        raise call.malformed(f"takes int64 indices of X's shape {list(x.shape)}, got {type_name(indices.dtype)}{list(indices.shape)}")
    n = image(call, x)
    kernel = per_axis(call, "kernel_shape", n, 0)
    strides = per_axis(call, "strides", n)
    pads = explicit_pads(call, n)
    pooled = list(x.shape[:2]) + [(size - 1) * s + k - b - a for size, s, k, (b, a) in zip(x.shape[2:], strides, kernel, pads)]
    shape = pooled
    if output_shape is not None:
        shape = [int(v) for v in np.asarray(output_shape).reshape(-1)]
        if len(shape) != x.ndim or any(o < p for o, p in zip(shape, pooled)):
            raise call.malformed(f"has output_shape {shape}, smaller than the unpooled shape {pooled}")
    shape = call.admit(shape, x.dtype)
    y = np.zeros(shape, x.dtype)
    flat = indices.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= int(np.prod(pooled))):
        raise call.malformed(f"has an index outside the unpooled shape {pooled}")
    if shape != tuple(pooled):  # the indices count positions of the unpooled shape; the rest is zeros after it
        flat = np.ravel_multi_index(np.unravel_index(flat, pooled), shape)
    y.reshape(-1)[flat] = x.reshape(-1)
    return y


# -- normalization, dropout ------------------------------------------------------------------

@operator("BatchNormalization", attributes=("epsilon", "momentum", "training_mode", "is_test", "spatial", "consumed_inputs"))
def batch_norm(call: Call, x, scale, bias, mean, var):
    """Inference: (X - mean) / sqrt(var + epsilon) * scale + B per channel (training refused)."""
    same_type(call, [x], FLOATS)
    for v in (scale, bias, mean, var):
        if v.dtype not in FLOATS:
            raise call.malformed(f"takes float statistics, got {type_name(v.dtype)}")
    if call.attr("training_mode", 0) or (call.has("is_test") and not call.attr("is_test")):
        raise call.refuse("training mode (batch statistics and running-mean updates): npinfer runs inference only")
    if len([o for o in call.node.outputs if o]) > 1:
        raise call.refuse("the training outputs (running mean and variance)")
    axes = [1] if call.attr("spatial", 1) else list(range(1, x.ndim))
    acc = accumulator(x.dtype)
    stats = [v.astype(acc) for v in (mean, var, scale, bias)]
    if any(v.size != int(np.prod([x.shape[a] for a in axes])) for v in stats):
        raise call.malformed(f"has statistics of shapes {[list(v.shape) for v in (scale, bias, mean, var)]} for X {list(x.shape)}")
    epsilon = np.asarray(call.attr("epsilon", 1e-5), acc)
    return batch_normalization(x.astype(acc, copy=False), stats[0], stats[1], stats[2], stats[3], epsilon, axes).astype(x.dtype)


@operator("InstanceNormalization", attributes=("epsilon",))
def instance_norm(call: Call, x, scale, bias):
    """Each (sample, channel) normalized over its spatial axes, then * scale[c] + B[c]."""
    same_type(call, [x, scale, bias], FLOATS)
    image(call, x, "input")
    channels = x.shape[1]
    if scale.shape != (channels,) or bias.shape != (channels,):
        raise call.malformed(f"has scale {list(scale.shape)} and B {list(bias.shape)} for {channels} channels")
    acc = accumulator(x.dtype)
    y = group_normalization(x.astype(acc, copy=False), scale.astype(acc), bias.astype(acc), channels, 1,
                            call.attr("epsilon", 1e-5))
    return y.astype(x.dtype, copy=False)


@operator("LRN", attributes=("alpha", "beta", "bias", "size"))
def lrn(call: Call, x):
    """X / (bias + alpha / size * sum of X^2 over the `size` channels around c) ** beta."""
    same_type(call, [x], FLOATS)
    image(call, x)
    size = int(call.attr("size"))
    if size < 1:
        raise call.malformed(f"has size={size}")
    alpha, beta, bias = call.attr("alpha", 1e-4), call.attr("beta", 0.75), call.attr("bias", 1.0)
    acc = accumulator(x.dtype)
    squares = np.square(x.astype(acc))
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2  # channels c - before .. c + after
    padded = np.zeros((x.shape[0], x.shape[1] + size - 1) + x.shape[2:], acc)
    padded[:, before: before + x.shape[1]] = squares
    total = sum(padded[:, k: k + x.shape[1]] for k in range(size))  # (batch, channels, *spatial)
    return (x / (np.asarray(bias, acc) + np.asarray(alpha / size, acc) * total) ** np.asarray(beta, acc)).astype(x.dtype)


@operator("Dropout", attributes=("ratio", "seed", "is_test", "consumed_inputs"))
def dropout(call: Call, x, ratio=None, training_mode=None):
    """Inference: the input unchanged, and a mask of ones (bool from opset 10; X's type before).
    Training with a non-zero ratio (random) is refused."""
    same_type(call, [x], FLOATS)
    training = training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0])
    if call.has("is_test") and not call.attr("is_test"):
        training = True
    rate = float(np.asarray(ratio).reshape(-1)[0]) if ratio is not None else float(call.attr("ratio", 0.5))
    if training and rate != 0.0:
        raise call.refuse("training mode with a non-zero ratio (random masking): npinfer runs inference only")
    if len(call.node.outputs) < 2 or not call.node.outputs[1]:
        return x
    mask = np.ones(x.shape, bool if call.opset >= 10 else x.dtype)
    return x, mask


# -- Col2Im ----------------------------------------------------------------------------------

@operator("Col2Im", attributes=("dilations", "pads", "strides"))
def col2im(call: Call, columns, image_shape, block_shape):
    """The adjoint of gathering windows: each column (batch, C * prod(block), L) adds its block
    of values at its window of the image (batch, C, *image_shape); overlaps add up."""
    same_type(call, [columns], FLOATS)
    spatial = [int(v) for v in np.asarray(image_shape).reshape(-1)]
    block = [int(v) for v in np.asarray(block_shape).reshape(-1)]
    n = len(spatial)
    if len(block) != n or columns.ndim != 3 or any(b < 1 for b in block):
        raise call.malformed(f"has image_shape {spatial}, block_shape {block} and input {list(columns.shape)}")
    strides, dilations = per_axis(call, "strides", n), per_axis(call, "dilations", n)
    pads = explicit_pads(call, n)
    taps = int(np.prod(block))
    counts = [(size + b + a - d * (k - 1) - 1) // s + 1 for size, (b, a), k, s, d in zip(spatial, pads, block, strides, dilations)]
    if columns.shape[1] % taps or columns.shape[2] != int(np.prod(counts)) or min(counts) < 1:
        raise call.malformed(f"has input {list(columns.shape)} for blocks {block} over {counts} positions")
    channels = columns.shape[1] // taps
    padded = call.admit((columns.shape[0], channels, *(size + b + a for size, (b, a) in zip(spatial, pads))), columns.dtype)
    acc = accumulator(columns.dtype)
    y = np.zeros(padded, acc)
    blocks = columns.astype(acc, copy=False).reshape((columns.shape[0], channels, *block, *counts))
    for tap in np.ndindex(*block):
        where = tuple(slice(j * d, j * d + (c - 1) * s + 1, s) for j, d, s, c in zip(tap, dilations, strides, counts))
        y[(slice(None), slice(None)) + where] += blocks[(slice(None), slice(None)) + tap]
    y = y[(slice(None), slice(None)) + tuple(slice(b, b + size) for (b, _), size in zip(pads, spatial))]
    return np.ascontiguousarray(y).astype(columns.dtype, copy=False)



# -- Resize, Upsample ------------------------------------------------------------------------

COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def source_coordinates(mode: str, out: int, size: int, scale: float, roi) -> tuple:
    """Where each of `out` outputs samples an axis of `size` inputs (float64), and for
    tf_crop_and_resize which of them fall outside the input (else None)."""
    y = np.arange(out, dtype=np.float64)
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if mode == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / (scale * size))
        return offset + (y + 0.5) / scale - 0.5, None
    length = scale * size  # the output length before rounding down (ONNX's output_width; ONNX Runtime takes `out`)
    if mode == "pytorch_half_pixel":
        return ((y + 0.5) / scale - 0.5 if length != 1 else np.full(out, -0.5)), None
    if mode == "align_corners":
        return (y * (size - 1) / (length - 1) if length != 1 else np.zeros(out)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale, None
    start, end = roi  # tf_crop_and_resize: the region [start, end] of the axis, as fractions
    x = (start * (size - 1) + y * (end - start) * (size - 1) / (length - 1) if length != 1
         else np.full(out, start * (size - 1) + (end - start) * (size - 1) / 2))
    return x, (x < 0) | (x > size - 1)


def nearest_index(x, mode: str, scale: float):
    """The input position nearest_mode picks for source coordinates x ('simple', the rule of
    Upsample and Resize-10: down if upsampling, up if downsampling)."""
    if mode == "simple":
        mode = "ceil" if scale < 1 else "floor"
    rounded = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
               "floor": np.floor, "ceil": np.ceil}[mode](x)
    return rounded.astype(np.int64)


def cubic_weights(t, a: float):
    """Keys's cubic convolution kernel of parameter a at distances t (any shape)."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def interpolation_taps(x, size: int, scale: float, mode: str, a: float, antialias: bool, exclude_outside: bool):
    """(indices, weights), each (out, taps): the input positions each output mixes and their
    weights, for linear or cubic interpolation at source coordinates x (float64). With
    antialias, a downscaling axis stretches the kernel by 1 / scale; positions outside the
    input repeat the edge, or weigh 0 with exclude_outside (the rest renormalised)."""
    base = np.floor(x)
    ratio = x - base
    whole = ratio == 0
    base, ratio = np.where(whole, base - 1, base), np.where(whole, 1.0, ratio)  # ratio in (0, 1]
    stretch = min(scale, 1.0) if antialias else 1.0
    support = 1 if mode == "linear" else 2
    first = int(np.floor(-support / stretch) + 1)  # the first tap's offset from base
    offsets = np.arange(first, 1 - first + 1)  # (taps,)
    distance = (offsets[None, :] - ratio[:, None]) * stretch  # (out, taps)
    if mode == "linear":
        weights = np.clip(1 - np.abs(distance), 0, 1)
    else:
        weights = cubic_weights(distance, a)
    if antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    indices = base.astype(np.int64)[:, None] + offsets[None, :]
    if exclude_outside:
        weights = np.where((indices < 0) | (indices >= size), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    return np.clip(indices, 0, size - 1), weights


def resize_axis(x, axis: int, out: int, scale: float, roi, options: dict):
    """x resized along `axis` to `out` positions (x in its computing type; nearest exact)."""
    size = x.shape[axis]
    coords, outside = source_coordinates(options["coordinates"], out, size, scale, roi)
    shape = [1] * x.ndim
    shape[axis] = out
    if options["mode"] == "nearest":
        y = np.take(x, np.clip(nearest_index(coords, options["nearest"], scale), 0, size - 1), axis=axis)
    else:
        indices, weights = interpolation_taps(coords, size, scale, options["mode"], options["cubic_a"],
                                              options["antialias"], options["exclude_outside"])
        weights = weights.astype(x.dtype)
        y = 0
        for k in range(indices.shape[1]):
            y = y + np.take(x, indices[:, k], axis=axis) * weights[:, k].reshape(shape)
    if outside is not None and outside.any():
        y = np.where(outside.reshape(shape), np.asarray(options["extrapolation"]).astype(y.dtype), y)
    return y


def resize_plan(call: Call, x, roi, scales, sizes, axes):
    """[(axis, out, scale, roi pair)] for every axis that changes, the output shape admitted."""
    rank = x.ndim
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
        raise call.malformed(f"has axes {axes} for an input of rank {rank}")
    if scales is not None and scales.size:
        if scales.dtype not in FLOATS:
            raise call.malformed(f"takes float scales, got {type_name(scales.dtype)}")
        factors = [float(v) for v in scales.reshape(-1)]
        if len(factors) != len(axes) or any(f <= 0 for f in factors):
            raise call.malformed(f"has scales {factors} for axes {axes}")
        outs = [int(np.floor(x.shape[a] * f)) for a, f in zip(axes, factors)]
    elif sizes is not None and sizes.size:
        outs = [int(v) for v in sizes.reshape(-1)]
        if len(outs) != len(axes) or any(o < 0 for o in outs):
            raise call.malformed(f"has sizes {outs} for axes {axes}")
        factors = [o / x.shape[a] if x.shape[a] else 1.0 for a, o in zip(axes, outs)]
        policy = call.string("keep_aspect_ratio_policy", "stretch")
        if policy in ("not_larger", "not_smaller"):
            scale = min(factors) if policy == "not_larger" else max(factors)
            factors = [scale] * len(axes)
            outs = [int(scale * x.shape[a] + 0.5) for a in axes]
        elif policy != "stretch":
            raise call.malformed(f"has keep_aspect_ratio_policy={policy!r}")
    else:
        raise call.malformed("has neither scales nor sizes")
    shape = list(x.shape)
    for a, o in zip(axes, outs):
        shape[a] = o
    call.admit(shape, x.dtype)
    boxes = [(0.0, 1.0)] * len(axes)
    if call.string("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
        values = np.asarray(roi, np.float64).reshape(-1) if roi is not None else np.zeros(0)
        if values.size == 2 * rank:
            boxes = [(values[a], values[a + rank]) for a in axes]
        elif values.size == 2 * len(axes):
            boxes = [(values[i], values[i + len(axes)]) for i in range(len(axes))]
        else:
            raise call.malformed(f"has roi {values.tolist()} for axes {axes}")
    return [(a, o, f, box) for a, o, f, box in zip(axes, outs, factors, boxes)
            if not (o == x.shape[a] and f == 1.0 and box == (0.0, 1.0))]


def resized(call: Call, x, plan, options: dict):
    """x resized by `plan` (axis by axis, in the computing type), in x's type: floats round
    once, integers truncate toward zero (a C cast, as ONNX Runtime) and saturate; a value
    within 1e-6 of an integer is that integer (the weights' rounding, e.g. 40.9999999 for 41)."""
    if x.dtype not in FLOATS and x.dtype.kind not in "iu":
        raise call.refuse(f"is not defined for {type_name(x.dtype)}")
    compute = accumulator(x.dtype) if x.dtype.kind == "f" else (x.dtype if options["mode"] == "nearest" else np.dtype(np.float64))
    y = x.astype(compute, copy=False)
    for axis, out, scale, roi in plan:
        y = resize_axis(y, axis, out, scale, roi, options)
    if y.dtype != x.dtype and x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        whole = np.rint(y)
        y = np.clip(np.where(np.abs(y - whole) < 1e-6, whole, np.trunc(y)), info.min, info.max)
    return np.ascontiguousarray(y).astype(x.dtype, copy=False)


RESIZE_ATTRIBUTES = ("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                     "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode")


def resize_options(call: Call, legacy: bool) -> dict:
    """The interpolation a Resize / Upsample node asks for (legacy: Upsample and Resize-10,
    asymmetric coordinates and the 'simple' nearest rule)."""
    mode = call.string("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode) if legacy else mode
    if mode not in ("nearest", "linear", "cubic") or (legacy and mode == "cubic"):
        raise call.malformed(f"has mode={mode!r}")
    coordinates = "asymmetric" if legacy else call.string("coordinate_transformation_mode", "half_pixel")
    nearest = "simple" if legacy else call.string("nearest_mode", "round_prefer_floor")
    if coordinates not in COORDINATE_MODES or nearest not in NEAREST_MODES[:4] + (("simple",) if legacy else ()):
        raise call.malformed(f"has coordinate_transformation_mode={coordinates!r}, nearest_mode={nearest!r}")
    antialias = bool(call.attr("antialias", 0))
    if antialias and mode == "nearest":
        raise call.malformed("asks for antialias with mode 'nearest'")
    return {"mode": mode, "coordinates": coordinates, "nearest": nearest, "antialias": antialias,
            "cubic_a": float(call.attr("cubic_coeff_a", -0.75)), "exclude_outside": bool(call.attr("exclude_outside", 0)),
            "extrapolation": float(call.attr("extrapolation_value", 0.0))}


@operator("Resize", attributes=RESIZE_ATTRIBUTES)
def resize(call: Call, x, *inputs):
    """X resized along its axes (or `axes`) by scales or to sizes: nearest (every nearest_mode),
    linear or cubic, with any coordinate_transformation_mode; separable, one axis at a time."""
    if call.opset < 11:
        roi, scales, sizes = None, (inputs[0] if inputs else None), None
    else:
        roi, scales, sizes = (list(inputs) + [None] * 3)[:3]
    options = resize_options(call, legacy=call.opset < 11)
    axes = call.ints("axes", None)
    if scales is not None and scales.size and sizes is not None and sizes.size:
        raise call.malformed("has both scales and sizes")
    return resized(call, x, resize_plan(call, x, roi, scales, sizes, axes), options)


@operator("Upsample", attributes=("mode", "scales", "height_scale", "width_scale"))
def upsample(call: Call, x, scales=None):
    """Resize with asymmetric coordinates: nearest (the 'simple' rule) or linear; scales as an
    attribute (opset 7) or an input (opset 9)."""
    if scales is None:
        if not call.has("scales"):
            raise call.refuse("height_scale / width_scale (Upsample-1)")
        scales = np.asarray(call.attr("scales"), np.float32)
    return resized(call, x, resize_plan(call, x, None, scales, None, None), resize_options(call, legacy=True))


# -- GridSample, AffineGrid ------------------------------------------------------------------

def reflect(x, low: float, high: float):
    """x folded back into [low, high] at its ends, as often as it takes."""
    span = high - low
    if span <= 0:
        return np.full_like(x, low)
    below = x < low
    distance = np.where(below, low - x, x - high)
    turns = np.floor(distance / span)
    rest = distance - turns * span
    even = turns % 2 == 0
    folded = np.where(below, np.where(even, low + rest, high - rest), np.where(even, high - rest, low + rest))
    return np.where(below | (x > high), folded, x)


def grid_taps(g, size: int, mode: str, padding: str, align: bool):
    """For normalized coordinates g (any shape) along an axis of `size`: (indices, weights,
    valid), each g.shape + (taps,); invalid taps (zeros padding, outside) weigh nothing."""
    x = (g + 1) / 2 * (size - 1) if align else ((g + 1) * size - 1) / 2
    low, high = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
    return sample_taps(x, size, mode, padding, low, high)


def sample_taps(x, size: int, mode: str, padding: str, low: float, high: float):
    """For positions x (any shape, in input positions) along an axis of `size`: (indices,
    weights, valid), each x.shape + (taps,), for nearest, linear or cubic sampling: reflection
    folds x and its taps back into [low, high]; border clamps each tap (not x: a cubic's
    weights come from where x is); with zeros, taps outside are invalid."""
    if mode == "nearest":
        x = np.rint(x)
    outside = (x < low) | (x > high)
    if padding == "reflection":
        x = np.where(outside, reflect(x, low, high), x)
    if mode == "nearest":
        indices, weights = x.astype(np.int64)[..., None], np.ones(x.shape + (1,), x.dtype)
    else:
        base = np.floor(x)
        t = x - base
        offsets = np.arange(2) if mode == "linear" else np.arange(-1, 3)
        indices = base.astype(np.int64)[..., None] + offsets
        distance = offsets - t[..., None]
        weights = 1 - np.abs(distance) if mode == "linear" else cubic_weights(distance, -0.75)
    if padding == "zeros":
        valid = (indices >= 0) & (indices < size)
    else:
        if padding == "reflection":
            indices = reflect(indices.astype(x.dtype), low, high).astype(np.int64)
        valid = np.ones(indices.shape, bool)
    return np.clip(indices, 0, size - 1), weights, valid


@operator("GridSample", attributes=("align_corners", "mode", "padding_mode"))
def grid_sample(call: Call, x, grid):
    """Y[n, c, p] = X[n, c] sampled at grid[n, p] (normalized to [-1, 1], the last axis first):
    nearest, linear or cubic (Keys, a = -0.75), zeros / border / reflection padding."""
    same_type(call, [x], FLOATS)
    same_type(call, [grid], FLOATS)
    n = image(call, x)
    if grid.ndim != n + 2 or grid.shape[0] != x.shape[0] or grid.shape[-1] != n:
        raise call.malformed(f"has grid {list(grid.shape)} for X {list(x.shape)}")
    mode = call.string("mode", "bilinear" if call.opset < 20 else "linear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    padding = call.string("padding_mode", "zeros")
    if mode not in ("nearest", "linear", "cubic") or padding not in ("zeros", "border", "reflection"):
        raise call.malformed(f"has mode={mode!r}, padding_mode={padding!r}")
    out = grid.shape[1:-1]
    shape = call.admit((x.shape[0], *out, x.shape[1]), x.dtype)
    acc = accumulator(x.dtype)
    coords = grid.astype(acc)
    align = bool(call.attr("align_corners", 0))
    taps = [grid_taps(coords[..., n - 1 - axis], x.shape[2 + axis], mode, padding, align) for axis in range(n)]
    xl = channels_last(x.astype(acc, copy=False))  # (batch, *spatial, channels)
    y = sampled(xl, taps, shape)  # (batch, *out, channels)
    return channels_first(y).astype(x.dtype, copy=False)


def sampled(xl, taps, shape):
    """xl (images, *spatial, channels) sampled at the points of `taps` (sample_taps of each
    spatial axis, each (images, *points, taps)): the weighted sum of the taps' values,
    (images, *points, channels) = `shape`, zero weight for invalid taps."""
    batch = np.arange(xl.shape[0]).reshape((-1,) + (1,) * (len(shape) - 2))
    y = np.zeros(shape, xl.dtype)
    for combination in np.ndindex(*(t[0].shape[-1] for t in taps)):
        index, weight = [batch], 1
        for (indices, weights, valid), k in zip(taps, combination):
            index.append(indices[..., k])
            weight = weight * np.where(valid[..., k], weights[..., k], 0)
        y += xl[tuple(index)] * weight[..., None].astype(xl.dtype, copy=False)
    return y


@operator("AffineGrid", attributes=("align_corners",))
def affine_grid(call: Call, theta, size):
    """The sampling grid (N, *spatial, n) of GridSample for affine matrices theta (N, n, n + 1)
    over an output of `size` (N, C, *spatial): theta @ [x, y(, z), 1] at each position's
    normalized coordinates."""
    same_type(call, [theta], FLOATS)
    dims = [int(v) for v in np.asarray(size).reshape(-1)]
    n = len(dims) - 2
    if n not in (2, 3) or theta.shape != (dims[0], n, n + 1):
        raise call.malformed(f"has theta {list(theta.shape)} for size {dims}")
    call.admit((dims[0], *dims[2:], n), theta.dtype)
    acc = accumulator(theta.dtype)
    align = bool(call.attr("align_corners", 0))

    def axis(length):
        if align:
            return np.linspace(-1, 1, length, dtype=acc)  # one position: -1 (the reference, torch; ORT gives 1)
        return ((np.arange(length, dtype=acc) * 2 + 1) / length - 1).astype(acc)

    spatial = dims[2:]
    mesh = np.meshgrid(*(axis(d) for d in spatial), indexing="ij")  # each (*spatial)
    points = np.stack(list(mesh[::-1]) + [np.ones(spatial, acc)], axis=-1)  # (*spatial, n + 1): x first
    grid = np.einsum("...j,bij->b...i", points, theta.astype(acc))  # (N, *spatial, n)
    return grid.astype(theta.dtype)


# -- DeformConv -----------------------------------------------------------------------------

@operator("DeformConv", attributes=("dilations", "group", "kernel_shape", "offset_group", "pads", "strides"))
def deform_conv(call: Call, x, w, offset, b=None, mask=None):
    """Conv whose every tap samples X (bilinear, zeros outside) at its place moved by `offset`
    (N, offset_group * taps * n, *out: per offset group, tap and axis) and weighs it by `mask`
    (N, offset_group * taps, *out; ones if omitted); W (M, C / group, *k), B (M)."""
    dtype = same_type(call, [v for v in (x, w, offset, b, mask) if v is not None], FLOATS)
    n = image(call, x)
    kernel = kernel_shape(call, w, n)
    taps = int(np.prod(kernel))
    groups, offset_groups = int(call.attr("group", 1)), int(call.attr("offset_group", 1))
    batch, channels, filters = x.shape[0], x.shape[1], w.shape[0]
    if groups < 1 or channels != w.shape[1] * groups or filters % groups:
        raise call.malformed(f"has group={groups} for {channels} input channels and weights {list(w.shape)}")
    if offset_groups < 1 or channels % offset_groups:
        raise call.malformed(f"has offset_group={offset_groups} for {channels} input channels")
    strides, dilations = per_axis(call, "strides", n), per_axis(call, "dilations", n)
    out, pads = window_geometry(call, x.shape[2:], kernel, strides, dilations)
    if offset.shape != (batch, offset_groups * taps * n, *out):
        raise call.malformed(f"has offset {list(offset.shape)}; it needs {[batch, offset_groups * taps * n, *out]}")
    if mask is not None and mask.shape != (batch, offset_groups * taps, *out):
        raise call.malformed(f"has mask {list(mask.shape)}; it needs {[batch, offset_groups * taps, *out]}")
    if b is not None and b.shape != (filters,):
        raise call.malformed(f"has a bias of shape {list(b.shape)} for {filters} output channels")
    call.admit((batch, *out, filters), dtype)
    images, per_offset = batch * offset_groups, channels // offset_groups
    shape = call.admit((images, taps, *out, per_offset), accumulator(dtype), "the sampled columns")
    acc = accumulator(dtype)
    moves = offset.astype(acc).reshape(images, taps, n, *out)  # per (image, offset group): (taps, axis, *out)
    spots = []
    for axis in range(n):
        tap = np.unravel_index(np.arange(taps), kernel)[axis].reshape((1, taps) + (1,) * n)
        start = (np.arange(out[axis]) * strides[axis] - pads[axis][0]).reshape((1, 1) + tuple(-1 if a == axis else 1 for a in range(n)))
        where = start + tap * dilations[axis] + moves[:, :, axis]  # (images, taps, *out)
        spots.append(sample_taps(where, x.shape[2 + axis], "linear", "zeros", 0.0, x.shape[2 + axis] - 1.0))
    xl = channels_last(x.astype(acc, copy=False).reshape(images, per_offset, *x.shape[2:]))  # (images, *spatial, C / og)
    columns = sampled(xl, [tuple(t.reshape((images, -1, t.shape[-1])) for t in spot) for spot in spots],
                      (images, taps * int(np.prod(out)), per_offset)).reshape(shape)  # (images, taps, *out, C / og)
    if mask is not None:
        columns *= mask.astype(acc).reshape(images, taps, *out)[..., None]
    columns = columns.reshape(batch, offset_groups, taps, -1, per_offset)  # (batch, og, taps, out, C / og)
    columns = columns.transpose(0, 3, 1, 4, 2).reshape(batch, -1, groups, channels // groups * taps)  # (batch, out, G, C/G * taps)
    kernels = w.astype(acc).reshape(groups, filters // groups, -1).transpose(0, 2, 1)  # (G, C/G * taps, M / G)
    y = np.einsum("bpgi,gim->bpgm", columns, kernels).reshape(batch, *out, filters)
    if b is not None:
        y += b.astype(acc)
    return channels_first(y).astype(dtype, copy=False)  # (batch, filters, *out)


# -- RoiAlign, NonMaxSuppression -------------------------------------------------------------

def roi_samples(start: float, length: float, bins: int, grid: int, size: int):
    """The bilinear sample points of one axis of a region: (low index, high index, low weight,
    high weight, valid), each (bins * grid,), as RoiAlign takes them (points beyond -1 / size
    are invalid; points past the last position stick to it)."""
    points = start + (np.arange(bins)[:, None] + (np.arange(grid)[None, :] + 0.5) / grid) * (length / bins)
    points = points.reshape(-1)
    valid = (points >= -1.0) & (points <= size)
    points = np.maximum(points, 0)
    low = np.floor(points).astype(np.int64)
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    high = np.where(last, size - 1, low + 1)
    fraction = np.where(last, 0.0, points - low)
    return low, high, 1 - fraction, fraction, valid


@operator("RoiAlign", attributes=("coordinate_transformation_mode", "mode", "output_height", "output_width",
                                  "sampling_ratio", "spatial_scale"))
def roi_align(call: Call, x, rois, batch_indices):
    """For each region (x1, y1, x2, y2) * spatial_scale of image batch_indices[r]: an
    output_height x output_width grid of bins, each the mean (or max) of bilinear samples."""
    same_type(call, [x, rois], FLOATS)
    if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 4 or batch_indices.shape != (rois.shape[0],):
        raise call.malformed(f"has X {list(x.shape)}, rois {list(rois.shape)}, batch_indices {list(batch_indices.shape)}")
    if batch_indices.size and (batch_indices.min() < 0 or batch_indices.max() >= x.shape[0]):
        raise call.malformed("has a batch index outside X")
    mode = call.string("mode", "avg")
    half = call.string("coordinate_transformation_mode", "half_pixel") == "half_pixel" if call.opset >= 16 else False
    if mode not in ("avg", "max"):
        raise call.malformed(f"has mode={mode!r}")
    height, width = int(call.attr("output_height", 1)), int(call.attr("output_width", 1))
    ratio, scale = int(call.attr("sampling_ratio", 0)), float(call.attr("spatial_scale", 1.0))
    shape = call.admit((rois.shape[0], x.shape[1], height, width), x.dtype)
    acc = accumulator(x.dtype)
    y = np.zeros(shape, acc)
    offset = 0.5 if half else 0.0
    for r, (box, b) in enumerate(zip(rois.astype(np.float64), batch_indices)):
        x1, y1, x2, y2 = box * scale - offset
        roi_w, roi_h = x2 - x1, y2 - y1
        if not half:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        grid_h = ratio if ratio > 0 else int(np.ceil(roi_h / height))
        grid_w = ratio if ratio > 0 else int(np.ceil(roi_w / width))
        ys = roi_samples(y1, roi_h, height, grid_h, x.shape[2])
        xs = roi_samples(x1, roi_w, width, grid_w, x.shape[3])
        plane = x[b].astype(acc, copy=False)  # (channels, H, W)
        corners = []
        for yi, wy in ((ys[0], ys[2]), (ys[1], ys[3])):
            for xi, wx in ((xs[0], xs[2]), (xs[1], xs[3])):
                weight = (wy * ys[4])[:, None] * (wx * xs[4])[None, :]  # (height * grid_h, width * grid_w)
                corners.append(plane[:, yi[:, None], xi[None, :]] * weight.astype(acc))
        samples = (sum(corners) if mode == "avg" else np.maximum.reduce(corners))
        samples = samples.reshape(x.shape[1], height, grid_h, width, grid_w)
        if mode == "avg":
            y[r] = samples.sum(axis=(2, 4)) / max(grid_h * grid_w, 1)
        else:
            y[r] = samples.max(axis=(2, 4)) if grid_h * grid_w else 0
    return y.astype(x.dtype, copy=False)


def box_corners(boxes, center_point_box: int):
    """(y_min, x_min, y_max, x_max) of boxes (..., 4): corners in either order, or centres."""
    if center_point_box:
        cx, cy, w, h = np.moveaxis(boxes, -1, 0)
        return cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2
    y1, x1, y2, x2 = np.moveaxis(boxes, -1, 0)
    return np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)


@operator("NonMaxSuppression", attributes=("center_point_box",), fold=True)
def non_max_suppression(call: Call, boxes, scores, max_output=None, iou_threshold=None, score_threshold=None):
    """Per batch and class: boxes by falling score (above score_threshold), each kept unless it
    overlaps a kept one by IoU > iou_threshold, at most max_output_boxes_per_class;
    selected (batch, class, box) int64."""
    same_type(call, [boxes, scores], FLOATS)
    if boxes.ndim != 3 or boxes.shape[2] != 4 or scores.ndim != 3 or scores.shape[0] != boxes.shape[0] \
            or scores.shape[2] != boxes.shape[1]:
        raise call.malformed(f"has boxes {list(boxes.shape)} and scores {list(scores.shape)}")
    limit = int(np.asarray(max_output).reshape(-1)[0]) if max_output is not None and max_output.size else 0
    iou_limit = float(np.asarray(iou_threshold).reshape(-1)[0]) if iou_threshold is not None and iou_threshold.size else 0.0
    floor = float(np.asarray(score_threshold).reshape(-1)[0]) if score_threshold is not None and score_threshold.size else None
    y_min, x_min, y_max, x_max = box_corners(boxes.astype(np.float64), int(call.attr("center_point_box", 0)))
    area = (y_max - y_min) * (x_max - x_min)  # (batch, boxes)
    selected = []
    for b in range(boxes.shape[0]):
        for c in range(scores.shape[1]):
            s = scores[b, c]
            order = [i for i in np.argsort(-s.astype(np.float64), kind="stable") if floor is None or s[i] > floor]
            kept = []
            for i in order:
                if len(kept) >= limit:
                    break
                if kept:
                    k = np.asarray(kept)
                    inter = (np.clip(np.minimum(y_max[b, i], y_max[b, k]) - np.maximum(y_min[b, i], y_min[b, k]), 0, None)
                             * np.clip(np.minimum(x_max[b, i], x_max[b, k]) - np.maximum(x_min[b, i], x_min[b, k]), 0, None))
                    union = area[b, i] + area[b, k] - inter
                    with np.errstate(invalid="ignore", divide="ignore"):
                        iou = np.where((inter > 0) & (area[b, i] > 0) & (area[b, k] > 0) & (union > 0), inter / union, 0.0)
                    if np.any(iou > iou_limit):
                        continue
                kept.append(i)
            selected.extend((b, c, i) for i in kept)
    return np.asarray(selected, np.int64).reshape(-1, 3)
