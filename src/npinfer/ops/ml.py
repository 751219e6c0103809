"""ONNX operators: the ai.onnx.ml family (tensor tier), as scikit-learn's exporter (skl2onnx) writes
them and ONNX Runtime computes them: linear models, scalers and encoders (support vector machines are
in ml_svm.py, tree ensembles in ml_trees.py).

ONNX Runtime is the anchor: scores are float32, its post transforms are reproduced with their
quirks (PROBIT's approximate erfinv, LOGISTIC and SOFTMAX left out where ORT leaves them out for a
single score), and a classifier's labels come out as int64 or as strings (object arrays of str).
"""

from __future__ import annotations

import numpy as np

from .registry import ML, Call, operator
from .values import STRING, SequenceValue, type_name

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
I32 = np.dtype(np.int32)
I64 = np.dtype(np.int64)
NUMERIC_IN = (F32, F64, I64, I32)  # T1 of most ai.onnx.ml operators
TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT")


# -- shared pieces ---------------------------------------------------------------------------

def check_input(call: Call, x: np.ndarray, allowed=NUMERIC_IN, ranks=(1, 2)) -> None:
    """Refuse an element type the operator does not define; a rank it does not take is malformed."""
    if not isinstance(x, np.ndarray):
        raise call.malformed("takes a tensor")
    if x.dtype not in allowed:
        raise call.refuse(f"is not defined for {type_name(x.dtype)} (ONNX: {', '.join(type_name(d) for d in allowed)})")
    if ranks is not None and x.ndim not in ranks:
        raise call.malformed(f"takes a tensor of rank {' or '.join(map(str, ranks))}, not {x.ndim}")


def as_rows(call: Call, x: np.ndarray, dtype=F32) -> np.ndarray:
    """X as a (rows, features) matrix in `dtype` (a 1-D X is one row), as ORT casts its T1 inputs."""
    check_input(call, x)
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    call.admit(rows.shape, dtype)
    return rows.astype(dtype, copy=False)


def post_transform(call: Call) -> str:
    name = call.string("post_transform", "NONE")
    if name not in TRANSFORMS:
        raise call.malformed(f"has post_transform '{name}' (ONNX: {', '.join(TRANSFORMS)})")
    return name


def floats(call: Call, name: str, default=None, dtype=F32):
    """A list-of-floats attribute as a 1-D array (None when absent and no default)."""
    value = call.attr(name, None)
    if value is None:
        return None if default is None else np.asarray(default, dtype)
    return np.asarray(value, dtype).reshape(-1)


def logistic(x: np.ndarray) -> np.ndarray:
    """ORT's ComputeLogistic in float32: 1 / (1 + e^-|x|), mirrored for negative x."""
    v = np.float32(1) / (np.float32(1) + np.exp(-np.abs(x)))
    return np.where(x < 0, np.float32(1) - v, v).astype(x.dtype)


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_zero_rows(x: np.ndarray) -> np.ndarray:
    """Softmax that keeps zeros at zero (ORT's ComputeSoftmaxZero: |x| <= 1e-7 counts as zero)."""
    top = x.max(axis=-1, keepdims=True)
    nonzero = (x > np.float32(1e-7)) | (x < np.float32(-1e-7))
    values = np.where(nonzero, np.exp(x - top), x * np.exp(-top))
    total = np.where(nonzero, values, 0).sum(axis=-1, keepdims=True, dtype=x.dtype)
    return values / total


def probit(x: np.ndarray) -> np.ndarray:
    """ORT's ComputeProbit: sqrt(2) * erfinv(2x - 1) with its approximate erfinv (Winitzki, a=0.147), float32."""
    x = np.asarray(x, F32)
    y = np.float32(2) * x - np.float32(1)
    sign = np.where(y < 0, np.float32(-1), np.float32(1))
    t = (np.float32(1) - y) * (np.float32(1) + y)
    log = np.log(t)
    v = np.float32(2 / (np.pi * 0.147)) + np.float32(0.5) * log
    v2 = np.float32(1 / 0.147) * log
    v3 = -v + np.sqrt(v * v - v2)
    return (np.float32(np.sqrt(2)) * (sign * np.sqrt(v3))).astype(F32)


