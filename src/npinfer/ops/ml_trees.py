"""ONNX operators, ai.onnx.ml tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor, TreeEnsemble (tensor tier). See ops/registry.py for the operator contract."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ml import F32, F64, as_rows, check_input, probit, transform_scores
from .registry import ML, Call, operator

LEAF = 6  # internal code; branch codes 0..5 are LEQ, LT, GTE, GT, EQ, NEQ (V5's numbering)
V3_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5,
            "LEAF": LEAF}
COMPARE = (np.less_equal, np.less, np.greater_equal, np.greater, np.equal, np.not_equal)
AGGREGATES = ("AVERAGE", "SUM", "MIN", "MAX")


@dataclass
class Ensemble:
    """Flat trees: per node its feature, threshold, mode, NaN rule and children (a leaf points at
    itself); per leaf one weight (target, value); the roots; the longest root-to-leaf path."""
    feature: np.ndarray  # (nodes,) int64
    threshold: np.ndarray  # (nodes,) threshold type
    mode: np.ndarray  # (nodes,) int8
    missing_true: np.ndarray  # (nodes,) bool
    true_next: np.ndarray  # (nodes,) int64
    false_next: np.ndarray  # (nodes,) int64
    target: np.ndarray  # (nodes,) int64, leaves only
    weight: np.ndarray  # (nodes,) threshold type, leaves only
    roots: np.ndarray  # (trees,) int64
    depth: int = 0


def check_structure(call: Call, ens: Ensemble) -> Ensemble:
    """Children in range, no cycles (a path longer than the node count is one); sets ens.depth."""
    n = ens.mode.size
    for name, ids in (("true", ens.true_next), ("false", ens.false_next), ("root", ens.roots)):
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise call.malformed(f"has a {name} child index outside [0, {n})")
    frontier, depth = np.unique(ens.roots), 0
    while frontier.size:
        frontier = frontier[ens.mode[frontier] != LEAF]
        if not frontier.size:
            break
        depth += 1
        if depth > n:
            raise call.malformed("has a cyclic tree (a path visits a node twice)")
        frontier = np.unique(np.concatenate([ens.true_next[frontier], ens.false_next[frontier]]))
    ens.depth = depth
    return ens


def walk(call: Call, ens: Ensemble, rows: np.ndarray) -> np.ndarray:
    """The leaf each row reaches in each tree: (rows, trees); all rows advance one level per step."""
    n = rows.shape[0]
    call.admit((n, ens.roots.size), np.int64, "leaf positions")
    pos = np.broadcast_to(ens.roots, (n, ens.roots.size)).copy()  # (rows, trees)
    branches = ens.feature[ens.mode != LEAF]
    if branches.size and branches.max() >= rows.shape[1]:
        raise call.malformed(f"reads feature {branches.max()} of {rows.shape[1]}")
    r = np.arange(n)[:, None]
    for _ in range(ens.depth):
        mode = ens.mode[pos]
        if not (mode != LEAF).any():
            break
        x = rows[r, np.minimum(ens.feature[pos], max(rows.shape[1] - 1, 0))] if rows.shape[1] else None
        th = ens.threshold[pos]
        go = ens.missing_true[pos] & np.isnan(x)
        for code in np.unique(mode[mode != LEAF]):
            go |= (mode == code) & COMPARE[code](x, th)
        pos = np.where(go, ens.true_next[pos], ens.false_next[pos])
    return pos


def aggregate(call: Call, ens: Ensemble, pos: np.ndarray, targets: int, function: str):
    """ONNX Runtime's aggregation in the threshold type, trees in order: (scores, has_score)."""
    n, trees = pos.shape
    dtype = ens.weight.dtype
    call.admit((n, targets), dtype)
    if targets == 1 and function in ("SUM", "AVERAGE") and trees:
        # one target: a running sum over the trees (cumsum adds strictly in order), tree by tree as the loop below
        scores = np.cumsum(ens.weight[pos.T], axis=0, dtype=dtype)[-1][:, None]  # (trees, rows) -> (rows, 1)
        if function == "AVERAGE":
            scores = scores / dtype.type(trees)
        return scores, np.ones((n, 1), bool)
    scores = np.zeros((n, targets), dtype)
    has = np.zeros((n, targets), bool)
    rows = np.arange(n)
    for t in range(trees):
        leaf = pos[:, t]
        w = ens.weight[leaf]
        tg = 0 if targets == 1 else ens.target[leaf]
        cur, h = scores[rows, tg], has[rows, tg]
        if function in ("SUM", "AVERAGE"):
            new = cur + w
        elif function == "MIN":
            new = np.where(~h | (w < cur), w, cur)
        else:
            new = np.where(~h | (w > cur), w, cur)
        scores[rows, tg] = new
        has[rows, tg] = True
    if function == "AVERAGE":
        scores = scores / dtype.type(trees)
    return scores, has


