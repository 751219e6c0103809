"""Wrappers around other layers: Bidirectional (a forward and a backward recurrent layer)
and TimeDistributed (one layer applied to every time step).

A wrapped layer is described in the canonical config as {"class_name", "config"}; its
weights carry a prefix: "forward/kernel", "backward/kernel", "layer/kernel".
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .base import REQUIRED, CallContext, Layer
from .paired import PAIRED_MAX_BATCH, PairedDirections
from .recurrent import RUN_OBSERVER, Recurrent, run_over_time
from .registry import LAYERS, create_layer

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def bidirectional_outputs(forward, backward, forward_states, backward_states, merge_mode, return_sequences, return_state):
    """Bidirectional's outputs from its two runs: the backward sequence flipped back to forward
    time order, the two merged by merge_mode (None: both kept), then with return_state the
    forward states and the backward ones."""
    if return_sequences:
        backward = backward[:, ::-1]  # back to forward time order
    if merge_mode is None:
        outputs = [forward, np.ascontiguousarray(backward)]
    elif merge_mode == "concat":
        outputs = [np.concatenate([forward, backward], axis=-1)]
    elif merge_mode == "sum":
        outputs = [forward + backward]
    elif merge_mode == "mul":
        outputs = [forward * backward]
    else:  # ave
        outputs = [(forward + backward) / 2]
    return outputs + ([s.copy() for s in list(forward_states) + list(backward_states)] if return_state else [])


def inner_layer(owner: Layer, key: str, prefix: str):
    """Build the wrapped layer described by owner.config[key] with the weights under `prefix`/."""
    description = owner.config[key]
    if not isinstance(description, dict) or not isinstance(description.get("config"), dict):
        raise ModelFormatError(f"layer '{owner.name}' ({owner.class_name}): '{key}' does not describe a layer")
    class_name = description.get("class_name")
    weights = {k[len(prefix) + 1 :]: v for k, v in owner.weights.items() if k.startswith(prefix + "/")}
    return create_layer(f"{owner.name}/{prefix}", class_name, description["config"], weights, owner.dtype)


def inner_weight_names(description, prefix: str) -> list[str]:
    if not isinstance(description, dict) or description.get("class_name") not in LAYERS:
        return []
    return [f"{prefix}/{n}" for n in LAYERS[description["class_name"]].weight_names(description.get("config") or {})]


def _fed(description) -> list:
    """The weights a wrapped recurrent layer's calls give it (its `fed` option)."""
    config = description.get("config") if isinstance(description, dict) else None
    fed = config.get("fed", []) if isinstance(config, dict) else []
    return fed if isinstance(fed, list) else []


def _part_kwargs(kwargs: dict, prefix: str) -> dict:
    """The call arguments of one direction: 'forward/kernel' -> 'kernel'."""
    return {k[len(prefix) + 1 :]: v for k, v in kwargs.items() if k.startswith(prefix + "/")}


