"""The tensor tier's ai.onnx.ml operators (src/npinfer/ops/ml.py) against ONNX Runtime, strictly:
hand-built nodes with random coefficients and inputs, over the post transforms, the input types,
int64 and string labels and the opsets where an operator changed (LabelEncoder 1-4); refusals typed.
(The support vector machines are tests/test_ops_svm.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from ops_parity import assert_matches_onnxruntime, assert_same, graph_model, run_npinfer, run_onnxruntime, run_reference

import npinfer

ML = "ai.onnx.ml"
STRING = np.dtype(object)
TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT")
NUMERIC = (np.float32, np.float64, np.int64, np.int32)


def model(op: str, feeds: dict, outputs: dict, ml_opset: int = 3, **attrs):
    node = helper.make_node(op, list(feeds), list(outputs), domain=ML, **attrs)
    return graph_model([node], inputs=feeds, outputs=outputs, domains={ML: ml_opset})


def check(op: str, feeds: dict, outputs: dict, ml_opset: int = 3, rtol=1e-5, atol=1e-6, **attrs) -> list:
    """npinfer against ONNX Runtime, or the reference evaluator where ORT has no kernel for the types."""
    onnx_model = model(op, feeds, outputs, ml_opset, **attrs)
    try:
        run_onnxruntime(onnx_model, feeds)
    except Exception as err:
        if "Could not find an implementation" not in str(err):
            raise
        return assert_matches_onnxruntime(onnx_model, feeds, rtol, atol, judge=run_reference)
    return assert_matches_onnxruntime(onnx_model, feeds, rtol, atol)


def refusal(op: str, feeds: dict, outputs: dict, error=npinfer.UnsupportedOptionError, ml_opset: int = 3,
            **attrs) -> str:
    with pytest.raises(error) as caught:
        run_npinfer(model(op, feeds, outputs, ml_opset, **attrs), feeds)
    message = str(caught.value)
    assert op in message
    if "attribute(s)" not in message:  # the graph refuses unknown attributes, before any opset is read
        assert f"opset {ml_opset}" in message
    return message


def features(rng, shape=(30, 4), dtype=np.float32, scale=1.0) -> np.ndarray:
    x = rng.normal(scale=scale, size=shape)
    return (np.round(x * 3) if np.dtype(dtype).kind == "i" else x).astype(dtype)


def strings(items) -> np.ndarray:
    out = np.empty(len(items), dtype=STRING)
    out[:] = list(items)
    return out


# -- LinearClassifier / LinearRegressor -----------------------------------------------------------

def class_attrs(classes: int, use_strings: bool) -> dict:
    count = 2 if classes == 1 else classes
    if use_strings:
        return {"classlabels_strings": [f"k{i}" for i in range(count)]}
    return {"classlabels_ints": [5 * i + 1 for i in range(count)]}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("classes", [1, 2, 3])
@pytest.mark.parametrize("use_strings", [False, True])
def test_linear_classifier(transform, classes, use_strings):
    rng = np.random.default_rng(classes * 7 + TRANSFORMS.index(transform) + 50 * use_strings)
    x = features(rng, scale=0.5)
    attrs = class_attrs(classes, use_strings) | dict(
        coefficients=rng.normal(size=classes * 4).astype(np.float32).tolist(),
        intercepts=rng.normal(scale=0.3, size=classes).astype(np.float32).tolist(), post_transform=transform)
    outputs = {"label": STRING if use_strings else np.int64, "scores": np.float32}
    if classes == 1 and transform == "PROBIT":  # ORT writes half of the two columns
        assert "PROBIT" in refusal("LinearClassifier", {"x": x}, outputs, **attrs)
        return
    check("LinearClassifier", {"x": x}, outputs, **attrs)


@pytest.mark.parametrize("count", [1, 3])
def test_linear_classifier_one_score_takes_two_labels(count):
    x = np.ones((2, 2), np.float32)
    attrs = dict(coefficients=[1.0, 2.0], intercepts=[0.0], classlabels_ints=list(range(count)))
    with pytest.raises(Exception, match="exactly 2"):
        run_onnxruntime(model("LinearClassifier", {"x": x}, {"l": np.int64, "s": np.float32}, **attrs), {"x": x})
    refusal("LinearClassifier", {"x": x}, {"l": np.int64, "s": np.float32}, npinfer.ModelFormatError, **attrs)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("multi_class", [0, 1])
def test_linear_classifier_input_types(dtype, multi_class):
    rng = np.random.default_rng(1)
    x = features(rng, dtype=dtype)
    attrs = class_attrs(3, False) | dict(coefficients=rng.normal(size=12).astype(np.float32).tolist(),
                                         intercepts=[0.1, -0.2, 0.3], multi_class=multi_class)
    check("LinearClassifier", {"x": x}, {"label": np.int64, "scores": np.float32}, **attrs)
    check("LinearClassifier", {"x": x[0]}, {"label": np.int64, "scores": np.float32}, **attrs)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("targets", [1, 3])
@pytest.mark.parametrize("dtype", NUMERIC)
def test_linear_regressor(transform, targets, dtype):
    rng = np.random.default_rng(targets + TRANSFORMS.index(transform))
    x = features(rng, dtype=dtype, scale=0.3)
    if transform == "PROBIT":  # probit takes probabilities: scores inside (0, 1)
        x = np.abs(x) / (np.abs(x).max() * 8) if np.dtype(dtype).kind == "f" else x * 0
    attrs = dict(coefficients=(rng.uniform(0, 0.5, size=targets * 4)).astype(np.float32).tolist(),
                 intercepts=rng.uniform(0.2, 0.5, targets).astype(np.float32).tolist(), targets=targets,
                 post_transform=transform)
    # ORT runs LinearRegressor on float only; ONNX makes Y float for every input type and npinfer casts
    # X to float (as ORT's LinearClassifier): the same as ORT on X cast to float
    expected = check("LinearRegressor", {"x": x.astype(np.float32)}, {"y": np.float32}, **attrs)
    assert_same(run_npinfer(model("LinearRegressor", {"x": x}, {"y": np.float32}, **attrs), {"x": x}), expected)


# -- Scaler, Normalizer, Binarizer, Imputer --------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("per_feature", [False, True])
def test_scaler(dtype, per_feature):
    rng = np.random.default_rng(2)
    x = features(rng, dtype=dtype)
    n = 4 if per_feature else 1
    check("Scaler", {"x": x}, {"y": np.float32}, offset=rng.normal(size=n).astype(np.float32).tolist(),
          scale=rng.uniform(0.5, 2, n).astype(np.float32).tolist())


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shape", [(4,), (20, 5)])
def test_normalizer(norm, dtype, shape):
    rng = np.random.default_rng(3)
    x = features(rng, shape, dtype)
    if len(shape) == 2:
        x[3] = 0  # a zero row
    check("Normalizer", {"x": x}, {"y": np.float32}, norm=norm)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("threshold", [0.0, 0.4, -1.5])
def test_binarizer(dtype, threshold):
    rng = np.random.default_rng(4)
    x = features(rng, (6, 5), dtype)
    check("Binarizer", {"x": x}, {"y": dtype}, threshold=threshold)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binarizer_nan_is_zero(dtype):
    """NaN > threshold is false: 0, as the reference evaluator says (ORT's Binarizer, float only, fails on NaN)."""
    x = np.array([[np.nan, 0.5, -0.5]], dtype)
    onnx_model = model("Binarizer", {"x": x}, {"y": dtype}, threshold=0.1)
    assert_matches_onnxruntime(onnx_model, {"x": x}, judge=run_reference)
    with pytest.raises(Exception):
        run_onnxruntime(onnx_model, {"x": x})


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("per_feature", [False, True])
@pytest.mark.parametrize("replaced", ["nan", "value"])
def test_imputer(dtype, per_feature, replaced):
    rng = np.random.default_rng(5)
    x = features(rng, (10, 3), dtype)
    n = 3 if per_feature else 1
    if np.dtype(dtype) == np.float32:
        if replaced == "nan":
            x[rng.random(x.shape) < 0.3] = np.nan
            attrs = {"replaced_value_float": float("nan")}
        else:
            x[rng.random(x.shape) < 0.3] = -1.5
            attrs = {"replaced_value_float": -1.5}
        attrs["imputed_value_floats"] = rng.normal(size=n).astype(np.float32).tolist()
    else:
        x[rng.random(x.shape) < 0.3] = -7
        attrs = {"replaced_value_int64": -7 if replaced == "value" else 0,
                 "imputed_value_int64s": rng.integers(-5, 5, n).tolist()}
    check("Imputer", {"x": x}, {"y": dtype}, **attrs)


# -- encoders and lookups --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [STRING, np.int64, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("zeros", [0, 1])
def test_one_hot_encoder(dtype, zeros):
    rng = np.random.default_rng(6)
    if dtype == STRING:
        x = strings(rng.choice(["a", "b", "c", "d"], 12)).reshape(3, 4)
        attrs = {"cats_strings": ["c", "a", "b"] + ([] if zeros else ["d"])}
    else:
        x = rng.integers(0, 5, (3, 4)).astype(dtype)
        attrs = {"cats_int64s": [4, 0, 2, 1] + ([] if zeros else [3])}
    check("OneHotEncoder", {"x": x}, {"y": np.float32}, zeros=zeros, **attrs)


def test_one_hot_encoder_zeros_0_rejects_an_unknown_category():
    x = np.array([[1, 9]], np.int64)
    with pytest.raises(Exception):
        run_onnxruntime(model("OneHotEncoder", {"x": x}, {"y": np.float32}, cats_int64s=[1, 2], zeros=0), {"x": x})
    with pytest.raises(npinfer.NpinferError):
        run_npinfer(model("OneHotEncoder", {"x": x}, {"y": np.float32}, cats_int64s=[1, 2], zeros=0), {"x": x})


def label_keys(rng, kind: str):
    """Random keys (as a list for the attribute) and inputs (some keys missing) of one kind."""
    if kind == "strings":
        keys = ["x", "yy", "z", "w"]
        return keys, strings(rng.choice(keys + ["none"], 10)).reshape(2, 5)
    if kind == "int64s":
        keys = [3, -1, 8, 0]
        return keys, rng.choice(keys + [5], 10).astype(np.int64).reshape(2, 5)
    keys = [0.5, -1.25, 2.0, 7.5]
    return keys, rng.choice(keys + [9.0], 10).astype(np.float32).reshape(2, 5)


VALUE_LISTS = {"strings": ["A", "B", "C", "D"], "int64s": [10, 20, 30, 40], "floats": [0.1, 0.2, 0.3, 0.4]}
VALUE_TYPES = {"strings": STRING, "int64s": np.int64, "floats": np.float32}
DEFAULTS = {"strings": {"default_string": "?"}, "int64s": {"default_int64": -9}, "floats": {"default_float": -0.5}}


@pytest.mark.parametrize("key_kind", ["strings", "int64s", "floats"])
@pytest.mark.parametrize("value_kind", ["strings", "int64s", "floats"])
@pytest.mark.parametrize("with_default", [False, True])
def test_label_encoder_opset_2(key_kind, value_kind, with_default):
    rng = np.random.default_rng(7)
    keys, x = label_keys(rng, key_kind)
    attrs = {f"keys_{key_kind}": keys, f"values_{value_kind}": VALUE_LISTS[value_kind]}
    if with_default:
        attrs |= DEFAULTS[value_kind]
    check("LabelEncoder", {"x": x}, {"y": VALUE_TYPES[value_kind]}, ml_opset=2, **attrs)


@pytest.mark.parametrize("direction", ["to_int", "to_string"])
@pytest.mark.parametrize("with_default", [False, True])
def test_label_encoder_opset_1(direction, with_default):
    rng = np.random.default_rng(8)
    classes = ["red", "green", "blue"]
    if direction == "to_int":
        x = strings(rng.choice(classes + ["grey"], 8))
        attrs, out = ({"default_int64": 99} if with_default else {}), np.int64
    else:
        x = rng.integers(-1, 5, 8).astype(np.int64)
        attrs, out = ({"default_string": "none"} if with_default else {}), STRING
    check("LabelEncoder", {"x": x}, {"y": out}, ml_opset=1, classes_strings=classes, **attrs)


def tensor_attr(name: str, values, dtype) -> TensorProto:
    if np.dtype(dtype) == STRING:
        return helper.make_tensor(name, TensorProto.STRING, [len(values)], [v.encode() for v in values])
    return numpy_helper.from_array(np.asarray(values, dtype), name)


@pytest.mark.parametrize("key_dtype,value_dtype", [(np.int32, np.int16), (np.float64, np.float64),
                                                   (np.int64, STRING), (STRING, np.int32), (np.int16, np.float64)])
def test_label_encoder_opset_4_tensors(key_dtype, value_dtype):
    rng = np.random.default_rng(9)
    if np.dtype(key_dtype) == STRING:
        keys, x = ["p", "q", "r"], strings(rng.choice(["p", "q", "r", "s"], 9))
    else:
        keys = [2, 7, -3]
        x = rng.choice([2, 7, -3, 4], 9).astype(key_dtype)
    values = ["one", "two", "three"] if np.dtype(value_dtype) == STRING else [11, 22, 33]
    default = ["zero"] if np.dtype(value_dtype) == STRING else [-1]
    check("LabelEncoder", {"x": x}, {"y": value_dtype}, ml_opset=4,
          keys_tensor=tensor_attr("keys_tensor", keys, key_dtype),
          values_tensor=tensor_attr("values_tensor", values, value_dtype),
          default_tensor=tensor_attr("default_tensor", default, value_dtype))


@pytest.mark.parametrize("ml_opset", [3, 4])
def test_label_encoder_opset_3_float_lists_and_nan_keys(ml_opset):
    x = np.array([0.5, np.nan, 2.0, 3.0], np.float32)
    check("LabelEncoder", {"x": x}, {"y": np.int64}, ml_opset=ml_opset, keys_floats=[0.5, float("nan"), 2.0],
          values_int64s=[1, 2, 3], default_int64=-4)


@pytest.mark.parametrize("direction", ["to_int", "to_string"])
def test_category_mapper(direction):
    rng = np.random.default_rng(10)
    attrs = dict(cats_strings=["cat", "dog", "cow"], cats_int64s=[7, 3, 9], default_int64=-2, default_string="?")
    if direction == "to_int":
        x, out = strings(rng.choice(["cat", "dog", "cow", "owl"], 12)).reshape(3, 4), np.int64
    else:
        x, out = rng.choice([7, 3, 9, 1], 12).astype(np.int64).reshape(3, 4), STRING
    check("CategoryMapper", {"x": x}, {"y": out}, **attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, STRING])
