"""The layer graph: every call of every layer (a node), in an order where inputs come first;
shape inference at build time, and evaluation with masks flowing as Keras propagates them."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

import numpy as np

from .errors import ModelFormatError, ResourceLimitError
from .layers.base import CallContext, Layer
from .quiet import run_quietly
from .spec import Call, ModelSpec


@dataclass(frozen=True)
class Node:
    """One call of a layer: which layer, which call, what it reads, and its call options."""

    layer: Layer
    index: int
    call: Call
    options: dict  # call options with the layer's defaults filled in


@dataclass(frozen=True)
class Step:
    """One node in a precomputed plan: what it reads, and which tensors die after it."""

    node: Node
    inputs: tuple
    kwargs: tuple  # ((name, refs), ...) tensor keyword arguments except masks
    explicit_mask: tuple  # refs of an explicit mask argument, if any
    frees: tuple
    casts: bool  # integer inputs are cast to the float dtype for this layer
    clears: bool  # the layer removes its inputs' masks (Keras 3 MultiHeadAttention)
    plain: CallContext  # the context of a call without masks, tensor kwargs or states (read-only, shared)


@contextlib.contextmanager
def gc_paused():
    """Python's cyclic garbage collector paused while a graph's many small objects are made
    (loading, a call's first plan): its passes over a growing heap doubled the time of a
    100,000-layer load. Nothing made here is freed by it; it runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Graph:
    """Nodes in evaluation order, with the shape of every tensor."""

    def __init__(self, spec: ModelSpec, layers: dict[str, Layer]):
        self.spec = spec
        self.layers = layers
        self.calls = {s.name: len(s.inbound) if s.class_name != "InputLayer" else 1 for s in spec.layers}
        self.shapes: dict[tuple, tuple] = {}  # (layer, node, tensor) -> shape
        nodes, window_work = [], []
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
            window_work.append(layer.window_work())  # this call's shapes (a shared layer: each call's own)
            nodes.append(Node(layer, index, call, options))
        self.nodes = nodes
        self.may_mask = any(n.layer.creates_masks() for n in nodes) or any("mask" in n.call.tensor_kwargs for n in nodes)
        self.has_integers = any(n.layer.ACCEPTS_INTEGERS for n in nodes) or any(
            "int" in str(n.layer.config.get("dtype", "")) for n in nodes if n.layer.class_name == "InputLayer")
        self.input_refs = [tuple(r) for r in spec.inputs]
        self._plans: dict[tuple, list[Step]] = {}
        self._chains: dict[tuple, tuple | None] = {}
        self._recurrent_weights: int | None = None
        calls = sum(c for _, c in window_work)
        # multiply-adds per sample in each call of the layers made of large products (Layer.window_work): 0 if none
        self.call_work_per_row = sum(m for m, _ in window_work) / calls if calls else 0.0
        if not spec.inputs or not spec.outputs:
            raise ModelFormatError("the model has no inputs" if not spec.inputs else "the model has no outputs")
        for ref in list(spec.inputs) + list(spec.outputs):
            self.shape_of(ref)
        fed = {tuple(r) for r in spec.inputs}
        if len(fed) != len(spec.inputs):
            raise ModelFormatError("the model lists one input twice")
        for node in nodes:
            for ref in node.call.refs():
                if self.layers[ref[0]].class_name == "InputLayer" and tuple(ref) not in fed:
                    raise ModelFormatError(f"layer '{node.layer.name}' reads '{ref[0]}', which is not one of the model's inputs")

    def work_per_row(self, arrays: list[np.ndarray]) -> float:
        """Rough multiply-adds per sample in the recurrent layers (to decide on threads)."""
        steps = max((a.shape[1] for a in arrays if a.ndim >= 3), default=1)
        if self._recurrent_weights is None:
            self._recurrent_weights = sum(
                sum(w.size for w in node.layer.weights.values()) for node in self.nodes
                if any(k.split("/")[-1] == "recurrent_kernel" for k in node.layer.weights))
        return float(steps * self._recurrent_weights)

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
        # Kahn's algorithm, level by level: a call is ready one level after the last call it reads
        # (each level in the file's order, as a layer-by-layer rescan would give it), in linear time.
        waiting = [len({(r[0], r[1]) for r in call.refs()}) for _, _, call in pending]
        readers: dict[tuple, list[int]] = {}
        for i, (_, _, call) in enumerate(pending):
            for key in {(r[0], r[1]) for r in call.refs()}:
                readers.setdefault(key, []).append(i)
        ordered = []
        level = [i for i, count in enumerate(waiting) if count == 0]
        while level:
            following = []
            for i in level:
                layer, index, call = pending[i]
                ordered.append(pending[i])
                for reader in readers.get((layer.name, index), ()):
                    waiting[reader] -= 1
                    if waiting[reader] == 0:
                        following.append(reader)
            level = sorted(following)
        if len(ordered) < len(pending):
            first = min(i for i, count in enumerate(waiting) if count > 0)
            raise ModelFormatError(f"the layer graph has a cycle through '{pending[first][0].name}'")
        return ordered

    def plan(self, wanted: list) -> list[Step]:
        """The steps that compute `wanted` refs, with what each frees afterwards (cached)."""
        key = tuple(map(tuple, wanted))
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        with gc_paused():
            return self._make_plan(key, wanted)

    def _make_plan(self, key: tuple, wanted: list) -> list[Step]:
        needed = [n for n in self._needed_nodes(wanted) if n.layer.class_name != "InputLayer"]
        last_read: dict[tuple, int] = {}
        for i, node in enumerate(needed):
            for ref in node.call.refs():
                last_read[ref] = i
        keep = set(key)
        freed_after: dict[int, list[tuple]] = {}  # step -> the refs it reads last
        for ref, last in last_read.items():
            if ref not in keep:
                freed_after.setdefault(last, []).append(ref)
        steps = []
        for i, node in enumerate(needed):
            call = node.call
            steps.append(Step(
                node=node,
                inputs=tuple(call.inputs),
                kwargs=tuple((k, tuple(refs)) for k, refs in call.tensor_kwargs.items() if k != "mask"),
                explicit_mask=tuple(call.tensor_kwargs.get("mask", ())),
                frees=tuple(freed_after.get(i, ())),
                casts=not node.layer.ACCEPTS_INTEGERS,
                clears=node.layer.clears_input_masks(),
                plain=CallContext(masks=[], kwargs={}, options=node.options, state=None),
            ))
        self._plans[key] = steps
        return steps

    def run(self, arrays: list[np.ndarray], wanted: list, float_dtype, state: dict | None = None) -> list[np.ndarray]:
        """Evaluate the steps needed for the `wanted` refs; free tensors once no longer read.
        NaN and inf propagate as in Keras, without NumPy's warnings."""
        if state is None:
            chain = self._chain(wanted)
            if chain is not None:
                return run_quietly(_run_chain, chain, arrays)
        return run_quietly(self._run, arrays, wanted, float_dtype, state)

    def _chain(self, wanted: list) -> tuple | None:
        """For a plain chain of layers (each reads only the previous one's first output; no
        masks, integer inputs or tensor kwargs; one model input, one wanted output): the
        (call, context) pairs to run in order, with no bookkeeping. None otherwise (cached)."""
        key = tuple(map(tuple, wanted))
        if key in self._chains:
            return self._chains[key]
        chain = None
        with gc_paused():
            steps = self.plan(wanted)
            if not self.may_mask and not self.has_integers and len(self.input_refs) == 1 and len(key) == 1 and steps:
                previous, ok = self.input_refs[0], True
                for step in steps:
                    ok = ok and step.inputs == (previous,) and not step.kwargs and not step.explicit_mask
                    previous = (step.node.layer.name, step.node.index, 0)
                if ok and key[0] == previous:
                    chain = tuple((step.node.layer.call, step.plain) for step in steps)
        self._chains[key] = chain
        return chain

    def _run(self, arrays, wanted, float_dtype, state):
        tensors: dict[tuple, np.ndarray] = dict(zip(self.input_refs, arrays))
        masks: dict[tuple, np.ndarray] = {}
        typed = self._typed
        for step in self.plan(wanted):
            layer = step.node.layer
            if step.casts and self.has_integers:
                inputs = [typed(tensors[r], float_dtype) for r in step.inputs]
                kwargs = {k: [typed(tensors[r], float_dtype) for r in refs] for k, refs in step.kwargs}
            else:
                inputs = [tensors[r] for r in step.inputs]
                kwargs = {k: [tensors[r] for r in refs] for k, refs in step.kwargs} if step.kwargs else {}
            if step.explicit_mask:  # an explicit mask argument (Keras 3 records them)
                call_masks = [tensors[r] if layer.RAW_MASKS else tensors[r].astype(bool) for r in step.explicit_mask]
            else:
                call_masks = [masks.get(r) for r in step.inputs] if masks else []
            if state is None and not kwargs and not call_masks:
                ctx = step.plain  # saves building a context per layer per call (it shows at batch 1)
            else:
                ctx = CallContext(masks=call_masks, kwargs=kwargs, options=step.node.options, state=state)
            try:
                outputs = layer.call(inputs, ctx)
            except MemoryError:
                raise out_of_memory(layer) from None
            if step.clears:
                for ref in step.inputs:
                    masks.pop(ref, None)
            name, index = layer.name, step.node.index
            if self.may_mask:
                for i, (value, mask) in enumerate(zip(outputs, layer.compute_masks(inputs, ctx, outputs))):
                    tensors[(name, index, i)] = value
                    if mask is not None:
                        masks[(name, index, i)] = mask
            else:
                for i, value in enumerate(outputs):
                    tensors[(name, index, i)] = value
            for ref in step.frees:
                tensors.pop(ref, None)
                masks.pop(ref, None)
        return [tensors[tuple(ref)] for ref in wanted]

    @staticmethod
    def _typed(array: np.ndarray, float_dtype) -> np.ndarray:
        return array.astype(float_dtype) if array.dtype.kind in "iub" else array

    def _needed_nodes(self, wanted: list) -> list[Node]:
        needed = {(r[0], r[1]) for r in wanted}
        for node in reversed(self.nodes):
            if (node.layer.name, node.index) in needed:
                needed.update((r[0], r[1]) for r in node.call.refs())
        return [n for n in self.nodes if (n.layer.name, n.index) in needed]


def _run_chain(chain: tuple, arrays: list) -> list:
    """Run a plain chain of layer calls (Graph._chain): each gets the previous one's first output."""
    outputs = arrays
    for call, ctx in chain:
        try:
            outputs = call(outputs, ctx)
        except MemoryError:
            raise out_of_memory(call.__self__) from None
        if len(outputs) > 1:
            outputs = outputs[:1]
    return outputs


def out_of_memory(layer: Layer) -> ResourceLimitError:
    """The typed error for a layer call that NumPy could not find memory for."""
    return ResourceLimitError(f"layer '{layer.name}' ({layer.class_name}) ran out of memory on this input; predict "
                              "with a smaller batch_size (or lower Limits.max_activation_bytes to be refused sooner)")
