"""Reductions, arg-reductions, matrix products, softmax, TopK, cumulative sums, normalizations and
losses (tensor tier), with ONNX's type rules: a reduction keeps its input's type (integers
included: an integer ReduceMean truncates), indices are int64, float16 and float64 compute in
their own type (except where ONNX's stash_type says float32). The math is the layer tier's where
it is the same (layers/tensor_ops.py: _REDUCE, arg_reduce, softmax_over, matmul;
layers/normalization.py: moments, group_normalization). See ops/registry.py for the contract."""

from __future__ import annotations

import numpy as np

from ..layers.normalization import group_normalization, moments
from ..layers.tensor_ops import _REDUCE, arg_reduce, matmul, softmax_over
from .elementwise import integer_divide, same_type
from .registry import Call, operator
from .values import FLOATS, INTEGERS, type_name

SUMMABLE = FLOATS + tuple(np.dtype(t) for t in (np.int32, np.int64, np.uint32, np.uint64))  # ReduceSum, MatMul, ...
ORDERED = SUMMABLE + tuple(np.dtype(t) for t in (np.int8, np.uint8, np.bool_))  # ReduceMax / ReduceMin
RANKED = FLOATS + INTEGERS  # ArgMax, TopK, Einsum


def axis_of(call: Call, axis: int, rank: int) -> int:
    """`axis` in [-rank, rank) as a non-negative axis (outside it: a malformed node)."""
    if not -rank <= axis < rank:
        raise call.malformed(f"has axis {axis}, out of range for a rank-{rank} input")
    return axis % rank


