"""ONNX's LSTM, GRU and RNN operators, as the ONNX spec defines them and ONNX Runtime runs them
where the spec is silent (registered as "onnx.LSTM", "onnx.GRU", "onnx.RNN").

Layouts (ONNX): W (directions, G*hidden, input), R (directions, G*hidden, hidden),
B (directions, 2*G*hidden) = [Wb; Rb], P (directions, 3*hidden) = peepholes [i, o, f].
Gate order: LSTM i, o, f, c; GRU z, r, h. layout 0: X (time, batch, input), Y (time,
directions, batch, hidden), Y_h / Y_c (directions, batch, hidden); layout 1: batch first.

Semantics where the spec leaves room (as ONNX Runtime 1.32 does; see /docs in the README):
- `clip` bounds every gate's whole pre-activation (both biases and peepholes added), never the
  cell state; GRU's candidate too.
- input_forget: f = 1 - i. Peepholes: i and f read C(t-1), o reads C(t).
- sequence_lens: outputs past a row's length are 0; Y_h / Y_c are the states after its last
  step (0 for a length of 0); the reverse direction starts at each row's own last step.
Activations come resolved by the importer: [{"name", "alpha", "beta"}] per gate function,
forward direction first.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputShapeError, ModelFormatError
from .activations import sigmoid
from .base import REQUIRED, Layer

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
FUNCTIONS_PER_DIRECTION = {"LSTM": 3, "GRU": 2, "RNN": 1}


def _softplus(x):
    return np.logaddexp(0, x).astype(x.dtype, copy=False)


ACTIVATIONS = {
    "relu": lambda x, a, b: np.maximum(x, 0),
    "tanh": lambda x, a, b: np.tanh(x),
    "sigmoid": lambda x, a, b: sigmoid(x),
    "affine": lambda x, a, b: a * x + b,
    "leakyrelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "thresholdedrelu": lambda x, a, b: np.where(x > a, x, 0).astype(x.dtype, copy=False),
    "scaledtanh": lambda x, a, b: a * np.tanh(b * x),
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "softplus": lambda x, a, b: _softplus(x),
}


OPTIONAL_INPUTS = ("W", "R", "B", "P", "sequence_lens", "initial_h", "initial_c")


class OnnxRecurrent(Layer):
    """One ONNX recurrent node: input X, then the run-time inputs listed in `inputs`, in that
    order: W, R, B, P when the graph computes or feeds them (else they are weights), and
    sequence_lens, initial_h, initial_c."""

    OPTIONS = {"kind": REQUIRED, "hidden_size": REQUIRED, "direction": "forward", "activations": REQUIRED, "clip": None,
               "layout": 0, "linear_before_reset": False, "input_forget": False, "inputs": [], "bias": True, "peepholes": False}
    MASKING = "drop"
    ACCEPTS_INTEGERS = True  # sequence_lens are integers; X is cast below

    @classmethod
    def weight_names(cls, config):
        fed = config.get("inputs") if isinstance(config.get("inputs"), list) else []
        names = ["W", "R"] + (["B"] if config.get("bias", True) else []) + (["P"] if config.get("peepholes") else [])
        return [n for n in names if n not in fed]

    def build(self, input_shapes):
        config = self.config
        kind = config["kind"]
        if kind not in GATES:
            raise self.refuse("kind", kind, "LSTM, GRU, RNN")
        if config["direction"] not in ("forward", "reverse", "bidirectional"):
            raise self.refuse("direction", config["direction"], "forward, reverse, bidirectional")
        if config["layout"] not in (0, 1):
            raise self.refuse("layout", config["layout"], "0, 1")
        optional = config["inputs"]
        allowed = [n for n in OPTIONAL_INPUTS if kind == "LSTM" or n not in ("P", "initial_c")]
        if not isinstance(optional, list) or any(o not in allowed for o in optional) or len(set(optional)) != len(optional) \
                or optional != [n for n in allowed if n in optional]:
            raise self.refuse("inputs", optional, "in order: " + ", ".join(allowed))
        for flag, name in (("bias", "B"), ("peepholes", "P")):
            if not isinstance(config[flag], bool):
                raise self.refuse(flag, config[flag], "true or false")
            if name in optional and not config[flag]:
                raise self.refuse("inputs", optional, f"{name} only with {flag}=true")
        self.expect_inputs(input_shapes, count=1 + len(optional), min_rank=1)
        hidden = config["hidden_size"]
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise self.refuse("hidden_size", hidden, "a positive integer")
        clip = config["clip"]
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float))):
            raise self.refuse("clip", clip, "a number")
        self.directions = 2 if config["direction"] == "bidirectional" else 1
        self.functions = self._functions(kind)
        x = input_shapes[0]
        if len(x) != 3:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): X has shape {x}, expected rank 3")
        steps, batch, features = (x[0], x[1], x[2]) if config["layout"] == 0 else (x[1], x[0], x[2])
        g = GATES[kind] * hidden
        state = (self.directions, batch, hidden) if config["layout"] == 0 else (batch, self.directions, hidden)
        expected_shapes = {"W": (self.directions, g, features), "R": (self.directions, g, hidden), "B": (self.directions, 2 * g),
                           "P": (self.directions, 3 * hidden), "sequence_lens": (batch,), "initial_h": state, "initial_c": state}
        for name in ("W", "R", "B", "P"):
            if name in self.weights:
                shape = expected_shapes[name]
                if len(self.weights[name].shape) != len(shape) or any(
                        e is not None and e != w for e, w in zip(shape, self.weights[name].shape)):
                    raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): weight '{name}' has shape "
                                           f"{self.weights[name].shape}, expected {shape}")
        for name, shape in zip(optional, input_shapes[1:]):
            expected = expected_shapes[name]
            if len(shape) != len(expected) or any(a is not None and b is not None and a != b for a, b in zip(shape, expected)):
                raise ModelFormatError(f"layer '{self.name}' ({self.class_name}): {name} has shape {shape}, expected {expected}")
        if config["layout"] == 0:
            y, state = (steps, self.directions, batch, hidden), (self.directions, batch, hidden)
        else:
            y, state = (batch, steps, self.directions, hidden), (batch, self.directions, hidden)
        return [y, state] + ([state] if kind == "LSTM" else [])

    def _functions(self, kind):
        specs = self.config["activations"]
        count = FUNCTIONS_PER_DIRECTION[kind] * self.directions
        if not isinstance(specs, list) or len(specs) != count:
            raise self.refuse("activations", specs, f"{count} resolved activation functions")
        functions = []
        for spec in specs:
            if not isinstance(spec, dict) or spec.get("name") not in ACTIVATIONS:
                raise self.refuse("activations", spec, ", ".join(ACTIVATIONS))
            alpha, beta = spec.get("alpha", 0.0), spec.get("beta", 0.0)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (alpha, beta)):
                raise self.refuse("activations", spec, "numeric alpha and beta")
            function = ACTIVATIONS[spec["name"]]
            functions.append(lambda x, f=function, a=alpha, b=beta: f(x, x.dtype.type(a), x.dtype.type(b)))
        per = FUNCTIONS_PER_DIRECTION[kind]
        return [functions[d * per : (d + 1) * per] for d in range(self.directions)]

    # -- running ------------------------------------------------------------------------------

    def call(self, inputs, ctx):
        config = self.config
        x = np.asarray(inputs[0], self.dtype)
        given = dict(zip(config["inputs"], inputs[1:]))
        params = {name: np.asarray(given[name], self.dtype) if name in given else self.weights[name]
                  for name in ("W", "R", "B", "P") if name in given or name in self.weights}
        if config["layout"] == 1:
            x = x.transpose(1, 0, 2)
            given = {k: (v.transpose(1, 0, 2) if k in ("initial_h", "initial_c") else v) for k, v in given.items()}
        steps, batch = x.shape[:2]
        hidden = config["hidden_size"]
        lengths = given.get("sequence_lens")
        if lengths is not None:
            lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
            if lengths.shape != (batch,) or lengths.min(initial=0) < 0 or lengths.max(initial=0) > steps:
                raise InputShapeError(f"layer '{self.name}': sequence_lens must be {batch} values in 0..{steps}, got {lengths.tolist()}")
        ys, hs, cs = [], [], []
        for d in range(self.directions):
            reverse = config["direction"] == "reverse" or d == 1
            h0 = given.get("initial_h")
            c0 = given.get("initial_c")
            h0 = np.zeros((batch, hidden), self.dtype) if h0 is None else np.asarray(h0[d], self.dtype)
            c0 = np.zeros((batch, hidden), self.dtype) if c0 is None else np.asarray(c0[d], self.dtype)
            y, h, c = self._direction(x, d, h0, c0, lengths, reverse, params)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        y = np.stack(ys, axis=1)  # (time, directions, batch, hidden)
        h, c = np.stack(hs), np.stack(cs)  # (directions, batch, hidden)
        if config["layout"] == 1:
            y, h, c = y.transpose(2, 0, 1, 3), h.transpose(1, 0, 2), c.transpose(1, 0, 2)
        outputs = [np.ascontiguousarray(y), np.ascontiguousarray(h)]
        return outputs + ([np.ascontiguousarray(c)] if config["kind"] == "LSTM" else [])

    def _direction(self, x, d, h, c, lengths, reverse, params):
        """One direction over x (time, batch, input): outputs (time, batch, hidden), final h, c."""
        steps, batch = x.shape[:2]
        kind, hidden = self.config["kind"], self.config["hidden_size"]
        g = GATES[kind] * hidden
        W, R = params["W"][d], params["R"][d]  # (G*hidden, input), (G*hidden, hidden)
        if W.shape[1] != x.shape[2]:
            raise InputShapeError(f"layer '{self.name}': W reads {W.shape[1]} features, X has {x.shape[2]}")
        wb, rb = (params["B"][d][:g], params["B"][d][g:]) if "B" in params else (0.0, 0.0)
        step_index = np.arange(steps)[:, None]  # (time, 1)
        valid = None if lengths is None else step_index < lengths[None, :]  # (time, batch)
        order = None
        if reverse:  # each row read from its own last step back to its first
            last = np.full((1, batch), steps) if lengths is None else lengths[None, :]
            order = np.where(step_index < last, last - 1 - step_index, step_index)  # (time, batch)
            x = x[order, np.arange(batch)[None, :]]
        xw = np.matmul(x, W.T) + wb  # (time, batch, G*hidden)
        y = np.zeros((steps, batch, hidden), self.dtype)
        functions = self.functions[d]
        clip = self.config["clip"]
        bound = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
        for t in range(steps):
            if kind == "LSTM":
                h_new, c_new = self._lstm(xw[t], h, c, R, rb, functions, bound, params["P"][d] if "P" in params else None)
            elif kind == "GRU":
                h_new, c_new = self._gru(xw[t], h, R, rb, functions, bound, hidden), c
            else:
                h_new, c_new = functions[0](bound(xw[t] + h @ R.T + rb)), c
            if valid is None:
                h, c = h_new, c_new
                y[t] = h_new
            else:
                keep = valid[t][:, None]  # (batch, 1)
                h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
                y[t] = np.where(keep, h_new, 0)
        if lengths is not None:  # a row of length 0 ends with zero states, as ONNX Runtime gives
            empty = (lengths == 0)[:, None]
            h, c = np.where(empty, 0, h).astype(self.dtype), np.where(empty, 0, c).astype(self.dtype)
        if order is not None:
            restored = np.empty_like(y)
            restored[order, np.arange(batch)[None, :]] = y
            y = restored
        return y, h, c

    def _lstm(self, xw_t, h, c, R, rb, functions, bound, p):
        f_act, g_act, h_act = functions
        u = self.config["hidden_size"]
        z = xw_t + h @ R.T + rb  # (batch, 4*hidden): i, o, f, c
        zi, zo, zf, zc = z[:, :u], z[:, u : 2 * u], z[:, 2 * u : 3 * u], z[:, 3 * u :]
        i = f_act(bound(zi + p[:u] * c if p is not None else zi))
        if self.config["input_forget"]:
            f = 1 - i
        else:
            f = f_act(bound(zf + p[2 * u :] * c if p is not None else zf))
        c_new = f * c + i * g_act(bound(zc))
        o = f_act(bound(zo + p[u : 2 * u] * c_new if p is not None else zo))
        return o * h_act(c_new), c_new

    def _gru(self, xw_t, h, R, rb, functions, bound, u):
        f_act, g_act = functions
        rb = rb if isinstance(rb, np.ndarray) else np.zeros(3 * u, h.dtype)
        zr = xw_t[:, : 2 * u] + h @ R[: 2 * u].T + rb[: 2 * u]  # (batch, 2*hidden)
        z, r = f_act(bound(zr[:, :u])), f_act(bound(zr[:, u:]))
        if self.config["linear_before_reset"]:
            candidate = g_act(bound(xw_t[:, 2 * u :] + r * (h @ R[2 * u :].T + rb[2 * u :])))
        else:
            candidate = g_act(bound(xw_t[:, 2 * u :] + (r * h) @ R[2 * u :].T + rb[2 * u :]))
        return (1 - z) * candidate + z * h


ONNX_LAYERS = {"onnx.LSTM": OnnxRecurrent, "onnx.GRU": OnnxRecurrent, "onnx.RNN": OnnxRecurrent}
