"""TypedGraph: an ONNX graph (or a Loop / If / Scan body) ready to run on the typed operators.

Built once at load: nodes in dependency order (linear, Kahn's algorithm), every operator and
attribute checked against the registry, nodes whose inputs are all constants folded (counted
against the load budget), and for each value the step after which nothing reads it (so run
frees it). A subgraph reads values of the graphs around it; those names are its `free_names`,
and the node that owns it depends on them.
"""

from __future__ import annotations

import collections
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, ModelFormatError, NpinferError, ResourceLimitError, UnsupportedLayerError
from ..importers.onnx_proto import Graph, Node
from ..limits import Limits, WeightBudget
from ..quiet import run_quietly
from .registry import ML, ONNX, OPERATORS, Call, Operator
from .values import describe

MAX_OPSET = {ONNX: 28, ML: 5}  # the newest opsets whose operators npinfer knows
MIN_OPSET = {ONNX: 7, ML: 1}
FAILURES = (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, ZeroDivisionError, MemoryError)


def quietly(function, *args):
    """function(*args) with NumPy's floating-point warnings off (quiet.run_quietly, as predict on
    the layer tier) and Python's warnings too (an empty mean): ONNX defines inf and NaN results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_quietly(function, *args)


class FoldBudget:
    """Load time: what constant folding makes counts against the file's WeightBudget."""

    def __init__(self, limits: Limits, path: str):
        self.weights = WeightBudget(limits, path)
        self.limits = limits
        self.evaluated = 0

    def admit(self, shape: tuple, itemsize: int, where: str) -> None:
        self.weights.admit(shape, itemsize, where)

    def count(self, label: str) -> None:
        self.evaluated += 1
        if self.evaluated > self.limits.max_evaluated_nodes:
            raise ModelFormatError(f"loading this graph evaluates more than {self.limits.max_evaluated_nodes:,} nodes "
                                   f"(at {label}), over the limit (Limits.max_evaluated_nodes)")


class RunBudget:
    """One predict call: no array over Limits.max_activation_bytes, and at most
    Limits.max_run_nodes node evaluations (Loop and Scan bodies counted each pass)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.evaluated = 0

    def admit(self, shape: tuple, itemsize: int, where: str) -> None:
        count = 1
        for dim in shape:
            count *= dim
        size = count * itemsize
        if size > self.limits.max_activation_bytes:
            raise ResourceLimitError(f"{where}: {size:,} bytes, over the activation limit of "
                                     f"{self.limits.max_activation_bytes:,} (Limits.max_activation_bytes)")

    def count(self, label: str) -> None:
        self.evaluated += 1
        if self.evaluated > self.limits.max_run_nodes:
            raise ResourceLimitError(f"this call evaluates more than {self.limits.max_run_nodes:,} nodes (at {label}: "
                                     "a Loop with a huge trip count?), over the limit (Limits.max_run_nodes)")


@dataclass
class Step:
    node: Node
    op: Operator
    opset: int
    subgraphs: dict  # attribute name -> TypedGraph
    reads: list  # every name it needs: its inputs, and what its subgraphs read from outside
    release: list = field(default_factory=list)  # names nothing reads after this step
    memo: dict = field(default_factory=dict)  # what the operator prepared from constant inputs (Call.prepared)
    constant_inputs: tuple = ()  # per input: a load-time constant (an initializer or folded) or omitted


def node_domain(node: Node) -> str:
    return node.domain if node.domain not in ("", ONNX) else ONNX


def check_opsets(opsets: dict, path: str) -> dict:
    """The model's opset per domain, refusing domains or versions npinfer does not know."""
    versions = {}
    for domain, version in opsets.items():
        domain = domain or ONNX
        if domain not in MAX_OPSET:
            continue  # refused where a node uses it
        if not MIN_OPSET[domain] <= version <= MAX_OPSET[domain]:
            raise UnsupportedLayerError(f"the model imports {domain} opset {version}; npinfer runs "
                                        f"{domain} opsets {MIN_OPSET[domain]} to {MAX_OPSET[domain]}")
        versions[domain] = version
    return versions


def unsupported(graph: Graph) -> list[str]:
    """The operators of `graph` and its subgraphs that the registry does not hold."""
    missing = set()
    stack = [graph]
    while stack:
        g = stack.pop()
        for node in g.nodes:
            if (node_domain(node), node.op_type) not in OPERATORS:
                missing.add(node.op_type if node_domain(node) == ONNX else f"{node.domain}.{node.op_type}")
            for value in node.attributes.values():
                stack.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, Graph))
    return sorted(missing)


