"""Recurrent cells: each computes ONE time step. The loop over time is in recurrent.py.

Canonical weight layout (the importers convert every framework to it):
- kernel (features, G*units), recurrent_kernel (units, G*units), gates in Keras order:
  SimpleRNN G=1; LSTM G=4 (i, f, c, o); GRU G=3 (z, r, h).
- bias (G*units,); GRU with reset_after: (2, 3*units) = [input bias; recurrent bias].
A cell is described by a canonical config {"class_name": "LSTMCell", "config": {...}}.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from . import activations, workspace
from .base import REQUIRED
from .kernels import GRUKernel, LSTMKernel, SimpleRNNKernel, transposed

CELL_OPTIONS = {"units": REQUIRED, "activation": "tanh", "use_bias": True}


class Cell:
    """One step of a recurrent layer. `states[0]` is always the output h."""

    GATES = 1
    STATES = ("h",)
    OPTIONS = CELL_OPTIONS
    FAST_KERNEL = None  # kernels.py: the in-place step used with default activations and no mask
    SIGMOID_GATES = 0  # leading gates (in fast order) that use recurrent_activation

    def __init__(self, owner: str, config: dict, weights: dict[str, np.ndarray], dtype):
        self.owner = owner  # layer name, for messages
        unknown = set(config) - set(self.OPTIONS)
        if unknown:
            raise UnsupportedOptionError(f"layer '{owner}': cell option(s) {sorted(unknown)} not supported; supported: {sorted(self.OPTIONS)}")
        self.config = {k: config.get(k, d) for k, d in self.OPTIONS.items()}
        if self.config["units"] is REQUIRED:
            raise ModelFormatError(f"layer '{owner}': the cell has no 'units'")
        units = self.config["units"]
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise UnsupportedOptionError(f"layer '{owner}': units={units!r} is not supported; supported: a positive integer")
        for key in ("use_bias", "reset_after"):
            if key in self.config and not isinstance(self.config[key], bool):
                raise UnsupportedOptionError(f"layer '{owner}': {key}={self.config[key]!r} is not supported; supported: true or false")
        self.units = units
        self.dtype = np.dtype(dtype)
        self.w = weights
        self.use_bias = self.config["use_bias"]
        self.activation = self._activation("activation")
        self._fast_ok = None

    def _activation(self, key):
        spec = self.config[key]
        activations.check_axes(spec, 2, f"layer '{self.owner}' {key}")
        if activations.output_shape(spec, (None, self.units)) != (None, self.units):
            raise UnsupportedOptionError(f"layer '{self.owner}': {key} '{activations.canonical(spec)['name']}' changes the shape")
        return activations.get(spec)

    @classmethod
    def weight_names(cls, config: dict) -> list[str]:
        names = ["kernel", "recurrent_kernel"]
        return names + ["bias"] if config.get("use_bias", True) else names

    @property
    def state_sizes(self) -> list[int]:
        return [self.units] * len(self.STATES)

    @property
    def output_size(self) -> int:
        return self.units

    def bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def check(self, features: int) -> None:
        """Refuse weights whose shapes do not fit `features` inputs and `units` units."""
        g = self.GATES * self.units
        self._expect("kernel", (features, g))
        self._expect("recurrent_kernel", (self.units, g))
        if self.use_bias:
            self._expect("bias", self.bias_shape())

    def _expect(self, key, shape):
        got = self.w[key].shape
        if got != tuple(shape):
            raise ModelFormatError(f"layer '{self.owner}': weight '{key}' has shape {got}, expected {tuple(shape)}")

    def input_bias(self):
        return self.w["bias"] if self.use_bias else None

    def project(self, x: np.ndarray) -> np.ndarray:
        """x @ kernel + input bias for all steps at once: (batch, time, F) -> (time, batch, G*units)."""
        xw = np.matmul(x.transpose(1, 0, 2), self.w["kernel"])  # (time, batch, G*units)
        bias = self.input_bias()
        if bias is not None:
            xw += bias
        return xw

    def project_step(self, x_t: np.ndarray) -> np.ndarray:
        """The same for one step: (batch, F) -> (batch, G*units)."""
        xw = x_t @ self.w["kernel"]
        bias = self.input_bias()
        if bias is not None:
            xw += bias
        return xw

    EQUATION = ""  # what one step computes, for traces

    def gates(self, xw_t: np.ndarray, states: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every quantity of one step (gates, candidate, new states), from this step's projected
        input (batch, G*units) and the previous states."""
        raise NotImplementedError

    def step(self, xw_t: np.ndarray, states: list[np.ndarray]) -> list[np.ndarray]:
        """New states from this step's projected input (batch, G*units) and the previous states."""
        values = self.gates(xw_t, states)
        return [values[name] for name in self.STATES]

    def output(self, states: list[np.ndarray]) -> np.ndarray:
        """The step's output: h."""
        return states[0]

    # -- the fast path (kernels.py) -------------------------------------------------------

    def can_run_fast(self) -> bool:
        """True when the fast kernel computes exactly this cell: tanh activation, sigmoid gates."""
        if self._fast_ok is None:
            names = {key: activations.canonical(self.config[key])["name"] for key in ("activation", "recurrent_activation")
                     if key in self.config}
            self._fast_ok = self.FAST_KERNEL is not None and names.get("activation") == "tanh" and \
                names.get("recurrent_activation", "sigmoid") == "sigmoid"
        return self._fast_ok

    FUSES_INPUT = False  # the fast kernel can take x_t itself ([x_t, h, 1] @ [W; U; b]) at large batches

    def fast_kernel(self, states, features: int | None = None):
        """The fast kernel for this batch size (made once per thread), started from `states`;
        with `features`, one that reads each step's input itself (kernels.fuse_input)."""
        batch = states[0].shape[0]

        def make():
            kernel = self.FAST_KERNEL(self, states)
            return kernel if features is None else kernel.fuse_input(self, features)

        return workspace.cached(self, ("kernel", batch, states[0].dtype, features), make).start(states)

    def fused_weights(self) -> np.ndarray:
        """[W; U; b] in the fast gate order: (features + units + 1, G*units), made once."""
        weights = self.fast_weights()
        if "fused" not in weights:
            weights["fused"] = np.ascontiguousarray(np.vstack([weights["kernel"], weights["recurrent_kernel"],
                                                               weights["bias"][None, :]]), self.dtype)
        return weights["fused"]

    def fast_order(self) -> np.ndarray:
        """Column order of the fast kernel's gates (Keras order by default)."""
        return np.arange(self.GATES * self.units)

    def fast_weights(self) -> dict:
        """Weights for the fast kernel, made once: columns reordered, sigmoid columns halved,
        the input bias as the last row of the input kernel."""
        cached = getattr(self, "_fast", None)
        if cached is None:
            u, order = self.units, self.fast_order()
            scale = np.ones(self.GATES * u, self.dtype)
            scale[: self.SIGMOID_GATES * u] = 0.5
            bias = self.fast_input_bias()
            kernel = self.w["kernel"][:, order] * scale
            cached = {
                "kernel_with_bias": np.ascontiguousarray(np.vstack([kernel, (bias[order] * scale)[None, :]]), self.dtype),
                "kernel": np.ascontiguousarray(kernel, self.dtype),
                "bias": np.ascontiguousarray(bias[order] * scale, self.dtype),
                "recurrent_kernel": np.ascontiguousarray(self.w["recurrent_kernel"][:, order] * scale, self.dtype),
            }
            cached.update(self.fast_extras(cached))
            self._fast = cached
        return cached

    def fast_input_bias(self) -> np.ndarray:
        bias = self.input_bias()
        return np.zeros(self.GATES * self.units, self.dtype) if bias is None else bias

    def fast_extras(self, weights: dict) -> dict:
        return {}

    def fast_projection(self, x: np.ndarray) -> np.ndarray:
        """x @ kernel + bias for all steps, gate-major as the fast kernels read it:
        (batch, time, F) -> (time, G*units, batch). A batch of one: one (time, F) @ (F, G*units)
        product plus the bias, (time, G*units, 1). Larger batches: per step
        [W; b]^T (G*units, F + 1) @ [x_t^T; 1] (F + 1, batch), all steps in ONE batched product
        into a reused buffer (the bias rides on a row of ones)."""
        batch, steps, features = x.shape
        weights = self.fast_weights()
        if batch == 1:
            return (np.matmul(x[0], weights["kernel"]) + weights["bias"])[:, :, None]
        kernel_t = transposed(weights, "kernel_with_bias")  # (G*units, F + 1)
        x_ones = workspace.buffer(self, "x_ones", (steps, features + 1, batch), self.dtype)
        x_ones[:, :features] = x.transpose(1, 2, 0)
        x_ones[:, features] = 1
        xw = workspace.buffer(self, "xw", (steps, kernel_t.shape[0], batch), self.dtype)
        np.matmul(kernel_t, x_ones, out=xw)
        return xw

    def fast_inputs(self, x: np.ndarray) -> np.ndarray:
        """x (batch, time, F) as the fused-input kernels read it: (time, F, batch), in a reused buffer."""
        batch, steps, features = x.shape
        if x.dtype == self.dtype and x.transpose(1, 2, 0).flags.c_contiguous:  # already so: a gate-major sequence output
            return x.transpose(1, 2, 0)
        x_t = workspace.buffer(self, "x_t", (steps, features, batch), self.dtype)
        x_t[...] = x.transpose(1, 2, 0)
        return x_t


