"""scikit-learn's support vector machines exported by skl2onnx, run by npinfer's tensor tier and by
ONNX Runtime: SVC with probabilities (linear, rbf, poly, sigmoid kernels; two and three classes),
SVC without probabilities (skl2onnx adds its one-vs-rest decision graph for three classes), SVR,
LinearSVC (a LinearClassifier) and OneClassSVM, each trained on small seeded synthetic data.
Labels must be equal, probabilities and scores within 1e-5, at batch 1 and at 1,000 rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ops_parity import assert_same, run_npinfer, run_onnxruntime

FEATURES = 5
OPSETS = {"": 21, "ai.onnx.ml": 3}


def data(classes: int, seed: int = 0):
    """Rows around `classes` centres, labels by the nearest centre plus noise (float32)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(classes, FEATURES))
    x = rng.normal(size=(120, FEATURES)).astype(np.float32)
    y = np.argmin(((x[:, None, :] - centres) ** 2).sum(-1) + rng.normal(scale=0.5, size=(120, classes)), axis=1)
    return x, y


@pytest.fixture(scope="module")
def queries():
    return np.random.default_rng(99).normal(scale=1.3, size=(1000, FEATURES)).astype(np.float32)


def export(model, x, options=None):
    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_onnx(model, x[:1], options=options, target_opset=OPSETS)


CLASSIFIERS = {}


def svc(kernel: str, classes: int, probability: bool, dtype=np.float32):
    """An exported SVC, trained once per module run (cached)."""
    key = (kernel, classes, probability, np.dtype(dtype).name)
    if key not in CLASSIFIERS:
        from sklearn.svm import SVC

        x, y = data(classes, seed=classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SVC(probability=True) is deprecated in scikit-learn 1.9
            model = SVC(kernel=kernel, probability=probability, gamma=0.3, coef0=0.5, degree=3, random_state=0,
                        C=0.8).fit(x, y)
        CLASSIFIERS[key] = export(model, x.astype(dtype), {id(model): {"zipmap": False}})
    return CLASSIFIERS[key]


def check(onnx_model, x) -> list:
    """npinfer and ONNX Runtime on x, at batch 1 and on all rows: labels equal, floats within 1e-5."""
    for batch in (x[:1], x):
        feeds = {onnx_model.graph.input[0].name: batch}
        expected = run_onnxruntime(onnx_model, feeds)
        got = run_npinfer(onnx_model, feeds)
        assert len(got) == len(expected)
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, rtol=1e-5, atol=1e-5, where=f"output {i} at {len(batch)} rows")
    return got


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
@pytest.mark.parametrize("classes", [2, 3])
def test_svc_with_probabilities(kernel, classes, queries):
    label, probabilities = check(svc(kernel, classes, True), queries)
    assert probabilities.shape == (1000, classes) and label.shape == (1000,)


@pytest.mark.parametrize("kernel", ["rbf", "poly"])
@pytest.mark.parametrize("classes", [2, 3])
def test_svc_without_probabilities(kernel, classes, queries):
    check(svc(kernel, classes, False), queries)


def test_svc_with_double_input(queries):
    check(svc("rbf", 3, True, np.float64), queries.astype(np.float64))


def test_svc_with_string_labels(queries):
    from sklearn.svm import SVC

    x, y = data(3, seed=5)
    names = np.array(["ant", "bee", "cat"])[y]
    model = SVC(kernel="rbf", gamma=0.5).fit(x, names)
    label, _ = check(export(model, x, {id(model): {"zipmap": False}}), queries)
    assert label.dtype == object


def test_svr(queries):
    from sklearn.svm import SVR

    x, _ = data(2, seed=7)
    target = np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]
    # C and gamma keep the float32 sums well conditioned: with C=2 a poly SVR's 107 terms cancel, and
    # ONNX Runtime itself lands 2e-4 from scikit-learn's double predictions (npinfer 1.3e-4)
    for kernel, options in {"rbf": dict(gamma=0.4, C=2.0), "poly": dict(gamma=0.2, coef0=1.0, C=0.5),
                            "linear": dict(C=0.1), "sigmoid": dict(gamma=0.1, C=0.5)}.items():
        check(export(SVR(kernel=kernel, **options).fit(x, target), x), queries)


@pytest.mark.parametrize("classes", [2, 3])
def test_linear_svc(classes, queries):
    from sklearn.svm import LinearSVC

    x, y = data(classes, seed=11)
    check(export(LinearSVC(C=0.5, random_state=0).fit(x, y), x), queries)


def test_one_class_svm(queries):
    from sklearn.svm import OneClassSVM

    x, _ = data(2, seed=13)
    label, scores = check(export(OneClassSVM(gamma=0.3, nu=0.2).fit(x), x), queries)
    assert set(label.ravel().tolist()) == {-1, 1}
