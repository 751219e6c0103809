"""ONNX's backend node suite, run through npinfer with the strict comparison of issue 20.

Every case of `onnx.backend.test.case.node.collect_testcases()` (generated from the installed
onnx package) is loaded and predicted; its outputs must have the expected dtype and shape, and
equal values (floats within rtol 1e-4 / atol 1e-5, NaN where NaN is expected; integers and bools
exactly). Each case is PASS, REFUSED (an NpinferError: npinfer says what it does not run) or
WRONG (a different dtype, shape or value, or any other exception) — a wrong answer is worse than
a refusal, so the target is WRONG = 0.

    python tests/onnx_backend.py              # counts, refusal reasons, and every WRONG case
    python tests/onnx_backend.py cast div     # only the cases whose names hold one of these words, each listed
    python tests/onnx_backend.py --readme     # the counts and the refusal table, as the README gives them
"""

from __future__ import annotations

import collections
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np


def cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases

        return [case for case in collect_testcases(None) if case.model is not None]


# Cases whose stored expected values are literals printed to 4 decimals (each within 5e-5 of
# round(x, 4)): they are compared within that rounding, atol 1e-4 (npinfer agrees with ONNX Runtime
# to 1e-6 on the first two; ONNX Runtime 1.32 has no RoiAlign-22 to compare the others with).
ROUNDED_EXPECTED = {"test_averagepool_2d_ceil_last_window_starts_on_pad", "test_gridsample_bicubic",
                    "test_roialign_aligned_false", "test_roialign_aligned_true"}


def compare(got, expected, atol: float = 1e-5) -> str | None:
    """Why `got` is not `expected` under the strict comparison, or None."""
    if isinstance(expected, np.generic):  # a few cases store a 0-d result as a NumPy scalar
        expected = np.asarray(expected)
    if type(expected).__name__ == "TensorProto":  # a few store a TensorProto (types NumPy lacks, or not)
        from onnx import numpy_helper

        expected = numpy_helper.to_array(expected)
    if expected is None:  # an empty optional
        return None if got is None else f"gave a {type(got).__name__}, expected no value (an empty optional)"
    if isinstance(expected, list):  # a sequence: a list of arrays, compared one by one
        if not isinstance(got, list) or len(got) != len(expected):
            return f"gave {type(got).__name__} of {len(got) if isinstance(got, list) else '-'}, expected a list of {len(expected)}"
        for i, (a, b) in enumerate(zip(got, expected)):
            why = compare(a, b, atol)
            if why:
                return f"item {i}: {why}"
        return None
    if not isinstance(got, np.ndarray):
        return f"gave a {type(got).__name__}, not an array"
    if not isinstance(expected, np.ndarray):
        return f"expected a {type(expected).__name__} (sequences and optionals are not arrays)"
    if got.dtype != expected.dtype:
        return f"dtype {got.dtype}, expected {expected.dtype}"
    if got.shape != expected.shape:
        return f"shape {got.shape}, expected {expected.shape}"
    if expected.dtype.kind in "fc":
        if not np.allclose(got, expected, rtol=1e-4, atol=atol, equal_nan=True):
            with np.errstate(all="ignore"):
                return f"values differ by up to {np.nanmax(np.abs(got.astype(np.float64) - expected)):.3g}"
        return None
    if not np.array_equal(got, expected):
        return "values differ"
    return None


def as_input(value):
    """A case's input as NumPy data: a few cases store a TensorProto (ONNX's own serialized tensor)."""
    if type(value).__name__ == "TensorProto":
        from onnx import numpy_helper

        return numpy_helper.to_array(value)
    return value


def run_case(case, directory: Path) -> tuple[str, str]:
    """("PASS" | "REFUSED" | "WRONG", detail) for one backend case."""
    import npinfer

    path = directory / f"{case.name}.onnx"
    path.write_bytes(case.model.SerializeToString())
    try:
        model = npinfer.load(path)
        for inputs, expected in case.data_sets:
            inputs = [as_input(value) for value in inputs]
            got = model.predict(list(inputs) if len(inputs) != 1 else inputs[0])
            got = [got] if len(model.output_names) == 1 else got  # one output may itself be a list (a sequence)
            if len(got) != len(expected):
                return "WRONG", f"{len(got)} outputs, expected {len(expected)}"
            for i, (a, b) in enumerate(zip(got, expected)):
                why = compare(a, b, 1e-4 if case.name in ROUNDED_EXPECTED else 1e-5)
                if why:
                    return "WRONG", f"output {i}: {why}"
        return "PASS", ""
    except npinfer.NpinferError as err:
        return "REFUSED", str(err).replace(str(path) + ": ", "")
    except Exception as err:  # noqa: BLE001 - anything else is wrong
        return "WRONG", f"{type(err).__name__}: {err}"[:300]
    finally:
        path.unlink(missing_ok=True)


