"""Recurrent layers (SimpleRNN, LSTM, GRU, and RNN around cells): one loop over time for every cell.

The cell (cells.py) does one step; `rnn` is the time loop, the direction, masks and what is
returned, exactly as Keras's rnn(): with `go_backwards` the sequence is read last step first
and the sequence of outputs keeps that processing order; at a masked step the states are held
and the output repeats the previous one (zeros with `zero_output_for_mask`). `rnn` is what
predict runs (and what export copies into its scripts); `run_over_time` takes the fast path
of kernels.py instead where it computes the same (no mask, default activations).
"""

from __future__ import annotations

from contextvars import ContextVar

import numpy as np

from ..errors import InputShapeError, ModelFormatError
from .base import REQUIRED, Layer, format_shape, require_bool
from .cells import CELL_OPTIONS, ConvLSTMCell, GRUCell, LSTMCell, SimpleRNNCell, build_cell, cell_weight_names
from .conv import spatial_rank

# Model.trace (trace.py) listens here: while set, every Recurrent.run gives it the layer, its
# input, mask and start states and the cell's step; it returns the step to run (one that records
# every value). None (the default) costs one lookup per call.
RUN_OBSERVER: ContextVar = ContextVar("npinfer_recurrent_run_observer", default=None)


class StateStore(dict):
    """States kept between calls: layer key -> list of (batch, size) arrays.

    A model's own store carries only its stateful layers (Keras's stateful=True); a stream's
    store (carry_all=True) carries every recurrent layer."""

    def __init__(self, carry_all: bool = False):
        super().__init__()
        self.carry_all = carry_all


def zeros_states(x, sizes):
    """Zero states for a batch of x: one (batch, size) array per size (a tuple: (batch, *size))."""
    return [np.zeros((x.shape[0],) + (size if isinstance(size, tuple) else (size,)), x.dtype) for size in sizes]


def per_row(size) -> tuple:
    """A state or output size as the shape of one row: 5 -> (5,), (4, 4, 8) as it is."""
    return size if isinstance(size, tuple) else (size,)


def rnn(x, step, states, go_backwards=False, return_sequences=False, mask=None, zero_output_for_mask=False, output=None):
    """The one loop over time steps: `step(x_t, states)` returns (output, new states).
    x: (batch, time, features). With go_backwards the sequence is read last step first and the
    outputs keep that order. mask: (batch, time) booleans or None. At a masked step the states
    are held and the output repeats the previous one (`output` before the first step, zeros if
    None; always zeros with zero_output_for_mask). Returns (the sequence of outputs (batch,
    time, units) with return_sequences, else the last output (batch, units); final states)."""
    if mask is not None and mask.shape != x.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape}, expected {x.shape[:2]} (batch, time)")
    sequence = None
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for k, t in enumerate(steps):
        new_output, new_states = step(x[:, t], states)
        if mask is None:
            output, states = new_output, new_states
        else:
            keep = mask[:, t].reshape((-1,) + (1,) * (x.ndim - 2))  # (batch, 1, ...): this step is real
            states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
            previous = np.zeros((), new_output.dtype) if zero_output_for_mask or output is None else output
            output = np.where(keep, new_output, previous)
        if return_sequences:
            if sequence is None:
                sequence = np.empty((x.shape[0], x.shape[1]) + output.shape[1:], output.dtype)  # (batch, time, units)
            sequence[:, k] = output
    return (sequence if return_sequences else output), states


def run_over_time(cell, x: np.ndarray, states: list[np.ndarray] | None, *, mask=None, go_backwards=False,
                  return_sequences=False, zero_output_for_mask=False, output=None, want_states=True, step=None):
    """Run `cell` over x (batch, time, features) from `states` (None: zeros), as `rnn` does.

    output: the output before the first step (what a masked step repeats). step: the step to
    run instead of the cell's own (a trace's recording one; it keeps the readable path).
    Returns (last output (batch, units), the sequence of outputs (batch, time, units) or None,
    final states, or None when not `want_states` on the fast path), all fresh arrays.
    """
    if x.shape[1] == 0:
        raise InputShapeError(f"layer '{cell.owner}' needs at least one time step, got an input of shape {x.shape}")
    fast = cell.fast
    if mask is None and step is None and fast is not None:  # (it makes zero states itself, and frees them early)
        return fast.run(x, states, cell.state_sizes, return_sequences, go_backwards, want_states, fuses_input(cell, x.shape[0]))
    states = zeros_states(x, cell.state_sizes) if states is None else states
    outputs, states = rnn(x, step or cell.step_function(), states, go_backwards, return_sequences, mask,
                          zero_output_for_mask, output)
    if return_sequences:
        return outputs[:, -1], outputs, states  # the last output in processing order
    return outputs, None, states


