"""Fuzzing npinfer's loaders with mutated real model files.

Each case takes a real fixture (a Keras 3 or tf-keras `.keras` / `.h5`, or an npinfer
`.npz`), mutates it (truncation, bit flips, shuffled or deleted zip members, config JSON
with wrong types, missing / extra / mis-shaped / huge / NaN weights, non-UTF-8 names) — or,
in a share of the cases, makes it a bomb (HOSTILE_CLASSES: zip members whose headers lie about
their size, low-ratio JSON bombs, unwritten or gzip-compressed HDF5 datasets, ONNX constant
folding and Loop bombs, huge sizes declared in configs, chains of up to 20,000 layers) — then
loads it and, if it loads, predicts on a small input. The only acceptable outcomes are
success or an NpinferError: any other exception, a hang (each case is time-bounded) or a
memory blow-up (the address space is limited) is a finding.

    python tests/fuzz.py --cases 20000 --seed 1          # a longer campaign (see SECURITY.md)
    python tests/fuzz.py --replay 1:4711                  # one case again: seed:case
    python tests/fuzz.py --cases 300 --hostile-share 1    # bombs only
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path

import numpy as np

import hostile  # the bomb makers, shared with tests/test_hostile_files.py

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES = [
    ("keras3", "article_simple_rnn"), ("keras3", "functional_two_inputs_two_outputs"), ("tf_keras", "lstm_default"),
    ("tf_keras", "gru_reset_before"), ("keras3", "lstm_variable_time"), ("tf_keras", "functional_two_inputs_two_outputs"),
]
CASE_SECONDS = 10
MEMORY_LIMIT = 2 << 30  # the issue's `prlimit --as 2 GB`
WEIRD_VALUES = [None, True, -1, 0, 2**63, 1e308, float("nan"), "", "x" * 10, "\udcff", [], {}, [None], {"a": 1}, [[[]]]]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a case ran longer than {CASE_SECONDS} s")


# -- mutations --------------------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
    return bytes(mutated)


def mutate_json_value(value, rng: random.Random, depth: int = 0):
    """Replace one randomly chosen value somewhere in a JSON document."""
    if isinstance(value, dict) and value and (depth < 2 or rng.random() < 0.8):
        key = rng.choice(list(value))
        choice = rng.random()
        copy = dict(value)
        if choice < 0.1:
            del copy[key]
        elif choice < 0.15:
            copy["unexpected_option"] = rng.choice(WEIRD_VALUES)
        else:
            copy[key] = mutate_json_value(value[key], rng, depth + 1)
        return copy
    if isinstance(value, list) and value and (depth < 2 or rng.random() < 0.8):
        copy = list(value)
        index = rng.randrange(len(copy))
        if rng.random() < 0.15:
            del copy[index]
        else:
            copy[index] = mutate_json_value(copy[index], rng, depth + 1)
        return copy
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return rng.choice([value * 1000003, -value, 10**12, 0])
    return rng.choice(WEIRD_VALUES)


def rezip(data: bytes, rng: random.Random, edit) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    members = edit(members, rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return out.getvalue()


def shuffle_members(members, rng):
    rng.shuffle(members)
    return members


def delete_member(members, rng):
    if members:
        members.pop(rng.randrange(len(members)))
    return members


def rename_member(members, rng):
    if members:
        i = rng.randrange(len(members))
        members[i] = (members[i][0].encode("utf-8", "surrogateescape")[:-1].decode("latin-1") + "\u00ff", members[i][1])
    return members


def json_member(name_suffix: str):
    def edit(members, rng):
        out = []
        for name, content in members:
            if name.endswith(name_suffix):
                try:
                    document = json.loads(content)
                    content = json.dumps(mutate_json_value(document, rng)).encode()
                except (ValueError, RecursionError):
                    content = flip_bits(content, rng)
            out.append((name, content))
        return out
    return edit


def npz_config(members, rng):
    """Mutate the JSON config inside an npinfer .npz."""
    out = []
    for name, content in members:
        if name == "npinfer_config.npy":
            array = np.load(io.BytesIO(content), allow_pickle=False)
            document = mutate_json_value(json.loads(array.tobytes()), rng)
            buffer = io.BytesIO()
            np.save(buffer, np.frombuffer(json.dumps(document).encode(), np.uint8))
            content = buffer.getvalue()
        out.append((name, content))
    return out


def npz_weight(members, rng):
    """Replace one weight array: NaN, wrong shape, wrong dtype, huge declared shape, objects."""
    out = []
    weights = [n for n, _ in members if n.startswith("w")]
    target = rng.choice(weights) if weights else None
    for name, content in members:
        if name == target:
            array = np.load(io.BytesIO(content), allow_pickle=False)
            kind = rng.randrange(5)
            buffer = io.BytesIO()
            if kind == 0:
                np.save(buffer, np.full_like(array, np.nan))
            elif kind == 1:
                np.save(buffer, np.zeros(array.size + 1, array.dtype))
            elif kind == 2:
                np.save(buffer, array.astype(np.int8))
            elif kind == 3:  # a header declaring 10^12 floats over a tiny payload
                header = {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
                np.lib.format.write_array_header_1_0(buffer, header)
                buffer.write(b"\0" * 16)
            else:
                np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
            content = buffer.getvalue()
        out.append((name, content))
    return out


def h5_edit(path: Path, rng: random.Random) -> None:
    """Edit a legacy .h5 in place with h5py (test-only): config, weight names, shapes, NaN, huge."""
    import h5py

    with h5py.File(path, "r+") as handle:
        kind = rng.randrange(5)
        if kind == 0:
            config = json.loads(handle.attrs["model_config"])
            handle.attrs["model_config"] = json.dumps(mutate_json_value(config, rng))
            return
        groups = [g for g in handle["model_weights"].values() if len(g.attrs.get("weight_names", [])) > 0]
        if not groups:
            return
        group = rng.choice(groups)
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        name = rng.choice(names)
        if kind == 1:
            group.attrs["weight_names"] = np.array([n.encode() for n in names[:-1] + ["missing/kernel:0"]])
        elif kind == 2:
            data = group[name][()]
            del group[name]
            group[name] = np.full(data.shape, np.nan, data.dtype) if rng.random() < 0.5 else np.zeros(data.size + 3, data.dtype)
        elif kind == 3:  # a dataset declaring a huge shape (chunked, nothing written: the file stays small)
            del group[name]
            group.create_dataset(name, shape=(1 << 20, 1 << 20), dtype="float32", chunks=(1, 1024))
        else:
            group.attrs["weight_names"] = np.array([b"\xff\xfe" + n.encode() for n in names])


def flip_varint_bytes(data: bytes, rng: random.Random) -> bytes:
    """Set a few bytes to values that make protobuf lengths and tags large or odd."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x3A])
    return bytes(out)


