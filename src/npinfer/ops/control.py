"""ONNX operators: control flow, sequences and optionals (tensor tier).

If / Loop / Scan / SequenceMap run their graph attributes with `call.run_subgraph`, once per
pass; every pass is counted against the call's node budget (Limits.max_run_nodes) besides the
nodes of the body, so a Loop with a huge trip count and an always-true condition ends in a
ResourceLimitError, even with an empty body. Scan outputs are admitted against the activation
limit as they accumulate, before they are stacked. Sequences are never changed in place (a
folded constant or an outer value may be shared): an operator that copies one counts one more
node per COPY_CHUNK items copied, and a sequence's bytes together are admitted like one array.
See ops/registry.py for the operator contract.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .registry import Call, operator
from .values import INTEGERS, OptionalValue, SequenceValue, describe, numpy_dtype, type_name

COPY_CHUNK = 1024  # list items copied per node counted (a copy of n items costs about as much as n // 1024 nodes)
ITEM_OVERHEAD = 128  # bytes a sequence item costs beyond its data (the array object, the list slot)


# -- shared checks -------------------------------------------------------------------------

def flag(call: Call, value, what: str) -> bool:
    """A condition: a bool tensor of one element."""
    value = np.asarray(value) if isinstance(value, np.generic) else value  # a 0-d result some NumPy calls give
    if not isinstance(value, np.ndarray) or value.dtype != np.bool_ or value.size != 1:
        raise call.malformed(f"needs {what} as a bool tensor of one element, got {describe(value)}")
    return bool(value.reshape(-1)[0])


def whole(call: Call, value, what: str) -> int:
    """An integer tensor of one element (a trip count, a position, a split size)."""
    value = np.asarray(value) if isinstance(value, np.generic) else value
    if not isinstance(value, np.ndarray) or value.dtype not in INTEGERS or value.size != 1:
        raise call.malformed(f"needs {what} as an integer tensor of one element, got {describe(value)}")
    return int(value.reshape(-1)[0])


def tensor(call: Call, value, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise call.malformed(f"needs {what} as a tensor, got {describe(value)}")
    return value


def sequence(call: Call, value, what: str = "its input") -> SequenceValue:
    if not isinstance(value, SequenceValue):
        raise call.malformed(f"needs {what} as a sequence, got {describe(value)}")
    return value


def count_pass(call: Call) -> None:
    """One pass of a body, counted like a node evaluation (an empty body still counts)."""
    call.budget.count(f"{call.node.op_type} pass")


def count_copy(call: Call, items: int) -> None:
    """Copying a list of `items` costs node evaluations too (a Loop growing a sequence is
    quadratic in the passes: this keeps its time within the node budget)."""
    for _ in range(items // COPY_CHUNK):
        call.budget.count(f"{call.node.op_type} copying {items:,} sequence items")


def sequence_bytes(value: SequenceValue) -> int:
    """The bytes of a sequence's items together (counted once, then kept on the value)."""
    if value.nbytes is None:
        value.nbytes = sum(item.nbytes for item in value.items)
    return value.nbytes


def make_sequence(call: Call, items: list, dtype, nbytes: int | None = None) -> SequenceValue:
    """A new sequence of `items`, its bytes together (and each item's overhead) admitted as one
    array against the activation limit; `nbytes` when the caller knows the data's bytes."""
    if nbytes is None:
        nbytes = sum(item.nbytes for item in items)
    call.admit((nbytes + ITEM_OVERHEAD * len(items),), np.uint8, f"a sequence of {len(items):,} tensors")
    value = SequenceValue(items, None if dtype is None else np.dtype(dtype))
    value.nbytes = nbytes
    return value


def same_element_type(call: Call, value: SequenceValue, item: np.ndarray) -> None:
    if value.dtype is not None and item.dtype != value.dtype:
        raise call.malformed(f"puts a {type_name(item.dtype)} tensor into a sequence of {type_name(value.dtype)}")


def position(call: Call, value, length: int, end_allowed: bool) -> int:
    """A position in a sequence of `length` (negative counts from the back), checked against
    [-length, length - 1], or [-length, length] where the end is allowed (SequenceInsert)."""
    index = whole(call, value, "its position")
    top = length if end_allowed else length - 1
    if not -length <= index <= top:
        raise InputError(f"{call.label}: position {index} is outside [{-length}, {top}] for a sequence of {length}")
    return index + length if index < 0 else index


