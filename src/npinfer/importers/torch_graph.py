"""A PyTorch module -> ModelSpec: forward is traced with torch.fx, and every node of the graph
becomes npinfer layers (torch is imported only inside `from_torch_module`).

Leaf modules (nn.LSTM, nn.Linear, ...) convert in torch_modules.py, their torch.nn.functional
forms (F.conv2d, F.max_pool2d, F.relu, ...) in torch_functional.py onto the same conversions; the
tensor functions and methods a forward composes them with (indexing, cat, permute, view, repeat,
expand, arithmetic, reductions, ...) become "tensor.*" operations. Anything else is refused by
name. The result is checked against the module on the example input before it is returned.
"""

from __future__ import annotations

import contextlib
import io
import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import NpinferError, UnsupportedLayerError, UnsupportedOptionError
from ..spec import Call, LayerSpec, ModelSpec
from . import torch_functional as tf
from . import torch_modules as tm
from .toolkit import emit
from .toolkit.activations import torch_module_activation
from .toolkit.layout import dim_entry, on_axis
from .toolkit.naming import UniqueNames
from .toolkit.values import Const, DimRef, Lazy, Tensor

# -- values flowing through the traced graph: toolkit.values' Tensor (rank known, sizes not),
# DimRef (x.size(axis)), Const (a parameter read with get_attr), Lazy; and torch's x.shape:

@dataclass(frozen=True)
class Shape:
    """x.size() / x.shape: every size of a tensor (its rank may be unknown)."""

    tensor: Tensor


class Builder:
    """Collects the LayerSpecs of the converted model."""

    def __init__(self):
        self.layers: list[LayerSpec] = []
        self.names = UniqueNames()
        self.prefix = ""
        self.ranks: dict[tuple, int] = {}

    def name(self, base: str | None) -> str:
        """A unique layer name: the traced node's name, with `base` appended for helper layers."""
        return self.names.unique(self.prefix if base is None else (f"{self.prefix}_{base}" if self.prefix else base))

    def emit(self, class_name: str, config: dict, inputs: list, weights: dict | None = None, kwargs: dict | None = None,
             base: str | None = None) -> list[tuple]:
        """toolkit.emit's builder call: add(), the arguments in the ONNX Converter's order."""
        return self.add(base, class_name, config, inputs, weights, kwargs)

    def add(self, base: str | None, class_name: str, config: dict, inputs: list, weights: dict | None = None,
            kwargs: dict | None = None) -> list[tuple]:
        """Add a layer called once on `inputs`; returns refs to its first few outputs."""
        name = self.name(base)
        refs = [self.ref(v) for v in inputs]
        kw = {k: [self.ref(v) for v in values] for k, values in (kwargs or {}).items()}
        self.layers.append(LayerSpec(name, class_name, config, dict(weights or {}), [Call(refs, kw)]))
        return [(name, 0, i) for i in range(4)]

    def ref(self, value) -> tuple:
        if isinstance(value, Tensor):
            return value.ref
        if isinstance(value, Lazy):
            return self.tensor(value, "a tensor").ref
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str):
            return value
        raise UnsupportedLayerError(f"a layer input must be a tensor, got {describe(value)}")

    def rank(self, value) -> int:
        if isinstance(value, Tensor):
            return value.rank
        return self.ranks.get(self.ref(value), -1)

    # recurrent modules give python tuples of (possibly lazy) rank-3 tensors
    def tuple(self, items: list) -> tuple:
        return tuple(Tensor.of_rank(i, 3) if isinstance(i, tuple) and len(i) == 3 and isinstance(i[0], str) else i for i in items)

    def lazy(self, make: Callable[[], tuple], rank: int = 3) -> Lazy:
        """A tensor (rank 3 unless told) made when first read, named after the node that defined it."""
        prefix = self.prefix

        def named():
            reader, self.prefix = self.prefix, prefix
            try:
                return make()
            finally:
                self.prefix = reader
        return Lazy(named, rank)

    def items(self, value) -> list:
        if isinstance(value, (tuple, list)):
            return list(value)
        raise UnsupportedLayerError(f"expected a tuple, got {describe(value)}")

    def tensor(self, value, what: str) -> Tensor:
        if isinstance(value, Lazy):
            if value.value is None:
                value.value = Tensor.of_rank(value.make(), value.rank)
            return value.value
        if isinstance(value, Tensor):
            return value
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str):
            return Tensor.of_rank(value, self.ranks.get(value, -1))
        raise UnsupportedLayerError(f"{what} must be a tensor, got {describe(value)}")


