"""ONNX operators: shape family (tensor tier). See ops/registry.py for the operator contract.

Shape / Size / Reshape / Flatten / Squeeze / Unsqueeze / Transpose, Concat / Split / Slice,
Gather(Elements|ND), Scatter(Elements|ND) and TensorScatter, Expand / Tile / Pad / CenterCropPad,
Range / NonZero / OneHot / EyeLike / Trilu, DepthToSpace / SpaceToDepth, Compress,
ReverseSequence and Unique. Values keep their type (shape results are int64, as ONNX says);
every axis and index is checked against its range (negative ones count from the end where ONNX
allows it, an index out of range is refused, never wrapped), and an output whose size a value
or an attribute decides is admitted against the budget before it is made.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, NpinferError
from .elementwise import same_type
from .registry import Call, operator
from .values import numpy_dtype, type_name

INDEX_TYPES = (np.dtype(np.int32), np.dtype(np.int64))


def invalid(call: Call, what: str) -> NpinferError:
    """A value or size the node cannot take (raise it): while constants are folded at load the
    file is malformed (ModelFormatError); in predict it is the data given (InputError)."""
    from .graph import FoldBudget

    if isinstance(call.budget, FoldBudget):
        return call.malformed(what)
    return InputError(f"{call.label} {what}")


# -- helpers: axes, integer lists, indices ---------------------------------------------------

def axis_of(call: Call, axis: int, rank: int, what: str = "axis") -> int:
    """`axis` in [-rank, rank - 1], made non-negative (out of range: the node is malformed)."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise call.malformed(f"has {what} {axis}, out of range for rank {rank}")
    return axis % rank if rank else 0


