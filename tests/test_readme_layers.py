"""The README's table of supported Keras layers ("## Supported layers and options") and the layer
registry say the same: every registered Keras class name appears in the table, and every name
in the table is registered."""

from __future__ import annotations

import re
from pathlib import Path

from npinfer.layers import CUSTOM, supported_layers

README = Path(__file__).parent.parent / "README.md"
SUFFIX = re.compile(r"\d+D\w*")  # `MaxPooling1D` / `2D` / `3D`: `2D` stands for MaxPooling2D


def table_names() -> set[str]:
    """The class names in the first column of the layer table (`| Layer | Options ... |`)."""
    lines = README.read_text().splitlines()
    start = lines.index("| Layer | Options npinfer implements |")
    names: set[str] = set()
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        previous = None
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            if SUFFIX.fullmatch(name) and previous is not None:  # a shorthand for the previous name's sibling
                name = re.sub(r"\d+D\w*$", name, previous)
            names.add(name)
            previous = name
    return names


def registered_names() -> set[str]:
    return {name for name in supported_layers() if name not in CUSTOM}


def test_every_registered_layer_is_in_the_readme_table():
    missing = sorted(registered_names() - table_names())
    assert not missing, f"registered but not in the README's layer table: {missing}"


def test_every_layer_in_the_readme_table_is_registered():
    unknown = sorted(table_names() - registered_names())
    assert not unknown, f"in the README's layer table but not registered: {unknown}"


# -- the tensor tier's operators ("### The tensor tier": the block between the two markers) ------

BEGIN, END = "<!-- tensor-tier operators: begin -->", "<!-- tensor-tier operators: end -->"
FAMILY_TITLES = {"elementwise": "arithmetic, comparison, logic, Cast", "math": "element-wise math and activations",
                 "shape": "shapes and indexing", "reduce": "reductions, matrix products, normalizations, softmax", "nn": "neural-network",
                 "recurrent": "recurrent", "attention": "attention", "causal_conv": "causal convolution with state",
                 "control": "control flow, sequences, optionals", "quant": "quantization", "signal": "signal processing",
                 "text": "strings and text", "ml": "ai.onnx.ml: linear models, scalers, encoders", "ml_trees": "ai.onnx.ml tree ensembles",
                 "ml_svm": "ai.onnx.ml support vector machines"}


def operator_table() -> list[str]:
    """The README's table of tensor-tier operators, one row per family file, made from the registry."""
    from npinfer.ops import FAMILIES, load_families
    from npinfer.ops.registry import ML, OPERATORS, ONNX

    load_families()
    by_family: dict[str, list[str]] = {}
    for (domain, name), op in OPERATORS.items():
        label = name if domain in (ONNX, ML) else f"{domain}.{name}"  # the ml rows say their domain
        by_family.setdefault(op.fn.__module__.rsplit(".", 1)[-1], []).append(label)
    rows = ["| family (`ops/<file>.py`) | operators |", "|---|---|"]
    for family in FAMILIES:
        names = sorted(by_family.get(family, []), key=str.lower)
        if names:
            rows.append(f"| {FAMILY_TITLES.get(family, family)} (`{family}`) | {', '.join(f'`{n}`' for n in names)} |")
    return rows


def test_the_readme_lists_every_tensor_tier_operator_by_family():
    lines = README.read_text().splitlines()
    block = lines[lines.index(BEGIN) + 1 : lines.index(END)]
    assert block == operator_table(), "the README's tensor-tier operator table is out of date: run python tests/update_readme.py"
