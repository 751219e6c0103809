"""Hostile model and data files (issue 18), made while the tests run, and a runner that loads one.

Each maker writes one file an attacker could send — a time bomb (a Loop that never ends, a
chain of 100,000 layers), a memory bomb (a config that parses into far more than its size, a
zip member or an HDF5 dataset that expands past what its file holds, constants folded into
gigabytes, sizes a config declares), or a file that is not what it seems — and says what
npinfer must do with it: "refused" (a typed NpinferError naming the file) or "ok".

    python tests/hostile.py --out DIR               # write every case into DIR
    python tests/hostile.py --run CASE --out DIR    # load (and predict) one, print a JSON line
    python tests/hostile.py --report --out DIR      # every case in a 2 GB process: time, peak memory

tests/test_hostile_files.py runs each case in a process limited to 2 GB of address space and
checks the outcome, that the error names the file, and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"
KERAS3 = FIXTURES / "keras3" / "article_simple_rnn"
TF_KERAS = FIXTURES / "tf_keras" / "article_simple_rnn"
ADDRESS_SPACE = 2 << 30  # the issue's `prlimit --as 2 GB`
PEAK_LIMIT = 1 << 30
CASES: dict[str, tuple] = {}  # name -> (maker, expected outcome, predict input shape or None)


def case(expect: str, predict: tuple | None = None):
    def register(maker):
        CASES[maker.__name__] = (maker, expect, predict)
        return maker
    return register


# -- helpers ------------------------------------------------------------------------------------


def _npz(path: Path, layers, inputs, outputs) -> None:
    from npinfer.format import save_spec
    from npinfer.spec import ModelSpec

    save_spec(ModelSpec(path.stem, layers, inputs, outputs), path)


def _onnx(path: Path, nodes, inputs, outputs, initializers=()) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _keras_with_config(path: Path, config_bytes: bytes, compress: int = zipfile.ZIP_DEFLATED) -> None:
    """The Keras 3 article model's archive with config.json replaced."""
    with zipfile.ZipFile(KERAS3 / "model.keras") as source, zipfile.ZipFile(path, "w", compress) as target:
        for info in source.infolist():
            data = config_bytes if info.filename == "config.json" else source.read(info)
            target.writestr(info.filename, data)


def _h5_with_weight(path: Path, **dataset) -> None:
    """The tf-keras article model's .h5 with the Dense kernel replaced by `dataset` (h5py's arguments)."""
    import shutil

    import h5py

    shutil.copy(TF_KERAS / "model.h5", path)
    with h5py.File(path, "r+") as f:
        del f["optimizer_weights"]
        del f["model_weights/dense/dense/kernel:0"]
        data = dataset.pop("data", None)
        created = f.create_dataset("model_weights/dense/dense/kernel:0", **dataset)
        if data is not None:
            created[...] = data


# -- time bombs ---------------------------------------------------------------------------------


