"""The tensor tier's ai.onnx.ml support vector machines (src/npinfer/ops/ml_svm.py) against ONNX
Runtime, strictly: hand-built SVMClassifier / SVMRegressor nodes with random support vectors,
coefficients and Platt parameters, over the kernels, two and several classes, with and without
probabilities, the post transforms, int64 and string labels, the input types; refusals typed.
(tests/test_sklearn_svm.py runs scikit-learn's exported SVMs.)"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from ops_parity import assert_matches_onnxruntime, graph_model, run_npinfer

import npinfer

ML = "ai.onnx.ml"
KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")
TRANSFORMS = ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT")
INPUTS = (np.float32, np.float64, np.int64, np.int32)
FEATURES = 4


def svm_attributes(rng, classes: int, kernel: str, proba: bool, degree: float = 3.0) -> dict:
    """Random libsvm-shaped attributes: 1-4 support vectors per class, (classes - 1) coefficient rows."""
    per_class = rng.integers(1, 5, classes).tolist()
    count = sum(per_class)
    pairs = classes * (classes - 1) // 2
    attrs = dict(kernel_type=kernel, kernel_params=[0.4, 0.3, degree], vectors_per_class=per_class,
                 support_vectors=rng.normal(size=count * FEATURES).astype(np.float32).tolist(),
                 coefficients=rng.normal(size=(classes - 1) * count).astype(np.float32).tolist(),
                 rho=rng.normal(scale=0.5, size=pairs).astype(np.float32).tolist())
    if proba:
        attrs["prob_a"] = (-rng.uniform(0.5, 3, pairs)).astype(np.float32).tolist()
        attrs["prob_b"] = rng.normal(scale=0.3, size=pairs).astype(np.float32).tolist()
    return attrs


def labels(classes: int, strings: bool) -> dict:
    if strings:
        return {"classlabels_strings": [f"c{i}" for i in range(classes)]}
    return {"classlabels_ints": [3 * i - 2 for i in range(classes)]}


def classifier(attrs: dict, x: np.ndarray, strings: bool = False):
    node = helper.make_node("SVMClassifier", ["x"], ["label", "scores"], domain=ML, **attrs)
    label_type = np.dtype(object) if strings else np.int64
    return graph_model([node], inputs={"x": x}, outputs={"label": label_type, "scores": np.float32},
                       domains={ML: 1})


def rows(rng, n: int = 40, dtype=np.float32) -> np.ndarray:
    x = rng.normal(scale=1.5, size=(n, FEATURES))
    return (np.round(x * 3) if np.dtype(dtype).kind == "i" else x).astype(dtype)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("classes", [2, 3, 5])
@pytest.mark.parametrize("proba", [False, True])
def test_svm_classifier_kernels(kernel, classes, proba):
    rng = np.random.default_rng(classes * 10 + KERNELS.index(kernel) + 100 * proba)
    attrs = svm_attributes(rng, classes, kernel, proba) | labels(classes, False)
    x = rows(rng)
    assert_matches_onnxruntime(classifier(attrs, x), {"x": x})


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("classes,proba", [(2, False), (2, True), (3, False), (4, True)])
def test_svm_classifier_post_transforms(transform, classes, proba):
    if classes == 2 and not proba and transform == "PROBIT":
        return  # refused: test_svm_classifier_refusals
    rng = np.random.default_rng(7 + classes + TRANSFORMS.index(transform))
    attrs = svm_attributes(rng, classes, "RBF", proba) | labels(classes, True) | {"post_transform": transform}
    x = rows(rng)
    # PROBIT's erfinv of raw decision values near 0.5 magnifies float32 rounding of the kernels ~100x
    assert_matches_onnxruntime(classifier(attrs, x, strings=True), {"x": x}, atol=1e-6 if transform != "PROBIT" else 2e-5)


@pytest.mark.parametrize("dtype", INPUTS)
@pytest.mark.parametrize("strings", [False, True])
def test_svm_classifier_input_types_and_labels(dtype, strings):
    rng = np.random.default_rng(3)
    attrs = svm_attributes(rng, 3, "POLY", True) | labels(3, strings)
    x = rows(rng, dtype=dtype)
    assert_matches_onnxruntime(classifier(attrs, x, strings), {"x": x})
    assert_matches_onnxruntime(classifier(attrs, x[0], strings), {"x": x[0]})  # one 1-D row


@pytest.mark.parametrize("degree", [1.0, 2.0, 4.0])
def test_svm_classifier_poly_degrees(degree):
    rng = np.random.default_rng(int(degree))
    attrs = svm_attributes(rng, 3, "POLY", False, degree) | labels(3, False)
    x = rows(rng)
    assert_matches_onnxruntime(classifier(attrs, x), {"x": x}, rtol=1e-4)


def linear_attributes(rng, classes: int, positive: bool) -> dict:
    """Linear mode: no support vectors, one row of coefficients per class (ORT adds rho[0] to all)."""
    weights = rng.normal(size=classes * FEATURES)
    return dict(coefficients=(np.abs(weights) if positive else weights).astype(np.float32).tolist(),
                rho=rng.normal(size=classes).astype(np.float32).tolist(), kernel_type="RBF",
                kernel_params=[0.5, 0.0, 3.0])


@pytest.mark.parametrize("classes", [1, 2, 3])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("proba", [False, True])
def test_svm_classifier_linear_mode(classes, positive, transform, proba):
    rng = np.random.default_rng(classes + 3 * positive + 11 * TRANSFORMS.index(transform))
    attrs = linear_attributes(rng, classes, positive) | labels(max(classes, 1), False)
    attrs["post_transform"] = transform
    if proba:  # ORT uses them in linear mode only to pick a two-class label
        attrs |= {"prob_a": [-1.0], "prob_b": [0.1]}
    x = rows(rng, 60) * 0.3
    assert_matches_onnxruntime(classifier(attrs, x), {"x": x})


def regressor(attrs: dict, x: np.ndarray):
    node = helper.make_node("SVMRegressor", ["x"], ["y"], domain=ML, **attrs)
    return graph_model([node], inputs={"x": x}, outputs={"y": np.float32}, domains={ML: 1})


def regressor_attributes(rng, kernel: str, count: int, one_class: bool) -> dict:
    attrs = dict(kernel_type=kernel, kernel_params=[0.3, 0.2, 2.0], n_supports=count,
                 coefficients=rng.normal(size=count if count else FEATURES).astype(np.float32).tolist(),
                 rho=[float(rng.normal())], one_class=int(one_class))
    if count:
        attrs["support_vectors"] = rng.normal(size=count * FEATURES).astype(np.float32).tolist()
    return attrs


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("count", [0, 1, 7])
@pytest.mark.parametrize("one_class", [False, True])
def test_svm_regressor(kernel, count, one_class):
    rng = np.random.default_rng(KERNELS.index(kernel) + 5 * count + one_class)
    x = rows(rng)
    attrs = regressor_attributes(rng, kernel, count, one_class)
    assert_matches_onnxruntime(regressor(attrs, x), {"x": x})
    assert_matches_onnxruntime(regressor(attrs, x[1]), {"x": x[1]})


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32])
def test_svm_regressor_other_inputs_compute_in_float(dtype):
    """ONNX Runtime runs SVMRegressor on float only; ONNX defines Y as float for every input type,
    and npinfer casts X to float as ORT's SVMClassifier does: the same as ORT on X cast to float."""
    rng = np.random.default_rng(2)
    x = rows(rng, dtype=dtype)
    attrs = regressor_attributes(rng, "RBF", 5, False)
    expected = assert_matches_onnxruntime(regressor(attrs, x.astype(np.float32)), {"x": x.astype(np.float32)})
    got = run_npinfer(regressor(attrs, x), {"x": x})
    np.testing.assert_array_equal(got[0], expected[0])


