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
