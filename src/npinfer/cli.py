"""The `npinfer` command: thin argument parsing around the library.

Exit codes: 0 success, 1 error (one line on stderr), 2 usage error, 130 interrupted.
NPINFER_DEBUG=1 shows the traceback instead of the one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import numpy as np

from .version import __version__
from .errors import (InputError, ModelFormatError, NpinferError, ResourceLimitError, UnsupportedLayerError,
                     UnsupportedOptionError)

# Ordered: the first matching class decides the exit code and the label of the message.
ERROR_TABLE = [
    (ModelFormatError, 1, "cannot read the model"),
    (UnsupportedLayerError, 1, "unsupported layer"),
    (UnsupportedOptionError, 1, "unsupported option"),
    (ResourceLimitError, 1, "too large"),
    (InputError, 1, "bad input"),
    (NpinferError, 1, "error"),
    (OSError, 1, "file error"),
]


class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("npinfer: interrupted", file=sys.stderr)
        return 130
    except UsageError as err:
        parser.print_usage(sys.stderr)
        print(f"npinfer: usage error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # mapped to one line below; NPINFER_DEBUG=1 shows the traceback
        if os.environ.get("NPINFER_DEBUG"):
            traceback.print_exc()
        for kind, code, label in ERROR_TABLE:
            if isinstance(err, kind):
                print(f"npinfer: {label}: {_one_line(err)}", file=sys.stderr)
                return code
        print(f"npinfer: internal error: {type(err).__name__}: {_one_line(err)} "
              "(set NPINFER_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror or err}"
    return " ".join(str(err).split())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npinfer", description="Run trained Keras sequence models with NumPy alone.",
        epilog="Set NPINFER_DEBUG=1 to see tracebacks.")
    parser.add_argument("--version", action="version", version=f"npinfer {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="run the article's SimpleRNN example on bundled data")
    demo.add_argument("--plot", metavar="FILE", help="also draw the Keras-vs-npinfer scatter (needs matplotlib)")
    demo.set_defaults(run=run_demo)

    summary = commands.add_parser("summary", help="print the layers, shapes and parameter counts of a model")
    summary.add_argument("model", help=".keras, .h5, .onnx or .npz file")
    summary.set_defaults(run=run_summary)

    convert = commands.add_parser("convert", help="convert a .keras, .h5 or .onnx model to npinfer's .npz")
    convert.add_argument("model", help=".keras, .h5 or .onnx file")
    convert.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    convert.add_argument("--with-reference", action="store_true",
                         help="also store random inputs and Keras's outputs for them (needs Keras), for `verify` without Keras")
    convert.add_argument("--reference-samples", type=_positive_int, default=16, metavar="N")
    convert.set_defaults(run=run_convert)

    verify = commands.add_parser("verify", help="compare npinfer with Keras (or with the references stored in an .npz)")
    verify.add_argument("model", help=".keras, .h5, or .npz made with convert --with-reference")
    source = verify.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE", help=".npy, .npz or .csv inputs")
    source.add_argument("--random", type=_positive_int, metavar="N", help="N random samples")
    verify.add_argument("--tolerance", type=float, default=1e-5, help="largest |difference| / max(1, |reference|) (default 1e-5)")
    verify.add_argument("--plot", metavar="FILE", help="scatter (reference vs npinfer) and histogram of differences, as PNG")
    verify.add_argument("--look-back", type=_positive_int, metavar="N", help="CSV: sliding windows of N rows")
    verify.add_argument("--target", metavar="COLUMN", help="CSV: a column to leave out")
    verify.set_defaults(run=run_verify)

    export = commands.add_parser("export", help="write one standalone Python file that predicts with NumPy alone")
    export.add_argument("model", help=".keras, .h5, .onnx or .npz file")
    export.add_argument("-o", "--output", default="predict_model.py", metavar="FILE.py")
    export.add_argument("--weights", choices=["embedded", "sidecar"], default="embedded",
                        help="embedded in the file (compressed, base64), or a sidecar .npz beside it")
    export.set_defaults(run=run_export)

    trace = commands.add_parser("trace", help="show the computation inside for one sample, step by step")
    trace.add_argument("model", help=".keras, .h5, .onnx or .npz file")
    trace.add_argument("--input", required=True, metavar="FILE", help=".npy, .npz or .csv inputs")
    trace.add_argument("--sample", type=int, default=0, metavar="I", help="which sample (row) to trace (default 0)")
    trace.add_argument("--format", choices=["text", "json"], default="text")
    trace.add_argument("--plot", metavar="FILE", help="heatmaps of the recurrent states over time, as PNG")
    trace.add_argument("--look-back", type=_positive_int, metavar="N", help="CSV: sliding windows of N rows")
    trace.add_argument("--target", metavar="COLUMN", help="CSV: a column to leave out")
    trace.set_defaults(run=run_trace)

    predict = commands.add_parser("predict", help="predict from a .npy, .npz or .csv input")
    predict.add_argument("model", help=".keras, .h5, .onnx or .npz file")
    predict.add_argument("input", help=".csv, .parquet or .npy (streamed in chunks), .npz (arrays by input name), "
                         "or - for CSV on standard input")
    predict.add_argument("-o", "--output", metavar="FILE", help=".csv, .parquet, .npy or .npz (default: CSV on stdout)")
    predict.add_argument("--look-back", type=_positive_int, metavar="N",
                         help="CSV: build sliding windows of N rows over the feature columns")
    predict.add_argument("--target", metavar="COLUMN", help="CSV: a column to leave out (name, or 0-based position)")
    predict.add_argument("--batch-size", type=_positive_int, metavar="N", help=".npz input: predict in batches of N samples (streamed files use --chunk-rows)")
    predict.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    predict.add_argument("--chunk-rows", type=_positive_int, default=100_000, metavar="N",
                         help="rows read per chunk for .csv / .npy / .parquet input, rounded down to a multiple of 4096 (default 100000)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--dask", metavar="SCHEDULER",
                         help="run on a Dask cluster: its scheduler address, or local:N for N local worker processes")
    predict.set_defaults(run=run_predict)

    serve = commands.add_parser("serve", help="serve models over HTTP: KServe v2 (Triton clients) and TF Serving REST, "
                                "with dynamic batching (needs npinfer[serve])")
    serve.add_argument("models", nargs="+", metavar="MODEL", help=".keras, .h5, .onnx or .npz file(s); served under the file stem")
    serve.add_argument("--name", action="append", metavar="NAME", help="the name to serve a model under (once per MODEL, in order)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--max-batch-size", type=_positive_int, default=32, metavar="N",
                       help="rows gathered into one predict (default 32; 1 turns batching off)")
    serve.add_argument("--max-delay-ms", type=float, default=2.0, metavar="MS",
                       help="how long the oldest request waits for others to join its batch (default 2)")
    serve.add_argument("--max-queue", type=_positive_int, default=1024, metavar="N",
                       help="requests waiting per model before answering 503 (default 1024)")
    serve.add_argument("--max-body-mb", type=float, default=64, metavar="MB", help="largest request body (default 64; 413 past it)")
    serve.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    serve.set_defaults(run=run_serve)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def run_demo(args) -> int:
    from . import demo

    _refuse_overwriting([demo.data_path(name) for name in demo.FILES], [args.plot])
    result = demo.run()
    demo.report(result)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("npinfer: --plot needs matplotlib: pip install matplotlib (or pip install 'npinfer[plot]')", file=sys.stderr)
            return 1
        demo.plot(result, args.plot)
        print(f"scatter plot written to {args.plot}")
    return 0 if result.largest_difference <= 1e-5 else 1


def run_summary(args) -> int:
    from . import load

    load(args.model).summary()
    return 0


def run_convert(args) -> int:
    from . import load

    _refuse_overwriting([args.model], [args.output])
    model = load(args.model)
    note = ""
    if args.with_reference:
        from .verify import keras_available, keras_outputs, random_inputs

        framework = model.spec.source.get("framework")
        if framework != "keras":
            kind = {"onnx": "an ONNX", "pytorch": "a PyTorch"}.get(framework, "a non-Keras")
            raise NpinferError(f"--with-reference runs the model in Keras; this is {kind} model "
                               "(convert it without --with-reference, or convert the .keras / .h5 file it came from)")
        if not keras_available():
            raise NpinferError("--with-reference runs the model in Keras, which is not installed here")
        inputs = random_inputs(model, args.reference_samples)
        model.spec.references = {"inputs": inputs, "outputs": keras_outputs(args.model, model.spec.source.get("version", "3"), inputs)}
        note = f", and {args.reference_samples} reference samples from Keras"
    model.save(args.output)
    print(f"wrote {args.output}: {len(model.layers)} layers, {model.param_count:,} parameters{note}")
    return 0


def _model_inputs(args, model):
    """Inputs from --input (with CSV windows), as a list of arrays, checked like predict's."""
    from .datafiles import read_input

    data = read_input(args.input, look_back=args.look_back, target=args.target)
    return model.prepare_inputs(data)


