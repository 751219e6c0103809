"""ONNX LSTM / GRU / RNN nodes -> npinfer's own recurrent layers, on the canonical cells (so
ONNX models get the fast kernels, paired directions, trace and export as Keras models do).

The ONNX layout becomes the canonical one here, by one definition (_Layout) that computes on
constants while loading, and writes tensor ops for weights the graph feeds at run time (as
ONNX's own test cases do):
- gates: LSTM i, o, f, c -> Keras's i, f, c, o; GRU z, r, h and RNN as they are;
- W (directions, G*hidden, input) -> kernel (input, G*hidden) per direction; R likewise ->
  recurrent_kernel; B = [Wb; Rb] -> bias Wb + Rb (GRU with linear_before_reset: Keras's
  reset_after, bias (2, 3*hidden) = [Wb; Rb]); P [i, o, f] -> peepholes (3, hidden) [i; f; o];
- direction: reverse -> go_backwards (the outputs flipped back to time order), bidirectional
  -> Bidirectional with merge_mode None;
- sequence_lens -> a mask (tensor.SequenceMask): past a row's length the states are held and
  the outputs are zeros (zero_output_for_mask), and the reverse direction starts at the row's
  own last step;
- layout 0 (time, batch, ...) -> batch first, and the outputs back to ONNX's shapes.

Where the spec leaves room, ONNX Runtime's choices (as ONNX Runtime 1.32 runs them):
- `clip` bounds every gate's whole pre-activation (peepholes added), never the cell state;
- activation parameters: one list of alphas and one of betas for all the node's functions in
  order (forward direction first); a value is taken only by a function that uses it. Where
  ONNX Runtime and the ONNX operator defaults disagree (Affine, ScaledTanh, ThresholdedRelu
  without values) the node is refused rather than guessed;
- a row of length 0 ends with zero states, whatever the initial ones.
"""

from __future__ import annotations

import numpy as np

from .toolkit import emit
from .toolkit.activations import RECURRENT_DEFAULTS, RECURRENT_SIMPLE, RECURRENT_SUPPORTED, RECURRENT_USES, onnx_recurrent
from .toolkit.values import Tensor, text

LAYERS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
GATES = {"LSTM": [0, 2, 3, 1], "GRU": [0, 1, 2], "RNN": [0]}  # the ONNX gate blocks, in Keras's order
FUNCTIONS_PER_DIRECTION = {"LSTM": 3, "GRU": 2, "RNN": 1}
DEFAULT_FUNCTIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}


