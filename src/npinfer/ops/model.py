"""TypedModel: an ONNX model run on the tensor tier (npinfer.load returns one when the layer tier
refuses the graph). Inputs and outputs keep the types the file declares."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InputError, InputShapeError, NpinferError, naming_file, UnsupportedLayerError, UnsupportedOptionError
from ..importers.onnx_proto import ModelProto, ValueInfo
from ..limits import Limits, current
from ..model import InputsOutputs, TensorInfo
from . import load_families
from .graph import FoldBudget, RunBudget, TypedGraph, check_opsets, unsupported
from .registry import OPERATORS, ONNX
from .values import OptionalValue, SequenceValue, numpy_dtype, type_name


def _info(value: ValueInfo, what: str) -> TensorInfo:
    kind = getattr(value, "kind", "tensor")
    if kind != "tensor":
        return TensorInfo(value.name, None, kind)
    if value.elem_type is None:
        raise UnsupportedOptionError(f"ONNX {what} '{value.name}' declares no element type")
    dtype = numpy_dtype(value.elem_type, f"ONNX {what} '{value.name}'")
    shape = None if value.shape is None else tuple(d if isinstance(d, int) and d >= 0 else None for d in value.shape)
    return TensorInfo(value.name, shape, dtype.name)


class TypedModel(InputsOutputs):
    """An ONNX graph on npinfer's tensor tier: every value in its own type, shapes at run time,
    control flow. Build it with `npinfer.load("model.onnx")`."""

    tier = "tensor"
    stateful = False
    batch_first = False  # rows are not known to be independent: never split or batched together

    def __init__(self, model: ModelProto, path: str, limits: Limits | None = None):
        load_families()
        self.limits = current(limits)
        self.path = path
        missing = unsupported(model.graph)
        if missing:
            raise UnsupportedLayerError(
                f"ONNX operator(s) {', '.join(missing)} are not supported by npinfer; supported: "
                f"{', '.join(sorted(name for d, name in OPERATORS if d == ONNX))} (default domain) and "
                f"{', '.join(sorted(name for d, name in OPERATORS if d != ONNX)) or 'none'} (ai.onnx.ml)")
        opsets = check_opsets(model.opsets, path)
        self.opset = opsets.get(ONNX)
        graph = model.graph
        self.name = graph.name or "onnx_model"
        self.graph = TypedGraph(graph, opsets, path, FoldBudget(self.limits, path), set(), main=True)
        by_name = {info.name: info for info in graph.inputs}
        self.inputs = [_info(by_name[name], "input") for name in self.graph.input_names]
        self.outputs = [_info(info, "output") for info in graph.outputs]
        self.source = {"framework": "onnx", "format": ".onnx", "producer": model.producer,
                       "version": f"opset {self.opset}"}

    def predict(self, x: Any, batch_size: int | None = None, outputs: Sequence[str] | None = None):
        """Run the graph on `x`: an array (or scalar, or nested list) for a one-input model; a list
        in input order or a dict by input name for several. Each input is taken in the type the
        file declares (numbers converted only where no value changes; floats of another width
        are rounded to it, as the layer tier does). One output gives an array, several a list;
        `outputs` names values inside the graph to return too, in a dict with the outputs."""
        if batch_size is not None:
            raise UnsupportedOptionError("batch_size is not supported for ONNX graphs run on the tensor tier: "
                                         "npinfer cannot know that their rows are independent; split the batch yourself")
        feeds = self.prepare_inputs(x)
        wanted = None
        if outputs is not None:
            wanted = {outputs} if isinstance(outputs, str) else set(outputs)
            unknown = sorted(wanted - self.graph_value_names())
            if unknown:
                raise NpinferError(f"the graph has no value named {unknown[0]!r}")
        with naming_file(self.path):  # what the graph does at run time (a bound reached, a bad value) names the file
            results = self.graph.run(feeds, RunBudget(self.limits), wanted=wanted)
        results = [self._check_output(value, info) for value, info in zip(results, self.outputs)] + results[len(self.outputs):]
        if wanted is not None:
            named = dict(zip(self.output_names, results))
            named.update(results[-1])
            return named
        return results[0] if len(results) == 1 else results

    def prepare_inputs(self, x: Any, free_time: bool = False) -> list:
        """The inputs of `x` in input order, each converted to its declared type as predict does."""
        return [self._as_input(value, info) for value, info in zip(self._by_input(x), self.inputs)]

    def __call__(self, x: Any):
        return self.predict(x)

    def graph_value_names(self) -> set:
        names = set(self.graph.constants) | set(self.graph.input_names)
        for step in self.graph.steps:
            names.update(n for n in step.node.outputs if n)
        return names

    def summary(self, print_fn=print) -> None:
        """Print the graph's inputs, outputs and operators (counts), line by line (as Model.summary)."""
        from collections import Counter

        lines = [f"ONNX model '{self.name}' (opset {self.opset}), run on npinfer's tensor tier"]
        for what, infos in (("input", self.inputs), ("output", self.outputs)):
            for info in infos:
                lines.append(f"  {what} {info.name}: {info.dtype} {list(info.shape) if info.shape is not None else '?'}")
        counts = Counter(step.node.op_type for step in self.graph.steps)
        lines.append(f"  {len(self.graph.steps)} nodes run per call ({len(self.graph.constants)} constants folded at load):")
        lines.extend(f"    {op} x{count}" for op, count in counts.most_common())
        for line in lines:
            print_fn(line)

    def trace(self, x: Any, sample: int = 0) -> dict:
        """Every node's outputs for one call on the whole input `x`, in the order the nodes ran
        (those folded at load first, marked); see ops/trace.py."""
        from .trace import trace_graph

        return trace_graph(self, x, sample)

    def stream(self, carry: dict | None = None, initial: dict | None = None, constants: dict | None = None):
        """A stream that feeds the graph chunk by chunk: `carry` maps each state input to the
        output that updates it ({"state": "stateN"}), `initial` gives the states' first values,
        `constants` inputs fed unchanged ({"sr": 16000}). See ops/stream.py."""
        from .stream import TypedStream

        if not carry:
            raise UnsupportedOptionError("an ONNX graph on the tensor tier streams through its own state inputs and "
                                         "outputs: name them, e.g. model.stream(carry={'state': 'stateN'}, "
                                         "initial={'state': zeros})")
        return TypedStream(self, carry, initial or {}, constants)

    def export_refusal(self) -> UnsupportedOptionError:
        """Why `npinfer export` does not write this graph: the operators it would need."""
        ops = sorted({step.node.op_type for step in self.graph.steps})
        return UnsupportedOptionError(
            f"export writes models that map onto layers; this ONNX graph runs on npinfer's tensor tier (operators: "
            f"{', '.join(ops) or 'none'}), which export does not write: ship the .onnx file with npinfer instead")

    def save(self, path) -> None:
        raise UnsupportedOptionError("this ONNX graph runs on npinfer's tensor tier, which the .npz format does not hold "
                                     "yet: keep the .onnx file (npinfer.load reads it as it is)")

    def __getattr__(self, name: str):
        if name == "spec":
            raise UnsupportedOptionError("this ONNX graph runs on npinfer's tensor tier, which keeps no layer spec "
                                         "(convert, verify and export need one); predict, summary and trace work")
        if name in ("export", "layers", "get_layer", "reset_states"):
            raise UnsupportedOptionError(f"{name} is not supported for ONNX graphs run on npinfer's tensor tier (predict, "
                                         "summary, trace and stream); it works on models that map onto layers")
        raise AttributeError(name)

    # -- inputs and outputs ----------------------------------------------------------------

    def _by_input(self, x: Any) -> list:
        names = self.input_names
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(names))
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise InputError(f"inputs by name: expected {names}, got {sorted(x)}")
            return [x[n] for n in names]
        if len(names) == 1:
            return [x]
        if not isinstance(x, (list, tuple)) or len(x) != len(names):
            raise InputError(f"the model has {len(names)} inputs {names}: pass a list in that order or a dict by name")
        return list(x)

    def _as_input(self, value: Any, info: TensorInfo):
        if info.dtype in ("sequence", "optional", "map"):
            return _as_container(value, info)
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise InputError(f"input '{info.name}' is not a rectangular array ({err})") from None
        array = _as_type(array, np.dtype(info.dtype), info.name)
        if info.shape is not None:
            if array.ndim != len(info.shape) or any(e is not None and e != g for e, g in zip(info.shape, array.shape)):
                raise InputShapeError(f"input '{info.name}' has shape {array.shape}; the model declares "
                                      f"{tuple('?' if d is None else d for d in info.shape)}")
        return array

    def _check_output(self, value, info: TensorInfo):
        if isinstance(value, np.ndarray) and info.dtype not in ("sequence", "optional", "map") and value.dtype.name != info.dtype:
            raise UnsupportedOptionError(f"output '{info.name}' came out {type_name(value.dtype)}; the file declares "
                                         f"{type_name(info.dtype)} (npinfer never converts it silently)")
        if isinstance(value, SequenceValue):  # a sequence of tensors, or of maps (ZipMap): dicts, as ONNX Runtime gives
            return list(value.items)
        if isinstance(value, OptionalValue):
            return value.value.items if isinstance(value.value, SequenceValue) else value.value
        return value


