"""Specs that cannot be right are refused when the model is built, with a message that says why."""

from __future__ import annotations

import numpy as np
import pytest

from npinfer import Model, ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from npinfer.spec import Call, LayerSpec, ModelSpec


def _input(shape):
    return LayerSpec("x", "InputLayer", {"shape": [None, *shape], "dtype": "float32"})


def _model(layer: LayerSpec, input_shape=(4,)):
    layer.inbound = layer.inbound or [Call([("x", 0, 0)])]
    return Model(ModelSpec("m", [_input(input_shape), layer], [("x", 0, 0)], [(layer.name, 0, 0)]))


def _dense(kernel_shape=(4, 2), bias_shape=(2,), **config):
    weights = {"kernel": np.ones(kernel_shape, np.float32), "bias": np.ones(bias_shape, np.float32)}
    return LayerSpec("d", "Dense", {"units": 2, **config}, weights)


def test_a_valid_hand_made_model_runs():
    y = _model(_dense()).predict(np.ones((3, 4)))
    assert np.array_equal(y, np.full((3, 2), 5.0, np.float32))


def test_wrong_weight_shape():
    with pytest.raises(ModelFormatError, match=r"weight 'kernel' has shape \(3, 2\), expected \(4, 2\)"):
        _model(_dense(kernel_shape=(3, 2)))


def test_missing_and_extra_weights():
    layer = _dense()
    del layer.weights["bias"]
    with pytest.raises(ModelFormatError, match="has weights"):
        _model(layer)
    with pytest.raises(ModelFormatError, match="has weights"):
        _model(_dense(use_bias=False))


def test_unknown_option_and_class_and_activation():
    with pytest.raises(UnsupportedOptionError, match=r"option\(s\) \['lora_rank'\] not supported"):
        _model(_dense(lora_rank=4))
    with pytest.raises(UnsupportedLayerError, match="HashedCrossing.*supported layers: .*LSTM"):  # (Conv3D until issue 14)
        _model(LayerSpec("c", "HashedCrossing", {}, {}))
    with pytest.raises(UnsupportedOptionError, match="activation 'swishy' is not supported; supported: .*tanh"):
        _model(_dense(activation="swishy"))
    with pytest.raises(UnsupportedOptionError, match="unknown parameter"):
        _model(_dense(activation={"name": "relu", "alpha": 0.1}))


def test_bad_option_values():
    with pytest.raises(UnsupportedOptionError, match="units=0"):
        _model(LayerSpec("d", "Dense", {"units": 0}, {"kernel": np.ones((4, 0)), "bias": np.ones(0)}))
    with pytest.raises(UnsupportedOptionError, match="use_bias='yes'"):
        _model(_dense(use_bias="yes"))
    with pytest.raises(UnsupportedOptionError, match="target_shape"):
        _model(LayerSpec("r", "Reshape", {"target_shape": [-1, -1]}))
    with pytest.raises(ModelFormatError, match="cannot reshape"):
        _model(LayerSpec("r", "Reshape", {"target_shape": [3]}))


def test_graph_errors():
    dense = _dense()
    dense.inbound = [Call([("nowhere", 0, 0)])]
    with pytest.raises(ModelFormatError, match="no layer produces"):
        _model(dense)
    a, b = _dense(), _dense()
    a.name, b.name = "a", "b"
    a.inbound, b.inbound = [Call([("b", 0, 0)])], [Call([("a", 0, 0)])]
    with pytest.raises(ModelFormatError, match="cycle"):
        Model(ModelSpec("m", [_input((4,)), a, b], [("x", 0, 0)], [("b", 0, 0)]))
    with pytest.raises(ModelFormatError, match="two layers are named"):
        Model(ModelSpec("m", [_input((4,)), _dense(), _dense()], [("x", 0, 0)], [("d", 0, 0)]))
    with pytest.raises(ModelFormatError, match=r"has no output \[0, 3\]"):
        Model(ModelSpec("m", [_input((4,)), _dense()], [("x", 0, 0)], [("d", 0, 3)]))