class TypedGraph:
    """A graph ready to run: `run(inputs, budget, outer)` returns its outputs in order."""

    def __init__(self, graph: Graph, opsets: dict, path: str, budget: FoldBudget, visible: set, main: bool = False):
        self.name = graph.name
        self.path = path
        self.opsets = opsets
        self.constants: dict = {}
        for name, tensor in graph.initializers.items():
            self.constants[name] = tensor.array
        # the main graph's inputs that have an initializer are constants with a default (old exporters list them)
        self.input_names = [i.name for i in graph.inputs if not (main and i.name in graph.initializers)]
        for name in self.input_names:
            self.constants.pop(name, None)
        self.output_names = [o.name for o in graph.outputs]
        defined = set(self.input_names) | set(self.constants)
        produced: dict[str, int] = {}
        for index, node in enumerate(graph.nodes):
            for name in node.outputs:
                if name and (name in produced or name in defined):
                    raise ModelFormatError(f"the ONNX graph assigns '{name}' twice (node '{node.name or node.op_type}')", path)
                if name:
                    produced[name] = index
        inside = defined | set(produced)
        steps = [self._step(node, inside | visible, budget) for node in graph.nodes]
        self.free_names: set = set()  # names read from the graphs around this one
        for step in steps:
            for name in step.reads:
                if name not in inside:
                    if name not in visible:
                        raise ModelFormatError(f"ONNX node '{step.node.name or step.node.op_type}' reads '{name}', which no node makes", path)
                    self.free_names.add(name)
        for name in self.output_names:
            if name not in inside:
                if name not in visible:
                    raise ModelFormatError(f"ONNX graph output '{name}' is made by no node", path)
                self.free_names.add(name)
        self.steps = self._ordered(steps, produced)
        if main:  # subgraphs are folded after the graphs around them, so they see those graphs' folded values
            self._finish(budget, {})

    def _finish(self, budget: FoldBudget, outer_constants) -> None:
        """Fold this graph's constant steps (reading the outer graphs' constants too), plan when
        values are freed, mark each step's constant inputs; then the same for its subgraphs."""
        self.steps = quietly(self._fold, self.steps, budget, outer_constants)
        self._plan_release()
        for step in self.steps:
            step.constant_inputs = tuple(not name or self._constant(name, outer_constants) for name in step.node.inputs)
            for subgraph in step.subgraphs.values():
                subgraph._finish(budget, collections.ChainMap(self.constants, outer_constants))

    def _step(self, node: Node, visible: set, budget: FoldBudget) -> Step:
        domain = node_domain(node)
        op = OPERATORS[(domain, node.op_type)]
        unknown = sorted(set(node.attributes) - op.attributes)
        label = f"ONNX {node.op_type} node '{node.name or next((o for o in node.outputs if o), node.op_type)}'"
        if unknown:
            from ..errors import UnsupportedOptionError

            raise UnsupportedOptionError(f"{label}: attribute(s) {', '.join(unknown)} are not supported by npinfer "
                                         f"(supported: {', '.join(sorted(op.attributes)) or 'none'})")
        if domain not in self.opsets:
            raise ModelFormatError(f"{label} is in domain {domain}, which the model does not import", self.path)
        subgraphs = {}
        reads = [name for name in node.inputs if name]
        for key, value in node.attributes.items():
            if isinstance(value, Graph):
                subgraph = TypedGraph(value, self.opsets, self.path, budget, visible)
                subgraphs[key] = subgraph
                reads.extend(sorted(subgraph.free_names))
            elif isinstance(value, list) and any(isinstance(v, Graph) for v in value):
                raise UnsupportedLayerError(f"{label}: a list of graphs in attribute '{key}' is not supported by npinfer")
        return Step(node, op, self.opsets[domain], subgraphs, list(dict.fromkeys(reads)))

    def _ordered(self, steps: list[Step], produced: dict) -> list[Step]:
        """The steps in dependency order, file order where free (ONNX files are sorted already)."""
        waiting = [0] * len(steps)
        readers = collections.defaultdict(list)
        for index, step in enumerate(steps):
            makers = {produced[name] for name in step.reads if name in produced}
            makers.discard(index)  # a node reading its own output is a cycle: caught below
            waiting[index] = len(makers) + (1 if any(produced.get(n) == index for n in step.reads) else 0)
            for maker in makers:
                readers[maker].append(index)
        ready = collections.deque(i for i, count in enumerate(waiting) if count == 0)
        order = []
        while ready:
            index = ready.popleft()
            order.append(steps[index])
            for reader in readers[index]:
                waiting[reader] -= 1
                if waiting[reader] == 0:
                    ready.append(reader)
        if len(order) != len(steps):
            stuck = next(steps[i].node for i, count in enumerate(waiting) if count)
            raise ModelFormatError(f"the ONNX graph has a cycle (through node '{stuck.name or stuck.op_type}')", self.path)
        return order

    def _constant(self, name: str, outer) -> bool:
        """`name` is known at load: this graph's constant, or an outer one it reads (never one it shadows)."""
        return name in self.constants or (name in self.free_names and name in outer)

    def _fold(self, steps: list[Step], budget: FoldBudget, outer) -> list[Step]:
        """Evaluate, once, every step that reads constants only (this graph's, or the `outer`
        graphs' that it reads); the rest run per call."""
        remaining = []
        self.folded: list[Step] = []  # the steps evaluated at load, in order (trace lists them)
        for step in steps:
            if step.op.fold and all(self._constant(name, outer) for name in step.reads) and not step.subgraphs:
                self.folded.append(step)
                budget.count(step.node.op_type)
                scope = self.constants
                if any(name not in self.constants for name in step.reads):
                    scope = {**{name: outer[name] for name in step.reads if name not in self.constants}, **self.constants}
                values = self._evaluate(step, scope, budget, folding=True)
                for name, value in zip(step.node.outputs, values):
                    if name:
                        self.constants[name] = value
            else:
                remaining.append(step)
        return remaining

    def _plan_release(self) -> None:
        keep = set(self.output_names)
        last = {}
        for index, step in enumerate(self.steps):
            for name in step.reads:
                last[name] = index
        for name, index in last.items():
            if name not in keep and name not in self.constants and name not in self.free_names:
                self.steps[index].release.append(name)

    # -- running ---------------------------------------------------------------------------

    def _evaluate(self, step: Step, scope: dict, budget, folding: bool = False) -> list:
        node = step.node
        args = [scope[name] if name else None for name in node.inputs]
        call = Call(node, step.opset, budget, step.subgraphs, scope, None if folding else step.memo, step.constant_inputs)
        try:  # NumPy's floating-point warnings are silenced around the whole run (quietly)
            result = step.op.fn(call, *args)
        except NpinferError:
            raise
        except FAILURES as err:
            given = ", ".join(describe(a) if a is not None else "none" for a in args)
            text = f"{call.label} cannot compute on ({given}): {type(err).__name__}: {err}"[:500]
            if folding:
                raise ModelFormatError(text, self.path) from err
            raise InputError(text) from err
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        for index, name in enumerate(node.outputs):
            if name and index >= len(results):
                raise call.refuse(f"output {index} ('{name}') is not computed by npinfer "
                                  f"(it computes the first {len(results)})")
        return results

    def run(self, inputs: list, budget, outer: dict | None = None, wanted: set | None = None) -> list:
        """The graph's outputs for `inputs` (its formal inputs in order); `outer` holds the values
        of the graphs around it; names in `wanted` are kept and returned in a dict after them."""
        if len(inputs) != len(self.input_names):
            raise ModelFormatError(f"graph '{self.name}' takes {len(self.input_names)} inputs, given {len(inputs)}", self.path)
        if outer is None:  # the main graph: warnings off once around the whole run, not per node
            return quietly(self._run, inputs, budget, outer, wanted)
        return self._run(inputs, budget, outer, wanted)

    def _run(self, inputs: list, budget, outer: dict | None, wanted: set | None) -> list:
        scope = dict(self.constants)
        if outer is not None:
            for name in self.free_names:
                if name in outer:
                    scope[name] = outer[name]
        scope.update(zip(self.input_names, inputs))
        kept = {}
        for step in self.steps:
            budget.count(step.node.op_type)
            for name, value in zip(step.node.outputs, self._evaluate(step, scope, budget)):
                if name:
                    scope[name] = value
                    if wanted and name in wanted:
                        kept[name] = value
            for name in step.release:
                del scope[name]
        missing = [name for name in self.output_names if name not in scope]
        if missing:
            raise ModelFormatError(f"graph output '{missing[0]}' was not computed", self.path)
        results = [scope[name] for name in self.output_names]
        if wanted:
            kept.update({name: scope[name] for name in wanted if name in scope})
            results.append(kept)
        return results