def reason(detail: str) -> str:
    """A refusal's kind, for the counts: its text with names and numbers taken out."""
    text = re.sub(r"'[^']*'", "'…'", detail)
    text = re.sub(r"\d+", "N", text)
    return text[:90]


# The README's table of refusals: each refused case counted under the first kind its message matches.
KINDS = [
    ("float8 element types (float8e4m3fn / e4m3fnuz / e5m2 / e5m2fnuz / e8m0): NumPy has none", r"float8"),
    ("4-bit and 2-bit element types (int4, uint4, int2, uint2, float4e2m1)", r"\bu?int[42]\b|element type 2[1-6]|float4"),
    ("bfloat16: NumPy has none", r"bfloat16"),
    ("random and training-only operators and modes (Bernoulli, RandomUniformLike, Dropout and "
     "BatchNormalization in training mode, ai.onnx.preview.training)", r"Bernoulli|Random|training"),
    ("preview operators (ai.onnx.preview.FlexAttention)", r"ai\.onnx\.preview\.Flex"),
    ("ImageDecoder (decoding JPEG / PNG needs an image codec)", r"ImageDecoder"),
    ("RegexFullMatch (a regular expression from a file can take exponential time)", r"RegexFullMatch|regular expression"),
    ("opset 1 (npinfer runs ai.onnx opsets 7 to 28)", r"opsets? \d+ to \d+"),
    ("other operators not implemented yet", r"are not supported by npinfer"),
    ("other", r""),
]


def refusal_table(results: dict) -> list[str]:
    """Markdown rows: each kind of refusal, its count, and the operators or cases it covers."""
    counts: dict[str, list[str]] = {}
    for name, (outcome, detail) in sorted(results.items()):
        if outcome == "REFUSED":
            kind = next(k for k, pattern in KINDS if re.search(pattern, detail))
            counts.setdefault(kind, []).append(name)
    rows = ["| refused | cases |", "|---|---:|"]
    for kind, _ in KINDS:
        if kind in counts:
            names = counts[kind]
            detail = f" ({', '.join(n.removeprefix('test_') for n in names)})" if kind in ("other operators not implemented yet", "other") else ""
            rows.append(f"| {kind}{detail} | {len(names)} |")
    return rows


def run_all(words: list[str] | None = None) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in cases():
            if not words or any(word in case.name for word in words):
                results[case.name] = run_case(case, Path(tmp))
    return results


def main(words: list[str]) -> int:
    if words == ["--readme"]:  # the counts and the refusal table as the README gives them
        results = run_all(None)
        counts = collections.Counter(outcome for outcome, _ in results.values())
        print(f"{counts['PASS']:,} pass, {counts['REFUSED']:,} are refused by name, {counts['WRONG']} wrong")
        print("\n".join(refusal_table(results)))
        return 0
    results = run_all(words)
    counts = collections.Counter(outcome for outcome, _ in results.values())
    print(f"{len(results)} cases: PASS {counts['PASS']}, REFUSED {counts['REFUSED']}, WRONG {counts['WRONG']}")
    reasons = collections.Counter(reason(d) for o, d in results.values() if o == "REFUSED")
    print("\nrefusals by reason:")
    for text, count in reasons.most_common(40):
        print(f"{count:6d}  {text}")
    print("\nwrong:")
    for name, (outcome, detail) in sorted(results.items()):
        if outcome == "WRONG":
            print(f"  {name}: {detail}")
    if words:
        print("\nevery case:")
        for name, (outcome, detail) in sorted(results.items()):
            print(f"  {outcome:7s} {name}: {detail[:200]}")
    return 1 if counts["WRONG"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
