"""npinfer's native model file: an `.npz` of a JSON config plus named weight arrays.

Loaded with `allow_pickle=False`: nothing in the file can run code. A round trip is
bit-exact (arrays are stored as they are). Layout:
- `npinfer_config`: uint8 array holding UTF-8 JSON: format name and version, npinfer version,
  source (framework, version, original format), model name, inputs, outputs, and per layer
  its name, class, canonical config, inbound calls and the array key of each weight.
- `w0`, `w1`, ...: the weights. An array several layers hold (the same object: an unrolled ONNX
  Loop's weights) is stored once, under one key, and loaded once.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from .atomic import atomic_write
from .errors import ModelFormatError, reading
from .limits import Limits, WeightBudget, check_config_size, check_member, current, parse_json
from .spec import Call, LayerSpec, ModelSpec, as_ref

FORMAT_NAME = "npinfer"
FORMAT_VERSION = 1
CONFIG_KEY = "npinfer_config"


def save_spec(spec: ModelSpec, path: str | os.PathLike) -> None:
    """Write `spec` to `path` as an npinfer `.npz` (atomically)."""
    data = spec_bytes(spec)
    with atomic_write(path) as handle:
        handle.write(data)


def spec_bytes(spec: ModelSpec) -> bytes:
    """The npinfer `.npz` of `spec`, as bytes."""
    from .version import __version__

    arrays: dict[str, np.ndarray] = {}
    stored: dict[int, str] = {}  # id of an array object -> its key (the spec keeps the objects alive)
    layers = []
    for layer in spec.layers:
        keys = {}
        for weight_name, array in layer.weights.items():
            key = stored.get(id(array))
            if key is None:
                key = stored[id(array)] = f"w{len(arrays)}"
                arrays[key] = np.asarray(array)
            keys[weight_name] = key
        layers.append({
            "name": layer.name,
            "class_name": layer.class_name,
            "config": layer.config,
            "inbound": [call.to_json() for call in layer.inbound],
            "weights": keys,
        })
    references = None
    if spec.references:
        references = {}
        for part in ("inputs", "outputs"):
            references[part] = []
            for i, array in enumerate(spec.references[part]):
                key = f"reference_{part}_{i}"
                arrays[key] = np.asarray(array)
                references[part].append(key)
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "npinfer_version": __version__,
        "source": spec.source,
        "name": spec.name,
        "inputs": [list(r) for r in spec.inputs],
        "outputs": [list(r) for r in spec.outputs],
        "layers": layers,
        "references": references,
    }
    for part in ("input_names", "output_names"):
        if getattr(spec, part) is not None:
            config[part] = list(getattr(spec, part))
    text = json.dumps(config, allow_nan=True).encode("utf-8")
    arrays[CONFIG_KEY] = np.frombuffer(text, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def is_native(names: set[str]) -> bool:
    """True if a zip's member names are those of an npinfer `.npz`."""
    return f"{CONFIG_KEY}.npy" in names


def load_spec_npz(path: str, limits: Limits | None = None) -> ModelSpec:
    """Read an npinfer `.npz` into a ModelSpec (no pickle, every field and size checked first)."""
    limits = current(limits)
    with reading(path, "the .npz file"):
        declared = _declared_arrays(path, limits)
    with reading(path, "the .npz file"), np.load(path, allow_pickle=False) as npz:  # no pickle: object arrays raise
        if CONFIG_KEY not in npz.files:
            raise ModelFormatError("this .npz is not an npinfer model (no npinfer_config)", path)
        check_config_size(declared.get(CONFIG_KEY, 0), limits, path, "npinfer_config")
        config = parse_json(npz[CONFIG_KEY].tobytes(), limits, path, "npinfer_config")
        _check_header(config, path)
        budget = WeightBudget(limits, path)
        for key, size in declared.items():
            if key != CONFIG_KEY:
                budget.admit((size,), 1, f"array '{key}'")
        loaded: dict[str, np.ndarray] = {}  # a key several layers share is read once
        layers = [_layer(entry, npz, path, loaded) for entry in _list(config, "layers", path)]
        inputs = [_ref(r, path) for r in _list(config, "inputs", path)]
        outputs = [_ref(r, path) for r in _list(config, "outputs", path)]
        return ModelSpec(
            name=str(config.get("name", "model")),
            layers=layers,
            inputs=inputs,
            outputs=outputs,
            source=config.get("source") if isinstance(config.get("source"), dict) else {},
            references=_references(config.get("references"), npz, path),
            input_names=_names(config, "input_names", len(inputs), path),
            output_names=_names(config, "output_names", len(outputs), path),
        )


