"""Every framework's activation names -> npinfer's canonical activations (layers/activations.py
names and parameters), in one place: the canonical form of each activation is built once
(`gelu`, `leaky_relu`, `hard_sigmoid`, ...) and each framework's table maps its names onto it.

- ONNX operators (Relu, LeakyRelu, Gelu, ...): `onnx_operator(c, op_type, attrs)`;
- the `activations` attribute of ONNX LSTM / GRU / RNN: `onnx_recurrent(c, key, alpha, beta)`;
- torch modules (nn.ReLU, ...) and their torch.nn.functional forms (F.relu, ...): `torch_activation`.
Keras's names live with the Keras config reader (keras_activations.py: Keras 2 vs 3 semantics).
`c` refuses by name (`c.refuse(why)`: the ONNX converter, the tensor tier's Call).
"""

from __future__ import annotations

from ...errors import UnsupportedLayerError
from .refusals import option_refused
from .values import text

HARD_SWISH_SLOPE = 1.0 / 6.0  # ONNX HardSwish and torch's hardswish / hardsigmoid: x / 6 + 0.5


# -- the canonical forms -------------------------------------------------------------------------

def leaky_relu(slope) -> dict:
    return {"name": "leaky_relu", "negative_slope": slope}


def elu(alpha, name: str = "elu") -> dict:
    """ELU (or CELU, the same parameter)."""
    return {"name": name, "alpha": alpha}


def hard_sigmoid(slope, offset=None) -> dict:
    """clip(slope * x + offset, 0, 1); offset None: the layer's default 0.5."""
    return {"name": "hard_sigmoid", "slope": slope} if offset is None else {"name": "hard_sigmoid", "slope": slope, "offset": offset}


def hard_silu(slope=HARD_SWISH_SLOPE) -> dict:
    return {"name": "hard_silu", "slope": slope}


def gelu(approximate: str) -> dict | None:
    """GELU, exact ("none") or with the tanh approximation ("tanh"); None for another value."""
    if approximate not in ("none", "tanh"):
        return None
    return {"name": "gelu", "approximate": approximate == "tanh"}


# -- ONNX operators ------------------------------------------------------------------------------

def _onnx_elu(c, attrs):
    return elu(float(attrs.get("alpha", 1.0)))


def _onnx_leaky_relu(c, attrs):
    return leaky_relu(float(attrs.get("alpha", 0.01)))


def _onnx_hard_sigmoid(c, attrs):
    if abs(attrs.get("beta", 0.5) - 0.5) > 1e-7:
        raise c.refuse(f"beta={attrs['beta']} is not supported; supported: 0.5")
    return hard_sigmoid(float(attrs.get("alpha", 0.2)))


def _onnx_selu(c, attrs):
    if abs(attrs.get("alpha", 1.67326319217681884765625) - 1.6732632) > 1e-6 or abs(attrs.get("gamma", 1.05070102214813232421875) - 1.0507010) > 1e-6:
        raise c.refuse("alpha and gamma other than the defaults are not supported")
    return {"name": "selu"}


def _onnx_gelu(c, attrs):
    approximate = text(attrs.get("approximate"), "none")
    spec = gelu(approximate)
    if spec is None:
        raise c.refuse(f"approximate={approximate!r} is not supported")
    return spec


# ONNX operator -> its canonical activation from (c, attrs)
ONNX_OPERATORS = {
    "Relu": lambda c, a: {"name": "relu"}, "Tanh": lambda c, a: {"name": "tanh"}, "Sigmoid": lambda c, a: {"name": "sigmoid"},
    "LeakyRelu": _onnx_leaky_relu, "Elu": _onnx_elu, "Selu": _onnx_selu, "Softplus": lambda c, a: {"name": "softplus"},
    "Softsign": lambda c, a: {"name": "softsign"}, "HardSigmoid": _onnx_hard_sigmoid,
    "HardSwish": lambda c, a: hard_silu(), "Gelu": _onnx_gelu,
}


def onnx_operator(c, op_type: str, attrs: dict) -> dict:
    """The canonical activation of an ONNX activation node."""
    return ONNX_OPERATORS[op_type](c, attrs)


# -- the activations of ONNX LSTM / GRU / RNN ----------------------------------------------------

RECURRENT_SIMPLE = ("relu", "tanh", "sigmoid", "softsign", "softplus")
RECURRENT_SUPPORTED = "Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus"
# ONNX activation (lower case) -> (uses alpha, uses beta); ONNX Runtime's defaults
RECURRENT_USES = {"affine": (True, True), "leakyrelu": (True, False), "thresholdedrelu": (True, False),
                  "scaledtanh": (True, True), "hardsigmoid": (True, True), "elu": (True, False)}
RECURRENT_DEFAULTS = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}


