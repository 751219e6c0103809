"""scikit-learn models exported by skl2onnx, run by npinfer's tensor tier and ONNX Runtime (partial:
tree regressors so far)."""

from __future__ import annotations

import numpy as np
import pytest

from ops_parity import assert_same, run_npinfer, run_onnxruntime


@pytest.fixture(scope="module")
def regressors():
    from sklearn.datasets import make_regression
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from skl2onnx import to_onnx

    x, y = make_regression(300, 5, random_state=0)
    x = x.astype(np.float32)
    models = {}
    for est in (RandomForestRegressor(10, max_depth=5, random_state=0),
                GradientBoostingRegressor(n_estimators=10, random_state=0)):
        est.fit(x, y)
        models[type(est).__name__] = to_onnx(est, x[:1], target_opset={"": 21, "ai.onnx.ml": 3})
    return models, x


@pytest.mark.parametrize("name", ["RandomForestRegressor", "GradientBoostingRegressor"])
@pytest.mark.parametrize("rows", [1, 300])
def test_tree_regressor(regressors, name, rows):
    models, x = regressors
    model = models[name]
    feeds = {model.graph.input[0].name: x[:rows]}
    expected = run_onnxruntime(model, feeds)
    got = run_npinfer(model, feeds)
    assert_same(got[0], expected[0], rtol=1e-5, atol=1e-4)  # ORT sums trees across threads in float32