# -- what a subgraph declares --------------------------------------------------------------

def declared_output(call: Call, attribute: str, index: int, what: str):
    """(dtype, shape) the graph attribute declares for its output `index` (shape None when not
    declared; unknown dims None), for the outputs of zero passes."""
    info = call.node.attributes[attribute].outputs[index]
    if info.kind != "tensor" or info.elem_type is None:
        raise call.refuse(f"makes {what} '{info.name}' over zero passes, and its body declares no tensor type for it")
    dtype = numpy_dtype(info.elem_type, f"{call.label}: {what} '{info.name}'")
    shape = None if info.shape is None else [d if isinstance(d, int) and d >= 0 else None for d in info.shape]
    return dtype, shape


class Stack:
    """One scan output (output `index` of the graph attribute `attribute`): its per-pass slices
    (one type and shape each pass), admitted as the stacked array they will make, pass by pass,
    before they accumulate."""

    def __init__(self, call: Call, attribute: str, index: int, what: str):
        self.call, self.attribute, self.index, self.what = call, attribute, index, what
        self.slices: list = []

    def add(self, value) -> None:
        call = self.call
        value = tensor(call, value, self.what)
        if self.slices:
            first = self.slices[0]
            if value.dtype != first.dtype or value.shape != first.shape:
                raise InputError(f"{call.label}: {self.what} is {describe(value)} in pass {len(self.slices)}, "
                                 f"{describe(first)} in pass 0 (each pass must give one type and shape)")
        call.admit((len(self.slices) + 1,) + value.shape, value.dtype, self.what)
        self.slices.append(value)

    def stacked(self, axis: int = 0, reverse: bool = False, undeclared_shape=()) -> np.ndarray:
        """The slices stacked along a new `axis` (last pass first when `reverse`). Zero passes
        give an empty array of the body's declared type and shape, as ONNX Runtime makes it:
        unknown dims 0, and `undeclared_shape` where the body declares no shape (None: refused)."""
        if self.slices:
            rank = self.slices[0].ndim + 1
            if not -rank <= axis < rank:
                raise self.call.malformed(f"stacks {self.what} of rank {rank - 1} along axis {axis}")
            return np.stack(self.slices[::-1] if reverse else self.slices, axis=axis)
        dtype, shape = declared_output(self.call, self.attribute, self.index, self.what)
        if shape is None:
            if undeclared_shape is None:
                raise self.call.refuse(f"makes {self.what} over zero passes, and its body declares no shape for it")
            return np.zeros(undeclared_shape, dtype)
        rank = len(shape) + 1
        if not -rank <= axis < rank:
            raise self.call.malformed(f"stacks {self.what} of rank {len(shape)} along axis {axis}")
        shape = [0 if d is None else d for d in shape]
        axis = axis + rank if axis < 0 else axis
        return np.zeros(tuple(shape[:axis]) + (0,) + tuple(shape[axis:]), dtype)


# -- If and Loop ---------------------------------------------------------------------------

@operator("If", attributes=("then_branch", "else_branch"), fold=False)
def if_(call: Call, cond):
    """The outputs of then_branch or else_branch (which may differ in shape)."""
    branch = "then_branch" if flag(call, cond, "its condition") else "else_branch"
    outputs = call.run_subgraph(branch, [])
    if len(outputs) != len(call.node.outputs):
        raise call.malformed(f"has {len(call.node.outputs)} outputs; its {branch} gives {len(outputs)}")
    return tuple(outputs)


