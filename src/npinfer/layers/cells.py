"""Recurrent cells: each computes ONE time step. The loop over time is recurrent.rnn.

The math of a step is written once, as the plain NumPy functions below (simple_rnn_step,
lstm_step, gru_step, stacked_step): predict runs them, `npinfer export` copies their source
into its scripts, and Model.trace reads the values they record. The Cell classes check a
layer's options and weights and build the step from them. kernels.py holds the fast path
(in place, gate-major), tested equal to these functions.

Canonical weight layout (the importers convert every framework to it):
- kernel (features, G*units), recurrent_kernel (units, G*units), gates in Keras order:
  SimpleRNN G=1; LSTM G=4 (i, f, c, o); GRU G=3 (z, r, h).
- bias (G*units,); GRU with reset_after: (2, 3*units) = [input bias; recurrent bias].
- LSTM peepholes (ONNX): (3, units) = [p_i; p_f; p_o].
A cell is described by a canonical config {"class_name": "LSTMCell", "config": {...}}.
Options that Keras cells lack (ONNX's clip, peepholes, input_forget, and an LSTM's own
activation for the cell state) are options of the same cells, run by the same step.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from . import activations
from .base import REQUIRED, Values
from .conv import conv_bounded, geometry
from .kernels import GRUKernel, LSTMKernel, SimpleRNNKernel, fast_cell

CELL_OPTIONS = {"units": REQUIRED, "activation": "tanh", "use_bias": True, "clip": None}


# -- the step functions (copied verbatim into exported scripts) --------------------------------
# Each returns step(x_t, states, record=None) -> (output, new states): x_t (batch, features),
# states a list of (batch, size) arrays. With `record` (a dict) it also keeps every quantity
# it computed, by name (for traces).


def simple_rnn_step(W, U, b, activation):
    """h = activation(x_t W + h U + b), as in the article."""
    def step(x_t, states, record=None):
        (h,) = states
        h = activation(x_t @ W + h @ U + b)
        if record is not None:
            record["h"] = h
        return h, [h]
    return step


def lstm_gates(z, c, activation, recurrent_activation, cell_activation=None, peepholes=None, input_forget=False):
    """The LSTM cell from its pre-activations z (..., 4*units) = [i, f, c, o] and the previous
    c: i, f, o = recurrent_activation(...); c = f c + i activation(z_c); h = o activation(c).
    ONNX's options: `cell_activation` for c in h (default: `activation`); `peepholes` (3, units):
    i and f also read the previous c, o the new one; `input_forget`: f = 1 - i.
    Returns {i, f, o, candidate, c, h}."""
    units = z.shape[-1] // 4
    z_i, z_f, z_o = z[..., :units], z[..., units : 2 * units], z[..., 3 * units :]
    if peepholes is not None:
        z_i, z_f = z_i + peepholes[0] * c, z_f + peepholes[1] * c
    i = recurrent_activation(z_i)
    f = 1 - i if input_forget else recurrent_activation(z_f)
    candidate = activation(z[..., 2 * units : 3 * units])
    c = f * c + i * candidate
    if peepholes is not None:
        z_o = z_o + peepholes[2] * c
    o = recurrent_activation(z_o)
    h = o * (activation if cell_activation is None else cell_activation)(c)
    return {"i": i, "f": f, "o": o, "candidate": candidate, "c": c, "h": h}


def lstm_step(W, U, b, activation, recurrent_activation, projection=None, cell_activation=None, peepholes=None,
              input_forget=False):
    """z = x_t W + h U + b; the gates as lstm_gates computes them. With `projection` P (units,
    projection_units), PyTorch's proj_size: h = (o activation(c)) P, and U is
    (projection_units, 4*units)."""
    def step(x_t, states, record=None):
        h, c = states
        z = x_t @ W + h @ U + b  # (batch, 4*units): i, f, c, o
        values = lstm_gates(z, c, activation, recurrent_activation, cell_activation, peepholes, input_forget)
        if projection is not None:
            values["h"] = values["h"] @ projection  # (batch, projection_units)
        if record is not None:
            record.update(values)
        return values["h"], [values["h"], values["c"]]
    return step


def conv_lstm_step(W, U, b, activation, recurrent_activation, strides, padding, dilation):
    """ConvLSTM: z = conv(x_t, W) + conv(h, U) + b, the recurrent convolution 'same' with
    stride 1 (each as the product over the gathered windows, in bounded memory: conv_bounded), then the LSTM's
    gates at every position (lstm_gates). x_t (batch, *spatial,
    channels), h and c (batch, *out, filters); W (*k, channels, 4*filters), U (*k, filters, 4*filters)."""
    ones = (1,) * len(strides)

    def step(x_t, states, record=None):
        h, c = states
        z = conv_bounded(x_t, W, b, strides, padding, dilation, 1, None)  # (batch, *out, 4*filters)
        z += conv_bounded(h, U, None, ones, "same", ones, 1, None)
        values = lstm_gates(z, c, activation, recurrent_activation)
        if record is not None:
            record.update(values)
        return values["h"], [values["h"], values["c"]]
    return step


def gru_step(W, U, b, activation, recurrent_activation, reset_after=True):
    """z, r gates; candidate from r applied after (reset_after) or before the recurrent
    product; h = z h + (1 - z) candidate. With reset_after, b holds [input bias; recurrent bias]."""
    units = U.shape[0]
    b_in, b_rec = (b[0], b[1]) if reset_after else (b, None)

    def step(x_t, states, record=None):
        (h,) = states
        x_part = x_t @ W + b_in  # (batch, 3*units): z, r, candidate
        if reset_after:
            inner = h @ U + b_rec  # (batch, 3*units)
            z = recurrent_activation(x_part[:, :units] + inner[:, :units])
            r = recurrent_activation(x_part[:, units : 2 * units] + inner[:, units : 2 * units])
            candidate = activation(x_part[:, 2 * units :] + r * inner[:, 2 * units :])
        else:
            inner = h @ U[:, : 2 * units]  # (batch, 2*units)
            z = recurrent_activation(x_part[:, :units] + inner[:, :units])
            r = recurrent_activation(x_part[:, units : 2 * units] + inner[:, units:])
            candidate = activation(x_part[:, 2 * units :] + (r * h) @ U[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        if record is not None:
            record.update(z=z, r=r, candidate=candidate, h=h)
        return h, [h]
    return step


def stacked_step(steps, counts):
    """StackedRNNCells: in each time step every cell runs in turn, its output the next one's
    input; states are the cells' states in order (counts[i] of them for cell i). Recorded
    values are named cell<i>/<name>."""
    def step(x_t, states, record=None):
        new_states, at = [], 0
        for i, (cell_step, count) in enumerate(zip(steps, counts)):
            values = None if record is None else {}
            x_t, updated = cell_step(x_t, states[at : at + count], values)  # x_t: (batch, units of this cell)
            if record is not None:
                record.update((f"cell{i}/{name}", value) for name, value in values.items())
            new_states += updated
            at += count
        return x_t, new_states
    return step


# -- cells: options and weights checked, the step built ----------------------------------------


class Cell:
    """One step of a recurrent layer. `states[0]` is always the output h."""

    GATES = 1
    STATES = ("h",)
    OPTIONS = CELL_OPTIONS
    FAST_KERNEL = None  # kernels.py: the in-place step used with default activations and no mask
    FUSES_INPUT = False  # the fast kernel can take x_t itself ([x_t, h, 1] @ [W; U; b])
    ACTIVATION_KEYS = ("activation",)
    EQUATION = ""  # what one step computes, for traces

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
        for key in ("use_bias", "reset_after", "peepholes", "input_forget"):
            if key in self.config and not isinstance(self.config[key], bool):
                raise UnsupportedOptionError(f"layer '{owner}': {key}={self.config[key]!r} is not supported; supported: true or false")
        clip = self.config["clip"]
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0):
            raise UnsupportedOptionError(f"layer '{owner}': clip={clip!r} is not supported; supported: a positive number or None")
        self.units = units
        self.dtype = np.dtype(dtype)
        self.w = weights
        self.use_bias = self.config["use_bias"]
        self.activations = [key for key in self.ACTIVATION_KEYS if self.config.get(key) is not None]
        for key in self.activations:
            self._check_activation(key)
        self._step = None
        self._fast = None

    def _check_activation(self, key):
        spec = self.config[key]
        activations.check_axes(spec, 2, f"layer '{self.owner}' {key}")
        if activations.output_shape(spec, (None, self.units)) != (None, self.units):
            raise UnsupportedOptionError(f"layer '{self.owner}': {key} '{activations.canonical(spec)['name']}' changes the shape")

    def function_specs(self) -> dict:
        """The functions the step takes: key -> (activation description, the bound ONNX's `clip`
        puts on the pre-activation it reads, None: no clip). Every gate's input is clipped."""
        return {key: (self.config[key], self.config["clip"]) for key in self.activations}

    @classmethod
    def weight_names(cls, config: dict) -> list[str]:
        names = ["kernel", "recurrent_kernel"]
        return names + ["bias"] if config.get("use_bias", True) else names

    @property
    def state_sizes(self) -> list[int]:
        return [self.units] * len(self.STATES)

    @property
    def state_names(self) -> list[str]:
        """What a trace calls each state (the names the step records them under)."""
        return list(self.STATES)

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

    def bias(self) -> np.ndarray:
        """The bias, zeros without one (the step functions always add one)."""
        return self.w["bias"] if self.use_bias else np.zeros(self.bias_shape(), self.dtype)

    # -- the step ---------------------------------------------------------------------------

    def step_function(self):
        """This cell's step (made once): step(x_t, states, record=None) -> (output, new states)."""
        if self._step is None:
            args, kwargs = self.step_arguments(Values(self.w, self.dtype), "")
            self._step = self.make_step(*args, **kwargs)
        return self._step

    def export_step(self, e, prefix: str):
        """Code building this cell's step in an exported script (weights under `prefix`)."""
        args, kwargs = self.step_arguments(e, prefix)
        return e.call(self.make_step, *args, **kwargs)

    make_step = staticmethod(simple_rnn_step)

    def step_arguments(self, get, prefix: str) -> tuple[list, dict]:
        """make_step's arguments and keyword arguments, read through `get` (base.Values at run
        time, export.LayerExport in a script); weights under `prefix`."""
        weights = {key: get.weight(prefix + key) for key in self.w}
        if not self.use_bias:
            weights["bias"] = get.zeros(self.bias_shape())
        functions = {key: get.activation(spec, clip) for key, (spec, clip) in self.function_specs().items()}
        return self.arguments_of(weights, functions)

    def arguments_of(self, weights: dict, functions: dict) -> tuple[list, dict]:
        return [weights["kernel"], weights["recurrent_kernel"], weights["bias"], functions["activation"]], {}

    @property
    def fast(self):
        """The fast kernel's set-up for this cell (kernels.FastCell), or None when only the
        readable step computes it (other activations, projections, ONNX's extra options)."""
        if self._fast is None:
            self._fast = fast_cell(self) or False
        return self._fast or None

    def runs_fast(self) -> bool:
        """True when the fast kernel computes exactly this cell: tanh activation, sigmoid gates,
        none of ONNX's extra options but clip."""
        names = {key: activations.canonical(self.config[key])["name"] for key in self.ACTIVATION_KEYS
                 if self.config.get(key) is not None}
        return (self.FAST_KERNEL is not None and names.get("activation") == "tanh"
                and names.get("recurrent_activation", "sigmoid") == "sigmoid")