def describe(value) -> str:
    if isinstance(value, (Tensor, Lazy)):
        return "a tensor"
    if isinstance(value, (DimRef, Shape)):
        return "a tensor size"
    if isinstance(value, Const):
        return f"the parameter '{value.name}'"
    return f"{type(value).__name__} {value!r}"


# -- the conversion ---------------------------------------------------------------------------

class Converter:
    def __init__(self, graph_module, examples: list, meta: dict, varied: dict):
        self.gm = graph_module
        self.examples = examples
        self.meta = meta  # node name -> example shape (tuple) of tensor-valued nodes
        self.varied = varied  # the same for inputs whose free axes were one longer (sizes that change are free)
        self.b = Builder()
        self.values: dict[str, Any] = {}
        self.modules = dict(graph_module.named_modules())
        self.inputs: list[tuple] = []

    def run(self) -> tuple[list, list]:
        placeholders = 0
        outputs = None
        for node in self.gm.graph.nodes:
            self.b.prefix = node.name
            if node.op == "placeholder":
                self.values[node.name] = self.placeholder(node, placeholders)
                placeholders += 1
            elif node.op == "get_attr":
                self.values[node.name] = self.get_attr(node)
            elif node.op == "call_module":
                self.values[node.name] = self.call_module(node)
            elif node.op in ("call_function", "call_method"):
                self.values[node.name] = self.call(node)
            elif node.op == "output":
                outputs = self.flatten_outputs(self.value(node.args[0]))
        return self.inputs, outputs

    # -- helpers -----------------------------------------------------------------------------

    def value(self, arg):
        import torch.fx

        if isinstance(arg, torch.fx.Node):
            return self.values[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        if isinstance(arg, slice):
            parts = [self.value(p) for p in (arg.start, arg.stop, arg.step)]
            if any(not (p is None or isinstance(p, int)) for p in parts):
                raise UnsupportedLayerError(f"a slice with run-time bounds ({arg}) is not supported; use constant bounds")
            return slice(*parts)
        if isinstance(arg, dict):
            return {k: self.value(v) for k, v in arg.items()}
        return arg

    def tensor(self, value, what="an argument") -> Tensor:
        return self.b.tensor(value, what)

    def constant(self, value, what: str, optional: bool = False):
        """The array of a parameter or buffer passed to a function (F.conv2d's weight, ...);
        None for an optional argument left out."""
        if value is None and optional:
            return None
        if isinstance(value, Const):
            return value.array
        raise UnsupportedLayerError(f"{what} must be a parameter or buffer of the module, got {describe(value)}; "
                                    "weights computed in forward are not supported")

    def shape_of(self, arg) -> tuple:
        """(traced shape, shape with the free input sizes one longer or None) of a node's value."""
        name = getattr(arg, "name", None)
        if name not in self.meta:
            raise UnsupportedLayerError(f"the shape of {arg} is unknown")
        return self.meta[name], self.varied.get(name)

    def rank_of(self, node) -> int:
        shape = self.meta.get(node.name)
        return len(shape) if shape is not None else -1

    def out(self, node, ref: tuple) -> Tensor:
        tensor = Tensor.of_rank(ref, self.rank_of(node))
        self.b.ranks[ref] = tensor.rank
        return tensor

    def flatten_outputs(self, value) -> list:
        if isinstance(value, (list, tuple)):
            return [ref for item in value for ref in self.flatten_outputs(item)]
        if isinstance(value, dict):
            return [ref for item in value.values() for ref in self.flatten_outputs(item)]
        return [self.tensor(value, "a model output").ref]

    # -- node kinds ----------------------------------------------------------------------------

    def placeholder(self, node, position: int):
        if position >= len(self.examples):
            raise NpinferError(f"forward takes an input '{node.name}' that example_input does not give")
        example = self.examples[position]
        if isinstance(example, (tuple, list)):  # e.g. an LSTM's (h_0, c_0): one model input each
            return tuple(self.input_layer(f"{node.name}_{i}", e, node, i) for i, e in enumerate(example))
        return self.input_layer(node.name, example, node, None)

    def input_layer(self, name: str, example, node, item: int | None) -> Tensor:
        shape = list(example.shape)
        if len(shape) < 2:
            raise UnsupportedOptionError(f"input '{name}' has shape {tuple(shape)}; npinfer needs a batch axis and at least one more")
        batch_axis, free = self.axes_of_input(node, len(shape))
        free = [a for a in free if a in self.varied.get("", {}).get(node.name, free)]  # the module runs with other sizes there
        for axis in free:
            shape[axis] = None
        dtype = "int64" if not example.is_floating_point() else "float32"
        self.b.layers.append(LayerSpec(name, "InputLayer", {"shape": shape, "dtype": dtype, "batch_axis": batch_axis}))
        self.b.names.claim(name)
        ref = (name, 0, 0)
        self.inputs.append(ref)
        self.b.ranks[ref] = len(shape)
        return Tensor.of_rank(ref, len(shape))

    def axes_of_input(self, node, rank: int) -> tuple[int, list[int]]:
        """(batch axis, axes whose size may change) from what reads the input (through tuple indexing)."""
        for user in node.users:
            if user.op == "call_function" and getattr(user.target, "__name__", "") == "getitem":
                return self.axes_of_input(user, rank)
            if user.op == "call_function" and user.args and user.args[0] is node:  # F.embedding(ids), F.conv1d(x)
                name = _function_name(user.target)
                if name == "embedding":
                    return 0, list(range(rank))
                if name == "conv1d" and rank == 3:
                    return 0, [0, 2]
            if user.op == "call_module":
                module = self.modules[user.target]
                kind = type(module).__name__
                if kind in tm.RECURRENT:
                    if user.args and user.args[0] is node:
                        return (0 if module.batch_first else 1), [0, 1]
                    return 1, [1]  # an initial state: (layers * directions, batch, units)
                if kind == "Conv1d" and rank == 3:
                    return 0, [0, 2]
                if kind == "Embedding":
                    return 0, list(range(rank))
        return 0, [0]

    def get_attr(self, node) -> Const:
        target = self.gm
        for part in node.target.split("."):
            target = getattr(target, part)
        return Const(tm._array(target), node.target)

    def call_module(self, node):
        module = self.modules[node.target]
        kind = type(module).__name__
        args = [self.value(a) for a in node.args]
        kwargs = {k: self.value(v) for k, v in node.kwargs.items()}
        if kind in tm.RECURRENT:
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            return tm.recurrent(self.b, module, self.tensor(args[0], f"the input of {kind}"), hx)
        if len(args) != 1 or kwargs:
            raise UnsupportedLayerError(f"module '{node.target}' ({kind}) is called with {len(args)} arguments; npinfer converts one input")
        x = self.tensor(args[0], f"the input of {kind}")
        if kind in tm.PASS_THROUGH:
            return x
        if kind in tm.MODULES:
            return self.out(node, tm.MODULES[kind](self.b, module, x))
        if kind in tm.SHAPED:
            source = node.args[0].name
            return self.out(node, tm.SHAPED[kind](self.b, module, x, self.meta[source], self.varied.get(source)))
        activation = torch_module_activation(module)
        if activation is not None:
            return self.out(node, self.b.add(None, "Activation", {"activation": activation}, [x])[0])
        if kind in ("Softmax", "LogSoftmax"):
            if module.dim is None:
                raise UnsupportedOptionError(f"{kind}: dim=None is not supported; give dim")
            return self.out(node, self.b.add(None, "tensor.Softmax", {"axis": int(module.dim), "log": kind == "LogSoftmax"}, [x])[0])
        if kind == "Flatten":
            return self.out(node, self.b.add(None, "tensor.Flatten", {"start": int(module.start_dim), "end": int(module.end_dim)}, [x])[0])
        raise UnsupportedLayerError(f"module '{node.target}' ({kind}) is not supported by npinfer; supported modules: "
                                    f"{', '.join(tm.supported_modules())}")

    def call(self, node):
        target = node.target
        args = [self.value(a) for a in node.args]
        kwargs = {k: self.value(v) for k, v in node.kwargs.items()}
        key = target if node.op == "call_method" else _function_name(target)
        handler = (METHODS if node.op == "call_method" else FUNCTIONS).get(key)
        if node.op == "call_function" and handler is not None and not _is_known_function(target):
            handler = None
        if handler is None:
            kind = "method" if node.op == "call_method" else "function"
            raise UnsupportedLayerError(f"the {kind} '{key}' (in forward, node '{node.name}') is not supported by npinfer; "
                                        f"supported: {', '.join(sorted(set(FUNCTIONS) | set(METHODS)))}")
        result = handler(self, node, args, kwargs)
        if isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], str):
            return self.out(node, result)
        return result