def axes_of(call: Call, axes, rank: int) -> tuple:
    """Sorted, distinct, non-negative axes."""
    normalized = tuple(sorted(axis_of(call, int(a), rank) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise call.malformed(f"repeats an axis in {list(axes)}")
    return normalized


def int_input(call: Call, value, what: str) -> np.ndarray:
    """An integer input (axes, k, axis) as a 1-D int64 array."""
    if value.dtype.kind not in "iu":
        raise call.malformed(f"takes integer {what}, not {type_name(value.dtype)}")
    return value.reshape(-1).astype(np.int64)


def checked(call: Call, x: np.ndarray, allowed) -> np.ndarray:
    same_type(call, (x,), allowed)
    return x


# -- reductions ------------------------------------------------------------------------------

_AXES_INPUT = {"ReduceSum": 13}  # the opset from which axes is an input; 18 for every other Reduce*
_REDUCTIONS = {"ReduceSum": ("sum", SUMMABLE), "ReduceMean": ("mean", SUMMABLE), "ReduceMax": ("max", ORDERED),
               "ReduceMin": ("min", ORDERED), "ReduceProd": ("prod", SUMMABLE), "ReduceL1": ("l1", SUMMABLE),
               "ReduceL2": ("l2", SUMMABLE), "ReduceSumSquare": ("sum_square", SUMMABLE),
               "ReduceLogSum": ("log_sum", FLOATS), "ReduceLogSumExp": ("log_sum_exp", FLOATS)}


def reduction_axes(call: Call, x: np.ndarray, axes_input) -> tuple:
    """The axes a Reduce* node reduces: from the attribute (old opsets) or the input; none given
    means all, or none at all with noop_with_empty_axes."""
    if call.opset < _AXES_INPUT.get(call.node.op_type, 18):
        axes = call.ints("axes", None)
        return axes_of(call, axes, x.ndim) if axes else tuple(range(x.ndim))
    axes = () if axes_input is None else tuple(int_input(call, axes_input, "axes").tolist())
    if not axes:
        return () if call.attr("noop_with_empty_axes", 0) else tuple(range(x.ndim))
    return axes_of(call, axes, x.ndim)


def _identity(op: str, dtype: np.dtype):
    """What a max / min / log-sum-exp over no elements gives (ONNX, ORT): -inf / inf for floats,
    the type's lowest / highest value for integers, False / True for bool."""
    low = op in ("max", "log_sum_exp")
    if dtype == np.bool_:
        return not low
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min if low else info.max
    return -np.inf if low else np.inf


def reduce(x: np.ndarray, op: str, axes: tuple, keepdims: bool) -> np.ndarray:
    """The layer tier's reduction `op` over `axes` with the result in x's type: integer sums and
    products wrap as in the type (NumPy accumulates them wider; the cast back is the same modulo
    2**bits), an integer mean truncates toward zero."""
    if x.size == 0 and op in ("max", "min", "log_sum_exp"):  # no identity in NumPy: ONNX's fill value
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else \
            tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return np.full(shape, _identity(op, x.dtype), x.dtype)
    if op == "mean" and x.dtype.kind in "iu":
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        total = np.asarray(np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype))
        return np.asarray(integer_divide(total, np.asarray(count, x.dtype))) if count else total
    return np.asarray(_REDUCE[op](x, axis=axes, keepdims=keepdims)).astype(x.dtype, copy=False)


def _reduction(name: str):
    op, allowed = _REDUCTIONS[name]

    @operator(name, attributes=("axes", "keepdims", "noop_with_empty_axes"))
    def reduction(call: Call, x, axes=None):
        checked(call, x, allowed)
        axes = reduction_axes(call, x, axes)
        return reduce(x, op, axes, bool(call.attr("keepdims", 1)))

    return reduction


for _name in _REDUCTIONS:
    _reduction(_name)


def _arg(name: str, op: str):
    @operator(name, attributes=("axis", "keepdims", "select_last_index"))
    def arg(call: Call, x):
        checked(call, x, RANKED)
        axis = axis_of(call, call.attr("axis", 0), x.ndim)
        if x.shape[axis] == 0:
            raise call.malformed(f"takes the {name} of an empty axis")
        return arg_reduce(x, op, axis, bool(call.attr("keepdims", 1)), bool(call.attr("select_last_index", 0)))

    return arg


_arg("ArgMax", "max")
_arg("ArgMin", "min")


# -- matrix products -------------------------------------------------------------------------

def matmul_shape(call: Call, a: np.ndarray, b: np.ndarray) -> tuple:
    """The shape of np.matmul(a, b) (batch axes broadcast; 1-D operands promoted and dropped),
    admitted against the budget."""
    if a.ndim == 0 or b.ndim == 0:
        raise call.malformed(f"multiplies a rank-0 tensor ({list(a.shape)} by {list(b.shape)})")
    a2 = (1,) + a.shape if a.ndim == 1 else a.shape  # (..., m, k)
    b2 = b.shape + (1,) if b.ndim == 1 else b.shape  # (..., k, n)
    if a2[-1] != b2[-2]:
        raise call.malformed(f"cannot multiply {list(a.shape)} by {list(b.shape)}")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise call.malformed(f"cannot broadcast the batch axes of {list(a.shape)} and {list(b.shape)}") from None
    shape = batch + a2[-2:-1] + b2[-1:]
    shape = shape[:-2] + shape[-1:] if a.ndim == 1 else shape
    shape = shape[:-1] if b.ndim == 1 else shape
    return call.admit(shape, a.dtype)


@operator("MatMul")
def mat_mul(call: Call, a, b):
    same_type(call, (a, b), SUMMABLE)
    matmul_shape(call, a, b)
    return matmul(a, b)


def _scaled(call: Call, value: np.ndarray, factor: float, name: str) -> np.ndarray:
    """value * factor in value's type (an integer Gemm takes integral alpha / beta only)."""
    if factor == 1.0:
        return value
    if value.dtype.kind in "iu":
        if factor != int(factor):
            raise call.refuse(f"{name}={factor} on {type_name(value.dtype)} (npinfer takes integral factors for integers)")
        return value * value.dtype.type(int(factor))
    return value * value.dtype.type(factor)


@operator("Gemm", attributes=("alpha", "beta", "transA", "transB"))
def gemm(call: Call, a, b, c=None):
    """alpha * A' @ B' + beta * C, A' = A or A.T (transA), B' likewise; C broadcasts to (M, N)."""
    same_type(call, (a, b) if c is None else (a, b, c), SUMMABLE)
    if a.ndim != 2 or b.ndim != 2:
        raise call.malformed(f"multiplies matrices, not {list(a.shape)} by {list(b.shape)}")
    a = a.T if call.attr("transA", 0) else a  # (m, k)
    b = b.T if call.attr("transB", 0) else b  # (k, n)
    shape = matmul_shape(call, a, b)
    y = _scaled(call, matmul(a, b), call.attr("alpha", 1.0), "alpha")
    if c is None:
        return y
    if np.broadcast_shapes(c.shape, shape) != shape:
        raise call.malformed(f"has C of shape {list(c.shape)}, which does not broadcast to {list(shape)}")
    return np.asarray(y + _scaled(call, c, call.attr("beta", 1.0), "beta"))


def einsum_shape(call: Call, equation: str, operands) -> tuple:
    """The result shape of an Einsum `equation` (explicit '->' or implicit output: the letters
    seen once, sorted, after the broadcast '...' axes)."""
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise call.malformed(f"has equation '{equation}' for {len(operands)} inputs")
    sizes, counts, ellipses = {}, {}, []
    for term, x in zip(terms, operands):
        letters = term.replace("...", "")
        if not all(ch.isalpha() for ch in letters) or term.count("...") > 1:
            raise call.malformed(f"has equation '{equation}', which npinfer cannot read")
        extra = x.ndim - len(letters)
        if extra < 0 or (extra and "..." not in term):
            raise call.malformed(f"has equation term '{term}' for an input of shape {list(x.shape)}")
        start = term.find("...") if "..." in term else len(term)
        ellipses.append(x.shape[start:start + extra])
        dims = x.shape[:start] + x.shape[start + extra:]
        for ch, d in zip(letters, dims):
            if sizes.get(ch, d) != d and 1 not in (sizes[ch], d):
                raise call.malformed(f"gives '{ch}' sizes {sizes[ch]} and {d}")
            sizes[ch] = max(sizes.get(ch, d), d)
            counts[ch] = counts.get(ch, 0) + 1
    try:
        broadcast = np.broadcast_shapes(*ellipses)
    except ValueError:
        raise call.malformed(f"cannot broadcast the '...' axes of equation '{equation}'") from None
    if not arrow:
        output = "..." + "".join(sorted(ch for ch, n in counts.items() if n == 1))
    letters = output.replace("...", "")
    if any(ch not in sizes for ch in letters) or len(set(letters)) != len(letters):
        raise call.malformed(f"has output '{output}' in equation '{equation}'")
    head, _, tail = output.partition("...") if "..." in output else (output, "", "")
    return call.admit([sizes[ch] for ch in head] + list(broadcast if "..." in output else ())
                      + [sizes[ch] for ch in tail], operands[0].dtype)


@operator("Einsum", attributes=("equation",))
def einsum(call: Call, *operands):
    same_type(call, operands, RANKED)
    equation = call.string("equation").replace(" ", "")
    einsum_shape(call, equation, operands)
    return np.asarray(np.einsum(equation, *operands))


# -- softmax ---------------------------------------------------------------------------------

def softmax_axes(call: Call, x: np.ndarray):
    """The axis (opset >= 13: one, default -1) or axes (before: the input flattened to 2-D at
    `axis`, default 1, so every axis from it on) that Softmax / LogSoftmax / Hardmax work over."""
    checked(call, x, FLOATS)
    if call.opset >= 13:
        return axis_of(call, call.attr("axis", -1), x.ndim)
    rank = max(x.ndim, 1)
    return tuple(range(axis_of(call, call.attr("axis", 1), rank), x.ndim))


def _softmax(name: str, log: bool):
    @operator(name, attributes=("axis",))
    def softmax(call: Call, x):
        return np.asarray(softmax_over(x, softmax_axes(call, x), log=log))

    return softmax


_softmax("Softmax", False)
_softmax("LogSoftmax", True)


@operator("Hardmax", attributes=("axis",))
def hardmax(call: Call, x):
    """1 at the first maximum along the axis (or the flattened axes before opset 13), 0 elsewhere."""
    axes = softmax_axes(call, x)
    axes = axes if isinstance(axes, tuple) else (axes,)
    if x.size == 0:
        return np.zeros_like(x)
    moved = np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))  # (..., axes)
    rows = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))  # (..., prod(axes))
    first = arg_reduce(rows, "max", rows.ndim - 1, True, False)
    hot = np.zeros(rows.shape, x.dtype)
    np.put_along_axis(hot, first, 1, axis=-1)
    return np.moveaxis(hot.reshape(moved.shape), range(x.ndim - len(axes), x.ndim), axes)


