"""Recurrent layers (SimpleRNN, LSTM, GRU): one loop over time for every cell.

The cell (cells.py) does one step; `run_over_time` does the time loop, the direction and
what is returned, exactly as Keras's RNN layer does: with `go_backwards` the sequence is
read last step first and `return_sequences` gives the outputs in that processing order.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputShapeError, ModelFormatError
from . import activations
from .base import REQUIRED, Layer, format_shape, require_bool, require_positive_int
from .cells import Cell, GRUCell, LSTMCell, SimpleRNNCell


def run_over_time(cell: Cell, x: np.ndarray, *, go_backwards: bool, return_sequences: bool):
    """Run `cell` over x (batch, time, features) from zero states.

    Returns (output, final states): output is (batch, time, units) with return_sequences,
    else the last output (batch, units).
    """
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        raise InputShapeError(f"layer '{cell.layer.name}' needs at least one time step, got an input of shape {x.shape}")
    xw = cell.project(x)  # (time, batch, G*units)
    states = cell.zero_states(batch)
    sequence = np.empty((batch, steps, cell.units), x.dtype) if return_sequences else None
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for k, t in enumerate(order):
        states = cell.step(xw[t], states)
        if sequence is not None:
            sequence[:, k] = states[0]
    return (sequence if return_sequences else states[0]), states


class Recurrent(Layer):
    """Shared front of SimpleRNN, LSTM and GRU: options, shapes, outputs."""

    CELL: type[Cell] = Cell
    OPTIONS = {
        "units": REQUIRED,
        "activation": "tanh",
        "use_bias": True,
        "return_sequences": False,
        "return_state": False,
        "go_backwards": False,
    }

    @classmethod
    def weight_names(cls, config):
        names = ["kernel", "recurrent_kernel"]
        return names + ["bias"] if config.get("use_bias", True) else names

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=3)
        units = require_positive_int(self, "units")
        for key in ("use_bias", "return_sequences", "return_state", "go_backwards") + self.EXTRA_BOOLS:
            require_bool(self, key)
        for key in ("activation", "recurrent_activation"):
            if key in self.config:
                activations.check_axes(self.config[key], 2, f"layer '{self.name}' {key}")
                if activations.output_shape(self.config[key], (None, units)) != (None, units):
                    raise self.refuse(key, self.config[key]["name"], "activations that keep the shape")
        features = input_shapes[0][2]
        if features is None:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs a known feature size, got {format_shape(input_shapes[0])}")
        self.cell = self.CELL(self, units)
        self.cell.check(features)
        batch, steps = input_shapes[0][:2]
        output = (batch, steps, units) if self.config["return_sequences"] else (batch, units)
        states = [(batch, units)] * len(self.CELL.STATES) if self.config["return_state"] else []
        return [output] + states

    EXTRA_BOOLS: tuple = ()

    def call(self, inputs, ctx):
        output, states = run_over_time(
            self.cell,
            inputs[0],
            go_backwards=self.config["go_backwards"],
            return_sequences=self.config["return_sequences"],
        )
        if not self.config["return_state"]:
            return [output]
        return [output] + [s.copy() for s in states]


class SimpleRNN(Recurrent):
    CELL = SimpleRNNCell


class LSTM(Recurrent):
    CELL = LSTMCell
    OPTIONS = {**Recurrent.OPTIONS, "recurrent_activation": "sigmoid"}


class GRU(Recurrent):
    CELL = GRUCell
    OPTIONS = {**Recurrent.OPTIONS, "recurrent_activation": "sigmoid", "reset_after": True}
    EXTRA_BOOLS = ("reset_after",)
