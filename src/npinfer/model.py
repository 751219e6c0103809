"""Model: a graph of NumPy layers built from a ModelSpec; predict, summary, intermediates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import InputError, InputShapeError, ModelFormatError, NpinferError, ResourceLimitError, UnsupportedOptionError
from .graph import Graph
from .layers import create_layer
from .layers.base import Layer, format_shape
from .layers.recurrent import StateStore
from .limits import Limits, current
from .parallel import run_tiles
from .spec import ModelSpec
from .tiles import smallest_tile, tile_size

SUPPORTED_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: its name, shape (batch first, None if free) and dtype."""

    name: str
    shape: tuple
    dtype: str


class InputsOutputs:
    """Names and shapes read from `inputs` / `outputs` (lists of TensorInfo), for every model kind."""

    inputs: list
    outputs: list

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    @property
    def input_shape(self):
        """Input shape (batch first, None where free); a list of shapes for several inputs."""
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """Output shape; a list of shapes for several outputs."""
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes


class Model(InputsOutputs):
    """A model ready to predict with NumPy. Build it with `npinfer.load` or `npinfer.from_keras`."""

    tier = "layer"  # npinfer's layers (an ONNX graph they do not cover runs on the tensor tier: ops.model.TypedModel)

    def __init__(self, spec: ModelSpec, dtype: str = "float32", limits: Limits | None = None):
        if str(dtype) not in SUPPORTED_DTYPES:
            raise UnsupportedOptionError(f"dtype {dtype!r} is not supported; supported: {', '.join(SUPPORTED_DTYPES)}")
        self.spec = spec
        self.dtype = np.dtype(str(dtype))
        self.name = spec.name
        self._layers: dict[str, Layer] = {}
        for layer_spec in spec.layers:
            if layer_spec.name in self._layers:
                raise ModelFormatError(f"two layers are named '{layer_spec.name}'")
            self._layers[layer_spec.name] = create_layer(
                layer_spec.name, layer_spec.class_name, layer_spec.config, layer_spec.weights, self.dtype
            )
        self._graph = Graph(spec, self._layers)
        self._shapes = self._graph.shapes
        for ref in spec.inputs:
            if self._layers[ref[0]].class_name != "InputLayer":
                raise ModelFormatError(f"model input '{ref[0]}' is not an InputLayer")
        self.inputs = [TensorInfo(name, self._shapes[r], self._layers[r[0]].config["dtype"])
                       for name, r in zip(spec.public_names("inputs"), spec.inputs)]
        self.outputs = [TensorInfo(name, self._shapes[r], self.dtype.name) for name, r in zip(spec.public_names("outputs"), spec.outputs)]
        self.batch_axes = [self._layers[r[0]].config["batch_axis"] for r in spec.inputs]
        self._stateful = [layer.name for layer in self._layers.values() if layer.stateful]
        self._state = StateStore() if self._stateful else None
        # one input in the model's float dtype: its shape, for predict's fast input check (else None)
        self.limits = current(limits)
        self.path: str | None = None  # the file it was loaded from (npinfer.load sets it), named in errors
        self._largest = _largest_activation(self._shapes)  # (ref, its shape, elements per sample)
        self._tiles: dict[tuple, int] = {}  # rows per tile, by the inputs' sample shapes
        self._one_tile: float | None = None  # batches up to this many rows are one tile (set on first use)
        self._plain_input = self.inputs[0].shape if len(self.inputs) == 1 and self.inputs[0].dtype == self.dtype.name else None

    # -- public API -----------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The layers, in the order of the model file."""
        return list(self._layers.values())

    def get_layer(self, name: str) -> Layer:
        """The layer called `name`."""
        try:
            return self._layers[name]
        except KeyError:
            raise NpinferError(f"no layer named {name!r}; layers: {', '.join(self._layers)}") from None

    def predict(self, x: Any, batch_size: int | None = None, outputs: Sequence[str] | None = None):
        """Run the model on `x` and return its output(s).

        x: an array (or nested list) for a one-input model; a list in input order or a dict
        by input name for several inputs. Any numeric dtype; computed in the model's dtype.
        batch_size: split the batch into chunks of this size (same numbers, less memory).
        outputs: layer names whose outputs to return too. Then the result is a dict
        {name: array} holding the model's outputs (under `output_names`) and each named
        layer's output (a list where a layer has several outputs).
        Without `outputs`: one output gives an ndarray, several give a list (as Keras).
        """
        arrays = self._prepare_inputs(x)
        if outputs is None and batch_size is None:  # the common call, with the least bookkeeping
            results = self._run(arrays, self.spec.outputs)
            return results[0] if len(results) == 1 else list(results)
        wanted = list(self.spec.outputs)
        extra: list[str] = []
        if outputs is not None:
            if isinstance(outputs, str):
                outputs = [outputs]
            for name in outputs:
                self.get_layer(name)
                if self._graph.calls.get(name, 0) < 1:
                    raise NpinferError(f"layer {name!r} is never called in the model, so it has no output")
                extra.append(name)
                wanted += self._graph.output_refs(name)
        results = self._run_batched(arrays, wanted, batch_size)
        by_ref = dict(zip(wanted, results))
        model_outputs = [by_ref[r] for r in self.spec.outputs]
        if outputs is None:
            return model_outputs[0] if len(model_outputs) == 1 else model_outputs
        named: dict[str, Any] = {}
        for name, value in zip(self.output_names, model_outputs):
            named.setdefault(name, []).append(value)
        for name in extra:
            named[name] = [by_ref[r] for r in self._graph.output_refs(name)]
        return {k: v[0] if len(v) == 1 else v for k, v in named.items()}

    def __call__(self, x: Any):
        """Same as predict(x)."""
        return self.predict(x)

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of layers like Keras's: name (type), output shape, parameter count."""
        from .summary import summary_lines

        for line in summary_lines(self):
            print_fn(line)

    def save(self, path) -> None:
        """Save as an npinfer `.npz` (JSON config + arrays; no pickle). Round trips are bit-exact."""
        from .format import save_spec

        save_spec(self.spec, path)

    @property
    def param_count(self) -> int:
        """Total number of weights."""
        total, seen = 0, set()
        for spec in self.spec.layers:  # an array several layers share (an unrolled Loop's) counts once
            total += self._layers[spec.name].param_count
            total -= sum(w.size for w in spec.weights.values() if id(w) in seen)
            seen.update(id(w) for w in spec.weights.values())
        return int(total)

    def node_output_shapes(self, layer_name: str) -> list[tuple]:
        """Output shapes of a layer's first call (empty if it is never called)."""
        return [self._shapes[r] for r in self._graph.output_refs(layer_name)]

    def node_inputs(self, layer_name: str) -> list[tuple]:
        """Input refs of a layer's first call."""
        return self._graph.first_call_inputs(layer_name)

    def layer_output_refs(self, layer_name: str) -> list[tuple]:
        """Refs (layer, call, output) of the outputs of a layer's first call (empty if never called)."""
        return self._graph.output_refs(layer_name)

    @property
    def calls(self) -> list:
        """Every call of every layer (graph.Node: layer, index, call, options), in evaluation order."""
        return list(self._graph.nodes)

    @property
    def may_mask(self) -> bool:
        """True if a mask can flow through the model (a layer makes one, or a call is given one)."""
        return self._graph.may_mask

    def prepare_inputs(self, x: Any, free_time: bool = False) -> list[np.ndarray]:
        """x checked and converted as predict takes it: one array per input, in the model's
        dtype (integer inputs as int64). free_time: any sequence length (streamed chunks)."""
        return self._prepare_inputs(x, free_time)

    def evaluate(self, arrays: list[np.ndarray], refs: Sequence | None = None, state=None) -> list[np.ndarray]:
        """The tensors `refs` (default: the model's outputs) for prepared input arrays
        (prepare_inputs), the whole batch in one pass on the calling thread. state: a
        StateStore the recurrent layers read and update (default: a stateful model's own)."""
        wanted = list(self.spec.outputs) if refs is None else [tuple(r) for r in refs]
        return self._graph.run(arrays, wanted, self.dtype, self._state if state is None else state)

    def work_per_row(self, arrays: list[np.ndarray]) -> float:
        """Rough multiply-adds per sample in the recurrent layers (to decide on threads and tiles)."""
        return self._graph.work_per_row(arrays)

    @property
    def call_work_per_row(self) -> float:
        """Rough multiply-adds per sample in each call of the convolutions (to decide on threads; 0: none)."""
        return self._graph.call_work_per_row

    def carried_states(self) -> dict | None:
        """A copy of the states a stateful model carries ({layer key: arrays}), None if not stateful."""
        return None if self._state is None else {key: list(arrays) for key, arrays in self._state.items()}

    @property
    def batch_first(self) -> bool:
        """True when every input has its batch on axis 0 (not time-major, and known)."""
        return all(axis == 0 for axis in self.batch_axes)

    @property
    def stateful(self) -> bool:
        """True if some layer keeps its state from one predict call to the next (Keras's stateful=True)."""
        return bool(self._stateful)

    def trace(self, x: Any, sample: int = 0) -> dict:
        """The computation inside for one sample: every layer's output and, for recurrent layers,
        every step's gates, candidate and states (arrays), with the equation each step applies."""
        from .trace import trace

        return trace(self, x, sample)

    def stream(self):
        """A Stream: feed a sequence chunk by chunk (even one step at a time); states carry over.

        Chunks give exactly what the whole sequence gives. Refused, naming the layers, when a
        layer needs the whole sequence (Bidirectional, go_backwards, Conv1D, pooling, attention...)."""
        from .stream import Stream

        return Stream(self)

    def reset_states(self) -> None:
        """Clear the states of stateful layers (as Keras's model.reset_states())."""
        if self._state is not None:
            self._state.clear()

    def __repr__(self) -> str:
        return f"<npinfer.Model {self.name!r}: {len(self._layers)} layers, {self.param_count} params, dtype {self.dtype.name}>"

    # -- running ----------------------------------------------------------------------------

    def _run_batched(self, arrays: list[np.ndarray], wanted: list, batch_size: int | None) -> list[np.ndarray]:
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size is not None and not self.batch_first:
            raise InputError("batch_size splits axis 0, but this model takes its batch on another axis (time-major input) "
                             "or does not say which; predict without batch_size")
        total = arrays[0].shape[0]
        if batch_size is not None and self._state is None:  # chunks of whole tiles: the tiles, so the bits, of predict(x)
            batch_size = max(batch_size - batch_size % self._tile(arrays), self._tile(arrays))
        if batch_size is None or total <= batch_size:
            return self._run(arrays, wanted)
        chunks = [self._run([a[s : s + batch_size] for a in arrays], wanted) for s in range(0, total, batch_size)]
        return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]

    def _tile(self, arrays: list[np.ndarray]) -> int:
        """Rows per tile for inputs of this sample shape (tiles.tile_size), kept per shape."""
        key = tuple(a.shape[1:] for a in arrays)
        tile = self._tiles.get(key)
        if tile is None:
            tile = self._tiles[key] = tile_size(self, arrays)
        return tile

    def _run(self, arrays: list[np.ndarray], wanted: list) -> list[np.ndarray]:
        """The batch in fixed tiles of samples (over the cores when large): a sample's numbers
        depend only on the tile it is in, never on the batch size or the thread count."""
        rows = arrays[0].shape[0]
        one_tile = self._one_tile
        if one_tile is None:  # (a stateful model's or a time-major batch is one pass)
            one_tile = self._one_tile = smallest_tile(self) if self._state is None and self.batch_first else float("inf")
        tile = self._tile(arrays) if rows > one_tile else rows
        self._check_activations(arrays, min(rows, tile))  # the samples computed at once: one tile, or all
        if rows > one_tile:
            if rows > tile:
                try:
                    return run_tiles(lambda s: self._run_tile(arrays, wanted, s, min(tile, rows - s)),
                                     range(0, rows, tile), self.work_per_row(arrays), self._graph.call_work_per_row)
                except _NotPerSample:  # an output mixes the samples (a reduction over the batch): one pass
                    pass
        return self._graph.run(arrays, wanted, self.dtype, self._state)

    def _run_tile(self, arrays: list[np.ndarray], wanted: list, start: int, rows: int) -> list[np.ndarray]:
        """The outputs for the `rows` samples from `start`, checked to keep one row per sample."""
        results = self._graph.run([a[start : start + rows] for a in arrays], wanted, self.dtype)
        if any(r.ndim == 0 or r.shape[0] != rows for r in results):
            raise _NotPerSample
        return results

    @property
    def sample_activation_bytes(self) -> int:
        """Bytes of the largest activation per sample (free sizes counted as 1): to size tiles."""
        return self._largest[2] * self.dtype.itemsize

    def _check_activations(self, arrays: list[np.ndarray], at_once: int) -> None:
        """Refuse a call whose largest activation (its shape from the model, free sizes counted as
        1, times the samples computed at once) would pass Limits.max_activation_bytes — before running."""
        ref, shape, per_sample = self._largest
        rows = at_once if self.batch_first else max(
            (a.shape[axis] for a, axis in zip(arrays, self.batch_axes) if axis is not None and a.ndim > axis), default=1)
        need = rows * per_sample * self.dtype.itemsize
        limit = self.limits.max_activation_bytes
        if need <= limit:
            return
        fits = limit // max(per_sample * self.dtype.itemsize, 1)
        hint = (f"predict with batch_size={fits} or less, or " if fits >= 1 else "even one sample does not fit: ")
        raise ResourceLimitError(
            f"{self.path + ': ' if self.path else ''}layer '{ref[0]}' makes an activation of shape {format_shape((rows,) + tuple(shape[1:]))} "
            f"({need:,} bytes) for {rows:,} samples computed at once, over Limits.max_activation_bytes ({limit:,}); {hint}"
            "raise the limit: npinfer.load(path, limits=npinfer.Limits(max_activation_bytes=...)) or the "
            "environment variable NPINFER_MAX_ACTIVATION_BYTES")

    # -- inputs ---------------------------------------------------------------------------

    def _prepare_inputs(self, x: Any, free_time: bool = False) -> list[np.ndarray]:
        if self._plain_input is not None and type(x) is np.ndarray and x.dtype == self.dtype and not free_time \
                and x.flags.c_contiguous:
            expected = self._plain_input  # the common case, checked without the general path's calls
            if x.ndim == len(expected) and all(e is None or e == g for e, g in zip(expected, x.shape)):
                return [x]
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            unknown = [k for k in x if k not in self.input_names]
            if missing or unknown:
                raise InputError(f"inputs by name: expected {self.input_names}, got {list(x)}")
            values = [x[n] for n in self.input_names]
        elif len(self.inputs) > 1:
            if not isinstance(x, (list, tuple)) or len(x) != len(self.inputs):
                got = f"{len(x)} arrays" if isinstance(x, (list, tuple)) else type(x).__name__
                raise InputError(f"the model has {len(self.inputs)} inputs {self.input_names}: pass a list of that many arrays, got {got}")
            values = list(x)
        else:
            values = [x]
        arrays = [self._as_array(v, info, free_time, axis) for v, info, axis in zip(values, self.inputs, self.batch_axes)]
        sizes = [a.shape[axis] for a, axis in zip(arrays, self.batch_axes) if axis is not None]
        if len(set(sizes)) > 1:
            raise InputShapeError(f"all inputs need the same batch size, got {sizes}")
        return arrays

    def _as_array(self, value: Any, info: TensorInfo, free_time: bool = False, batch_axis: int = 0) -> np.ndarray:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise InputError(f"input '{info.name}' is not a rectangular array of numbers ({err})") from None
        if array.dtype.kind not in "biuf":
            what = "strings" if array.dtype.kind in "US" else "ragged or mixed data" if array.dtype.kind == "O" else str(array.dtype)
            raise InputError(f"input '{info.name}' must hold numbers, got {what}")
        expected = info.shape
        if free_time and (len(expected) >= 3 or (len(expected) == 2 and "int" in info.dtype)):  # streaming: any chunk length
            expected = (expected[0], None) + tuple(expected[2:])
        if array.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected, array.shape)):
            where = "batch first" if batch_axis == 0 else f"batch on axis {batch_axis}" if batch_axis is not None else "ONNX layout"
            raise InputShapeError(f"input '{info.name}' expects shape {format_shape(expected)} ({where}), got {array.shape}")
        if "int" in info.dtype:  # integer inputs (token ids for an Embedding) stay integers
            if array.dtype.kind == "f":
                with np.errstate(invalid="ignore"):
                    if not np.all(np.isfinite(array) & (np.floor(array) == array)):
                        raise InputError(f"input '{info.name}' takes integers ({info.dtype}), got non-integer values")
            return np.ascontiguousarray(array, dtype=np.int64)
        return np.ascontiguousarray(array, dtype=self.dtype)


class _NotPerSample(Exception):
    """A tile's output does not have one row per sample: the batch is then run in one pass."""


def _largest_activation(shapes: dict) -> tuple:
    """(ref, shape, elements per sample) of the largest tensor the graph makes, its free sizes
    (None, the batch's included) counted as 1: a lower bound, so it never refuses what fits."""
    best = (None, (), 0)
    for ref, shape in shapes.items():
        count = 1
        for dim in shape[1:]:
            count *= dim if isinstance(dim, int) and dim > 0 else 1
        if count > best[2]:
            best = (ref, shape, count)
    return best
