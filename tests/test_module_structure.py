"""The shape of the code (docs/ARCHITECTURE.md): no import circles in src/npinfer (function-level
imports included), predict never imports the exporter, and the script support module every
exported script copies passes ruff as a module of its own."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "npinfer"
FIXTURES = Path(__file__).parent / "fixtures"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SOURCE.rglob("*.py"):
        parts = ["npinfer", *path.relative_to(SOURCE).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The npinfer modules `name` imports anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def test_no_import_circles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = []

    def visit(node, path):
        for nxt in sorted(graph[node]):
            if nxt == path[0]:
                circles.append(" -> ".join(path + [nxt]))
            elif nxt not in path and len(path) < 8:
                visit(nxt, path + [nxt])

    for name in sorted(graph):
        visit(name, [name])
    assert circles == []


def test_predict_never_imports_the_exporter(tmp_path):
    script = (
        "import sys, json, numpy as np, npinfer\n"
        f"model = npinfer.load({str(FIXTURES / 'keras3' / 'article_simple_rnn' / 'model.keras')!r})\n"
        "model.predict(np.zeros((2, 4, 3), np.float32))\n"
        "model.trace(np.zeros((2, 4, 3), np.float32))\n"
        "print(json.dumps([m for m in ('npinfer.export', 'npinfer.script_main') if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_script_support_module_passes_ruff():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", str(SOURCE / "script_main.py")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