def resolve_activations(c, kind: str, directions: int, attrs: dict) -> list:
    """The node's activation functions, canonical, forward direction first."""
    names = attrs.get("activations")
    per = FUNCTIONS_PER_DIRECTION[kind]
    if names is None:
        names = DEFAULT_FUNCTIONS[kind] * directions
    else:
        names = [text(n) for n in names]
        if kind == "RNN" and directions == 1 and len(names) == 2:
            names = names[:1]  # the schema default ["Tanh", "Tanh"] on a one-direction RNN: the first is used
        if len(names) != per * directions:
            raise c.refuse(f"activations {names}: a {kind} with {directions} direction(s) needs {per * directions}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    resolved = []
    for name in names:
        key = name.lower()
        if key not in RECURRENT_SIMPLE and key not in RECURRENT_USES:
            raise c.refuse(f"activation '{name}' is not supported; supported: {RECURRENT_SUPPORTED}")
        needs_alpha, needs_beta = RECURRENT_USES.get(key, (False, False))
        default_alpha, default_beta = RECURRENT_DEFAULTS.get(key, (None, None))
        values = {}
        for needed, given, default, label in ((needs_alpha, alphas, default_alpha, "alpha"), (needs_beta, betas, default_beta, "beta")):
            if not needed:
                continue
            if given:
                values[label] = float(given.pop(0))
            elif default is not None:
                values[label] = default
            else:  # ONNX Runtime would use 0, the ONNX operator a different default: do not guess
                raise c.refuse(f"activation '{name}' needs an explicit activation_{label}")
        resolved.append(onnx_recurrent(c, key, values.get("alpha"), values.get("beta")))
    return resolved


class _Layout:
    """Layout steps on a constant (NumPy, while loading) or a tensor the graph feeds (a tensor
    op each), so that one definition of the canonical layout serves both."""

    def __init__(self, c):
        self.c = c

    def op(self, class_name, config, value, base, function):
        if isinstance(value, np.ndarray):
            return function(value)
        return self.c.one(class_name, config, [self.c.tensor(value, base)], base=base)

    def index(self, value, d, base):
        return self.op("tensor.Index", {"items": [{"index": d}]}, value, base, lambda v: v[d])

    def rows(self, value, indices, base):
        indices = [int(i) for i in indices]
        return self.op("tensor.Take", {"indices": indices, "axis": 0}, value, base, lambda v: v[indices])

    def transpose(self, value, base):
        return self.op("tensor.Transpose", {"perm": [1, 0]}, value, base, lambda v: v.T)

    def part(self, value, start, stop, base):
        return self.op("tensor.Index", {"items": [{"slice": [start, stop, None]}]}, value, base, lambda v: v[start:stop])

    def reshape(self, value, shape, base):
        return self.op("tensor.Reshape", {"shape": list(shape)}, value, base, lambda v: v.reshape(shape))

    def add(self, a, b, base):
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return a + b
        return self.c.one("tensor.Binary", {"op": "add"}, [self.c.tensor(a, base), self.c.tensor(b, base)], base=base)

    def stack(self, parts, base):
        if all(isinstance(p, np.ndarray) for p in parts):
            return np.stack(parts)
        return self.c.one("tensor.Stack", {"axis": 0}, [self.c.tensor(p, base) for p in parts], base=base)


def direction_weights(c, kind, d, hidden, w, r, bias, peepholes, reset_after):
    """Direction d's weights in the canonical layout: {name: constant or fed tensor}."""
    layout = _Layout(c)
    blocks = GATES[kind]
    order = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in blocks])  # ONNX rows in Keras's gate order
    weights = {
        "kernel": layout.transpose(layout.rows(layout.index(w, d, f"W{d}"), order, f"W{d}_gates"), f"kernel{d}"),
        "recurrent_kernel": layout.transpose(layout.rows(layout.index(r, d, f"R{d}"), order, f"R{d}_gates"), f"recurrent{d}"),
    }
    if bias is not None:
        b, g = layout.index(bias, d, f"B{d}"), len(blocks) * hidden  # (2*G*hidden,) = [Wb; Rb]
        wb, rb = layout.part(b, 0, g, f"Wb{d}"), layout.part(b, g, 2 * g, f"Rb{d}")
        weights["bias"] = layout.stack([wb, rb], f"bias{d}") if reset_after else \
            layout.rows(layout.add(wb, rb, f"Bsum{d}"), order, f"bias{d}")
    if peepholes is not None:  # (3*hidden,) [i, o, f] -> (3, hidden) [i; f; o]
        p = layout.reshape(layout.index(peepholes, d, f"P{d}"), (3, hidden), f"P{d}_rows")
        weights["peepholes"] = layout.rows(p, [0, 2, 1], f"peepholes{d}")
    return weights


def layer_config(kind, hidden, functions, clip, attrs, weights, reverse, return_sequences, return_state):
    config = {"units": hidden, "use_bias": "bias" in weights, "clip": clip, "return_sequences": return_sequences,
              "return_state": return_state, "go_backwards": reverse, "zero_output_for_mask": True,
              "fed": sorted(k for k, v in weights.items() if not isinstance(v, np.ndarray))}
    if kind == "RNN":
        return {**config, "activation": functions[0]}
    config.update(recurrent_activation=functions[0], activation=functions[1])
    if kind == "GRU":
        return {**config, "reset_after": bool(attrs.get("linear_before_reset", 0))}
    return {**config, "cell_activation": None if functions[2] == functions[1] else functions[2],
            "peepholes": "peepholes" in weights, "input_forget": bool(attrs.get("input_forget", 0))}


