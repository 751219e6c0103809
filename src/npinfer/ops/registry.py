"""The operator table of the tensor tier and the Call each operator function receives.

An operator is a plain function `fn(call, *inputs) -> value | tuple of values`, registered with
the attributes it implements; a node with any other attribute is refused by name, never ignored.
Inputs arrive as NumPy arrays (any ONNX type, rank 0 included), SequenceValue / OptionalValue, or
None where an optional input is left out. The function follows ONNX's type rules for its
results, and calls `call.admit` before allocating anything whose size the inputs or attributes
decide (a run-time shape, a pad, a repeat count), so a file cannot make npinfer allocate more
than its budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ModelFormatError, UnsupportedOptionError

ONNX = "ai.onnx"
ML = "ai.onnx.ml"
REQUIRED = object()  # attr(name) with no default: the attribute must be present


@dataclass(frozen=True)
class Operator:
    name: str
    domain: str
    fn: Callable
    attributes: frozenset
    fold: bool  # may run at load when every input is a constant (False for anything not a pure function)


OPERATORS: dict[tuple[str, str], Operator] = {}


def operator(*names: str, attributes=(), domain: str = ONNX, fold: bool = True):
    """Register the decorated function as the ONNX operator(s) `names` of `domain`, implementing
    exactly the `attributes` named (any other attribute on a node is refused)."""

    def register(fn: Callable) -> Callable:
        for name in names:
            key = (domain, name)
            if key in OPERATORS:
                raise RuntimeError(f"ONNX operator {domain}.{name} registered twice")
            OPERATORS[key] = Operator(name, domain, fn, frozenset(attributes), fold)
        return fn

    return register


def supported_operators(domain: str = ONNX) -> list[str]:
    """The operator names the tensor tier runs in `domain` (after every family is imported)."""
    from . import load_families

    load_families()
    return sorted(name for d, name in OPERATORS if d == domain)


class Call:
    """One evaluation of one node: its attributes, its domain's opset version, the budget that
    sizes are checked against, and the subgraphs of its graph attributes."""

    __slots__ = ("node", "opset", "budget", "subgraphs", "scope", "memo", "constant_inputs")

    def __init__(self, node, opset: int, budget, subgraphs: dict, scope: dict, memo: dict | None = None,
                 constant_inputs: tuple = ()):
        self.node = node  # onnx_proto.Node
        self.opset = opset
        self.budget = budget  # FoldBudget at load, RunBudget in predict
        self.subgraphs = subgraphs  # attribute name -> TypedGraph
        self.scope = scope  # the values visible here (what a subgraph reads from outside)
        self.memo = memo  # this node's own store, kept across calls (None while folding)
        self.constant_inputs = constant_inputs  # per input: True where it is a load-time constant or omitted

    def prepared(self, inputs: tuple, key, make):
        """`make()` once per `key` for this node, when the inputs at positions `inputs` are all
        load-time constants or absent (weights): what an operator derives from its weights alone (a
        reordered kernel, a built cell) is then made on the first call only. Otherwise make() each call."""
        if self.memo is None or not all(i >= len(self.constant_inputs) or self.constant_inputs[i] for i in inputs):
            return make()
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    @property
    def label(self) -> str:
        node = self.node
        name = node.name or next((o for o in node.outputs if o), "") or node.op_type
        kind = node.op_type if node.domain in ("", ONNX) else f"{node.domain}.{node.op_type}"
        return f"ONNX {kind} node '{name}' (opset {self.opset})"

    # -- attributes ------------------------------------------------------------------------

    def attr(self, name: str, default=REQUIRED):
        """The attribute's value: a float, an int, bytes, an array (a tensor attribute), a list
        of them; `default` when absent (absent and required: the file is malformed)."""
        from ..importers.onnx_proto import Tensor

        value = self.node.attributes.get(name, REQUIRED)
        if value is REQUIRED:
            if default is REQUIRED:
                raise self.malformed(f"has no attribute '{name}', which it requires")
            return default
        if isinstance(value, Tensor):
            return value.array
        if isinstance(value, list) and value and isinstance(value[0], Tensor):
            return [t.array for t in value]
        return value

    def string(self, name: str, default=REQUIRED) -> str:
        value = self.attr(name, default)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    def strings(self, name: str, default=REQUIRED) -> list:
        value = self.attr(name, default)
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]

    def ints(self, name: str, default=REQUIRED):
        value = self.attr(name, default)
        return value if value is None else tuple(int(v) for v in value)

    def has(self, name: str) -> bool:
        return name in self.node.attributes

    # -- errors ----------------------------------------------------------------------------

    def refuse(self, what: str) -> UnsupportedOptionError:
        """What npinfer does not compute here, by name (raise it)."""
        return UnsupportedOptionError(f"{self.label}: {what}")

    def malformed(self, what: str) -> ModelFormatError:
        """What makes this node invalid ONNX (raise it)."""
        return ModelFormatError(f"{self.label} {what}")

    # -- budgets and subgraphs -------------------------------------------------------------

    def admit(self, shape, dtype, what: str = "an output") -> tuple:
        """Check an array of `shape` and `dtype` against the budget BEFORE making it; return the
        shape as a tuple of ints (a negative or non-integer size is refused)."""
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError, OverflowError):
            raise self.malformed(f"asks for {what} of shape {shape!r}") from None
        if any(d < 0 for d in shape):
            raise self.malformed(f"asks for {what} of negative shape {shape}")
        self.budget.admit(shape, np.dtype(dtype).itemsize, f"{self.label} makes {what} of shape {shape}")
        return shape

    def run_subgraph(self, attribute: str, inputs: list) -> list:
        """Run the graph attribute `attribute` on `inputs` (its formal inputs in order), reading
        outer values from this node's scope; returns its outputs in order."""
        return self.subgraphs[attribute].run(inputs, self.budget, self.scope)