def test_recurrent_shape_checks():
    lstm = LayerSpec("l", "LSTM", {"units": 3}, {
        "kernel": np.ones((4, 12)), "recurrent_kernel": np.ones((3, 12)), "bias": np.ones(12)})
    with pytest.raises(ModelFormatError, match="needs rank-3 input"):
        _model(lstm, input_shape=(4,))
    gru = LayerSpec("g", "GRU", {"units": 3, "reset_after": True}, {
        "kernel": np.ones((4, 9)), "recurrent_kernel": np.ones((3, 9)), "bias": np.ones(9)})
    with pytest.raises(ModelFormatError, match=r"weight 'bias' has shape \(9,\), expected \(2, 9\)"):
        _model(gru, input_shape=(5, 4))


def test_merge_shape_checks():
    concat = LayerSpec("c", "Concatenate", {"axis": -1}, {}, [Call([("x", 0, 0), ("y", 0, 0)])])
    y = LayerSpec("y", "InputLayer", {"shape": [None, 3, 2], "dtype": "float32"})
    with pytest.raises(ModelFormatError, match="cannot join"):
        Model(ModelSpec("m", [_input((4, 5)), y, concat], [("x", 0, 0), ("y", 0, 0)], [("c", 0, 0)]))
    add = LayerSpec("s", "Add", {}, {}, [Call([("x", 0, 0), ("y", 0, 0)])])
    with pytest.raises(ModelFormatError, match="cannot combine"):
        Model(ModelSpec("m", [_input((4, 5)), y, add], [("x", 0, 0), ("y", 0, 0)], [("s", 0, 0)]))


MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _merge_model(kind, x_shape, y_shape):
    x = LayerSpec("x", "InputLayer", {"shape": list(x_shape), "dtype": "float32"})
    y = LayerSpec("y", "InputLayer", {"shape": list(y_shape), "dtype": "float32"})
    merge = LayerSpec("s", kind, {}, {}, [Call([("x", 0, 0), ("y", 0, 0)])])
    return Model(ModelSpec("m", [x, y, merge], [("x", 0, 0), ("y", 0, 0)], [("s", 0, 0)]))


@pytest.mark.parametrize("kind", MERGES)
@pytest.mark.parametrize("x_shape,y_shape,named", [
    ((None, 10), (None, 10, 12), r"\(None, 10\), \(None, 10, 12\)"),  # Keras aligns 10 with 12, not with 10
    ((None, 12, 10), (None, 10, 12), r"\(None, 12, 10\), \(None, 10, 12\)"),
    ((None, 3), (None, 5, 4, 2), r"\(None, 3\), \(None, 5, 4, 2\)"),
])
def test_merges_refuse_shapes_keras_refuses_by_name(kind, x_shape, y_shape, named):
    with pytest.raises(ModelFormatError, match=rf"layer 's' \({kind}\) cannot .*{named}"):
        _merge_model(kind, x_shape, y_shape)


@pytest.mark.parametrize("x_shape,y_shape,out", [
    ((None, 12), (None, 10, 12), (None, 10, 12)),  # issue 19: (batch, 12) -> (batch, 1, 12)
    ((None, 10, 12), (None, 1), (None, 10, 12)),
    ((None, 1, 12), (None, 3, 10, 1), (None, 3, 10, 12)),
])
def test_merges_of_different_ranks_build_keras_shapes(x_shape, y_shape, out):
    model = _merge_model("Add", x_shape, y_shape)
    assert tuple(model.output_shape) == out
    x, y = (np.random.default_rng(0).normal(size=[3 if d is None else d for d in s]) for s in (x_shape, y_shape))
    assert model.predict([x, y]).shape == (3,) + out[1:]


@pytest.mark.parametrize("semantics", ["keras3", "keras2"])
def test_merges_refuse_masks_keras_cannot_combine_by_name(tmp_path, semantics):
    """Both inputs masked, of ranks 4 and 3: Keras 3 would OR masks (batch, 2, 5) and (batch, 5),
    Keras 2 AND them; neither lines up. Refused by name, in predict and in export."""
    from npinfer.export import export_script

    x = LayerSpec("x", "InputLayer", {"shape": [None, 2, 5, 3], "dtype": "float32"})
    y = LayerSpec("y", "InputLayer", {"shape": [None, 5, 3], "dtype": "float32"})
    masks = [LayerSpec(f"m{n}", "Masking", {"mask_value": 0.0}, {}, [Call([(n, 0, 0)])]) for n in "xy"]
    add = LayerSpec("s", "Add", {"semantics": semantics}, {}, [Call([("mx", 0, 0), ("my", 0, 0)])])
    model = Model(ModelSpec("m", [x, y, *masks, add], [("x", 0, 0), ("y", 0, 0)], [("s", 0, 0)]))
    with pytest.raises(UnsupportedOptionError, match=r"layer 's' \(Add\): it merges inputs of ranks 4, 3 with masks"):
        model.predict([np.ones((2, 2, 5, 3)), np.ones((2, 5, 3))])
    with pytest.raises(UnsupportedLayerError, match=r"layer 's' \(Add\) cannot be exported: it merges inputs of ranks 4, 3"):
        export_script(model, str(tmp_path / "script.py"))