# From this batch size and gate width on, SimpleRNN and LSTM steps read x_t themselves
# (kernels.fuse_input); narrow layers up to NARROW_FUSED_MAX_BATCH rows. The bounds are where
# fused measured faster than hoisted (A/B in the commits that set them).
FUSED_MIN_BATCH = 16
FUSED_MIN_WIDTH = 128  # GATES * units
NARROW_FUSED_MAX_BATCH = 16384


def fuses_input(cell, batch: int) -> bool:
    """Whether the fast kernel reads x_t itself ([x_t; h; 1] against [W; U; b]) rather than a
    hoisted projection: wide layers at batches from FUSED_MIN_BATCH, narrow layers up to
    NARROW_FUSED_MAX_BATCH rows, where the projection's calls cost more than a slightly
    larger product per step."""
    if not getattr(cell, "FUSES_INPUT", False):
        return False
    wide = cell.GATES * cell.units >= FUSED_MIN_WIDTH
    return batch >= FUSED_MIN_BATCH if wide else batch <= NARROW_FUSED_MAX_BATCH


SEQUENCE_OPTIONS = {
    "return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
    "zero_output_for_mask": False, "fed": [],
}
BOOLEAN_OPTIONS = [key for key in SEQUENCE_OPTIONS if key != "fed"]


