"""An ONNX graph -> ModelSpec, node by node, with NumPy only (the file is read by onnx_proto.py).

Each ONNX value becomes one of:
- a run-time tensor (a layer output, with its shape as npinfer infers it),
- a constant (initializers, Constant nodes, and anything computed only from constants: folded
  here, once),
- a list of sizes: the Shape of a tensor and what Gather / Slice / Concat / Unsqueeze / Cast and
  integer arithmetic make of it, each entry a number or "axis k of tensor t". Reshape,
  ConstantOfShape, Expand and Slice read such lists, which is how exporters write "the batch
  size of the input" without npinfer computing integers at run time.
Operators become npinfer layers (tensor.* operations, Dense, Conv1D, the normalizations, and
onnx.LSTM / onnx.GRU / onnx.RNN). An operator or attribute npinfer does not implement is
refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelFormatError, NpinferError, UnsupportedLayerError, UnsupportedOptionError
from ..layers import create_layer
from ..layers.tensor_ops import _REDUCE, MAX_SIZE, arg_reduce
from ..limits import WeightBudget, current
from ..spec import Call, LayerSpec, ModelSpec
from .onnx_loop import LOOP_OPERATORS
from .onnx_proto import Graph, ModelProto, Node, all_nodes
from .onnx_recurrent import convert_recurrent
from .toolkit.naming import UniqueNames, clean
from .toolkit.values import DimRef, Sizes, Tensor, all_constant, as_sizes, fold, text


class Converter:
    """Walks the graph in order, keeping the value of every ONNX name."""

    def __init__(self, model: ModelProto, path: str, limits=None):
        self.model = model
        self.path = path
        self.limits = current(limits)
        self.budget = WeightBudget(self.limits, path)  # constants folded while loading, counted before they are made
        self.evaluated = 0  # nodes converted so far, Loop bodies once per pass (bounded: max_evaluated_nodes)
        self.opset = model.opsets.get("ai.onnx", 1)
        self.layers: list[LayerSpec] = []
        self.names = UniqueNames()
        self.values: dict[str, Any] = {}
        self.integers: set[tuple] = set()  # refs of the tensors that hold integers (int64)
        self.node: Node | None = None
        self.suffix = ""  # "_t3" while converting the fourth pass of an unrolled Loop body

    # -- building --------------------------------------------------------------------------

    def add(self, class_name: str, config: dict, inputs: list[Tensor], weights: dict | None = None,
            kwargs: dict | None = None, base: str | None = None) -> list[Tensor]:
        """Add a layer called once; returns its outputs with their inferred shapes."""
        stem = (clean(_label(self.node)) if self.node else "layer") + self.suffix
        name = self.names.unique(stem if base is None else f"{stem}_{base}")
        weights = {k: np.asarray(v, np.float32, order="C") for k, v in (weights or {}).items()}  # 0-d stays 0-d
        kwargs = kwargs or {}
        spec = LayerSpec(name, class_name, config, weights,
                         [Call([t.ref for t in inputs], {k: [t.ref for t in v] for k, v in kwargs.items()})])
        layer = create_layer(name, class_name, config, weights, np.float32)
        shapes = layer.setup([t.shape for t in inputs], {k: [t.shape for t in v] for k, v in kwargs.items()}, {})
        integer_inputs = [t.ref in self.integers for t in inputs]
        read = [t for t in inputs + [t for v in kwargs.values() for t in v] if t.ref in self.integers]
        if read and not layer.ACCEPTS_INTEGERS:  # the graph would cast them to floats: a silent type change
            raise self.refuse(f"it computes on integer values (from '{read[0].ref[0]}'), and npinfer computes "
                              f"{class_name} in floats only; ONNX integer arithmetic is not supported yet")
        self.layers.append(spec)
        outputs = [Tensor((name, 0, i), tuple(s)) for i, s in enumerate(shapes)]
        for tensor, integer in zip(outputs, layer.integer_outputs(integer_inputs)):
            if integer:
                self.integers.add(tensor.ref)
        return outputs

    def one(self, class_name: str, config: dict, inputs: list[Tensor], weights: dict | None = None, base=None) -> Tensor:
        return self.add(class_name, config, inputs, weights, base=base)[0]

    def refuse(self, what: str) -> UnsupportedOptionError:
        node = self.node
        return UnsupportedOptionError(f"ONNX {node.op_type} node '{_label(node)}': {what}")

    def tensor(self, value, what: str = "this input") -> Tensor:
        if isinstance(value, Tensor):
            return value
        kind = "a constant" if isinstance(value, np.ndarray) else "a list of sizes" if isinstance(value, Sizes) else "missing"
        raise self.refuse(f"{what} is {kind}; npinfer needs a tensor computed from the model inputs there")

    def constant(self, value, what: str) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        sizes = as_sizes(value)
        if sizes is not None and sizes.constant() is not None:
            return sizes.constant()
        raise self.refuse(f"{what} must be a constant (it is computed at run time here)")

    # -- the graph ---------------------------------------------------------------------------

    def run(self) -> tuple[list, list]:
        graph: Graph = self.model.graph
        for name, tensor in graph.initializers.items():
            self.values[name] = tensor.array
        inputs = []
        for info in graph.inputs:
            if info.name in graph.initializers:
                continue  # old exporters list initializers as inputs too
            inputs.append(self.input_layer(info, graph))
        unknown = sorted({f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
                          for n in all_nodes(graph) if n.op_type not in OPERATORS or n.domain not in ("", "ai.onnx")})
        if unknown:
            raise UnsupportedLayerError(f"ONNX operator(s) {', '.join(unknown)} are not supported by npinfer; supported: "
                                        f"{', '.join(sorted(OPERATORS))} (default ONNX domain)")
        self.run_nodes(graph.nodes)
        outputs = []
        for info in graph.outputs:
            if info.name not in self.values:
                raise ModelFormatError(f"ONNX output '{info.name}' is made by no node", self.path)
            value = self.values[info.name]
            if not isinstance(value, Tensor):
                raise UnsupportedOptionError(f"ONNX output '{info.name}' is a constant; npinfer models compute their outputs")
            computed = 7 if value.ref in self.integers else 1  # layers give float32, or int64 for indices
            if info.elem_type is not None and info.elem_type != computed:
                raise UnsupportedOptionError(
                    f"ONNX output '{info.name}' is declared element type {info.elem_type}; the layer tier would give "
                    f"{'int64' if computed == 7 else 'float'} (it computes in float32 with int64 indices)")
            outputs.append(value.ref)
        return inputs, outputs

    def admit(self, shape, dtype, what: str = "makes a constant") -> None:
        """Count a constant this node is about to make against the load budget (before allocating it)."""
        node = f"ONNX node '{_label(self.node)}' ({self.node.op_type})" if self.node is not None else "the graph"
        shape = tuple(int(d) for d in shape)
        self.budget.admit(shape, np.dtype(dtype).itemsize, f"{node} {what} of shape {shape}")

    def run_nodes(self, nodes: list[Node]) -> None:
        """Convert `nodes` in order, storing each output's value in self.values."""
        outer = self.node
        for node in nodes:
            self.node = node
            self.evaluated += 1
            if self.evaluated > self.limits.max_evaluated_nodes:
                raise ModelFormatError(
                    f"converting this graph evaluates more than {self.limits.max_evaluated_nodes:,} nodes (a Loop unrolled "
                    f"{self.suffix.rsplit('_t', 1)[-1] or 'many'} times?), over the limit (Limits.max_evaluated_nodes)",
                    self.path)
            missing = [i for i in node.inputs if i and i not in self.values]
            if missing:
                if any(missing[0] in later.outputs for later in nodes):  # valid, but not in the order ONNX asks for
                    raise UnsupportedOptionError(f"ONNX node '{_label(node)}' reads '{missing[0]}' before the node that "
                                                 "makes it: the layer tier reads nodes in file order")
                raise ModelFormatError(f"ONNX node '{_label(node)}' reads '{missing[0]}', which no node makes", self.path)
            args = [self.values[i] if i else None for i in node.inputs]
            try:
                results = OPERATORS[node.op_type](self, args, node.attributes)
            except NpinferError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, MemoryError) as err:
                # inputs or attributes of the wrong kind, count or size for this operator
                raise ModelFormatError(f"ONNX node '{_label(node)}' ({node.op_type}) is malformed "
                                       f"({type(err).__name__}: {err})", self.path) from None
            for name, value in zip(node.outputs, results):
                if name:
                    self.values[name] = value
        self.node = outer

    def input_layer(self, info, graph: Graph) -> tuple:
        if info.shape is None:
            raise UnsupportedOptionError(f"ONNX input '{info.name}' has no shape; npinfer needs at least its rank")
        if info.elem_type not in (1, 6, 7):
            names = {10: "float16", 11: "double (float64)", 9: "bool", 2: "uint8", 3: "int8", 5: "int16"}
            kind = names.get(info.elem_type, f"element type {info.elem_type}")
            raise UnsupportedOptionError(
                f"ONNX input '{info.name}' is {kind}; npinfer computes ONNX graphs in float32 with int32 / int64 "
                "indices, and refuses other types rather than convert them (supported: float, int32, int64)")
        shape = [d if isinstance(d, int) and d >= 0 else None for d in info.shape]
        if len(shape) < 1:
            raise UnsupportedOptionError(f"ONNX input '{info.name}' is a scalar; npinfer needs inputs of rank 1 or more")
        dtype = "int64" if info.elem_type in (6, 7) else "float32"
        name = self.names.unique(clean(info.name))  # users keep the file's own name (ModelSpec.input_names); 'a:b' and 'a_b' clean to one
        config = {"shape": shape, "dtype": dtype, "batch_axis": _batch_axis(info.name, graph)}
        self.layers.append(LayerSpec(name, "InputLayer", config))
        layer = create_layer(name, "InputLayer", config, {}, np.float32)
        built = layer.setup([])
        ref = (name, 0, 0)
        self.values[info.name] = Tensor(ref, tuple(built[0]))
        if dtype == "int64":
            self.integers.add(ref)
        return ref