@operator("Loop", attributes=("body",), fold=False)
def loop(call: Call, trip_count, cond, *initial):
    """Run the body while the pass number is below M (if given) and the condition holds (if
    given); the loop-carried values are its final state, the scan outputs stacked on axis 0."""
    body = call.subgraphs["body"]
    carried = list(initial)
    scans = len(body.output_names) - 1 - len(carried)
    if len(body.input_names) != 2 + len(carried) or scans < 0:
        raise call.malformed(f"has {len(carried)} loop-carried values; its body takes {len(body.input_names)} inputs "
                             f"and gives {len(body.output_names)} outputs (needs 2 + N inputs, 1 + N + K outputs)")
    if len(call.node.outputs) > len(carried) + scans:
        raise call.malformed(f"has {len(call.node.outputs)} outputs; its body gives {len(carried)} + {scans}")
    limit = None if trip_count is None else whole(call, trip_count, "its trip count M")
    going = True if cond is None else flag(call, cond, "its condition")
    stacks = [Stack(call, "body", 1 + len(carried) + k, f"scan output {k}") for k in range(scans)]
    index = 0
    while going and (limit is None or index < limit):
        count_pass(call)
        outputs = call.run_subgraph("body", [np.array(index, np.int64), np.array(going), *carried])
        going = flag(call, outputs[0], "its body's condition output")
        carried = outputs[1:1 + len(carried)]
        for stack, value in zip(stacks, outputs[1 + len(carried):]):
            stack.add(value)
        index += 1
    # zero passes where the body declares no shape: refused (ONNX Runtime takes its inferred shape, or (0,))
    return tuple(carried) + tuple(stack.stacked(undeclared_shape=None) for stack in stacks)


# -- Scan ----------------------------------------------------------------------------------

def scan_passes(call: Call, states: list, sequences: list, reverse: list, length: int, stacks: list) -> list:
    """Run the body `length` times on the states and one slice of each sequence (scan axis
    first; the last slice first where `reverse`); the slices it gives go to `stacks`; returns
    the final states."""
    for step in range(length):
        count_pass(call)
        slices = [s[length - 1 - step] if back else s[step] for s, back in zip(sequences, reverse)]
        outputs = call.run_subgraph("body", states + slices)
        states = outputs[:len(states)]
        for stack, value in zip(stacks, outputs[len(states):]):
            stack.add(value)
    return states


def scan_layout(call: Call, body, inputs: tuple, scans: int) -> tuple[int, int]:
    """(N states, K scan outputs), with the body's inputs and outputs checked against them."""
    states = len(inputs) - scans
    if scans < 1 or states < 0:
        raise call.malformed(f"has num_scan_inputs {scans} for {len(inputs)} inputs")
    outputs = len(body.output_names) - states
    if len(body.input_names) != len(inputs) or outputs < 0:
        raise call.malformed(f"has {states} states and {scans} scan inputs; its body takes {len(body.input_names)} "
                             f"inputs and gives {len(body.output_names)} outputs")
    if len(call.node.outputs) > states + outputs:
        raise call.malformed(f"has {len(call.node.outputs)} outputs; its body gives {states + outputs}")
    return states, outputs


def per_item(call: Call, name: str, count: int, default: int, choices=None) -> tuple:
    """An ints attribute with one value per scan input or output (`default` each when absent)."""
    values = call.ints(name, (default,) * count)
    if len(values) != count:
        raise call.malformed(f"has {len(values)} values in '{name}' for {count} scan inputs or outputs")
    if choices is not None and any(v not in choices for v in values):
        raise call.malformed(f"has '{name}' {list(values)}; each must be one of {sorted(choices)}")
    return values


@operator("Scan", attributes=("body", "num_scan_inputs", "directions", "scan_input_axes", "scan_input_directions",
                              "scan_output_axes", "scan_output_directions"), fold=False)