def refusal(model, x, error=npinfer.UnsupportedOptionError) -> str:
    with pytest.raises(error) as caught:
        run_npinfer(model, {"x": x})
    return str(caught.value)


def test_svm_classifier_refusals():
    rng = np.random.default_rng(0)
    x = rows(rng, 5)
    attrs = svm_attributes(rng, 2, "RBF", False) | labels(2, False)
    message = refusal(classifier(attrs | {"post_transform": "PROBIT"}, x), x)
    assert "SVMClassifier" in message and "PROBIT" in message and "opset 1" in message
    assert "bool" in refusal(classifier(attrs, x > 0), x > 0)
    assert "attribute" in refusal(classifier(attrs | {"base_values": [1.0]}, x), x, npinfer.NpinferError)
    malformed = {"kernel_type": "CUBIC", "kernel_params": [0.1, 0.2], "vectors_per_class": [1, 1, 1],
                 "coefficients": [1.0], "rho": [0.1, 0.2], "prob_a": [1.0], "post_transform": "EXP"}
    for name, value in malformed.items():
        assert "SVMClassifier" in refusal(classifier(attrs | {name: value}, x), x, npinfer.ModelFormatError), name
    assert "features" in refusal(classifier(attrs, x[:, :3]), x[:, :3], npinfer.ModelFormatError)