@pytest.mark.parametrize("shape", [(6,), (4, 6), (2, 3, 6)])
def test_array_feature_extractor(dtype, shape):
    rng = np.random.default_rng(11)
    if dtype == STRING:
        x = strings([f"s{i}" for i in range(int(np.prod(shape)))]).reshape(shape)
    else:
        x = features(rng, shape, dtype)
    for index in ([4, 0, 4], [2], [[1, 5]]):
        feeds = {"x": x, "i": np.array(index, np.int64)}
        check("ArrayFeatureExtractor", feeds, {"y": x.dtype})


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("inputs", [1, 3])
def test_feature_vectorizer(dtype, inputs):
    rng = np.random.default_rng(12)
    feeds = {f"x{i}": features(rng, (5, 2 + i), dtype) for i in range(inputs)}
    dims = [2 + i + (-1, 1, 0)[i % 3] for i in range(inputs)]  # truncate, pad, keep
    check("FeatureVectorizer", feeds, {"y": np.float32}, inputdimensions=dims)


@pytest.mark.parametrize("use_strings", [False, True])
def test_zip_map(use_strings):
    rng = np.random.default_rng(13)
    x = rng.random((4, 3)).astype(np.float32)
    attrs = {"classlabels_strings": ["a", "b", "c"]} if use_strings else {"classlabels_int64s": [4, 1, 9]}
    node = helper.make_node("ZipMap", ["x"], ["y"], domain=ML, **attrs)
    key = TensorProto.STRING if use_strings else TensorProto.INT64
    out = helper.make_value_info("y", helper.make_sequence_type_proto(
        helper.make_map_type_proto(key, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3])], [out])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(ML, 3)],
                                   ir_version=10)
    expected = run_onnxruntime(onnx_model, {"x": x})[0]
    got = run_npinfer(onnx_model, {"x": x})[0]
    got = got.items if hasattr(got, "items") and not isinstance(got, dict) else got
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-6)


