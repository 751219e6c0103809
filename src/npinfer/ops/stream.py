"""Streaming on the tensor tier: a graph that takes its state as inputs and gives the next state
as outputs (silero-vad's `state` -> `stateN`, an exported RNN's h / c) is fed chunk by chunk,
each call's state outputs becoming the next call's state inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, NpinferError


class TypedStream:
    """`predict(chunk)` per chunk; `carry` maps state inputs to the outputs that update them,
    `initial` gives each state input's first value, `constants` inputs fed unchanged (e.g. a
    sample rate). `reset()` starts over from `initial`."""

    def __init__(self, model, carry: dict, initial: dict, constants: dict | None = None):
        inputs, outputs = set(model.input_names), set(model.output_names)
        constants = dict(constants or {})
        for state, update in carry.items():
            if state not in inputs:
                raise NpinferError(f"carry: {state!r} is not an input of the model (inputs: {model.input_names})")
            if update not in outputs:
                raise NpinferError(f"carry: {update!r} is not an output of the model (outputs: {model.output_names})")
            if state not in initial:
                raise NpinferError(f"initial: give the first value of the state input {state!r}")
        fed = set(carry) | set(constants)
        self.chunk_inputs = [name for name in model.input_names if name not in fed]
        if not self.chunk_inputs:
            raise NpinferError("every input is a state or a constant: nothing is left for the chunks")
        self.model, self.carry, self.initial, self.constants = model, dict(carry), dict(initial), constants
        self.returned = [name for name in model.output_names if name not in set(carry.values())]
        self.reset()

    def reset(self) -> None:
        """Forget the states: the next chunk starts from the initial values."""
        self.state = {name: np.asarray(value) for name, value in self.initial.items()}

    def predict(self, chunk: Any):
        """The outputs (other than the states) for the next chunk: one array, or a list."""
        if len(self.chunk_inputs) == 1:
            feeds = {self.chunk_inputs[0]: chunk}
        elif isinstance(chunk, dict) and set(chunk) == set(self.chunk_inputs):
            feeds = dict(chunk)
        else:
            raise InputError(f"pass a dict of {self.chunk_inputs} for each chunk")
        feeds.update(self.constants)
        feeds.update(self.state)
        results = dict(zip(self.model.output_names, self._all(self.model.predict(feeds))))
        self.state = {state: results[update] for state, update in self.carry.items()}
        out = [results[name] for name in self.returned]
        return out[0] if len(out) == 1 else out

    def _all(self, result) -> list:
        return [result] if len(self.model.output_names) == 1 else list(result)