def _function_name(target) -> str:
    """A function's torch name: its __name__, or (for F.max_pool2d and the other functions
    torch builds with boolean_dispatch, all named "fn") the name torch.nn.functional gives it."""
    name = getattr(target, "__name__", str(target))
    if name in FUNCTIONS and name != "fn":
        return name
    import torch.nn.functional as F

    return next((n for n in dir(F) if not n.startswith("_") and getattr(F, n) is target), name)


def _is_known_function(target) -> bool:
    """Functions are matched by name; only those of operator, torch and torch.nn.functional count."""
    module = getattr(target, "__module__", "") or ""
    return module in ("_operator", "operator") or module.startswith("torch") or target is getattr


# -- functions and methods ----------------------------------------------------------------------

def _arg(args, kwargs, position: int, name: str, default=None):
    if len(args) > position:
        return args[position]
    return kwargs.get(name, default)


def _getitem(c: Converter, node, args, kwargs):
    container, index = args
    if isinstance(container, (tuple, list)):
        if isinstance(index, slice):
            return container[index]
        if not isinstance(index, int):
            raise UnsupportedLayerError(f"indexing a tuple with {describe(index)} is not supported")
        return container[index]
    if isinstance(container, Shape):
        if isinstance(index, slice) and container.tensor.rank >= 0:  # x.shape[-1:]: the sizes of those axes
            return tuple(DimRef(container.tensor, axis) for axis in range(container.tensor.rank)[index])
        if not isinstance(index, int):
            raise UnsupportedLayerError("x.shape[...] with a step or of a tensor of unknown rank is not supported")
        return DimRef(container.tensor, index)
    x = c.tensor(container, "the indexed value")
    items = []
    for item in index if isinstance(index, tuple) else (index,):
        if item is None:
            items.append("newaxis")
        elif item is Ellipsis:
            items.append("ellipsis")
        elif isinstance(item, int) and not isinstance(item, bool):
            items.append({"index": item})
        elif isinstance(item, slice):
            items.append({"slice": [item.start, item.stop, item.step]})
        else:
            raise UnsupportedLayerError(f"indexing a tensor with {describe(item)} is not supported; use ints, slices, None and ...")
    return c.b.add(None, "tensor.Index", {"items": items}, [x])[0]


