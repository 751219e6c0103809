"""The model spec: what every importer produces and the native format stores.

Plain JSON-able configs plus named float arrays; no framework objects. A tensor is named
by a reference (layer name, call index, output index), as Keras names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TensorRef = tuple  # (layer_name: str, node_index: int, tensor_index: int)


def as_ref(value: Any) -> TensorRef | None:
    """(layer, node, tensor) from a JSON list like ["lstm", 0, 1], or None if it is not one."""
    if (
        isinstance(value, (list, tuple)) and len(value) >= 3 and isinstance(value[0], str)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value[1:3])
    ):
        return (value[0], value[1], value[2])
    return None


@dataclass
class Call:
    """One call of a layer: its input tensors, tensor keyword arguments (such as
    `initial_state`) and plain call options (such as `use_causal_mask`)."""

    inputs: list[TensorRef]
    tensor_kwargs: dict[str, list[TensorRef]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def refs(self) -> list[TensorRef]:
        """Every tensor this call reads."""
        return list(self.inputs) + [r for refs in self.tensor_kwargs.values() for r in refs]

    def to_json(self) -> dict:
        return {
            "inputs": [list(r) for r in self.inputs],
            "tensor_kwargs": {k: [list(r) for r in refs] for k, refs in self.tensor_kwargs.items()},
            "options": self.options,
        }

    @staticmethod
    def from_json(value: Any) -> Call | None:
        """The Call a JSON object describes, or None if it is malformed."""
        if not isinstance(value, dict):
            return None
        inputs = [as_ref(r) for r in value.get("inputs", [])] if isinstance(value.get("inputs"), list) else [None]
        kwargs_json = value.get("tensor_kwargs", {})
        options = value.get("options", {})
        if not isinstance(kwargs_json, dict) or not isinstance(options, dict) or None in inputs:
            return None
        kwargs = {}
        for key, refs in kwargs_json.items():
            if not isinstance(refs, list):
                return None
            kwargs[key] = [as_ref(r) for r in refs]
            if None in kwargs[key]:
                return None
        return Call(inputs, kwargs, options)


@dataclass
class LayerSpec:
    """One layer: its canonical config, its weights by name, and each call of it."""

    name: str
    class_name: str
    config: dict
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    inbound: list[Call] = field(default_factory=list)


@dataclass
class ModelSpec:
    """A whole model: layers, which tensors are the inputs and outputs, and where it came from."""

    name: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    source: dict = field(default_factory=dict)  # e.g. {"framework": "keras", "version": "3.15.1", "format": ".keras"}
    references: dict | None = None  # {"inputs": [arrays], "outputs": [arrays]} from the framework, for verify
    # the file's own names of the inputs and outputs where they are not the layers' names (ONNX:
    # `onnx::Conv_0`, `out.1`; layer names are kept to identifiers); None: the layers' names
    input_names: list[str] | None = None
    output_names: list[str] | None = None

    def public_names(self, part: str) -> list[str]:
        """The names the model's users give its inputs or outputs (`part`: inputs, outputs)."""
        names = getattr(self, f"{part[:-1]}_names")
        return list(names) if names is not None else [ref[0] for ref in getattr(self, part)]