class SimpleRNNCell(Cell):
    """h = activation(x W + b + h U)."""

    FAST_KERNEL = SimpleRNNKernel
    FUSES_INPUT = True
    EQUATION = "h_t = activation(x_t W + h_(t-1) U + b)"


class LSTMCell(Cell):
    """z = x W + b + h U; i, f, o = rec_act(z_i, z_f, z_o); c = f c + i act(z_c); h = o act(c).

    With `projection_units` (PyTorch's proj_size) h is then projected: h = (o act(c)) P,
    P (units, projection_units), and h has projection_units values (U: (projection_units, 4*units))."""

    GATES = 4
    STATES = ("h", "c")
    OPTIONS = {**CELL_OPTIONS, "recurrent_activation": "sigmoid", "projection_units": None, "cell_activation": None,
               "peepholes": False, "input_forget": False}
    ACTIVATION_KEYS = ("activation", "recurrent_activation", "cell_activation")
    FAST_KERNEL = LSTMKernel
    FUSES_INPUT = True
    EQUATION = ("z = x_t W + h_(t-1) U + b; i, f, o = recurrent_activation(z_i, z_f, z_o); "
                "candidate = activation(z_c); c_t = f c_(t-1) + i candidate; h_t = o activation(c_t)")
    make_step = staticmethod(lstm_step)

    def __init__(self, owner, config, weights, dtype):
        super().__init__(owner, config, weights, dtype)
        projection = self.config["projection_units"]
        if projection is not None and (isinstance(projection, bool) or not isinstance(projection, int) or projection < 1):
            raise UnsupportedOptionError(f"layer '{owner}': projection_units={projection!r} is not supported; supported: a positive integer")
        self.projection = projection

    def function_specs(self):
        """ONNX's clip bounds the four gates' pre-activations, never the cell state (ONNX Runtime:
        h = o h(c) reads c unclipped). So with a clip the cell state's function is passed on its
        own, unclipped, even where it is `activation` (whose clipped binding serves the candidate)."""
        specs = super().function_specs()
        cell = self.config["cell_activation"]
        if cell is not None or self.config["clip"] is not None:
            specs["cell_activation"] = (self.config["activation"] if cell is None else cell, None)
        return specs

    @classmethod
    def weight_names(cls, config):
        names = super().weight_names(config)
        names += ["projection_kernel"] if config.get("projection_units") is not None else []
        return names + (["peepholes"] if config.get("peepholes") else [])

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
        if self.config["peepholes"]:
            self._expect("peepholes", (3, self.units))

    def arguments_of(self, weights, functions):
        keywords = {}
        if self.projection:
            keywords["projection"] = weights["projection_kernel"]
        if "cell_activation" in functions:
            keywords["cell_activation"] = functions["cell_activation"]
        if self.config["peepholes"]:
            keywords["peepholes"] = weights["peepholes"]
        if self.config["input_forget"]:
            keywords["input_forget"] = True
        return [weights["kernel"], weights["recurrent_kernel"], weights["bias"], functions["activation"],
                functions["recurrent_activation"]], keywords

    def runs_fast(self):
        variant = self.projection or self.config["peepholes"] or self.config["input_forget"] or self.config["cell_activation"] is not None
        return not variant and super().runs_fast()