class Bidirectional(Layer):
    """A recurrent layer read forward and a twin read backward; outputs merged per time step.

    With return_sequences the backward outputs are flipped back to forward time order (as
    Keras does) before merging. return_state gives the forward states, then the backward ones."""

    OPTIONS = {"layer": REQUIRED, "backward_layer": REQUIRED, "merge_mode": "concat"}
    PARTS = (("layer", "forward"), ("backward_layer", "backward"))

    def __init__(self, name, class_name, config, weights, dtype):
        fed = [f"{prefix}/{n}" for key, prefix in self.PARTS for n in _fed(config.get(key))]
        self.CALL_KWARGS = frozenset({"initial_state", *fed})  # weights given as call arguments (ONNX)
        super().__init__(name, class_name, config, weights, dtype)

    @classmethod
    def weight_names(cls, config):
        return inner_weight_names(config.get("layer"), "forward") + inner_weight_names(config.get("backward_layer"), "backward")

    @property
    def stateful(self) -> bool:
        return any(part["config"].get("stateful", False) for part in (self.config["layer"], self.config["backward_layer"])
                   if isinstance(part, dict) and isinstance(part.get("config"), dict))

    def stream_problem(self):
        return "it reads the sequence backwards too, so it needs the whole sequence"

    def build_call(self, input_shapes, kwarg_shapes, options):
        self._paired = None  # PairedDirections once checked (False: the directions are not twins)
        self.forward = inner_layer(self, "layer", "forward")
        self.backward = inner_layer(self, "backward_layer", "backward")
        for part in (self.forward, self.backward):
            if not isinstance(part, Recurrent):
                raise self.refuse("layer", part.class_name, "SimpleRNN, LSTM, GRU, RNN")
        if self.config["merge_mode"] not in MERGE_MODES:
            raise self.refuse("merge_mode", self.config["merge_mode"], "concat, sum, mul, ave, None")
        if self.forward.config["return_sequences"] != self.backward.config["return_sequences"]:
            raise ModelFormatError(f"layer '{self.name}' (Bidirectional): forward and backward layers disagree on return_sequences")
        initial = kwarg_shapes.get("initial_state")
        half = None if initial is None else len(initial) // 2
        forward_shapes = self.forward.setup(input_shapes, {**({} if initial is None else {"initial_state": initial[:half]}),
                                                           **_part_kwargs(kwarg_shapes, "forward")})
        backward_shapes = self.backward.setup(input_shapes, {**({} if initial is None else {"initial_state": initial[half:]}),
                                                             **_part_kwargs(kwarg_shapes, "backward")})
        self.return_state = self.forward.config["return_state"]
        self.return_sequences = self.forward.config["return_sequences"]
        a, b = forward_shapes[0], backward_shapes[0]
        mode = self.config["merge_mode"]
        if mode is None:
            outputs = [a, b]
        elif mode == "concat":
            outputs = [a[:-1] + (a[-1] + b[-1],)]
        else:
            if a != b:
                raise ModelFormatError(f"layer '{self.name}' (Bidirectional): merge_mode {mode} needs equal forward and backward sizes")
            outputs = [a]
        return outputs + (forward_shapes[1:] + backward_shapes[1:] if self.return_state else [])

    def call(self, inputs, ctx):
        x = inputs[0]
        initial = ctx.kwargs.get("initial_state")
        half = None if initial is None else len(initial) // 2
        inner = CallContext(masks=ctx.masks, state=ctx.state)
        if self._pairs(x, ctx, initial):
            y, y_back, forward_states, backward_states = self._run_paired(x)
        else:
            y, forward_states = self.forward.run(x, inner, f"{self.name}/forward", None if initial is None else initial[:half],
                                                 fed={k: v[0] for k, v in _part_kwargs(ctx.kwargs, "forward").items()})
            y_back, backward_states = self.backward.run(x, inner, f"{self.name}/backward", None if initial is None else initial[half:],
                                                        fed={k: v[0] for k, v in _part_kwargs(ctx.kwargs, "backward").items()})
        return bidirectional_outputs(y, y_back, forward_states, backward_states, self.config["merge_mode"],
                                     self.return_sequences, self.return_state)

    def _pairs(self, x, ctx, initial) -> bool:
        """Whether both directions run as one loop (paired.py): a small batch, no mask, no
        initial or carried state, twin cells with the default activations."""
        if x.shape[0] > PAIRED_MAX_BATCH or ctx.mask(0) is not None or ctx.kwargs or ctx.state is not None \
                or RUN_OBSERVER.get() is not None:  # a trace follows each direction's own run
            return False
        if self._paired is None:
            forward, backward = self.forward, self.backward
            twins = (type(forward) is type(backward) and not forward.config["go_backwards"]
                     and backward.config["go_backwards"] and PairedDirections.can_pair(forward.cell, backward.cell))
            self._paired = PairedDirections(forward.cell, backward.cell) if twins else False
        return self._paired is not False

    def _run_paired(self, x):
        """Both directions in one loop: (forward output, backward output in its processing
        order, forward states, backward states), as the two separate runs give them."""
        paired = self._paired
        last, sequence, states = run_over_time(paired, x, None, return_sequences=self.return_sequences,
                                               want_states=self.return_state)
        y, y_back = paired.split(sequence if self.return_sequences else last)
        halves = [paired.split(s) for s in states] if self.return_state else []
        return y, y_back, [f for f, _ in halves], [b for _, b in halves]

    def compute_masks(self, inputs, ctx, outputs):
        return self._masks(ctx.mask(0), len(outputs))

    def _masks(self, mask, count: int) -> list:
        merged = 2 if self.config["merge_mode"] is None else 1
        return [mask if self.return_sequences else None] * merged + [None] * (count - merged)

    def export(self, e):
        initial = e.kwargs.get("initial_state")
        half = None if initial is None else len(initial) // 2  # forward states first, then backward ones
        forward, forward_states = e.assign(self.forward.export_run(e.scoped("forward/"), None if initial is None else initial[:half],
                                                                   e.mask), "forward", "forward_states")
        backward, backward_states = e.assign(self.backward.export_run(e.scoped("backward/"),
                                                                      None if initial is None else initial[half:], e.mask),
                                             "backward", "backward_states")
        e.line(f"{', '.join(e.outputs)}, = " + e.call(bidirectional_outputs, forward, backward, forward_states, backward_states,
                                                     self.config["merge_mode"], self.return_sequences, self.return_state))

    def export_masks(self, e):
        return self._masks(e.mask, len(e.outputs))


class TimeDistributed(Layer):
    """The wrapped layer applied to each time step: (batch, time, ...) -> (batch*time, ...) -> back."""

    OPTIONS = {"layer": REQUIRED}
    TIME_LOCAL = True

    @classmethod
    def weight_names(cls, config):
        return inner_weight_names(config.get("layer"), "layer")

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=3)
        self.inner = inner_layer(self, "layer", "layer")
        shape = input_shapes[0]
        inner_out = self.inner.setup([(None,) + tuple(shape[2:])])
        if len(inner_out) != 1:
            raise self.refuse("layer", self.inner.class_name, "layers with one output")
        self.steps = shape[1]
        return [(None, shape[1]) + tuple(inner_out[0][1:])]

    def window_work(self) -> tuple[float, int]:
        macs, calls = self.inner.window_work()  # one call on all (batch * time) rows
        return macs * (self.steps or 1), calls

    def call(self, inputs, ctx):
        x = inputs[0]
        batch, steps = x.shape[:2]
        flat = x.reshape((batch * steps,) + x.shape[2:])
        y = self.inner.call([flat], CallContext())[0]  # the mask is over time steps: not the inner layer's
        return [y.reshape((batch, steps) + y.shape[1:])]

    def export(self, e):
        (flat,) = e.assign(f"{e.input}.reshape((-1,) + {e.input}.shape[2:])", e.outputs[0] + "_flat")  # (batch * time, ...)
        (y,) = e.inner(self.inner, [flat], "layer/")  # no masks inside
        return [f"{y}.reshape({e.input}.shape[:2] + {y}.shape[1:])"]  # (batch, time, ...)