def finish(scores, has, name: str, out_dtype) -> np.ndarray:
    """Regression scores to the output: PROBIT only for one target; transforms in float32."""
    values = np.where(has, scores, 0)
    if values.shape[1] == 1:
        return probit(values).astype(out_dtype) if name == "PROBIT" else values.astype(out_dtype)
    if name == "NONE":
        return values.astype(out_dtype)
    return transform_scores(values.astype(F32), name).astype(out_dtype)


V5_AGGREGATES = ("AVERAGE", "SUM", "MIN", "MAX")
V5_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")  # the ONNX spec's codes


def _tensor(call: Call, name: str, dtype, required=True):
    value = call.attr(name, None)
    if value is None:
        if required:
            raise call.malformed(f"has no attribute '{name}'")
        return None
    value = np.asarray(value).reshape(-1)
    if value.dtype != dtype:
        raise call.refuse(f"'{name}' of {value.dtype} for a {np.dtype(dtype)} input")
    return value


@operator("TreeEnsemble", domain=ML,
          attributes=("aggregate_function", "leaf_targetids", "leaf_weights", "membership_values", "n_targets",
                      "nodes_falseleafs", "nodes_falsenodeids", "nodes_featureids", "nodes_hitrates",
                      "nodes_missing_value_tracks_true", "nodes_modes", "nodes_splits", "nodes_trueleafs",
                      "nodes_truenodeids", "post_transform", "tree_roots"))