class SimpleRNNCell(Cell):
    """h = activation(x W + b + h U)."""

    FAST_KERNEL = SimpleRNNKernel
    FUSES_INPUT = True
    EQUATION = "h_t = activation(x_t W + h_(t-1) U + b)"

    def gates(self, xw_t, states):
        z = xw_t + states[0] @ self.w["recurrent_kernel"]  # (batch, units)
        return {"h": self.activation(z)}


class LSTMCell(Cell):
    """z = x W + b + h U; i, f, o = rec_act(z_i, z_f, z_o); c = f c + i act(z_c); h = o act(c).

    With `projection_units` (PyTorch's proj_size) h is then projected: h = (o act(c)) P,
    P (units, projection_units), and h has projection_units values (U: (projection_units, 4*units))."""

    GATES = 4
    STATES = ("h", "c")
    OPTIONS = {**CELL_OPTIONS, "recurrent_activation": "sigmoid", "projection_units": None}
    FAST_KERNEL = LSTMKernel
    FUSES_INPUT = True
    SIGMOID_GATES = 3

    @classmethod
    def weight_names(cls, config):
        names = super().weight_names(config)
        return names + ["projection_kernel"] if config.get("projection_units") is not None else names

    @property
    def state_sizes(self):
        return [self.output_size, self.units]

    @property
    def output_size(self):
        return self.projection or self.units

    def check(self, features):
        g = 4 * self.units
        self._expect("kernel", (features, g))
        self._expect("recurrent_kernel", (self.output_size, g))
        if self.use_bias:
            self._expect("bias", self.bias_shape())
        if self.projection:
            self._expect("projection_kernel", (self.units, self.projection))

    def can_run_fast(self):
        return not self.projection and super().can_run_fast()

    def fast_order(self):
        u = self.units  # Keras (i, f, c, o) -> (o, i, f, c): the three sigmoid gates first, [i, f] next to c's gate
        return np.concatenate([np.arange(3 * u, 4 * u), np.arange(0, 2 * u), np.arange(2 * u, 3 * u)])

    def __init__(self, owner, config, weights, dtype):
        super().__init__(owner, config, weights, dtype)
        self.recurrent_activation = self._activation("recurrent_activation")
        projection = self.config["projection_units"]
        if projection is not None and (isinstance(projection, bool) or not isinstance(projection, int) or projection < 1):
            raise UnsupportedOptionError(f"layer '{owner}': projection_units={projection!r} is not supported; supported: a positive integer")
        self.projection = projection

    EQUATION = ("z = x_t W + h_(t-1) U + b; i, f, o = recurrent_activation(z_i, z_f, z_o); "
                "candidate = activation(z_c); c_t = f c_(t-1) + i candidate; h_t = o activation(c_t)")

    def gates(self, xw_t, states):
        h, c = states
        u = self.units
        z = xw_t + h @ self.w["recurrent_kernel"]  # (batch, 4*units)
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u : 2 * u])
        g = self.activation(z[:, 2 * u : 3 * u])
        o = self.recurrent_activation(z[:, 3 * u :])
        c = f * c + i * g
        h = o * self.activation(c)
        if self.projection:
            h = h @ self.w["projection_kernel"]  # (batch, projection_units)
        return {"i": i, "f": f, "o": o, "candidate": g, "c": c, "h": h}


