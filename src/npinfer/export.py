"""`npinfer export`: one self-contained Python file that predicts with NumPy alone.

Each layer writes itself (Layer.export): a line calling the same plain NumPy functions its
`call` runs. This module walks the model's calls, copies those functions into the script by
their source (with every function, constant and module they read, found in their code), and
adds the weights (compressed and base64-encoded, or in a sidecar .npz), a `predict` and the
command line of script_main.py. The script never imports npinfer.
"""

from __future__ import annotations

import ast
import base64
import builtins
import collections
import inspect
import io
import keyword
import os
import re
import sys
import textwrap
import types
import zlib

import numpy as np

from . import script_main
from .atomic import atomic_write
from .errors import UnsupportedLayerError
from .layers import CUSTOM, LAYERS, activations, supported_layers
from .layers.base import Layer


class Code(str):
    """Python expression text for the script (written as it is; other values are written by repr)."""


def render(value) -> str:
    """A value as script text: Code as it is, lists / tuples / dicts element by element, numbers
    and strings by repr."""
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(render(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, np.ndarray):
        raise AssertionError("arrays reach a script as weights (LayerExport.weight), not as text")
    if isinstance(value, str):
        return ascii(value)  # the script stays ASCII: non-ASCII and line separators escaped
    return repr(value)


def identifier(text: str) -> str:
    """A Python identifier made from text read from a model file: ASCII letters, digits and `_`
    only (everything else becomes `_`), never a keyword, never starting with a digit."""
    name = "".join(ch if (ch.isascii() and ch.isalnum()) else "_" for ch in str(text)).strip("_") or "t"
    if name[0].isdigit() or keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = "t_" + name
    assert name.isidentifier() and name.isascii()
    return name


def shown(text) -> str:
    """A name from a model file as it may appear in a comment or docstring of the script: its
    ASCII repr (quotes, backslashes, line breaks and non-ASCII characters escaped)."""
    return ascii(str(text))


def docstring_literal(text: str) -> str:
    """`text` as a triple-quoted string literal: backslashes and quotes escaped, line breaks kept,
    every character other than printable ASCII escaped, so nothing in it can end the literal."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n" or " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return '"""' + "".join(out) + '"""'


class Functions:
    """The plain functions a script holds, with the constants and modules they read (found in
    their source), in the order they were first needed."""

    def __init__(self):
        self.functions: dict[str, types.FunctionType] = {}
        self.constants: dict[str, object] = {}
        self.modules: dict[str, str] = {}  # name in the script -> import line

    def add(self, function) -> Code:
        """Hold `function` (and what it reads); returns its name in the script."""
        if isinstance(function, np.ufunc) or getattr(np, getattr(function, "__name__", ""), None) is function:
            self.modules["np"] = "import numpy as np"  # NumPy's own: written as np.<name>, not copied
            return Code(f"np.{function.__name__}")
        name = function.__name__
        held = self.functions.get(name)
        if held is not None:
            if held is not function:
                raise AssertionError(f"two different functions are named {name!r} ({held.__module__}, {function.__module__})")
            return Code(name)
        if not inspect.isfunction(function) or name == "<lambda>":
            raise AssertionError(f"{function!r} is not a plain function export can copy")
        self.functions[name] = function
        for read in _globals_read(function):
            value = function.__globals__.get(read, _MISSING)
            if value is _MISSING or read.startswith("__"):
                continue  # a builtin, or what every module has (__file__)
            if isinstance(value, types.ModuleType):
                self._module(read, value, function)
            elif inspect.isfunction(value) or isinstance(value, np.ufunc):
                self.add(value)
            elif value is None or isinstance(value, (bool, int, float, str)):
                if self.constants.get(read, value) != value:
                    raise AssertionError(f"two constants are named {read!r}")
                self.constants[read] = value
            else:
                raise AssertionError(f"{name} reads {read!r} ({type(value).__name__}), which a script cannot hold")
        return Code(name)

    def _module(self, alias: str, module, function) -> None:
        if module.__name__ == "numpy" and alias == "np":
            self.modules[alias] = "import numpy as np"
        elif module.__name__ in sys.stdlib_module_names and alias == module.__name__:
            self.modules[alias] = f"import {alias}"
        else:
            raise AssertionError(f"{function.__name__} reads the module {module.__name__} as {alias!r}; scripts import NumPy "
                                 "(as np) and the standard library only")

    def source(self) -> str:
        constants = "".join(f"{name} = {value!r}\n" for name, value in self.constants.items())
        return constants + "\n\n" + "\n\n".join(_source(f) for f in self.functions.values())

    def imports(self) -> str:
        """The import lines, then the blank lines isort wants before what follows."""
        lines = sorted(line for alias, line in self.modules.items() if alias != "np")
        return "\n".join(lines) + "\n\nimport numpy as np\n" + ("\n" if self.constants else "\n\n")


_MISSING = object()


def _globals_read(function) -> list[str]:
    """Names a function reads that are not its own locals (in its source, nested functions included)."""
    tree = ast.parse(_source(function))
    bound = {a.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
             for a in node.posonlyargs + node.args + node.kwonlyargs + [node.vararg, node.kwarg] if a is not None}
    bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} - {function.__name__}
    reads = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return list(dict.fromkeys(r for r in reads if r not in bound and not hasattr(builtins, r)))


def _source(function) -> str:
    return textwrap.dedent(inspect.getsource(function))


def weight_keys(model) -> dict[tuple[str, str], str]:
    """Each weight's key in the script's .npz: 'layer/weight' when that is plain text (letters,
    digits, `_ . / -`), else 'w<index>' (a zip member name cannot hold every character a file's
    layer name can: NUL ends it)."""
    keys, taken = {}, set()
    for layer in model.layers:
        for key in layer.weights:
            readable = f"{layer.name}/{key}"
            plain = readable.isascii() and all(ch.isalnum() or ch in "_./-" for ch in readable)
            keys[(layer.name, key)] = readable if plain and readable not in taken else f"w{len(keys)}"
            taken.add(keys[(layer.name, key)])
    return keys


class Writer:
    """Collects the script while walking the model's calls: variable names, masks, integers,
    the predict body, the functions and activations used."""

    def __init__(self, model):
        self.model = model
        self.names: dict[tuple, str] = {}  # tensor ref -> the variable holding it
        self.masks: dict[tuple, str] = {}  # tensor ref -> the variable holding its (batch, time) boolean mask
        self.integers: set[tuple] = set()  # tensors holding integers (integer inputs, and ops passing them on)
        self.op_outputs: set[tuple] = set()  # tensors made by Keras 3 op nodes (booleans, mostly)
        self.lines: list[str] = []
        self.used: set[str] = set()
        self.functions = Functions()
        self.bindings: dict[str, tuple[str, str]] = {}  # activation key -> (name, assignment line)
        self.custom: dict[str, str] = {}  # registered custom layers' EXPORT_FUNCTION: name -> source
        self.weight_keys = weight_keys(model)  # (layer name, weight name) -> key in the script's .npz

    def fresh(self, base: str) -> str:
        """A variable name not given out yet."""
        name = base = identifier(base)
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name

    def define(self, layer, index: int, count: int) -> list[Code]:
        """The variables of one call's outputs."""
        base = identifier(layer.name)
        names = [self.fresh("v_" + (f"{base}_{index}_{i}" if count > 1 or index else base)) for i in range(count)]
        for i, name in enumerate(names):
            self.names[(layer.name, index, i)] = name
        return [Code(n) for n in names]

    def activation(self, spec, clip=None) -> Code:
        """The script's name for an activation (with ONNX's clip of its input), bound once:
        activations.get's own composition of with_parameters and clipped."""
        full = activations.canonical(spec)
        key = repr((sorted(full.items()), clip))
        if key not in self.bindings:
            function = self.functions.add(activations.FUNCTIONS[full["name"]][0])
            params = {k: v for k, v in full.items() if k != "name"}
            if full["name"] in ("linear", "tanh", "sigmoid") and not params and clip is None:
                return function
            expression = function
            if not (full["name"] in ("linear", "tanh", "sigmoid") and not params):
                arguments = "".join(f", {k}={render(v)}" for k, v in params.items())
                expression = f"{self.functions.add(activations.with_parameters)}({function}{arguments})"
            if clip is not None:
                expression = f"{self.functions.add(activations.clipped)}({expression}, {clip!r})"
            name = f"act_{full['name']}_{len(self.bindings)}"
            self.bindings[key] = (name, f"{name} = {expression}\n")
        return Code(self.bindings[key][0])


class LayerExport:
    """What a layer's `export(e)` writes with: its inputs, masks, tensor arguments and weights
    as script code, and the means to call functions and write lines."""

    def __init__(self, writer: Writer, owner: Layer, layer: Layer, inputs: list[Code], masks: list, kwargs: dict,
                 outputs: list[Code], options: dict, integers: list[bool], prefix: str = ""):
        self.writer, self.owner, self.layer = writer, owner, layer
        self.inputs, self.masks, self.kwargs, self.outputs = inputs, masks, kwargs, outputs
        self.options, self.integers, self.prefix = options, integers, prefix

    @property
    def input(self) -> Code:
        return self.inputs[0]

    @property
    def mask(self):
        """The first input's mask variable (what ctx.mask(0) gives the layer), or None."""
        return self.masks[0] if self.masks else None

    @property
    def dtype(self) -> Code:
        return Code(f"np.{self.writer.model.dtype.name}")

    def weight(self, key: str) -> Code:
        """The script's expression for this layer's weight `key`: stored with the script, or a
        tensor the call is given (an ONNX graph's input); None when it has none."""
        full = self.prefix + key
        if full in self.kwargs:
            return self.kwargs[full][0]
        return Code(f"W[{self.writer.weight_keys[(self.owner.name, full)]!r}]") if full in self.owner.weights else Code("None")

    def zeros(self, shape) -> Code:
        return Code(f"np.zeros({render(tuple(shape))}, {self.dtype})")

    def function(self, function) -> Code:
        return self.writer.functions.add(function)

    def call(self, function, *args, **kwargs) -> Code:
        """Text calling `function` (copied into the script) with these arguments."""
        text = [render(a) for a in args] + [f"{k}={render(v)}" for k, v in kwargs.items()]
        return Code(f"{self.function(function)}({', '.join(text)})")

    def activation(self, spec, clip=None) -> Code:
        return self.writer.activation(spec, clip)

    def line(self, text: str) -> None:
        self.writer.lines.append("    " + text)

    def assign(self, expression, *hints: str) -> list[Code]:
        """Write `a, b = expression` with fresh variables named after hints; return them."""
        names = [Code(self.writer.fresh(hint)) for hint in hints]
        self.line(f"{', '.join(names)} = {expression}")
        return names

    def code(self, text: str) -> Code:
        """Text to write as it is (an expression built by the layer)."""
        return Code(text)

    def refuse(self, why: str) -> UnsupportedLayerError:
        return refusal(self.layer, why)

    def scoped(self, prefix: str) -> LayerExport:
        """The same call, for a part whose weights sit under `prefix` (Bidirectional's forward/)."""
        return LayerExport(self.writer, self.owner, self.layer, self.inputs, self.masks, self.kwargs, self.outputs,
                           self.options, self.integers, self.prefix + prefix)

    def inner(self, layer: Layer, inputs: list[Code], prefix: str) -> list[Code]:
        """Write a wrapped layer (TimeDistributed's), weights under `prefix`, no masks; its outputs."""
        outputs = [Code(self.writer.fresh(f"{self.outputs[0]}_{i}")) for i in range(len(layer.output_shapes))]
        sub = LayerExport(self.writer, self.owner, layer, inputs, [], {}, outputs, {}, [False] * len(inputs),
                          self.prefix + prefix)
        _write_expressions(sub, layer.export(sub))
        return outputs


def refusal(layer, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"layer '{layer.name}' ({layer.class_name}) cannot be exported: {why}; export supports: "
        f"{', '.join(exportable_layers())} (stateful layers are not exported)"
    )


def exportable_layers() -> list[str]:
    """Keras class names of the layers that write themselves into scripts."""
    return [name for name in supported_layers() if LAYERS[name].export is not Layer.export]


def _write_expressions(e: LayerExport, expressions) -> None:
    if expressions is None:  # the layer wrote its own lines
        return
    if len(expressions) != len(e.outputs):
        raise AssertionError(f"{e.layer.class_name}.export gave {len(expressions)} expressions for {len(e.outputs)} outputs")
    for name, expression in zip(e.outputs, expressions):
        e.line(f"{name} = {expression}")


def _write_call(writer: Writer, node) -> None:
    """One call of a layer: its line(s), and what it makes of masks and integers."""
    layer, call, model = node.layer, node.call, writer.model
    if layer.class_name == "InputLayer":
        if layer.config.get("batch_axis", 0) not in (0, 1) and not any(axis in (0, 1) for axis in model.batch_axes):
            raise refusal(layer, "the model file does not say which axis is the batch (batch_axis None)")
        return
    if layer.stateful:
        raise refusal(layer, "it is stateful")
    reads = list(call.inputs) + [r for key, refs in call.tensor_kwargs.items() if key != "mask" for r in refs]
    if not layer.ACCEPTS_INTEGERS and any(tuple(r) in writer.op_outputs for r in reads):
        raise refusal(layer, "it reads the result of a Keras operation node (npinfer would cast it to floats)")
    outputs = writer.define(layer, node.index, len(layer.output_shapes))
    kwargs = {key: [_read(writer, r, layer) for r in refs] for key, refs in call.tensor_kwargs.items() if key != "mask"}
    e = LayerExport(writer, layer, layer, [_read(writer, r, layer) for r in call.inputs], [], kwargs, outputs,
                    node.options, [tuple(r) in writer.integers for r in call.inputs])
    writer.lines.append(f"    # {shown(layer.name)} ({shown(layer.class_name)}) -> "
                        f"{', '.join(render(tuple(s)) for s in layer.output_shapes)}")
    if model.may_mask:
        e.masks = _input_masks(writer, call, e)
    custom = getattr(type(layer), "EXPORT_FUNCTION", None)
    if type(layer).export is Layer.export and (custom is not None or layer.class_name in CUSTOM):
        if custom is None:
            raise e.refuse("it is a registered custom layer without an EXPORT_FUNCTION (README: Custom layers)")
        _custom_code(writer, e, custom)
    else:
        _write_expressions(e, layer.export(e))
    for i, integer in enumerate(layer.integer_outputs(e.integers)):
        if integer:
            writer.integers.add((layer.name, node.index, i))
    if layer.class_name.startswith("ops."):
        writer.op_outputs.update((layer.name, node.index, i) for i in range(len(outputs)))
    if not model.may_mask:
        return
    if layer.clears_input_masks():  # Keras 3's MultiHeadAttention: later readers of its inputs see no mask
        for ref in call.inputs:
            writer.masks.pop(tuple(ref), None)
    for i, mask in enumerate(layer.export_masks(e)):
        if mask is not None:
            writer.masks[(layer.name, node.index, i)] = mask


def _read(writer: Writer, ref, layer) -> Code:
    """The variable of tensor `ref` as `layer` reads it: integers cast to the model's float
    type for layers that do not take integers (as npinfer's graph casts them)."""
    name = writer.names[tuple(ref)]
    if tuple(ref) in writer.integers and not layer.ACCEPTS_INTEGERS:
        return Code(f"{name}.astype(np.{writer.model.dtype.name})")
    return Code(name)


def _input_masks(writer: Writer, call, e: LayerExport) -> list:
    """The masks the layer's call sees, as npinfer's graph gives them: an explicit mask argument
    (Keras 3 records them) if any, else the masks of its input tensors; a variable or None each."""
    if "mask" not in call.tensor_kwargs:
        return [writer.masks.get(tuple(r)) for r in call.inputs]
    given = call.tensor_kwargs["mask"]
    if len(given) != len(call.inputs):
        raise e.refuse(f"its mask argument has {len(given)} masks for {len(call.inputs)} inputs")
    cast = "" if e.layer.RAW_MASKS else ".astype(bool)"
    return [e.assign(f"{writer.names[tuple(ref)]}{cast}", "m_" + e.outputs[0][2:] + "_arg")[0] for ref in given]


def _custom_code(writer: Writer, e: LayerExport, function) -> None:
    """A registered custom layer whose class names a plain NumPy function `EXPORT_FUNCTION(inputs,
    weights, config) -> list of outputs`: its source is copied into the script and called."""
    layer = e.layer
    if any(m is not None for m in e.masks):
        raise e.refuse("a mask reaches it (custom layers are exported without masks)")
    if not inspect.isfunction(function):
        raise e.refuse("its EXPORT_FUNCTION is not a plain function")
    name = function.__name__
    if name in writer.custom and writer.custom[name] != _source(function):
        raise e.refuse(f"two different EXPORT_FUNCTIONs are named {name!r}")
    if name in writer.functions.functions or name in ("predict", "main", "load_weights"):
        raise e.refuse(f"its EXPORT_FUNCTION's name {name!r} is taken in the script; rename it")
    writer.custom[name] = _source(function)
    weights = "{" + ", ".join(f"{render(key)}: {e.weight(key)}" for key in layer.weights) + "}"
    e.line(f"{', '.join(e.outputs)}, = {name}([{', '.join(e.inputs)}], {weights}, {render(dict(layer.config))})")


def _drop_unused(lines: list[str], outputs: list[str]) -> list[str]:
    """Unpacked layer outputs that nothing reads (such as an encoder's sequence when only its
    states are used) become `_`, so the script stays lint-clean."""
    counts = collections.Counter(re.findall(r"\bv_\w+", "\n".join(lines + outputs)))
    result = []
    for line in lines:
        target, sep, value = line.partition(" = ")
        if sep and "," in target and not target.lstrip().startswith("#"):
            target = re.sub(r"\bv_\w+", lambda m: m.group(0) if counts[m.group(0)] > 1 else "_", target)
        result.append(target + sep + value)
    return result


def _drop_unused_masks(lines: list[str], outputs: list[str]) -> list[str]:
    """Mask lines that nothing reads (an output's mask, a mask an explicit one replaces) go."""
    while True:
        code = [line.split("  #")[0] for line in lines if not line.lstrip().startswith("#")]
        counts = collections.Counter(re.findall(r"\bm_\w+", "\n".join(code + outputs)))
        unused = {i for i, line in enumerate(lines) if re.fullmatch(r"    (m_\w+) = .*", line)
                  and counts[line.split(" = ")[0].strip()] == 1}
        if not unused:
            return lines
        lines = [line for i, line in enumerate(lines) if i not in unused]


def script_text(model, source_name: str, weights_mode: str, weights_file: str) -> tuple[str, bytes]:
    """(the script's text, the compressed .npz bytes of its weights)."""
    from .version import __version__

    writer = Writer(model)
    for i, ref in enumerate(model.spec.inputs):
        writer.names[tuple(ref)] = f"inputs[{i}]"
        if "int" in model.inputs[i].dtype:
            writer.integers.add(tuple(ref))
    for node in model.calls:
        _write_call(writer, node)
    outputs = [writer.names[tuple(r)] for r in model.spec.outputs]
    body = _drop_unused(_drop_unused_masks(writer.lines, outputs), outputs)
    weights = {writer.weight_keys[(layer.name, key)]: array for layer in model.layers for key, array in layer.weights.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **weights)
    packed = buffer.getvalue()
    functions = writer.functions
    prepare = functions.add(script_main.prepare_inputs)
    main = functions.add(script_main.main)
    if weights_mode == "embedded":
        encoded = base64.b64encode(zlib.compress(packed, 9)).decode("ascii")
        chunks = "\n".join(f"    {encoded[i:i + 96]!r}" for i in range(0, len(encoded), 96))
        loader = f"WEIGHTS_BASE64 = (\n{chunks}\n)\nW = {functions.add(script_main.embedded_weights)}(WEIGHTS_BASE64)\n"
    else:
        loader = f"W = {functions.add(script_main.sidecar_weights)}({render(weights_file)})\n"
    result = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
    # INPUT_SHAPES has None on each input's batch axis (npinfer's InputLayer), so every axis is checked
    predict = (
        "def predict(*x):\n"
        f'    """The model\'s output(s) for input array(s) x ({_layout(model)}); several inputs as separate '
        'arrays, one list in input order, or a dict by input name."""\n'
        f"    inputs = {prepare}(x, INPUT_NAMES, INPUT_SHAPES, INTEGER_INPUTS, BATCH_AXES, DTYPE)\n"
        + "\n".join(body) + f"\n    return {result}\n"
    )
    parts = [
        functions.source(),
        "\n\n".join(writer.custom.values()),
        "".join(line for _, line in writer.bindings.values()),
        loader + f"DTYPE = np.{model.dtype.name}\nINPUT_NAMES = {render(list(model.input_names))}\n"
        f"INPUT_SHAPES = {render([tuple(t.shape) for t in model.inputs])}\n"
        f"INTEGER_INPUTS = {render([i for i, t in enumerate(model.inputs) if 'int' in t.dtype])}\n"
        f"BATCH_AXES = {render([None if a is None else int(a) for a in model.batch_axes])}  # each input's batch axis (1: time-major, (time, batch, ...); None: none)\n",
        predict,
        f'if __name__ == "__main__":\n    {main}(predict, BATCH_AXES)\n',
    ]
    code = "\n\n".join(p.strip("\n") + "\n" for p in parts if p.strip())
    return _docstring(model, source_name, weights_mode, weights_file, __version__) + "\n" + functions.imports() + code, packed


def _docstring(model, source_name, weights_mode, weights_file, version) -> str:
    """The script's docstring. Every name in it comes from the model file or the command line,
    so each is shown by `shown` and the whole is one escaped literal (docstring_literal)."""
    source = model.spec.source or {}
    origin = " ".join(str(source[k]) for k in ("framework", "version", "format") if source.get(k))
    example = ("python predict_model.py data.csv --look-back N [--target COLUMN] -o predictions.csv"
               if model.batch_first and any(len(t.shape) == 3 for t in model.inputs)
               else "python predict_model.py inputs.npy -o predictions.npy")
    stored = ("embedded below (compressed, base64)" if weights_mode == "embedded"
              else f"in {shown(weights_file)} beside this file")
    tensors = lambda ts: ", ".join(f"{shown(t.name)} {render(tuple(t.shape))}" for t in ts)  # noqa: E731
    text = (f"Model {shown(model.name)} as plain NumPy, generated by npinfer {version} from {shown(source_name)}"
            f" ({shown(origin)}).\n\n"
            f"Inputs: {tensors(model.inputs)}. Outputs: {tensors(model.outputs)} "
            f"({'batch first' if model.batch_first else 'inputs ' + _layout(model)}; None: any size).\n"
            f"Needs only NumPy (not npinfer). Weights: {stored}; read with allow_pickle=False.\n\n"
            f"Run:          {example}\nFrom Python:  from predict_model import predict; y = predict(x)\n")
    return docstring_literal(text) + "\n"


def _layout(model) -> str:
    """Where the inputs' batch is: 'batch first', or which inputs are time-major."""
    if model.batch_first:
        return "batch first"
    if len(model.inputs) == 1:
        return "time-major: (time, batch, ...)"
    return "batch first but the time-major inputs " + ", ".join(str(i) for i, a in enumerate(model.batch_axes) if a == 1)


def files_written(path: str, weights: str = "embedded") -> list[str]:
    """The files `export_script(model, path, weights)` writes: the script, and with weights='sidecar'
    the .npz beside it (named after the script)."""
    if weights not in ("embedded", "sidecar"):
        raise ValueError("weights must be 'embedded' or 'sidecar'")
    if weights == "embedded":
        return [path]
    weights_file = os.path.splitext(os.path.basename(path))[0] + ".npz"
    return [path, os.path.join(os.path.dirname(os.path.abspath(path)), weights_file)]


def export_script(model, path: str, weights: str = "embedded", source_name: str = "model") -> list[str]:
    """Write the standalone script (and its sidecar weights with weights='sidecar'); return the files written."""
    if getattr(model, "tier", "layer") == "tensor":
        raise model.export_refusal()
    files = files_written(path, weights)
    if len(files) == 2 and os.path.abspath(files[0]) == os.path.abspath(files[1]):
        raise ValueError(f"the script {path!r} would be its own sidecar weights file; name it .py")
    weights_file = os.path.basename(files[-1])
    text, packed = script_text(model, source_name, weights, weights_file)
    written = []
    if weights == "sidecar":
        sidecar = files[1]
        with atomic_write(sidecar) as handle:
            handle.write(packed)
        written.append(sidecar)
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))
    return [path] + written