class GRUCell(Cell):
    """z, r = rec_act(...); candidate from r (after or before the recurrent product); h = z h + (1 - z) candidate."""

    GATES = 3
    OPTIONS = {**CELL_OPTIONS, "recurrent_activation": "sigmoid", "reset_after": True}
    ACTIVATION_KEYS = ("activation", "recurrent_activation")
    FAST_KERNEL = GRUKernel
    EQUATION = ("z, r = recurrent_activation(x_t W_zr + h_(t-1) U_zr + b_zr); candidate = activation(x_t W_h + "
                "r (h_(t-1) U_h + b_h)) with reset_after, else activation(x_t W_h + (r h_(t-1)) U_h + b_h); "
                "h_t = z h_(t-1) + (1 - z) candidate")
    make_step = staticmethod(gru_step)

    def __init__(self, owner, config, weights, dtype):
        super().__init__(owner, config, weights, dtype)
        self.reset_after = self.config["reset_after"]

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def arguments_of(self, weights, functions):
        return ([weights["kernel"], weights["recurrent_kernel"], weights["bias"], functions["activation"],
                 functions["recurrent_activation"]], {"reset_after": self.reset_after})


class ConvLSTMCell(Cell):
    """ConvLSTM1D / 2D / 3D's cell: the LSTM with convolutions for products (channels last).
    `units` are its filters; states (batch, *out, filters)."""

    GATES = 4
    STATES = ("h", "c")
    OPTIONS = {**CELL_OPTIONS, "recurrent_activation": "sigmoid", "kernel_size": REQUIRED, "strides": 1, "padding": "valid",
               "dilation_rate": 1}
    ACTIVATION_KEYS = ("activation", "recurrent_activation")
    EQUATION = ("z = conv(x_t, W) + conv(h_(t-1), U) + b; i, f, o = recurrent_activation(z_i, z_f, z_o); "
                "candidate = activation(z_c); c_t = f c_(t-1) + i candidate; h_t = o activation(c_t) (at every position)")
    make_step = staticmethod(conv_lstm_step)

    def sizes(self, key: str, rank: int) -> tuple:
        value = self.config[key]
        values = [value] * rank if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(values, list) or len(values) != rank or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise UnsupportedOptionError(f"layer '{self.owner}': {key}={value!r} is not supported; supported: a positive "
                                         f"integer or {rank} of them")
        return tuple(values)

    def check(self, features) -> None:
        """features: the input's (*spatial, channels) per time step."""
        *spatial, channels = features
        rank = len(spatial)
        self.kernel, self.strides, self.dilation = (self.sizes(k, rank) for k in ("kernel_size", "strides", "dilation_rate"))
        padding = self.config["padding"]
        if padding not in ("valid", "same"):
            raise UnsupportedOptionError(f"layer '{self.owner}': padding={padding!r} is not supported; supported: valid, same")
        if None in spatial or channels is None:
            raise ModelFormatError(f"layer '{self.owner}' needs known spatial and channel sizes (as Keras does), got {tuple(features)}")
        self.out = tuple(geometry(size, k, s, d, padding)[0] for size, k, s, d in zip(spatial, self.kernel, self.strides, self.dilation))
        g = 4 * self.units
        self._expect("kernel", self.kernel + (channels, g))
        self._expect("recurrent_kernel", self.kernel + (self.units, g))
        if self.use_bias:
            self._expect("bias", (g,))

    @property
    def state_sizes(self):
        return [self.out + (self.units,)] * 2

    @property
    def output_size(self):
        return self.out + (self.units,)

    def arguments_of(self, weights, functions):
        return ([weights["kernel"], weights["recurrent_kernel"], weights["bias"], functions["activation"],
                 functions["recurrent_activation"], self.strides, self.config["padding"], self.dilation], {})