def axes_of(call: Call, axes, rank: int, what: str = "axes") -> list[int]:
    """Each of `axes` made non-negative for `rank`; a repeated axis is malformed."""
    out = [axis_of(call, a, rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise call.malformed(f"repeats an axis in {what} {list(axes)}")
    return out


def int_list(call: Call, value: np.ndarray, what: str, dtypes=INDEX_TYPES) -> list[int]:
    """A run-time integer tensor (a shape, axes, pads, starts...) as Python ints; the tensor
    must be of one of `dtypes` and at most 1-D."""
    if value.dtype not in dtypes:
        raise call.malformed(f"takes {what} of type {' or '.join(type_name(d) for d in dtypes)}, not {type_name(value.dtype)}")
    if value.ndim > 1:
        raise call.malformed(f"takes {what} as a 1-D tensor, not of shape {list(value.shape)}")
    return [int(v) for v in value.reshape(-1)]


def scalar_of(call: Call, value: np.ndarray, what: str):
    """The one element of a scalar (or one-element) input."""
    if value.size != 1:
        raise call.malformed(f"takes {what} as a scalar, not of shape {list(value.shape)}")
    return value.reshape(-1)[0]


def checked_indices(call: Call, indices: np.ndarray, size, what: str = "indices") -> np.ndarray:
    """`indices` (int32 / int64) in [-size, size - 1] made non-negative as int64; `size` may be
    an array broadcast against them (one size per index column). Out of range is refused."""
    if indices.dtype not in INDEX_TYPES:
        raise call.malformed(f"takes {what} of type int32 or int64, not {type_name(indices.dtype)}")
    indices = indices.astype(np.int64)
    size = np.asarray(size, np.int64)
    bad = (indices < -size) | (indices >= size)
    if np.any(bad):
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        limit = int(np.broadcast_to(size, indices.shape)[position])
        raise invalid(call, f"has {what} {int(indices[position])} at {list(position)}, out of range for size {limit}")
    return np.where(indices < 0, indices + size, indices)


def axes_argument(call: Call, axes, since: int, rank: int) -> list[int] | None:
    """Axes given as the 'axes' attribute before opset `since`, as an input from it; None when
    absent (the operator's default)."""
    if call.opset < since:
        if axes is not None:
            raise call.malformed(f"takes axes as an attribute before opset {since}, not as an input")
        values = call.ints("axes", None)
    else:
        if call.has("axes"):
            raise call.malformed(f"takes axes as an input from opset {since}, not as an attribute")
        values = None if axes is None else int_list(call, axes, "axes", (np.dtype(np.int64),))
    return None if values is None else axes_of(call, values, rank)


def _size(dims) -> int:
    return math.prod(int(d) for d in dims)


# -- shapes ---------------------------------------------------------------------------------

@operator("Shape", attributes=("start", "end"))
def shape_(call: Call, x):
    if call.opset < 15 and (call.has("start") or call.has("end")):
        raise call.malformed("has start / end, which Shape takes from opset 15")
    dims = tuple(x.shape)
    start, end = call.attr("start", 0), call.attr("end", len(dims))  # Python slicing clamps as ONNX does
    return np.array(dims[start:end], np.int64)  # (end - start,)


@operator("Size")
def size_(call: Call, x):
    return np.array(x.size, np.int64)  # ()


def reshape_target(call: Call, dims: tuple, shape: list[int], allowzero: bool) -> tuple:
    """ONNX Reshape's target for input `dims`: 0 copies the input's size on that axis (unless
    `allowzero`: then it is 0), one -1 takes what is left."""
    if allowzero and 0 in shape and -1 in shape:
        raise invalid(call, f"has shape {shape} with both 0 and -1 and allowzero=1")
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise invalid(call, f"has shape {shape}: at most one -1 and no other negative size")
    target = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= len(dims):
                raise invalid(call, f"has shape {shape} whose 0 at position {i} copies no axis of {list(dims)}")
            d = dims[i]
        target.append(d)
    total, known = _size(dims), _size(d for d in target if d != -1)
    if -1 in target:
        if known == 0 or total % known:
            raise invalid(call, f"cannot reshape {list(dims)} to {shape}")
        target[target.index(-1)] = total // known
    if _size(target) != total:
        raise invalid(call, f"cannot reshape {list(dims)} ({total} elements) to {shape}")
    return tuple(target)


@operator("Reshape", attributes=("allowzero",))
def reshape(call: Call, x, shape):
    wanted = int_list(call, shape, "a shape", (np.dtype(np.int64),))
    return x.reshape(reshape_target(call, x.shape, wanted, bool(call.attr("allowzero", 0))))


@operator("Flatten", attributes=("axis",))
def flatten(call: Call, x):
    axis = int(call.attr("axis", 1))
    if not -x.ndim <= axis <= x.ndim:
        raise call.malformed(f"has axis {axis}, out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis  # ONNX: a negative axis counts from the end (-r is 0)
    return x.reshape(_size(x.shape[:axis]), _size(x.shape[axis:]))  # (outer, inner)


@operator("Squeeze", attributes=("axes",))
def squeeze(call: Call, x, axes=None):
    picked = axes_argument(call, axes, 13, x.ndim)
    if picked is None:
        picked = [i for i, d in enumerate(x.shape) if d == 1]
    wrong = [a for a in picked if x.shape[a] != 1]
    if wrong:
        raise invalid(call, f"squeezes axis {wrong[0]} of {list(x.shape)}, whose size is not 1")
    return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in picked))


@operator("Unsqueeze", attributes=("axes",))
def unsqueeze(call: Call, x, axes=None):
    if call.opset < 13:
        if axes is not None:
            raise call.malformed("takes axes as an attribute before opset 13")
        values = call.ints("axes")
    else:
        if axes is None:
            raise call.malformed("has no axes input, which it requires")
        values = int_list(call, axes, "axes", (np.dtype(np.int64),))
    picked = axes_of(call, values, x.ndim + len(values))
    dims = iter(x.shape)
    return x.reshape(tuple(1 if i in picked else next(dims) for i in range(x.ndim + len(picked))))


@operator("Transpose", attributes=("perm",))
def transpose(call: Call, x):
    perm = call.ints("perm", None)
    if perm is None:
        perm = tuple(range(x.ndim))[::-1]
    if sorted(perm) != list(range(x.ndim)):
        raise call.malformed(f"has perm {list(perm)}, not a permutation of the {x.ndim} axes")
    return np.ascontiguousarray(np.transpose(x, perm))


# -- joining, splitting, slicing ------------------------------------------------------------

@operator("Concat", attributes=("axis",))
def concat(call: Call, *xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        raise call.malformed("has no inputs")
    same_type(call, xs)
    rank = xs[0].ndim
    if rank == 0 or any(x.ndim != rank for x in xs):
        raise call.malformed(f"joins tensors of shapes {[list(x.shape) for x in xs]}; they need one rank of at least 1")
    axis = axis_of(call, call.attr("axis"), rank)
    for x in xs:
        if x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            raise invalid(call, f"joins shapes {[list(x.shape) for x in xs]}, which differ off axis {axis}")
    out = list(xs[0].shape)
    out[axis] = sum(x.shape[axis] for x in xs)
    call.admit(out, xs[0].dtype)
    return np.concatenate(xs, axis=axis)


def split_sizes(call: Call, size: int, split, outputs: int) -> list[int]:
    """The lengths of Split's pieces of an axis of `size`: `split` given, or from the
    num_outputs attribute (opset 18: the last piece smaller), or `outputs` equal pieces."""
    if split is not None:
        if len(split) != outputs or any(s < 0 for s in split) or sum(split) != size:
            raise invalid(call, f"splits an axis of {size} into {split} for {outputs} outputs")
        return list(split)
    if call.has("num_outputs"):
        count = int(call.attr("num_outputs"))
        if count < 1 or count != outputs:
            raise call.malformed(f"has num_outputs={count} and {outputs} outputs")
        chunk = -(-size // count)
        sizes = [chunk] * (count - 1) + [size - chunk * (count - 1)]
        if sizes[-1] < 0:
            raise invalid(call, f"cannot split an axis of {size} into {count} pieces of {chunk}")
        return sizes
    if size % outputs:
        raise invalid(call, f"cannot split an axis of {size} into {outputs} equal pieces")
    return [size // outputs] * outputs


@operator("Split", attributes=("axis", "split", "num_outputs"))
def split(call: Call, x, sizes=None):
    if call.has("num_outputs") and call.opset < 18:
        raise call.malformed("has num_outputs, which Split takes from opset 18")
    if call.opset < 13:
        if sizes is not None:
            raise call.malformed("takes split as an attribute before opset 13")
        given = call.ints("split", None)
    else:
        if call.has("split"):
            raise call.malformed("takes split as an input from opset 13")
        given = None if sizes is None else int_list(call, sizes, "split", (np.dtype(np.int64),))
        if given is not None and call.has("num_outputs"):
            raise call.malformed("has both a split input and num_outputs")
    if x.ndim == 0:
        raise call.malformed("cannot split a scalar")
    axis = axis_of(call, call.attr("axis", 0), x.ndim)
    pieces = split_sizes(call, x.shape[axis], given, len(call.node.outputs))
    bounds = np.cumsum(pieces)[:-1]
    return tuple(np.ascontiguousarray(p) for p in np.split(x, bounds, axis=axis))


def slice_bounds(dim: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice's clamping of one axis of size `dim` as a Python slice: negative start / end
    count from the end; then, stepping forward, both are clamped to [0, dim]; stepping
    backward, start to [0, dim - 1] and end to [-1, dim - 1] (-1: through element 0)."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


@operator("Slice", attributes=("starts", "ends", "axes"))
def slice_(call: Call, x, starts=None, ends=None, axes=None, steps=None):
    if call.opset < 10:
        begin, stop = list(call.ints("starts")), list(call.ints("ends"))
        picked, strides = call.ints("axes", None), None
    else:
        if starts is None or ends is None:
            raise call.malformed("needs starts and ends inputs")
        same_type(call, [v for v in (starts, ends, axes, steps) if v is not None])
        begin, stop = int_list(call, starts, "starts"), int_list(call, ends, "ends")
        picked = None if axes is None else int_list(call, axes, "axes")
        strides = None if steps is None else int_list(call, steps, "steps")
    picked = list(range(len(begin))) if picked is None else picked
    strides = [1] * len(begin) if strides is None else strides
    if not len(begin) == len(stop) == len(picked) == len(strides):
        raise call.malformed(f"has starts, ends, axes, steps of lengths {len(begin)}, {len(stop)}, {len(picked)}, {len(strides)}")
    if 0 in strides:
        raise invalid(call, "has a step of 0")
    key = [slice(None)] * x.ndim
    for axis, start, end, step in zip(axes_of(call, picked, x.ndim), begin, stop, strides):
        key[axis] = slice_bounds(x.shape[axis], start, end, step)
    return np.ascontiguousarray(x[tuple(key)])


# -- gathering ------------------------------------------------------------------------------

@operator("Gather", attributes=("axis",))
def gather(call: Call, data, indices):
    if data.ndim == 0:
        raise call.malformed("gathers from a scalar")
    axis = axis_of(call, call.attr("axis", 0), data.ndim)
    picked = checked_indices(call, indices, data.shape[axis])
    call.admit(data.shape[:axis] + indices.shape + data.shape[axis + 1:], data.dtype)
    return np.take(data, picked, axis=axis)  # data.shape[:axis] + indices.shape + data.shape[axis+1:]


def element_index(call: Call, data: np.ndarray, indices: np.ndarray, axis: int) -> tuple:
    """The NumPy index that picks, for each position of `indices`, the element of `data` whose
    index along `axis` is that value (GatherElements / ScatterElements): indices has data's rank
    and no larger size on the other axes."""
    if indices.ndim != data.ndim or any(i > d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != axis):
        raise invalid(call, f"has indices of shape {list(indices.shape)} for data of shape {list(data.shape)}")
    key = list(np.indices(indices.shape, sparse=True))
    key[axis] = checked_indices(call, indices, data.shape[axis])
    return tuple(key)


@operator("GatherElements", attributes=("axis",))
def gather_elements(call: Call, data, indices):
    axis = axis_of(call, call.attr("axis", 0), data.ndim)
    return data[element_index(call, data, indices, axis)]  # indices.shape


@operator("GatherND", attributes=("batch_dims",))
def gather_nd(call: Call, data, indices):
    if indices.dtype != np.int64:
        raise call.malformed(f"takes int64 indices, not {type_name(indices.dtype)}")
    b = int(call.attr("batch_dims", 0))
    if indices.ndim < 1 or not 0 <= b < min(data.ndim, indices.ndim):
        raise call.malformed(f"has batch_dims={b} for data of rank {data.ndim} and indices of rank {indices.ndim}")
    k = indices.shape[-1]
    if data.shape[:b] != indices.shape[:b] or b + k > data.ndim:
        raise invalid(call, f"has indices of shape {list(indices.shape)} for data of shape {list(data.shape)} (batch_dims={b})")
    out_shape = indices.shape[:-1] + data.shape[b + k:]
    call.admit(out_shape, data.dtype)
    batch = _size(data.shape[:b])
    rows = data.reshape((batch,) + data.shape[b:])  # (batch, *indexed, *rest)
    points = checked_indices(call, indices.reshape(batch, -1, k), data.shape[b:b + k])  # (batch, n, k)
    key = (np.arange(batch)[:, None],) + tuple(points[..., j] for j in range(k))
    picked = rows[key] if k else np.broadcast_to(rows[:, None], (batch, points.shape[1]) + data.shape[b:])
    return np.ascontiguousarray(picked).reshape(out_shape)  # (batch, n, *rest) -> indices.shape[:-1] + rest


# -- scattering -----------------------------------------------------------------------------

_REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def reduction_of(call: Call, dtype: np.dtype):
    """The ufunc of the 'reduction' attribute (None: plain assignment), as the opset allows."""
    name = call.string("reduction", "none")
    since = {"none": 11, "add": 16, "mul": 16, "max": 18, "min": 18}.get(name)
    if since is None or call.opset < since:
        raise call.malformed(f"has reduction '{name}', which it does not define at opset {call.opset}")
    if name != "none" and dtype == np.bool_:
        raise call.refuse(f"reduction '{name}' on bool")
    return _REDUCTIONS.get(name)


def scatter_into(data: np.ndarray, key: tuple, updates: np.ndarray, reduction) -> np.ndarray:
    """A copy of `data` with `updates` written at `key` (or combined there by the ufunc
    `reduction`, repeated positions applied in turn)."""
    out = data.copy()
    if reduction is None:
        out[key] = updates
    else:
        reduction.at(out, key, updates)
    return out


def scatter_elements_of(call: Call, data, indices, updates, reduction) -> np.ndarray:
    same_type(call, (data, updates))
    if updates.shape != indices.shape:
        raise invalid(call, f"has updates of shape {list(updates.shape)} for indices of shape {list(indices.shape)}")
    axis = axis_of(call, call.attr("axis", 0), data.ndim)
    return scatter_into(data, element_index(call, data, indices, axis), updates, reduction)


@operator("ScatterElements", attributes=("axis", "reduction"))
def scatter_elements(call: Call, data, indices, updates):
    return scatter_elements_of(call, data, indices, updates, reduction_of(call, data.dtype))


@operator("Scatter", attributes=("axis",))
def scatter(call: Call, data, indices, updates):
    return scatter_elements_of(call, data, indices, updates, None)


@operator("ScatterND", attributes=("reduction",))
def scatter_nd(call: Call, data, indices, updates):
    same_type(call, (data, updates))
    if indices.dtype != np.int64 or indices.ndim < 1:
        raise call.malformed(f"takes int64 indices of rank >= 1, not {type_name(indices.dtype)}{list(indices.shape)}")
    k = indices.shape[-1]
    if k > data.ndim or updates.shape != indices.shape[:-1] + data.shape[k:]:
        raise invalid(call, f"has indices {list(indices.shape)} and updates {list(updates.shape)} for data {list(data.shape)}")
    points = checked_indices(call, indices.reshape(-1, k), data.shape[:k])  # (n, k)
    rows = updates.reshape((points.shape[0],) + data.shape[k:])  # (n, *rest)
    return scatter_into(data, tuple(points.T), rows, reduction_of(call, data.dtype))


@operator("TensorScatter", attributes=("axis", "mode"))
def tensor_scatter(call: Call, cache, update, write_indices=None):
    """Write `update` into a copy of the KV cache along the sequence axis, from each batch
    row's write index (wrapping round the cache in mode 'circular')."""
    same_type(call, (cache, update))
    mode = call.string("mode", "linear")
    if mode not in ("linear", "circular"):
        raise call.malformed(f"has mode '{mode}'; ONNX defines 'linear' and 'circular'")
    if cache.ndim < 2:
        raise call.malformed(f"takes a cache of rank >= 2, not {list(cache.shape)}")
    axis = axis_of(call, call.attr("axis", -2), cache.ndim)
    if axis == 0:
        raise call.malformed("has axis 0, the batch axis")
    length, steps = cache.shape[axis], update.shape[axis]
    if update.ndim != cache.ndim or steps > length or any(
            u != c for i, (u, c) in enumerate(zip(update.shape, cache.shape)) if i != axis):
        raise invalid(call, f"writes an update of shape {list(update.shape)} into a cache of shape {list(cache.shape)}")
    batch = cache.shape[0]
    starts = np.zeros(batch, np.int64) if write_indices is None else write_indices
    if starts.dtype != np.int64 or starts.shape != (batch,) or np.any(starts < 0):
        raise invalid(call, f"takes write_indices of int64[{batch}], non-negative; got {type_name(starts.dtype)}{list(starts.shape)}")
    positions = starts[:, None] + np.arange(steps)  # (batch, steps)
    if mode == "circular":
        positions %= length
    elif np.any(positions >= length):
        raise invalid(call, f"writes past the cache's {length} positions in mode 'linear'")
    shape = (batch,) + (1,) * (axis - 1) + (steps,) + (1,) * (cache.ndim - axis - 1)
    out = cache.copy()
    np.put_along_axis(out, np.broadcast_to(positions.reshape(shape), update.shape), update, axis=axis)
    return out


# -- growing: Expand, Tile, Pad, CenterCropPad ------------------------------------------------

@operator("Expand")
def expand(call: Call, x, shape):
    dims = int_list(call, shape, "a shape", (np.dtype(np.int64),))
    if any(d < 0 for d in dims):
        raise invalid(call, f"expands to the negative shape {dims}")
    try:
        out = np.broadcast_shapes(x.shape, tuple(dims))  # ONNX's bidirectional broadcast
    except ValueError:
        raise invalid(call, f"cannot expand {list(x.shape)} to {dims}") from None
    return np.array(np.broadcast_to(x, call.admit(out, x.dtype)))


@operator("Tile")
def tile(call: Call, x, repeats):
    counts = int_list(call, repeats, "repeats", (np.dtype(np.int64),))
    if len(counts) != x.ndim or any(c < 0 for c in counts):
        raise invalid(call, f"has repeats {counts} for rank {x.ndim}; one non-negative count per axis")
    call.admit([d * c for d, c in zip(x.shape, counts)], x.dtype)
    return np.tile(x, counts)


PAD_MODES = {"constant": 2, "reflect": 2, "edge": 2, "wrap": 19}  # mode -> the first opset defining it


def pad_widths(call: Call, rank: int, pads: list[int], axes: list[int] | None) -> list[tuple]:
    """Pad's flat [begin..., end...] list (for `axes`, or every axis) as (begin, end) per axis."""
    axes = list(range(rank)) if axes is None else axes_of(call, axes, rank)
    if len(pads) != 2 * len(axes):
        raise invalid(call, f"has {len(pads)} pads for {len(axes)} axes; two per axis")
    widths = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        widths[axis] = (pads[i], pads[i + len(axes)])
    return widths


def padded(call: Call, x: np.ndarray, widths: list[tuple], mode: str, value=0) -> np.ndarray:
    """`x` padded by (begin, end) per axis in `mode`; a negative width crops first (as ONNX
    Runtime does), then the positive widths are added."""
    out_shape = [d + b + e for d, (b, e) in zip(x.shape, widths)]
    call.admit(out_shape, x.dtype)  # a negative size is refused here
    crop = tuple(slice(-b if b < 0 else 0, d + e if e < 0 else d) for d, (b, e) in zip(x.shape, widths))
    x = x[crop]
    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    for dim, (b, e) in zip(x.shape, grow):
        if mode != "constant" and (b or e) and dim == 0:
            raise invalid(call, f"pads an empty axis in mode '{mode}'")
        if mode == "reflect" and max(b, e) >= dim and (b or e):
            raise call.refuse(f"reflect pads of {max(b, e)} on an axis of {dim} (they must be smaller than the axis)")
        if mode == "wrap" and max(b, e) > dim:
            raise call.refuse(f"wrap pads of {max(b, e)} on an axis of {dim} (at most the axis)")
    if mode == "constant":
        return np.pad(x, grow, mode="constant", constant_values=value)
    return np.pad(x, grow, mode=mode)


@operator("Pad", attributes=("mode", "pads", "value"))
def pad(call: Call, x, pads=None, constant_value=None, axes=None):
    mode = call.string("mode", "constant")
    if call.opset < PAD_MODES.get(mode, 10**6):
        raise call.malformed(f"has mode '{mode}'; at opset {call.opset} ONNX defines "
                             f"{', '.join(m for m, v in PAD_MODES.items() if v <= call.opset)}")
    if call.opset < 11:
        widths = pad_widths(call, x.ndim, list(call.ints("pads")), None)
        value = call.attr("value", 0.0)
    else:
        if pads is None:
            raise call.malformed("has no pads input, which it requires")
        chosen = None
        if axes is not None:
            if call.opset < 18:
                raise call.malformed("has an axes input, which Pad takes from opset 18")
            chosen = int_list(call, axes, "axes")
        widths = pad_widths(call, x.ndim, int_list(call, pads, "pads", (np.dtype(np.int64),)), chosen)
        value = 0
        if constant_value is not None and constant_value.size:  # an empty tensor: left out
            same_type(call, (x, constant_value))
            value = scalar_of(call, constant_value, "constant_value")
    return padded(call, x, widths, mode, np.asarray(value).astype(x.dtype))


@operator("CenterCropPad", attributes=("axes",))
def center_crop_pad(call: Call, x, shape):
    axes = call.ints("axes", None)
    axes = list(range(x.ndim)) if axes is None else axes_of(call, axes, x.ndim)
    sizes = int_list(call, shape, "a shape")
    if len(sizes) != len(axes) or any(s < 0 for s in sizes):
        raise invalid(call, f"has shape {sizes} for axes {axes}")
    widths = [(0, 0)] * x.ndim
    for axis, size in zip(axes, sizes):
        change = size - x.shape[axis]  # > 0: pad (the odd one after), < 0: crop (the odd one after)
        before = change // 2 if change >= 0 else -((-change) // 2)
        widths[axis] = (before, change - before)
    return padded(call, x, widths, "constant", np.zeros((), x.dtype))


# -- making: Range, NonZero, OneHot, EyeLike, Trilu -------------------------------------------

RANGE_TYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))


@operator("Range", attributes=("stash_type",))
def range_(call: Call, start, limit, delta):
    dtype = same_type(call, (start, limit, delta))
    allowed = RANGE_TYPES + ((np.dtype(np.float16),) if call.opset >= 27 else ())
    if dtype not in allowed:
        raise call.refuse(f"is not defined for {type_name(dtype)} (ONNX: {', '.join(type_name(d) for d in allowed)})")
    if dtype == np.float16 and int(call.attr("stash_type", 1)) != 1:
        raise call.refuse("stash_type other than 1 (float) for float16")
    first, last, step = (scalar_of(call, v, name) for v, name in ((start, "start"), (limit, "limit"), (delta, "delta")))
    if step == 0:
        raise invalid(call, "has delta 0")
    if dtype.kind == "i":
        first, last, step = int(first), int(last), int(step)
        count = max(-((first - last) // step), 0)  # ceil((last - first) / step), exactly
        call.admit([count], dtype)
        return (first + np.arange(count, dtype=np.int64) * step).astype(dtype)
    work = np.float32 if dtype == np.float16 else dtype  # float16: computed in float (stash_type 1)
    first, last, step = (np.asarray(v).astype(work) for v in (first, last, step))
    count = max(math.ceil(float(last - first) / float(step)), 0) if np.isfinite(float(last - first) / float(step)) else -1
    if count < 0:
        raise invalid(call, f"makes a range from {first} to {last} by {step}, which has no finite length")
    call.admit([count], dtype)
    return (np.float64(first) + np.arange(count, dtype=np.float64) * np.float64(step)).astype(work).astype(dtype)


@operator("NonZero")
def non_zero(call: Call, x):
    flat = x.reshape(1) if x.ndim == 0 else x  # ONNX Runtime takes a scalar as one element
    call.admit([flat.ndim, flat.size], np.int64)
    return np.array(np.nonzero(flat), np.int64).reshape(flat.ndim, -1)  # (rank, count)


@operator("OneHot", attributes=("axis",))
def one_hot(call: Call, indices, depth, values):
    if indices.dtype.kind not in "iuf" or depth.dtype.kind not in "iuf":
        raise call.malformed(f"takes numeric indices and depth, not {type_name(indices.dtype)} and {type_name(depth.dtype)}")
    size = int(scalar_of(call, depth, "depth"))
    if size < 1:
        raise invalid(call, f"has depth {size}; it must be at least 1")
    if values.shape != (2,):
        raise call.malformed(f"takes values [off, on] of shape [2], not {list(values.shape)}")
    rank = indices.ndim + 1
    axis = int(call.attr("axis", -1))
    if not -rank <= axis < rank:
        raise call.malformed(f"has axis {axis}, out of range for rank {rank}")
    axis %= rank
    out = list(indices.shape)
    out.insert(axis, size)
    call.admit(out, values.dtype)
    picked = np.trunc(indices).astype(np.int64) if indices.dtype.kind == "f" else indices.astype(np.int64)
    picked = np.where(picked < 0, picked + size, picked)  # [-depth, -1] counts from the end; beyond: all off
    classes = np.arange(size).reshape([size if i == axis else 1 for i in range(rank)])
    return np.where(np.expand_dims(picked, axis) == classes, values[1], values[0])  # (..., depth at axis, ...)


@operator("EyeLike", attributes=("dtype", "k"))
def eye_like(call: Call, x):
    if x.ndim != 2:
        raise call.malformed(f"takes a 2-D input, not {list(x.shape)}")
    dtype = numpy_dtype(int(call.attr("dtype")), f"{call.label}: its dtype") if call.has("dtype") else x.dtype
    call.admit(x.shape, dtype)
    return np.eye(x.shape[0], x.shape[1], int(call.attr("k", 0)), dtype=dtype)


@operator("Trilu", attributes=("upper",))
def trilu(call: Call, x, k=None):
    if x.ndim < 2:
        raise call.malformed(f"takes a tensor of rank >= 2, not {list(x.shape)}")
    diagonal = 0
    if k is not None:
        if k.dtype != np.int64:
            raise call.malformed(f"takes an int64 k, not {type_name(k.dtype)}")
        diagonal = int(scalar_of(call, k, "k"))
    diagonal = max(min(diagonal, x.shape[-1] + 1), -x.shape[-2] - 1)  # further out keeps all or nothing
    return np.triu(x, diagonal) if int(call.attr("upper", 1)) else np.tril(x, diagonal)


# -- moving blocks: DepthToSpace, SpaceToDepth ------------------------------------------------

def block_mode(call: Call, since: int) -> str:
    mode = call.string("mode", "DCR")
    if mode not in ("DCR", "CRD") or (call.has("mode") and call.opset < since):
        raise call.malformed(f"has mode '{mode}' (ONNX: DCR or CRD, from opset {since})")
    return mode


def block_size(call: Call, x: np.ndarray) -> int:
    size = int(call.attr("blocksize"))
    if size < 1 or x.ndim != 4:
        raise call.malformed(f"has blocksize {size} for input {list(x.shape)}; a size >= 1 and a 4-D input")
    return size


@operator("DepthToSpace", attributes=("blocksize", "mode"))
def depth_to_space(call: Call, x):
    mode, s = block_mode(call, 11), block_size(call, x)
    n, c, h, w = x.shape
    if c % (s * s):
        raise invalid(call, f"moves {c} channels into blocks of {s}x{s}")
    if mode == "DCR":
        y = x.reshape(n, s, s, c // (s * s), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (s * s), s, s, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (s * s), h * s, w * s)


@operator("SpaceToDepth", attributes=("blocksize", "mode"))
def space_to_depth(call: Call, x):
    mode, s = block_mode(call, 28), block_size(call, x)
    n, c, h, w = x.shape
    if h % s or w % s:
        raise invalid(call, f"splits {h}x{w} into blocks of {s}x{s}")
    y = x.reshape(n, c, h // s, s, w // s, s)  # (n, c, h/s, s, w/s, s)
    y = y.transpose(0, 3, 5, 1, 2, 4) if mode == "DCR" else y.transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * s * s, h // s, w // s)


# -- selecting: Compress, ReverseSequence, Unique ---------------------------------------------

@operator("Compress", attributes=("axis",))
def compress(call: Call, x, condition):
    if condition.dtype != np.bool_ or condition.ndim != 1:
        raise call.malformed(f"takes a 1-D bool condition, not {type_name(condition.dtype)}{list(condition.shape)}")
    axis = axis_of(call, call.attr("axis"), x.ndim) if call.has("axis") else None
    size = x.size if axis is None else x.shape[axis]
    if condition.size > size:
        raise invalid(call, f"has a condition of {condition.size} for {size} slices")
    return np.compress(condition, x, axis=axis)


@operator("ReverseSequence", attributes=("batch_axis", "time_axis"))
def reverse_sequence(call: Call, x, lengths):
    batch_axis, time_axis = int(call.attr("batch_axis", 1)), int(call.attr("time_axis", 0))
    if {batch_axis, time_axis} != {0, 1} or x.ndim < 2:
        raise call.malformed(f"has batch_axis={batch_axis}, time_axis={time_axis} for rank {x.ndim}; one is 0, the other 1")
    batch, steps = x.shape[batch_axis], x.shape[time_axis]
    if lengths.dtype != np.int64 or lengths.shape != (batch,):
        raise call.malformed(f"takes sequence_lens of int64[{batch}], not {type_name(lengths.dtype)}{list(lengths.shape)}")
    if np.any((lengths < 0) | (lengths > steps)):
        raise invalid(call, f"has sequence_lens {lengths.tolist()} outside [0, {steps}]")
    t = np.arange(steps)
    source = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (batch, steps)
    if time_axis == 0:
        source = source.T  # (steps, batch)
    source = source.reshape(source.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, source, axis=time_axis)


@operator("Unique", attributes=("axis", "sorted"))
def unique(call: Call, x):
    axis = axis_of(call, call.attr("axis"), x.ndim) if call.has("axis") else None
    values, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    if not int(call.attr("sorted", 1)):  # in the order of first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    as_int64 = [np.asarray(v, np.int64).reshape(-1) for v in (first, inverse, counts)]
    return (values, *as_int64)
