"""Whole-tensor operations for models traced from PyTorch (and ONNX graphs): registered as
"tensor.<Name>". Unlike Keras layers, their axes count the batch axis (axis 0 is whatever the
framework put first), exactly as torch and ONNX number them.

Configs come from untrusted files too: every option is checked before use.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputShapeError, ModelFormatError
from .base import REQUIRED, Layer, broadcast_shapes, format_shape
from .special import erf

MAX_SIZE = 2**31 - 1  # a size, pad or index beyond this in a config is a corrupt file, not a model


def _int(layer: Layer, key: str, value, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or abs(value) > MAX_SIZE:
        raise layer.refuse(key, value, "an integer" + (f" >= {low}" if low is not None else "") + f" of at most {MAX_SIZE}")
    return value


def _ints(layer: Layer, key: str, value) -> list[int]:
    if not isinstance(value, list):
        raise layer.refuse(key, value, "a list of integers")
    return [_int(layer, key, v) for v in value]


def _axis(layer: Layer, key: str, axis, rank: int) -> int:
    axis = _int(layer, key, axis)
    if not -rank <= axis < rank:
        raise ModelFormatError(f"layer '{layer.name}' ({layer.class_name}): {key} {axis} is out of range for rank {rank}")
    return axis % rank


def checked_reshape(x, shape, expected):
    """x.reshape(shape), where the model was built for the result shape `expected` (None: any size)."""
    y = x.reshape(shape)
    if any(e is not None and e != g for e, g in zip(expected, y.shape)):
        raise ValueError(f"reshaping {x.shape} gives {y.shape}, but the model was built for {expected}")
    return y


def softmax_over(x, axis, log=False):
    """softmax (or log_softmax with `log`) over `axis`, an axis or a tuple of axes taken together."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    total = np.sum(exp, axis=axis, keepdims=True)
    return shifted - np.log(total) if log else exp / total


def truncate_to_int64(x):
    """Cast to int64, floats truncated toward zero (ONNX Cast)."""
    with np.errstate(invalid="ignore"):
        return np.trunc(x).astype(np.int64) if x.dtype.kind == "f" else x.astype(np.int64)


def _index_text(key: tuple) -> str:
    """A NumPy index tuple written as Python subscript text: (slice(None), -1) -> ':, -1'."""
    parts = []
    for item in key:
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif isinstance(item, slice):
            text = ":".join("" if v is None else repr(int(v)) for v in (item.start, item.stop))
            parts.append(text + ("" if item.step is None else f":{int(item.step)!r}"))
        else:
            parts.append(repr(int(item)))
    return ", ".join(parts) if parts else "()"


def _shape_text(entries, inputs) -> str:
    """Reshape / Full shape entries as a tuple's text: a size, or {"dim": [k, axis]}: input k's size on `axis`."""
    sizes = [f"{inputs[int(e['dim'][0])]}.shape[{int(e['dim'][1])!r}]" if isinstance(e, dict) else repr(int(e))
             for e in entries]
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


def _choice(layer: Layer, key: str, options) -> str:
    value = layer.config[key]
    if not isinstance(value, str) or value not in options:
        raise layer.refuse(key, value, ", ".join(options))
    return value


class TensorOp(Layer):
    """Base: no weights unless declared, masks end here, integer tensors pass untouched.
    Subclasses give `shape` (build time) and `compute` (run time)."""

    MASKING = "drop"
    ACCEPTS_INTEGERS = True
    ARITY: int | None = 1

    @classmethod
    def weight_names(cls, config):
        """Binary and MatMul with "operand": True hold their constant operand as a weight."""
        return ["operand"] if "operand" in cls.OPTIONS and config.get("operand") is True else []

    def build(self, input_shapes):
        if self.ARITY is not None:
            self.expect_inputs(input_shapes, count=self.ARITY, min_rank=0)
        return [self.shape(input_shapes)]

    def shape(self, shapes):
        return shapes[0]

    def call(self, inputs, ctx):
        try:
            return self.compute(inputs)
        except ValueError as err:  # NumPy's word for arrays whose shapes do not fit together
            shapes = ", ".join(str(a.shape) for a in inputs)
            raise InputShapeError(f"layer '{self.name}' ({self.class_name}) cannot combine inputs of shapes {shapes}: {err}") from None

    def compute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.FUNCTION is None:
            raise NotImplementedError
        return [self.FUNCTION(*inputs, *self.bound)]

    def integer_outputs(self, integer_inputs):
        """Integers in, integers out, for the ops that take them; floats otherwise."""
        return [self.ACCEPTS_INTEGERS and bool(integer_inputs) and integer_inputs[0]]


