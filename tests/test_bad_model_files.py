"""Missing, truncated, corrupt and foreign files: always a ModelFormatError naming the file."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import npinfer
from npinfer import ModelFormatError, NpinferError

FIXTURES = Path(__file__).parent / "fixtures"
ARTICLE = FIXTURES / "keras3" / "article_simple_rnn"


def _copy(tmp_path, source: Path, name: str) -> Path:
    target = tmp_path / name
    target.write_bytes(source.read_bytes())
    return target


def _rezip(source: Path, target: Path, replace: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            if name in replace:
                if replace[name] is not None:
                    new.writestr(name, replace[name])
            else:
                new.writestr(name, old.read(name))
        for name, content in replace.items():
            if name not in old.namelist() and content is not None:
                new.writestr(name, content)
    return target


def test_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match="no such file") as caught:
        npinfer.load(tmp_path / "absent.keras")
    assert "absent.keras" in str(caught.value)


def test_directory_is_refused_with_a_hint(tmp_path):
    with pytest.raises(ModelFormatError, match="SavedModel"):
        npinfer.load(tmp_path)


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", bytes(range(256)) * 4, b"PK\x03\x04garbage"])
def test_files_that_are_not_models(tmp_path, content):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError) as caught:
        npinfer.load(path)
    assert str(path) in str(caught.value)


def _saved_npz(tmp_path) -> Path:
    path = tmp_path / "model.npz"
    npinfer.load(ARTICLE / "model.keras").save(path)
    return path


@pytest.mark.parametrize("kind", ["keras", "h5", "npz"])
def test_every_truncation_is_refused_or_harmless(tmp_path, kind):
    """A cut file raises ModelFormatError, or (when only unused trailing bytes were cut) loads
    and predicts exactly what the whole file predicts: never a silent wrong answer."""
    source = _saved_npz(tmp_path) if kind == "npz" else ARTICLE / f"model.{kind}"
    data = source.read_bytes()
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    reference = npinfer.load(source).predict(x)
    path = tmp_path / f"cut.{kind}"
    cuts = sorted({int(len(data) * f) for f in np.linspace(0.0, 0.999, 60)} | {len(data) - 1, 8, 100})
    refused = 0
    for cut in cuts:
        path.write_bytes(data[:cut])
        try:
            result = npinfer.load(path).predict(x)
        except ModelFormatError as err:
            assert str(path) in str(err)
            refused += 1
        else:
            assert np.array_equal(result, reference), f"cut at {cut} of {len(data)} bytes changed the predictions"
    assert refused >= len(cuts) * 0.5  # .h5 files end with optimizer state npinfer never reads


@pytest.mark.parametrize("kind", ["keras", "h5", "npz"])
def test_bit_flips_never_raise_anything_but_npinfer_errors(tmp_path, kind):
    source = _saved_npz(tmp_path) if kind == "npz" else ARTICLE / f"model.{kind}"
    data = bytearray(source.read_bytes())
    rng = np.random.default_rng(0)
    path = tmp_path / f"flipped.{kind}"
    for _ in range(150):
        mutated = bytearray(data)
        for position in rng.integers(0, len(data), size=3):
            mutated[position] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(mutated))
        try:
            npinfer.load(path).predict(np.zeros((2, 4, 3), np.float32))
        except NpinferError:
            pass


def test_keras_archive_without_config(tmp_path):
    path = _rezip(ARTICLE / "model.keras", tmp_path / "m.keras", {"config.json": None})
    with pytest.raises(ModelFormatError, match="config.json"):
        npinfer.load(path)


def test_keras_archive_with_broken_json(tmp_path):
    path = _rezip(ARTICLE / "model.keras", tmp_path / "m.keras", {"config.json": b"{not json"})
    with pytest.raises(ModelFormatError, match="JSON"):
        npinfer.load(path)


@pytest.mark.parametrize("config", [
    {"class_name": "Sequential", "config": {"layers": 5}},
    {"class_name": "Sequential", "config": {"layers": []}},
    {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense"}]}},
    {"class_name": "Functional", "config": {"layers": [], "input_layers": [], "output_layers": []}},
    {"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 3]}, "inbound_nodes": []}],
                                            "input_layers": [["x", 0, 0]], "output_layers": [["y", 0, 0]]}},
    {"config": {}},
    [1, 2, 3],
])
def test_keras_archive_with_malformed_config(tmp_path, config):
    path = _rezip(ARTICLE / "model.keras", tmp_path / "m.keras", {"config.json": json.dumps(config).encode()})
    with pytest.raises(ModelFormatError):
        npinfer.load(path)


def test_keras_archive_with_weights_of_another_model(tmp_path):
    other = FIXTURES / "keras3" / "lstm_default" / "model.keras"
    with zipfile.ZipFile(other) as archive:
        weights = archive.read("model.weights.h5")
    path = _rezip(ARTICLE / "model.keras", tmp_path / "m.keras", {"model.weights.h5": weights})
    with pytest.raises(ModelFormatError, match="weight"):
        npinfer.load(path)


def test_hdf5_without_model_config(tmp_path):
    import h5py  # comes with TensorFlow in the test extra; used here only to write test files
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["data"] = np.arange(3.0)
    with pytest.raises(ModelFormatError, match="not a Keras model"):
        npinfer.load(plain)
    weights_only = tmp_path / "weights.h5"
    with h5py.File(weights_only, "w") as handle:
        handle.attrs["layer_names"] = np.array([b"dense"])
    with pytest.raises(ModelFormatError, match="weights only"):
        npinfer.load(weights_only)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    config = json.dumps({"format": "npinfer", "format_version": 1, "layers": [], "inputs": [], "outputs": []}).encode()
    np.savez(path, npinfer_config=np.frombuffer(config, np.uint8), w0=np.array([object()], dtype=object))
    config2 = json.loads(config)
    config2["layers"] = [{"name": "x", "class_name": "Dense", "config": {}, "weights": {"kernel": "w0"}}]
    np.savez(path, npinfer_config=np.frombuffer(json.dumps(config2).encode(), np.uint8), w0=np.array([object()], dtype=object))
    with pytest.raises(ModelFormatError, match="corrupt|pickle|object"):
        npinfer.load(path)


def test_npz_from_a_newer_npinfer_asks_for_an_upgrade(tmp_path):
    path = _saved_npz(tmp_path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    config = json.loads(arrays["npinfer_config"].tobytes())
    config["format_version"] = 99
    arrays["npinfer_config"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ModelFormatError, match="upgrade npinfer"):
        npinfer.load(path)


def test_plain_npz_is_not_a_model(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelFormatError, match="not a Keras model|not an npinfer model"):
        npinfer.load(path)


def test_zip_member_names_with_npinfer_config_but_bad_bytes(tmp_path):
    path = tmp_path / "m.npz"
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(b"\xff\xfe not utf8", np.uint8))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("npinfer_config.npy", buffer.getvalue())
    with pytest.raises(ModelFormatError):
        npinfer.load(path)


def _edited_npz(tmp_path, edit) -> Path:
    path = _saved_npz(tmp_path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    config = json.loads(arrays["npinfer_config"].tobytes())
    edit(config)
    arrays["npinfer_config"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
    np.savez(path, **arrays)
    return path


def test_regression_fuzz_model_without_inputs(tmp_path):
    # found by tests/fuzz.py (seed 2): a config listing no inputs loaded, then predict failed with IndexError
    path = _edited_npz(tmp_path, lambda c: c.update(inputs=[]))
    with pytest.raises(ModelFormatError, match="no inputs"):
        npinfer.load(path)


def test_regression_fuzz_layer_reading_an_unlisted_input(tmp_path):
    # found by tests/fuzz.py (seed 2): a layer read an InputLayer missing from the model's inputs (KeyError)
    def edit(config):
        config["layers"].insert(0, {"name": "other", "class_name": "InputLayer", "config": {"shape": [None, 4, 3], "dtype": "float32"},
                                    "inbound": [], "weights": {}})
        config["layers"][-2]["inbound"][0]["inputs"] = [["other", 0, 0]]
    path = _edited_npz(tmp_path, edit)
    with pytest.raises(ModelFormatError, match="not one of the model's inputs"):
        npinfer.load(path)


def test_huge_declared_weight_is_refused_before_allocating(tmp_path):
    import h5py

    path = _copy(tmp_path, ARTICLE / "model.h5", "huge.h5")
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights"]["dense"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][0]
        del group[name]
        group.create_dataset(name, shape=(1 << 20, 1 << 20), dtype="float32", chunks=(1, 1024))
    with pytest.raises(ModelFormatError, match="over the limit"):
        npinfer.load(path)
    with pytest.raises(ModelFormatError, match="over the limit of 20 bytes"):  # the SimpleRNN kernel has 36
        npinfer.load(ARTICLE / "model.keras", limits=npinfer.Limits(max_weight_bytes=20))


def test_zip_bomb_and_deep_config_are_refused(tmp_path):
    bomb = _rezip(ARTICLE / "model.keras", tmp_path / "bomb.keras", {"padding.bin": b"\0" * (50 << 20)})
    with zipfile.ZipFile(bomb) as archive:
        info = archive.getinfo("padding.bin")
    if info.compress_size * 1000 < info.file_size:  # stored compressed
        with pytest.raises(ModelFormatError, match="zip bomb"):
            npinfer.load(bomb)
    deep = {"class_name": "Sequential", "config": {"layers": []}}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]
    path = _rezip(ARTICLE / "model.keras", tmp_path / "deep.keras", {"config.json": json.dumps(deep).encode()})
    with pytest.raises(ModelFormatError, match="levels deep"):
        npinfer.load(path)


@pytest.mark.parametrize("names", [["a", "b"], "x", [3], []])
def test_npz_input_names_of_the_wrong_kind_or_count_are_refused(tmp_path, names):
    """The public input / output names (ONNX files' own) must be one distinct string per tensor."""
    for key in ("input_names", "output_names"):
        path = _edited_npz(tmp_path, lambda c, key=key: c.update({key: names}))
        with pytest.raises(ModelFormatError, match=f"'{key}' is not a list of 1 distinct names"):
            npinfer.load(path)
    path = _edited_npz(tmp_path, lambda c: c.update(input_names=["onnx::x.0"], output_names=["y.1"]))
    model = npinfer.load(path)
    assert model.input_names == ["onnx::x.0"] and model.output_names == ["y.1"]
    x = np.zeros((2,) + tuple(d or 5 for d in model.input_shape[1:]), np.float32)
    np.testing.assert_array_equal(model.predict({"onnx::x.0": x}), model.predict(x))
