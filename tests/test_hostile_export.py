"""Names read from a model file never become code in an exported script (SECURITY.md, issue 18.1).

Every name a file holds — the model's, its inputs', outputs' and layers' — is made of the
characters that can end a string, a docstring or a comment: quotes, triple quotes, backslashes,
line breaks (\\n, \\r, \\u2028), NUL and non-ASCII letters, followed by a Python statement that
would create a file. Each script is parsed with `ast` and tokenized: the payload appears only
inside string literals or escaped in comments, never as code; importing and running the script
in a clean directory creates no file.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer.export import docstring_literal, export_script, identifier
from npinfer.spec import Call, LayerSpec, ModelSpec

FIXTURES = Path(__file__).parent / "fixtures"
BREAKERS = ['"""', "'''", '"', "'", "\\", "\n", "\r", "\u2028", "\x00", "\x0c", "é", "#", ")", "\\N{"]


def hostile(tag: str) -> str:
    """A name holding every breaker, then code that would create the file `pwned_<tag>`."""
    payload = f'\nopen("pwned_{tag}", "w")  # '
    return f"{tag}" + "".join(BREAKERS) + payload + "".join(reversed(BREAKERS)) + payload


def _hostile_npz_model() -> npinfer.Model:
    """Input -> Dense -> Dense with hostile model, input, layer and output names."""
    rng = np.random.default_rng(0)
    x, d1, d2 = hostile("input"), hostile("dense1"), hostile("dense2")
    layers = [
        LayerSpec(x, "InputLayer", {"shape": [None, 3]}),
        LayerSpec(d1, "Dense", {"units": 4, "activation": "tanh"},
                  {"kernel": rng.normal(size=(3, 4)).astype(np.float32), "bias": rng.normal(size=4).astype(np.float32)},
                  [Call([(x, 0, 0)])]),
        LayerSpec(d2, "Dense", {"units": 2},
                  {"kernel": rng.normal(size=(4, 2)).astype(np.float32), "bias": rng.normal(size=2).astype(np.float32)},
                  [Call([(d1, 0, 0)])]),
    ]
    return npinfer.Model(ModelSpec(hostile("model"), layers, [(x, 0, 0)], [(d2, 0, 0)]))


def _hostile_keras_file(tmp_path: Path) -> Path:
    """The committed two-input Keras 3 fixture with its model and InputLayer names made hostile
    (config.json rewritten, as an attacker would)."""
    source = FIXTURES / "keras3" / "functional_two_inputs_two_outputs" / "model.keras"
    target = tmp_path / "hostile.keras"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                text = data.decode("utf-8")
                for old in ("sequence", "static", "functional"):
                    assert f'"{old}"' in text
                    text = text.replace(f'"{old}"', json.dumps(hostile(old)))
                data = text.encode("utf-8")
            zout.writestr(item, data)
    return target


def _assert_names_stay_data(script: Path, hostile_layers: bool = True) -> None:
    """The payload is never code: parsed, every occurrence of it is inside a string constant,
    and no token outside strings and comments carries it."""
    text = script.read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert text.isascii(), "names reach the script escaped (ASCII only)"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open" or "pwned" not in ast.unparse(node), ast.unparse(node)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT) or "pwned" not in token.string:
            continue
        # outside strings and comments only as a checked identifier (a variable named after the layer)
        assert token.type == tokenize.NAME and re.fullmatch(r"v_[A-Za-z0-9_]+", token.string), token
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    assert not hostile_layers or any("pwned" in c for c in comments), "layer names are shown (escaped) in the comments, not dropped"


def _run_script(script: Path, inputs: list[np.ndarray]) -> None:
    """Import the script and predict in a fresh interpreter whose working directory is the
    script's; then no pwned_* file may exist anywhere under it."""
    np.savez(script.parent / "inputs.npz", *inputs)
    code = ("import sys, numpy as np; sys.path.insert(0, '.'); import importlib; "
            f"m = importlib.import_module({script.stem!r}); d = np.load('inputs.npz'); "
            "y = m.predict(*[d[k] for k in d.files]); print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=script.parent, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, script.name, "--help"], cwd=script.parent, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not list(script.parent.rglob("pwned*"))


@pytest.mark.parametrize("weights", ["embedded", "sidecar"])
@pytest.mark.parametrize("source", ["spec", "npz"])
def test_hostile_names_from_npz_never_run(tmp_path, source, weights):
    model = _hostile_npz_model()
    if source == "npz":
        model.save(tmp_path / "m.npz")
        model = npinfer.load(tmp_path / "m.npz")
    script = tmp_path / "out" / "exported.py"
    script.parent.mkdir()
    export_script(model, str(script), weights=weights, source_name=hostile("source"))
    _assert_names_stay_data(script)
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    _run_script(script, [x])


@pytest.mark.parametrize("weights", ["embedded", "sidecar"])
def test_hostile_names_from_keras_file_never_run(tmp_path, weights):
    path = _hostile_keras_file(tmp_path)
    model = npinfer.load(path)
    assert hostile("sequence") in model.input_names and model.name == hostile("functional")
    script = tmp_path / "out" / "exported.py"
    script.parent.mkdir()
    export_script(model, str(script), weights=weights, source_name=path.name)
    _assert_names_stay_data(script, hostile_layers=False)  # InputLayers are not written as calls
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(4,) + tuple(t.shape[1:])).astype(np.float32) for t in model.inputs]
    _run_script(script, inputs)


def test_identifier_and_docstring_literal_escape_everything():
    for text in [hostile("x"), "class", "1abc", "", "ünïcode", "a-b c"]:
        name = identifier(text)
        assert name.isidentifier() and name.isascii() and not __import__("keyword").iskeyword(name)
        literal = docstring_literal(text)
        assert ast.literal_eval(literal) == text  # the literal reads back as the text
        assert literal.isascii()


def test_cli_export_refuses_to_write_the_sidecar_over_its_input(tmp_path, capsys, monkeypatch):
    """`npinfer export m.npz -o m.py --weights sidecar` would write m.npz: refused, m.npz intact."""
    from npinfer.cli import main

    _hostile_npz_model().save(tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert main(["export", "m.npz", "-o", "m.py", "--weights", "sidecar"]) == 2
    err = capsys.readouterr().err
    assert "m.npz" in err and "input" in err
    assert (tmp_path / "m.npz").read_bytes() == before and not (tmp_path / "m.py").exists()
    assert main(["export", "m.npz", "-o", str(tmp_path / "sub" / ".." / "m.npz")]) == 2  # another spelling of it
    assert (tmp_path / "m.npz").read_bytes() == before


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    """A write killed by SIGKILL leaves `.<name>.npinfer-<pid>-<random>.tmp`; the next write to that
    place removes those whose process is gone and keeps a live writer's (and other files)."""
    from npinfer.atomic import atomic_write

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.npy.npinfer-{dead_pid}-abc123.tmp"
    live = tmp_path / f".out.npy.npinfer-{os.getppid()}-def456.tmp"
    other = tmp_path / ".out.npy.someone-else.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    with atomic_write(tmp_path / "out.npy") as handle:
        assert [p for p in os.listdir(tmp_path) if p.startswith(f".out.npy.npinfer-{os.getpid()}-")]
        handle.write(b"done")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "out.npy").read_bytes() == b"done"


def test_export_refuses_a_script_that_is_its_own_sidecar(tmp_path):
    with pytest.raises(ValueError, match="its own sidecar"):
        export_script(_hostile_npz_model(), str(tmp_path / "w.npz"), weights="sidecar")