class Transpose(TensorOp):
    """np.transpose(x, perm): torch permute / transpose, ONNX Transpose."""

    OPTIONS = {"perm": REQUIRED}
    FUNCTION = staticmethod(np.transpose)  # a view: the reader copies if it must

    def shape(self, shapes):
        perm = _ints(self, "perm", self.config["perm"])
        if sorted(perm) != list(range(len(shapes[0]))):
            raise self.refuse("perm", perm, f"a permutation of 0..{len(shapes[0]) - 1}")
        return tuple(shapes[0][p] for p in perm)

    def arguments(self, get):
        return [tuple(self.config["perm"])]


class Reshape(TensorOp):
    """x.reshape(shape). Entries: a size, -1 (the rest), or {"dim": [k, axis]}: the size of
    axis `axis` of input k at run time (torch's x.view(x.size(0), -1))."""

    OPTIONS = {"shape": REQUIRED}
    ARITY = None

    def shape(self, shapes):
        self.expect_inputs(shapes, count=None, min_rank=0)
        entries = self.config["shape"]
        if not isinstance(entries, list):
            raise self.refuse("shape", entries, "a list")
        out, free = [], 0
        for entry in entries:
            if isinstance(entry, dict):
                k, axis = self._dim(entry, shapes)
                out.append(shapes[k][axis])
            else:
                size = _int(self, "shape", entry, low=-1)
                free += size == -1
                out.append(None if size == -1 else size)
        if free > 1:
            raise self.refuse("shape", entries, "at most one -1")
        if free == 1:  # the -1 is known when the sizes around it are (an input's own axes cancel out)
            remaining = list(range(len(shapes[0])))
            others = []
            for d, e in zip(out, entries):
                if isinstance(e, dict) and e["dim"][0] == 0 and e["dim"][1] % len(shapes[0]) in remaining:
                    remaining.remove(e["dim"][1] % len(shapes[0]))
                elif e != -1:
                    others.append(d)
            rest_in = [shapes[0][a] for a in remaining]
            if rest_in.count(None) == 1 and others.count(None) == 1:
                # x.view(x.size(0), -1) of a tensor whose one free size is the batch: assumed equal
                # here, checked on every call (compute)
                rest_in = [d for d in rest_in if d is not None]
                others = [d for d in others if d is not None]
            if None not in rest_in and None not in others:
                total, rest = int(np.prod(rest_in, dtype=np.int64)), int(np.prod(others, dtype=np.int64))
                if rest and total % rest == 0:
                    out = [total // rest if e == -1 else d for d, e in zip(out, entries)]
        self.assumed = tuple(out)
        return tuple(out)

    def _dim(self, entry: dict, shapes) -> tuple[int, int]:
        dim = entry.get("dim")
        if not (isinstance(dim, list) and len(dim) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in dim)
                and 0 <= dim[0] < len(shapes) and -len(shapes[dim[0]]) <= dim[1] < len(shapes[dim[0]])):
            raise self.refuse("shape", entry, "sizes, -1, or {'dim': [input, axis]} naming an axis of an input")
        return dim[0], dim[1]

    def compute(self, inputs):
        shape = [inputs[e["dim"][0]].shape[e["dim"][1]] if isinstance(e, dict) else e for e in self.config["shape"]]
        result = inputs[0].reshape(shape)  # a size that does not fit: ValueError -> InputShapeError (TensorOp.call)
        if any(a is not None and a != r for a, r in zip(self.assumed, result.shape)):
            raise InputShapeError(f"layer '{self.name}': reshaping {inputs[0].shape} gives {result.shape}, but the model was "
                                  f"built for {format_shape(self.assumed)}")
        return [result]

    def export(self, e):
        shape = _shape_text(self.config["shape"], e.inputs)
        if any(entry == -1 and d is not None for entry, d in zip(self.config["shape"], self.assumed)):
            # the size of -1 was worked out when the model was built: checked on every call, as compute does
            return [e.call(checked_reshape, e.input, e.code(shape), tuple(self.assumed))]
        return [f"{e.input}.reshape({shape})"]