def onnx_recurrent(c, key: str, alpha, beta):
    """An activation of an ONNX recurrent node (its lower-case name, alpha and beta resolved) as
    npinfer's canonical activation description."""
    if key in RECURRENT_SIMPLE:
        return key
    if key == "leakyrelu":
        if not 0 <= alpha <= 1:  # np.maximum(x, a x) is ONNX's where(x >= 0, x, a x) only there
            raise c.refuse(f"LeakyRelu with alpha={alpha} is not supported; supported: alpha from 0 to 1")
        return leaky_relu(alpha)
    return {"affine": {"name": "affine", "alpha": alpha, "beta": beta},
            "scaledtanh": {"name": "scaled_tanh", "alpha": alpha, "beta": beta},
            "hardsigmoid": hard_sigmoid(alpha, beta),
            "elu": elu(alpha),
            "thresholdedrelu": {"name": "relu", "threshold": alpha}}[key]


# -- torch ---------------------------------------------------------------------------------------

# module -> (its torch.nn.functional name, its parameters with F's defaults). A module keeps
# each parameter in an attribute of the same name, so both forms read this one table.
TORCH_FORMS = {
    "ReLU": ("relu", {}), "ReLU6": ("relu6", {}), "SELU": ("selu", {}), "Sigmoid": ("sigmoid", {}), "Tanh": ("tanh", {}),
    "SiLU": ("silu", {}), "Mish": ("mish", {}), "Softsign": ("softsign", {}), "Tanhshrink": ("tanhshrink", {}),
    "LogSigmoid": ("logsigmoid", {}), "Hardswish": ("hardswish", {}), "Hardsigmoid": ("hardsigmoid", {}),
    "LeakyReLU": ("leaky_relu", {"negative_slope": 0.01}),
    "ELU": ("elu", {"alpha": 1.0}), "CELU": ("celu", {"alpha": 1.0}), "GELU": ("gelu", {"approximate": "none"}),
    "Softplus": ("softplus", {"beta": 1.0, "threshold": 20.0}), "Hardtanh": ("hardtanh", {"min_val": -1.0, "max_val": 1.0}),
    "Softshrink": ("softshrink", {"lambd": 0.5}), "Hardshrink": ("hardshrink", {"lambd": 0.5}), "GLU": ("glu", {"dim": -1}),
}
TORCH_FUNCTIONS = {function: defaults for function, defaults in TORCH_FORMS.values()}
_TORCH_SIMPLE = {"relu": "relu", "relu6": "relu6", "selu": "selu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu",
                 "mish": "mish", "softsign": "softsign", "tanhshrink": "tanh_shrink", "logsigmoid": "log_sigmoid"}


def torch_activation(function: str, params: dict, where) -> dict:
    """The canonical activation of torch's `function` (F.relu, ...) with its parameters
    (TORCH_FORMS names, all given); `where` (a module, or F.<name>) names it in refusals."""
    if function in _TORCH_SIMPLE:
        return {"name": _TORCH_SIMPLE[function]}
    if function in ("hardswish", "hardsigmoid"):
        return hard_silu() if function == "hardswish" else hard_sigmoid(HARD_SWISH_SLOPE)
    if function == "leaky_relu":
        return leaky_relu(float(params["negative_slope"]))
    if function in ("elu", "celu"):
        return elu(float(params["alpha"]), function)
    if function == "gelu":
        spec = gelu(params["approximate"])
        if spec is None:
            raise option_refused(where, "approximate", params["approximate"], "'none', 'tanh'")
        return spec
    if function == "softplus":
        return torch_softplus(params["beta"], params["threshold"], where)
    if function == "hardtanh":
        if (params["min_val"], params["max_val"]) != (-1.0, 1.0):
            raise option_refused(where, "min_val, max_val", (params["min_val"], params["max_val"]), "-1.0, 1.0")
        return {"name": "hard_tanh"}
    if function in ("softshrink", "hardshrink"):
        return {"name": "soft_shrink" if function == "softshrink" else "hard_shrink", "threshold": float(params["lambd"])}
    if function == "glu":
        return {"name": "glu", "axis": int(params["dim"])}
    raise UnsupportedLayerError(f"the activation '{function}' is not supported; supported: {', '.join(sorted(TORCH_FUNCTIONS))}")


def torch_softplus(beta, threshold, where) -> dict:
    if beta != 1:
        raise option_refused(where, "beta", beta, "1")
    if threshold < 15:  # above it torch returns x; log1p(exp(x)) equals x in float32 from ~17 on
        raise option_refused(where, "threshold", threshold, "15 or more (the default is 20)")
    return {"name": "softplus"}


def torch_module_activation(module) -> dict | None:
    """The canonical activation of a torch activation module, or None if it is not one."""
    form = TORCH_FORMS.get(type(module).__name__)
    if form is None:
        return None
    function, defaults = form
    return torch_activation(function, {p: getattr(module, p) for p in defaults}, module)