def _label(node: Node) -> str:
    """How messages name a node: its name, else its first output, else its operator."""
    return node.name or next((o for o in node.outputs if o), "") or node.op_type


def _batch_axis(name: str, graph: Graph) -> int | None:
    """The batch axis of a graph input: where a recurrent operator reads it (directly or through
    one Transpose) says; else axis 0 when it is the input's only free size (a fixed-length
    window, as tf2onnx's Loop graphs take); None otherwise (the batch is then never split)."""
    axis = _recurrent_batch_axis(name, graph)
    if axis is not None:
        return axis
    info = next(i for i in graph.inputs if i.name == name)
    free = [k for k, d in enumerate(info.shape or []) if not (isinstance(d, int) and d >= 0)]
    return 0 if free == [0] else None


def _recurrent_batch_axis(name: str, graph: Graph) -> int | None:
    for node in graph.nodes:
        if node.op_type in ("LSTM", "GRU", "RNN") and name in node.inputs[4:7]:  # sequence_lens, initial_h, initial_c
            first = node.attributes.get("layout", 0) == 1
            return 0 if node.inputs.index(name) == 4 or first else 1
        if not node.inputs or node.inputs[0] != name:
            continue
        if node.op_type in ("LSTM", "GRU", "RNN"):
            return 0 if node.attributes.get("layout", 0) == 1 else 1
        if node.op_type == "Transpose":
            perm = node.attributes.get("perm")
            for reader in graph.nodes:
                if reader.op_type in ("LSTM", "GRU", "RNN") and reader.inputs and node.outputs and reader.inputs[0] == node.outputs[0] \
                        and isinstance(perm, list) and len(perm) == 3:
                    return perm[0] if reader.attributes.get("layout", 0) == 1 else perm[1]
    return None