# -- hostile mutation classes (issue 18): bombs rather than damage ---------------------------------


def lying_sizes(data: bytes, rng: random.Random) -> bytes:
    """Rewrite the uncompressed size one member's headers declare (local and central) to a random
    smaller or larger value: the data then expands past, or stops short of, what is declared."""
    lie = rng.choice([lambda size: 0, lambda size: 1, lambda size: size // 7, lambda size: size * 3 + 1,
                      lambda size: 2**32 - 1])
    return hostile.redeclare_size(rezip(data, rng, lambda m, r: m), lie)


def json_bomb(rng: random.Random) -> bytes:
    """A JSON document that compresses poorly-to-moderately and parses into many objects: lists,
    objects, numbers or strings, 1 to 40 MiB (around the config budget)."""
    unit = rng.choice([b"[[]],", b"{},", b"1.5,", b'"ab",', b'{"a":[1]},'])
    size = rng.choice([1, 8, 20, 40]) << 20
    return b"[" + unit * (size // len(unit)) + b"0]"


def config_bomb(members, rng):
    """config.json (a .keras) or npinfer_config (an .npz) replaced by a JSON bomb."""
    out = []
    for name, content in members:
        if name == "config.json":
            content = json_bomb(rng)
        elif name == "npinfer_config.npy":
            buffer = io.BytesIO()
            np.save(buffer, np.frombuffer(json_bomb(rng), np.uint8))
            content = buffer.getvalue()
        out.append((name, content))
    return out


HUGE_KEYS = ("n", "size", "padding", "units", "cropping", "strides", "pool_size", "kernel_size", "output_dim", "input_dim",
             "filters", "target_shape", "axis", "repeats")


def declared_sizes(members, rng):
    """Every size-like option in an npinfer config set to a huge number (2**20 .. 2**62)."""
    def huge(value):
        if isinstance(value, dict):
            return {k: (rng.choice([2**20, 2**30, 2**31 - 1, 2**62]) if k in HUGE_KEYS and rng.random() < 0.5 else huge(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [huge(v) for v in value]
        return value
    out = []
    for name, content in members:
        if name == "npinfer_config.npy":
            document = huge(json.loads(np.load(io.BytesIO(content), allow_pickle=False).tobytes()))
            buffer = io.BytesIO()
            np.save(buffer, np.frombuffer(json.dumps(document).encode(), np.uint8))
            content = buffer.getvalue()
        out.append((name, content))
    return out


def long_chain(rng: random.Random) -> bytes:
    """An npinfer .npz whose graph is a chain of 1,000 to 20,000 layers (maybe with a cycle)."""
    from npinfer.format import spec_bytes

    return spec_bytes(hostile.chain_spec(rng.choice([1000, 5000, 20000]), cycle=rng.random() < 0.3))


def onnx_bomb(rng: random.Random) -> bytes:
    """A small ONNX file that folds a huge constant (ConstantOfShape, Expand, a broadcasting Add)
    or unrolls a Loop with a huge trip count or a constant-true condition."""
    kind = rng.choice(["constant_of_shape", "expand", "add", "loop"])
    if kind == "loop":
        return hostile.loop_bomb(rng.choice([10**6, 2**62, None]))
    side = rng.choice([1 << 10, 1 << 14, 1 << 15, 1 << 20])
    return hostile.folding_bomb(kind, min(side, 1 << 15) if kind == "add" else side)


def h5_bomb(path: Path, rng: random.Random) -> None:
    """Replace one weight of a legacy .h5 by a dataset declared 64 MiB to 4 GiB and never written,
    or by gzip-compressed zeros: the file stays small."""
    import h5py

    with h5py.File(path, "r+") as handle:
        groups = [g for g in handle["model_weights"].values() if len(g.attrs.get("weight_names", [])) > 0]
        group = rng.choice(groups)
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        name = rng.choice(names)
        del group[name]
        if rng.random() < 0.5:
            group.create_dataset(name, shape=(rng.choice([1 << 24, 1 << 28, 1 << 30]),), dtype="float32", chunks=(1 << 16,))
        else:
            group.create_dataset(name, data=np.zeros(1 << 24, np.float32), chunks=(1 << 20,), compression="gzip")


HOSTILE_CLASSES = ("lying zip sizes", "json bomb", "declared sizes", "long chain", "onnx bomb", "h5 bomb")


def mutate(kind: str, data: bytes, rng: random.Random, workdir: Path) -> tuple[bytes, str]:
    """One mutated file of `kind` (keras, h5, npz) and a label of what was done."""
    generic = [("truncate", truncate), ("bit flips", flip_bits)]
    if rng.random() < HOSTILE_SHARE:  # one of the bombs (issue 18), made from scratch or from this seed
        return hostile_mutation(kind, data, rng, workdir)
    if kind == "keras":
        ops = generic + [
            ("shuffled members", lambda d, r: rezip(d, r, shuffle_members)),
            ("deleted member", lambda d, r: rezip(d, r, delete_member)),
            ("renamed member", lambda d, r: rezip(d, r, rename_member)),
            ("config json", lambda d, r: rezip(d, r, json_member("config.json"))),
            ("config json", lambda d, r: rezip(d, r, json_member("config.json"))),
            ("metadata json", lambda d, r: rezip(d, r, json_member("metadata.json"))),
            ("weights bit flips", lambda d, r: rezip(d, r, lambda m, rr: [(n, flip_bits(c, rr) if n.endswith(".h5") else c) for n, c in m])),
        ]
    elif kind == "npz":
        ops = generic + [
            ("shuffled members", lambda d, r: rezip(d, r, shuffle_members)),
            ("deleted member", lambda d, r: rezip(d, r, delete_member)),
            ("config json", lambda d, r: rezip(d, r, npz_config)),
            ("config json", lambda d, r: rezip(d, r, npz_config)),
            ("weight", lambda d, r: rezip(d, r, npz_weight)),
            ("weight", lambda d, r: rezip(d, r, npz_weight)),
        ]
    elif kind == "onnx":
        ops = generic + [("varint bytes", flip_varint_bytes)]
    else:
        ops = generic + [("h5 edit", None)] * 3
    label, op = rng.choice(ops)
    if op is None:
        path = workdir / "edit.h5"
        path.write_bytes(data)
        h5_edit(path, rng)
        return path.read_bytes(), label
    return op(data, rng), label


HOSTILE_SHARE = 0.05
CHAIN_SHARE = 0.005


def hostile_mutation(kind: str, data: bytes, rng: random.Random, workdir: Path) -> tuple[bytes, str]:
    """One hostile class applied to the seed (zip, .h5) or made from scratch (chains, ONNX bombs);
    the kind of the result is the seed's kind, except for the made ones (see run_case)."""
    if kind in ("keras", "npz"):
        label = rng.choice(["lying zip sizes", "json bomb"] + (["declared sizes"] * 2 if kind == "npz" else []))
        if label == "lying zip sizes":
            return lying_sizes(data, rng), label
        return rezip(data, rng, config_bomb if label == "json bomb" else declared_sizes), label
    if kind == "h5":
        path = workdir / "edit.h5"
        path.write_bytes(data)
        h5_bomb(path, rng)
        return path.read_bytes(), "h5 bomb"
    return onnx_bomb(rng), "onnx bomb"


# -- running ------------------------------------------------------------------------------------


def sources(workdir: Path) -> list[tuple[str, str, bytes]]:
    """(label, kind, bytes) of every seed file: .keras, .h5, and an .npz made from the .keras."""
    import npinfer

    out = []
    for flavor, case in SOURCES:
        for ext in ("keras", "h5"):
            out.append((f"{flavor}/{case}.{ext}", ext, (FIXTURES / flavor / case / f"model.{ext}").read_bytes()))
        npz = workdir / "seed.npz"
        npinfer.load(FIXTURES / flavor / case / "model.keras").save(npz)
        out.append((f"{flavor}/{case}.npz", "npz", npz.read_bytes()))
    return out + torch_sources(workdir) + [loop_source()]


def torch_sources(workdir: Path) -> list[tuple[str, str, bytes]]:
    """.npz files of PyTorch modules converted with from_torch: their configs hold the tensor
    operations (transpose, reshape, index, binary ops with constants, ...) and batch_axis."""
    import torch
    from test_torch_parity import Composed, TimeMajorRegressor

    import npinfer

    out = []
    torch.manual_seed(0)
    for make, example in ((Composed, torch.randn(3, 7, 4)), (TimeMajorRegressor, torch.randn(6, 5, 3))):
        npz = workdir / "seed.npz"
        module = make().eval()
        npinfer.from_torch(module, example).save(npz)
        out.append((f"torch/{make.__name__}.npz", "npz", npz.read_bytes()))
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=["x"], opset_version=17,
                              dynamic_axes={"x": {0: "a", 1: "b"}})
        out.append((f"torch/{make.__name__}.onnx", "onnx", buffer.getvalue()))
    return out


def loop_source() -> tuple[str, str, bytes]:
    """ONNX's Loop backend case (test_loop11) with its trip count and condition fixed in the file,
    as npinfer unrolls it: a Loop body with Unsqueeze, Slice, Add and a scan output."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = next(c for c in collect_testcases(None) if c.name == "test_loop11")
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs, _ = case.data_sets[0]
    fixed = [(info, value) for info, value in zip(model.graph.input, inputs) if info.name in ("trip_count", "cond")]
    for info, value in fixed:
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), info.name))
    kept = [info for info in model.graph.input if info.name not in ("trip_count", "cond")]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return "onnx/loop11.onnx", "onnx", model.SerializeToString()


def example_inputs(model) -> list:
    """One input per model input. Tensor-tier inputs may be rank 0, undeclared in shape (None),
    of any ONNX type, or sequences and optionals."""
    arrays = []
    for info in model.inputs:
        if info.dtype in ("sequence", "optional", "map"):
            arrays.append([np.ones(2, np.float32)] if info.dtype == "sequence" else None)
            continue
        dims = [None] if info.shape is None else list(info.shape)
        shape = ([2] + [3 if d is None else min(d, 64) for d in dims[1:]]) if dims else []
        try:
            dtype = np.dtype(info.dtype)
        except TypeError:  # a mutated Keras config may name no dtype: float data, and let predict judge
            dtype = np.dtype(np.float64)
        arrays.append(np.ones(shape, dtype) if dtype.kind in "iub" else np.random.default_rng(0).normal(size=shape).astype(dtype))
    return arrays


def run_case(seed: int, index: int, seeds, workdir: Path) -> dict | None:
    """Run one case; return a finding (dict) or None if it behaved."""
    import npinfer

    rng = random.Random(seed * 1_000_003 + index)
    label, kind, data = seeds[rng.randrange(len(seeds))]
    if rng.random() < CHAIN_SHARE:
        label, kind, (mutated, what) = "made", "npz", (long_chain(rng), "long chain")
    else:
        mutated, what = mutate(kind, data, rng, workdir)
    path = workdir / f"case.{kind}"
    path.write_bytes(mutated)
    signal.alarm(CASE_SECONDS)
    try:
        model = npinfer.load(path)
        inputs = example_inputs(model)
        model.predict(inputs if len(inputs) != 1 else inputs[0])
        return None
    except npinfer.NpinferError:
        return None
    except BaseException as err:  # noqa: BLE001 - every other exception is a finding
        return {"case": f"{seed}:{index}", "seed_file": label, "mutation": what, "error": f"{type(err).__name__}: {err}"[:500],
                "traceback": traceback.format_exc()[-1500:]}
    finally:
        signal.alarm(0)


def campaign(cases: int, seed: int, replay: tuple[int, int] | None = None) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seeds = sources(workdir)
        start = time.time()
        indices = [replay[1]] if replay else range(cases)
        seed = replay[0] if replay else seed
        findings = [f for f in (run_case(seed, i, seeds, workdir) for i in indices) if f]
    return {"cases": len(indices), "seconds": round(time.time() - start, 1), "findings": findings}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay", help="seed:case of one case to run again")
    parser.add_argument("--hostile-share", type=float, default=HOSTILE_SHARE, help="share of cases that are bombs")
    args = parser.parse_args(argv)
    replay = tuple(int(v) for v in args.replay.split(":")) if args.replay else None
    globals()["HOSTILE_SHARE"] = args.hostile_share
    report = campaign(args.cases, args.seed, replay)
    print(json.dumps(report, indent=1 if report["findings"] else None))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
