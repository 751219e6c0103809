"""Unique layer names for the layers an importer makes (a model's layer names must differ)."""

from __future__ import annotations


def clean(name: str) -> str:
    """A file's tensor or node name as a layer name: '/' and ':' (scopes, output indices) become '_'."""
    return name.strip("/").replace("/", "_").replace(":", "_") or "node"


class UniqueNames:
    """The names taken so far; `unique(stem)` gives stem, else stem_2, stem_3, ..."""

    def __init__(self):
        self.taken: set[str] = set()

    def unique(self, stem: str) -> str:
        name, n = stem, 1
        while name in self.taken:
            n += 1
            name = f"{stem}_{n}"
        self.taken.add(name)
        return name

    def claim(self, name: str) -> None:
        """Take `name` as it is (a model input keeps the name its framework gives it)."""
        self.taken.add(name)