# -- attribute helpers ---------------------------------------------------------------------------

def _axes_input(c: Converter, args, attrs, position: int) -> list[int] | None:
    """Axes given as an attribute (older opsets) or as input `position` (newer)."""
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(args) > position and args[position] is not None:
        return [int(a) for a in np.ravel(c.constant(args[position], "axes"))]
    return None


# -- constants and sizes --------------------------------------------------------------------------

def op_constant(c, args, attrs):
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if key in attrs:
            value = attrs[key]
            if key == "value":
                return [value.array]
            return [np.array(value, np.float32 if "float" in key else np.int64)]
    raise c.refuse(f"a Constant holding {sorted(attrs)} is not supported (numbers only)")


def op_shape(c, args, attrs):
    x = args[0]
    if isinstance(x, np.ndarray):
        return [np.array(x.shape, np.int64)]
    x = c.tensor(x, "the input of Shape")
    entries = tuple(d if d is not None else DimRef(x, i) for i, d in enumerate(x.shape))
    start, end = attrs.get("start", 0), attrs.get("end", len(entries))
    return [Sizes(entries[slice(start, end)])]


def op_constant_of_shape(c, args, attrs):
    value = attrs.get("value")
    fill = value.array.ravel()[0] if value is not None else np.float32(0)
    shape = as_sizes(args[0])
    if shape is None:
        raise c.refuse("the shape must be a constant or come from Shape")
    if shape.constant() is not None:
        c.admit(np.ravel(shape.constant()), np.asarray(fill).dtype)
        return [np.full(shape.constant(), fill)]
    entries, inputs = _reshape_entries(shape.entries, [])
    if not inputs:
        raise c.refuse("a shape with no known tensor size")
    return [c.one("tensor.Full", {"shape": entries, "value": float(fill)}, inputs)]


def _reshape_entries(entries, inputs: list[Tensor]):
    """tensor.Reshape entries (sizes, or {"dim": [k, axis]} of inputs[k]) for a Sizes list."""
    out = []
    for e in entries:
        if isinstance(e, DimRef):
            if e.tensor not in inputs:
                inputs.append(e.tensor)
            out.append({"dim": [inputs.index(e.tensor), e.axis]})
        else:
            out.append(int(e))
    return out, inputs


# -- element-wise ---------------------------------------------------------------------------------

_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Max": np.maximum, "Min": np.minimum}
_BINARY_OPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "maximum", "Min": "minimum"}


def _divide(a, b):
    from ..ops.elementwise import divide

    return divide(a, b)  # integers truncate toward zero (ONNX Div)


def _binary(op_type):
    def convert(c, args, attrs):
        if len(args) != 2 and op_type not in ("Max", "Min"):
            raise c.refuse(f"{len(args)} inputs")
        if op_type in ("Max", "Min") and len(args) != 2:
            raise c.refuse("Max / Min of more than two inputs is not supported")
        if all_constant(args):
            function = _divide if op_type == "Div" else _NUMPY_BINARY[op_type]
            result = fold(c, function, args, op_type)
            both_sizes = any(isinstance(a, Sizes) for a in args)
            return [as_sizes(result) if both_sizes and as_sizes(result) is not None else result]
        a, b = args
        if isinstance(a, Sizes) or isinstance(b, Sizes):
            raise c.refuse("arithmetic on run-time sizes is not supported")
        if op_type == "Pow" and isinstance(b, Tensor) and b.ref in c.integers and not (isinstance(a, Tensor) and a.ref in c.integers):
            b = c.one("tensor.Cast", {"to": "float"}, [b], base="exponent")  # ONNX: a float base's type decides
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return [c.one("tensor.Binary", {"op": _BINARY_OPS[op_type]}, [a, b])]
        swap = not isinstance(a, Tensor)
        tensor, constant = (b, a) if swap else (a, b)
        return [c.one("tensor.Binary", {"op": _BINARY_OPS[op_type], "operand": True, "swap": swap}, [tensor],
                      {"operand": np.asarray(constant, np.float32)})]
    return convert


