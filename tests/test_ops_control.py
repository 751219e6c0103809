"""Control flow, sequences and optionals on the tensor tier, against ONNX Runtime (strictly:
dtype, shape, values), plus the budget rules: a Loop bomb ends in ResourceLimitError, scan
outputs and growing sequences are admitted against the activation limit."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import npinfer
from ops_parity import assert_same, run_npinfer, run_onnxruntime

RNG = np.random.default_rng(20)
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.int8, np.uint8]


def code(dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def t_info(name, dtype, shape=None):
    return helper.make_tensor_value_info(name, code(dtype), shape)


def s_info(name, dtype, shape=None):
    return helper.make_tensor_sequence_value_info(name, code(dtype), shape)


def model(nodes, inputs, outputs, opset=21, initializers=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10 if opset > 8 else 4)


def const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)))


def check(m, feeds):
    expected = run_onnxruntime(m, feeds)
    got = run_npinfer(m, feeds)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        if b is None:
            assert a is None, f"output {i}"
        else:
            assert_same(a, b, where=f"output {i}")
    return got


def values(dtype, shape):
    if np.dtype(dtype).kind == "f":
        return RNG.standard_normal(shape).astype(dtype)
    return RNG.integers(0, 5, shape).astype(dtype)


def load(m, **limits):
    tmp = tempfile.mkdtemp()
    path = Path(tmp) / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return npinfer.load(path, limits=npinfer.Limits(**limits) if limits else None)


# -- If --------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [11, 13, 16, 21])
@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
@pytest.mark.parametrize("cond", [True, False])
def test_if_branches_of_different_shapes_read_outer_values(opset, dtype, cond):
    then = helper.make_graph([helper.make_node("Identity", ["a"], ["ya"])], "then", [], [t_info("ya", dtype)])
    other = helper.make_graph([helper.make_node("Identity", ["b"], ["yb"])], "else", [], [t_info("yb", dtype)])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
              [t_info("c", np.bool_, [1]), t_info("a", dtype, [2, 3]), t_info("b", dtype, [4])], [t_info("y", dtype)], opset)
    check(m, {"c": np.array([cond]), "a": values(dtype, (2, 3)), "b": values(dtype, (4,))})


def test_if_gives_sequences_and_optionals():
    then = helper.make_graph([helper.make_node("SequenceConstruct", ["a", "a"], ["s"])], "then", [], [s_info("s", np.float32)])
    other = helper.make_graph([helper.make_node("SequenceConstruct", ["a"], ["s2"])], "else", [], [s_info("s2", np.float32)])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
              [t_info("c", np.bool_, []), t_info("a", np.float32, [3])], [s_info("y", np.float32)], 13)
    for c in (True, False):
        check(m, {"c": np.array(c), "a": values(np.float32, (3,))})


def test_if_condition_must_be_bool():
    then = helper.make_graph([helper.make_node("Identity", ["a"], ["ya"])], "then", [], [t_info("ya", np.float32)])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then)],
              [t_info("c", np.float32, []), t_info("a", np.float32, [2])], [t_info("y", np.float32)])
    with pytest.raises(npinfer.ModelFormatError, match="If"):
        load(m).predict([np.array(1, np.float32), np.zeros(2, np.float32)])


# -- Loop ------------------------------------------------------------------------------------

def loop_body(dtype, scan_shape=True):
    """i, cond, x -> Less(i + 1, limit), x + step, scan outputs x + x and i (step, limit outer)."""
    nodes = [const("one", np.array(1, np.int64)), helper.make_node("Add", ["i", "one"], ["i1"]),
             helper.make_node("Less", ["i1", "limit"], ["c_out"]), helper.make_node("Add", ["x_in", "step"], ["x_out"]),
             helper.make_node("Add", ["x_out", "x_out"], ["s"]), helper.make_node("Identity", ["i"], ["si"])]
    return helper.make_graph(nodes, "body",
                             [t_info("i", np.int64, []), t_info("c_in", np.bool_, []), t_info("x_in", dtype, [2, 3])],
                             [t_info("c_out", np.bool_, []), t_info("x_out", dtype, [2, 3]),
                              t_info("s", dtype, [2, 3] if scan_shape else None), t_info("si", np.int64, [])])


@pytest.mark.parametrize("opset", [11, 13, 16, 21])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64])  # Add's types at opset 11
@pytest.mark.parametrize("mode", ["M", "cond", "both"])
def test_loop_carried_values_and_scan_outputs(opset, dtype, mode):
    m = model([helper.make_node("Loop", ["M" if mode != "cond" else "", "c" if mode != "M" else "", "x0"],
                                ["x", "s", "si"], body=loop_body(dtype))],
              [t_info("M", np.int64, []), t_info("c", np.bool_, []), t_info("x0", dtype, [2, 3]),
               t_info("step", dtype, [2, 3]), t_info("limit", np.int64, [])],
              [t_info("x", dtype), t_info("s", dtype), t_info("si", np.int64)], opset)
    for trips, limit in ((3, 10), (10, 4), (0, 5)):
        if mode == "cond" and trips == 0:
            continue
        check(m, {"M": np.array(trips), "c": np.array(True), "x0": values(dtype, (2, 3)),
                  "step": values(dtype, (2, 3)), "limit": np.array(limit)})


def zero_pass_loop(scan_shape):
    return model([helper.make_node("Loop", ["M", "c", "x0"], ["x", "s", "si"], body=loop_body(np.float32, scan_shape))],
                 [t_info("M", np.int64, []), t_info("c", np.bool_, []), t_info("x0", np.float32, [2, 3]),
                  t_info("step", np.float32, [2, 3]), t_info("limit", np.int64, [])],
                 [t_info("x", np.float32), t_info("s", np.float32), t_info("si", np.int64)])


@pytest.mark.parametrize("trips,cond", [(0, True), (-2, True), (4, False)])
def test_loop_zero_passes_gives_empty_scan_outputs(trips, cond):
    check(zero_pass_loop(True), {"M": np.array(trips), "c": np.array(cond), "x0": values(np.float32, (2, 3)),
                                 "step": values(np.float32, (2, 3)), "limit": np.array(9)})


def test_loop_zero_passes_without_declared_scan_shape_is_refused():
    """ONNX Runtime takes the shape from its shape inference there; npinfer does not guess it."""
    with pytest.raises(npinfer.UnsupportedOptionError, match="Loop.*declares no shape"):
        load(zero_pass_loop(False)).predict([np.array(0), np.array(True), np.zeros((2, 3), np.float32),
                                             np.zeros((2, 3), np.float32), np.array(9)])


def test_loop_grows_a_sequence():
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Cast", ["i"], ["f"], to=1),
                              helper.make_node("SequenceInsert", ["seq_in", "f"], ["seq_out"])], "body",
                             [t_info("i", np.int64, []), t_info("c_in", np.bool_, []), s_info("seq_in", np.float32)],
                             [t_info("c_out", np.bool_, []), s_info("seq_out", np.float32)])
    m = model([helper.make_node("SequenceEmpty", [], ["e"]),
               helper.make_node("Loop", ["M", "", "e"], ["seq"], body=body),
               helper.make_node("ConcatFromSequence", ["seq"], ["y"], axis=0, new_axis=1)],
              [t_info("M", np.int64, [])], [t_info("y", np.float32)], 13)
    check(m, {"M": np.array(5)})


def test_outer_value_freed_after_the_loop_still_reaches_the_body():
    """'w' is read by a node before the Loop and by an If nested in the body, never after: the
    interpreter frees it after the Loop step, not before."""
    then = helper.make_graph([helper.make_node("Mul", ["x_in", "w"], ["t"])], "then", [], [t_info("t", np.float32)])
    other = helper.make_graph([helper.make_node("Sub", ["x_in", "w"], ["e"])], "else", [], [t_info("e", np.float32)])
    body = helper.make_graph([const("two", np.array(2, np.int64)), helper.make_node("Less", ["i", "two"], ["small"]),
                              helper.make_node("Identity", ["c_in"], ["c_out"]),
                              helper.make_node("If", ["small"], ["x_out"], then_branch=then, else_branch=other)], "body",
                             [t_info("i", np.int64, []), t_info("c_in", np.bool_, []), t_info("x_in", np.float32, [3])],
                             [t_info("c_out", np.bool_, []), t_info("x_out", np.float32, [3])])
    m = model([helper.make_node("Add", ["w0", "w0"], ["w"]), helper.make_node("Mul", ["w0", "w"], ["n"]),
               helper.make_node("Loop", ["M", "", "n"], ["x"], body=body), helper.make_node("Add", ["x", "x"], ["y"])],
              [t_info("M", np.int64, []), t_info("w0", np.float32, [3])], [t_info("y", np.float32)])
    check(m, {"M": np.array(4), "w0": values(np.float32, (3,))})


def endless_loop(body_nodes=True):
    nodes = [helper.make_node("Identity", ["c_in"], ["c_out"])] if body_nodes else []
    out = "c_out" if body_nodes else "c_in"
    body = helper.make_graph(nodes, "body", [t_info("i", np.int64, []), t_info("c_in", np.bool_, [])],
                             [t_info(out, np.bool_, [])])
    return model([helper.make_node("Loop", ["M", "c"], [], body=body), helper.make_node("Identity", ["M"], ["y"])],
                 [t_info("M", np.int64, [])], [t_info("y", np.int64)], initializers={"c": np.array(True)})


@pytest.mark.parametrize("body_nodes", [True, False])
def test_loop_bomb_ends_in_resource_limit_error(body_nodes):
    loaded = load(endless_loop(body_nodes), max_run_nodes=20_000)
    start = time.perf_counter()
    with pytest.raises(npinfer.ResourceLimitError, match="max_run_nodes"):
        loaded.predict(np.array(2 ** 62))
    assert time.perf_counter() - start < 10


def test_accumulated_scan_outputs_are_admitted():
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Identity", ["big"], ["s"])],
                             "body", [t_info("i", np.int64, []), t_info("c_in", np.bool_, [])],
                             [t_info("c_out", np.bool_, []), t_info("s", np.float32, [1000])])
    m = model([helper.make_node("Loop", ["M", "", ], ["y"], body=body)], [t_info("M", np.int64, []), t_info("big", np.float32, [1000])],
              [t_info("y", np.float32)])
    loaded = load(m, max_activation_bytes=400_000)
    assert loaded.predict([np.array(50), np.zeros(1000, np.float32)]).shape == (50, 1000)
    with pytest.raises(npinfer.ResourceLimitError, match="scan output"):
        loaded.predict([np.array(10 ** 9), np.zeros(1000, np.float32)])


def test_a_growing_sequence_is_admitted():
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]),
                              helper.make_node("SequenceInsert", ["seq_in", "big"], ["seq_out"])], "body",
                             [t_info("i", np.int64, []), t_info("c_in", np.bool_, []), s_info("seq_in", np.float32)],
                             [t_info("c_out", np.bool_, []), s_info("seq_out", np.float32)])
    m = model([helper.make_node("SequenceEmpty", [], ["e"]), helper.make_node("Loop", ["M", "", "e"], ["seq"], body=body),
               helper.make_node("SequenceLength", ["seq"], ["y"])],
              [t_info("M", np.int64, []), t_info("big", np.float32, [1000])], [t_info("y", np.int64)])
    loaded = load(m, max_activation_bytes=400_000)
    assert int(loaded.predict([np.array(20), np.zeros(1000, np.float32)])) == 20
    with pytest.raises(npinfer.ResourceLimitError, match="sequence"):
        loaded.predict([np.array(10 ** 9), np.zeros(1000, np.float32)])


def test_unknown_loop_attribute_is_refused():
    body = endless_loop().graph.node[0].attribute[0].g
    m = model([helper.make_node("Loop", ["M", "c"], [], body=body, unroll=1), helper.make_node("Identity", ["M"], ["y"])],
              [t_info("M", np.int64, []), t_info("c", np.bool_, [])], [t_info("y", np.int64)])
    with pytest.raises(npinfer.UnsupportedOptionError, match="Loop.*unroll"):
        load(m)


# -- Scan ------------------------------------------------------------------------------------

def scan_body(dtype, state_shape, slice_shape):
    nodes = [helper.make_node("Add", ["s_in", "x"], ["s_out"]), helper.make_node("Mul", ["x", "x"], ["y"])]
    return helper.make_graph(nodes, "body", [t_info("s_in", dtype, state_shape), t_info("x", dtype, slice_shape)],
                             [t_info("s_out", dtype, state_shape), t_info("y", dtype, slice_shape)])


@pytest.mark.parametrize("opset", [9, 11, 16, 21])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("in_axis,in_dir,out_axis,out_dir", [(0, 0, 0, 0), (1, 1, 0, 0), (2, 0, 1, 1), (-1, 1, -1, 0),
                                                                (1, 0, 2, 1)])
def test_scan_axes_and_directions(opset, dtype, in_axis, in_dir, out_axis, out_dir):
    if opset < 11 and (in_axis < 0 or out_axis < 0):
        return
    x = values(dtype, (4, 3, 5))
    slice_shape = [int(d) for d in np.delete(np.array(x.shape), in_axis % 3)]
    m = model([helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_body(dtype, slice_shape, slice_shape),
                                num_scan_inputs=1, scan_input_axes=[in_axis], scan_input_directions=[in_dir],
                                scan_output_axes=[out_axis], scan_output_directions=[out_dir])],
              [t_info("s0", dtype, slice_shape), t_info("xs", dtype, list(x.shape))], [t_info("s", dtype), t_info("ys", dtype)], opset)
    check(m, {"s0": values(dtype, slice_shape), "xs": x})


@pytest.mark.parametrize("lens", [None, [3, 1, 2]])
@pytest.mark.parametrize("direction", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scan8_batch_and_sequence_lens(lens, direction, dtype):
    m = model([helper.make_node("Scan", ["" if lens is None else "L", "s0", "xs"], ["s", "ys"],
                                body=scan_body(dtype, [2], [2]), num_scan_inputs=1, directions=[direction])],
              [t_info("L", np.int64, [3]), t_info("s0", dtype, [3, 2]), t_info("xs", dtype, [3, 3, 2])],
              [t_info("s", dtype), t_info("ys", dtype)], 8)
    feeds = {"L": np.array(lens or [3, 3, 3], np.int64), "s0": values(dtype, (3, 2)), "xs": values(dtype, (3, 3, 2))}
    check(m, feeds)


def test_scan_over_zero_steps_without_declared_shape_is_refused():
    m = model([helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_body(np.float32, [2], None), num_scan_inputs=1)],
              [t_info("s0", np.float32, [2]), t_info("xs", np.float32, [None, 2])], [t_info("s", np.float32), t_info("ys", np.float32)])
    with pytest.raises(npinfer.UnsupportedOptionError, match="Scan"):
        load(m).predict([np.zeros(2, np.float32), np.zeros((0, 2), np.float32)])


# -- sequences -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES + [np.bool_])
@pytest.mark.parametrize("at", [0, 1, -1, -3, None])
def test_construct_at_insert_erase_length(dtype, at):
    a, b, c = values(dtype, (2, 3)), values(dtype, (4,)), values(dtype, ())
    pos = [] if at is None else ["p"]
    m = model([helper.make_node("SequenceConstruct", ["a", "b", "c"], ["s"]),
               helper.make_node("SequenceInsert", ["s", "b"] + pos, ["s2"]),
               helper.make_node("SequenceErase", ["s2"] + pos, ["s3"]),
               helper.make_node("SequenceAt", ["s3", "q"], ["y"]), helper.make_node("SequenceLength", ["s2"], ["n"])],
              [t_info("a", dtype, [2, 3]), t_info("b", dtype, [4]), t_info("c", dtype, []), t_info("q", np.int64, [])]
              + ([] if at is None else [t_info("p", np.int32, [])]),
              [s_info("s3", dtype), t_info("y", dtype), t_info("n", np.int64)], 11)
    feeds = {"a": a, "b": b, "c": c, "q": np.array(-1)}
    if at is not None:
        feeds["p"] = np.array(at, np.int32)
    check(m, feeds)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.float16])
def test_sequence_empty_then_insert(dtype):
    m = model([helper.make_node("SequenceEmpty", [], ["e"], dtype=code(dtype)), helper.make_node("SequenceInsert", ["e", "a"], ["s"]),
               helper.make_node("SequenceLength", ["e"], ["n"])],
              [t_info("a", dtype, [3])], [s_info("s", dtype), t_info("n", np.int64)], 11)
    check(m, {"a": values(dtype, (3,))})


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_])  # ORT's types
@pytest.mark.parametrize("split,axis,keepdims", [(None, 0, 1), (None, 1, 0), (None, -1, 1), (2, 1, 1), (np.array([1, 3, 1]), 1, 0),
                                                 (np.array([2, 2]), 0, 1), (4, -1, 1)])
def test_split_to_sequence(dtype, split, axis, keepdims):
    x = values(dtype, (4, 5, 3)) if dtype != np.bool_ else RNG.random((4, 5, 3)) > 0.5
    inputs = [t_info("x", dtype, [4, 5, 3])]
    feeds = {"x": x}
    if split is not None:
        split = np.asarray(split, np.int64)
        inputs.append(t_info("split", np.int64, list(split.shape)))
        feeds["split"] = split
    m = model([helper.make_node("SplitToSequence", ["x"] + (["split"] if split is not None else []), ["s"],
                                axis=axis, keepdims=keepdims)], inputs, [s_info("s", dtype)], 11)
    check(m, feeds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8])
@pytest.mark.parametrize("axis,new_axis", [(0, 0), (1, 0), (-1, 0), (0, 1), (2, 1), (-1, 1), (-3, 1)])
def test_concat_from_sequence(dtype, axis, new_axis):
    items = [values(dtype, (2, 3)) for _ in range(3)]
    m = model([helper.make_node("SequenceConstruct", ["a", "b", "c"], ["s"]),
               helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=axis, new_axis=new_axis)],
              [t_info(n, dtype, [2, 3]) for n in "abc"], [t_info("y", dtype)], 11)
    check(m, dict(zip("abc", items)))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("extra", ["tensor", "sequence"])
def test_sequence_map(dtype, extra):
    body = helper.make_graph([helper.make_node("Add", ["x", "z"], ["y"]), helper.make_node("Mul", ["x", "x"], ["w"])], "body",
                             [t_info("x", dtype, None), t_info("z", dtype, None)], [t_info("y", dtype), t_info("w", dtype)])
    zs = [values(dtype, (3,)) for _ in range(4)]
    z_info = t_info("z", dtype, [3]) if extra == "tensor" else s_info("z", dtype)
    m = model([helper.make_node("SequenceMap", ["xs", "z"], ["ys", "ws"], body=body)], [s_info("xs", dtype), z_info],
              [s_info("ys", dtype), s_info("ws", dtype)], 17)
    check(m, {"xs": [values(dtype, (3,)) for _ in range(4)], "z": zs[0] if extra == "tensor" else zs})


# -- optionals -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("opset", [15, 18, 21])
def test_optional_of_a_tensor(dtype, opset):
    m = model([helper.make_node("Optional", ["a"], ["o"]), helper.make_node("OptionalHasElement", ["o"], ["h"]),
               helper.make_node("OptionalGetElement", ["o"], ["y"])],
              [t_info("a", dtype, [2])], [t_info("h", np.bool_), t_info("y", dtype)], opset)
    check(m, {"a": values(dtype, (2,)) if dtype != np.bool_ else np.array([True, False])})


def test_empty_optional_and_opset18_tensor_inputs():
    kind = helper.make_tensor_type_proto(TensorProto.FLOAT, [2])
    m = model([helper.make_node("Optional", [], ["o"], type=kind), helper.make_node("OptionalHasElement", ["o"], ["h"]),
               helper.make_node("OptionalHasElement", ["a"], ["h2"]), helper.make_node("OptionalGetElement", ["a"], ["y"])],
              [t_info("a", np.float32, [2])], [t_info("h", np.bool_), t_info("h2", np.bool_), t_info("y", np.float32)], 18)
    check(m, {"a": values(np.float32, (2,))})