# -- TopK and cumulative sums ----------------------------------------------------------------

def top_k(x: np.ndarray, k: int, axis: int, largest: bool) -> tuple:
    """The k largest (or smallest) values along `axis`, sorted, with their int64 indices; among
    equal values the smaller index first (ONNX, ORT)."""
    if largest:  # descending values, ascending indices among ties: a stable sort of the flipped axis, reversed
        n = x.shape[axis]
        order = np.flip(np.argsort(np.flip(x, axis=axis), axis=axis, kind="stable"), axis=axis)
        order = n - 1 - order
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    indices = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, indices, axis=axis), indices.astype(np.int64)


@operator("TopK", attributes=("axis", "largest", "sorted", "k"))
def top_k_(call: Call, x, k=None):
    checked(call, x, RANKED)
    axis = axis_of(call, call.attr("axis", -1), x.ndim)
    if call.opset < 10:
        k = int(call.attr("k"))
    else:
        values = int_input(call, k, "k")
        if values.size != 1:
            raise call.malformed(f"takes one k, given {values.size}")
        k = int(values[0])
    if not 0 <= k <= x.shape[axis]:
        raise call.malformed(f"asks for the top {k} of an axis of size {x.shape[axis]}")
    call.admit(x.shape[:axis] + (k,) + x.shape[axis + 1:], np.int64)
    # sorted=0 leaves the order free; sorted output is one of the orders it allows
    return top_k(x, k, axis, bool(call.attr("largest", 1)))