def scan(call: Call, *inputs):
    """Opset 9 on: states carried through the body once per slice of the scan inputs (each
    along its axis, either direction); scan outputs stacked along their axes. Opset 8: see scan8."""
    if call.opset < 9:
        return scan8(call, inputs[0], inputs[1:])
    if call.has("directions"):
        raise call.malformed("has 'directions', which Scan has only in opset 8 (scan_input_directions since)")
    body = call.subgraphs["body"]
    n_states, n_outputs = scan_layout(call, body, inputs, call.attr("num_scan_inputs"))
    states, scanned = list(inputs[:n_states]), [tensor(call, x, "a scan input") for x in inputs[n_states:]]
    sequences = []
    for x, axis in zip(scanned, per_item(call, "scan_input_axes", len(scanned), 0)):
        if not -x.ndim <= axis < x.ndim:
            raise call.malformed(f"scans a rank-{x.ndim} input along axis {axis}")
        sequences.append(np.moveaxis(x, axis, 0))  # (steps, ...)
    lengths = sorted({s.shape[0] for s in sequences})
    if len(lengths) != 1:
        raise InputError(f"{call.label}: its scan inputs have {lengths} steps along their axes; they must agree")
    reverse = per_item(call, "scan_input_directions", len(scanned), 0, {0, 1})
    axes = per_item(call, "scan_output_axes", n_outputs, 0)
    backwards = per_item(call, "scan_output_directions", n_outputs, 0, {0, 1})
    stacks = [Stack(call, "body", n_states + k, f"scan output {k}") for k in range(n_outputs)]
    states = scan_passes(call, states, sequences, reverse, lengths[0], stacks)
    return tuple(states) + tuple(stack.stacked(axis, bool(back), undeclared_shape=None)
                                 for stack, axis, back in zip(stacks, axes, backwards))


def scan8(call: Call, sequence_lens, inputs: tuple):
    """Scan opset 8: every input has a batch axis first, scan inputs their steps second; batch
    item b runs sequence_lens[b] steps (1 to the most, as ONNX Runtime checks) and its scan
    outputs are zero after them; `directions` reverses a scan input."""
    for name in ("scan_input_axes", "scan_input_directions", "scan_output_axes", "scan_output_directions"):
        if call.has(name):
            raise call.malformed(f"has '{name}', which Scan has only from opset 9")
    body = call.subgraphs["body"]
    n_states, n_outputs = scan_layout(call, body, inputs, call.attr("num_scan_inputs"))
    inputs = [tensor(call, x, "an input") for x in inputs]
    states, scanned = inputs[:n_states], inputs[n_states:]
    if any(x.ndim < 1 for x in states) or any(x.ndim < 2 for x in scanned):
        raise call.malformed("needs a batch axis on every input and a step axis on every scan input")
    batches = sorted({x.shape[0] for x in inputs})
    steps = sorted({x.shape[1] for x in scanned})
    if len(batches) != 1 or len(steps) != 1:
        raise InputError(f"{call.label}: its inputs have batch sizes {batches} and its scan inputs {steps} steps; "
                         "each must agree")
    batch, most = batches[0], steps[0]
    if batch == 0:
        raise call.refuse("scans an empty batch")
    if sequence_lens is None:
        lengths = [most] * batch
    else:
        if not isinstance(sequence_lens, np.ndarray) or sequence_lens.dtype != np.int64 or sequence_lens.shape != (batch,):
            raise call.malformed(f"needs sequence_lens as int64[{batch}], got {describe(sequence_lens)}")
        lengths = [int(n) for n in sequence_lens]
        if any(not 1 <= n <= most for n in lengths):
            raise InputError(f"{call.label}: sequence_lens {lengths} must lie in [1, {most}]")
    reverse = per_item(call, "directions", len(scanned), 0, {0, 1})
    finals = [Stack(call, "body", i, f"state {i}") for i in range(n_states)]
    outputs = [Stack(call, "body", n_states + k, f"scan output {k}") for k in range(n_outputs)]
    for b, length in enumerate(lengths):
        stacks = [Stack(call, "body", n_states + k, f"scan output {k}") for k in range(n_outputs)]
        ends = scan_passes(call, [s[b] for s in states], [x[b, :length] for x in scanned], reverse, length, stacks)
        for final, value in zip(finals, ends):
            final.add(value)
        for output, stack in zip(outputs, stacks):  # (length, ...) padded with zeros to (most, ...)
            part = stack.stacked()
            call.admit((most,) + part.shape[1:], part.dtype, output.what)
            output.add(np.concatenate([part, np.zeros((most - length,) + part.shape[1:], part.dtype)]))
    return tuple(final.stacked() for final in finals) + tuple(output.stacked() for output in outputs)


# -- sequences -----------------------------------------------------------------------------

@operator("SequenceEmpty", attributes=("dtype",))
def sequence_empty(call: Call):
    return make_sequence(call, [], numpy_dtype(call.attr("dtype", 1), f"{call.label}: its dtype"))