class Flatten(TensorOp):
    """torch.flatten(x, start, end): axes start..end merged into one."""

    OPTIONS = {"start": 0, "end": -1}

    def shape(self, shapes):
        rank = len(shapes[0])
        if rank == 0:
            return (1,)
        start = _axis(self, "start", self.config["start"], rank)
        end = _axis(self, "end", self.config["end"], rank)
        if end < start:
            raise self.refuse("end", self.config["end"], "an axis at or after start")
        merged = shapes[0][start : end + 1]
        size = None if None in merged else int(np.prod(merged, dtype=np.int64))
        self.axes = (start, end)
        return tuple(shapes[0][:start]) + (size,) + tuple(shapes[0][end + 1 :])

    def compute(self, inputs):
        x = inputs[0]
        if x.ndim == 0:
            return [x.reshape(1)]
        start, end = self.axes
        return [x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])]

    def export(self, e):
        if len(self.input_shapes[0]) == 0:
            return [f"{e.input}.reshape(1)"]
        start, end = self.axes
        return [f"{e.input}.reshape({e.input}.shape[:{start}] + (-1,) + {e.input}.shape[{end + 1}:])"]


class Squeeze(TensorOp):
    """Remove size-1 axes. The axes were size 1 when the model was traced; a different size at
    run time would change the result's rank, so it is an error, not a silent difference."""

    OPTIONS = {"axes": REQUIRED}

    def shape(self, shapes):
        rank = len(shapes[0])
        axes = sorted({_axis(self, "axes", a, rank) for a in _ints(self, "axes", self.config["axes"])})
        for a in axes:
            if shapes[0][a] not in (None, 1):
                raise self.refuse("axes", self.config["axes"], f"axes of size 1 (axis {a} has size {shapes[0][a]})")
        self.axes = tuple(axes)
        return tuple(d for i, d in enumerate(shapes[0]) if i not in axes)

    def compute(self, inputs):
        x = inputs[0]
        for a in self.axes:
            if x.shape[a] != 1:
                raise InputShapeError(f"layer '{self.name}' squeezes axis {a}, which has size {x.shape[a]} here, "
                                      f"not 1 as when the model was traced (input shape {x.shape})")
        return [x.reshape([d for i, d in enumerate(x.shape) if i not in self.axes])]

    def export(self, e):  # np.squeeze refuses an axis whose size is not 1, as compute does
        return [f"np.squeeze({e.input}, axis={tuple(self.axes)})"]


class Unsqueeze(TensorOp):
    """Insert size-1 axes at `axes` (positions in the result)."""

    OPTIONS = {"axes": REQUIRED}
    FUNCTION = staticmethod(np.expand_dims)

    def shape(self, shapes):
        rank = len(shapes[0]) + len(_ints(self, "axes", self.config["axes"]))
        self.axes = sorted({_axis(self, "axes", a, rank) for a in self.config["axes"]})
        out = list(shapes[0])
        for a in self.axes:
            out.insert(a, 1)
        return tuple(out)

    def arguments(self, get):
        return [tuple(self.axes)]


class Index(TensorOp):
    """Basic indexing x[items]: each item {"index": i}, {"slice": [start, stop, step]} (None
    for a default), "newaxis" or "ellipsis" — torch's x[:, -1] and ONNX Slice."""

    OPTIONS = {"items": REQUIRED}

    def shape(self, shapes):
        items = self.config["items"]
        if not isinstance(items, list):
            raise self.refuse("items", items, "a list")
        self.key = tuple(self._item(item) for item in items)
        if sum(k is Ellipsis for k in self.key) > 1:
            raise self.refuse("items", items, "at most one ellipsis")
        # the result shape from indexing a probe array where every unknown size is 1 ... and 2
        out = []
        probes = [np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), [d if d is not None else n for d in shapes[0]],
                                                  [0] * len(shapes[0])) for n in (3, 5)]  # views: nothing allocated
        try:
            results = [p[self.key] for p in probes]
        except IndexError as err:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): index {items} does not fit shape "
                                   f"{format_shape(shapes[0])} ({err})") from None
        for a, b in zip(results[0].shape, results[1].shape):
            out.append(a if a == b else None)
        return tuple(out)

    def _item(self, item):
        if item == "newaxis":
            return None
        if item == "ellipsis":
            return Ellipsis
        if isinstance(item, dict) and "index" in item:
            return _int(self, "items", item["index"])
        if isinstance(item, dict) and isinstance(item.get("slice"), list) and len(item["slice"]) == 3:
            start, stop, step = (None if v is None else _int(self, "items", v) for v in item["slice"])
            if step is not None and step == 0:
                raise self.refuse("items", item, "a non-zero step")
            return slice(start, stop, step)
        raise self.refuse("items", item, "{'index': i}, {'slice': [start, stop, step]}, 'newaxis' or 'ellipsis'")

    def compute(self, inputs):
        try:
            return [np.asarray(inputs[0][self.key], order="C")]  # contiguous (copied if not); 0-d stays 0-d
        except IndexError as err:
            raise InputShapeError(f"layer '{self.name}': cannot index an input of shape {inputs[0].shape} ({err})") from None

    def export(self, e):
        return [f"np.asarray({e.input}[{_index_text(self.key)}], order='C')"]