def transform_scores(scores: np.ndarray, name: str) -> np.ndarray:
    """Apply post transform `name` to (rows, k) scores with k >= 2 (ORT's write_scores)."""
    if name == "LOGISTIC":
        return logistic(scores)
    if name == "SOFTMAX":
        return softmax_rows(scores)
    if name == "SOFTMAX_ZERO":
        return softmax_zero_rows(scores)
    if name == "PROBIT":
        return probit(scores)
    return scores


def second_class(score: np.ndarray, mode, name: str) -> np.ndarray:
    """ORT's binary expansion of one score per row to two columns: mode 0/1 (weights all
    positive) gives [1 - s, s], or [1 - logistic(s), logistic(s)] under LOGISTIC (ONNX Runtime
    1.32); mode 2/3 (mixed weights) gives [-s, s], or [logistic(-s), logistic(s)] under LOGISTIC.
    `mode` may be one int or one per row."""
    score = score.astype(F32, copy=False)
    if name == "LOGISTIC":
        kept = logistic(score)
        positive = np.stack([np.float32(1) - kept, kept], axis=-1)
        mixed = np.stack([logistic(-score), kept], axis=-1)
    else:
        positive = np.stack([np.float32(1) - score, score], axis=-1)
        mixed = np.stack([-score, score], axis=-1)
    mode = np.broadcast_to(np.asarray(mode), score.shape)
    return np.where((mode <= 1)[..., None], positive, mixed).astype(F32)


def class_labels(call: Call, ints: str, strings: str):
    """The classifier's labels: (int64 array, False) or (object array of str, True)."""
    if call.has(strings) and call.strings(strings):
        labels = np.empty(len(call.strings(strings)), dtype=STRING)
        labels[:] = call.strings(strings)
        return labels, True
    if call.has(ints):
        return np.asarray(call.ints(ints), I64), False
    raise call.malformed(f"has neither {ints} nor {strings}")


# -- linear models -----------------------------------------------------------------------------

@operator("LinearClassifier", domain=ML,
          attributes=("coefficients", "intercepts", "multi_class", "post_transform", "classlabels_ints",
                      "classlabels_strings"))
def linear_classifier(call: Call, x):
    rows = as_rows(call, x)  # (n, features)
    labels, _ = class_labels(call, "classlabels_ints", "classlabels_strings")
    coefficients = floats(call, "coefficients")
    intercepts = floats(call, "intercepts", ())
    classes = intercepts.size
    if classes == 0 or coefficients.size != classes * rows.shape[1]:
        raise call.malformed(f"has {coefficients.size} coefficients for {classes} classes of {rows.shape[1]} features")
    # multi_class is read and not used by ONNX Runtime either (the scores are the same)
    name = post_transform(call)
    call.admit((rows.shape[0], max(classes, 2)), F32)
    scores = (rows @ coefficients.reshape(classes, -1).T + intercepts).astype(F32)  # (n, classes)
    if classes == 1:  # one score: the second label when it is > 0, two columns [1 - s, s]
        if labels.size != 2:  # (ONNX Runtime 1.32 refuses other label counts too)
            raise call.malformed(f"has {labels.size} class labels for one score (a binary classifier has 2)")
        if name == "PROBIT":
            raise call.refuse("PROBIT of a binary classifier's single score (ONNX Runtime leaves its two "
                              "columns half unwritten)")
        return labels[(scores[:, 0] > 0).astype(np.intp)], second_class(scores[:, 0], 0, name)
    if labels.size < classes:
        raise call.malformed(f"has {labels.size} class labels for {classes} classes")
    return labels[np.argmax(scores, axis=1)], transform_scores(scores, name).astype(F32)


@operator("LinearRegressor", domain=ML, attributes=("coefficients", "intercepts", "targets", "post_transform"))
def linear_regressor(call: Call, x):
    rows = as_rows(call, x)
    targets = int(call.attr("targets", 1))
    coefficients = floats(call, "coefficients")
    if targets < 1 or coefficients.size != targets * rows.shape[1]:
        raise call.malformed(f"has {coefficients.size} coefficients for {targets} targets of {rows.shape[1]} features")
    intercepts = floats(call, "intercepts", np.zeros(targets))
    if intercepts.size != targets:
        raise call.malformed(f"has {intercepts.size} intercepts for {targets} targets")
    name = post_transform(call)
    call.admit((rows.shape[0], targets), F32)
    scores = (rows @ coefficients.reshape(targets, -1).T + intercepts).astype(F32)
    if targets == 1:  # ORT transforms a single score with PROBIT only
        return probit(scores) if name == "PROBIT" else scores
    return transform_scores(scores, name).astype(F32)


