"""The layer graph: every call of every layer (a node), in an order where inputs come first;
shape inference at build time, and evaluation with masks flowing as Keras propagates them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ModelFormatError
from .layers.base import CallContext, Layer
from .spec import Call, ModelSpec


@dataclass(frozen=True)
class Node:
    """One call of a layer: which layer, which call, what it reads, and its call options."""

    layer: Layer
    index: int
    call: Call
    options: dict  # call options with the layer's defaults filled in


class Graph:
    """Nodes in evaluation order, with the shape of every tensor."""

    def __init__(self, spec: ModelSpec, layers: dict[str, Layer]):
        self.spec = spec
        self.layers = layers
        self.calls = {s.name: len(s.inbound) if s.class_name != "InputLayer" else 1 for s in spec.layers}
        self.shapes: dict[tuple, tuple] = {}  # (layer, node, tensor) -> shape
        nodes = []
        for call_node in self._sorted_calls():
            layer, index, call = call_node
            options = dict(call.options)
            shapes = layer.setup(
                [self.shape_of(r) for r in call.inputs],
                {k: [self.shape_of(r) for r in refs] for k, refs in call.tensor_kwargs.items()},
                options,
            )
            for i, shape in enumerate(shapes):
                self.shapes[(layer.name, index, i)] = shape
            nodes.append(Node(layer, index, call, options))
        self.nodes = nodes
        self.may_mask = any(n.layer.creates_masks() for n in nodes)
        for ref in list(spec.inputs) + list(spec.outputs):
            self.shape_of(ref)

    def shape_of(self, ref) -> tuple:
        ref = tuple(ref)
        if ref not in self.shapes:
            if ref[0] not in self.layers:
                raise ModelFormatError(f"the model refers to a layer '{ref[0]}' that does not exist")
            raise ModelFormatError(f"layer '{ref[0]}' has no output {list(ref)[1:]} (call, output)")
        return self.shapes[ref]

    def output_refs(self, layer_name: str, index: int = 0) -> list[tuple]:
        """Refs of the outputs of one call of a layer, in order."""
        return sorted(r for r in self.shapes if r[0] == layer_name and r[1] == index)

    def first_call_inputs(self, layer_name: str) -> list[tuple]:
        for node in self.nodes:
            if node.layer.name == layer_name and node.index == 0:
                return list(node.call.inputs)
        return []

    def _sorted_calls(self):
        """Every call of every layer, ordered so that each reads only tensors made before it."""
        pending = []
        for layer_spec in self.spec.layers:
            layer = self.layers[layer_spec.name]
            if layer_spec.class_name == "InputLayer":
                if layer_spec.inbound:
                    raise ModelFormatError(f"input layer '{layer_spec.name}' cannot have inbound calls")
                pending.append((layer, 0, Call([])))
                continue
            for index, call in enumerate(layer_spec.inbound):
                if not call.inputs:
                    raise ModelFormatError(f"layer '{layer_spec.name}' is called with no inputs")
                for ref in call.refs():
                    if ref[0] not in self.layers or ref[1] >= self.calls[ref[0]]:
                        raise ModelFormatError(f"layer '{layer_spec.name}' reads {list(ref)}, which no layer produces")
                pending.append((layer, index, call))
        ordered, done = [], set()
        while pending:
            ready = [p for p in pending if all((r[0], r[1]) in done for r in p[2].refs())]
            if not ready:
                raise ModelFormatError(f"the layer graph has a cycle through '{pending[0][0].name}'")
            for layer, index, call in ready:
                done.add((layer.name, index))
                ordered.append((layer, index, call))
            pending = [p for p in pending if (p[0].name, p[1]) not in done]
        return ordered

    def run(self, arrays: list[np.ndarray], wanted: list, float_dtype, state: dict | None = None) -> list[np.ndarray]:
        """Evaluate the nodes needed for the `wanted` refs; free tensors once no longer read."""
        needed = self._needed_nodes(wanted)
        reads: dict[tuple, int] = {}
        for node in needed:
            for ref in node.call.refs():
                reads[ref] = reads.get(ref, 0) + 1
        keep = set(map(tuple, wanted))
        tensors: dict[tuple, np.ndarray] = {tuple(ref): a for ref, a in zip(self.spec.inputs, arrays)}
        masks: dict[tuple, np.ndarray | None] = {}
        for node in needed:
            if node.layer.class_name == "InputLayer":
                continue
            call = node.call
            inputs = [self._typed(tensors[r], node.layer, float_dtype) for r in call.inputs]
            given = call.tensor_kwargs.get("mask")  # an explicit mask argument (Keras 3 records them)
            ctx = CallContext(
                masks=[tensors[r].astype(bool) for r in given] if given else [masks.get(r) for r in call.inputs],
                kwargs={k: [self._typed(tensors[r], node.layer, float_dtype) for r in refs]
                        for k, refs in call.tensor_kwargs.items() if k != "mask"},
                options=node.options,
                state=state,
            )
            outputs = node.layer.call(inputs, ctx)
            if node.layer.clears_input_masks():
                for ref in call.inputs:
                    masks.pop(ref, None)
            out_masks = node.layer.compute_masks(inputs, ctx, outputs) if self.may_mask else [None] * len(outputs)
            for i, (value, mask) in enumerate(zip(outputs, out_masks)):
                tensors[(node.layer.name, node.index, i)] = value
                if mask is not None:
                    masks[(node.layer.name, node.index, i)] = mask
            for ref in call.refs():
                reads[ref] -= 1
                if reads[ref] == 0 and ref not in keep:
                    tensors.pop(ref, None)
                    masks.pop(ref, None)
        return [tensors[tuple(ref)] for ref in wanted]

    @staticmethod
    def _typed(array: np.ndarray, layer: Layer, float_dtype) -> np.ndarray:
        if array.dtype.kind in "iub" and not layer.ACCEPTS_INTEGERS:
            return array.astype(float_dtype)
        return array

    def _needed_nodes(self, wanted: list) -> list[Node]:
        needed = {(r[0], r[1]) for r in wanted}
        for node in reversed(self.nodes):
            if (node.layer.name, node.index) in needed:
                needed.update((r[0], r[1]) for r in node.call.refs())
        return [n for n in self.nodes if (n.layer.name, n.index) in needed]