def run_verify(args) -> int:
    from . import load
    from .verify import compare, keras_available, keras_outputs, plot, random_inputs

    _refuse_overwriting([args.model, args.input], [args.plot])
    model = load(args.model)
    stored = model.spec.references
    if args.input:
        inputs = _model_inputs(args, model)
    elif args.random:
        inputs = random_inputs(model, args.random)
    else:
        inputs = [np.asarray(a) for a in stored["inputs"]] if stored else random_inputs(model, 16)
    from .importers import file_kind

    is_keras_file = file_kind(args.model) in ("keras", "h5")
    if keras_available() and is_keras_file:
        expected = keras_outputs(args.model, model.spec.source.get("version", "3"), inputs)
        where = f"Keras {model.spec.source.get('version', '?')}"
    elif stored:
        if args.input or args.random:
            raise NpinferError("the stored references cover the stored inputs only: leave out --input and --random "
                               "(or verify the .keras / .h5 file where Keras is installed)")
        expected = [np.asarray(a) for a in stored["outputs"]]
        where = "the references stored in the file"
    elif is_keras_file:
        raise NpinferError(f"{args.model}: Keras is not installed here, so there is nothing to compare with; "
                           "where Keras is installed, run: npinfer convert MODEL -o model.npz --with-reference")
    else:
        raise NpinferError(f"{args.model} holds no stored references; make it with: npinfer convert MODEL -o model.npz --with-reference")
    result = model.predict(inputs if len(inputs) > 1 else inputs[0])
    got = result if isinstance(result, list) else [result]
    reports = compare(model.output_names, got, expected, args.tolerance)
    print(f"npinfer against {where} on {len(inputs[0])} sample(s), tolerance {args.tolerance:g}:")
    for report in reports:
        print("  " + report.line())
    if args.plot:
        plot(reports, got, expected, args.plot)
        print(f"plot written to {args.plot}")
    passed = all(r.passed for r in reports)
    print("verified: npinfer matches" if passed else "MISMATCH: npinfer differs beyond the tolerance")
    return 0 if passed else 1


