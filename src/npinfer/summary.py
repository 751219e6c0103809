"""The text of Model.summary(): a layer table in the style of Keras's."""

from __future__ import annotations

from .layers.base import format_shape

MAX_COLUMN = 60


def summary_lines(model) -> list[str]:
    """Lines of the summary table of `model` (an npinfer Model)."""
    source = model.spec.source or {}
    origin = " ".join(str(source[k]) for k in ("framework", "version", "format") if source.get(k))
    rows = []
    connected = False
    for layer in model.layers:
        shapes = model.node_output_shapes(layer.name)
        shape_text = format_shape(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(map(format_shape, shapes)) + "]"
        inputs = model.node_inputs(layer.name)
        sources = ", ".join(f"{r[0]}[{r[1]}][{r[2]}]" for r in inputs)
        if len(inputs) > 1:
            connected = True
        rows.append((f"{layer.name} ({layer.class_name})", shape_text, f"{layer.param_count:,}", sources))
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    columns = 4 if connected else 3
    # columns fit their longest cell, up to MAX_COLUMN (exporters' long generated names overflow)
    widths = [min(max(len(headers[i]), *(len(r[i]) for r in rows)), MAX_COLUMN) + 2 for i in range(columns)]
    total_width = sum(widths) + 1

    def line(cells):
        text = ""
        for cell, width in zip(cells, widths):
            text += cell.ljust(width) if len(cell) < width else cell + "  "
        return " " + text.rstrip()

    lines = [f'Model: "{model.name}"' + (f"  (from {origin}; computing in {model.dtype.name})" if origin else "")]
    lines += ["_" * total_width, line(headers[:columns]), "=" * total_width]
    for i, row in enumerate(rows):
        lines.append(line(row[:columns]))
        if i < len(rows) - 1:
            lines.append(" " + "-" * (total_width - 1) if connected else "")
    lines = [ln for ln in lines if ln != ""]
    lines += ["=" * total_width, f"Total params: {model.param_count:,}"]
    lines.append("Inputs: " + ", ".join(f"{t.name} {format_shape(t.shape)}" for t in model.inputs))
    lines.append("Outputs: " + ", ".join(f"{t.name} {format_shape(t.shape)}" for t in model.outputs))
    lines.append("_" * total_width)
    return lines