def test_mask_and_initial_state_of_the_wrong_size_say_expected_and_got():
    from npinfer import InputShapeError

    weights = {"kernel": np.ones((3, 12), np.float32), "recurrent_kernel": np.ones((3, 12), np.float32), "bias": np.ones(12, np.float32)}
    layers = [
        LayerSpec("x", "InputLayer", {"shape": [None, None, 3], "dtype": "float32"}),
        LayerSpec("m", "InputLayer", {"shape": [None, None], "dtype": "float32"}),
        LayerSpec("h", "InputLayer", {"shape": [None, 3], "dtype": "float32"}),
        LayerSpec("c", "InputLayer", {"shape": [None, 3], "dtype": "float32"}),
        LayerSpec("lstm", "LSTM", {"units": 3}, weights,
                  [Call([("x", 0, 0)], {"mask": [("m", 0, 0)], "initial_state": [("h", 0, 0), ("c", 0, 0)]})]),
    ]
    model = Model(ModelSpec("m", layers, [("x", 0, 0), ("m", 0, 0), ("h", 0, 0), ("c", 0, 0)], [("lstm", 0, 0)]))
    x, h = np.ones((2, 5, 3)), np.zeros((2, 3))
    assert model.predict([x, np.ones((2, 5)), h, h]).shape == (2, 3)
    with pytest.raises(InputShapeError, match=r"mask has shape \(2, 4\), expected \(2, 5\)"):
        model.predict([x, np.ones((2, 4)), h, h])
    with pytest.raises(InputShapeError, match=r"expects shape \(None, 3\).*got \(2, 4\)"):
        model.predict([x, np.ones((2, 5)), np.zeros((2, 4)), h])


def _group_norm(groups, channels=6, semantics="keras3"):
    weights = {"gamma": np.ones(channels, np.float32), "beta": np.zeros(channels, np.float32)}
    return LayerSpec("g", "GroupNormalization", {"groups": groups, "semantics": semantics}, weights)


def test_group_normalization_groups_must_divide_the_channels():
    with pytest.raises(UnsupportedOptionError, match=r"groups=4 is not supported; supported: a divisor of the 6 channels"):
        _model(_group_norm(4), (5, 6))
    with pytest.raises(UnsupportedOptionError, match=r"groups=0 is not supported; supported: a positive integer or -1"):
        _model(_group_norm(0), (5, 6))
    x = np.random.default_rng(0).normal(size=(2, 5, 6)).astype(np.float32)
    per_channel = _model(_group_norm(-1), (5, 6)).predict(x)  # -1: one group per channel
    assert np.allclose(per_channel.mean(axis=1), 0, atol=1e-5)


def test_group_normalization_of_a_masked_input_is_refused_for_tf_keras_files():
    layer = _group_norm(2, semantics="keras2")
    masking = LayerSpec("m", "Masking", {"mask_value": 0.0})
    masking.inbound = [Call([("x", 0, 0)])]
    layer.inbound = [Call([("m", 0, 0)])]
    model = Model(ModelSpec("m", [_input((5, 6)), masking, layer], [("x", 0, 0)], [("g", 0, 0)]))
    with pytest.raises(UnsupportedOptionError, match="a masked input is not supported for tf-keras files"):
        model.predict(np.ones((2, 5, 6), np.float32))


def test_random_crop_is_refused_by_name():
    with pytest.raises(UnsupportedLayerError, match=r"\(RandomCrop\) is not supported by npinfer: it is not the identity"):
        _model(LayerSpec("c", "RandomCrop", {"height": 2, "width": 2}, {}), (4, 4, 3))
