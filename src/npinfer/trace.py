"""Model.trace: the computation inside, for one sample, layer by layer and step by step.

For every layer the record holds its output; for SimpleRNN the hidden state at each step,
for LSTM the gates i, f, o, the candidate, the cell state and the hidden state, for GRU z, r,
the candidate and the hidden state, with the equation each step applies (Bidirectional:
both directions). Steps are listed in the order the layer reads them (last first with
go_backwards).

Masks (Masking, Embedding mask_zero, and whatever carries them on) are followed exactly as
predict follows them: the trace records predict's own run, so every recurrent layer's steps
start from the input, mask and initial states predict gave it (Keras 2 or 3 mask rules alike,
by each layer's `semantics`). A direction that got a mask holds `mask` (time,), True where the
step is read, as Keras's masks, and `masked_output` ("zeros" with zero_output_for_mask, else
"the previous output"); each step then has `masked`. At a masked step the gates are those the
cell computes and the layer discards; the states (h, c) are the ones carried over, which are
what the layer holds after that step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NpinferError
from .layers.recurrent import RUN_OBSERVER, Recurrent, StateStore
from .layers.wrappers import Bidirectional


def trace(model, x: Any, sample: int = 0) -> dict:
    """The record of one sample's computation (arrays); see the module docstring."""
    arrays = model.prepare_inputs(x)
    axes = model.batch_axes  # time-major inputs hold their batch on axis 1; weights an ONNX graph feeds, on none
    rows = next((a.shape[axis] for a, axis in zip(arrays, axes) if axis is not None), 1)
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not 0 <= sample < rows:
        raise NpinferError(f"sample {sample!r} is out of range: the input holds {rows} sample(s), 0..{rows - 1}")
    one = [a if axis is None else np.take(a, [sample], axis=axis) for a, axis in zip(arrays, axes)]
    layers = [layer for layer in model.layers if layer.class_name != "InputLayer" and model.node_output_shapes(layer.name)]
    runs: dict[int, list[_Run]] = {}  # id(recurrent layer) -> each of its runs, in order

    def observe(layer, cell, x_in, mask, states):
        run = _Run(x_in, mask, states)
        runs.setdefault(id(layer), []).append(run)
        return run.recording(cell.step_function())

    carried, state = model.carried_states(), None
    if carried is not None:  # a stateful model: the sample continues from its own row of the carried states
        if any(a.shape[0] != rows for arrays in carried.values() for a in arrays):
            held = next(iter(carried.values()))[0].shape[0]
            raise NpinferError(f"the model keeps states for a batch of {held}, the input holds {rows} "
                               "sample(s): trace an input of that batch size, or reset the states first")
        state = StateStore()
        state.update({key: [a[sample : sample + 1] for a in arrays] for key, arrays in carried.items()})
    wanted = {layer.name: model.layer_output_refs(layer.name) for layer in layers}
    token = RUN_OBSERVER.set(observe)
    try:  # predict's own evaluation, so that the masks, initial and carried states are exactly the ones it uses
        computed = model.evaluate(one, [r for refs in wanted.values() for r in refs], state=state)
    finally:
        RUN_OBSERVER.reset(token)
    values, at = {}, 0
    for name, refs in wanted.items():
        values[name], at = computed[at : at + len(refs)], at + len(refs)
    record = {"model": model.name, "sample": int(sample), "layers": []}
    for layer in layers:
        entry: dict[str, Any] = {"name": layer.name, "class_name": layer.class_name, "output": values[layer.name][0]}
        recurrent = [layer] if isinstance(layer, Recurrent) else [layer.forward, layer.backward] if isinstance(layer, Bidirectional) else []
        if recurrent:
            order = [call.index for call in model.calls if call.layer is layer]  # the order its calls ran in
            entry["directions"] = []
            for part in recurrent:
                made = runs.get(id(part), [])
                if len(made) != len(order) or 0 not in order:  # cannot happen: the model runs every call once
                    raise NpinferError(f"trace could not follow layer '{part.name}' through predict")
                run = made[order.index(0)]
                entry["directions"].append({
                    "name": part.name, "equation": part.cell.EQUATION, "go_backwards": part.config["go_backwards"],
                    "mask": run.keep, "masked_output": _masked_output(part) if run.keep is not None else None,
                    "steps": run.steps(part),
                })
        record["layers"].append(entry)
    return record