def _getattr(c: Converter, node, args, kwargs):
    value, name = args
    if isinstance(value, ValuesIndices) and name in ("values", "indices"):
        return value[0 if name == "values" else 1]
    if name == "shape":
        return Shape(c.tensor(value))
    raise UnsupportedLayerError(f"reading the attribute '{name}' of {describe(value)} is not supported")


def _size(c: Converter, node, args, kwargs):
    x = c.tensor(args[0])
    axis = _arg(args, kwargs, 1, "dim")
    return Shape(x) if axis is None else DimRef(x, axis)


def _binary(op: str):
    def convert(c: Converter, node, args, kwargs):
        if kwargs.get("alpha", 1) != 1:
            raise UnsupportedOptionError(f"{op} with alpha={kwargs['alpha']} is not supported")
        a, b = args[0], _arg(args, kwargs, 1, "other")
        numbers = (int, float)
        if isinstance(a, numbers) and isinstance(b, numbers):
            return {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
                    "pow": operator.pow}[op](a, b)
        if isinstance(a, (DimRef, Shape)) or isinstance(b, (DimRef, Shape)):
            raise UnsupportedLayerError(f"arithmetic on tensor sizes ({op}) is not supported; use -1 in view/reshape instead")
        swap = not isinstance(a, (Tensor, Lazy))
        tensor, other = (b, a) if swap else (a, b)
        x = c.tensor(tensor, f"an operand of {op}")
        if isinstance(other, Const):
            other = other.array
        elif not isinstance(other, numbers) or isinstance(other, bool):
            other = c.tensor(other, f"an operand of {op}")
        return emit.binary(c.b, op, x, other, swap)
    return convert


def _unary(op: str):
    def convert(c: Converter, node, args, kwargs):
        return c.b.add(None, "tensor.Unary", {"op": op}, [c.tensor(args[0])])[0]
    return convert


def _softmax(log: bool):
    def convert(c: Converter, node, args, kwargs):
        axis = _arg(args, kwargs, 1, "dim")
        if not isinstance(axis, int):
            raise UnsupportedOptionError("softmax without dim is not supported; give dim")
        if kwargs.get("dtype") is not None:
            raise UnsupportedOptionError("softmax with a dtype is not supported")
        return c.b.add(None, "tensor.Softmax", {"axis": axis, "log": log}, [c.tensor(args[0])])[0]
    return convert