def test_svm_regressor_refusals():
    rng = np.random.default_rng(1)
    x = rows(rng, 5)
    attrs = regressor_attributes(rng, "POLY", 3, False)
    assert "post_transform" in refusal(regressor(attrs | {"post_transform": "LOGISTIC"}, x), x)
    for name, value in {"n_supports": 4, "coefficients": [1.0, 2.0], "support_vectors": [1.0] * 7}.items():
        assert "SVMRegressor" in refusal(regressor(attrs | {name: value}, x), x, npinfer.ModelFormatError), name
    assert "features" in refusal(regressor(attrs, x[:, :2]), x[:, :2], npinfer.ModelFormatError)


def test_svm_classifier_kernel_matrix_is_budgeted(monkeypatch):
    """The kernel matrix (rows x support vectors) is admitted against the run budget before it is made."""
    from npinfer.ops import ml_svm

    seen = []
    original = ml_svm.Call.admit

    def admit(self, shape, dtype, what="an output"):
        seen.append((tuple(shape), what))
        return original(self, shape, dtype, what)

    monkeypatch.setattr(ml_svm.Call, "admit", admit)
    rng = np.random.default_rng(4)
    attrs = svm_attributes(rng, 3, "RBF", True) | labels(3, False)
    x = rows(rng, 6)
    run_npinfer(classifier(attrs, x), {"x": x})
    count = sum(attrs["vectors_per_class"])
    assert ((6, count), "a kernel matrix") in seen and ((6, 3, 3), "pairwise probabilities") in seen


@pytest.mark.parametrize("rho", [[1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, 1.0, -1.0]])
def test_svm_classifier_vote_ties(rho):
    """Zero coefficients leave each pair's value at its rho: a value of 0 votes for the second class
    of the pair, and a three-way tie goes to the first class (ORT's max_element)."""
    x = rows(np.random.default_rng(6), 5)
    attrs = dict(kernel_type="RBF", kernel_params=[0.5, 0.0, 0.0], vectors_per_class=[1, 1, 1],
                 support_vectors=[1.0] * (3 * FEATURES), coefficients=[0.0] * 6, rho=rho) | labels(3, False)
    assert_matches_onnxruntime(classifier(attrs, x), {"x": x})


@pytest.mark.parametrize("proba", [False, True])
def test_svm_empty_batch(proba):
    rng = np.random.default_rng(8)
    x = np.zeros((0, FEATURES), np.float32)
    attrs = svm_attributes(rng, 3, "RBF", proba) | labels(3, False)
    assert_matches_onnxruntime(classifier(attrs, x), {"x": x})
    assert_matches_onnxruntime(regressor(regressor_attributes(rng, "RBF", 3, False), x), {"x": x})
