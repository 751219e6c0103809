"""Streaming: feed a sequence a chunk (or one time step) at a time and get outputs as they come.

Recurrent layers carry their states from one chunk to the next in the stream's own store
(the model is never changed), so feeding a sequence in chunks gives what feeding it whole
gives: with return_sequences the chunk outputs join into the whole output; otherwise each
chunk's output is the output after the steps seen so far.
"""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedLayerError
from .layers.recurrent import StateStore


class Stream:
    """A running sequence through a model: `predict(chunk)` per chunk, `reset()` to start over."""

    def __init__(self, model):
        problems = [(node.layer, "its initial state comes from another layer, which only the whole sequence gives"
                     if "initial_state" in node.call.tensor_kwargs else node.layer.stream_problem())
                    for node in model.calls]
        problems = [(layer, why) for layer, why in problems if why]
        if problems:
            details = "; ".join(f"layer '{layer.name}' ({layer.class_name}): {why}" for layer, why in problems)
            raise UnsupportedLayerError(
                f"model '{model.name}' cannot be streamed: {details}. Streaming needs recurrent layers that read "
                "forward and layers that work one time step at a time (Dense, activations, embeddings, "
                "normalization over features, merges on the feature axis, TimeDistributed)"
            )
        self.model = model
        self.state = StateStore(carry_all=True)
        self.steps = 0

    def predict(self, chunk: Any):
        """Outputs for the next chunk: arrays shaped like predict's, for the chunk's time steps."""
        arrays = self.model.prepare_inputs(chunk, free_time=True)
        result = self.model.evaluate(arrays, state=self.state)
        self.steps += max((a.shape[1] for a in arrays if a.ndim >= 3), default=0)
        return result[0] if len(result) == 1 else result

    def reset(self) -> None:
        """Forget the states: the next chunk starts a new sequence."""
        self.state.clear()
        self.steps = 0
