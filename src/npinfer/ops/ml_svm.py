"""ONNX operators, ai.onnx.ml support vector machines: SVMClassifier, SVMRegressor (tensor tier).
See ops/registry.py for the operator contract.

ONNX Runtime is the anchor, as scikit-learn's exporter (skl2onnx) writes these nodes:
- X (any of float, double, int32, int64) is cast to float; the kernels (LINEAR, POLY, RBF, SIGMOID
  with kernel_params = gamma, coef0, degree) are float32.
- SVMClassifier, with support vectors (libsvm's SVC): one decision value per pair of classes
  (i < j), the float32 products of coefficients and kernels summed in double; each pair votes for
  i when its value is > 0, else for j, and the label is the first class with the most votes.
  With prob_a / prob_b the pair values become Platt probabilities (clamped to [1e-7, 1 - 1e-7])
  coupled into one probability per class by libsvm's iterative method, run in float32 as ORT runs it.
- SVMClassifier without support vectors ("linear" mode): one score per class, X @ coefficients
  + rho[0] (ORT adds rho[0] to every class).
- SVMRegressor: one value per row, kernels @ coefficients + rho[0] (or X @ coefficients + rho[0]
  without support vectors); one_class turns it into +1 / -1.
"""

from __future__ import annotations

import numpy as np

from .ml import F32, F64, I64, as_rows, class_labels, floats, logistic, post_transform, second_class, transform_scores
from .registry import ML, Call, operator

KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")
CLAMP = np.float32(1e-7)  # Platt probabilities are kept inside [CLAMP, 1 - CLAMP]
COUPLING_STEPS = 100  # ORT's (and libsvm's) bound on the pairwise-coupling iterations
RBF_BLOCK = 1 << 20  # elements of the (rows, vectors, features) difference block the RBF kernel makes at once


# -- kernels -------------------------------------------------------------------------------------

def kernel_setup(call: Call):
    """The kernel's name and its (gamma, coef0, degree) as float32 (zeros when kernel_params is absent)."""
    kernel = call.string("kernel_type", "LINEAR")
    if kernel not in KERNELS:
        raise call.malformed(f"has kernel_type '{kernel}' (ONNX: {', '.join(KERNELS)})")
    params = floats(call, "kernel_params", (0.0, 0.0, 0.0))
    if params.size != 3:
        raise call.malformed(f"has {params.size} kernel_params (gamma, coef0, degree: 3)")
    return kernel, tuple(np.float32(p) for p in params)