@operator("SequenceConstruct")
def sequence_construct(call: Call, *items):
    items = [tensor(call, item, "its inputs") for item in items]
    if not items:
        raise call.malformed("has no inputs")
    dtypes = sorted({type_name(item.dtype) for item in items})
    if len(dtypes) != 1:
        raise call.malformed(f"mixes element types {', '.join(dtypes)}; a sequence has one")
    return make_sequence(call, items, items[0].dtype)


@operator("SequenceAt")
def sequence_at(call: Call, value, at):
    value = sequence(call, value)
    return value.items[position(call, at, len(value), end_allowed=False)]


@operator("SequenceLength")
def sequence_length(call: Call, value):
    return np.array(len(sequence(call, value)), np.int64)


@operator("SequenceInsert")
def sequence_insert(call: Call, value, item, at=None):
    """A new sequence with `item` at `at` (the end when omitted)."""
    value, item = sequence(call, value), tensor(call, item, "the tensor it inserts")
    same_element_type(call, value, item)
    index = len(value) if at is None else position(call, at, len(value), end_allowed=True)
    count_copy(call, len(value))
    items = value.items[:index] + [item] + value.items[index:]
    return make_sequence(call, items, item.dtype, sequence_bytes(value) + item.nbytes)


@operator("SequenceErase")
def sequence_erase(call: Call, value, at=None):
    """A new sequence without the item at `at` (the last when omitted)."""
    value = sequence(call, value)
    if at is None and not len(value):
        raise InputError(f"{call.label}: erases from an empty sequence")
    index = len(value) - 1 if at is None else position(call, at, len(value), end_allowed=False)
    count_copy(call, len(value))
    items = value.items[:index] + value.items[index + 1:]
    return make_sequence(call, items, value.dtype, sequence_bytes(value) - value.items[index].nbytes)


@operator("SplitToSequence", attributes=("axis", "keepdims"))
def split_to_sequence(call: Call, x, split=None):
    """`x` cut along `axis`: into pieces of the sizes in a 1-D `split`, pieces of `split` items
    (the last smaller) for a scalar one, or single items (squeezed unless keepdims) without it."""
    x = tensor(call, x, "its input")
    axis = call.attr("axis", 0)
    if not -x.ndim <= axis < x.ndim:
        raise call.malformed(f"splits a rank-{x.ndim} tensor along axis {axis}")
    axis %= x.ndim
    size = x.shape[axis]
    piece, sizes = 1, None  # pieces of `piece` items (the last smaller), or of the listed `sizes`
    if split is not None:
        split = tensor(call, split, "its split")
        if split.dtype not in (np.dtype(np.int32), np.dtype(np.int64)) or split.ndim > 1:
            raise call.malformed(f"needs split as an int32 / int64 scalar or 1-D tensor, got {describe(split)}")
        if split.ndim == 0:
            piece = int(split)
            if piece < 1:
                raise InputError(f"{call.label}: split {piece} must be positive")
        else:
            sizes = split.astype(np.int64)
            if np.any(sizes < 0) or int(sizes.sum()) != size:
                raise InputError(f"{call.label}: split {sizes.tolist()} must be sizes (>= 0) adding up to {size}")
    count = len(sizes) if sizes is not None else -(-size // piece)
    count_copy(call, count)  # the items are admitted before any list of them is made
    call.admit((ITEM_OVERHEAD * count,), np.uint8, f"a sequence of {count:,} tensors")
    bounds = np.cumsum(np.concatenate([[0], sizes])) if sizes is not None else np.minimum(np.arange(count + 1) * piece, size)
    squeeze = split is None and not call.attr("keepdims", 1)
    lead = (slice(None),) * axis
    pieces = [x[lead + (int(lo),)] if squeeze else x[lead + (slice(int(lo), int(hi)),)]  # views of x
              for lo, hi in zip(bounds[:-1], bounds[1:])]
    return make_sequence(call, pieces, x.dtype, x.nbytes)


@operator("ConcatFromSequence", attributes=("axis", "new_axis"))
def concat_from_sequence(call: Call, value):
    """The sequence's tensors joined along `axis` (stacked on a new axis there when new_axis)."""
    value = sequence(call, value)
    if not len(value):
        raise InputError(f"{call.label}: joins an empty sequence")
    items, axis, new = value.items, call.attr("axis"), bool(call.attr("new_axis", 0))
    first = items[0]
    rank = first.ndim + (1 if new else 0)
    if not -rank <= axis < rank:
        raise call.malformed(f"joins rank-{first.ndim} tensors along axis {axis}{' (a new axis)' if new else ''}")
    axis %= rank
    for item in items:
        if item.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(item.shape, first.shape))
                                          if new or i != axis):
            raise InputError(f"{call.label}: cannot join {describe(first)} and {describe(item)} along axis {axis}")
    if new:
        shape = first.shape[:axis] + (len(items),) + first.shape[axis:]
    else:
        if first.ndim == 0:
            raise call.malformed("concatenates scalars (new_axis 0 needs tensors of rank 1 or more)")
        shape = first.shape[:axis] + (sum(item.shape[axis] for item in items),) + first.shape[axis + 1:]
    call.admit(shape, first.dtype)
    return np.stack(items, axis=axis) if new else np.concatenate(items, axis=axis)