def node_options(c, kind: str, attrs: dict) -> tuple:
    """An ONNX LSTM / GRU / RNN node's attributes, checked, as both tiers read them:
    (direction, number of directions, layout, clip or None, canonical activations forward
    direction first). `c` refuses by name (the importer's converter or the tensor tier's Call)."""
    direction = text(attrs.get("direction", b"forward"))
    if direction not in ("forward", "reverse", "bidirectional"):
        raise c.refuse(f"direction={direction!r} is not supported; supported: forward, reverse, bidirectional")
    directions = 2 if direction == "bidirectional" else 1
    layout = int(attrs.get("layout", 0))
    if layout not in (0, 1):
        raise c.refuse(f"layout={layout} is not supported; supported: 0, 1")
    clip = attrs.get("clip")
    if clip is not None:
        if kind != "RNN" and clip <= 0:
            raise c.refuse(f"clip={clip} is not supported (it must be positive)")
        clip = None if clip < 0 else float(clip)  # ONNX Runtime: an RNN's negative clip is no clip
    if kind == "GRU" and attrs.get("linear_before_reset", 0) not in (0, 1):
        raise c.refuse("linear_before_reset must be 0 or 1")
    if kind == "LSTM" and attrs.get("input_forget", 0) not in (0, 1):
        raise c.refuse("input_forget must be 0 or 1")
    return direction, directions, layout, clip, resolve_activations(c, kind, directions, attrs)


def convert_recurrent(c, args, attrs):
    kind = c.node.op_type
    x = c.tensor(args[0], "X")
    w, r = args[1], args[2]
    optional = (args + [None] * 8)[3:8]
    bias, lengths, initial_h = optional[:3]
    initial_c, peepholes = (optional[3], optional[4]) if kind == "LSTM" else (None, None)
    direction, directions, layout, clip, functions = node_options(c, kind, attrs)
    if len(x.shape) != 3:
        raise ValueError(f"X has shape {x.shape}, expected rank 3")
    hidden = attrs.get("hidden_size")
    hidden = int(hidden if hidden is not None else (r.shape[-1] if isinstance(r, np.ndarray) else c.tensor(r, "R").shape[-1]))
    per = FUNCTIONS_PER_DIRECTION[kind]
    sequence = x if layout == 1 else c.one("tensor.Transpose", {"perm": [1, 0, 2]}, [x], base="batch_first")  # (batch, time, input)
    time_size = x.shape[1 if layout == 1 else 0]
    lengths = _run_time_input(c, "sequence_lens", lengths, time_size)
    initial = [_run_time_input(c, name, value, time_size) for name, value in (("initial_h", initial_h), ("initial_c", initial_c))]
    returns_sequence = bool(c.node.outputs) and bool(c.node.outputs[0])
    wants_c = kind == "LSTM" and len(c.node.outputs) > 2 and bool(c.node.outputs[2])
    # without a mask or the sequence, the last output is Y_h: the layer need not return its states
    return_state = directions == 2 or returns_sequence or lengths is not None or wants_c
    parts, kwargs = [], {}
    for d in range(directions):
        weights = direction_weights(c, kind, d, hidden, w, r, bias, peepholes, bool(attrs.get("linear_before_reset", 0)))
        reverse = direction == "reverse" or d == 1
        parts.append((layer_config(kind, hidden, functions[d * per : (d + 1) * per], clip, attrs, weights, reverse,
                                    returns_sequence, return_state), weights))
    states = _initial_states(c, kind, initial, directions, layout, hidden, sequence)
    if states:
        kwargs["initial_state"] = states
    if lengths is not None:
        kwargs["mask"] = [c.one("tensor.SequenceMask", {}, [lengths, sequence], base="mask")]
    if directions == 1:
        config, weights = parts[0]
        fed = {k: [v] for k, v in weights.items() if not isinstance(v, np.ndarray)}
        outputs = c.add(LAYERS[kind], config, [sequence], {k: v for k, v in weights.items() if k not in fed},
                        {**kwargs, **fed})
        ys = [outputs[0]]
        if config["go_backwards"] and returns_sequence:  # the outputs back to time order
            ys = [emit.reverse(c, ys[0], 1, 3, base="in_time")]  # (batch, time, hidden)
        finals = [outputs[1:] if return_state else outputs[:1]]
    else:
        config, weights, fed = {"merge_mode": None}, {}, {}
        for (part_config, part_weights), key, prefix in zip(parts, ("layer", "backward_layer"), ("forward", "backward")):
            config[key] = {"class_name": LAYERS[kind], "config": part_config}
            for name, value in part_weights.items():
                (weights if isinstance(value, np.ndarray) else fed)[f"{prefix}/{name}"] = value
        outputs = c.add("Bidirectional", config, [sequence], weights, {**kwargs, **{k: [v] for k, v in fed.items()}})
        count = 2 if kind == "LSTM" else 1
        ys, finals = outputs[:2], [outputs[2 : 2 + count], outputs[2 + count :]]
    if lengths is not None and states:
        finals = _zero_where_empty(c, lengths, finals)
    return _onnx_outputs(c, layout, returns_sequence, ys, finals, 2 if wants_c else 1)