def _one_kind(layer, inputs: list) -> list:
    """Integer and float inputs joined: the integers cast to the model's float type first, as
    torch promotes them (NumPy would make float64 of int64 and float32)."""
    if len({a.dtype.kind == "f" for a in inputs}) > 1:
        return [a if a.dtype.kind == "f" else a.astype(layer.dtype) for a in inputs]
    return inputs


def _export_join(layer, e, function: str) -> list[str]:
    """Concat / Stack in a script: integers joined with floats cast first, as _one_kind does."""
    parts = list(e.inputs)
    if len(set(e.integers)) > 1:
        parts = [f"{v}.astype({e.dtype})" if integer else v for v, integer in zip(parts, e.integers)]
    return [f"np.{function}([{', '.join(parts)}], axis={layer.config['axis']})"]


def _same_rank(layer, shapes, min_rank: int) -> int:
    """The rank all of a joining layer's inputs share (Concat, Stack); an error if they differ."""
    layer.expect_inputs(shapes, count=None, min_rank=min_rank)
    if not shapes or any(len(s) != len(shapes[0]) for s in shapes):
        raise ModelFormatError(f"layer '{layer.name}' ({layer.class_name}): inputs of different ranks {shapes}")
    return len(shapes[0])


class Concat(TensorOp):
    """np.concatenate along `axis` (torch.cat, ONNX Concat)."""

    OPTIONS = {"axis": REQUIRED}
    ARITY = None

    def shape(self, shapes):
        rank = _same_rank(self, shapes, min_rank=1)
        axis = _axis(self, "axis", self.config["axis"], rank)
        out = list(shapes[0])
        out[axis] = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)
        return tuple(out)

    def compute(self, inputs):
        return [np.concatenate(_one_kind(self, inputs), axis=self.config["axis"])]

    def export(self, e):
        return _export_join(self, e, "concatenate")

    def integer_outputs(self, integer_inputs):
        return [all(integer_inputs)]


class Stack(TensorOp):
    """np.stack along a new `axis` (torch.stack)."""

    OPTIONS = {"axis": REQUIRED}
    ARITY = None

    def shape(self, shapes):
        rank = _same_rank(self, shapes, min_rank=0)
        axis = _axis(self, "axis", self.config["axis"], rank + 1)
        merged = tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))
        return merged[:axis] + (len(shapes),) + merged[axis:]

    def compute(self, inputs):
        return [np.stack(_one_kind(self, inputs), axis=self.config["axis"])]

    def export(self, e):
        return _export_join(self, e, "stack")

    def integer_outputs(self, integer_inputs):
        return [all(integer_inputs)]


_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
           "maximum": np.maximum, "minimum": np.minimum}


