"""TF Serving REST: the predict API's row (`instances` -> `predictions`) and columnar
(`inputs` -> `outputs`) formats, model status and metadata."""

from __future__ import annotations

import numpy as np

from .errors import bad_request
from .kserve import parse_json

SIGNATURE = "serving_default"
_TF_DTYPES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int8": "DT_INT8", "int16": "DT_INT16",
              "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8", "uint16": "DT_UINT16", "bool": "DT_BOOL"}


def parse_predict(body: bytes, model) -> tuple[dict, bool]:
    """({input name: array}, row format?) from a :predict body."""
    request = parse_json(body)
    if not isinstance(request, dict):
        raise bad_request("the predict request must be a JSON object")
    signature = request.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise bad_request(f"unknown signature_name {signature!r}; this model has '{SIGNATURE}'")
    names = [info.name for info in model.inputs]
    if ("instances" in request) == ("inputs" in request):
        raise bad_request("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list) or not rows:
            raise bad_request("'instances' must be a non-empty list")
        if all(isinstance(r, dict) for r in rows):
            values = {n: [_field(r, n, names, i) for i, r in enumerate(rows)] for n in names}
            for i, r in enumerate(rows):
                _no_unknown(r, names, f"instance {i}")
        elif len(names) == 1:
            values = {names[0]: rows}
        else:
            raise bad_request(f"the model has {len(names)} inputs {names}: each instance must be an object by input name")
        return {n: _array(v, n) for n, v in values.items()}, True
    columns = request["inputs"]
    if isinstance(columns, dict):
        _no_unknown(columns, names, "'inputs'")
        missing = [n for n in names if n not in columns]
        if missing:
            raise bad_request(f"'inputs' lacks {', '.join(missing)}; the model's inputs: {', '.join(names)}")
        return {n: _array(columns[n], n) for n in names}, False
    if len(names) != 1:
        raise bad_request(f"the model has {len(names)} inputs {names}: 'inputs' must be an object by input name")
    return {names[0]: _array(columns, names[0])}, False


def _field(row: dict, name: str, names: list, i: int):
    if name not in row:
        raise bad_request(f"instance {i} lacks input '{name}'; the model's inputs: {', '.join(names)}")
    return row[name]


def _no_unknown(value: dict, names: list, where: str) -> None:
    unknown = [k for k in value if k not in names]
    if unknown:
        raise bad_request(f"{where}: unknown input(s) {', '.join(map(repr, unknown))}; the model's inputs: {', '.join(names)}")


def _array(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise bad_request(f"input '{name}' is not a rectangular list of numbers (rows of different lengths?)") from None
    if array.dtype.kind not in "biuf":
        got = "strings" if array.dtype.kind in "US" else "ragged or mixed data" if array.dtype.kind == "O" else str(array.dtype)
        raise bad_request(f"input '{name}' must hold numbers, got {got}")
    return array


def encode_predict(names: list, results: list, rows: bool) -> dict:
    """{"predictions": per row} or {"outputs": columns}; by output name where there are several."""
    if rows:
        if len(names) == 1:
            return {"predictions": results[0].tolist()}
        lists = [r.tolist() for r in results]
        return {"predictions": [dict(zip(names, row)) for row in zip(*lists)]}
    if len(names) == 1:
        return {"outputs": results[0].tolist()}
    return {"outputs": {n: r.tolist() for n, r in zip(names, results)}}


def status(version: str) -> dict:
    """GET /v1/models/{name}: one version, available."""
    return {"model_version_status": [{"version": version, "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata(model, name: str, version: str) -> dict:
    """GET /v1/models/{name}/metadata: the serving_default signature."""
    def tensors(infos):
        return {t.name: {"dtype": _TF_DTYPES.get(str(t.dtype), "DT_INVALID"), "name": t.name,
                         "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""} for d in t.shape],
                                          "unknown_rank": False}} for t in infos}
    signature = {"inputs": tensors(model.inputs), "outputs": tensors(model.outputs), "method_name": "tensorflow/serving/predict"}
    return {"model_spec": {"name": name, "signature_name": "", "version": version},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}}}