_UNARY = {"Neg": "neg", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Reciprocal": "reciprocal",
          "Sin": "sin", "Cos": "cos", "Erf": "erf"}


def _unary(op_type):
    def convert(c, args, attrs):
        if isinstance(args[0], np.ndarray):
            from ..layers.tensor_ops import _UNARY as functions

            return [functions[_UNARY[op_type]](args[0])]
        return [c.one("tensor.Unary", {"op": _UNARY[op_type]}, [c.tensor(args[0])])]
    return convert


def _activation(name, params=None):
    def convert(c, args, attrs):
        spec = {"name": name, **(params(c, attrs) if params else {})}
        return [c.one("Activation", {"activation": spec}, [c.tensor(args[0])])]
    return convert


def _elu_params(c, attrs):
    return {"alpha": float(attrs.get("alpha", 1.0))}


def _leaky_params(c, attrs):
    return {"negative_slope": float(attrs.get("alpha", 0.01))}


def _hard_sigmoid_params(c, attrs):
    if abs(attrs.get("beta", 0.5) - 0.5) > 1e-7:
        raise c.refuse(f"beta={attrs['beta']} is not supported; supported: 0.5")
    return {"slope": float(attrs.get("alpha", 0.2))}


def _selu_params(c, attrs):
    if abs(attrs.get("alpha", 1.67326319217681884765625) - 1.6732632) > 1e-6 or abs(attrs.get("gamma", 1.05070102214813232421875) - 1.0507010) > 1e-6:
        raise c.refuse("alpha and gamma other than the defaults are not supported")
    return {}


def _gelu_params(c, attrs):
    approximate = text(attrs.get("approximate"), "none")
    if approximate not in ("none", "tanh"):
        raise c.refuse(f"approximate={approximate!r} is not supported")
    return {"approximate": approximate == "tanh"}


def op_identity(c, args, attrs):
    return [args[0]]


def op_dropout(c, args, attrs):
    return [args[0], None]  # inference: no dropout; the mask output is not computed


def op_cast(c, args, attrs):
    to = attrs.get("to")
    x = args[0]
    if isinstance(x, (Sizes, Uniform)):
        return [x]
    if isinstance(x, np.ndarray):
        from .onnx_proto import DTYPES

        if to not in DTYPES:
            raise c.refuse(f"cast to type {to} is not supported")
        return [x.astype(DTYPES[to])]
    x = c.tensor(x)
    if to == 1:
        return [c.one("tensor.Cast", {"to": "float"}, [x])]
    if to in (6, 7):
        return [c.one("tensor.Cast", {"to": "int64"}, [x])]
    names = {10: "float16", 11: "double", 9: "bool"}
    raise c.refuse(f"a cast of a computed tensor to {names.get(to, f'type {to}')} is not supported (npinfer computes "
                   "ONNX graphs in float32 and would not round or widen it as ONNX does); supported: float, int32, int64")


def op_clip(c, args, attrs):
    x = c.tensor(args[0])
    low = attrs.get("min") if "min" in attrs else (float(c.constant(args[1], "min")) if len(args) > 1 and args[1] is not None else None)
    high = attrs.get("max") if "max" in attrs else (float(c.constant(args[2], "max")) if len(args) > 2 and args[2] is not None else None)
    if low is not None:
        x = c.one("tensor.Binary", {"op": "maximum", "scalar": float(low)}, [x], base="min")
    if high is not None:
        x = c.one("tensor.Binary", {"op": "minimum", "scalar": float(high)}, [x], base="max")
    return [x]


def _softmax(log):
    def convert(c, args, attrs):
        x = c.tensor(args[0])
        rank = len(x.shape)
        if c.opset < 13:  # the input is seen as 2-D: everything from `axis` on is one row
            axis = attrs.get("axis", 1) % rank
            axes: Any = list(range(axis, rank))
        else:
            axes = attrs.get("axis", -1)
        return [c.one("tensor.Softmax", {"axis": axes, "log": log}, [x])]
    return convert


# -- shape operators ---------------------------------------------------------------------------

def op_transpose(c, args, attrs):
    if isinstance(args[0], np.ndarray):
        return [np.transpose(args[0], attrs.get("perm"))]
    x = c.tensor(args[0])
    perm = attrs.get("perm") or list(range(len(x.shape)))[::-1]
    return [c.one("tensor.Transpose", {"perm": [int(p) for p in perm]}, [x])]