class Recurrent(Layer):
    """Shared by SimpleRNN, LSTM, GRU and RNN: options, shapes, initial states, masks, state carry."""

    CELL = None  # SimpleRNN / LSTM / GRU: the cell class, options given flat; RNN: a "cell" option
    OPTIONS = {**CELL_OPTIONS, **SEQUENCE_OPTIONS}

    def __init__(self, name, class_name, config, weights, dtype):
        fed = config.get("fed", [])
        if not isinstance(fed, list) or not all(isinstance(n, str) for n in fed):
            raise ModelFormatError(f"layer '{name}' ({class_name}): fed={fed!r} is not a list of weight names")
        self.CALL_KWARGS = frozenset({"initial_state", *fed})  # weights given as call arguments, by name (ONNX)
        super().__init__(name, class_name, config, weights, dtype)

    @classmethod
    def weight_names(cls, config):
        fed = config.get("fed") or []
        return [n for n in cls.all_weight_names(config) if n not in fed]

    @classmethod
    def all_weight_names(cls, config):
        return cls.CELL.weight_names(config)

    def make_cell(self, weights: dict | None = None):
        return self.CELL(self.name, {k: self.config[k] for k in self.CELL.OPTIONS}, weights or self.weights, self.dtype)

    def cell_for(self, ctx, fed: dict | None = None):
        """The cell of this call: the layer's own, or one made from the weights the call is given."""
        if fed is None:
            if not self.config["fed"]:
                return self.cell
            fed = {name: ctx.kwargs[name][0] for name in self.config["fed"]}
        if not fed:
            return self.cell
        cell = self.make_cell({**self.weights, **{k: np.ascontiguousarray(v, self.dtype) for k, v in fed.items()}})
        try:
            cell.check(self.features)
        except ModelFormatError as err:
            raise InputShapeError(str(err)) from None
        return cell

    def step_input(self, input_shapes):
        """What one step reads, for the cell to check: the feature size (None: unknown)."""
        self.expect_inputs(input_shapes, rank=3)
        return input_shapes[0][2]

    def build_call(self, input_shapes, kwarg_shapes, options):
        for key in BOOLEAN_OPTIONS:
            require_bool(self, key)
        fed = self.config["fed"]
        if sorted(fed) != sorted(set(fed) & set(self.all_weight_names(self.config))):
            raise self.refuse("fed", fed, f"some of {', '.join(self.all_weight_names(self.config))}")
        features = self.features = self.step_input(input_shapes)
        if features is None:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a known feature size, got {format_shape(input_shapes[0])}")
        given = {name: np.zeros([0 if d is None else d for d in kwarg_shapes[name][0]], self.dtype) for name in fed}
        self.cell = self.make_cell({**self.weights, **given})  # fed weights: their shapes, checked where known
        if all(None not in kwarg_shapes[name][0] for name in fed):
            self.cell.check(features)
        batch, steps = input_shapes[0][:2]
        sizes = self.cell.state_sizes
        given = kwarg_shapes.get("initial_state")
        if given is not None:
            expected = [(None,) + per_row(s) for s in sizes]
            if len(given) != len(sizes) or any(g[1:] != e[1:] for g, e in zip(given, expected)):
                raise ModelFormatError(
                    f"layer '{self.name}' ({self.class_name}): initial_state has shapes {', '.join(map(format_shape, given))}, "
                    f"expected {', '.join(map(format_shape, expected))}"
                )
        output = (batch, steps) + per_row(self.cell.output_size) if self.config["return_sequences"] else \
            (batch,) + per_row(self.cell.output_size)
        states = [(batch,) + per_row(s) for s in sizes] if self.config["return_state"] else []
        return [output] + states

    def run(self, x, ctx, key: str | None = None, initial: list | None = None, want_states: bool = True,
            fed: dict | None = None):
        """The recurrence on x with the call's mask and states: (output, final states).

        output is the sequence with return_sequences, else the last output. States start from
        `initial`, else (stateful layers, streams) the stored states, else zeros. fed: the
        weights the call gives (default: those in ctx.kwargs)."""
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
        cell = self.cell_for(ctx, fed)
        observer = RUN_OBSERVER.get()
        step = None if observer is None else observer(self, cell, x, mask, states)
        output, sequence, states = run_over_time(
            cell, x, states, mask=mask, go_backwards=self.config["go_backwards"],
            return_sequences=self.config["return_sequences"], zero_output_for_mask=self.config["zero_output_for_mask"],
            output=None if previous is None else previous[0], want_states=want_states or carry, step=step,
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
            if state.shape != (batch,) + per_row(size):
                raise InputShapeError(f"layer '{self.name}': an initial state has shape {state.shape}, "
                                      f"expected {(batch,) + per_row(size)}")
            states.append(state)
        return states

    def call(self, inputs, ctx):
        output, states = self.run(inputs[0], ctx, initial=ctx.kwargs.get("initial_state"), want_states=self.config["return_state"])
        if not self.config["return_state"]:
            return [output]
        return [output] + states

    def export(self, e):
        states = "[" + ", ".join(e.outputs[1:]) + "]" if self.config["return_state"] else "_"
        e.line(f"{e.outputs[0]}, {states} = {self.export_run(e, e.kwargs.get('initial_state'), e.mask)}")

    def export_run(self, e, initial, mask):
        """Code running this layer in a script: rnn(...) giving (output, final states)."""
        states = e.call(zeros_states, e.input, self.cell.state_sizes) if initial is None else list(initial)
        masked = {"mask": mask, "zero_output_for_mask": self.config["zero_output_for_mask"]} if mask is not None else {}
        return e.call(rnn, e.input, self.cell.export_step(e, ""), states, go_backwards=self.config["go_backwards"],
                      return_sequences=self.config["return_sequences"], **masked)

    def stream_problem(self):
        return "it reads the sequence backwards" if self.config["go_backwards"] else None

    def compute_masks(self, inputs, ctx, outputs):
        first = ctx.mask(0) if self.config["return_sequences"] else None
        return [first] + [None] * (len(outputs) - 1)

    def export_masks(self, e):
        return [e.mask if self.config["return_sequences"] else None] + [None] * (len(e.outputs) - 1)


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
    def all_weight_names(cls, config):
        return cell_weight_names(config.get("cell"))

    def make_cell(self, weights: dict | None = None):
        return build_cell(self.name, self.config["cell"], weights or self.weights, self.dtype)


class ConvLSTM(Recurrent):
    """ConvLSTM1D / 2D / 3D: the LSTM with convolutions, over (batch, time, *spatial, channels)
    (channels_last; TensorFlow runs Keras's channels_first convolutions on a GPU only, so they
    could not be checked against Keras here: refused)."""

    CELL = ConvLSTMCell
    OPTIONS = {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": 1, "padding": "valid", "data_format": "channels_last",
               "dilation_rate": 1, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
               **SEQUENCE_OPTIONS}

    def make_cell(self, weights: dict | None = None):
        config = {k: self.config[k] for k in ConvLSTMCell.OPTIONS if k in self.config}
        return ConvLSTMCell(self.name, {**config, "units": self.config["filters"]}, weights or self.weights, self.dtype)

    def window_work(self) -> tuple[float, int]:
        """Per time step: output positions x (kernel + recurrent kernel), counted as one call
        (the recurrent convolution, on the wider input, dominates)."""
        weights = self.cell.w["kernel"].size + self.cell.w["recurrent_kernel"].size
        return float(int(np.prod(self.cell.out)) * weights), 1

    def step_input(self, input_shapes):
        self.expect_inputs(input_shapes, rank=spatial_rank(self.class_name) + 3)
        if self.config["data_format"] != "channels_last":
            raise self.refuse("data_format", self.config["data_format"], "channels_last")
        return tuple(input_shapes[0][2:])