@operator("SequenceMap", attributes=("body",), fold=False)
def sequence_map(call: Call, value, *extra):
    """The body run on each item of the sequence (with the same item of each extra sequence, or
    each extra tensor whole); each body output gathered into a sequence."""
    value = sequence(call, value)
    body = call.subgraphs["body"]
    if len(body.input_names) != 1 + len(extra) or len(call.node.outputs) > len(body.output_names):
        raise call.malformed(f"has {1 + len(extra)} inputs and {len(call.node.outputs)} outputs; its body takes "
                             f"{len(body.input_names)} and gives {len(body.output_names)}")
    for other in extra:
        if isinstance(other, SequenceValue) and len(other) != len(value):
            raise InputError(f"{call.label}: maps sequences of {len(value)} and {len(other)} items")
    gathered = [[] for _ in body.output_names]
    sizes = [0] * len(gathered)
    for index, item in enumerate(value.items):
        count_pass(call)
        args = [item] + [other.items[index] if isinstance(other, SequenceValue) else other for other in extra]
        for k, out in enumerate(call.run_subgraph("body", args)):
            out = tensor(call, out, f"body output {k}")
            sizes[k] += out.nbytes
            call.admit((sizes[k] + ITEM_OVERHEAD * (index + 1),), np.uint8, f"a sequence of {index + 1:,} tensors")
            gathered[k].append(out)
    results = []
    for k, items in enumerate(gathered):
        if items:
            dtype = items[0].dtype
            if any(item.dtype != dtype for item in items):
                raise InputError(f"{call.label}: body output {k} changes its element type between items")
        else:
            info = call.node.attributes["body"].outputs[k]
            dtype = numpy_dtype(info.elem_type, f"{call.label}: body output {k}") if info.elem_type else None
        results.append(make_sequence(call, items, dtype, sizes[k]))
    return tuple(results)


# -- optionals -----------------------------------------------------------------------------

@operator("Optional", attributes=("type",))
def optional(call: Call, value=None):
    """An optional holding `value`, or an empty one (of the type attribute) without it."""
    if value is None and not call.has("type"):
        raise call.malformed("has neither an input nor the 'type' of its empty optional")
    if isinstance(value, OptionalValue):
        raise call.malformed("wraps an optional in an optional")
    return OptionalValue(value)


@operator("OptionalHasElement")
def optional_has_element(call: Call, value=None):
    """Whether an optional holds a value; a tensor or sequence counts as one (ONNX says so from
    opset 18; its backend suite feeds a Loop's optional state a sequence at opset 16 too), an
    omitted input (opset 18 on) as none."""
    if isinstance(value, OptionalValue):
        return np.array(value.value is not None)
    if value is None and call.opset < 18:
        raise call.malformed("has no input (allowed from opset 18)")
    return np.array(value is not None)


@operator("OptionalGetElement")
def optional_get_element(call: Call, value):
    """The value an optional holds (an empty one is an error); a tensor or sequence passes
    through (as for OptionalHasElement)."""
    if value is None:
        raise call.malformed("has no input")
    if isinstance(value, OptionalValue):
        if value.value is None:
            raise InputError(f"{call.label}: the optional is empty")
        return value.value
    return value