class GRUCell(Cell):
    """z, r = rec_act(...); candidate from r (after or before the recurrent product); h = z h + (1 - z) candidate."""

    GATES = 3
    OPTIONS = {**CELL_OPTIONS, "recurrent_activation": "sigmoid", "reset_after": True}
    FAST_KERNEL = GRUKernel
    SIGMOID_GATES = 2

    def fast_input_bias(self):
        bias = super().fast_input_bias().copy()
        if self.reset_after and self.use_bias:  # z and r simply add the recurrent bias
            bias[: 2 * self.units] += self.w["bias"][1][: 2 * self.units]
        return bias

    def fast_extras(self, weights):
        u = self.units
        if self.reset_after:
            return {"recurrent_bias_h": np.ascontiguousarray(self.w["bias"][1][2 * u :])} if self.use_bias else {}
        full = weights["recurrent_kernel"]
        return {"recurrent_kernel": np.ascontiguousarray(full[:, : 2 * u]), "recurrent_kernel_h": np.ascontiguousarray(full[:, 2 * u :])}

    def __init__(self, owner, config, weights, dtype):
        super().__init__(owner, config, weights, dtype)
        self.recurrent_activation = self._activation("recurrent_activation")
        self.reset_after = self.config["reset_after"]

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        if not self.use_bias:
            return None
        return self.w["bias"][0] if self.reset_after else self.w["bias"]

    EQUATION = ("z, r = recurrent_activation(x_t W_zr + h_(t-1) U_zr + b_zr); candidate = activation(x_t W_h + "
                "r (h_(t-1) U_h + b_h)) with reset_after, else activation(x_t W_h + (r h_(t-1)) U_h + b_h); "
                "h_t = z h_(t-1) + (1 - z) candidate")

    def gates(self, xw_t, states):
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
        return {"z": z, "r": r, "candidate": candidate, "h": z * h + (1 - z) * candidate}