def op_reshape(c, args, attrs):
    data, shape = args[0], as_sizes(args[1])
    if shape is None:
        raise c.refuse("the target shape must be a constant or come from Shape")
    if attrs.get("allowzero", 0) and 0 in shape.entries:
        raise c.refuse("allowzero=1 with a zero size is not supported")
    if isinstance(data, np.ndarray) and shape.constant() is not None:
        target = [data.shape[i] if v == 0 else v for i, v in enumerate(shape.constant().tolist())]
        return [data.reshape(target)]
    if isinstance(data, Sizes) and shape.constant() is not None:
        return [Sizes(data.entries, scalar=shape.constant().size == 0) if shape.constant().size <= 1 else data]
    x = c.tensor(data)
    # ONNX: 0 copies the input's size on that axis
    entries = [DimRef(x, i) if (isinstance(e, (int, np.integer)) and e == 0) else e for i, e in enumerate(shape.entries)]
    entries = [x.shape[e.axis] if isinstance(e, DimRef) and e.tensor == x and x.shape[e.axis] is not None else e for e in entries]
    config, inputs = _reshape_entries(entries, [x])
    return [c.one("tensor.Reshape", {"shape": config}, inputs)]


def op_flatten(c, args, attrs):
    x = c.tensor(args[0])
    rank = len(x.shape)
    axis = attrs.get("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        x = c.one("tensor.Flatten", {"start": 0, "end": -1}, [x])
        return [c.one("tensor.Unsqueeze", {"axes": [0]}, [x], base="outer")]
    if axis > 1:
        x = c.one("tensor.Flatten", {"start": 0, "end": axis - 1}, [x], base="outer")
    if axis < rank:
        x = c.one("tensor.Flatten", {"start": 1, "end": -1}, [x])
    else:
        x = c.one("tensor.Unsqueeze", {"axes": [1]}, [x])
    return [x]


def op_squeeze(c, args, attrs):
    axes = _axes_input(c, args, attrs, 1)
    x = args[0]
    if isinstance(x, np.ndarray):
        return [np.squeeze(x, axis=tuple(axes) if axes is not None else None)]
    if isinstance(x, Sizes):
        return [Sizes(x.entries, scalar=True) if len(x.entries) == 1 else x]
    x = c.tensor(x)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
        if any(d is None for d in x.shape):
            raise c.refuse("Squeeze without axes on a tensor with unknown sizes is not supported")
    return [c.one("tensor.Squeeze", {"axes": axes}, [x])]


def op_unsqueeze(c, args, attrs):
    axes = _axes_input(c, args, attrs, 1)
    x = args[0]
    if axes is None:
        raise c.refuse("Unsqueeze needs axes")
    if isinstance(x, np.ndarray):
        return [np.expand_dims(x, tuple(axes))]
    if isinstance(x, Sizes):
        if x.scalar and axes in ([0], [-1]):
            return [Sizes(x.entries)]
        raise c.refuse("Unsqueeze of a list of sizes is only supported from a scalar")
    return [c.one("tensor.Unsqueeze", {"axes": axes}, [c.tensor(x)])]


def op_concat(c, args, attrs):
    axis = attrs.get("axis")
    if axis is None:
        raise c.refuse("Concat needs axis")
    present = [a for a in args if a is not None]
    if all(isinstance(a, np.ndarray) for a in present):
        return [np.concatenate(present, axis=axis)]
    if all(as_sizes(a) is not None for a in present):  # size lists
        return [Sizes(tuple(e for a in present for e in as_sizes(a).entries))]
    tensors = [a for a in present if not (isinstance(a, np.ndarray) and a.size == 0)]
    return [c.one("tensor.Concat", {"axis": axis}, [c.tensor(t, "each input of Concat") for t in tensors])]


def op_gather(c, args, attrs):
    data, indices = args
    axis = attrs.get("axis", 0)
    if isinstance(data, np.ndarray) and isinstance(indices, np.ndarray):
        return [np.take(data, indices, axis=axis)]
    if isinstance(data, Sizes):
        picked = c.constant(indices, "the indices of Gather")
        entries = [data.entries[int(i)] for i in np.ravel(picked)]
        return [Sizes(tuple(entries), scalar=picked.ndim == 0)]
    if isinstance(data, np.ndarray) and isinstance(indices, Tensor):  # an embedding table
        if axis != 0 or data.ndim != 2:
            raise c.refuse("Gather from a constant is supported as an embedding lookup (2-D table, axis 0)")
        return [c.one("Embedding", {"input_dim": int(data.shape[0]), "output_dim": int(data.shape[1])}, [indices],
                      {"embeddings": data})]
    x = c.tensor(data, "the data of Gather")
    picked = c.constant(indices, "the indices of Gather")
    if picked.ndim == 0:
        rank = len(x.shape)
        items = [{"slice": [None, None, None]}] * (axis % rank) + [{"index": int(picked)}]
        return [c.one("tensor.Index", {"items": items}, [x])]
    if picked.ndim == 1:
        return [c.one("tensor.Take", {"indices": [int(i) for i in picked], "axis": axis}, [x])]
    raise c.refuse("Gather with multi-dimensional indices is not supported")


def op_slice(c, args, attrs):
    data = args[0]
    if c.opset < 10:
        starts, ends, axes, steps = attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None
    else:
        starts = c.constant(args[1], "starts").tolist()
        ends = c.constant(args[2], "ends").tolist()
        axes = c.constant(args[3], "axes").tolist() if len(args) > 3 and args[3] is not None else None
        steps = c.constant(args[4], "steps").tolist() if len(args) > 4 and args[4] is not None else None
    rank = len(data.shape) if isinstance(data, (Tensor, np.ndarray)) else 1
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    key = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        clamp = lambda v: max(min(int(v), MAX_SIZE), -MAX_SIZE)  # noqa: E731  (INT64 max / min mean "to the end")
        key[axis % rank] = slice(clamp(start), clamp(end), int(step))
    if isinstance(data, np.ndarray):
        return [data[tuple(key)]]
    if isinstance(data, Sizes):
        return [Sizes(tuple(data.entries[key[0]]))]
    items = [{"slice": [k.start, k.stop, k.step]} for k in key]
    return [c.one("tensor.Index", {"items": items}, [c.tensor(data)])]


@dataclass(frozen=True)
class Uniform:
    """A tensor filled with one size (Expand of a size over a shape): tf2onnx's sequence lengths."""

    entry: Any
    shape: Sizes


def op_expand(c, args, attrs):
    data, shape = args
    shape = as_sizes(shape)
    if shape is None:
        raise c.refuse("the shape must be a constant or come from Shape")
    if isinstance(data, Sizes) and len(data.entries) == 1:
        return [Uniform(data.entries[0], shape)]
    if isinstance(data, np.ndarray) and shape.constant() is not None:
        c.admit(np.broadcast_shapes(data.shape, tuple(int(d) for d in np.ravel(shape.constant()))), data.dtype)
        return [data * np.ones(shape.constant(), data.dtype)]
    if isinstance(data, np.ndarray) and data.size and np.all(data == data.ravel()[0]):
        entries, inputs = _reshape_entries(shape.entries, [])
        if inputs and len(entries) >= data.ndim:
            return [c.one("tensor.Full", {"shape": entries, "value": float(data.ravel()[0])}, inputs)]
    x = c.tensor(data, "the data of Expand")
    entries, inputs = _reshape_entries(shape.entries, [])
    if not inputs:
        c.admit(np.ravel(shape.constant()), np.float32)
        ones = np.ones(shape.constant(), np.float32)
        return [c.one("tensor.Binary", {"op": "mul", "operand": True}, [x], {"operand": ones})]
    ones = c.one("tensor.Full", {"shape": entries, "value": 1.0}, inputs, base="ones")
    return [c.one("tensor.Binary", {"op": "mul"}, [x, ones])]


def op_pad(c, args, attrs):
    mode = text(attrs.get("mode"), "constant")
    if mode != "constant":
        raise c.refuse(f"mode={mode!r} is not supported; supported: 'constant'")
    x = c.tensor(args[0])
    pads = attrs.get("pads") if c.opset < 11 else c.constant(args[1], "pads").tolist()
    value = attrs.get("value", 0.0) if c.opset < 11 else (float(c.constant(args[2], "constant_value")) if len(args) > 2 and args[2] is not None else 0.0)
    if len(args) > 3 and args[3] is not None:
        raise c.refuse("pads on chosen axes (the axes input) are not supported")
    rank = len(x.shape)
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise c.refuse(f"pads={pads} is not supported (non-negative, two per axis)")
    return [c.one("tensor.Pad", {"pads": [[int(pads[i]), int(pads[i + rank])] for i in range(rank)], "value": float(value)}, [x])]


def _reduce(op):
    def convert(c, args, attrs):
        x = args[0]
        axes = _axes_input(c, args, attrs, 1)
        keepdims = bool(attrs.get("keepdims", 1))
        if axes is None and attrs.get("noop_with_empty_axes", 0):
            return [x]
        if isinstance(x, np.ndarray):
            return [np.asarray(_REDUCE[op](x, axis=tuple(axes) if axes is not None else None, keepdims=keepdims))]
        return [c.one("tensor.Reduce", {"op": op, "axes": axes, "keepdims": keepdims}, [c.tensor(x)])]
    return convert


def _arg_reduce(op):
    def convert(c, args, attrs):
        x = args[0]
        config = {"op": op, "axis": int(attrs.get("axis", 0)), "keepdims": bool(attrs.get("keepdims", 1)),
                  "last": bool(attrs.get("select_last_index", 0))}
        if isinstance(x, np.ndarray):
            return [arg_reduce(x, config["op"], config["axis"], config["keepdims"], config["last"])]
        return [c.one("tensor.ArgReduce", config, [c.tensor(x)])]
    return convert


# -- layers ---------------------------------------------------------------------------------------

def op_matmul(c, args, attrs):
    a, b = args
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim >= 1 and b.ndim >= 1:
            rows = a.shape[:-1] if a.ndim > 1 else ()
            c.admit(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + rows + b.shape[-1:] * (b.ndim > 1), np.result_type(a, b))
        return [np.matmul(a, b)]
    if isinstance(b, np.ndarray):
        return [c.one("tensor.MatMul", {"operand": True}, [c.tensor(a)], {"operand": b})]
    return [c.one("tensor.MatMul", {}, [c.tensor(a), c.tensor(b)])]


def op_gemm(c, args, attrs):
    a, b = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    x = c.tensor(a, "A of Gemm")
    if attrs.get("transA", 0):
        x = c.one("tensor.Transpose", {"perm": [1, 0]}, [x], base="a_t")
    if not isinstance(b, np.ndarray):
        raise c.refuse("B must be a constant (a weight)")
    kernel = b.T if attrs.get("transB", 0) else b  # (in, out)
    kernel = kernel * np.float32(alpha) if alpha != 1.0 else kernel
    weights = {"kernel": kernel}
    if bias is not None:
        c_value = c.constant(bias, "C of Gemm") * np.float32(beta)
        if c_value.size not in (1, kernel.shape[1]) or c_value.ndim > 2 or (c_value.ndim == 2 and c_value.shape[0] != 1):
            raise c.refuse("C must broadcast along the rows (shape (N,), (1, N) or a scalar)")
        weights["bias"] = np.broadcast_to(c_value.reshape(-1), (kernel.shape[1],)).copy()
    return [c.one("Dense", {"units": int(kernel.shape[1]), "use_bias": bias is not None}, [x], weights)]


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


def _padded(c, x: Tensor, pads, fill=0.0) -> Tensor:
    """x (batch, channels, *spatial) with (before, after) pads per spatial axis."""
    if not pads or not any(b or a for b, a in pads):
        return x
    return c.one("tensor.Pad", {"pads": [[0, 0], [0, 0]] + [list(p) for p in pads], "value": fill}, [x], base="pad")


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
    weights = {"kernel": np.ascontiguousarray(w.transpose(*range(2, w.ndim), 1, 0))}  # (*k, in/groups, out)
    if bias is not None:
        weights["bias"] = bias
    config = {"filters": int(w.shape[0]), "kernel_size": kernel, "strides": strides, "dilation_rate": dilations,
              "groups": int(attrs.get("group", 1)), "padding": padding, "data_format": "channels_first", "use_bias": bias is not None}
    return [c.one(f"Conv{len(kernel)}D", config, [_padded(c, x, pads)], weights)]


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
    weights = {"kernel": np.ascontiguousarray(w.transpose(*range(2, w.ndim), 1, 0))}  # (*k, out, in)
    if bias is not None:
        weights["bias"] = bias
    config = {"filters": int(w.shape[1]), "kernel_size": kernel, "strides": strides, "dilation_rate": dilations,
              "padding": "valid", "output_padding": [int(v) for v in attrs.get("output_padding", [0] * n)],
              "data_format": "channels_first", "use_bias": bias is not None}
    y = c.one(f"Conv{n}DTranspose", config, [x], weights)
    if not any(pads):
        return [y]
    items = [{"slice": [None, None, None]}] * 2 + [{"slice": [b, -e if e else None, None]} for b, e in zip(pads[:n], pads[n:])]
    return [c.one("tensor.Index", {"items": items}, [y], base="cut")]


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
        x = _padded(c, x, pads, float("-inf") if kind == "Max" else 0.0)
        config = {"pool_size": kernel, "strides": strides, "padding": padding, "data_format": "channels_first"}
        return [c.one(f"{kind}Pooling{len(kernel)}D", config, [x])]
    return convert


def _global_pool(kind):
    def convert(c, args, attrs):
        x = c.tensor(args[0])
        if len(x.shape) not in (3, 4, 5):
            raise c.refuse(f"an input of shape {x.shape} is not supported (1-D, 2-D or 3-D on (batch, channels, ...))")
        return [c.one(f"Global{kind}Pooling{len(x.shape) - 2}D", {"data_format": "channels_first", "keepdims": True}, [x])]
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


def op_reverse_sequence(c, args, attrs):
    """ReverseSequence whose lengths are the whole time axis (how tf2onnx writes go_backwards):
    a reversal of that axis."""
    x = c.tensor(args[0])
    lengths = args[1]
    time_axis, batch_axis = attrs.get("time_axis", 0), attrs.get("batch_axis", 1)
    if {time_axis, batch_axis} != {0, 1}:  # the spec: one is 0, the other 1 (a full reversal needs no batch axis)
        raise ValueError(f"time_axis={time_axis} and batch_axis={batch_axis}; one must be 0, the other 1")
    entry = lengths.entry if isinstance(lengths, Uniform) else None
    if isinstance(lengths, np.ndarray) and lengths.size and np.all(lengths == lengths.ravel()[0]):
        entry = int(lengths.ravel()[0])
    full = entry is not None and ((isinstance(entry, DimRef) and entry.tensor == x and entry.axis == time_axis)
                                  or (isinstance(entry, (int, np.integer)) and entry == x.shape[time_axis]))
    if not full:
        raise c.refuse("sequence lengths shorter than the time axis are not supported")
    items = [{"slice": [None, None, None]}] * len(x.shape)
    items[time_axis] = {"slice": [None, None, -1]}
    return [c.one("tensor.Index", {"items": items}, [x])]


def op_batch_norm(c, args, attrs):
    if attrs.get("training_mode", 0):
        raise c.refuse("training_mode=1 is not supported (inference only)")
    x = c.tensor(args[0])
    scale, shift, mean, var = (c.constant(a, name) for a, name in zip(args[1:5], ("scale", "B", "mean", "var")))
    config = {"axis": 1, "epsilon": float(attrs.get("epsilon", 1e-5)), "center": True, "scale": True}
    weights = {"gamma": scale, "beta": shift, "moving_mean": mean, "moving_variance": var}
    return [c.one("BatchNormalization", config, [x], weights)]


def op_layer_norm(c, args, attrs):
    x = c.tensor(args[0])
    rank = len(x.shape)
    axis = attrs.get("axis", -1) % rank
    weights = {"gamma": c.constant(args[1], "Scale")}
    if len(args) > 2 and args[2] is not None:
        weights["beta"] = c.constant(args[2], "B")
    config = {"axis": list(range(axis, rank)), "epsilon": float(attrs.get("epsilon", 1e-5)), "scale": True, "center": "beta" in weights}
    outputs = c.add("LayerNormalization", config, [x], weights)
    return [outputs[0], None, None]


OPERATORS = {
    "Constant": op_constant, "Shape": op_shape, "ConstantOfShape": op_constant_of_shape, "Identity": op_identity,
    "Dropout": op_dropout, "Cast": op_cast, "Clip": op_clip,
    **{name: _binary(name) for name in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")},
    **{name: _unary(name) for name in _UNARY},
    "Relu": _activation("relu"), "Tanh": _activation("tanh"), "Sigmoid": _activation("sigmoid"),
    "LeakyRelu": _activation("leaky_relu", _leaky_params), "Elu": _activation("elu", _elu_params),
    "Selu": _activation("selu", _selu_params), "Softplus": _activation("softplus"), "Softsign": _activation("softsign"),
    "HardSigmoid": _activation("hard_sigmoid", _hard_sigmoid_params),
    "HardSwish": _activation("hard_silu", lambda c, a: {"slope": 1.0 / 6.0}), "Gelu": _activation("gelu", _gelu_params),
    "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
    "Transpose": op_transpose, "Reshape": op_reshape, "Flatten": op_flatten, "Squeeze": op_squeeze,
    "Unsqueeze": op_unsqueeze, "Concat": op_concat, "Gather": op_gather, "Slice": op_slice, "Expand": op_expand,
    "Pad": op_pad,
    "ReduceMean": _reduce("mean"), "ReduceSum": _reduce("sum"), "ReduceMax": _reduce("max"), "ReduceMin": _reduce("min"),
    "ReduceProd": _reduce("prod"), "ReduceSumSquare": _reduce("sum_square"), "ReduceL1": _reduce("l1"),
    "ReduceL2": _reduce("l2"), "ReduceLogSum": _reduce("log_sum"), "ReduceLogSumExp": _reduce("log_sum_exp"),
    "ArgMax": _arg_reduce("max"), "ArgMin": _arg_reduce("min"),
    "MatMul": op_matmul, "Gemm": op_gemm, "Conv": op_conv, "ConvTranspose": op_conv_transpose, "Resize": op_resize,
    "GlobalAveragePool": _global_pool("Average"), "GlobalMaxPool": _global_pool("Max"), "BatchNormalization": op_batch_norm,
    "LayerNormalization": op_layer_norm,
    "LSTM": convert_recurrent, "GRU": convert_recurrent, "RNN": convert_recurrent,
    "MaxPool": _pool("Max"), "AveragePool": _pool("Average"), "ReverseSequence": op_reverse_sequence,
}


OPERATORS.update(LOOP_OPERATORS)


def load_onnx(path: str, limits, tensor_tier: bool = False):
    """Read an `.onnx` file into a ModelSpec (NumPy-only protobuf reader; sizes checked first).

    With `tensor_tier`, a graph that maps onto no layers (an operator, a type or a run-time
    value the layer tier refuses) is returned as a TypedModel of the tensor tier instead."""
    import os

    from ..errors import reading
    from ..limits import current
    from .onnx_proto import read_model

    limits = current(limits)
    size = os.path.getsize(path)
    if size > limits.max_member_bytes:
        raise ModelFormatError(f"the ONNX file is {size:,} bytes, over the limit of {limits.max_member_bytes:,}", path)
    with open(path, "rb") as handle:
        data = handle.read()
    with reading(path, "the ONNX file"):
        model = read_model(data, limits, path)
    if not tensor_tier:
        return spec_from_onnx(model, path, limits)
    try:
        return spec_from_onnx(model, path, limits)
    except (UnsupportedLayerError, UnsupportedOptionError) as layer_refusal:
        from ..ops.model import TypedModel

        try:
            return TypedModel(model, path, limits)
        except (UnsupportedLayerError, UnsupportedOptionError) as refusal:
            refusal.args = (f"{refusal} (the layer tier: {layer_refusal})",)
            raise


def spec_from_onnx(model: ModelProto, path: str, limits=None) -> ModelSpec:
    """The ModelSpec of a parsed ONNX model."""
    converter = Converter(model, path, limits)
    inputs, outputs = converter.run()
    name = model.graph.name or "onnx_model"
    source = {"framework": "onnx", "version": f"opset {converter.opset}", "format": ".onnx", "producer": model.producer}
    graph = model.graph
    # the file's own names for users (as ONNX Runtime takes and gives them); layer names are cleaned
    input_names = [info.name for info in graph.inputs if info.name not in graph.initializers]
    output_names = [info.name for info in graph.outputs]
    return ModelSpec(name, converter.layers, inputs, outputs, source=source, input_names=input_names,
                     output_names=output_names)
