"""The Layer base class: one NumPy layer built from a canonical config and named weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ModelFormatError, UnsupportedOptionError
from . import activations

Shape = tuple  # (None, 4, 3): batch first; None marks a size known only at predict time

REQUIRED = object()  # marks an option without a default


@dataclass
class CallContext:
    """What a layer's call sees besides its input arrays.

    masks: one boolean (batch, time) mask or None per input, as Keras propagates them.
    kwargs: tensor keyword arguments of the call (e.g. `initial_state`), as lists of arrays.
    options: plain call options (e.g. `use_causal_mask`), defaults filled in.
    state: where recurrent layers keep their states between calls (stateful models and
        streaming), or None: then every call starts from zero states.
    """

    masks: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    state: dict | None = None

    def mask(self, index: int = 0):
        return self.masks[index] if index < len(self.masks) else None


class Values:
    """What a layer's `arguments(get)` reads at run time: its weights (under `prefix`), its
    activations and zeros as values. (export.LayerExport answers the same calls with script code.)"""

    def __init__(self, weights: dict, dtype, prefix: str = ""):
        self.weights, self.dtype, self.prefix = weights, dtype, prefix

    def weight(self, key: str):
        return self.weights.get(self.prefix + key)

    def activation(self, spec, clip=None):
        return activations.get(spec, clip)

    def zeros(self, shape):
        return np.zeros(shape, self.dtype)


class Layer:
    """Base of every NumPy layer.

    Subclasses declare ``OPTIONS`` (canonical option name -> default, or ``REQUIRED``),
    ``weight_names(config)`` (in the framework's saving order), ``build`` (validates weights
    against the input shapes and returns the output shapes) and ``call``. Layers called with
    tensor keyword arguments or call options declare them in ``CALL_KWARGS`` / ``CALL_OPTIONS``
    and override ``build_call``. ``MASKING`` says what happens to an incoming mask, as Keras
    does it: "propagate" passes the first input's mask on, "drop" ends it; layers with other
    rules override ``compute_masks``.

    A layer whose output is one plain NumPy function of its inputs declares it: ``FUNCTION``
    and ``arguments(get)`` (what follows the inputs, read through `get`); ``call`` and
    ``export`` then both come from that one declaration. (A layer with a fast path overrides
    ``call`` and keeps FUNCTION as its readable definition, which export writes.)
    """

    FUNCTION: ClassVar = None

    OPTIONS: ClassVar[dict[str, Any]] = {}
    CALL_KWARGS: ClassVar[frozenset] = frozenset()
    CALL_OPTIONS: ClassVar[dict[str, Any]] = {}
    MASKING: ClassVar[str] = "propagate"
    ACCEPTS_INTEGERS: ClassVar[bool] = False  # else integer inputs arrive cast to the model's float dtype
    RAW_MASKS: ClassVar[bool] = False  # a mask argument arrives as given, not cast to booleans (tf.keras's Softmax)
    TIME_LOCAL: ClassVar[bool] = False  # each time step's output depends only on that step (streamable)

    def __init__(self, name: str, class_name: str, config: dict, weights: dict[str, np.ndarray], dtype):
        self.name = name
        self.class_name = class_name
        self.dtype = np.dtype(dtype)
        self.config = self._fill_options(config)
        expected = list(self.weight_names(self.config))
        if sorted(weights) != sorted(expected):
            raise ModelFormatError(
                f"layer '{name}' ({class_name}) has weights {sorted(weights)}, expected {expected}"
            )
        self.weights = {k: _as_float_array(v, self.dtype, name, k) for k, v in weights.items()}
        self.input_shapes: list[Shape] = []
        self.output_shapes: list[Shape] = []

    @classmethod
    def weight_names(cls, config: dict) -> list[str]:
        """Names of this layer's weights, in the order the framework saves them."""
        return []

    def build(self, input_shapes: list[Shape]) -> list[Shape]:
        """Check the weights against the input shapes; return the output shapes."""
        raise NotImplementedError

    def build_call(self, input_shapes: list[Shape], kwarg_shapes: dict[str, list[Shape]], options: dict) -> list[Shape]:
        """Like `build`, for layers whose calls take tensor keyword arguments or options."""
        return self.build(input_shapes)

    def call(self, inputs: list[np.ndarray], ctx: CallContext) -> list[np.ndarray]:
        """Compute the outputs for a list of input arrays (batch first)."""
        if self.FUNCTION is None:
            raise NotImplementedError
        return [self.FUNCTION(*inputs, *self.bound)]

    def arguments(self, get) -> list:
        """FUNCTION's arguments after the inputs, read through `get`: get.weight(name),
        get.activation(spec), get.zeros(shape) — values at run time, code in an exported script."""
        return []

    def compute_masks(self, inputs: list[np.ndarray], ctx: CallContext, outputs: list[np.ndarray]) -> list:
        """The mask of each output (None for no mask), following Keras's compute_mask."""
        if self.MASKING == "propagate":
            return [ctx.mask(0)] * len(outputs)
        return [None] * len(outputs)

    def creates_masks(self) -> bool:
        """True if this layer can produce a mask from unmasked inputs (Masking, Embedding)."""
        return False

    def stream_problem(self) -> str | None:
        """Why this layer cannot run on a sequence chunk by chunk (None if it can)."""
        return None if self.TIME_LOCAL else "its output at one time step depends on other time steps"

    @property
    def stateful(self) -> bool:
        """True if this layer keeps states from one call to the next (Keras's stateful=True)."""
        return bool(self.config.get("stateful", False))

    def clears_input_masks(self) -> bool:
        """True if, once run, its input tensors lose their masks (Keras 3's MultiHeadAttention)."""
        return False

    # -- export (export.py) --------------------------------------------------------------

    def export(self, e) -> list | None:
        """Write this call into an exported script: return one expression per output, or write
        lines assigning `e.outputs` and return None. Expressions call the same plain NumPy
        functions `call` runs (e.call copies them into the script); `e` (export.LayerExport)
        gives the inputs, masks, tensor arguments and weights as code. A layer with neither this
        nor a FUNCTION is refused by name."""
        if self.FUNCTION is None:
            raise e.refuse("it is not in the exported set yet")
        return [e.call(self.FUNCTION, *e.inputs, *self.arguments(e))]

    def export_masks(self, e) -> list:
        """The masks of the outputs in an exported script (a variable or None each), as
        compute_masks gives them at run time."""
        if type(self).compute_masks is not Layer.compute_masks:
            if any(m is not None for m in e.masks):
                raise e.refuse("its output mask is not exported")
            return [None] * len(e.outputs)
        return [e.mask if self.MASKING == "propagate" else None] * len(e.outputs)

    def integer_outputs(self, integer_inputs: list[bool]) -> list[bool]:
        """Which outputs hold integers, given which inputs do (export keeps track of it; at
        run time NumPy's dtypes say)."""
        return [False] * len(self.output_shapes)

    # -- helpers for subclasses ---------------------------------------------------------

    def setup(self, input_shapes: list[Shape], kwarg_shapes: dict | None = None, options: dict | None = None) -> list[Shape]:
        """Check the call's arguments, run `build_call`, remember the shapes (the model calls this).

        Returns the output shapes; `options` comes back with the defaults filled in."""
        kwarg_shapes = {k: v for k, v in (kwarg_shapes or {}).items() if k != "mask"}  # masks reach ctx.masks
        options = options if options is not None else {}
        unknown = sorted(set(kwarg_shapes) - self.CALL_KWARGS) + sorted(set(options) - set(self.CALL_OPTIONS))
        if unknown:
            accepted = sorted(self.CALL_KWARGS) + sorted(self.CALL_OPTIONS)
            raise UnsupportedOptionError(
                f"layer '{self.name}' ({self.class_name}) is called with {', '.join(unknown)}, which npinfer does not "
                f"support for this layer; supported call arguments: {', '.join(accepted) or 'none'}"
            )
        for key, default in self.CALL_OPTIONS.items():
            options.setdefault(key, default)
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.output_shapes = [tuple(s) for s in self.build_call(self.input_shapes, kwarg_shapes, options)]
        if self.FUNCTION is not None:
            self.bound = self.arguments(Values(self.weights, self.dtype))  # FUNCTION's arguments, made once
        return self.output_shapes

    @property
    def param_count(self) -> int:
        """Number of scalar weights, as Keras counts parameters."""
        return int(sum(w.size for w in self.weights.values()))

    def expect_inputs(self, input_shapes: list[Shape], count: int | None = 1, min_rank: int = 1,
                      rank: int | None = None) -> None:
        """Refuse a wrong number of inputs or a wrong rank (ModelFormatError)."""
        if count is not None and len(input_shapes) != count:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) takes {count} input(s), got {len(input_shapes)}")
        for shape in input_shapes:
            if rank is not None and len(shape) != rank:
                raise ModelFormatError(
                    f"layer '{self.name}' ({self.class_name}) needs rank-{rank} input (batch first), "
                    f"got shape {format_shape(shape)}"
                )
            if len(shape) < min_rank:
                raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs input of rank >= {min_rank}, got {format_shape(shape)}")

    def expect_weight(self, key: str, shape: tuple) -> None:
        """Refuse a weight whose shape is not `shape` (ModelFormatError)."""
        got = self.weights[key].shape
        if got != tuple(shape):
            raise ModelFormatError(
                f"layer '{self.name}' ({self.class_name}): weight '{key}' has shape {got}, expected {tuple(shape)}"
            )

    def window_work(self) -> tuple[float, int]:
        """(multiply-adds per sample, the NumPy calls they come in) of a layer whose work is a
        few large products (a convolution; per time step for ConvLSTM): how parallel.run_tiles (and tiles.tile_size)
        judges threads. (0, 0) for the rest, whose calls are small (recurrent steps count in
        Graph.work_per_row). Read right after build, for that call's shapes."""
        return 0.0, 0

    def refuse(self, option: str, value: Any, supported: str) -> UnsupportedOptionError:
        """Build the error for an option value this layer does not implement."""
        return UnsupportedOptionError(
            f"layer '{self.name}' ({self.class_name}): {option}={value!r} is not supported; supported: {supported}"
        )

    def _fill_options(self, config: dict) -> dict:
        unknown = set(config) - set(self.OPTIONS)
        if unknown:
            raise UnsupportedOptionError(
                f"layer '{self.name}' ({self.class_name}): option(s) {sorted(unknown)} not supported; "
                f"supported: {sorted(self.OPTIONS) or 'none'}"
            )
        full = {}
        for key, default in self.OPTIONS.items():
            if key in config:
                full[key] = config[key]
            elif default is REQUIRED:
                raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) is missing option '{key}'")
            else:
                full[key] = default
        return full


def _as_float_array(value, dtype: np.dtype, layer: str, key: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ModelFormatError(f"layer '{layer}': weight '{key}' has dtype {array.dtype}, expected numbers")
    return np.asarray(array, dtype=dtype, order="C")  # (np.ascontiguousarray would make a 0-d weight 1-D)


def format_shape(shape: Shape) -> str:
    """Shape as Keras prints it: (None, 4, 3)."""
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(layer: Layer, shapes: list[Shape]) -> Shape:
    """The shape of an element-wise result of `shapes` (NumPy broadcasting; None: unknown)."""
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ModelFormatError(f"layer '{layer.name}' ({layer.class_name}) cannot combine shapes {', '.join(map(format_shape, shapes))}")
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


def require_bool(layer: Layer, key: str) -> bool:
    """Return option `key` if it is a bool, else refuse it."""
    value = layer.config[key]
    if not isinstance(value, bool):
        raise layer.refuse(key, value, "true or false")
    return value


def require_positive_int(layer: Layer, key: str) -> int:
    """Return option `key` if it is an int >= 1, else refuse it."""
    value = layer.config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise layer.refuse(key, value, "a positive integer")
    return value
