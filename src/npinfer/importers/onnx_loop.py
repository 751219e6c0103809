"""ONNX Loop, Split and the comparison / logic operators, for the Loop graphs tf2onnx writes.

tf2onnx turns a Keras SimpleRNN, a GRU and an LSTM with non-default activations into a `Loop`
whose body is one time step: Gather the step's input from the sequence, MatMul, Add, the gate
activations, Split, and a condition built from counters (`Less`, `And`, `Cast`). npinfer does not
interpret Loops at run time: when the number of passes is fixed in the file (a fixed sequence
length, as in a look-back window), the body is converted once per pass — unrolled into ordinary
npinfer layers, the counters and the condition folded to constants while loading. A Loop whose
length or condition depends on the data (a variable sequence length) is refused, by name, with
what to do instead.

Semantics (ONNX Loop, opsets 1-21): inputs M (trip count, optional), cond (optional), then the
loop-carried values; the body gets (iteration number, cond, carried...) and returns
(cond, carried..., scan outputs...); the Loop returns the final carried values, then each scan
output stacked along a new first axis.
"""

from __future__ import annotations

from collections import ChainMap

import numpy as np

from .onnx_proto import Graph, all_nodes
from .toolkit.layout import on_axis
from .toolkit.values import Sizes, Tensor, all_constant, as_sizes, fold

MAX_UNROLLED_LAYERS = 100_000  # layers an unrolled Loop may add (Limits.max_layers' default)
_FIXED = ("npinfer unrolls a Loop only when its length is fixed in the file, and here it depends on the input (a "
          "variable sequence length?): export with a fixed sequence length, or load the Keras file itself")


def op_loop(c, args, attrs):
    body = attrs.get("body")
    if not isinstance(body, Graph):
        raise c.refuse("Loop needs a body graph")
    trip, cond = (args + [None, None])[:2]
    carried = list(args[2:])
    if len(body.inputs) != 2 + len(carried) or len(body.outputs) < 1 + len(carried):
        raise ValueError(f"the body takes {len(body.inputs)} inputs and gives {len(body.outputs)} outputs "
                         f"for {len(carried)} loop-carried values")
    fixed = _FIXED
    trips = None if trip is None else int(_fixed(c, trip, "the trip count M", fixed))
    running = True if cond is None else bool(_fixed(c, cond, "the condition", fixed))
    if trips is None and cond is None:
        raise c.refuse("a Loop with neither a trip count nor a condition never ends")
    scans: list[list] = [[] for _ in range(len(body.outputs) - 1 - len(carried))]
    outer_values, outer_suffix, loop_node = c.values, c.suffix, c.node
    start = len(c.layers)
    step = 0
    try:
        while running and (trips is None or step < trips):
            if len(c.layers) - start > MAX_UNROLLED_LAYERS:
                raise c.refuse(f"unrolled, this Loop would add more than {MAX_UNROLLED_LAYERS:,} layers")
            scope = {name: tensor.array for name, tensor in body.initializers.items()}
            passed = [np.array(step, np.int64), np.array(running)] + carried
            scope.update((info.name, value) for info, value in zip(body.inputs, passed))
            c.values = ChainMap(scope, outer_values)
            c.suffix = f"{outer_suffix}_t{step}"
            c.run_nodes(body.nodes)
            missing = [info.name for info in body.outputs if info.name not in c.values]
            if missing:
                raise ValueError(f"the body output '{missing[0]}' is made by no node")
            results = [c.values[info.name] for info in body.outputs]
            c.node = loop_node
            running = bool(_fixed(c, results[0], "the condition the body computes", fixed))
            carried = results[1:1 + len(carried)]
            for values, value in zip(scans, results[1 + len(carried):]):
                values.append(value)
            step += 1
    finally:
        c.values, c.suffix, c.node = outer_values, outer_suffix, loop_node
    if scans and step == 0:
        raise c.refuse("a Loop that runs no pass has empty scan outputs of unknown shape")
    stacked = []
    for k, values in enumerate(scans):
        if all(isinstance(v, np.ndarray) for v in values):
            stacked.append(np.stack(values))
            continue
        if any(isinstance(v, Sizes) and v.constant() is None for v in values):
            raise c.refuse("a scan output that is a list of run-time sizes is not supported")
        parts = []
        for t, value in enumerate(values):
            sizes = as_sizes(value) if not isinstance(value, Tensor) else None
            value = sizes.constant() if sizes is not None and not isinstance(value, np.ndarray) else value
            if isinstance(value, np.ndarray):
                raise c.refuse("a scan output that is constant in some passes and computed in others is not supported")
            parts.append(c.one("tensor.Unsqueeze", {"axes": [0]}, [value], base=f"scan{k}_t{t}"))
        stacked.append(parts[0] if len(parts) == 1 else c.one("tensor.Concat", {"axis": 0}, parts, base=f"scan{k}"))
    return list(carried) + stacked