def run_export(args) -> int:
    from . import load
    from .export import export_script, files_written

    _refuse_overwriting([args.model], files_written(args.output, args.weights))
    written = export_script(load(args.model), args.output, weights=args.weights, source_name=os.path.basename(args.model))
    print("wrote " + " and ".join(written))
    return 0


def run_trace(args) -> int:
    import json

    from . import load
    from .trace import plot, text_lines, to_json

    _refuse_overwriting([args.model, args.input], [args.plot])
    model = load(args.model)
    inputs = _model_inputs(args, model)
    record = model.trace(inputs if len(inputs) > 1 else inputs[0], sample=args.sample)
    if args.format == "json":
        print(json.dumps(to_json(record)))
    else:
        print("\n".join(text_lines(record)))
    if args.plot:
        plot(record, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def run_predict(args) -> int:
    from . import load
    from .batch import predict_file
    from .datafiles import read_input, write_output

    if args.output:
        _refuse_overwriting([args.model, args.input], [args.output])
    model = load(args.model, dtype=args.dtype)
    extension = ".csv" if args.input == "-" else os.path.splitext(args.input)[1].lower()
    table = extension in (".csv", ".parquet", ".pq")
    if not table and (args.look_back is not None or args.target is not None) and extension != ".npy":
        raise UsageError("--look-back and --target apply to table input (.csv, .parquet, .npy rows)")
    if table and args.look_back is None and any(len(t.shape) == 3 for t in model.inputs):
        shape = model.inputs[0].shape
        hint = f" (this model reads {shape[1]} steps: --look-back {shape[1]})" if shape[1] else ""
        raise UsageError(f"the model reads sequences (batch, time, features): give --look-back N for table input{hint}")
    # a tensor-tier graph is not known to treat rows independently: it predicts the whole input at once
    streamable = (len(model.inputs) == 1 and getattr(model, "tier", "layer") != "tensor" and extension != ".npz"
                  and not (args.output or "").lower().endswith(".npz"))
    if (streamable or args.dask) and args.batch_size is not None:
        raise UsageError("--batch-size applies to .npz input; streamed files are computed in fixed tiles "
                         "and read --chunk-rows rows at a time")
    if args.dask:
        from .dask import predict_file_on_dask

        written = predict_file_on_dask(model, args.input, args.output, args.dask, look_back=args.look_back,
                                       target=args.target, chunk_rows=args.chunk_rows, quiet=args.quiet)
    elif streamable:  # chunk by chunk: memory does not grow with the file
        written = predict_file(model, args.input, args.output, look_back=args.look_back, target=args.target,
                               chunk_rows=args.chunk_rows, quiet=args.quiet)
    else:
        data = read_input(args.input, look_back=args.look_back, target=args.target)
        result = model.predict(data, batch_size=args.batch_size)
        outputs = result if isinstance(result, list) else [result]
        write_output(args.output, outputs, model.output_names)
        written = len(outputs[0]) if np.ndim(outputs[0]) else 1
    if args.output:
        print(f"wrote {args.output}: {written:,} predictions", file=sys.stderr)
    return 0


def run_serve(args) -> int:
    from . import load
    from .serve import missing_extra, run

    hint = missing_extra()
    if hint:
        print(f"npinfer: {hint}", file=sys.stderr)
        return 1
    if args.name and len(args.name) != len(args.models):
        raise UsageError(f"give --name once per MODEL: {len(args.models)} model(s), {len(args.name)} name(s)")
    names = args.name or [os.path.splitext(os.path.basename(path))[0] for path in args.models]
    if len(set(names)) != len(names):
        raise UsageError(f"two models would be served under one name ({', '.join(names)}); give --name for each")
    if args.max_delay_ms < 0 or args.max_body_mb <= 0:
        raise UsageError("--max-delay-ms must be 0 or more and --max-body-mb more than 0")
    models = {name: load(path, dtype=args.dtype) for name, path in zip(names, args.models)}
    run(models, host=args.host, port=args.port, max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms,
        max_queue=args.max_queue, max_body_mb=args.max_body_mb)
    return 0


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (the same path, a link to it, or a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def _refuse_overwriting(reads: list, writes: list) -> None:
    """Every file a command writes (outputs, sidecars, plots) must be none of the files it reads
    and none of the other files it writes."""
    writes = [w for w in writes if w]
    for i, written in enumerate(writes):
        for read in reads:
            if read and read != "-" and _same_file(read, written):
                raise UsageError(f"the output {written} is the input file {read}; choose another name")
        for other in writes[:i]:
            if _same_file(other, written):
                raise UsageError(f"two outputs would be the same file {written}; choose other names")

if __name__ == "__main__":
    sys.exit(main())