def kernel_matrix(call: Call, rows: np.ndarray, vectors: np.ndarray, kernel: str, params) -> np.ndarray:
    """k(x, v) for every row and support vector, float32 as ORT computes it.    # (n, vectors)"""
    gamma, coef0, degree = params
    shape = call.admit((rows.shape[0], vectors.shape[0]), F32, "a kernel matrix")
    if kernel == "RBF":  # exp(-gamma * |x - v|^2), the differences taken directly (no |x|^2 - 2xv + |v|^2)
        out = np.empty(shape, F32)
        block = max(1, RBF_BLOCK // max(1, vectors.size))
        call.admit((min(block, rows.shape[0]), vectors.shape[0], vectors.shape[1]), F32, "an RBF difference block")
        for start in range(0, rows.shape[0], block):
            diff = rows[start:start + block, None, :] - vectors[None, :, :]  # (block, vectors, features)
            out[start:start + block] = np.exp(-gamma * np.einsum("nvf,nvf->nv", diff, diff))
        return out
    dot = rows @ vectors.T  # (n, vectors)
    if kernel == "LINEAR":
        return dot
    dot = gamma * dot + coef0
    if kernel == "SIGMOID":
        return np.tanh(dot)
    with np.errstate(invalid="ignore"):  # a negative base to a fractional degree is NaN, as std::pow
        return np.power(dot, degree).astype(F32)  # POLY


def feature_rows(call: Call, x: np.ndarray, features: int) -> np.ndarray:
    """X as float32 rows, checked to have the `features` columns the attributes describe.    # (n, features)"""
    rows = as_rows(call, x, F32)
    if rows.shape[1] != features:
        raise call.malformed(f"takes {features} features per row, X has {rows.shape[1]}")
    return rows


def support_vectors(call: Call, count: int) -> np.ndarray:
    """The support_vectors attribute as a (count, features) float32 matrix."""
    vectors = floats(call, "support_vectors", ())
    if vectors.size == 0 or vectors.size % count:
        raise call.malformed(f"has {vectors.size} support_vectors values for {count} support vectors")
    return vectors.reshape(count, -1)


def required_floats(call: Call, name: str) -> np.ndarray:
    values = floats(call, name)
    if values.size == 0:
        raise call.malformed(f"has an empty {name}")
    return values


# -- SVMClassifier ---------------------------------------------------------------------------------

def pair_decisions(call: Call, kernels, coefficients, rho, per_class):
    """libsvm's one-vs-one decision values and votes.   kernels (n, vectors), coefficients
    (classes - 1, vectors): class i's vectors weigh against class j with row j - 1, class j's
    against class i with row i. Returns float64 values (n, pairs) and int64 votes (n, classes)."""
    classes = len(per_class)
    starts = np.concatenate([[0], np.cumsum(per_class)]).astype(np.intp)
    n = kernels.shape[0]
    values = np.empty(call.admit((n, classes * (classes - 1) // 2), F64, "decision values"), F64)
    votes = np.zeros(call.admit((n, classes), I64, "votes"), I64)
    pair = 0
    for i in range(classes - 1):
        own = slice(starts[i], starts[i + 1])
        for j in range(i + 1, classes):
            other = slice(starts[j], starts[j + 1])
            # float32 products, summed in double (ORT)
            total = (kernels[:, own] * coefficients[j - 1, own]).sum(axis=1, dtype=F64)
            total += (kernels[:, other] * coefficients[i, other]).sum(axis=1, dtype=F64)
            total += np.float64(rho[pair])
            values[:, pair] = total
            wins = total > 0
            votes[:, i] += wins
            votes[:, j] += ~wins
            pair += 1
    return values, votes


def platt_pairs(call: Call, scores: np.ndarray, prob_a: np.ndarray, prob_b: np.ndarray, classes: int) -> np.ndarray:
    """r[i, j] = P(i | i or j) from each pair's score (Platt: 1 - logistic(a*s + b), clamped), and
    r[j, i] = 1 - r[i, j], float32.   scores (n, pairs) -> (n, classes, classes)"""
    p = np.float32(1) - logistic((scores * prob_a + prob_b).astype(F32))
    p = np.minimum(np.maximum(p, CLAMP), np.float32(1) - CLAMP)
    r = np.zeros(call.admit((scores.shape[0], classes, classes), F32, "pairwise probabilities"), F32)
    upper_i, upper_j = np.triu_indices(classes, 1)  # pairs in the order (0,1), (0,2), ..., (1,2), ...
    r[:, upper_i, upper_j] = p
    r[:, upper_j, upper_i] = np.float32(1) - p
    return r


def couple(call: Call, r: np.ndarray) -> np.ndarray:
    """libsvm's multiclass probabilities from pairwise ones (Wu, Lin and Weng 2004, method 2), the
    fixed-point loop of ORT's multiclass_probability in float32, every sum in its order; rows stop
    one by one as they converge.   r (n, k, k) -> p (n, k)"""
    n, k, _ = r.shape
    q = np.zeros(call.admit((n, k, k), F32, "the coupling matrix"), F32)
    for i in range(k):
        for j in range(k):
            if j != i:
                q[:, i, i] += r[:, j, i] * r[:, j, i]
        for j in range(i + 1, k):
            q[:, i, j] = q[:, j, i] = -r[:, j, i] * r[:, i, j]
    p = np.full((n, k), np.float32(1) / np.float32(k), F32)
    eps = np.float32(0.005) / np.float32(k)
    live = np.arange(n)
    one, two = np.float32(1), np.float32(2)
    with np.errstate(all="ignore"):
        for _ in range(COUPLING_STEPS):
            qq, pp = q[live], p[live]  # (m, k, k), (m, k)
            qp = np.zeros_like(pp)
            for j in range(k):
                qp += qq[:, :, j] * pp[:, j:j + 1]
            pqp = np.zeros(len(live), F32)
            for i in range(k):
                pqp += pp[:, i] * qp[:, i]
            error = np.abs(qp - pqp[:, None]).max(axis=1, initial=np.float32(0))
            going = ~(error < eps)
            live, qq, pp, qp, pqp = live[going], qq[going], pp[going], qp[going], pqp[going]
            if live.size == 0:
                break
            for i in range(k):
                qii = qq[:, i, i]
                diff = (-qp[:, i] + pqp) / qii
                pp[:, i] += diff
                grow = one + diff
                pqp = (pqp + diff * (diff * qii + two * qp[:, i])) / grow / grow
                qp = (qp + diff[:, None] * qq[:, i, :]) / grow[:, None]
                pp = pp / grow[:, None]
            p[live] = pp
    return p


def binary_linear_label(scores: np.ndarray, has_proba: bool, all_positive: bool) -> np.ndarray:
    """The class index ORT picks for two classes in linear mode: the second class when the top
    score passes 0.5 (all weights >= 0) or 0 (mixed weights) without probabilities, else the arg max."""
    top = np.argmax(scores, axis=1)
    if has_proba:
        return top
    best = scores[np.arange(scores.shape[0]), top]
    second = (best >= 0.5) if all_positive else (best > 0)
    return np.where(second, 1, top)


@operator("SVMClassifier", domain=ML,
          attributes=("classlabels_ints", "classlabels_strings", "coefficients", "kernel_params", "kernel_type",
                      "post_transform", "prob_a", "prob_b", "rho", "support_vectors", "vectors_per_class"))
def svm_classifier(call: Call, x):
    labels, _ = class_labels(call, "classlabels_ints", "classlabels_strings")
    classes = labels.size
    coefficients = required_floats(call, "coefficients")
    rho = required_floats(call, "rho")
    prob_a, prob_b = floats(call, "prob_a", ()), floats(call, "prob_b", ())
    if prob_a.size != prob_b.size:
        raise call.malformed(f"has {prob_a.size} prob_a and {prob_b.size} prob_b values")
    has_proba = prob_a.size > 0
    name = post_transform(call)
    per_class = call.ints("vectors_per_class", ())
    if any(v < 0 for v in per_class):
        raise call.malformed("has a negative count in vectors_per_class")
    if classes == 0:
        raise call.malformed("has no class labels")
    if sum(per_class) == 0:  # linear mode: one row of coefficients per class, rho[0] added to every score
        if coefficients.size % classes:
            raise call.malformed(f"has {coefficients.size} coefficients for {classes} classes")
        weights = coefficients.reshape(classes, -1)  # (classes, features)
        rows = feature_rows(call, x, weights.shape[1])
        call.admit((rows.shape[0], classes), F32)
        scores = (rows @ weights.T + rho[0]).astype(F32)  # (n, classes)
        if classes == 2:
            label = binary_linear_label(scores, has_proba, bool(np.all(coefficients >= 0)))
        else:
            label = np.argmax(scores, axis=1)
        if classes == 1:  # ORT transforms a single score with PROBIT only
            return labels[label], (transform_scores(scores, name) if name == "PROBIT" else scores)
        return labels[label], transform_scores(scores, name).astype(F32)
    # SVC mode: support vectors, one decision value per pair of classes
    count = sum(per_class)
    pairs = classes * (classes - 1) // 2
    if len(per_class) != classes or classes < 2:
        raise call.malformed(f"has {len(per_class)} vectors_per_class entries for {classes} classes (at least 2)")
    if coefficients.size != (classes - 1) * count:
        raise call.malformed(f"has {coefficients.size} coefficients for {classes} classes of {count} support vectors")
    if rho.size != pairs or prob_a.size not in (0, pairs):
        raise call.malformed(f"has {rho.size} rho and {prob_a.size} prob_a/prob_b values for {pairs} pairs of classes")
    if classes == 2 and not has_proba and name == "PROBIT":
        raise call.refuse("PROBIT of a two-class SVM without probabilities (ONNX Runtime leaves its second "
                          "score unwritten)")
    kernel, params = kernel_setup(call)
    vectors = support_vectors(call, count)  # (vectors, features)
    rows = feature_rows(call, x, vectors.shape[1])
    kernels = kernel_matrix(call, rows, vectors, kernel, params)  # (n, vectors)
    values, votes = pair_decisions(call, kernels, coefficients.reshape(classes - 1, count), rho, per_class)
    label = labels[np.argmax(votes, axis=1)]
    scores = values.astype(F32)  # (n, pairs)
    if has_proba:
        probabilities = couple(call, platt_pairs(call, scores, prob_a, prob_b, classes))  # (n, classes)
        return label, transform_scores(probabilities, name).astype(F32)
    if classes == 2:  # one decision value: [-s, s] (NONE), [1 - logistic(s), logistic(s)] (LOGISTIC), else
        # [1 - s, s] left untransformed (as ONNX Runtime 1.32 writes them)
        return label, second_class(scores[:, 0], 2 if name == "NONE" else 0, name)
    return label, transform_scores(scores, name).astype(F32)


# -- SVMRegressor ----------------------------------------------------------------------------------

@operator("SVMRegressor", domain=ML,
          attributes=("coefficients", "kernel_params", "kernel_type", "n_supports", "one_class", "post_transform",
                      "rho", "support_vectors"))
def svm_regressor(call: Call, x):
    coefficients = required_floats(call, "coefficients")
    rho = required_floats(call, "rho")
    count = int(call.attr("n_supports", 0))
    if count < 0:
        raise call.malformed(f"has n_supports {count}")
    if post_transform(call) != "NONE":  # ONNX Runtime reads post_transform and ignores it
        raise call.refuse(f"post_transform '{call.string('post_transform')}' (ONNX Runtime ignores it; "
                          "npinfer runs NONE only)")
    if count > 0:  # kernels of the support vectors, weighed by the coefficients
        if coefficients.size != count:
            raise call.malformed(f"has {coefficients.size} coefficients for {count} support vectors")
        kernel, params = kernel_setup(call)
        vectors = support_vectors(call, count)
        rows = feature_rows(call, x, vectors.shape[1])
        kernels = kernel_matrix(call, rows, vectors, kernel, params)  # (n, vectors)
        call.admit((rows.shape[0], 1), F32)
        y = (kernels @ coefficients[:, None] + rho[0]).astype(F32)  # (n, 1)
    else:  # linear: X @ coefficients + rho[0]
        rows = feature_rows(call, x, coefficients.size)
        call.admit((rows.shape[0], 1), F32)
        y = (rows @ coefficients[:, None] + rho[0]).astype(F32)  # (n, 1)
    if call.attr("one_class", 0):
        y = np.where(y > 0, np.float32(1), np.float32(-1))
    return y