class Binary(TensorOp):
    """a <op> b with broadcasting: two tensors, or a tensor and a number (`scalar`), or a tensor
    and a stored constant (the weight "operand"); `swap` puts the tensor second."""

    OPTIONS = {"op": REQUIRED, "scalar": None, "operand": False, "swap": False}
    ARITY = None
    ACCEPTS_INTEGERS = False

    def shape(self, shapes):
        _choice(self, "op", _BINARY)
        scalar = self.config["scalar"]
        if scalar is not None and (isinstance(scalar, bool) or not isinstance(scalar, (int, float))):
            raise self.refuse("scalar", scalar, "a number")
        operands = (scalar is not None) + (self.config["operand"] is True) + len(shapes)
        if operands != 2 or not shapes:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs two operands, got {operands}")
        self.function = _BINARY[self.config["op"]]
        others = [self.weights["operand"].shape] if self.config["operand"] is True else []
        return broadcast_shapes(self, list(shapes) + others)

    def compute(self, inputs):
        a = inputs[0]
        if len(inputs) == 2:
            b = inputs[1]
        elif self.config["operand"] is True:
            b = self.weights["operand"]
        else:
            b = a.dtype.type(self.config["scalar"])
        if self.config["swap"]:
            a, b = b, a
        return [self.function(a, b)]

    def export(self, e):
        operands = list(e.inputs)
        if self.config["operand"] is True:
            operands.append(e.weight("operand"))
        elif self.config["scalar"] is not None:
            operands.append(f"{e.dtype}({self.config['scalar']!r})")
        if self.config["swap"]:
            operands.reverse()
        symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}.get(self.config["op"])
        return [f"{operands[0]} {symbol} {operands[1]}" if symbol else f"np.{self.config['op']}({operands[0]}, {operands[1]})"]


_UNARY = {"neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
          "reciprocal": np.reciprocal, "square": np.square, "sin": np.sin, "cos": np.cos, "erf": erf}


class Unary(TensorOp):
    """An element-wise function: neg, exp, log, sqrt, abs, reciprocal, square, sin, cos, erf."""

    OPTIONS = {"op": REQUIRED}
    ACCEPTS_INTEGERS = False

    def shape(self, shapes):
        _choice(self, "op", _UNARY)
        self.FUNCTION = _UNARY[self.config["op"]]
        return shapes[0]


def reduce_sum_square(x, axis, keepdims):
    """Σ x² over `axis` (ONNX ReduceSumSquare)."""
    return np.sum(np.square(x), axis=axis, keepdims=keepdims)


def reduce_l1(x, axis, keepdims):
    """Σ |x| over `axis` (ONNX ReduceL1)."""
    return np.sum(np.abs(x), axis=axis, keepdims=keepdims)


def reduce_l2(x, axis, keepdims):
    """sqrt(Σ x²) over `axis` (ONNX ReduceL2)."""
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))


def reduce_log_sum(x, axis, keepdims):
    """log(Σ x) over `axis` (ONNX ReduceLogSum)."""
    return np.log(np.sum(x, axis=axis, keepdims=keepdims))