def _fixed(c, value, what: str, hint: str) -> np.ndarray:
    """A scalar known while loading (a constant, or a size list of numbers) — else a refusal."""
    if isinstance(value, np.ndarray):
        array = value
    else:
        sizes = as_sizes(value)
        array = sizes.constant() if sizes is not None else None
        if array is None:
            raise c.refuse(f"{what} is computed from the data; {hint}")
    if array.size != 1:
        raise ValueError(f"{what} holds {array.size} values, not one")
    return array.reshape(())


def op_split(c, args, attrs):
    x = args[0]
    axis = int(attrs.get("axis", 0))
    count = len(c.node.outputs)
    if c.opset >= 13:
        given = args[1] if len(args) > 1 else None
        sizes = None if given is None else [int(v) for v in np.ravel(c.constant(given, "split"))]
    else:
        sizes = attrs.get("split")
    if isinstance(x, np.ndarray):
        length = x.shape[axis]
    else:
        x = c.tensor(x, "the input of Split")
        length = x.shape[axis]
        if length is None:
            raise c.refuse(f"Split along axis {axis}, whose size is known only at run time, is not supported")
    if sizes is None:
        parts = int(attrs.get("num_outputs", count))
        if parts <= 0:
            raise ValueError(f"num_outputs={parts}")
        each = -(-length // parts)  # ONNX: equal parts, the last one smaller if it does not divide
        sizes = [min(each, length - i * each) for i in range(parts)]
    if len(sizes) != count or sum(sizes) != length or any(s < 0 for s in sizes):
        raise ValueError(f"split sizes {sizes} do not cut {length} into {count} outputs")
    bounds = np.cumsum([0] + list(sizes)).tolist()
    if isinstance(x, np.ndarray):
        return np.split(x, bounds[1:-1], axis=axis)
    rank = len(x.shape)
    results = []
    for k in range(count):
        items = on_axis(axis, rank, {"slice": [bounds[k], bounds[k + 1], 1]})
        results.append(c.one("tensor.Index", {"items": items}, [x], base=f"part{k}"))
    return results


_COMPARE = {"Less": np.less, "LessOrEqual": np.less_equal, "Greater": np.greater, "GreaterOrEqual": np.greater_equal,
            "Equal": np.equal, "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor, "Not": np.logical_not}


def _compare(op_type):
    def convert(c, args, attrs):
        if not all_constant(args):
            why = f"{op_type} is supported between values known while loading (loop counters and constants); this one depends on the data"
            if _decides_a_loop(c, c.node.outputs):
                why += f" — it decides how often a Loop runs; {_FIXED}"
            raise c.refuse(why)
        return [fold(c, _COMPARE[op_type], args, op_type)]
    return convert


def _decides_a_loop(c, names) -> bool:
    """Whether values `names` reach the trip count or condition of a Loop through logic and casts."""
    nodes = list(all_nodes(c.model.graph))
    seen, todo = set(), [n for n in names if n]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in nodes:
            if node.op_type == "Loop" and name in node.inputs[:2]:
                return True
            if node.op_type in _COMPARE or node.op_type in ("Cast", "Identity"):
                if name in node.inputs:
                    todo.extend(o for o in node.outputs if o)
    return False


LOOP_OPERATORS = {"Loop": op_loop, "Split": op_split, **{name: _compare(name) for name in _COMPARE}}
