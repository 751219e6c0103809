"""The tensor tier's core (src/npinfer/ops): when it is taken, types kept end to end, inputs
converted only without loss, budgets checked before allocating, malformed graphs refused, the
node bound, intermediate values, streaming through state inputs — against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from ops_parity import assert_matches_onnxruntime, graph_model, run_onnxruntime, run_reference

import npinfer
from npinfer.ops.model import TypedModel

RNG = np.random.default_rng(20)


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8, np.uint64])
def test_integer_arithmetic_is_exact_in_its_own_type(dtype, tmp_path):
    info = np.iinfo(dtype)
    a = RNG.integers(max(info.min, -2**40), min(info.max, 2**40), (3, 4), dtype=dtype, endpoint=True)
    b = np.maximum(RNG.integers(1, min(info.max, 2**20), (4,), dtype=dtype), 1).astype(dtype)
    if dtype == np.int64:
        a[0, 0] = 2**24 + 1  # float32 would round it
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Div", ["a", "b"], ["q"]),
             helper.make_node("Mul", ["a", "b"], ["p"]), helper.make_node("Less", ["a", "b"], ["l"])]
    model = graph_model(nodes, {"a": a, "b": b}, {"s": dtype, "q": dtype, "p": dtype, "l": np.bool_})
    assert_matches_onnxruntime(model, {"a": a, "b": b})
    assert isinstance(npinfer.load(_save(model, tmp_path)), TypedModel)


@pytest.mark.parametrize("target", [TensorProto.FLOAT16, TensorProto.INT32, TensorProto.BOOL, TensorProto.DOUBLE, TensorProto.UINT8])
def test_cast_rounds_and_saturates_as_onnx_says(target):
    x = np.array([0.1, 1.5, -2.7, 70000.0, -70000.0, 1e-8, 0.0, 255.4], np.float32)
    if target in (TensorProto.INT32, TensorProto.UINT8):
        x = x[np.abs(x) < 255]  # out of range is undefined in ONNX
        x = np.abs(x) if target == TensorProto.UINT8 else x
    model = graph_model([helper.make_node("Cast", ["x"], ["y"], to=target)], {"x": x},
                        {"y": helper.tensor_dtype_to_np_dtype(target)})
    got = assert_matches_onnxruntime(model, {"x": x})[0]
    if target == TensorProto.FLOAT16:
        assert np.isinf(got[3]) and got[0] == np.float16(0.1)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_float16_and_float64_graphs_compute_in_their_type(dtype):
    a = (RNG.normal(size=(5,)) * 1e3).astype(dtype)
    b = np.asarray(1 + np.finfo(dtype).eps, dtype)  # rank 0: lost in float32 for float64
    model = graph_model([helper.make_node("Mul", ["a", "b"], ["y"]), helper.make_node("Sub", ["y", "a"], ["d"])],
                        {"a": a, "b": b}, {"y": dtype, "d": dtype})
    judge = run_reference if dtype == np.float16 else None  # ONNX Runtime keeps float16 Mul -> Sub in float32
    got = assert_matches_onnxruntime(model, {"a": a, "b": b}, rtol=0, atol=0, judge=judge)
    assert got[1].dtype == dtype and np.any(got[1] != 0)


def test_rank_0_inputs_and_outputs(tmp_path):
    x, y = np.asarray(3, np.int64), np.asarray(4.5, np.float32)
    model = graph_model([helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT), helper.make_node("Add", ["xf", "y"], ["z"])],
                        {"x": x, "y": y}, {"z": np.float32})
    assert_matches_onnxruntime(model, {"x": x, "y": y})
    loaded = npinfer.load(_save(model, tmp_path))
    assert loaded.predict({"x": 3, "y": 4.5}).shape == ()  # Python numbers are taken where no value changes


def test_inputs_are_converted_only_without_loss(tmp_path):
    a = np.zeros((2, 3), np.float32)
    n = np.zeros((2,), np.int32)
    model = graph_model([helper.make_node("Identity", ["a"], ["y"]), helper.make_node("Identity", ["n"], ["m"])],
                        {"a": a, "n": n}, {"y": np.float32, "m": np.int32})
    loaded = npinfer.load(_save(model, tmp_path))
    y, m = loaded.predict([np.ones((2, 3)), np.array([1, 2], np.int64)])  # float64 rounds to float32, int64 that fits
    assert y.dtype == np.float32 and m.dtype == np.int32 and m.tolist() == [1, 2]
    with pytest.raises(npinfer.InputError, match="'n' is int32; got floats"):
        loaded.predict([a, np.array([1.0, 2.0])])
    with pytest.raises(npinfer.InputError, match="do not fit"):
        loaded.predict([a, np.array([2**40, 0])])
    with pytest.raises(npinfer.InputShapeError, match=r"'a' has shape \(3, 2\)"):
        loaded.predict([np.zeros((3, 2), np.float32), n])
    with pytest.raises(npinfer.InputError, match="expected"):
        loaded.predict({"a": a, "wrong": n})


def _constant_of_shape(shape_source: str, value: np.ndarray, initializers=None):
    return graph_model([helper.make_node("ConstantOfShape", [shape_source], ["y"],
                                         value=numpy_helper.from_array(value))],
                       {} if initializers else {"shape": np.array([2, 2], np.int64)}, {"y": value.dtype},
                       initializers=initializers)


def test_a_constant_folded_at_load_is_counted_against_the_file_budget(tmp_path):
    bomb = _constant_of_shape("shape", np.zeros(1, np.bool_), initializers={"shape": np.array([1 << 14, 1 << 13], np.int64)})
    bomb.graph.node.append(helper.make_node("Not", ["y"], ["z"]))  # an operator only the tensor tier runs
    bomb.graph.output[0].name = "z"
    path = _save(bomb, tmp_path)
    with pytest.raises(npinfer.ModelFormatError, match="ConstantOfShape.*more than a file of its size") as err:
        npinfer.load(path)
    assert str(path) in str(err.value)


def test_a_size_computed_at_run_time_is_checked_before_allocating(tmp_path):
    path = _save(_constant_of_shape("shape", np.ones(1, np.int64)), tmp_path)
    model = npinfer.load(path, limits=npinfer.Limits(max_activation_bytes=1 << 20))
    assert model.predict(np.array([3, 2], np.int64)).tolist() == [[1, 1]] * 3
    with pytest.raises(npinfer.ResourceLimitError, match=r"ConstantOfShape.*shape \(100000, 100000\)"):
        model.predict(np.array([100_000, 100_000], np.int64))
    a = np.zeros((1, 1), np.int32)
    broadcast = graph_model([helper.make_node("Add", ["a", "b"], ["y"])], {"a": a, "b": a}, {"y": np.int32})
    broadcast.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    broadcast.graph.input[1].type.tensor_type.shape.dim[1].dim_param = "m"
    model = npinfer.load(_save(broadcast, tmp_path, "b.onnx"), limits=npinfer.Limits(max_activation_bytes=1 << 20))
    model.predict([np.zeros((3, 1), np.int32), np.zeros((1, 3), np.int32)])  # (3, 3) integer add: fine
    with pytest.raises(npinfer.ResourceLimitError, match=r"Add.*\(20000, 20000\)"):
        model.predict([np.zeros((20_000, 1), np.int32), np.zeros((1, 20_000), np.int32)])


def _int_add(**attributes):
    a = np.zeros(2, np.int64)
    return graph_model([helper.make_node("Add", ["a", "a"], ["y"], **attributes)], {"a": a}, {"y": np.int64})


def test_unknown_operators_domains_and_attributes_are_refused_by_name(tmp_path):
    with pytest.raises(npinfer.UnsupportedOptionError, match="Add node.*attribute\\(s\\) fancy are not supported"):
        npinfer.load(_save(_int_add(fancy=1), tmp_path))
    model = _int_add()
    model.graph.node.append(helper.make_node("FusedThing", ["y"], ["z"], domain="com.microsoft"))
    model.graph.output[0].name = "z"
    with pytest.raises(npinfer.UnsupportedLayerError, match="com.microsoft.FusedThing are not supported"):
        npinfer.load(_save(model, tmp_path, "d.onnx"))
    old = _int_add()
    old.opset_import[0].version = 6
    with pytest.raises(npinfer.UnsupportedLayerError, match="opset 6; npinfer runs ai.onnx opsets 7 to"):
        npinfer.load(_save(old, tmp_path, "o.onnx"))


def test_malformed_graphs_are_refused(tmp_path):
    a = np.zeros(2, np.int64)
    cycle = graph_model([helper.make_node("Add", ["a", "z"], ["y"]), helper.make_node("Add", ["y", "a"], ["z"])],
                        {"a": a}, {"z": np.int64})
    with pytest.raises(npinfer.ModelFormatError, match="cycle|reads .z., which no node makes"):
        npinfer.load(_save(cycle, tmp_path, "c.onnx"))
    twice = graph_model([helper.make_node("Add", ["a", "a"], ["y"]), helper.make_node("Sub", ["a", "a"], ["y"])],
                        {"a": a}, {"y": np.int64})
    with pytest.raises(npinfer.ModelFormatError, match="assigns 'y' twice"):
        npinfer.load(_save(twice, tmp_path, "t.onnx"))
    dangling = graph_model([helper.make_node("Add", ["a", "nothing"], ["y"])], {"a": a}, {"y": np.int64})
    with pytest.raises(npinfer.ModelFormatError, match="reads 'nothing', which no node makes"):
        npinfer.load(_save(dangling, tmp_path, "n.onnx"))
    mixed = graph_model([helper.make_node("Add", ["a", "b"], ["y"])], {"a": a, "b": a.astype(np.int32)}, {"y": np.int64})
    with pytest.raises(npinfer.ModelFormatError, match="mixes element types int32, int64"):
        npinfer.load(_save(mixed, tmp_path, "m.onnx")).predict([a, a.astype(np.int32)])


def test_nodes_out_of_order_run_in_dependency_order():
    a = RNG.integers(-9, 9, (3,), dtype=np.int64)
    model = graph_model([helper.make_node("Mul", ["s", "a"], ["y"]), helper.make_node("Add", ["a", "a"], ["s"])],
                        {"a": a}, {"y": np.int64})
    assert_matches_onnxruntime(model, {"a": a})


def test_a_declared_output_type_is_never_converted(tmp_path):
    model = _int_add()
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT32  # the file lies about its output
    with pytest.raises(npinfer.UnsupportedOptionError, match="came out int64; the file declares int32"):
        npinfer.load(_save(model, tmp_path)).predict(np.zeros(2, np.int64))


def test_what_the_tensor_tier_does_not_do_is_refused_by_name(tmp_path):
    path = _save(_int_add(), tmp_path)
    with pytest.raises(npinfer.UnsupportedOptionError, match="dtype='float64'.*tensor tier"):
        npinfer.load(path, dtype="float64")
    model = npinfer.load(path)
    for call in (lambda: model.save(tmp_path / "m.npz"), lambda: model.layers, lambda: model.spec,
                 lambda: model.predict(np.zeros(2, np.int64), batch_size=1)):
        with pytest.raises(npinfer.UnsupportedOptionError, match="tensor tier"):
            call()
    lines = []
    model.summary(print_fn=lines.append)
    assert "    Add x1" in lines


def test_a_float_graph_the_layers_cover_stays_on_the_layer_tier(tmp_path):
    x = np.zeros((2, 3), np.float32)
    model = graph_model([helper.make_node("Add", ["x", "x"], ["y"])], {"x": x}, {"y": np.float32})
    assert isinstance(npinfer.load(_save(model, tmp_path)), npinfer.Model)


def test_intermediate_values_by_name(tmp_path):
    a = np.array([1, 2], np.int64)
    model = graph_model([helper.make_node("Add", ["a", "a"], ["s"]), helper.make_node("Mul", ["s", "a"], ["y"])],
                        {"a": a}, {"y": np.int64})
    got = npinfer.load(_save(model, tmp_path)).predict(a, outputs=["s"])
    assert got["s"].tolist() == [2, 4] and got["y"].tolist() == [2, 8]


def test_streaming_carries_state_outputs_into_state_inputs(tmp_path):
    """y = x * state, stateN = state + x: chunk by chunk, as ONNX Runtime fed its own state."""
    x = RNG.integers(-5, 5, (1, 4), dtype=np.int64)
    state = np.ones((1, 4), np.int64)
    model = graph_model([helper.make_node("Mul", ["x", "state"], ["y"]), helper.make_node("Add", ["state", "x"], ["stateN"])],
                        {"x": x, "state": state}, {"y": np.int64, "stateN": np.int64})
    stream = npinfer.load(_save(model, tmp_path)).stream(carry={"state": "stateN"}, initial={"state": state})
    carried = state
    for _ in range(2):
        for _ in range(3):
            chunk = RNG.integers(-5, 5, (1, 4), dtype=np.int64)
            expected, carried = run_onnxruntime(model, {"x": chunk, "state": carried})
            np.testing.assert_array_equal(stream.predict(chunk), expected)
        stream.reset()
        carried = state
    with pytest.raises(npinfer.NpinferError, match="not an output"):
        npinfer.load(_save(model, tmp_path)).stream(carry={"state": "nope"}, initial={"state": state})


# -- what is made once from weights (Call.prepared), and branches folding their outer weights -----

def _lstm_graph(weights_as_inputs: bool, dtype=np.float32):
    """One LSTM node (ONNX Runtime's LSTM is float only), and an int32 output the layer tier does not give."""
    hidden, features = 3, 2
    w = RNG.normal(0, 0.5, (1, 4 * hidden, features)).astype(dtype)
    r = RNG.normal(0, 0.5, (1, 4 * hidden, hidden)).astype(dtype)
    x = RNG.normal(size=(4, 2, features)).astype(dtype)
    nodes = [helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], hidden_size=hidden),
             helper.make_node("Shape", ["h"], ["shape"]), helper.make_node("Cast", ["shape"], ["size"], to=TensorProto.INT32)]
    outputs = {"h": dtype, "size": np.int32}
    if weights_as_inputs:
        return graph_model(nodes, {"x": x, "W": w, "R": r}, outputs), x, w, r
    return graph_model(nodes, {"x": x}, outputs, initializers={"W": w, "R": r}), x, w, r