def reduce_log_sum_exp(x, axis, keepdims):
    """log(Σ exp(x)) over `axis`, shifted by the maximum so large values do not overflow
    (ONNX ReduceLogSumExp); an all -inf slice gives -inf."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    total = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return total if keepdims else np.squeeze(total, axis=axis)


_REDUCE = {"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min, "prod": np.prod,
           "sum_square": reduce_sum_square, "l1": reduce_l1, "l2": reduce_l2, "log_sum": reduce_log_sum,
           "log_sum_exp": reduce_log_sum_exp}


class Reduce(TensorOp):
    """mean / sum / max / min / prod / sum_square / l1 / l2 / log_sum / log_sum_exp over `axes`
    (None: all), keeping them with keepdims."""

    OPTIONS = {"op": REQUIRED, "axes": None, "keepdims": False}
    ACCEPTS_INTEGERS = False

    def shape(self, shapes):
        _choice(self, "op", _REDUCE)
        if not isinstance(self.config["keepdims"], bool):
            raise self.refuse("keepdims", self.config["keepdims"], "true or false")
        rank = len(shapes[0])
        axes = self.config["axes"]
        self.axes = tuple(range(rank)) if axes is None else tuple(sorted({_axis(self, "axes", a, rank) for a in _ints(self, "axes", axes)}))
        self.function = _REDUCE[self.config["op"]]
        if self.config["keepdims"]:
            return tuple(1 if i in self.axes else d for i, d in enumerate(shapes[0]))
        return tuple(d for i, d in enumerate(shapes[0]) if i not in self.axes)

    def compute(self, inputs):
        return [np.asarray(self.function(inputs[0], axis=self.axes, keepdims=self.config["keepdims"]))]

    def export(self, e):
        keepdims = bool(self.config["keepdims"])
        if isinstance(self.function, np.ufunc) or self.function in (np.mean, np.sum, np.max, np.min, np.prod):
            return [f"np.asarray(np.{self.config['op']}({e.input}, axis={self.axes!r}, keepdims={keepdims!r}))"]
        return [f"np.asarray({e.call(self.function, e.input, axis=self.axes, keepdims=keepdims)})"]


def matmul(a, b):
    """np.matmul, a 1-D by 1-D product kept an array (0-d) rather than a NumPy scalar."""
    return np.asarray(np.matmul(a, b))


class MatMul(TensorOp):
    """np.matmul(a, b) (torch.matmul / bmm / @, ONNX MatMul); b may be the stored "operand"."""

    OPTIONS = {"operand": False}
    ARITY = None
    ACCEPTS_INTEGERS = False
    FUNCTION = staticmethod(matmul)

    def shape(self, shapes):
        shapes = list(shapes) + ([self.weights["operand"].shape] if self.config["operand"] is True else [])
        if len(shapes) != 2 or any(len(s) < 1 for s in shapes):
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) multiplies two tensors, got {len(shapes)}")
        a, b = shapes
        a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
        b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
        if None not in (a2[-1], b2[-2]) and a2[-1] != b2[-2]:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): cannot multiply {format_shape(a)} by {format_shape(b)}")
        batch = broadcast_shapes(self, [a2[:-2], b2[:-2]]) if len(a2) > 2 or len(b2) > 2 else ()
        out = batch + a2[-2:-1] + b2[-1:]
        if len(a) == 1:
            out = out[:-2] + out[-1:]
        if len(b) == 1:
            out = out[:-1]
        return out

    def arguments(self, get):
        return [get.weight("operand")] if self.config["operand"] is True else []


class Pad(TensorOp):
    """Constant padding: `pads` is [before, after] per axis."""

    OPTIONS = {"pads": REQUIRED, "value": 0.0}

    def shape(self, shapes):
        pads = self.config["pads"]
        rank = len(shapes[0])
        if not isinstance(pads, list) or len(pads) != rank or not all(isinstance(p, list) and len(p) == 2 for p in pads):
            raise self.refuse("pads", pads, f"[before, after] for each of {rank} axes")
        self.pads = [(_int(self, "pads", a, 0), _int(self, "pads", b, 0)) for a, b in pads]
        value = self.config["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse("value", value, "a number")
        return tuple(None if d is None else d + a + b for d, (a, b) in zip(shapes[0], self.pads))

    def compute(self, inputs):
        return [np.pad(inputs[0], self.pads, constant_values=self.config["value"])]

    def export(self, e):
        value = self.config["value"]
        text = repr(value) if np.isfinite(value) else ("np.inf" if value > 0 else "-np.inf")  # max pooling pads with -inf
        return [f"np.pad({e.input}, {[tuple(p) for p in self.pads]}, constant_values={text})"]


class Softmax(TensorOp):
    """softmax or log_softmax over `axis` (any axis, the batch axis counted; a list of axes:
    over all of them together, as ONNX's Softmax before opset 13)."""

    OPTIONS = {"axis": -1, "log": False}
    ACCEPTS_INTEGERS = False
    FUNCTION = staticmethod(softmax_over)

    def shape(self, shapes):
        rank = max(len(shapes[0]), 1)
        axis = self.config["axis"]
        self.axis = tuple(sorted({_axis(self, "axis", a, rank) for a in _ints(self, "axis", axis)})) if isinstance(axis, list) \
            else _axis(self, "axis", axis, rank)
        return shapes[0]

    def arguments(self, get):
        return [self.axis, self.config["log"]]


class Full(Reshape):
    """A tensor of one `value` whose shape entries are sizes or {"dim": [k, axis]} of the inputs
    (ONNX ConstantOfShape / Expand of a constant with a run-time shape)."""

    OPTIONS = {"shape": REQUIRED, "value": 0.0}

    def shape(self, shapes):
        value = self.config["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse("value", value, "a number")
        out = super().shape(shapes)
        if any(e == -1 for e in self.config["shape"]):
            raise self.refuse("shape", self.config["shape"], "sizes without -1")
        return out

    def compute(self, inputs):
        shape = [inputs[e["dim"][0]].shape[e["dim"][1]] if isinstance(e, dict) else e for e in self.config["shape"]]
        return [np.full(shape, self.config["value"], self.dtype)]

    def export(self, e):
        return [f"np.full({_shape_text(self.config['shape'], e.inputs)}, {self.config['value']!r}, {e.dtype})"]

    def integer_outputs(self, integer_inputs):
        return [False]


class Take(TensorOp):
    """np.take(x, indices, axis): ONNX Gather with constant indices."""

    OPTIONS = {"indices": REQUIRED, "axis": 0}

    def shape(self, shapes):
        rank = len(shapes[0])
        self.axis = _axis(self, "axis", self.config["axis"], rank)
        self.indices = np.asarray(_ints(self, "indices", self.config["indices"]), np.int64)
        size = shapes[0][self.axis]
        if size is not None and self.indices.size and not (-size <= self.indices.min() and self.indices.max() < size):
            raise self.refuse("indices", self.config["indices"], f"indices within the axis of size {size}")
        return tuple(shapes[0][: self.axis]) + (len(self.indices),) + tuple(shapes[0][self.axis + 1 :])

    def compute(self, inputs):
        size = inputs[0].shape[self.axis]
        if self.indices.size and not (-size <= self.indices.min() and self.indices.max() < size):
            raise InputShapeError(f"layer '{self.name}' takes indices {self.indices.tolist()} from an axis of size {size}")
        return [np.take(inputs[0], self.indices, axis=self.axis)]

    def export(self, e):
        return [f"np.take({e.input}, np.array({self.indices.tolist()}, np.int64), axis={int(self.axis)!r})"]


class Cast(TensorOp):
    """To the model's float type ("float") or to int64 ("int64", truncating as ONNX Cast does)."""

    OPTIONS = {"to": REQUIRED}

    def shape(self, shapes):
        self.target = _choice(self, "to", ("float", "int64"))
        return shapes[0]

    def compute(self, inputs):
        return [inputs[0].astype(self.dtype) if self.target == "float" else truncate_to_int64(inputs[0])]

    def export(self, e):
        return [f"{e.input}.astype({e.dtype})" if self.target == "float" else e.call(truncate_to_int64, e.input)]

    def integer_outputs(self, integer_inputs):
        return [self.target == "int64"]


def _sizes(layer: Layer, key: str, shapes, low: int) -> list:
    """A Tile / Expand entry list at build time: a number (>= low), or {"dim": [k, axis]}: the
    size of input k's axis (None where unknown). At least as many entries as input 0 has axes."""
    entries = layer.config[key]
    if not isinstance(entries, list) or len(entries) < len(shapes[0]):
        raise layer.refuse(key, entries, f"a list of at least {len(shapes[0])} entries")
    sizes = []
    for entry in entries:
        if isinstance(entry, dict):
            k, axis = Reshape._dim(layer, entry, shapes)
            sizes.append(shapes[k][axis])
        else:
            sizes.append(_int(layer, key, entry, low=low))
    return sizes


def _run_sizes(entries, inputs) -> list:
    """The entries with {"dim": [k, axis]} read from the inputs."""
    return [inputs[e["dim"][0]].shape[e["dim"][1]] if isinstance(e, dict) else e for e in entries]


class Tile(TensorOp):
    """np.tile(x, repeats): torch's x.repeat(*sizes) (more counts than axes: new axes first).
    A count is a number or {"dim": [k, axis]} (the size of input k's axis at run time)."""

    OPTIONS = {"repeats": REQUIRED}
    ARITY = None

    def shape(self, shapes):
        self.expect_inputs(shapes, count=None, min_rank=0)
        counts = _sizes(self, "repeats", shapes, low=0)
        base = (1,) * (len(counts) - len(shapes[0])) + tuple(shapes[0])
        return tuple(None if d is None or n is None else d * n for d, n in zip(base, counts))

    def compute(self, inputs):
        return [np.tile(inputs[0], _run_sizes(self.config["repeats"], inputs))]

    def export(self, e):
        return [f"np.tile({e.input}, {_shape_text(self.config['repeats'], e.inputs)})"]


def expand(x, sizes):
    """x broadcast to `sizes` and copied (torch's x.expand: -1 keeps x's axis; new axes go first)."""
    extra = len(sizes) - x.ndim
    shape = [x.shape[i - extra] if size == -1 else size for i, size in enumerate(sizes)]
    return np.asarray(np.broadcast_to(x, shape), order="C")


class Expand(TensorOp):
    """torch's x.expand(*sizes): axes of size 1 repeated to `sizes`; an entry is a size, -1
    (keep the axis) or {"dim": [k, axis]} (the size of input k's axis at run time)."""

    OPTIONS = {"sizes": REQUIRED}
    ARITY = None

    def shape(self, shapes):
        self.expect_inputs(shapes, count=None, min_rank=0)
        sizes = _sizes(self, "sizes", shapes, low=-1)
        extra = len(sizes) - len(shapes[0])
        base = (1,) * extra + tuple(shapes[0])
        out = []
        for i, (d, size) in enumerate(zip(base, sizes)):
            if size == -1 and i < extra:
                raise self.refuse("sizes", self.config["sizes"], "-1 only on the input's own axes")
            if size == -1:
                out.append(d)
            elif d not in (None, 1) and size is not None and size != d:
                raise self.refuse("sizes", self.config["sizes"], f"sizes matching the input's {format_shape(shapes[0])} or 1s")
            else:
                out.append(size)
        return tuple(out)

    def compute(self, inputs):
        return [expand(inputs[0], _run_sizes(self.config["sizes"], inputs))]

    def export(self, e):
        return [e.call(expand, e.input, e.code(_shape_text(self.config["sizes"], e.inputs)))]


def arg_reduce(x, op, axis, keepdims, last):
    """The int64 index of the max (op "max") or min along `axis`: the first on ties, or the last
    with `last` (ONNX select_last_index)."""
    function = np.argmax if op == "max" else np.argmin
    if last:
        found = x.shape[axis] - 1 - function(np.flip(x, axis=axis), axis=axis, keepdims=keepdims)
    else:
        found = function(x, axis=axis, keepdims=keepdims)
    return np.asarray(found, dtype=np.int64)


class ArgReduce(TensorOp):
    """The index (int64) of the max or min along `axis`, the first on ties unless `last` (torch.argmax,
    the indices of torch.max(x, dim), ONNX ArgMax / ArgMin)."""

    OPTIONS = {"op": REQUIRED, "axis": REQUIRED, "keepdims": False, "last": False}

    def shape(self, shapes):
        _choice(self, "op", ("max", "min"))
        rank = len(shapes[0])
        self.axis = _axis(self, "axis", self.config["axis"], rank)
        for key in ("keepdims", "last"):
            if not isinstance(self.config[key], bool):
                raise self.refuse(key, self.config[key], "true or false")
        if self.config["keepdims"]:
            return tuple(1 if i == self.axis else d for i, d in enumerate(shapes[0]))
        return tuple(d for i, d in enumerate(shapes[0]) if i != self.axis)

    def compute(self, inputs):
        return [arg_reduce(inputs[0], self.config["op"], self.axis, self.config["keepdims"], self.config["last"])]

    def export(self, e):
        return [e.call(arg_reduce, e.input, self.config["op"], self.axis, bool(self.config["keepdims"]),
                       bool(self.config["last"]))]

    def integer_outputs(self, integer_inputs):
        return [True]


def sequence_mask(lengths, x):
    """(batch, time) booleans, True at the steps t < lengths[b] of each row b of x (batch, time, ...)."""
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    steps = x.shape[1]
    if lengths.shape != (x.shape[0],) or lengths.min(initial=0) < 0 or lengths.max(initial=0) > steps:
        raise ValueError(f"sequence lengths must be {x.shape[0]} values in 0..{steps}, got {lengths.tolist()}")
    return np.arange(steps)[None, :] < lengths[:, None]


class SequenceMask(TensorOp):
    """The mask of sequence lengths (ONNX's sequence_lens): inputs lengths (batch,), x (batch, time, ...)."""

    OPTIONS: dict = {}
    ARITY = 2
    FUNCTION = staticmethod(sequence_mask)

    def shape(self, shapes):
        if len(shapes[1]) < 2:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a sequence (batch, time, ...), got {shapes[1]}")
        return tuple(shapes[1][:2])

    def integer_outputs(self, integer_inputs):
        return [False]


TENSOR_OPS = {f"tensor.{cls.__name__}": cls for cls in (
    Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Index, Concat, Stack, Binary, Unary, Reduce, MatMul, Pad, Softmax,
    Full, Take, Cast, SequenceMask, Tile, Expand, ArgReduce)}
