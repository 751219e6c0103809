"""Hostile model files (tests/hostile.py) in a process limited to 2 GB of address space: each
ends with its expected outcome — a typed error naming the file, or a result — never a hang, a
crash or a raw exception, with peak memory under 1 GB (SECURITY.md, issue 18)."""

from __future__ import annotations

import pytest

import hostile


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.mark.parametrize("name", list(hostile.CASES))
def test_hostile_file_ends_typed_and_bounded(hostile_dir, name):
    expected = hostile.CASES[name][1]
    path = hostile.make(name, hostile_dir)
    result = hostile.run_limited(name, hostile_dir)
    assert result["outcome"] == expected, result
    if expected == "refused":
        assert str(path) in result["message"], f"the error does not name the file: {result['message']}"
    assert result["peak_bytes"] < hostile.PEAK_LIMIT, result