def test_an_lstm_with_weights_fed_at_run_time_uses_each_calls_weights(tmp_path):
    """The cell is built once only from load-time constants: new W / R arrays, or the same array
    changed in place between calls, give that call's answer, as ONNX Runtime does."""
    model, x, w, r = _lstm_graph(True)
    loaded = npinfer.load(_save(model, tmp_path))
    assert isinstance(loaded, TypedModel)
    for _ in range(3):
        got = loaded.predict({"x": x, "W": w, "R": r})[0]
        np.testing.assert_allclose(got, run_onnxruntime(model, {"x": x, "W": w, "R": r})[0], rtol=1e-5, atol=1e-6)
        w *= -0.5  # the same array object, changed in place
        r += 0.25


def test_an_lstm_with_constant_weights_builds_its_cell_once_and_matches_onnxruntime(tmp_path):
    model, x, _, _ = _lstm_graph(False)
    loaded = npinfer.load(_save(model, tmp_path))
    assert isinstance(loaded, TypedModel)
    first = loaded.predict(x)[0]
    step = next(s for s in loaded.graph.steps if s.node.op_type == "LSTM")
    cells = list(step.memo.values())
    assert len(cells) == 1
    for _ in range(2):  # new inputs each call; the weights stay
        xb = RNG.normal(size=x.shape).astype(np.float32)
        np.testing.assert_allclose(loaded.predict(xb)[0], run_onnxruntime(model, {"x": xb})[0], rtol=1e-5, atol=1e-6)
    assert list(step.memo.values()) == cells
    np.testing.assert_allclose(first, run_onnxruntime(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_a_branch_folds_what_it_computes_from_the_outer_graphs_weights(tmp_path):
    """y = If(c, then: x + Slice(weight), else: x - Slice(weight)), the weight an initializer of the
    main graph: each branch's Slice is folded at load, and the answers are ONNX Runtime's."""
    weight = RNG.normal(size=(6,)).astype(np.float64)
    x = RNG.normal(size=(3,))

    def branch(op, name):
        nodes = [helper.make_node("Slice", ["weight", "start", "stop"], [f"{name}_part"]),
                 helper.make_node(op, ["x", f"{name}_part"], [f"{name}_y"])]
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.DOUBLE, None)])

    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("Add", "then"), else_branch=branch("Sub", "else"))
    model = graph_model([node], {"x": x, "c": np.array(True)}, {"y": np.float64},
                        initializers={"weight": weight, "start": np.array([1]), "stop": np.array([4])})
    loaded = npinfer.load(_save(model, tmp_path))
    branches = loaded.graph.steps[0].subgraphs
    assert all([s.node.op_type for s in g.folded] == ["Slice"] for g in branches.values())
    for c in (True, False):
        feeds = {"x": x, "c": np.array(c)}
        np.testing.assert_array_equal(loaded.predict(feeds), run_onnxruntime(model, feeds)[0])