# -- refusals --------------------------------------------------------------------------------------

def test_refusals_name_the_operator():
    x = np.ones((2, 4), np.float32)
    assert "bool" in refusal("Scaler", {"x": x > 0}, {"y": np.float32}, scale=[1.0])
    assert "string" in refusal("Normalizer", {"x": strings(["a", "b"])}, {"y": np.float32}, norm="L1")
    assert "double" in refusal("Imputer", {"x": x.astype(np.float64)}, {"y": np.float64},
                               imputed_value_floats=[0.0])
    assert "attribute" in refusal("Scaler", {"x": x}, {"y": np.float32}, npinfer.NpinferError, scale=[1.0],
                                  bias=[2.0])
    error = npinfer.ModelFormatError
    assert "post_transform" in refusal("LinearClassifier", {"x": x}, {"l": np.int64, "s": np.float32}, error,
                                       coefficients=[1.0] * 8, intercepts=[0.0, 0.0], classlabels_ints=[0, 1],
                                       post_transform="EXP")
    assert "coefficients" in refusal("LinearRegressor", {"x": x}, {"y": np.float32}, error, coefficients=[1.0] * 3)
    assert "norm" in refusal("Normalizer", {"x": x}, {"y": np.float32}, error, norm="L3")
    assert "keys" in refusal("LabelEncoder", {"x": strings(["a"])}, {"y": np.int64}, error, ml_opset=2,
                             keys_strings=["a", "b"], values_int64s=[1])
    assert "inputdimensions" in refusal("FeatureVectorizer", {"x": x}, {"y": np.float32}, error,
                                        inputdimensions=[4, 2])
    assert "indices" in refusal("ArrayFeatureExtractor", {"x": x, "i": np.array([4], np.int64)},
                                {"y": np.float32}, error)