def _declared_arrays(path: str, limits: Limits) -> dict[str, int]:
    """Bytes each array of the .npz declares in its header, read before any array is."""
    sizes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            check_member(info.filename, info.file_size, info.compress_size, limits, path)
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(member)
                if dtype.hasobject:
                    raise ModelFormatError(f"array '{info.filename}' holds Python objects; npinfer never unpickles", path)
                count = 1
                for dim in shape:
                    count *= int(dim)
                sizes[info.filename[:-4]] = count * dtype.itemsize
    return sizes


def _references(value, npz, path) -> dict | None:
    """Stored reference inputs and outputs (written by `convert --with-reference`), checked."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(p), list) for p in ("inputs", "outputs")):
        raise ModelFormatError("the stored references are malformed", path)
    out = {}
    for part in ("inputs", "outputs"):
        out[part] = []
        for key in value[part]:
            if not isinstance(key, str) or key == CONFIG_KEY or key not in npz.files:
                raise ModelFormatError(f"stored reference {key!r} is missing from the file", path)
            array = npz[key]
            if array.dtype.kind not in "fiub":
                raise ModelFormatError(f"stored reference {key!r} is {array.dtype}, not numbers", path)
            out[part].append(array)
    return out


def _check_header(config, path):
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ModelFormatError("this .npz is not an npinfer model", path)
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFormatError(f"unknown npinfer format version {version!r}", path)
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"written in npinfer format {version}; this npinfer reads format {FORMAT_VERSION}: upgrade npinfer", path
        )


def _layer(entry, npz, path, loaded: dict) -> LayerSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("class_name"), str):
        raise ModelFormatError(f"layer entry {str(entry)[:80]!r} lacks a name or class", path)
    if not isinstance(entry.get("config"), dict) or not isinstance(entry.get("weights", {}), dict):
        raise ModelFormatError(f"layer '{entry['name']}' has a malformed config", path)
    weights = {}
    for weight_name, key in entry.get("weights", {}).items():
        if not isinstance(key, str) or key == CONFIG_KEY or key not in npz.files:
            raise ModelFormatError(f"layer '{entry['name']}': weight '{weight_name}' is missing from the file", path)
        array = loaded[key] = loaded[key] if key in loaded else npz[key]
        if array.dtype.kind != "f":
            raise ModelFormatError(f"layer '{entry['name']}': weight '{weight_name}' is {array.dtype}, not float", path)
        weights[weight_name] = array
    inbound = entry.get("inbound", [])
    calls = [Call.from_json(call) for call in inbound] if isinstance(inbound, list) else [None]
    if None in calls:
        raise ModelFormatError(f"layer '{entry['name']}' has malformed inbound calls", path)
    return LayerSpec(entry["name"], entry["class_name"], entry["config"], weights, calls)


def _list(config, key, path) -> list:
    value = config.get(key)
    if not isinstance(value, list):
        raise ModelFormatError(f"'{key}' is missing or not a list", path)
    return value


def _names(config, key, count, path) -> list[str] | None:
    """The public names of the inputs or outputs (optional): `count` distinct strings."""
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != count or not all(isinstance(v, str) for v in value) \
            or len(set(value)) != count:
        raise ModelFormatError(f"'{key}' is not a list of {count} distinct names", path)
    return value


def _ref(value, path) -> tuple:
    ref = as_ref(value)
    if ref is None or len(value) != 3:
        raise ModelFormatError(f"{value!r} is not a tensor reference [layer, node, tensor]", path)
    return ref