# -- preprocessing -----------------------------------------------------------------------------

def _per_feature(call: Call, values: np.ndarray, name: str, features: int) -> np.ndarray:
    if values.size not in (1, features):
        raise call.malformed(f"has {values.size} {name} values for {features} features")
    return values


@operator("Scaler", domain=ML, attributes=("offset", "scale"))
def scaler(call: Call, x):
    check_input(call, x, ranks=None)
    features = x.shape[-1] if x.ndim else 1
    work = F64 if x.dtype == F64 else F32  # ORT: (x - offset) * scale in the input's width, then float
    offset = _per_feature(call, floats(call, "offset", (0.0,)), "offset", features).astype(work)
    scale = _per_feature(call, floats(call, "scale", (1.0,)), "scale", features).astype(work)
    call.admit(x.shape, F32)
    return ((x.astype(work) - offset) * scale).astype(F32)


@operator("Normalizer", domain=ML, attributes=("norm",))
def normalizer(call: Call, x):
    check_input(call, x)
    norm = call.string("norm", "MAX")
    call.admit(x.shape, F32)
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    values = rows.astype(F32)
    if norm == "MAX":
        divisor = values.max(axis=1, keepdims=True, initial=np.finfo(F32).min)
        out = values / np.where(divisor == 0, np.float32(1), divisor)
    elif norm == "L1":
        divisor = np.abs(rows).astype(F32).sum(axis=1, keepdims=True, dtype=F32)
        out = values / np.where(divisor == 0, np.float32(1), divisor)
    elif norm == "L2":
        squares = (rows * rows).astype(F32)
        total = squares.sum(axis=1, keepdims=True, dtype=F32)
        scaled = np.sqrt(squares / np.where(total == 0, np.float32(1), total))
        out = np.where(total == 0, values, np.where(rows < 0, -scaled, scaled))
    else:
        raise call.malformed(f"has norm '{norm}' (ONNX: MAX, L1, L2)")
    return out.astype(F32).reshape(x.shape)


@operator("Binarizer", domain=ML, attributes=("threshold",))
def binarizer(call: Call, x):
    check_input(call, x, ranks=None)
    threshold = np.asarray(call.attr("threshold", 0.0), F32).astype(x.dtype if x.dtype.kind == "f" else F32)
    call.admit(x.shape, x.dtype)
    compared = x > threshold if x.dtype.kind == "f" else x.astype(F32) > threshold
    return compared.astype(x.dtype)  # NaN -> 0, as the reference evaluator (ORT's float-only kernel fails on NaN)


@operator("Imputer", domain=ML, attributes=("imputed_value_floats", "imputed_value_int64s", "replaced_value_float",
                                            "replaced_value_int64"))
def imputer(call: Call, x):
    check_input(call, x, (F32, I64), ranks=None)
    features = x.shape[-1] if x.ndim else 1
    if x.dtype == F32:
        values = floats(call, "imputed_value_floats", ())
        replaced = np.float32(call.attr("replaced_value_float", 0.0))
        missing = np.isnan(x) if np.isnan(replaced) else x == replaced
    else:
        values = np.asarray(call.ints("imputed_value_int64s", ()), I64)
        missing = x == np.int64(call.attr("replaced_value_int64", 0))
    if values.size == 0:
        raise call.malformed(f"has no imputed values for {type_name(x.dtype)} input")
    values = _per_feature(call, values, "imputed", features)
    call.admit(x.shape, x.dtype)
    return np.where(missing, np.broadcast_to(values, x.shape), x).astype(x.dtype)


# -- encoders and lookups ----------------------------------------------------------------------

_NAN_KEY, _NAN_MISS = object(), object()  # where NaN keys are filed; what a NaN input finds when NaN matches nothing


