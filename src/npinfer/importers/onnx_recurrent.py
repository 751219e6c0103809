"""ONNX LSTM / GRU / RNN nodes -> onnx.* layers: attributes resolved and checked here, once.

Activation parameters follow ONNX Runtime: one list of alphas and one of betas for all the
node's functions in order (forward direction first); a value is taken only by a function that
uses it. Where ONNX Runtime and the ONNX operator defaults disagree (Affine, ScaledTanh,
ThresholdedRelu without values) the node is refused rather than guessed.
"""

from __future__ import annotations

import numpy as np

from ..layers.onnx_recurrent import ACTIVATIONS, FUNCTIONS_PER_DIRECTION

USES = {"affine": (True, True), "leakyrelu": (True, False), "thresholdedrelu": (True, False), "scaledtanh": (True, True),
        "hardsigmoid": (True, True), "elu": (True, False)}
DEFAULTS = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}
DEFAULT_FUNCTIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}


def resolve_activations(c, kind: str, directions: int, attrs: dict) -> list[dict]:
    names = attrs.get("activations")
    per = FUNCTIONS_PER_DIRECTION[kind]
    if names is None:
        names = DEFAULT_FUNCTIONS[kind] * directions
    else:
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]
        if kind == "RNN" and directions == 1 and len(names) == 2:
            names = names[:1]  # the schema default ["Tanh", "Tanh"] on a one-direction RNN: the first is used
        if len(names) != per * directions:
            raise c.refuse(f"activations {names}: a {kind} with {directions} direction(s) needs {per * directions}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    resolved = []
    for name in names:
        key = name.lower()
        if key not in ACTIVATIONS:
            raise c.refuse(f"activation '{name}' is not supported; supported: Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                           "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus")
        needs_alpha, needs_beta = USES.get(key, (False, False))
        default_alpha, default_beta = DEFAULTS.get(key, (None, None))
        spec = {"name": key}
        for needed, values, default, label in ((needs_alpha, alphas, default_alpha, "alpha"), (needs_beta, betas, default_beta, "beta")):
            if not needed:
                continue
            if values:
                spec[label] = float(values.pop(0))
            elif default is not None:
                spec[label] = default
            else:  # ONNX Runtime would use 0, the ONNX operator a different default: do not guess
                raise c.refuse(f"activation '{name}' needs an explicit activation_{label}")
        resolved.append(spec)
    return resolved


def convert_recurrent(c, args, attrs):
    kind = c.node.op_type
    x = c.tensor(args[0], "X")
    w, r = args[1], args[2]
    bias = args[3] if len(args) > 3 else None
    lengths = args[4] if len(args) > 4 else None
    initial_h = args[5] if len(args) > 5 else None
    initial_c = args[6] if kind == "LSTM" and len(args) > 6 else None
    peepholes = args[7] if kind == "LSTM" and len(args) > 7 else None
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    directions = 2 if direction == "bidirectional" else 1
    hidden = attrs.get("hidden_size")
    if hidden is None:
        hidden = r.shape[-1] if isinstance(r, np.ndarray) and r.ndim == 3 else (c.tensor(r, "R").shape[-1])
    clip = attrs.get("clip")
    if clip is not None:
        if kind != "RNN" and clip <= 0:
            raise c.refuse(f"clip={clip} is not supported (it must be positive)")
        if kind == "RNN" and clip < 0:
            clip = None  # ONNX Runtime: a negative clip is no clip
    if kind == "GRU" and attrs.get("linear_before_reset", 0) not in (0, 1):
        raise c.refuse("linear_before_reset must be 0 or 1")
    config = {"kind": kind, "hidden_size": int(hidden) if hidden is not None else None, "direction": direction,
              "activations": resolve_activations(c, kind, directions, attrs), "clip": None if clip is None else float(clip),
              "layout": int(attrs.get("layout", 0)), "linear_before_reset": bool(attrs.get("linear_before_reset", 0)),
              "input_forget": bool(attrs.get("input_forget", 0)), "inputs": [], "bias": bias is not None,
              "peepholes": peepholes is not None}
    weights, inputs = {}, [x]
    for name, value in (("W", w), ("R", r), ("B", bias), ("P", peepholes)):
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            weights[name] = value
        else:  # fed by the graph (ONNX's own test cases pass the weights as inputs)
            config["inputs"].append(name)
            inputs.append(c.tensor(value, name))
    for name, value in (("sequence_lens", lengths), ("initial_h", initial_h), ("initial_c", initial_c)):
        if value is None:
            continue
        if isinstance(value, np.ndarray):  # a constant: fed as a run-time input made from X's batch size
            value = _constant_input(c, name, value, x)
            if value is None:
                continue
        config["inputs"].append(name)
        inputs.append(c.tensor(value, name))
    outputs = c.add(f"onnx.{kind}", config, inputs, weights)
    return outputs


def _constant_input(c, name, value, x):
    """A constant optional input: all-zero initial states are the default (dropped); a constant
    sequence_lens equal to the full length is too; anything else is refused (it fixes the batch)."""
    if name != "sequence_lens" and not np.any(value):
        return None
    if name == "sequence_lens" and x.shape[0 if c.node.attributes.get("layout", 0) == 0 else 1] is not None \
            and np.all(value == x.shape[0 if c.node.attributes.get("layout", 0) == 0 else 1]):
        return None
    raise c.refuse(f"a constant {name} is not supported (it fixes the batch size); make it a model input")