def cumulative(x: np.ndarray, function, axis: int, exclusive: bool, reverse: bool) -> np.ndarray:
    """np.cumsum / np.cumprod along `axis` in x's type; `exclusive` leaves each element out of its
    own total (the first is the identity), `reverse` runs from the end."""
    y = np.flip(x, axis) if reverse else x
    y = function(y, axis=axis, dtype=x.dtype)
    if exclusive:
        identity = np.zeros_like if function is np.cumsum else np.ones_like
        first = identity(np.take(y, [0], axis=axis))
        y = np.concatenate([first, np.take(y, np.arange(y.shape[axis] - 1), axis=axis)], axis=axis)
    return np.flip(y, axis) if reverse else y


def _cumulative(name: str, function):
    @operator(name, attributes=("exclusive", "reverse"))
    def cum(call: Call, x, axis):
        checked(call, x, SUMMABLE)
        if x.ndim == 0:
            raise call.malformed("takes a tensor of rank 1 or more")
        axes = int_input(call, axis, "axis")
        if axes.size != 1:
            raise call.malformed(f"takes one axis, given {axes.size}")
        axis = axis_of(call, int(axes[0]), x.ndim)
        return cumulative(x, function, axis, bool(call.attr("exclusive", 0)), bool(call.attr("reverse", 0)))

    return cum


_cumulative("CumSum", np.cumsum)
_cumulative("CumProd", np.cumprod)


@operator("Det")
def det(call: Call, x):
    """The determinant of each (..., n, n) matrix (float16 through float32: LAPACK has no float16)."""
    checked(call, x, FLOATS)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise call.malformed(f"takes square matrices, not {list(x.shape)}")
    work = x.astype(np.float32) if x.dtype == np.float16 else x
    return np.asarray(np.linalg.det(work)).astype(x.dtype)


# -- normalizations --------------------------------------------------------------------------