def tree_ensemble(call: Call, x):
    """ai.onnx.ml opset 5: the output has the input's type; BRANCH_MEMBER is unrolled into a chain
    of BRANCH_EQ nodes as ONNX Runtime does."""
    check_input(call, x, (F32, F64))
    dtype = x.dtype
    rows = as_rows(call, x, dtype)
    feature = np.asarray(call.ints("nodes_featureids"), np.int64)
    n = feature.size
    modes = np.asarray(call.attr("nodes_modes"), np.int64).reshape(-1)
    splits = _tensor(call, "nodes_splits", dtype)
    weights = _tensor(call, "leaf_weights", dtype)
    leaf_targets = np.asarray(call.ints("leaf_targetids"), np.int64)
    ints = {k: np.asarray(call.ints(k), np.int64) for k in
            ("nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs")}
    missing = np.asarray(call.ints("nodes_missing_value_tracks_true", (0,) * n), np.int64) == 1
    if any(v.size != n for v in (modes, splits, missing, *ints.values())) or leaf_targets.size != weights.size:
        raise call.malformed("has node or leaf attributes of different lengths")
    if np.any((modes < 0) | (modes > 6)):
        raise call.malformed(f"has an unknown node mode {int(modes[(modes < 0) | (modes > 6)][0])} (ONNX: 0 to 6)")
    targets = int(call.attr("n_targets", 0))
    if targets < 1 or (targets > 1 and np.any((leaf_targets < 0) | (leaf_targets >= targets))):
        raise call.malformed(f"has leaf targets outside [0, {targets})")
    agg, post = int(call.attr("aggregate_function", 1)), int(call.attr("post_transform", 0))
    if not 0 <= agg < 4 or not 0 <= post < 5:
        raise call.malformed(f"has aggregate_function {agg} / post_transform {post} outside the ONNX enumerations")
    if post in (1, 2) and targets > 1:  # ORT 1.32 reads 1 as LOGISTIC and 2 as SOFTMAX, the spec the reverse
        raise call.refuse(f"post_transform {post} with several targets (ONNX Runtime and the ONNX spec disagree "
                          "on which of SOFTMAX / LOGISTIC it names)")
    leaves = weights.size
    for flag, ids in (("nodes_trueleafs", "nodes_truenodeids"), ("nodes_falseleafs", "nodes_falsenodeids")):
        limit = np.where(ints[flag] != 0, leaves, n)
        if np.any((ints[ids] < 0) | (ints[ids] >= limit)):
            raise call.malformed(f"has {ids} outside the nodes or leaves")
    true_next = np.where(ints["nodes_trueleafs"] != 0, n + ints["nodes_truenodeids"], ints["nodes_truenodeids"])
    false_next = np.where(ints["nodes_falseleafs"] != 0, n + ints["nodes_falsenodeids"], ints["nodes_falsenodeids"])
    roots = np.asarray(call.ints("tree_roots"), np.int64)
    if roots.size == 0 or np.any((roots < 0) | (roots >= n)):
        raise call.malformed("has tree_roots outside the nodes (or none)")
    single = ints["nodes_truenodeids"][roots] == ints["nodes_falsenodeids"][roots]  # ORT: such a root is a leaf
    if np.any(single & (roots >= leaves)):
        raise call.malformed("has a one-leaf tree whose root is not a leaf index")
    roots = np.where(single, n + roots, roots)
    # BRANCH_MEMBER: its set (NaN-delimited, in node order) becomes a chain of BRANCH_EQ nodes
    feat, thr, mode, miss = list(feature), list(splits), list(modes), list(missing)
    tnext, fnext = list(true_next), list(false_next)
    members = _tensor(call, "membership_values", dtype, required=False)
    sets = np.split(members, np.flatnonzero(np.isnan(members)) + 1) if members is not None else []
    extra = []  # chain nodes, placed after the leaves: (feature, value, missing, true, false)
    for k, i in enumerate(np.flatnonzero(modes == 6)):
        values = sets[k][~np.isnan(sets[k])] if k < len(sets) else np.empty(0, dtype)
        if values.size == 0:
            raise call.malformed(f"has no membership values for BRANCH_MEMBER node {i}")
        if np.any((values < 0) & (values == np.round(values))) or np.unique(values).size != values.size:
            raise call.refuse(f"BRANCH_MEMBER node {i} has negative integer or repeated set members "
                              "(ONNX Runtime computes those differently; not matched yet)")
        mode[i], thr[i] = 4, values[0]
        prev = None
        for v in values[1:]:
            index = n + leaves + len(extra)
            if prev is None:
                fnext[i] = index
            else:
                extra[prev][4] = index
            extra.append([feature[i], v, missing[i], true_next[i], false_next[i]])
            prev = len(extra) - 1
    total = n + leaves + len(extra)
    call.admit((total,), F64, "tree nodes")
    ens = Ensemble(
        feature=np.concatenate([feat, np.zeros(leaves, np.int64), [e[0] for e in extra]]).astype(np.int64),
        threshold=np.concatenate([thr, np.zeros(leaves, dtype), [e[1] for e in extra]]).astype(dtype),
        mode=np.concatenate([mode, np.full(leaves, LEAF), np.full(len(extra), 4)]).astype(np.int8),
        missing_true=np.concatenate([miss, np.zeros(leaves, bool), [e[2] for e in extra]]).astype(bool),
        true_next=np.concatenate([tnext, n + np.arange(leaves), [e[3] for e in extra]]).astype(np.int64),
        false_next=np.concatenate([fnext, n + np.arange(leaves), [e[4] for e in extra]]).astype(np.int64),
        target=np.concatenate([np.zeros(n, np.int64), leaf_targets, np.zeros(len(extra), np.int64)]),
        weight=np.concatenate([np.zeros(n, dtype), weights, np.zeros(len(extra), dtype)]).astype(dtype),
        roots=roots)
    check_structure(call, ens)
    pos = walk(call, ens, rows)
    scores, has = aggregate(call, ens, pos, targets, V5_AGGREGATES[agg])
    return finish(scores, has, V5_TRANSFORMS[post], dtype)


def _v3_values(call: Call, name: str, dtype):
    """A V3 float list or its *_as_tensor twin (opset 3) in the threshold type."""
    if call.has(name + "_as_tensor"):
        if call.opset < 3:
            raise call.malformed(f"has {name}_as_tensor, an opset 3 attribute")
        return np.asarray(call.attr(name + "_as_tensor")).reshape(-1).astype(dtype)
    return np.asarray(call.attr(name, []), F32).reshape(-1).astype(dtype)