def _cat(stack: bool):
    def convert(c: Converter, node, args, kwargs):
        tensors = [c.tensor(t, "a tensor to join") for t in args[0]]
        axis = _arg(args, kwargs, 1, "dim", 0)
        return c.b.add(None, "tensor.Stack" if stack else "tensor.Concat", {"axis": axis}, tensors)[0]
    return convert


def _dims(args, start: int, kwargs, name: str) -> list:
    rest = args[start:]
    if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
        rest = list(rest[0])
    if not rest and name in kwargs:
        rest = list(kwargs[name]) if isinstance(kwargs[name], (tuple, list)) else [kwargs[name]]
    if len(rest) == 1 and isinstance(rest[0], Shape) and rest[0].tensor.rank >= 0:  # x.expand(y.shape)
        rest = [DimRef(rest[0].tensor, axis) for axis in range(rest[0].tensor.rank)]
    return list(rest)


def _permute(c: Converter, node, args, kwargs):
    return c.b.add(None, "tensor.Transpose", {"perm": _dims(args, 1, kwargs, "dims")}, [c.tensor(args[0])])[0]


def _transpose(c: Converter, node, args, kwargs):
    x = c.tensor(args[0])
    rank = c.b.rank(x)
    a, b = _arg(args, kwargs, 1, "dim0"), _arg(args, kwargs, 2, "dim1")
    if rank < 0:
        raise UnsupportedLayerError("transpose of a tensor of unknown rank")
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return c.b.add(None, "tensor.Transpose", {"perm": perm}, [x])[0]


def _reshape(c: Converter, node, args, kwargs):
    x = c.tensor(args[0])
    entries, inputs = [], [x]
    traced, varied = c.meta.get(node.name), c.varied.get(node.name)
    for axis, size in enumerate(_dims(args, 1, kwargs, "shape")):
        if traced and varied and len(traced) == len(varied) and traced[axis] == varied[axis] and (size == -1 or isinstance(size, DimRef)):
            entries.append(int(traced[axis]))  # a size that did not change with the input's free sizes
        else:
            entries.append(_size_entry(size, inputs))
    return c.b.add(None, "tensor.Reshape", {"shape": entries}, inputs)[0]


def _flatten(c: Converter, node, args, kwargs):
    start, end = _arg(args, kwargs, 1, "start_dim", 0), _arg(args, kwargs, 2, "end_dim", -1)
    return c.b.add(None, "tensor.Flatten", {"start": start, "end": end}, [c.tensor(args[0])])[0]


def _squeeze(c: Converter, node, args, kwargs):
    axes = _dims(args, 1, kwargs, "dim")
    if not axes:
        raise UnsupportedOptionError("squeeze() without dim is not supported (it would depend on the batch size); give dim")
    return c.b.add(None, "tensor.Squeeze", {"axes": axes}, [c.tensor(args[0])])[0]


def _unsqueeze(c: Converter, node, args, kwargs):
    return c.b.add(None, "tensor.Unsqueeze", {"axes": [_arg(args, kwargs, 1, "dim")]}, [c.tensor(args[0])])[0]


def _reduce(op: str, with_indices: bool = False):
    """mean / sum / amax / amin; with_indices: torch.max / torch.min, which with a dim give
    (values, indices), and with a tensor the element-wise maximum / minimum."""
    def convert(c: Converter, node, args, kwargs):
        axis = _arg(args, kwargs, 1, "dim")
        if with_indices and isinstance(axis, (Tensor, Lazy, Const)):  # torch.max(a, b)
            return _binary("maximum" if op == "max" else "minimum")(c, node, [args[0], axis], {})
        keepdims = bool(_arg(args, kwargs, 2, "keepdim", False))
        if kwargs.get("dtype") is not None:
            raise UnsupportedOptionError(f"{op} with a dtype is not supported")
        axes = None if axis is None else ([axis] if isinstance(axis, int) else list(axis))
        x = c.tensor(args[0])

        def values():
            return c.b.add(None, "tensor.Reduce", {"op": op, "axes": axes, "keepdims": keepdims}, [x])[0]
        if with_indices and axis is not None:  # torch.max(x, dim) gives (values, indices); torch.amax only values
            rank = x.rank if keepdims or x.rank < 0 else x.rank - len(axes)  # each made only if read:
            return ValuesIndices((c.b.lazy(values, rank), c.b.lazy(lambda: _arg_reduce(c, x, op, axis, keepdims), rank)))
        return values()
    return convert


