"""ONNX normalizations: BatchNormalization (inference) and LayerNormalization.
"""

from __future__ import annotations

from .toolkit import emit


def op_batch_norm(c, args, attrs):
    if attrs.get("training_mode", 0):
        raise c.refuse("training_mode=1 is not supported (inference only)")
    x = c.tensor(args[0])
    scale, shift, mean, var = (c.constant(a, name) for a, name in zip(args[1:5], ("scale", "B", "mean", "var")))
    return [emit.batch_norm(c, x, mean, var, scale, shift, float(attrs.get("epsilon", 1e-5)))]


def op_layer_norm(c, args, attrs):
    x = c.tensor(args[0])
    rank = len(x.shape)
    axis = attrs.get("axis", -1) % rank
    gamma = c.constant(args[1], "Scale")
    beta = c.constant(args[2], "B") if len(args) > 2 and args[2] is not None else None
    return [emit.layer_norm(c, x, list(range(axis, rank)), gamma, beta, float(attrs.get("epsilon", 1e-5))), None, None]


OPERATORS = {"BatchNormalization": op_batch_norm, "LayerNormalization": op_layer_norm}