class StackedCells:
    """Several cells in one time step: each cell's output is the next one's input (Keras's
    StackedRNNCells). States are the cells' states in order; the output is the last cell's."""

    def __init__(self, owner: str, cells: list[Cell]):
        self.owner = owner
        self.cells = cells
        self.units = cells[-1].units
        self.dtype = cells[0].dtype

    @property
    def state_sizes(self) -> list[int]:
        return [size for cell in self.cells for size in cell.state_sizes]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def can_run_fast(self) -> bool:
        return False  # each cell's step runs as written

    def check(self, features: int) -> None:
        for cell in self.cells:
            cell.check(features)
            features = cell.output_size

    def project(self, x):
        return self.cells[0].project(x)

    def output(self, states: list[np.ndarray]) -> np.ndarray:
        return states[len(self.state_sizes) - len(self.cells[-1].STATES)]

    def step(self, xw_t, states):
        new_states, at, out = [], 0, None
        for i, cell in enumerate(self.cells):
            count = len(cell.STATES)
            projected = xw_t if i == 0 else cell.project_step(out)  # (batch, G*units) of this cell
            updated = cell.step(projected, states[at : at + count])
            new_states += updated
            out = updated[0]
            at += count
        return new_states


CELLS = {"SimpleRNNCell": SimpleRNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}


def build_cell(owner: str, description: dict, weights: dict[str, np.ndarray], dtype):
    """A cell (or stacked cells) from {"class_name", "config"} and its weights by canonical name."""
    if not isinstance(description, dict) or not isinstance(description.get("config"), dict):
        raise ModelFormatError(f"layer '{owner}': the cell description is malformed")
    class_name = description.get("class_name")
    if class_name == "StackedRNNCells":
        parts = description["config"].get("cells")
        if not isinstance(parts, list) or not parts:
            raise ModelFormatError(f"layer '{owner}': StackedRNNCells has no cells")
        cells = [build_cell(owner, part, {k.split("/", 2)[2]: v for k, v in weights.items() if k.startswith(f"cells/{i}/")}, dtype)
                 for i, part in enumerate(parts)]
        return StackedCells(owner, cells)
    if class_name not in CELLS:
        raise UnsupportedLayerError(
            f"layer '{owner}': cell {class_name} is not supported; supported cells: {', '.join(sorted(CELLS))}, StackedRNNCells"
        )
    return CELLS[class_name](owner, description["config"], weights, dtype)


def cell_weight_names(description: dict) -> list[str]:
    """Canonical weight names of a cell description, in Keras's saving order."""
    if not isinstance(description, dict) or not isinstance(description.get("config"), dict):
        return []
    if description.get("class_name") == "StackedRNNCells":
        parts = description["config"].get("cells") or []
        return [f"cells/{i}/{name}" for i, part in enumerate(parts) for name in cell_weight_names(part)]
    cls = CELLS.get(description.get("class_name"))
    return cls.weight_names(description["config"]) if cls else []
