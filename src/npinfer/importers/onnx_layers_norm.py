"""ONNX normalizations: BatchNormalization (inference) and LayerNormalization.
"""

from __future__ import annotations


def op_batch_norm(c, args, attrs):
    if attrs.get("training_mode", 0):
        raise c.refuse("training_mode=1 is not supported (inference only)")
    x = c.tensor(args[0])
    scale, shift, mean, var = (c.constant(a, name) for a, name in zip(args[1:5], ("scale", "B", "mean", "var")))
    config = {"axis": 1, "epsilon": float(attrs.get("epsilon", 1e-5)), "center": True, "scale": True}
    weights = {"gamma": scale, "beta": shift, "moving_mean": mean, "moving_variance": var}
    return [c.one("BatchNormalization", config, [x], weights)]


def op_layer_norm(c, args, attrs):
    x = c.tensor(args[0])
    rank = len(x.shape)
    axis = attrs.get("axis", -1) % rank
    weights = {"gamma": c.constant(args[1], "Scale")}
    if len(args) > 2 and args[2] is not None:
        weights["beta"] = c.constant(args[2], "B")
    config = {"axis": list(range(axis, rank)), "epsilon": float(attrs.get("epsilon", 1e-5)), "scale": True, "center": "beta" in weights}
    outputs = c.add("LayerNormalization", config, [x], weights)
    return [outputs[0], None, None]


OPERATORS = {"BatchNormalization": op_batch_norm, "LayerNormalization": op_layer_norm}
