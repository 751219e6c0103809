"""ai.onnx.ml tree ensembles on the tensor tier (TreeEnsemble, opset 5) against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import npinfer
from ops_parity import assert_matches_onnxruntime, graph_model, run_npinfer

FEATURES = 4


def random_v5(rng, trees: int, depth: int, targets: int, dtype, modes, member: bool):
    """Complete trees of `depth` levels as TreeEnsemble attributes (random splits, weights, targets)."""
    nodes = {k: [] for k in ("feat", "split", "mode", "tid", "tleaf", "fid", "fleaf", "miss")}
    leaf_w, leaf_t, roots, members = [], [], [], []

    def build(level):
        index = len(nodes["feat"])
        for k in nodes:
            nodes[k].append(0)
        nodes["feat"][index] = int(rng.integers(FEATURES))
        nodes["mode"][index] = int(rng.choice(modes))
        nodes["split"][index] = float(np.round(rng.normal(), 1))
        nodes["miss"][index] = int(rng.integers(2))
        if nodes["mode"][index] == 6:
            members.extend([float(v) for v in rng.choice(5, size=3, replace=False)] + [np.nan])  # ORT: integer members only
        for side in ("t", "f"):
            if level + 1 >= depth:
                nodes[side + "id"][index] = len(leaf_w)
                nodes[side + "leaf"][index] = 1
                leaf_w.append(float(rng.normal()))
                leaf_t.append(int(rng.integers(targets)))
            else:
                nodes[side + "id"][index] = build(level + 1)
        return index

    for _ in range(trees):
        roots.append(build(0))
    attrs = dict(nodes_featureids=nodes["feat"], nodes_truenodeids=nodes["tid"], nodes_trueleafs=nodes["tleaf"],
                 nodes_falsenodeids=nodes["fid"], nodes_falseleafs=nodes["fleaf"],
                 nodes_missing_value_tracks_true=nodes["miss"], leaf_targetids=leaf_t, tree_roots=roots,
                 n_targets=targets,
                 nodes_modes=numpy_helper.from_array(np.array(nodes["mode"], np.uint8)),
                 nodes_splits=numpy_helper.from_array(np.array(nodes["split"], dtype)),
                 leaf_weights=numpy_helper.from_array(np.array(leaf_w, dtype)))
    if members:
        attrs["membership_values"] = numpy_helper.from_array(np.array(members, dtype))
    return attrs


def inputs(rng, dtype, rows=64):
    x = np.round(rng.normal(size=(rows, FEATURES)), 1).astype(dtype)
    whole = rng.random(x.shape) < 0.3
    x[whole] = np.round(x[whole])  # some integers (set membership, equality)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
@pytest.mark.parametrize("modes", [(0,), (1,), (2,), (3,), (4,), (5,), (0, 1, 2, 3, 4, 5), (0, 6)])
@pytest.mark.parametrize("targets", [1, 3])
def test_tree_ensemble(dtype, aggregate, modes, targets):
    rng = np.random.default_rng(aggregate * 10 + len(modes) + targets)
    attrs = random_v5(rng, trees=5, depth=4, targets=targets, dtype=dtype, modes=modes, member=6 in modes)
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", aggregate_function=aggregate, **attrs)
    x = inputs(rng, dtype)
    model = graph_model([node], {"x": x}, {"y": dtype}, domains={"ai.onnx.ml": 5})
    assert_matches_onnxruntime(model, {"x": x})


def test_cyclic_tree_is_refused():
    rng = np.random.default_rng(0)
    attrs = random_v5(rng, trees=1, depth=3, targets=1, dtype=np.float32, modes=(0,), member=False)
    attrs["nodes_truenodeids"][1] = 0
    attrs["nodes_trueleafs"][1] = 0
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
    x = inputs(rng, np.float32)
    model = graph_model([node], {"x": x}, {"y": np.float32}, domains={"ai.onnx.ml": 5})
    with pytest.raises(npinfer.errors.ModelFormatError, match="cyclic"):
        run_npinfer(model, {"x": x})


@pytest.mark.parametrize("change", ["mode", "child"])
def test_malformed_is_refused(change):
    rng = np.random.default_rng(1)
    attrs = random_v5(rng, trees=1, depth=3, targets=1, dtype=np.float32, modes=(0,), member=False)
    if change == "mode":
        attrs["nodes_modes"] = numpy_helper.from_array(np.full(3, 9, np.uint8))
    else:
        attrs["nodes_falsenodeids"][0] = 99
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
    x = inputs(rng, np.float32)
    model = graph_model([node], {"x": x}, {"y": np.float32}, domains={"ai.onnx.ml": 5})
    with pytest.raises(npinfer.errors.NpinferError, match="TreeEnsemble"):
        run_npinfer(model, {"x": x})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("post", [1, 2, 3, 4])
@pytest.mark.parametrize("targets", [1, 3])
def test_tree_ensemble_post_transform(dtype, post, targets):
    rng = np.random.default_rng(post + targets)
    attrs = random_v5(rng, trees=3, depth=3, targets=targets, dtype=dtype, modes=(0, 3), member=False)
    if post == 4:  # PROBIT takes scores in (0, 1)
        attrs["leaf_weights"] = numpy_helper.from_array(rng.uniform(0.05, 0.3, len(attrs["leaf_targetids"])).astype(dtype))
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", post_transform=post, **attrs)
    x = inputs(rng, dtype)
    model = graph_model([node], {"x": x}, {"y": dtype}, domains={"ai.onnx.ml": 5})
    if post in (1, 2) and targets > 1:  # ORT swaps SOFTMAX / LOGISTIC against the spec: refused
        with pytest.raises(npinfer.UnsupportedOptionError, match="TreeEnsemble"):
            run_npinfer(model, {"x": x})
        return
    assert_matches_onnxruntime(model, {"x": x}, rtol=1e-5, atol=1e-5)
