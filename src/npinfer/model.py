"""Model: a graph of NumPy layers built from a ModelSpec; predict, summary, intermediates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import InputError, InputShapeError, ModelFormatError, NpinferError, UnsupportedOptionError
from .layers import create_layer
from .layers.base import Layer, format_shape
from .spec import ModelSpec

SUPPORTED_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Node:
    """One call of a layer: which layer, which call, and the tensors it reads."""

    layer: Layer
    index: int
    inputs: tuple  # of (layer name, node index, tensor index)


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: its name, shape (batch first, None if free) and dtype."""

    name: str
    shape: tuple
    dtype: str


class Model:
    """A model ready to predict with NumPy. Build it with `npinfer.load` or `npinfer.from_keras`."""

    def __init__(self, spec: ModelSpec, dtype: str = "float32"):
        if str(dtype) not in SUPPORTED_DTYPES:
            raise UnsupportedOptionError(f"dtype {dtype!r} is not supported; supported: {', '.join(SUPPORTED_DTYPES)}")
        self.spec = spec
        self.dtype = np.dtype(str(dtype))
        self.name = spec.name
        self._layers: dict[str, Layer] = {}
        for layer_spec in spec.layers:
            if layer_spec.name in self._layers:
                raise ModelFormatError(f"two layers are named '{layer_spec.name}'")
            self._layers[layer_spec.name] = create_layer(
                layer_spec.name, layer_spec.class_name, layer_spec.config, layer_spec.weights, self.dtype
            )
        self._calls = {s.name: len(s.inbound) if s.class_name != "InputLayer" else 1 for s in spec.layers}
        self._nodes = self._sort_nodes(spec)
        self._shapes: dict[tuple, tuple] = {}  # (layer, node, tensor) -> shape
        for node in self._nodes:
            shapes = node.layer.setup([self._shape_of(ref) for ref in node.inputs])
            for i, shape in enumerate(shapes):
                self._shapes[(node.layer.name, node.index, i)] = shape
        for ref in list(spec.inputs) + list(spec.outputs):
            self._shape_of(ref)
        for ref in spec.inputs:
            if self._layers[ref[0]].class_name != "InputLayer":
                raise ModelFormatError(f"model input '{ref[0]}' is not an InputLayer")
        self.inputs = [TensorInfo(r[0], self._shapes[r], self._layers[r[0]].config["dtype"]) for r in spec.inputs]
        self.outputs = [TensorInfo(r[0], self._shapes[r], self.dtype.name) for r in spec.outputs]

    # -- public API -----------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The layers, in the order of the model file."""
        return list(self._layers.values())

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    @property
    def input_shape(self):
        """Input shape (batch first, None where free); a list of shapes for several inputs."""
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """Output shape; a list of shapes for several outputs."""
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_layer(self, name: str) -> Layer:
        """The layer called `name`."""
        try:
            return self._layers[name]
        except KeyError:
            raise NpinferError(f"no layer named {name!r}; layers: {', '.join(self._layers)}") from None

    def predict(self, x: Any, batch_size: int | None = None, outputs: Sequence[str] | None = None):
        """Run the model on `x` and return its output(s).

        x: an array (or nested list) for a one-input model; a list in input order or a dict
        by input name for several inputs. Any numeric dtype; computed in the model's dtype.
        batch_size: split the batch into chunks of this size (same numbers, less memory).
        outputs: layer names whose outputs to return too. Then the result is a dict
        {name: array} holding the model's outputs (under `output_names`) and each named
        layer's output (a list where a layer has several outputs).
        Without `outputs`: one output gives an ndarray, several give a list (as Keras).
        """
        arrays = self._prepare_inputs(x)
        wanted = list(self.spec.outputs)
        extra: list[str] = []
        if outputs is not None:
            if isinstance(outputs, str):
                outputs = [outputs]
            for name in outputs:
                self.get_layer(name)
                if self._calls.get(name, 0) < 1:
                    raise NpinferError(f"layer {name!r} is never called in the model, so it has no output")
                extra.append(name)
                wanted += [r for r in self._shapes if r[0] == name and r[1] == 0]
        results = self._run_batched(arrays, wanted, batch_size)
        by_ref = dict(zip(wanted, results))
        model_outputs = [by_ref[r] for r in self.spec.outputs]
        if outputs is None:
            return model_outputs[0] if len(model_outputs) == 1 else model_outputs
        named: dict[str, Any] = {}
        for ref, value in zip(self.spec.outputs, model_outputs):
            named.setdefault(ref[0], []).append(value)
        for name in extra:
            named[name] = [by_ref[r] for r in sorted(r for r in by_ref if r[0] == name and r[1] == 0)]
        return {k: v[0] if len(v) == 1 else v for k, v in named.items()}

    def __call__(self, x: Any):
        """Same as predict(x)."""
        return self.predict(x)

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of layers like Keras's: name (type), output shape, parameter count."""
        from .summary import summary_lines

        for line in summary_lines(self):
            print_fn(line)

    def save(self, path) -> None:
        """Save as an npinfer `.npz` (JSON config + arrays; no pickle). Round trips are bit-exact."""
        from .format import save_spec

        save_spec(self.spec, path)

    @property
    def param_count(self) -> int:
        """Total number of weights."""
        return sum(layer.param_count for layer in self._layers.values())

    def node_output_shapes(self, layer_name: str) -> list[tuple]:
        """Output shapes of a layer's first call (empty if it is never called)."""
        return [self._shapes[r] for r in sorted(r for r in self._shapes if r[0] == layer_name and r[1] == 0)]

    def node_inputs(self, layer_name: str) -> list[tuple]:
        """Input refs of a layer's first call."""
        for node in self._nodes:
            if node.layer.name == layer_name and node.index == 0:
                return list(node.inputs)
        return []

    def __repr__(self) -> str:
        return f"<npinfer.Model {self.name!r}: {len(self._layers)} layers, {self.param_count} params, dtype {self.dtype.name}>"

    # -- graph ----------------------------------------------------------------------------

    def _sort_nodes(self, spec: ModelSpec) -> list[Node]:
        """Every call of every layer, ordered so that each node's inputs come first."""
        pending = []
        for layer_spec in spec.layers:
            layer = self._layers[layer_spec.name]
            calls = [[]] if layer_spec.class_name == "InputLayer" else layer_spec.inbound
            if layer_spec.class_name == "InputLayer" and layer_spec.inbound:
                raise ModelFormatError(f"input layer '{layer_spec.name}' cannot have inbound calls")
            for index, refs in enumerate(calls):
                for ref in refs:
                    if ref[0] not in self._layers or ref[1] >= self._calls[ref[0]]:
                        raise ModelFormatError(f"layer '{layer_spec.name}' reads {list(ref)}, which no layer produces")
                if layer_spec.class_name != "InputLayer" and not refs:
                    raise ModelFormatError(f"layer '{layer_spec.name}' is called with no inputs")
                pending.append(Node(layer, index, tuple(tuple(r) for r in refs)))
        ordered, done = [], set()
        while pending:
            ready = [n for n in pending if all((r[0], r[1]) in done for r in n.inputs)]
            if not ready:
                raise ModelFormatError(f"the layer graph has a cycle through '{pending[0].layer.name}'")
            for node in ready:
                done.add((node.layer.name, node.index))
                ordered.append(node)
            pending = [n for n in pending if (n.layer.name, n.index) not in done]
        return ordered

    def _shape_of(self, ref) -> tuple:
        ref = tuple(ref)
        if ref not in self._shapes:
            if ref[0] not in self._layers:
                raise ModelFormatError(f"the model refers to a layer '{ref[0]}' that does not exist")
            raise ModelFormatError(f"layer '{ref[0]}' has no output {list(ref)[1:]} (call, output)")
        return self._shapes[ref]

    def _run_batched(self, arrays: list[np.ndarray], wanted: list, batch_size: int | None) -> list[np.ndarray]:
        total = arrays[0].shape[0]
        if batch_size is None or total <= batch_size:
            return self._run(arrays, wanted)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        chunks = [self._run([a[s : s + batch_size] for a in arrays], wanted) for s in range(0, total, batch_size)]
        return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]

    def _run(self, arrays: list[np.ndarray], wanted: list) -> list[np.ndarray]:
        """Evaluate the nodes needed for `wanted` refs; drop tensors once no longer needed."""
        needed = self._needed_nodes(wanted)
        remaining_reads: dict[tuple, int] = {}
        for node in needed:
            for ref in node.inputs:
                remaining_reads[ref] = remaining_reads.get(ref, 0) + 1
        keep = set(map(tuple, wanted))
        tensors: dict[tuple, np.ndarray] = {tuple(ref): a for ref, a in zip(self.spec.inputs, arrays)}
        for node in needed:
            if node.layer.class_name == "InputLayer":
                continue
            inputs = [tensors[ref] for ref in node.inputs]
            results = node.layer.call(inputs)
            for i, value in enumerate(results):
                tensors[(node.layer.name, node.index, i)] = value
            for ref in node.inputs:
                remaining_reads[ref] -= 1
                if remaining_reads[ref] == 0 and ref not in keep:
                    del tensors[ref]
        return [tensors[tuple(ref)] for ref in wanted]

    def _needed_nodes(self, wanted: list) -> list[Node]:
        needed_keys = {(r[0], r[1]) for r in wanted}
        for node in reversed(self._nodes):
            if (node.layer.name, node.index) in needed_keys:
                needed_keys.update((r[0], r[1]) for r in node.inputs)
        return [n for n in self._nodes if (n.layer.name, n.index) in needed_keys]

    # -- inputs ---------------------------------------------------------------------------

    def _prepare_inputs(self, x: Any) -> list[np.ndarray]:
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            unknown = [k for k in x if k not in self.input_names]
            if missing or unknown:
                raise InputError(f"inputs by name: expected {self.input_names}, got {list(x)}")
            values = [x[n] for n in self.input_names]
        elif len(self.inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(self.inputs):
                got = f"{len(x)} arrays" if isinstance(x, (list, tuple)) else type(x).__name__
                raise InputError(f"the model has {len(self.inputs)} inputs {self.input_names}: pass a list of that many arrays, got {got}")
            values = list(x)
        else:
            values = [x]
        arrays = [self._as_array(v, info) for v, info in zip(values, self.inputs)]
        batches = {a.shape[0] for a in arrays}
        if len(batches) > 1:
            raise InputShapeError(f"all inputs need the same batch size, got {[a.shape[0] for a in arrays]}")
        return arrays

    def _as_array(self, value: Any, info: TensorInfo) -> np.ndarray:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise InputError(f"input '{info.name}' is not a rectangular array of numbers ({err})") from None
        if array.dtype.kind not in "biuf":
            what = "strings" if array.dtype.kind in "US" else "ragged or mixed data" if array.dtype.kind == "O" else str(array.dtype)
            raise InputError(f"input '{info.name}' must hold numbers, got {what}")
        expected = info.shape
        if array.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], array.shape[1:])):
            raise InputShapeError(
                f"input '{info.name}' expects shape {format_shape(expected)} (batch first), got {array.shape}"
            )
        return np.ascontiguousarray(array, dtype=self.dtype)
