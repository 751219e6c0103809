"""Recurrent layers (SimpleRNN, LSTM, GRU, and RNN around cells): one loop over time for every cell.

The cell (cells.py) does one step; `run_over_time` does the time loop, the direction, masks
and what is returned, exactly as Keras's rnn(): with `go_backwards` the sequence is read last
step first and `return_sequences` gives the outputs in that processing order; at a masked
step the states are held and the output repeats the previous one (zeros with
`zero_output_for_mask`).
"""

from __future__ import annotations

from contextvars import ContextVar

import numpy as np

from ..errors import InputShapeError, ModelFormatError
from .base import REQUIRED, Layer, format_shape, require_bool
from .cells import CELL_OPTIONS, GRUCell, LSTMCell, SimpleRNNCell, build_cell, cell_weight_names
from .kernels import GenericKernel


# Model.trace (trace.py) listens here: while set, every Recurrent.run reports the layer, its
# input, its mask and the states and output it starts from. None (the default) costs one lookup per call.
RUN_OBSERVER: ContextVar = ContextVar("npinfer_recurrent_run_observer", default=None)


class StateStore(dict):
    """States kept between calls: layer key -> list of (batch, size) arrays.

    A model's own store carries only its stateful layers (Keras's stateful=True); a stream's
    store (carry_all=True) carries every recurrent layer."""

    def __init__(self, carry_all: bool = False):
        super().__init__()
        self.carry_all = carry_all


def run_over_time(cell, x: np.ndarray, states: list[np.ndarray] | None, *, mask=None, go_backwards=False,
                  return_sequences=False, zero_output_for_mask=False, output=None, want_states=True):
    """Run `cell` over x (batch, time, features) from `states`.

    states: None starts from zeros. mask: (batch, time) booleans or None. output: the output
    before the first step (what a masked step repeats; zeros unless a stream continues).
    Returns (last output (batch, units), the sequence of outputs (batch, time, units) or None,
    final states or None when not `want_states`), all fresh arrays.
    """
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        raise InputShapeError(f"layer '{cell.owner}' needs at least one time step, got an input of shape {x.shape}")
    units = cell.output_size
    if states is None:
        states = [np.zeros((batch, size), x.dtype) for size in cell.state_sizes]
    if mask is None and cell.can_run_fast():
        # the fast kernels (kernels.py) keep h gate-major, so the sequence is (time, units, batch)
        sequence = np.empty((steps, units, batch), x.dtype) if return_sequences else None
        if fuses_input(cell, batch):
            kernel = cell.fast_kernel(states, features=x.shape[2])  # each step reads x_t itself: no hoisted projection
            inputs = cell.fast_inputs(x)  # (time, F, batch)
        else:
            kernel = cell.fast_kernel(states)
            inputs = cell.fast_projection(x)  # (time, G*units, batch)
        rows = sequence
        if batch == 1:  # a batch of one runs on vectors
            inputs = inputs[:, :, 0]
            rows = None if sequence is None else sequence[:, :, 0]
        output = kernel.run(inputs, rows, go_backwards)
        states = [s.copy() for s in kernel.states] if want_states else None
        output = kernel.as_states(output)[0].copy()  # (batch, units)
        return output, (None if sequence is None else sequence.transpose(2, 0, 1)), states
    sequence = np.empty((steps, batch, units), x.dtype) if return_sequences else None  # time-major: rows contiguous
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    if mask is None:
        xw = cell.project(x)  # (time, batch, G*units)
        kernel = GenericKernel(cell, states)
        for k, t in enumerate(order):
            output = kernel.step(xw[t], None if sequence is None else sequence[k])
        states = [s.copy() for s in kernel.states] if want_states else None
        output = output.copy()
    else:
        xw = cell.project(x)
        keep = np.ascontiguousarray(mask.T)[:, :, None]  # (time, batch, 1)
        output = np.zeros((batch, units), x.dtype) if output is None else output
        for k, t in enumerate(order):
            new_states = cell.step(xw[t], states)
            held = keep[t]  # (batch, 1)
            states = [np.where(held, new, old) for new, old in zip(new_states, states)]
            output = np.where(held, cell.output(new_states), 0 if zero_output_for_mask else output)
            if sequence is not None:
                sequence[k] = output
    return output, (None if sequence is None else sequence.transpose(1, 0, 2)), states


# From this batch size and gate width on, SimpleRNN and LSTM steps read x_t themselves
# (kernels.fuse_input). Fused / hoisted time (gate-major kernels, whole model, A/B): LSTM(64)
# over 50 steps batch 4 1.03, 16 0.96, 32 0.88, 64 0.69, 256 0.89, 1024 0.73; stacked
# LSTM(128) batch 32 0.88, 1024 0.98. Narrow layers: see fuses_input.
FUSED_MIN_BATCH = 16
FUSED_MIN_WIDTH = 128  # GATES * units
NARROW_FUSED_MAX_BATCH = 16384


def fuses_input(cell, batch: int) -> bool:
    """Whether the fast kernel reads x_t itself ([x_t; h; 1] against [W; U; b]) rather than a
    hoisted projection: wide layers at batches from FUSED_MIN_BATCH, narrow layers up to
    NARROW_FUSED_MAX_BATCH rows, where the projection's calls cost more than a slightly
    larger product per step. The article's SimpleRNN(3) over 4 steps, fused / hoisted (A/B):
    batch 1 0.89 (39.9 -> 35.5 us), 4 0.86, 32 0.98, 256 0.88, 1024 0.91, 4096 0.89, 16384
    0.94, 65536 (two threads of 32768) 1.17."""
    if not getattr(cell, "FUSES_INPUT", False):
        return False
    wide = cell.GATES * cell.units >= FUSED_MIN_WIDTH
    return batch >= FUSED_MIN_BATCH if wide else batch <= NARROW_FUSED_MAX_BATCH