def v3_ensemble(call: Call, dtype, prefix: str) -> Ensemble:
    """The nodes_* / <prefix>_* attributes of TreeEnsembleRegressor/Classifier as an Ensemble
    (roots: the first node of each run of equal tree ids, as ONNX Runtime)."""
    trees = np.asarray(call.ints("nodes_treeids"), np.int64)
    ids = np.asarray(call.ints("nodes_nodeids"), np.int64)
    n = trees.size
    names = call.strings("nodes_modes")
    unknown = [m for m in names if m not in V3_MODES]
    if unknown:
        raise call.malformed(f"has an unknown node mode '{unknown[0]}' (ONNX: {', '.join(V3_MODES)})")
    feature = np.asarray(call.ints("nodes_featureids"), np.int64)
    threshold = _v3_values(call, "nodes_values", dtype)
    true_ids = np.asarray(call.ints("nodes_truenodeids"), np.int64)
    false_ids = np.asarray(call.ints("nodes_falsenodeids"), np.int64)
    missing = np.asarray(call.ints("nodes_missing_value_tracks_true", (0,) * n), np.int64) == 1
    if n == 0 or any(a.size != n for a in (ids, feature, threshold, true_ids, false_ids, missing)) or len(names) != n:
        raise call.malformed("has node attributes of different lengths (or no nodes)")
    mode = np.array([V3_MODES[m] for m in names], np.int8)
    index = {}
    for i, key in enumerate(zip(trees.tolist(), ids.tolist())):
        if key in index:
            raise call.malformed(f"has node {key[1]} of tree {key[0]} twice")
        index[key] = i
    def child(i, node):
        found = index.get((int(trees[i]), int(node)), -1)
        if found < 0 or found == i:
            raise call.malformed(f"has a child {node} of node {ids[i]} in tree {trees[i]} that is no other node of it")
        return found
    branch = mode != LEAF
    true_next = np.array([child(i, t) if branch[i] else i for i, t in enumerate(true_ids.tolist())], np.int64)
    false_next = np.array([child(i, f) if branch[i] else i for i, f in enumerate(false_ids.tolist())], np.int64)
    w_tree = np.asarray(call.ints(prefix + "_treeids"), np.int64)
    w_node = np.asarray(call.ints(prefix + "_nodeids"), np.int64)
    w_target = np.asarray(call.ints(prefix + "_ids"), np.int64)
    w_value = _v3_values(call, prefix + "_weights", dtype)
    if not w_tree.size == w_node.size == w_target.size == w_value.size:
        raise call.malformed("has weight attributes of different lengths")
    target = np.zeros(n, np.int64)
    weight = np.zeros(n, dtype)
    count = np.zeros(n, np.int64)
    for t, node, k, v in zip(w_tree.tolist(), w_node.tolist(), w_target.tolist(), w_value.tolist()):
        i = index.get((t, node), -1)
        if i < 0:
            raise call.malformed(f"has a weight for node {node} of tree {t}, which does not exist")
        if branch[i]:
            continue  # ORT ignores weights on branch nodes
        count[i] += 1
        target[i], weight[i] = k, v
    leaves = ~branch
    if np.any(count[leaves] == 0):
        raise call.malformed("has a leaf without a weight")
    if np.any(count[leaves] > 1):
        raise call.refuse("leaves with several weights are not done")
    roots = np.flatnonzero(np.concatenate([[True], trees[1:] != trees[:-1]])).astype(np.int64)
    ens = Ensemble(feature, threshold, mode, missing, true_next, false_next, target, weight, roots)
    return check_structure(call, ens)


@operator("TreeEnsembleRegressor", domain=ML,
          attributes=("aggregate_function", "base_values", "base_values_as_tensor", "n_targets", "nodes_falsenodeids",
                      "nodes_featureids", "nodes_hitrates", "nodes_hitrates_as_tensor", "nodes_missing_value_tracks_true",
                      "nodes_modes", "nodes_nodeids", "nodes_treeids", "nodes_truenodeids", "nodes_values",
                      "nodes_values_as_tensor", "post_transform", "target_ids", "target_nodeids", "target_treeids",
                      "target_weights", "target_weights_as_tensor"))
def tree_ensemble_regressor(call: Call, x):
    """ai.onnx.ml opsets 1 and 3: float32 output, computed in double for a double input (as ORT)."""
    check_input(call, x)
    dtype = F64 if x.dtype == F64 else F32
    rows = as_rows(call, x, dtype)
    from .ml import post_transform
    name = post_transform(call)
    function = call.string("aggregate_function", "SUM")
    if function not in AGGREGATES:
        raise call.malformed(f"has aggregate_function '{function}' (ONNX: {', '.join(AGGREGATES)})")
    targets = int(call.attr("n_targets", 1))
    # the flat trees depend on attributes only: built on the first call, kept for the node
    ens = call.prepared((), ("ensemble", dtype.str), lambda: v3_ensemble(call, dtype, "target"))
    if targets < 1 or (targets > 1 and np.any((ens.target < 0) | (ens.target >= targets))):
        raise call.malformed(f"has targets outside [0, {targets})")
    base = _v3_values(call, "base_values", dtype)
    if base.size not in (0, targets):
        raise call.malformed(f"has {base.size} base values for {targets} targets")
    pos = walk(call, ens, rows)
    scores, has = aggregate(call, ens, pos, targets, function)
    if base.size:
        scores = np.where(has | (function in ("SUM", "AVERAGE")), scores, 0) + base
        has = np.ones_like(has)
    return finish(scores, has, name, F32)