def _as_type(array: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """`array` in `dtype`, converted only where no value changes (floats to another float width
    are rounded, as for the layer tier); else an InputError naming the input."""
    if array.dtype == dtype:
        return array
    kind, want = array.dtype.kind, dtype.kind
    if want == "f" and kind in "fiub":
        converted = array.astype(dtype)
        if kind == "f" or np.array_equal(converted.astype(array.dtype), array):
            return converted
    elif want == "O" and kind in "UO":  # strings: str items only (bytes or numbers are not converted)
        converted = array.astype(object)
        if all(isinstance(v, str) for v in converted.flat):
            return converted
    elif want in "iu" and kind in "iu":
        info = np.iinfo(dtype)
        if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
            return array.astype(dtype)
        raise InputError(f"input '{name}' is {type_name(dtype)}; some values do not fit it")
    what = {"f": "floats", "i": "integers", "u": "unsigned integers", "b": "bools", "U": "strings", "S": "bytes",
            "O": "ragged or mixed data"}.get(kind, str(array.dtype))
    raise InputError(f"input '{name}' is {type_name(dtype)}; got {what} ({array.dtype}), which npinfer does not "
                     f"convert to it")


def _as_container(value: Any, info: TensorInfo):
    if info.dtype == "sequence":
        if not isinstance(value, (list, tuple)):
            raise InputError(f"input '{info.name}' is a sequence: pass a list of arrays")
        items = [np.asarray(v) for v in value]
        return SequenceValue(items, items[0].dtype if items else None)
    if info.dtype == "optional":  # None (no value), a list (an optional sequence) or an array
        if value is None:
            return OptionalValue(None)
        if isinstance(value, (list, tuple)):
            return OptionalValue(_as_container(value, TensorInfo(info.name, None, "sequence")))
        return OptionalValue(np.asarray(value))
    raise UnsupportedOptionError(f"input '{info.name}' is a map, which npinfer does not take as an input")