def _arg_reduce(c: Converter, x: Tensor, op: str, axis, keepdims: bool) -> tuple:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise UnsupportedOptionError(f"arg{op} over {describe(axis)} is not supported; give one dim (over all axes it "
                                     "would mix the batch)")
    return c.b.add("indices", "tensor.ArgReduce", {"op": op, "axis": axis, "keepdims": bool(keepdims)}, [x])[0]


def _argmax(op: str):
    def convert(c: Converter, node, args, kwargs):
        return _arg_reduce(c, c.tensor(args[0]), op, _arg(args, kwargs, 1, "dim"), _arg(args, kwargs, 2, "keepdim", False))
    return convert


class ValuesIndices(tuple):
    """(values, indices) of torch.max / min with a dim, read by position or by name."""


def _size_entry(size, inputs: list):
    """A size argument as a Reshape / Tile / Expand entry: a number, or {"dim": [k, axis]} for
    x.size(axis), x's tensor added to `inputs` (the layer's inputs)."""
    if isinstance(size, DimRef):
        return dim_entry(size, inputs)
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    raise UnsupportedLayerError(f"a size given as {describe(size)} is not supported")


def _repeat(tile: bool):
    """x.repeat(*sizes) (at least one count per axis) / torch.tile (fewer: ones first)."""
    def convert(c: Converter, node, args, kwargs):
        x = c.tensor(args[0])
        inputs = [x]
        counts = [_size_entry(n, inputs) for n in _dims(args, 1, kwargs, "dims" if tile else "repeats")]
        if tile and 0 <= len(counts) < x.rank:
            counts = [1] * (x.rank - len(counts)) + counts
        return c.b.add(None, "tensor.Tile", {"repeats": counts}, inputs)[0]
    return convert


def _expand(c: Converter, node, args, kwargs):
    x = c.tensor(args[0])
    inputs = [x]
    sizes = [_size_entry(n, inputs) for n in _dims(args, 1, kwargs, "size")]
    return c.b.add(None, "tensor.Expand", {"sizes": sizes}, inputs)[0]


def _expand_as(c: Converter, node, args, kwargs):
    x, other = c.tensor(args[0]), c.tensor(_arg(args, kwargs, 1, "other"))
    if other.rank < 0:
        raise UnsupportedLayerError("expand_as a tensor of unknown rank")
    return c.b.add(None, "tensor.Expand", {"sizes": [{"dim": [1, a]} for a in range(other.rank)]}, [x, other])[0]


def _matmul(c: Converter, node, args, kwargs):
    a, b = args[0], _arg(args, kwargs, 1, "other", kwargs.get("mat2"))
    return emit.matmul(c.b, c.tensor(a), b.array if isinstance(b, Const) else c.tensor(b))