SEQUENCE_OPTIONS = {
    "return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
    "zero_output_for_mask": False,
}


class Recurrent(Layer):
    """Shared by SimpleRNN, LSTM, GRU and RNN: options, shapes, initial states, masks, state carry."""

    CELL = None  # SimpleRNN / LSTM / GRU: the cell class, options given flat; RNN: a "cell" option
    OPTIONS = {**CELL_OPTIONS, **SEQUENCE_OPTIONS}
    CALL_KWARGS = frozenset({"initial_state"})

    @classmethod
    def weight_names(cls, config):
        return cls.CELL.weight_names(config)

    def make_cell(self):
        return self.CELL(self.name, {k: self.config[k] for k in self.CELL.OPTIONS}, self.weights, self.dtype)

    def build_call(self, input_shapes, kwarg_shapes, options):
        self.expect_inputs(input_shapes, rank=3)
        for key in SEQUENCE_OPTIONS:
            require_bool(self, key)
        features = input_shapes[0][2]
        if features is None:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a known feature size, got {format_shape(input_shapes[0])}")
        self.cell = self.make_cell()
        self.cell.check(features)
        batch, steps = input_shapes[0][:2]
        sizes = self.cell.state_sizes
        given = kwarg_shapes.get("initial_state")
        if given is not None:
            expected = [(None, s) for s in sizes]
            if len(given) != len(sizes) or any(g[1:] != e[1:] for g, e in zip(given, expected)):
                raise ModelFormatError(
                    f"layer '{self.name}' ({self.class_name}): initial_state has shapes {', '.join(map(format_shape, given))}, "
                    f"expected {', '.join(map(format_shape, expected))}"
                )
        output = (batch, steps, self.cell.output_size) if self.config["return_sequences"] else (batch, self.cell.output_size)
        states = [(batch, s) for s in sizes] if self.config["return_state"] else []
        return [output] + states

    def run(self, x, ctx, key: str | None = None, initial: list | None = None, want_states: bool = True):
        """The recurrence on x with the call's mask and states: (output, final states).

        output is the sequence with return_sequences, else the last output. States start from
        `initial`, else (stateful layers, streams) the stored states, else zeros."""
        key = key or self.name
        mask = ctx.mask(0)
        if mask is not None and mask.shape != x.shape[:2]:
            raise InputShapeError(f"layer '{self.name}': mask has shape {mask.shape}, expected {x.shape[:2]} (batch, time)")
        store = ctx.state
        carry = store is not None and (store.carry_all or self.config["stateful"])
        if initial is None and carry and key in store:
            initial = store[key]
            if initial[0].shape[0] != x.shape[0]:
                raise InputShapeError(
                    f"layer '{self.name}' keeps states for a batch of {initial[0].shape[0]}, got a batch of {x.shape[0]}; "
                    "reset the states first or keep the batch size"
                )
        states = None if initial is None else self._initial_states(x, initial)
        previous = store.get(f"{key}/output") if carry else None  # what a masked step repeats
        observer = RUN_OBSERVER.get()
        if observer is not None:
            observer(self, x, mask, states, None if previous is None else previous[0])
        output, sequence, states = run_over_time(
            self.cell, x, states, mask=mask, go_backwards=self.config["go_backwards"],
            return_sequences=self.config["return_sequences"], zero_output_for_mask=self.config["zero_output_for_mask"],
            output=None if previous is None else previous[0], want_states=want_states or carry,
        )
        if carry:
            store[key] = [s.copy() for s in states]
            store[f"{key}/output"] = [output.copy()]
        return (sequence if self.config["return_sequences"] else output), states

    def _initial_states(self, x, initial):
        """Given initial states, checked against the batch and the state sizes."""
        batch = x.shape[0]
        sizes = self.cell.state_sizes
        if len(initial) != len(sizes):
            raise InputShapeError(f"layer '{self.name}': {len(initial)} initial states given, expected {len(sizes)}")
        states = []
        for state, size in zip(initial, sizes):
            state = np.asarray(state, x.dtype)
            if state.shape != (batch, size):
                raise InputShapeError(f"layer '{self.name}': an initial state has shape {state.shape}, expected {(batch, size)}")
            states.append(state)
        return states

    def call(self, inputs, ctx):
        output, states = self.run(inputs[0], ctx, initial=ctx.kwargs.get("initial_state"), want_states=self.config["return_state"])
        if not self.config["return_state"]:
            return [output]
        return [output] + states

    def stream_problem(self):
        return "it reads the sequence backwards" if self.config["go_backwards"] else None

    def compute_masks(self, inputs, ctx, outputs):
        first = ctx.mask(0) if self.config["return_sequences"] else None
        return [first] + [None] * (len(outputs) - 1)


class SimpleRNN(Recurrent):
    CELL = SimpleRNNCell


class LSTM(Recurrent):
    CELL = LSTMCell
    OPTIONS = {**LSTMCell.OPTIONS, **SEQUENCE_OPTIONS}


class GRU(Recurrent):
    CELL = GRUCell
    OPTIONS = {**GRUCell.OPTIONS, **SEQUENCE_OPTIONS}


class RNN(Recurrent):
    """Keras's generic RNN layer around a SimpleRNNCell, LSTMCell, GRUCell or StackedRNNCells."""

    OPTIONS = {"cell": REQUIRED, **SEQUENCE_OPTIONS}

    @classmethod
    def weight_names(cls, config):
        return cell_weight_names(config.get("cell"))

    def make_cell(self):
        return build_cell(self.name, self.config["cell"], self.weights, self.dtype)
