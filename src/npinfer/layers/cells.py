"""Recurrent cells: each computes ONE time step. The loop over time is in recurrent.py.

Canonical weight layout (the importers convert every framework to it):
- kernel (features, G*units), recurrent_kernel (units, G*units), gates in Keras order:
  SimpleRNN G=1; LSTM G=4 (i, f, c, o); GRU G=3 (z, r, h).
- bias (G*units,); GRU with reset_after: (2, 3*units) = [input bias; recurrent bias].
"""

from __future__ import annotations

import numpy as np

from . import activations
from .base import Layer


class Cell:
    """One step of a recurrent layer. `states[0]` is always the output h."""

    GATES = 1
    STATES = ("h",)

    def __init__(self, layer: Layer, units: int):
        self.layer = layer
        self.units = units
        self.w = layer.weights
        self.use_bias = layer.config["use_bias"]
        self.activation = activations.get(layer.config["activation"])

    def bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def check(self, features: int) -> None:
        """Refuse weights whose shapes do not fit `features` inputs and `units` units."""
        g = self.GATES * self.units
        self.layer.expect_weight("kernel", (features, g))
        self.layer.expect_weight("recurrent_kernel", (self.units, g))
        if self.use_bias:
            self.layer.expect_weight("bias", self.bias_shape())

    def input_bias(self):
        return self.w["bias"] if self.use_bias else None

    def project(self, x: np.ndarray) -> np.ndarray:
        """x @ kernel + input bias for all steps at once: (batch, time, F) -> (time, batch, G*units)."""
        xw = np.matmul(x.transpose(1, 0, 2), self.w["kernel"])  # (time, batch, G*units)
        bias = self.input_bias()
        if bias is not None:
            xw += bias
        return xw

    def zero_states(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, self.units), self.layer.dtype) for _ in self.STATES]

    def step(self, xw_t: np.ndarray, states: list[np.ndarray]) -> list[np.ndarray]:
        """New states from this step's projected input (batch, G*units) and the previous states."""
        raise NotImplementedError


class SimpleRNNCell(Cell):
    """h = activation(x W + b + h U)."""

    def step(self, xw_t, states):
        z = xw_t + states[0] @ self.w["recurrent_kernel"]  # (batch, units)
        return [self.activation(z)]


class LSTMCell(Cell):
    """z = x W + b + h U; i, f, o = rec_act(z_i, z_f, z_o); c = f c + i act(z_c); h = o act(c)."""

    GATES = 4
    STATES = ("h", "c")

    def __init__(self, layer, units):
        super().__init__(layer, units)
        self.recurrent_activation = activations.get(layer.config["recurrent_activation"])

    def step(self, xw_t, states):
        h, c = states
        u = self.units
        z = xw_t + h @ self.w["recurrent_kernel"]  # (batch, 4*units)
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u : 2 * u])
        g = self.activation(z[:, 2 * u : 3 * u])
        o = self.recurrent_activation(z[:, 3 * u :])
        c = f * c + i * g
        return [o * self.activation(c), c]


class GRUCell(Cell):
    """z, r = rec_act(...); candidate from r (after or before the recurrent product); h = z h + (1 - z) candidate."""

    GATES = 3

    def __init__(self, layer, units):
        super().__init__(layer, units)
        self.recurrent_activation = activations.get(layer.config["recurrent_activation"])
        self.reset_after = layer.config["reset_after"]

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        if not self.use_bias:
            return None
        return self.w["bias"][0] if self.reset_after else self.w["bias"]

    def step(self, xw_t, states):
        (h,) = states
        u = self.units
        U = self.w["recurrent_kernel"]  # (units, 3*units)
        if self.reset_after:
            inner = h @ U  # (batch, 3*units)
            if self.use_bias:
                inner += self.w["bias"][1]
            z = self.recurrent_activation(xw_t[:, :u] + inner[:, :u])
            r = self.recurrent_activation(xw_t[:, u : 2 * u] + inner[:, u : 2 * u])
            candidate = self.activation(xw_t[:, 2 * u :] + r * inner[:, 2 * u :])
        else:
            inner = h @ U[:, : 2 * u]  # (batch, 2*units)
            z = self.recurrent_activation(xw_t[:, :u] + inner[:, :u])
            r = self.recurrent_activation(xw_t[:, u : 2 * u] + inner[:, u:])
            candidate = self.activation(xw_t[:, 2 * u :] + (r * h) @ U[:, 2 * u :])
        return [z * h + (1 - z) * candidate]
