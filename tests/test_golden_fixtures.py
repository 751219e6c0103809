"""Committed Keras 3 and tf-keras files (tests/fixtures) load and match Keras without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

import npinfer
import zoo
from conftest import golden_cases
from parity import as_list, assert_close

GOLDEN = golden_cases()


def test_golden_fixtures_are_present():
    assert len(GOLDEN) >= 16, "run tests/make_golden_fixtures.py"
    assert {flavor for flavor, _ in GOLDEN} == set(zoo.FLAVORS)


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("flavor,case", GOLDEN, ids=[f"{f}-{c}" for f, c in GOLDEN])
def test_golden_file_matches_recorded_keras_outputs(golden, flavor, case, ext, tmp_path):
    fx = golden[flavor]
    model = npinfer.load(fx.path(case, ext))
    assert model.spec.source["version"] == fx.keras_version
    model.save(tmp_path / "copy.npz")
    copy = npinfer.load(tmp_path / "copy.npz")
    for batch in zoo.BATCH_SIZES:
        inputs = fx.inputs(case, batch)
        x = inputs if len(inputs) > 1 else inputs[0]
        got = as_list(model.predict(x))
        for a, e, c in zip(got, fx.outputs(case, batch), as_list(copy.predict(x))):
            assert_close(a, e)
            assert np.array_equal(a, c)
