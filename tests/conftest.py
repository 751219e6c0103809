"""Test session set-up: Keras fixtures are generated once per session, both flavors in parallel.

`generate_fixtures.py` runs in two subprocesses (Keras 3 and tf-keras), started as soon as
collection shows that a test needs them; tests that need no TensorFlow run meanwhile and
the parity tests run last. If TensorFlow, Keras or tf-keras cannot be imported the
generation fails and every parity test ERRORS: parity tests are never skipped.

Set NPINFER_FIXTURE_DIR to keep generated fixtures between runs while developing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

import custom_layers  # noqa: E402,F401  (registers the NumPy side of the custom layer case)
import zoo  # noqa: E402

GENERATOR = TESTS / "generate_fixtures.py"
GOLDEN = TESTS / "fixtures"
_generation: dict[str, tuple[subprocess.Popen | None, Path]] = {}


class Fixtures:
    """Generated files of one flavor: `case(name)` gives its folder, meta and data."""

    def __init__(self, root: Path):
        self.root = root
        self.index = json.loads((root / "index.json").read_text())
        self.keras_version = self.index["keras_version"]

    def meta(self, case: str) -> dict:
        meta = self.index["cases"].get(case)
        if meta is None:
            raise AssertionError(f"case {case} was not generated")
        if "generator_error" in meta:
            raise AssertionError(f"building {case} in Keras failed:\n{meta['generator_error']}")
        return meta

    def path(self, case: str, ext: str) -> Path:
        meta = self.meta(case)
        if ext not in meta["saved"]:
            raise AssertionError(f"Keras could not save {case} as .{ext}: {meta.get('save_error_' + ext)}")
        return self.root / case / f"model.{ext}"

    def data(self, case: str):
        self.meta(case)
        return _npz(str(self.root / case / "data.npz"))

    def inputs(self, case: str, batch: int) -> list[np.ndarray]:
        data = self.data(case)
        return [data[f"x/{batch}/{i}"] for i in range(self.meta(case)["n_inputs"])]

    def outputs(self, case: str, batch: int, prefix: str = "keras") -> list[np.ndarray]:
        data = self.data(case)
        return [data[f"{prefix}/{batch}/{j}"] for j in range(self.meta(case)["n_outputs"])]


@lru_cache(maxsize=None)
def _npz(path: str) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _fixture_root() -> Path:
    configured = os.environ.get("NPINFER_FIXTURE_DIR")
    if configured:
        return Path(configured)
    import tempfile

    return Path(tempfile.mkdtemp(prefix="npinfer-keras-fixtures-"))


def start_generation() -> None:
    """Start both generator subprocesses (once); reuse complete results in NPINFER_FIXTURE_DIR."""
    if _generation:
        return
    root = _fixture_root()
    for flavor in zoo.FLAVORS:
        out = root / flavor
        if os.environ.get("NPINFER_FIXTURE_DIR") and (out / "index.json").exists():
            _generation[flavor] = (None, out)
            continue
        out.mkdir(parents=True, exist_ok=True)
        log = open(out / "generator.log", "w")
        process = subprocess.Popen(
            [sys.executable, str(GENERATOR), "--flavor", flavor, "--out", str(out)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        _generation[flavor] = (process, out)


def pytest_collection_modifyitems(session, config, items):
    """Run tests that need generated Keras fixtures last, and start generating right away."""
    needs = [item for item in items if "keras_fixtures" in getattr(item, "fixturenames", ())]
    if needs:
        start_generation()
        others = [item for item in items if item not in set(needs)]
        items[:] = others + needs


def pytest_sessionfinish(session, exitstatus):
    import shutil

    for process, out in _generation.values():
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if not os.environ.get("NPINFER_FIXTURE_DIR"):
            shutil.rmtree(out.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def keras_fixtures() -> dict[str, Fixtures]:
    """{flavor: Fixtures} for Keras 3 and tf-keras; fails (never skips) if generation fails."""
    start_generation()
    result = {}
    for flavor, (process, out) in _generation.items():
        if process is not None:
            code = process.wait()
            if code != 0 or not (out / "index.json").exists():
                log = (out / "generator.log").read_text()[-4000:]
                raise RuntimeError(
                    f"generating {flavor} fixtures failed (exit {code}). TensorFlow, Keras and tf-keras are "
                    f"required for the parity tests: pip install -e '.[test]'\n{log}"
                )
        result[flavor] = Fixtures(out)
    return result


def golden_cases() -> list[tuple[str, str]]:
    """(flavor, case) pairs committed under tests/fixtures."""
    pairs = []
    for flavor in zoo.FLAVORS:
        index = GOLDEN / flavor / "index.json"
        if index.exists():
            pairs += [(flavor, name) for name in json.loads(index.read_text())["cases"]]
    return pairs


@pytest.fixture(scope="session")
def golden() -> dict[str, Fixtures]:
    """{flavor: Fixtures} of the committed golden files (no TensorFlow needed)."""
    return {flavor: Fixtures(GOLDEN / flavor) for flavor in zoo.FLAVORS}
