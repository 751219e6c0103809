"""ONNX operators: recurrent family (tensor tier) — LSTM, GRU, RNN in the type of their input.

Nothing here computes a gate: the node's attributes are read by importers/onnx_recurrent.py
(node_options: direction, layout, clip, activations) and its weights put in the canonical
layout by the same code (direction_weights: gates reordered, W / R transposed, Wb + Rb, GRU's
linear_before_reset as reset_after, peepholes), then each direction is one cell of
layers/cells.py run by the one time loop (layers/recurrent.run_over_time: the readable
`rnn`, or the fast kernels where they compute the same). The arrays keep the node's type
(float16, float or double). sequence_lens is a mask, as in the layer tier: past a row's length
the states are held and Y is zero, the reverse direction starts at the row's own last step,
and a row of length 0 ends with zero states (ONNX Runtime).
"""

from __future__ import annotations

import numpy as np

from ..importers.onnx_recurrent import (
    FUNCTIONS_PER_DIRECTION,
    direction_weights,
    layer_config,
    node_options,
)
from ..layers.recurrent import GRU, LSTM, SimpleRNN, run_over_time
from .elementwise import same_type
from .registry import Call, operator
from .values import FLOATS, type_name

CELLS = {"LSTM": LSTM.CELL, "GRU": GRU.CELL, "RNN": SimpleRNN.CELL}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
COMMON = ("activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout")


def _check_shapes(call: Call, kind: str, x, w, r, b, lengths, initial, p, directions: int, layout: int) -> tuple:
    """(time, batch, input, hidden) of the node, every input's shape checked against them."""
    if x.ndim != 3:
        raise call.malformed(f"takes X of rank 3, got shape {list(x.shape)}")
    time, batch = (x.shape[1], x.shape[0]) if layout == 1 else x.shape[:2]
    g = GATES[kind]
    hidden = call.attr("hidden_size", None)
    if hidden is None:
        if r.ndim != 3:
            raise call.malformed(f"takes R of rank 3, got shape {list(r.shape)}")
        hidden = r.shape[-1]
    hidden = int(hidden)
    expected = {"W": (w, (directions, g * hidden, x.shape[2])), "R": (r, (directions, g * hidden, hidden)),
                "B": (b, (directions, 2 * g * hidden)), "P": (p, (directions, 3 * hidden)),
                "sequence_lens": (lengths, (batch,))}
    state = (batch, directions, hidden) if layout == 1 else (directions, batch, hidden)
    expected.update({f"initial_{name}": (value, state) for name, value in zip("hc", initial)})
    for name, (value, shape) in expected.items():
        if value is not None and value.shape != shape:
            raise call.malformed(f"takes {name} of shape {list(shape)}, got {list(value.shape)}")
    if time == 0:
        raise call.refuse("a sequence of 0 time steps")
    return time, batch, hidden


def _mask(call: Call, lengths, time: int):
    """sequence_lens (batch,) int32 as a (batch, time) mask; None where every row is whole."""
    if lengths is None:
        return None
    if lengths.dtype != np.int32:
        raise call.malformed(f"takes int32 sequence_lens, not {type_name(lengths.dtype)}")
    if np.any(lengths < 0) or np.any(lengths > time):
        raise call.malformed(f"has sequence_lens {lengths.tolist()} outside 0..{time}")
    if np.all(lengths == time):
        return None
    return np.arange(time)[None, :] < lengths[:, None]  # (batch, time)


def _start_states(kind: str, initial, d: int, layout: int, batch: int, hidden: int, dtype):
    """Direction d's start states [h(, c)] (batch, hidden); None when neither is given (zeros)."""
    if all(value is None for value in initial):
        return None
    count = 2 if kind == "LSTM" else 1
    return [np.zeros((batch, hidden), dtype) if value is None else (value[:, d] if layout == 1 else value[d])
            for value in initial[:count]]


def recurrent(call: Call, x, w, r, b=None, lengths=None, initial_h=None, initial_c=None, p=None):
    """Y (time, directions, batch, hidden) [layout 1: (batch, time, directions, hidden)], Y_h and
    (LSTM) Y_c (directions, batch, hidden) [layout 1: (batch, directions, hidden)]."""
    kind = call.node.op_type
    dtype = same_type(call, [v for v in (x, w, r, b, initial_h, initial_c, p) if v is not None], FLOATS)
    attrs = call.node.attributes
    direction, directions, layout, clip, functions = node_options(call, kind, attrs)
    initial = (initial_h, initial_c)
    time, batch, hidden = _check_shapes(call, kind, x, w, r, b, lengths, initial, p, directions, layout)
    outputs = list(call.node.outputs) + [""] * 3
    wants_y = bool(outputs[0])
    y_shape = (batch, time, directions, hidden) if layout == 1 else (time, directions, batch, hidden)
    call.admit(y_shape if wants_y else (batch, time, hidden), dtype, "Y")
    mask = _mask(call, lengths, time)
    sequence_first = x if layout == 1 else x.transpose(1, 0, 2)  # (batch, time, input)
    per = FUNCTIONS_PER_DIRECTION[kind]
    cell_class = CELLS[kind]
    ys, finals = [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1

        def make_cell(d=d, reverse=reverse):
            weights = direction_weights(call, kind, d, hidden, w, r, b, p, bool(attrs.get("linear_before_reset", 0)))
            config = layer_config(kind, hidden, functions[d * per : (d + 1) * per], clip, attrs, weights, reverse, wants_y, True)
            made = cell_class(call.label, {k: config[k] for k in cell_class.OPTIONS if k in config},
                              {k: np.ascontiguousarray(v) for k, v in weights.items()}, dtype)
            made.check(x.shape[2])
            return made

        # W, R, B, P constant: the cell (its weights in the canonical layout, its fast kernel) is built once
        cell = call.prepared((1, 2, 3, 7), ("cell", d, dtype.str, x.shape[2], wants_y), make_cell)
        states = _start_states(kind, initial, d, layout, batch, hidden, dtype)
        _, sequence, states = run_over_time(cell, sequence_first, states, mask=mask, go_backwards=reverse,
                                            return_sequences=wants_y, zero_output_for_mask=True)
        if wants_y:
            ys.append(sequence[:, ::-1] if reverse else sequence)  # (batch, time, hidden) in time order
        if lengths is not None and np.any(lengths == 0):
            empty = (lengths == 0)[:, None]  # (batch, 1): rows of length 0 end with zero states
            states = [np.where(empty, np.zeros((), dtype), s) for s in states]
        finals.append(states)
    y = None
    if wants_y:
        y = np.stack(ys, axis=2)  # (batch, time, directions, hidden)
        y = y if layout == 1 else np.ascontiguousarray(y.transpose(1, 2, 0, 3))  # (time, directions, batch, hidden)
    results = [y] + [np.stack([states[k] for states in finals], axis=1 if layout == 1 else 0)
                     for k in range(2 if kind == "LSTM" else 1)]
    return tuple(results)


operator("RNN", attributes=COMMON)(recurrent)
operator("GRU", attributes=COMMON + ("linear_before_reset",))(recurrent)
operator("LSTM", attributes=COMMON + ("input_forget",))(recurrent)