def _run_time_input(c, name: str, value, time_size):
    """An optional input the layers read at run time: a tensor; None when absent or a constant
    that changes nothing (zero initial states, sequence_lens of the whole length). Other
    constants fix the batch size: refused."""
    if value is None or isinstance(value, Tensor):
        return value
    value = c.constant(value, name)
    if name != "sequence_lens" and not np.any(value):
        return None
    if name == "sequence_lens" and time_size is not None and np.all(value == time_size):
        return None
    raise c.refuse(f"a constant {name} is not supported (it fixes the batch size); make it a model input")


def _initial_states(c, kind, initial, directions, layout, hidden, sequence) -> list:
    """The initial states as the layer takes them: per direction [h(, c)], each (batch, hidden)."""
    initial_h, initial_c = initial
    if initial_h is None and initial_c is None:
        return []
    states = []
    for d in range(directions):
        items = [{"index": d}] if layout == 0 else [{"slice": [None, None, None]}, {"index": d}]
        for value, name in ((initial_h, "h"), (initial_c, "c"))[: 2 if kind == "LSTM" else 1]:
            if value is None:  # the other one given: zeros
                states.append(c.one("tensor.Full", {"shape": [{"dim": [0, 0]}, hidden], "value": 0.0}, [sequence], base=f"{name}0_{d}"))
            else:
                states.append(c.one("tensor.Index", {"items": items}, [value], base=f"{name}0_{d}"))
    return states


def _zero_where_empty(c, lengths, finals):
    """Final states of rows of length 0 set to zero (ONNX Runtime), whatever the initial states."""
    alive = c.one("tensor.Binary", {"op": "minimum", "scalar": 1}, [c.one("tensor.Cast", {"to": "float"}, [lengths], base="lengths")],
                  base="alive")
    alive = c.one("tensor.Unsqueeze", {"axes": [1]}, [alive], base="alive_rows")  # (batch, 1): 0 for an empty row
    return [[c.one("tensor.Binary", {"op": "mul"}, [s, alive], base="final") for s in states] for states in finals]


def _onnx_outputs(c, layout, returns_sequence, ys, finals, count):
    """[Y, Y_h(, Y_c)] in ONNX's shapes: Y (time, directions, batch, hidden) with layout 0, else
    (batch, time, directions, hidden); the `count` states (directions, batch, hidden) or (batch,
    directions, hidden)."""
    results = [None]
    if returns_sequence:
        stacked = _stack(c, ys, 0 if layout == 0 else 2, "Y")
        results = [stacked if layout == 1 else c.one("tensor.Transpose", {"perm": [2, 0, 1, 3]}, [stacked], base="Y_onnx")]
    for k in range(count):
        results.append(_stack(c, [states[k] for states in finals], 0 if layout == 0 else 1, "Y_hc"))
    return results


def _stack(c, parts, axis, base):
    """The directions' tensors stacked on a new `axis` (one direction: a view with that axis)."""
    if len(parts) == 1:
        return c.one("tensor.Unsqueeze", {"axes": [axis]}, parts, base=base)
    return c.one("tensor.Stack", {"axis": axis}, parts, base=base)