def stash_dtype(call: Call, x: np.ndarray, widen: bool = False) -> np.dtype:
    """The type the statistics are computed in: ONNX's stash_type (default 1, float); with
    `widen` never narrower than x (ONNX Runtime's LayerNormalization and RMSNormalization compute
    float64 in float64; its GroupNormalization follows stash_type)."""
    from .values import numpy_dtype

    stash = numpy_dtype(int(call.attr("stash_type", 1)), f"{call.label}: its stash_type")
    if stash not in FLOATS:
        raise call.refuse(f"stash_type {type_name(stash)} (npinfer computes float16, float or double)")
    return np.promote_types(stash, x.dtype) if widen else stash


def _optional(*arrays) -> tuple:
    return tuple(a for a in arrays if a is not None)


@operator("LayerNormalization", attributes=("axis", "epsilon", "stash_type"))
def layer_norm(call: Call, x, scale, bias=None):
    """Y = (x - mean) * InvStdDev * scale + bias over the axes from `axis` on; the statistics in
    stash_type, Y in x's type; outputs Y, Mean, InvStdDev (the statistics keep size-1 axes)."""
    same_type(call, _optional(x, scale, bias), FLOATS)
    axis = axis_of(call, call.attr("axis", -1), x.ndim)
    stash = stash_dtype(call, x)
    work = x.astype(np.promote_types(stash, x.dtype), copy=False)
    mean, inverse = moments(work, tuple(range(axis, x.ndim)), call.attr("epsilon", 1e-5))
    y = ((work - mean) * inverse).astype(x.dtype) * scale  # (..., normalized axes)
    return (y if bias is None else y + bias), mean.astype(stash), inverse.astype(stash)


def rms_normalization(x: np.ndarray, axes: tuple, epsilon: float) -> np.ndarray:
    """x / sqrt(mean(x**2) + epsilon) over `axes` (no mean subtracted)."""
    return x / np.sqrt(np.mean(np.square(x), axis=axes, keepdims=True) + np.asarray(epsilon, x.dtype))


@operator("RMSNormalization", attributes=("axis", "epsilon", "stash_type"))
def rms_norm(call: Call, x, scale):
    checked(call, x, FLOATS)
    checked(call, scale, FLOATS)
    axis = axis_of(call, call.attr("axis", -1), x.ndim)
    work = x.astype(stash_dtype(call, x, widen=True), copy=False)
    normalized = rms_normalization(work, tuple(range(axis, x.ndim)), call.attr("epsilon", 1e-5))
    return np.asarray(normalized.astype(x.dtype) * scale)