def _pad(c: Converter, node, args, kwargs):
    x = c.tensor(args[0])
    pad = list(_arg(args, kwargs, 1, "pad"))
    mode = _arg(args, kwargs, 2, "mode", "constant")
    value = _arg(args, kwargs, 3, "value", None) or 0.0
    if mode != "constant":
        raise UnsupportedOptionError(f"F.pad mode={mode!r} is not supported; supported: 'constant'")
    rank = c.b.rank(x)
    if rank < 0 or len(pad) % 2 or len(pad) // 2 > rank or any(p < 0 for p in pad):
        raise UnsupportedOptionError(f"F.pad with pad={pad} is not supported (non-negative pairs from the last axis)")
    pads = [[0, 0] for _ in range(rank)]
    for i in range(len(pad) // 2):  # torch lists (before, after) from the last axis backwards
        pads[rank - 1 - i] = [int(pad[2 * i]), int(pad[2 * i + 1])]
    return emit.pad(c.b, x, pads, value)


def _identity(c: Converter, node, args, kwargs):
    return args[0]


def _to_float(c: Converter, node, args, kwargs):
    if node.target == "to":
        import torch

        if len(args) != 2 or args[1] is not torch.float32:
            raise UnsupportedOptionError(f".to{tuple(args[1:])} is not supported; npinfer computes in float32")
    x = c.tensor(args[0])
    return c.b.add(None, "tensor.Binary", {"op": "mul", "scalar": 1.0}, [x])[0]  # integers become floats


def _chunk(split: bool):
    def convert(c: Converter, node, args, kwargs):
        x = c.tensor(args[0])
        axis = _arg(args, kwargs, 2, "dim", 0)
        shape = c.meta.get(node.args[0].name) if hasattr(node.args[0], "name") else None
        if shape is None:
            raise UnsupportedLayerError("split/chunk of a tensor whose shape is unknown")
        length = shape[axis]
        if split:
            size = _arg(args, kwargs, 1, "split_size_or_sections")
            sizes = list(size) if isinstance(size, (list, tuple)) else [size] * -(-length // size)
        else:
            parts = _arg(args, kwargs, 1, "chunks")
            step = -(-length // parts)
            sizes = [step] * (length // step) + ([length % step] if length % step else [])
        pieces, start = [], 0
        rank = len(shape)
        for size in sizes:
            size = min(size, length - start)
            items = on_axis(axis, rank, {"slice": [start, start + size, None]})
            pieces.append(c.b.lazy(lambda items=items: c.b.add("piece", "tensor.Index", {"items": items}, [x])[0], rank))
            start += size  # a piece is made only if forward reads it
        return tuple(pieces)
    return convert


FUNCTIONS = {
    "getitem": _getitem, "getattr": _getattr,
    "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"), "truediv": _binary("div"), "div": _binary("div"),
    "pow": _binary("pow"), "maximum": _binary("maximum"), "minimum": _binary("minimum"), "neg": _unary("neg"),
    "exp": _unary("exp"), "log": _unary("log"), "sqrt": _unary("sqrt"), "abs": _unary("abs"),
    "cat": _cat(False), "concat": _cat(False), "concatenate": _cat(False), "stack": _cat(True),
    "permute": _permute, "transpose": _transpose, "reshape": _reshape, "flatten": _flatten,
    "squeeze": _squeeze, "unsqueeze": _unsqueeze, "matmul": _matmul, "bmm": _matmul, "tile": _repeat(True),
    "mean": _reduce("mean"), "sum": _reduce("sum"), "amax": _reduce("max"), "amin": _reduce("min"),
    "max": _reduce("max", True), "min": _reduce("min", True), "argmax": _argmax("max"), "argmin": _argmax("min"),
    "pad": _pad, "split": _chunk(True), "chunk": _chunk(False), "softmax": _softmax(False), "log_softmax": _softmax(True),
    **tf.FUNCTIONS,  # torch.nn.functional's layers and activations (torch.relu, torch.tanh ... too)
}

METHODS = {
    "size": _size, "view": _reshape, "reshape": _reshape, "permute": _permute, "transpose": _transpose,
    "flatten": _flatten, "squeeze": _squeeze, "unsqueeze": _unsqueeze, "contiguous": _identity, "clone": _identity,
    "detach": _identity, "float": _to_float, "to": _to_float, "repeat": _repeat(False), "tile": _repeat(True),
    "expand": _expand, "expand_as": _expand_as,
    "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"), "div": _binary("div"), "pow": _binary("pow"),
    "neg": _unary("neg"), "exp": _unary("exp"), "log": _unary("log"), "sqrt": _unary("sqrt"), "abs": _unary("abs"),
    "mean": _reduce("mean"), "sum": _reduce("sum"), "amax": _reduce("max"), "amin": _reduce("min"),
    "max": _reduce("max", True), "min": _reduce("min", True), "argmax": _argmax("max"), "argmin": _argmax("min"),
    "matmul": _matmul, "split": _chunk(True), "chunk": _chunk(False),
    "softmax": _softmax(False), "log_softmax": _softmax(True),
    **{name: tf.FUNCTIONS[name] for name in ("relu", "tanh", "sigmoid")},
}


# -- entry point --------------------------------------------------------------------------------

def from_torch_module(module, example_input, tolerance: float = 1e-4) -> ModelSpec:
    """Trace `module` on `example_input` (a tensor, or a tuple of tensors for several inputs),
    convert it, and check the conversion reproduces the module's output on that input."""
    try:
        import torch
        import torch.fx
        from torch.fx.passes.shape_prop import ShapeProp
    except ImportError:
        raise NpinferError("from_torch needs PyTorch installed where you convert (not where you predict)") from None
    if not isinstance(module, torch.nn.Module):
        raise NpinferError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    examples = list(example_input) if isinstance(example_input, (tuple, list)) else [example_input]
    if not all(isinstance(t, torch.Tensor) for t in _flatten_torch(examples)):
        raise NpinferError("example_input must be a tensor, or a tuple of tensors (and tuples of tensors) in forward's order")
    training = module.training
    module.eval()
    try:
        graph_module = _trace(module, len(examples))
        with torch.no_grad():
            ShapeProp(graph_module).propagate(*examples)
            expected = module(*examples)
        varied = _propagate_varied(graph_module, examples)
        with torch.no_grad():
            ShapeProp(graph_module).propagate(*examples)
        meta = _shapes(graph_module)
        converter = Converter(graph_module, examples, meta, varied)
        inputs, outputs = converter.run()
    finally:
        module.train(training)
    version = torch.__version__
    spec = ModelSpec(type(module).__name__, converter.b.layers, inputs, outputs,
                     source={"framework": "pytorch", "version": str(version), "format": "in-memory"})
    _check(spec, examples, expected, tolerance)
    return spec


def _shapes(graph_module) -> dict:
    return {n.name: tuple(n.meta["tensor_meta"].shape) for n in graph_module.graph.nodes if hasattr(n.meta.get("tensor_meta"), "shape")}


def _propagate_varied(graph_module, examples: list) -> dict:
    """Node shapes with every input one longer on its free axes (batch, and time for sequence
    inputs), or failing that on the batch axis only: the sizes that change are the free ones.
    Under the key "" : {input name: the axes that could change}."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    probe = Converter(graph_module, examples, {}, {})
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    for batch_only in (False, True):
        used: dict[str, list] = {}

        def longer(node, example):
            if isinstance(example, (tuple, list)):
                return type(example)(longer(node, e) for e in example)
            batch, free = probe.axes_of_input(node, example.dim())
            used[node.name] = [batch] if batch_only else free
            shape = [d + 1 if i in used[node.name] else d for i, d in enumerate(example.shape)]
            return torch.zeros(shape, dtype=example.dtype)

        try:
            varied = [longer(n, e) for n, e in zip(placeholders, examples)]
            with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # ShapeProp prints what it raises
                ShapeProp(graph_module).propagate(*varied)
        except Exception:  # a size the module fixes (a view to a constant length, ...)
            continue
        return {**_shapes(graph_module), "": used}
    return {"": {n.name: [] for n in placeholders}}


def _is_leaf(m) -> bool:
    import torch

    return not isinstance(m, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)) and type(m).__module__.startswith("torch.nn")


def _trace(module, inputs: int):
    import torch
    import torch.fx

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return _is_leaf(m) or super().is_leaf_module(m, qualname)

    if _is_leaf(module):  # a bare nn.LSTM, nn.Linear ...: trace a one-line forward around it
        module = _Call(module, inputs)
    try:
        graph = Tracer().trace(module)
    except Exception as err:  # torch.fx raises many types for untraceable Python (control flow on values, ...)
        raise UnsupportedLayerError(f"{type(module).__name__}.forward cannot be traced with torch.fx "
                                    f"({type(err).__name__}: {err}); npinfer converts forwards without "
                                    "data-dependent Python control flow") from None
    return torch.fx.GraphModule(module, graph)


def _check(spec: ModelSpec, examples: list, expected, tolerance: float) -> None:
    """The converted model must give the module's outputs on the example input."""
    from ..model import Model

    model = Model(spec)
    arrays = [e.detach().cpu().numpy() for e in _flatten_torch(examples)]
    got = model.predict(arrays if len(arrays) > 1 else arrays[0])
    got = got if isinstance(got, list) else [got]
    wanted = [t.detach().cpu().numpy() for t in _flatten_torch(expected)]
    if len(got) != len(wanted):
        raise NpinferError(f"conversion check: the module returns {len(wanted)} tensors, the converted model {len(got)}")
    for i, (a, b) in enumerate(zip(got, wanted)):
        if a.shape != b.shape:
            raise NpinferError(f"conversion check: output {i} has shape {a.shape}, the module gives {b.shape}")
        worst = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)) / np.maximum(1.0, np.abs(b)))) if a.size else 0.0
        if not worst <= tolerance:
            raise NpinferError(f"conversion check: output {i} differs from the module's by {worst:.3g} (> {tolerance}) "
                               "on the example input; please report this model")


def _flatten_torch(value) -> list:
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten_torch(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _flatten_torch(item)]
    return [value]


def _Call(module, inputs: int):
    """A module whose forward(x) or forward(x, state) calls `module` (torch.fx traces a user
    forward, not a torch.nn module's own)."""
    import torch

    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, x):
            return self.inner(x)

    class Two(One):
        def forward(self, x, state):
            return self.inner(x, state)

    if inputs not in (1, 2):
        raise NpinferError(f"{type(module).__name__} takes one or two inputs, example_input gives {inputs}")
    return One() if inputs == 1 else Two()