def lookup(keys: np.ndarray, values: np.ndarray, x: np.ndarray, default, nan_matches: bool = True) -> np.ndarray:
    """values[i] where x == keys[i] (the first such key; a NaN input finds a NaN key when
    `nan_matches`, as ORT's LabelEncoder from opset 4, and the default before), else `default`."""
    table = {}
    for key, value in zip(keys.tolist(), values.tolist()):
        table.setdefault(_NAN_KEY if isinstance(key, float) and key != key else key, value)
    nan = _NAN_KEY if nan_matches else _NAN_MISS
    flat = [table.get(nan if isinstance(v, float) and v != v else v, default) for v in x.reshape(-1).tolist()]
    out = np.empty(len(flat), dtype=values.dtype)
    out[:] = flat
    return out.reshape(x.shape)


def _string_array(items) -> np.ndarray:
    out = np.empty(len(items), dtype=STRING)
    out[:] = list(items)
    return out


@operator("OneHotEncoder", domain=ML, attributes=("cats_int64s", "cats_strings", "zeros"))
def one_hot_encoder(call: Call, x):
    check_input(call, x, (STRING, I64, I32, F32, F64), ranks=None)
    if x.dtype == STRING:
        categories = call.strings("cats_strings", [])
        keys = x
    else:
        categories = list(call.ints("cats_int64s", ()))
        keys = x.astype(I64) if x.dtype.kind == "f" else x  # ORT casts float inputs to int64
    if not categories:
        raise call.malformed(f"has no categories for {type_name(x.dtype)} input")
    shape = call.admit(x.shape + (len(categories),), F32)
    index = lookup(np.asarray(categories, dtype=STRING if x.dtype == STRING else I64),
                   np.arange(len(categories), dtype=I64), keys, -1)
    if not call.attr("zeros", 1) and np.any(index < 0):
        raise ValueError("an input value is in no category and zeros is 0")
    out = np.zeros(shape, F32)
    hit = index >= 0
    out.reshape(-1, len(categories))[np.flatnonzero(hit.reshape(-1)), index.reshape(-1)[hit.reshape(-1)]] = 1
    return out


_KEYS = {"keys_strings": STRING, "keys_int64s": I64, "keys_floats": F32}
_VALUES = {"values_strings": STRING, "values_int64s": I64, "values_floats": F32}
_DEFAULTS = {STRING: ("default_string", "_Unused"), I64: ("default_int64", -1), F32: ("default_float", -0.0)}


def _label_encoder_side(call: Call, table: dict, tensor: str):
    """The keys or values of a LabelEncoder: from a *_tensor attribute (opset 4) or a typed list."""
    if call.has(tensor):
        array = np.asarray(call.attr(tensor)).reshape(-1)
        return array
    present = [name for name in table if call.has(name)]
    if len(present) != 1:
        raise call.malformed(f"must have exactly one of {', '.join(list(table) + [tensor])}")
    dtype = table[present[0]]
    if dtype == STRING:
        return _string_array(call.strings(present[0]))
    return np.asarray(call.attr(present[0]), dtype).reshape(-1)


@operator("LabelEncoder", domain=ML,
          attributes=("classes_strings", "default_int64", "default_string", "default_float", "default_tensor",
                      "keys_strings", "keys_int64s", "keys_floats", "keys_tensor", "values_strings", "values_int64s",
                      "values_floats", "values_tensor"))
def label_encoder(call: Call, x):
    check_input(call, x, ranks=None, allowed=(STRING, I64, F32, I32, np.dtype(np.int16), F64))
    if call.opset == 1:  # classes_strings: strings -> their index, or int64 index -> string
        classes = _string_array(call.strings("classes_strings", []))
        if x.dtype == STRING:
            return lookup(classes, np.arange(classes.size, dtype=I64), x, int(call.attr("default_int64", -1)))
        if x.dtype != I64:
            raise call.refuse(f"opset 1 is not defined for {type_name(x.dtype)}")
        return lookup(np.arange(classes.size, dtype=I64), classes, x, call.string("default_string", "_Unused"))
    keys = _label_encoder_side(call, _KEYS, "keys_tensor")
    values = _label_encoder_side(call, _VALUES, "values_tensor")
    if keys.size != values.size:
        raise call.malformed(f"has {keys.size} keys and {values.size} values")
    if keys.dtype != x.dtype:
        raise call.malformed(f"has {type_name(keys.dtype)} keys for a {type_name(x.dtype)} input")
    if call.has("default_tensor"):
        default = np.asarray(call.attr("default_tensor")).reshape(-1)
        if default.size != 1 or default.dtype != values.dtype:
            raise call.malformed("has a default_tensor that is not one value of the values' type")
        default = default.tolist()[0]
    elif values.dtype in _DEFAULTS:
        name, fallback = _DEFAULTS[values.dtype]
        default = call.string(name, fallback) if values.dtype == STRING else call.attr(name, fallback)
    else:
        raise call.refuse(f"{type_name(values.dtype)} values without a default_tensor")
    call.admit(x.shape, values.dtype)
    return lookup(keys, values, x, default, nan_matches=call.opset >= 4)