@operator("GroupNormalization", attributes=("num_groups", "epsilon", "stash_type"))
def group_norm(call: Call, x, scale, bias):
    """x (N, C, ...) normalized per sample over groups of C / num_groups channels, then
    * scale + bias per channel (opset 21) or per group (opset 18)."""
    same_type(call, (x, scale, bias), FLOATS)
    groups = int(call.attr("num_groups"))
    if x.ndim < 2 or groups < 1 or x.shape[1] % groups:
        raise call.malformed(f"splits the channels of {list(x.shape)} into {groups} groups")
    channels = x.shape[1]
    per = channels if call.opset >= 21 else groups
    if scale.shape != (per,) or bias.shape != (per,):
        raise call.malformed(f"takes scale and bias of shape [{per}], given {list(scale.shape)} and {list(bias.shape)}")
    if per != channels:  # opset 18: one scale per group, the same for each of its channels
        scale, bias = np.repeat(scale, channels // groups), np.repeat(bias, channels // groups)
    work = x.astype(stash_dtype(call, x) if call.opset >= 21 else x.dtype, copy=False)
    normalized = group_normalization(work, None, None, groups, 1, call.attr("epsilon", 1e-5)).astype(x.dtype)
    shape = (1, channels) + (1,) * (x.ndim - 2)
    return normalized * scale.reshape(shape) + bias.reshape(shape)


@operator("MeanVarianceNormalization", attributes=("axes",))
def mean_variance_norm(call: Call, x):
    """(x - mean) / (sqrt(mean(x**2) - mean**2) + 1e-9) over `axes` (default 0, 2, 3)."""
    checked(call, x, FLOATS)
    axes = axes_of(call, call.ints("axes", (0, 2, 3)), x.ndim)
    mean = np.mean(x, axis=axes, keepdims=True)
    std = np.sqrt(np.mean(np.square(x), axis=axes, keepdims=True) - np.square(mean))
    return np.asarray((x - mean) / (std + np.asarray(1e-9, x.dtype)))


@operator("LpNormalization", attributes=("axis", "p"))
def lp_norm(call: Call, x):
    """x / ||x||_p along `axis` (p 1 or 2); a zero norm gives 0."""
    checked(call, x, FLOATS)
    axis = axis_of(call, call.attr("axis", -1), x.ndim)
    p = call.attr("p", 2)
    if p not in (1, 2):
        raise call.malformed(f"has p={p}; ONNX defines 1 and 2")
    norm = reduce(x, "l1" if p == 1 else "l2", (axis,), True)
    return np.where(norm == 0, np.zeros((), x.dtype), x / np.where(norm == 0, np.ones((), x.dtype), norm))


# -- losses ----------------------------------------------------------------------------------

def negative_log_likelihood(log_prob, target, weight, ignore_index, reduction: str) -> np.ndarray:
    """-log_prob[n, target[n, ...], ...] * weight[target] (ignored targets count 0); reduction
    "none" keeps (N, ...), "sum" adds, "mean" divides by the sum of the weights counted."""
    classes = log_prob.shape[1]  # log_prob (N, C, d...), target (N, d...)
    ignored = target == ignore_index if ignore_index is not None else np.zeros(target.shape, bool)
    safe = np.where(ignored, 0, target).astype(np.int64)
    if np.any((safe < 0) | (safe >= classes)):
        raise ValueError(f"a target is outside the {classes} classes")
    picked = np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]  # (N, d...)
    w = np.ones((), log_prob.dtype) if weight is None else weight[safe]
    w = np.where(ignored, np.zeros((), log_prob.dtype), w)  # (N, d...)
    loss = np.where(ignored, np.zeros((), log_prob.dtype), -picked * w)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(np.sum(loss))
    return np.asarray(np.sum(loss) / np.sum(w))


def loss_options(call: Call, x, target, weight) -> tuple:
    same_type(call, _optional(x, weight), FLOATS)
    reduction = call.string("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        raise call.malformed(f"has reduction '{reduction}'; ONNX defines none, sum and mean")
    if target.dtype not in (np.int32, np.int64):
        raise call.malformed(f"takes int32 or int64 targets, not {type_name(target.dtype)}")
    if x.ndim < 2 or target.shape != x.shape[:1] + x.shape[2:]:
        raise call.malformed(f"takes scores (N, C, ...) and targets (N, ...), given {list(x.shape)} and {list(target.shape)}")
    if weight is not None and weight.shape != x.shape[1:2]:
        raise call.malformed(f"takes weights of shape [{x.shape[1]}], given {list(weight.shape)}")
    ignore = int(call.attr("ignore_index")) if call.has("ignore_index") else None
    return ignore, reduction


@operator("NegativeLogLikelihoodLoss", attributes=("ignore_index", "reduction"))
def nll_loss(call: Call, log_prob, target, weight=None):
    ignore, reduction = loss_options(call, log_prob, target, weight)
    return negative_log_likelihood(log_prob, target, weight, ignore, reduction)


@operator("SoftmaxCrossEntropyLoss", attributes=("ignore_index", "reduction"))
def softmax_cross_entropy(call: Call, scores, target, weight=None):
    """The negative log-likelihood of log_softmax(scores) over axis 1; outputs loss, log_prob."""
    ignore, reduction = loss_options(call, scores, target, weight)
    log_prob = np.asarray(softmax_over(scores, 1, log=True))
    return negative_log_likelihood(log_prob, target, weight, ignore, reduction), log_prob
