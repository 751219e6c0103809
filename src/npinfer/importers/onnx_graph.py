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

This file is the driver: the graph walk, the inputs, the dispatch through OPERATORS and the
hand-over to the tensor tier. The converters live by operator family, each file with its own
OPERATORS table merged here: onnx_layers_sizes.py (constants, Shape, Cast, Expand),
onnx_layers_shape.py, onnx_layers_math.py (arithmetic, reductions, MatMul / Gemm),
onnx_layers_activations.py, onnx_layers_conv.py (windows, Resize), onnx_layers_norm.py,
onnx_recurrent.py (LSTM / GRU / RNN), onnx_loop.py (Loop unrolling, Split, comparisons).
A converter is `convert(c, args, attrs) -> list of output values` (`c` the Converter).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelFormatError, NpinferError, UnsupportedLayerError, UnsupportedOptionError
from ..layers import create_layer
from ..limits import WeightBudget, current
from ..spec import Call, LayerSpec, ModelSpec
from . import (
    onnx_layers_activations,
    onnx_layers_conv,
    onnx_layers_math,
    onnx_layers_norm,
    onnx_layers_shape,
    onnx_layers_sizes,
)
from .onnx_loop import LOOP_OPERATORS
from .onnx_proto import Graph, ModelProto, Node, all_nodes
from .onnx_recurrent import convert_recurrent
from .toolkit.naming import UniqueNames, clean
from .toolkit.values import Sizes, Tensor, as_sizes


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

    emit = add  # the builder call of toolkit.emit

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
                if any(info.name in node.outputs for node in graph.nodes):  # e.g. MaxPool's Indices: the tensor tier's work
                    raise UnsupportedOptionError(f"ONNX output '{info.name}' is an output the layers do not compute")
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



# ONNX operator (default domain) -> its converter: every family's table
OPERATORS = {
    **onnx_layers_sizes.OPERATORS, **onnx_layers_shape.OPERATORS, **onnx_layers_math.OPERATORS,
    **onnx_layers_activations.OPERATORS, **onnx_layers_conv.OPERATORS, **onnx_layers_norm.OPERATORS,
    "LSTM": convert_recurrent, "GRU": convert_recurrent, "RNN": convert_recurrent, **LOOP_OPERATORS,
}


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