class _Run:
    """One run of a recurrent layer: what it started from, and what each step recorded."""

    def __init__(self, x, mask, states):
        self.x = x
        self.keep = None if mask is None else np.array(mask[0], dtype=bool)  # (time,) for the batch of one
        self.records: list[tuple[dict, list]] = []  # (the step's values, the states it started from)

    def recording(self, step):
        """The cell's step, keeping every value it computes."""
        def recorded(x_t, states):
            values: dict = {}
            output, new_states = step(x_t, states, values)
            self.records.append((values, states))
            return output, new_states
        return recorded

    def steps(self, layer: Recurrent) -> list[dict]:
        """Every quantity of every step, in the order the layer read them.

        At a masked step (mask False) the cell still computes its gates, as in Keras and in
        recurrent.rnn, but the layer keeps its states: the step's states (h, c; every cell's
        with stacked cells) are the ones carried over, and `masked` is True."""
        count = self.x.shape[1]
        times = range(count - 1, -1, -1) if layer.config["go_backwards"] else range(count)
        names = layer.cell.state_names
        steps = []
        for t, (values, before) in zip(times, self.records):
            held = self.keep is not None and not self.keep[t]
            if held:
                values = {**values, **dict(zip(names, before))}
            step: dict[str, Any] = {"time": int(t), **{name: value[0] for name, value in values.items()}}
            if self.keep is not None:
                step["masked"] = bool(held)
            steps.append(step)
        return steps


def _masked_output(layer: Recurrent) -> str:
    return "zeros" if layer.config["zero_output_for_mask"] else "the previous output"


def to_json(record: dict) -> dict:
    """The record with arrays as nested lists (for --format json)."""
    if isinstance(record, dict):
        return {k: to_json(v) for k, v in record.items()}
    if isinstance(record, list):
        return [to_json(v) for v in record]
    if isinstance(record, np.ndarray):
        return record.tolist()
    if isinstance(record, np.generic):
        return record.item()
    return record


_NOT_VALUES = ("time", "masked")


def text_lines(record: dict, width: int = 6) -> list[str]:
    """A readable listing: each layer's output, and each recurrent step's values."""
    if record.get("tier") == "tensor":
        return _graph_lines(record, width)
    lines = [f"trace of sample {record['sample']} through model '{record['model']}'"]
    with np.printoptions(precision=4, suppress=True, linewidth=140, threshold=width * 4, edgeitems=width):
        for entry in record["layers"]:
            lines.append(f"\n{entry['name']} ({entry['class_name']}) -> {np.asarray(entry['output'])[0]}")
            for direction in entry.get("directions", []):
                lines.append(f"  {direction['name']}: {direction['equation']}")
                if direction.get("mask") is not None:
                    masked = [str(t) for t, kept in enumerate(direction["mask"]) if not kept]
                    lines.append(f"    masked steps: {', '.join(masked) or 'none'} (states carried over, "
                                 f"output {direction['masked_output']})")
                for step in direction["steps"]:
                    parts = [f"{k}={np.asarray(v)}" for k, v in step.items() if k not in _NOT_VALUES]
                    marker = "  [masked: states carried over]" if step.get("masked") else ""
                    lines.append(f"    t={step['time']:>3}  " + "  ".join(parts) + marker)
    return lines


def _graph_lines(record: dict, width: int) -> list[str]:
    """The listing of a tensor-tier graph's trace: each node's outputs, whole."""
    from .ops.trace import value_text

    lines = [f"trace of model '{record['model']}' on the whole input (tensor tier: every node's outputs)"]
    with np.printoptions(precision=4, suppress=True, linewidth=140, threshold=width * 4, edgeitems=width):
        for entry in record["layers"]:
            mark = "  [folded at load]" if entry["folded"] else ""
            lines.append(f"\n{entry['name']} ({entry['class_name']}){mark}")
            lines.extend(f"  {name} = {value_text(value)}" for name, value in entry["outputs"].items())
    return lines


def plot(record: dict, path: str) -> None:
    """Heatmaps of every recurrent quantity over time (one row of panels per direction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import atomic_write

    rows = [(entry["name"], d) for entry in record["layers"] for d in entry.get("directions", [])]
    if not rows:
        raise NpinferError("the model has no recurrent layer to draw")
    columns = max(len([k for k in d["steps"][0] if k not in _NOT_VALUES]) for _, d in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(3 * columns, 2.6 * len(rows)), squeeze=False)
    for r, (layer, direction) in enumerate(rows):
        names = [k for k in direction["steps"][0] if k not in _NOT_VALUES]
        masked = [k for k, step in enumerate(direction["steps"]) if step.get("masked")]
        for c in range(columns):
            ax = axes[r][c]
            if c >= len(names):
                ax.axis("off")
                continue
            grid = np.stack([np.asarray(s[names[c]]).reshape(-1) for s in direction["steps"]], axis=1)  # (values, steps)
            image = ax.imshow(grid, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1)
            for k in masked:  # masked steps hatched: the states there are carried over
                ax.axvspan(k - 0.5, k + 0.5, facecolor="none", edgecolor="grey", hatch="//", linewidth=0)
            ax.set_title(f"{direction['name']}: {names[c]}", fontsize=8)
            ax.set_xlabel("step (hatched: masked)" if masked else "step", fontsize=7)
            ax.set_ylabel("unit", fontsize=7)
            figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
