"""Model.trace: the computation inside, for one sample, layer by layer and step by step.

For every layer the record holds its output; for SimpleRNN the hidden state at each step,
for LSTM the gates i, f, o, the candidate, the cell state and the hidden state, for GRU z, r,
the candidate and the hidden state, with the equation each step applies (Bidirectional:
both directions). Steps are listed in the order the layer reads them (last first with
go_backwards).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NpinferError
from .layers.cells import Cell, StackedCells
from .layers.recurrent import Recurrent
from .layers.wrappers import Bidirectional


def trace(model, x: Any, sample: int = 0) -> dict:
    """The record of one sample's computation (arrays); see the module docstring."""
    arrays = model._prepare_inputs(x)
    rows = arrays[0].shape[0]
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or not 0 <= sample < rows:
        raise NpinferError(f"sample {sample!r} is out of range: the input holds {rows} sample(s), 0..{rows - 1}")
    if model._graph.may_mask:
        raise NpinferError("trace does not follow masks yet: this model computes masks (Masking or Embedding mask_zero)")
    one = [a[sample : sample + 1] for a in arrays]
    layers = [layer for layer in model.layers if layer.class_name != "InputLayer" and model.node_output_shapes(layer.name)]
    values = model.predict(one if len(one) > 1 else one[0], outputs=[layer.name for layer in layers])
    record = {"model": model.name, "sample": int(sample), "layers": []}
    for layer in layers:
        entry: dict[str, Any] = {"name": layer.name, "class_name": layer.class_name, "output": _first(values[layer.name])}
        recurrent = [layer] if isinstance(layer, Recurrent) else [layer.forward, layer.backward] if isinstance(layer, Bidirectional) else []
        if recurrent:
            call_inputs = model._graph.first_call_inputs(layer.name)
            x_in = _tensor(model, call_inputs[0], one, values)
            initial = _initial_states(model, layer, one, values)
            half = None if initial is None else len(initial) // 2
            entry["directions"] = []
            for part, start in zip(recurrent, [initial] if len(recurrent) == 1 else [initial and initial[:half], initial and initial[half:]]):
                entry["directions"].append({
                    "name": part.name, "equation": _equation(part.cell), "go_backwards": part.config["go_backwards"],
                    "steps": _steps(part, x_in, start),
                })
        record["layers"].append(entry)
    return record


def _first(value):
    return value[0] if isinstance(value, list) else value


def _tensor(model, ref, inputs, values) -> np.ndarray:
    """The value of a tensor ref: a model input, or a layer output from `values`."""
    for i, input_ref in enumerate(model.spec.inputs):
        if tuple(input_ref) == tuple(ref):
            return inputs[i].astype(model.dtype)
    value = values[ref[0]]
    return value[ref[2]] if isinstance(value, list) else value


def _initial_states(model, layer, inputs, values):
    for node in model._graph.nodes:
        if node.layer is layer and node.index == 0 and "initial_state" in node.call.tensor_kwargs:
            return [_tensor(model, r, inputs, values) for r in node.call.tensor_kwargs["initial_state"]]
    return None


def _equation(cell) -> str:
    if isinstance(cell, StackedCells):
        return "; then ".join(c.EQUATION for c in cell.cells)
    return cell.EQUATION


def _steps(layer: Recurrent, x: np.ndarray, initial) -> list[dict]:
    """Every quantity of every step, for a batch of one (the recurrence as recurrent.py runs it)."""
    cell: Cell = layer.cell
    cells = cell.cells if isinstance(cell, StackedCells) else [cell]
    states = [np.asarray(s, x.dtype) for s in initial] if initial else [np.zeros((1, n), x.dtype) for n in cell.state_sizes]
    xw = cells[0].project(x)  # (time, 1, G*units)
    order = range(x.shape[1] - 1, -1, -1) if layer.config["go_backwards"] else range(x.shape[1])
    steps = []
    for t in order:
        step = {"time": int(t)}
        new_states, at, out = [], 0, None
        for k, c in enumerate(cells):
            count = len(c.STATES)
            values = c.gates(xw[t] if k == 0 else c.project_step(out), states[at : at + count])
            for name, value in values.items():
                step[name if len(cells) == 1 else f"cell{k}/{name}"] = value[0]
            new_states += [values[name] for name in c.STATES]
            out = values["h"]
            at += count
        states = new_states
        steps.append(step)
    return steps


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


def text_lines(record: dict, width: int = 6) -> list[str]:
    """A readable listing: each layer's output, and each recurrent step's values."""
    lines = [f"trace of sample {record['sample']} through model '{record['model']}'"]
    with np.printoptions(precision=4, suppress=True, linewidth=140, threshold=width * 4, edgeitems=width):
        for entry in record["layers"]:
            lines.append(f"\n{entry['name']} ({entry['class_name']}) -> {np.asarray(entry['output'])[0]}")
            for direction in entry.get("directions", []):
                lines.append(f"  {direction['name']}: {direction['equation']}")
                for step in direction["steps"]:
                    parts = [f"{k}={np.asarray(v)}" for k, v in step.items() if k != "time"]
                    lines.append(f"    t={step['time']:>3}  " + "  ".join(parts))
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
    names = [k for k in rows[0][1]["steps"][0] if k != "time"]
    columns = max(len([k for k in d["steps"][0] if k != "time"]) for _, d in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(3 * columns, 2.6 * len(rows)), squeeze=False)
    for r, (layer, direction) in enumerate(rows):
        names = [k for k in direction["steps"][0] if k != "time"]
        for c in range(columns):
            ax = axes[r][c]
            if c >= len(names):
                ax.axis("off")
                continue
            grid = np.stack([np.asarray(s[names[c]]) for s in direction["steps"]], axis=1)  # (units, steps)
            image = ax.imshow(grid, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1)
            ax.set_title(f"{direction['name']}: {names[c]}", fontsize=8)
            ax.set_xlabel("step", fontsize=7)
            ax.set_ylabel("unit", fontsize=7)
            figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