def onnx_bytes(nodes, initializers, output_shape=(1,)) -> bytes:
    """A small ONNX model: y = x + (what `nodes` make into "big"), x of shape (1,)."""
    from onnx import TensorProto, helper

    nodes = list(nodes) + [helper.make_node("Add", ["x", "big"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
                              initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def loop_bomb(trip_count: int | None) -> bytes:
    """An ONNX Loop whose body is constants only and whose condition stays true: with a huge trip
    count, or (None) with none at all."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Constant", [], ["c_out"], value=numpy_helper.from_array(np.array(True))),
         helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])])
    inits = [numpy_helper.from_array(np.array(True), "cond"), numpy_helper.from_array(np.ones(1, np.float32), "v0")]
    if trip_count is not None:
        inits.append(numpy_helper.from_array(np.array(trip_count, np.int64), "M"))
    loop = helper.make_node("Loop", ["M" if trip_count is not None else "", "cond", "v0"], ["big"], body=body)
    return onnx_bytes([loop], inits)


def folding_bomb(kind: str, side: int) -> bytes:
    """An ONNX graph folding a (side, side) constant while loading: "constant_of_shape", "expand"
    or "add" (a (side, 1) column plus a (1, side) row)."""
    from onnx import helper, numpy_helper

    shape = numpy_helper.from_array(np.array([side, side], np.int64), "shape")
    if kind == "constant_of_shape":
        return onnx_bytes([helper.make_node("ConstantOfShape", ["shape"], ["big"])], [shape], None)
    if kind == "expand":
        return onnx_bytes([helper.make_node("Expand", ["one", "shape"], ["big"])],
                          [numpy_helper.from_array(np.ones(1, np.float32), "one"), shape], None)
    return onnx_bytes([helper.make_node("Add", ["column", "row"], ["big"])],
                      [numpy_helper.from_array(np.ones((side, 1), np.float32), "column"),
                       numpy_helper.from_array(np.ones((1, side), np.float32), "row")], None)


def chain_spec(layers: int, cycle: bool = False):
    """A ModelSpec: an input, then `layers` ReLU Activations each reading the one before (with
    `cycle`, the first reads the last)."""
    from npinfer.spec import Call, LayerSpec, ModelSpec

    specs, previous = [LayerSpec("x", "InputLayer", {"shape": [None, 3]})], "x"
    for i in range(layers):
        specs.append(LayerSpec(f"a{i}", "Activation", {"activation": "relu"}, {}, [Call([(previous, 0, 0)])]))
        previous = f"a{i}"
    if cycle:
        specs[1] = LayerSpec("a0", "Activation", {"activation": "relu"}, {}, [Call([(previous, 0, 0)])])
    return ModelSpec("chain", specs, [("x", 0, 0)], [(previous, 0, 0)])


def redeclare_size(data: bytes, resize, member: bytes | None = None) -> bytes:
    """A zip archive with the uncompressed size that `member`'s local and central headers declare
    (the first member's when None) replaced by resize(declared size)."""
    out = bytearray(data)
    # (signature, offset of the uncompressed size, of the name's length, of the name): local header, central directory
    for signature, size_at, length_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (start := out.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", out, start + length_at)[0]
            name = bytes(out[start + name_at:start + name_at + length])
            member = member or name
            if name == member:
                struct.pack_into("<I", out, start + size_at, resize(struct.unpack_from("<I", out, start + size_at)[0]))
            start += 4
    return bytes(out)


@case("refused")
def loop_constant_body_huge_trip_count(path):
    path.with_suffix(".onnx").write_bytes(loop_bomb(2**62))


@case("refused")
def loop_constant_true_condition(path):
    path.with_suffix(".onnx").write_bytes(loop_bomb(None))


@case("ok", predict=(2, 3))
def chain_of_100000_npz_layers(path):
    from npinfer.format import save_spec

    save_spec(chain_spec(99_999), path.with_suffix(".npz"))


@case("ok", predict=(1, 3))
def chain_of_100000_onnx_nodes(path):
    from onnx import TensorProto, helper

    n = 100_000
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
    _onnx(path.with_suffix(".onnx"), nodes, [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 3])],
          [helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, [1, 3])])


# -- memory bombs -------------------------------------------------------------------------------


@case("refused")
def keras_config_json_60_mib_low_ratio(path):
    """60 MiB of JSON that deflates only ~100x: under the zip-bomb ratio, over the config budget."""
    _keras_with_config(path.with_suffix(".keras"), b"[" + b"[[]]," * (12 << 20) + b"[]]")


@case("refused")
def keras_config_json_just_under_the_budget(path):
    """15 MiB of the JSON that parses into the most objects per byte: parsed, then refused as not a model."""
    _keras_with_config(path.with_suffix(".keras"), b"[" + b"[[]]," * (3 << 20) + b"[]]")


@case("refused")
def keras_config_json_of_numbers_under_the_budget(path):
    """30 MiB of numbers, stored (not compressed, so no zip-bomb ratio): under both config limits,
    parsed, then refused as not a model."""
    _keras_with_config(path.with_suffix(".keras"), b"[" + b"1.5," * (30 << 18) + b"1]", zipfile.ZIP_STORED)


@case("refused")
def zip_member_expanding_past_its_header(path):
    """config.json declares 1,000 bytes; its deflate stream expands to 1 GiB of spaces."""
    target = path.with_suffix(".keras")
    with zipfile.ZipFile(KERAS3 / "model.keras") as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename == "config.json":
                continue
            out.writestr(info.filename, source.read(info))
        with out.open(zipfile.ZipInfo("config.json"), "w") as member:
            block = b" " * (1 << 24)
            for _ in range(64):
                member.write(block)
    target.write_bytes(redeclare_size(target.read_bytes(), lambda size: 1000, b"config.json"))


@case("refused")
def hdf5_dataset_declared_large_never_written(path):
    """A 1.5 GiB kernel that was never written (the file stays a few KB)."""
    _h5_with_weight(path.with_suffix(".h5"), shape=(3, 1 << 27), dtype="float32", chunks=(3, 1 << 16))


@case("refused")
def hdf5_dataset_of_gzip_compressed_zeros(path):
    """A 256 MiB kernel of zeros, gzip-compressed to a few hundred KB."""
    _h5_with_weight(path.with_suffix(".h5"), shape=(3, 1 << 24), dtype="float32", chunks=(3, 1 << 20),
                    compression="gzip", data=np.zeros((3, 1 << 24), np.float32))


@case("refused")
def hdf5_weight_compressed_with_lzf(path):
    """LZF is a filter pyfive (and so npinfer) cannot decode: refused by name."""
    _h5_with_weight(path.with_suffix(".h5"), data=np.ones((3, 1), np.float32), shape=(3, 1), dtype="float32",
                    compression="lzf", chunks=(3, 1))


@case("refused")
def onnx_constant_of_shape_32768_squared(path):
    path.with_suffix(".onnx").write_bytes(folding_bomb("constant_of_shape", 32768))


@case("refused")
def onnx_expand_to_32768_squared(path):
    path.with_suffix(".onnx").write_bytes(folding_bomb("expand", 32768))


@case("refused")
def onnx_broadcasting_add_to_32768_squared(path):
    path.with_suffix(".onnx").write_bytes(folding_bomb("add", 32768))


def _declared_size_model(path: Path, class_name: str, config: dict, input_shape: list) -> None:
    from npinfer.spec import Call, LayerSpec

    layers = [LayerSpec("x", "InputLayer", {"shape": [None] + input_shape}),
              LayerSpec("big", class_name, config, {}, [Call([("x", 0, 0)])])]
    _npz(path.with_suffix(".npz"), layers, [("x", 0, 0)], [("big", 0, 0)])


@case("refused", predict=(2, 4))
def repeat_vector_n_2_31(path):
    _declared_size_model(path, "RepeatVector", {"n": 2**31 - 1}, [4])


@case("refused", predict=(2, 3, 4))
def zero_padding_1d_2_30(path):
    _declared_size_model(path, "ZeroPadding1D", {"padding": [2**30, 2**30]}, [3, 4])


@case("refused", predict=(2, 3, 4))
def up_sampling_1d_2_30(path):
    _declared_size_model(path, "UpSampling1D", {"size": 2**30}, [3, 4])


@case("refused", predict=(1, 1, 4))
def onnx_pad_2_30(path):
    from onnx import TensorProto, helper, numpy_helper

    _onnx(path.with_suffix(".onnx"), [helper.make_node("Pad", ["x", "pads"], ["y"])],
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
          [numpy_helper.from_array(np.array([0, 0, 2**30, 0, 0, 2**30], np.int64), "pads")])


@case("refused", predict=(1, 1, 4, 4))
def onnx_resize_scales_2_15(path):
    from onnx import TensorProto, helper, numpy_helper

    _onnx(path.with_suffix(".onnx"), [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
          [numpy_helper.from_array(np.array([1, 1, 2**15, 2**15], np.float32), "scales")])


@case("refused", predict=(1, 1, 4, 4))
def onnx_conv_pads_2_30(path):
    from onnx import TensorProto, helper, numpy_helper

    _onnx(path.with_suffix(".onnx"), [helper.make_node("Conv", ["x", "w"], ["y"], pads=[2**30, 2**30, 2**30, 2**30])],
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
          [numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")])


# -- the tensor tier: sizes and trip counts computed from the input at run time -----------------


def _run_time_count(x: str, power: int, out: str) -> list:
    """Nodes making `out` = int64(x * 2**power): a count the file computes from the input (x = 1)."""
    from onnx import helper, numpy_helper

    scale = helper.make_node("Constant", [], [f"{out}_scale"], value=numpy_helper.from_array(np.array(2.0**power, np.float32)))
    return [scale, helper.make_node("Mul", [x, f"{out}_scale"], [f"{out}_f"]),
            helper.make_node("ReduceMax", [f"{out}_f"], [f"{out}_max"], keepdims=0),
            helper.make_node("Cast", [f"{out}_max"], [out], to=7)]


@case("refused", predict=(1,))
def onnx_loop_trip_count_2_62_from_the_input(path):
    """A Loop whose trip count is computed from the input and whose body computes: the per-call
    node bound (Limits.max_run_nodes) ends it."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])])
    nodes = _run_time_count("x", 62, "M") + [
        helper.make_node("Constant", [], ["go"], value=helper.make_tensor("t", TensorProto.BOOL, [], [True])),
        helper.make_node("Loop", ["M", "go", "x"], ["y"], body=body)]
    _onnx(path.with_suffix(".onnx"), nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])


@case("refused", predict=(1,))
def onnx_range_of_2_40_from_the_input(path):
    from onnx import TensorProto, helper, numpy_helper

    nodes = _run_time_count("x", 40, "limit") + [helper.make_node("Range", ["zero", "limit", "one"], ["y"])]
    _onnx(path.with_suffix(".onnx"), nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
          [helper.make_tensor_value_info("y", TensorProto.INT64, None)],
          [numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array(1, np.int64), "one")])


@case("refused", predict=(1,))
def onnx_tile_by_2_40_from_the_input(path):
    from onnx import TensorProto, helper

    nodes = _run_time_count("x", 40, "times") + [helper.make_node("Reshape", ["times", "shape1"], ["repeats"]),
                                                  helper.make_node("Tile", ["x", "repeats"], ["y"])]
    from onnx import numpy_helper

    _onnx(path.with_suffix(".onnx"), nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(np.array([1], np.int64), "shape1")])


@case("refused", predict=(1,))
def onnx_sequence_of_2_26_items_from_the_input(path):
    """SplitToSequence of 2**26 int8 zeros (64 MB, within the budget) into one item each: the items'
    overhead (128 bytes each) is admitted before any list of them is made (8.6 GB: refused)."""
    from onnx import TensorProto, helper, numpy_helper

    zero = numpy_helper.from_array(np.zeros(1, np.int8))
    nodes = _run_time_count("x", 26, "n") + [helper.make_node("Reshape", ["n", "shape1"], ["dims"]),
                                             helper.make_node("ConstantOfShape", ["dims"], ["zeros"], value=zero),
                                             helper.make_node("SplitToSequence", ["zeros", "one"], ["seq"], keepdims=0),
                                             helper.make_node("SequenceLength", ["seq"], ["count"]),
                                             helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
                                             helper.make_node("Add", ["x", "count_f"], ["y"])]
    _onnx(path.with_suffix(".onnx"), nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
          [numpy_helper.from_array(np.array([1], np.int64), "shape1"), numpy_helper.from_array(np.array(1, np.int64), "one")])


def make(name: str, directory: Path) -> Path:
    """Write case `name` into `directory`; return its file."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / name
    for existing in directory.glob(name + ".*"):
        return existing
    CASES[name][0](stem)
    return next(directory.glob(name + ".*"))


def run_one(name: str, directory: Path) -> dict:
    """Load case `name` (and predict, if it loads and has an input shape): outcome, time, peak memory."""
    import npinfer

    path = make(name, directory)
    start = time.perf_counter()
    outcome = {"case": name, "file": str(path)}
    try:
        model = npinfer.load(path)
        shape = CASES[name][2]
        if shape is not None:
            model.predict(np.ones(shape, np.float32))
        outcome.update(outcome="ok")
    except npinfer.NpinferError as err:
        outcome.update(outcome="refused", error=type(err).__name__, message=str(err))
    except BaseException as err:  # a finding: anything but an NpinferError
        outcome.update(outcome="crashed", error=type(err).__name__, message=str(err)[:2000])
    outcome["seconds"] = round(time.perf_counter() - start, 2)
    outcome["peak_bytes"] = peak_bytes()
    return outcome


def peak_bytes() -> int:
    """This process's peak resident memory: VmHWM, which exec resets (ru_maxrss keeps the peak of
    the process that forked it, so a large parent would be counted), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_limited(name: str, directory: Path, timeout: float = 120) -> dict:
    """run_one in a fresh interpreter limited to ADDRESS_SPACE bytes of address space."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    try:
        done = subprocess.run([sys.executable, __file__, "--run", name, "--out", str(directory)], capture_output=True,
                              text=True, timeout=timeout, preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        return {"case": name, "outcome": "hung", "seconds": timeout}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"case": name, "outcome": "crashed", "error": f"exit {done.returncode}", "message": done.stderr[-2000:]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--run", metavar="CASE")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a case may run (--report)")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.out)))
    elif args.report:
        for name in CASES:
            make(name, args.out)
            result = run_limited(name, args.out, args.timeout)
            print(f"{name:45s} {result['outcome']:8s} {result.get('seconds', 0):6.2f} s "
                  f"{result.get('peak_bytes', 0) / 2**20:7.0f} MiB  {result.get('message', '')[:150]}")
    else:
        for name in CASES:
            print(make(name, args.out))


if __name__ == "__main__":
    main()
