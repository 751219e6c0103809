"""TypedModel.trace: every node's outputs for one call of a tensor-tier graph.

The layer tier traces one sample layer by layer (npinfer/trace.py). A graph on the tensor tier
is not known to treat its rows independently, so its trace records the whole input: for each
node of the main graph, in the order it ran, its operator and every output it made. Nodes
folded at load (their inputs are constants) come first, marked `folded`. Values inside Loop,
If and Scan bodies are not recorded one pass at a time: the node's outputs are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NpinferError
from .registry import ONNX
from .values import OptionalValue, SequenceValue


def _plain(value):
    """A recorded value as predict gives it: arrays, lists for sequences, None for an empty optional."""
    if isinstance(value, SequenceValue):
        return list(value.items)
    if isinstance(value, OptionalValue):
        return _plain(value.value)
    return value


def _entry(step, values: dict, folded: bool) -> dict:
    node = step.node
    outputs = {name: _plain(values[name]) for name in node.outputs if name and name in values}
    kind = node.op_type if step.op.domain == ONNX else f"{step.op.domain}.{node.op_type}"
    first = next(iter(outputs.values()), None)
    return {"name": node.name or next((o for o in node.outputs if o), node.op_type), "class_name": kind,
            "output": first, "outputs": outputs, "folded": folded}


def trace_graph(model, x: Any, sample: int = 0) -> dict:
    """The record of one call on the whole input `x` (see the module docstring)."""
    if isinstance(sample, bool) or sample != 0:
        raise NpinferError(f"sample {sample!r}: a graph on the tensor tier is traced on the whole input (npinfer "
                           "cannot know that its rows are independent); pass only the rows you want")
    graph = model.graph
    names = [name for step in graph.steps for name in step.node.outputs if name]
    computed = model.predict(x, outputs=names) if names else {}
    layers = [_entry(step, graph.constants, True) for step in graph.folded]
    layers += [_entry(step, computed, False) for step in graph.steps]
    return {"model": model.name, "sample": None, "tier": "tensor", "layers": layers}


def value_text(value) -> str:
    """A recorded value in one line for the text listing."""
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if value is None:
        return "(no value)"
    array = np.asarray(value)
    return f"{array.dtype.name}{list(array.shape)} {array}"