class StackedCells:
    """Several cells in one time step: each cell's output is the next one's input (Keras's
    StackedRNNCells). States are the cells' states in order; the output is the last cell's."""

    EQUATION_JOIN = "; then "
    fast = None  # each cell's step runs as written

    def __init__(self, owner: str, cells: list[Cell]):
        self.owner = owner
        self.cells = cells
        self.units = cells[-1].units
        self.dtype = cells[0].dtype
        self._step = None

    @property
    def state_sizes(self) -> list[int]:
        return [size for cell in self.cells for size in cell.state_sizes]

    @property
    def state_names(self) -> list[str]:
        return [f"cell{i}/{name}" for i, cell in enumerate(self.cells) for name in cell.state_names]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    @property
    def EQUATION(self) -> str:  # noqa: N802  (read like the cells' constant)
        return self.EQUATION_JOIN.join(cell.EQUATION for cell in self.cells)

    def check(self, features: int) -> None:
        for cell in self.cells:
            cell.check(features)
            features = cell.output_size

    def counts(self) -> list[int]:
        return [len(cell.STATES) for cell in self.cells]

    def step_function(self):
        if self._step is None:
            self._step = stacked_step([cell.step_function() for cell in self.cells], self.counts())
        return self._step

    def export_step(self, e, prefix: str):
        steps = [cell.export_step(e, f"{prefix}cells/{i}/") for i, cell in enumerate(self.cells)]
        return e.call(stacked_step, steps, self.counts())


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