@operator("CategoryMapper", domain=ML, attributes=("cats_int64s", "cats_strings", "default_int64", "default_string"))
def category_mapper(call: Call, x):
    check_input(call, x, (STRING, I64), ranks=None)
    strings = _string_array(call.strings("cats_strings", []))
    ints = np.asarray(call.ints("cats_int64s", ()), I64)
    if strings.size != ints.size:
        raise call.malformed(f"has {strings.size} cats_strings and {ints.size} cats_int64s")
    call.admit(x.shape, I64)
    if x.dtype == STRING:
        return lookup(strings, ints, x, int(call.attr("default_int64", -1)))
    return lookup(ints, strings, x, call.string("default_string", "_Unused"))


@operator("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(call: Call, x, indices):
    check_input(call, x, (F32, F64, I64, I32, STRING), ranks=None)
    if indices.dtype != I64:
        raise call.malformed(f"takes int64 indices, not {type_name(indices.dtype)}")
    if x.ndim == 0:
        raise call.malformed("takes a tensor of rank 1 or more")
    index = indices.reshape(-1)
    last = x.shape[-1]
    if np.any((index < 0) | (index >= last)):
        raise call.malformed(f"has indices outside [0, {last})")
    shape = (1, index.size) if x.ndim == 1 else x.shape[:-1] + (index.size,)
    call.admit(shape, x.dtype)
    return x[..., index].reshape(shape)


@operator("FeatureVectorizer", domain=ML, attributes=("inputdimensions",))
def feature_vectorizer(call: Call, *inputs):
    dimensions = call.ints("inputdimensions", ())
    if len(dimensions) != len(inputs) or not inputs:
        raise call.malformed(f"has {len(dimensions)} inputdimensions for {len(inputs)} inputs")
    rows = None
    parts = []
    for x, width in zip(inputs, dimensions):
        check_input(call, x, (I32, I64, F32, F64), ranks=None)
        matrix = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)  # (rows, its features)
        rows = matrix.shape[0] if rows is None else rows
        if matrix.shape[0] != rows:
            raise call.malformed("has inputs with different numbers of rows")
        if width < 0:
            raise call.malformed(f"has a negative input dimension {width}")
        part = np.zeros(call.admit((rows, width), F32), F32)
        keep = min(width, matrix.shape[1])
        part[:, :keep] = matrix[:, :keep]
        parts.append(part)
    call.admit((rows, sum(dimensions)), F32)
    return np.concatenate(parts, axis=1)


@operator("ZipMap", domain=ML, attributes=("classlabels_int64s", "classlabels_strings"), fold=False)
def zip_map(call: Call, x):
    """A sequence of maps, one per row: {label: score}, returned as ONNX Runtime returns it (a list
    of dicts of Python floats, keyed by str or int)."""
    check_input(call, x, (F32,))
    labels, strings = class_labels(call, "classlabels_int64s", "classlabels_strings")
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    if rows.shape[1] != labels.size:
        raise call.malformed(f"has {labels.size} class labels for {rows.shape[1]} scores per row")
    call.admit((rows.shape[0], labels.size, 3), F64)
    order = sorted(range(labels.size), key=labels.tolist().__getitem__)  # ORT's maps are ordered by key
    keys = [labels.tolist()[i] for i in order]
    return SequenceValue([dict(zip(keys, (row[i] for i in order))) for row in rows.tolist()], None)