def test_a_branch_input_that_shadows_an_outer_weight_is_not_folded(tmp_path):
    """A Scan body whose own input has the name of an outer initializer reads its input, not the weight."""
    x = RNG.normal(size=(4, 2))
    body = helper.make_graph([helper.make_node("Add", ["s", "w"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["scan_out"])], "body",
                             [helper.make_tensor_value_info("s", TensorProto.DOUBLE, [2]),
                              helper.make_tensor_value_info("w", TensorProto.DOUBLE, [2])],
                             [helper.make_tensor_value_info("s_out", TensorProto.DOUBLE, [2]),
                              helper.make_tensor_value_info("scan_out", TensorProto.DOUBLE, [2])])
    node = helper.make_node("Scan", ["s0", "x"], ["final", "ys"], body=body, num_scan_inputs=1)
    model = graph_model([node], {"x": x}, {"final": np.float64, "ys": np.float64},
                        initializers={"s0": np.zeros(2), "w": np.full(2, 100.0)})
    got = npinfer.load(_save(model, tmp_path)).predict(x)
    for a, b in zip(got, run_onnxruntime(model, {"x": x})):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [2, 2, 2, 2], [1, 0, 0, 1]])
def test_a_maxpool_whose_indices_are_an_output_is_handed_to_the_tensor_tier(pads):
    """The layers compute MaxPool's values, not its Indices: the graph runs on the tensor tier
    (it was refused as "made by no node") and matches ONNX Runtime."""
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    node = helper.make_node("MaxPool", ["x"], ["y", "z"], kernel_shape=[3, 3], pads=pads)
    assert_matches_onnxruntime(graph_model([node], {"x": x}, {"y": np.float32, "z": np.int64}), {"x": x})
