"""Build, briefly train, save and record every zoo case with one Keras flavor.

    python tests/generate_fixtures.py --flavor keras3 --out DIR [--cases a,b] [--golden]

For each case writes DIR/<case>/ with model.keras, model.h5, data.npz (inputs, Keras's
outputs, npinfer.from_keras's outputs, optional per-layer outputs) and meta.json; and
DIR/activations.npz with Keras's activation functions evaluated on a grid. The test
session runs this once per flavor, both flavors in parallel (see conftest.py);
`make_golden_fixtures.py` runs it for the small committed set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import custom_layers  # noqa: E402,F401  (registers the NumPy side of the custom layer case)
import zoo  # noqa: E402

# (name, parameters in npinfer's spelling): evaluated by each flavor's keras.activations.
ACTIVATION_CALLS = [
    ("relu", {}), ("relu", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
    ("relu", {"max_value": 6.0}), ("relu", {"threshold": -1.0}), ("relu", {"negative_slope": 0.2, "threshold": 0.5}),
    ("relu", {"negative_slope": 0.3}), ("relu", {"max_value": 1.0, "negative_slope": 0.2}),
    ("gelu", {"approximate": True}), ("gelu", {"approximate": False}),
    ("elu", {"alpha": 0.5}), ("softmax", {"axis": 1}), ("softmax", {"axis": -1}),
    ("linear", {}), ("relu6", {}), ("selu", {}), ("sigmoid", {}), ("hard_sigmoid", {}), ("tanh", {}),
    ("softplus", {}), ("softsign", {}), ("mish", {}), ("exponential", {}),
]
KERAS3_ONLY_CALLS = [
    ("leaky_relu", {"negative_slope": 0.05}), ("celu", {"alpha": 2.0}), ("log_softmax", {"axis": 0}),
    ("soft_shrink", {"threshold": 1.0}), ("hard_shrink", {"threshold": 1.0}), ("squareplus", {"b": 2}),
    ("sparsemax", {"axis": 1}), ("glu", {"axis": 1}), ("silu", {}), ("hard_silu", {}), ("hard_tanh", {}),
    ("tanh_shrink", {}), ("log_sigmoid", {}), ("sparse_plus", {}), ("sparse_sigmoid", {}), ("log_softmax", {}),
]


def activation_calls(flavor: str) -> list[tuple[str, dict]]:
    return ACTIVATION_CALLS + (KERAS3_ONLY_CALLS if flavor == "keras3" else [])


def import_keras(flavor: str):
    import absl.logging

    absl.logging.set_verbosity("error")  # Keras warns that .h5 is a legacy format: we write it on purpose
    if flavor == "keras3":
        import keras
    else:
        import tf_keras as keras
    return keras


def example_inputs(model, batch: int, rng: np.random.Generator, data: str = "normal") -> list[np.ndarray]:
    """Random inputs for every model input: normal floats, zero-padded sequences, or token ids."""
    arrays = []
    fixed_batch = model.inputs[0].shape[0]
    batch = fixed_batch or batch
    for tensor in model.inputs:
        shape = [batch] + [zoo.VARIABLE_TIME.get(batch, 6) if d is None else int(d) for d in tuple(tensor.shape)[1:]]
        if "int" in str(tensor.dtype):
            ids = rng.integers(1, 20, size=shape)
            lengths = rng.integers(1, shape[1] + 1, size=batch)
            ids[np.arange(shape[1])[None, :] >= lengths[:, None]] = 0  # right padding with id 0
            arrays.append(ids.astype(np.int32))
            continue
        x = rng.normal(size=shape).astype(np.float32)
        if data in ("right_padded", "left_padded") and len(shape) == 3:
            lengths = rng.integers(1, shape[1] + 1, size=batch)
            steps = np.arange(shape[1])[None, :]
            padded = steps >= lengths[:, None] if data == "right_padded" else steps < shape[1] - lengths[:, None]
            x[padded] = 0.0
        arrays.append(x)
    return arrays


def outputs_of(result) -> list[np.ndarray]:
    """Model outputs as a flat list (tf-keras nests stacked-cell states)."""
    if isinstance(result, (list, tuple)):
        return [leaf for item in result for leaf in outputs_of(item)]
    return [np.asarray(result)]


def perturbed(weight, name: str, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, 0.3, weight.shape).astype(weight.dtype)
    if "variance" in name:  # keep variances positive
        return np.abs(weight + noise) + 0.1
    if name.endswith("count"):
        return weight
    return weight + noise


def outputs_of_tensors(output) -> list:
    if isinstance(output, (list, tuple)):
        return [leaf for item in output for leaf in outputs_of_tensors(item)]
    return [output]


def briefly_train(k, model, case: zoo.Case, rng: np.random.Generator) -> None:
    """Random non-zero weights (biases too), then a few Adam steps, so no gate is symmetric."""
    if case.adapt:
        for layer in model.layers:
            if type(layer).__name__ == "Normalization":
                sample = example_inputs(model, 32, rng, case.data)[0]
                layer.adapt((sample * 2.0 + 0.5).astype(np.float32))
    names = [getattr(w, "path", None) or w.name for w in model.weights]
    model.set_weights([perturbed(w, n, rng) for w, n in zip(model.get_weights(), names)])
    for layer in model.layers:  # Normalization computes its statistics from its weights only here
        if type(layer).__name__ == "Normalization" and hasattr(layer, "finalize_state"):
            layer.finalize_state()
    if not model.trainable_weights:
        return
    x = example_inputs(model, 8, rng, case.data)
    y = [rng.normal(size=o.shape).astype(np.float32) for o in outputs_of(model(x if len(x) > 1 else x[0]))]
    if case.stateful:
        reset_states(model)
    model.compile(optimizer=k.optimizers.Adam(0.01), loss="mse", run_eagerly=True)
    model.fit(x if len(x) > 1 else x[0], y if len(y) > 1 else y[0], epochs=2, batch_size=x[0].shape[0] if case.stateful else 4,
              shuffle=not case.stateful, verbose=0)


def reset_states(model) -> None:
    if hasattr(model, "reset_states"):
        model.reset_states()
    else:  # Keras 3 keeps reset_states on the layers
        for layer in model.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()


STATEFUL_CALLS = ("call", "call", "call", "reset", "call")


def run_keras(model, inputs):
    return outputs_of(model(inputs if len(inputs) > 1 else inputs[0], training=False))


def layer_outputs(k, model, inputs) -> dict[str, np.ndarray]:
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    tensors, names = [], []
    for layer in layers:
        for j, t in enumerate(outputs_of_tensors(layer.output)):
            tensors.append(t)
            names.append(f"mid/{layer.name}/{j}")
    probe = k.Model(model.inputs, tensors)
    return dict(zip(names, run_keras(probe, inputs)))


def generate_case(case: zoo.Case, k, flavor: str, out: str) -> dict:
    import npinfer

    rng = np.random.default_rng(zlib.crc32(f"{case.name}/{flavor}".encode()))
    folder = os.path.join(out, case.name)
    os.makedirs(folder, exist_ok=True)
    model = case.build(k, flavor)
    meta = {"case": case.name, "flavor": flavor, "keras_version": k.__version__, "saved": []}
    if not case.refuse:
        briefly_train(k, model, case, rng)
    for ext in ("keras", "h5"):
        try:
            model.save(os.path.join(folder, f"model.{ext}"))
            meta["saved"].append(ext)
        except Exception as err:  # some refusal models cannot be written in both formats
            meta[f"save_error_{ext}"] = f"{type(err).__name__}: {err}"
    if case.refuse:
        return meta
    data = {}
    if case.stateful:
        record_stateful(k, model, case, rng, data, meta)
    else:
        for batch in zoo.BATCH_SIZES:
            inputs = example_inputs(model, batch, rng, case.data)
            for i, array in enumerate(inputs):
                data[f"x/{batch}/{i}"] = array
            for j, array in enumerate(run_keras(model, inputs)):
                data[f"keras/{batch}/{j}"] = array
        if case.intermediates:
            data.update(layer_outputs(k, model, [data[f"x/7/{i}"] for i in range(len(model.inputs))]))
        try:
            converted = npinfer.from_keras(model)
            for batch in zoo.BATCH_SIZES:
                inputs = [data[f"x/{batch}/{i}"] for i in range(len(model.inputs))]
                result = converted.predict(inputs if len(inputs) > 1 else inputs[0])
                for j, array in enumerate(result if isinstance(result, list) else [result]):
                    data[f"from_keras/{batch}/{j}"] = array
        except Exception as err:
            meta["from_keras_error"] = f"{type(err).__name__}: {err}"
    meta["n_inputs"] = len(model.inputs)
    meta["n_outputs"] = len(model.outputs)
    meta["param_count"] = int(model.count_params())
    meta["output_shapes"] = {
        layer.name: [list(t.shape) for t in outputs_of_tensors(layer.output)]
        for layer in model.layers if type(layer).__name__ not in ("InputLayer", "Sequential", "Functional")
    }
    if flavor == "keras3" and case.name in ONNX_CASES:
        meta["onnx"] = export_onnx(model, os.path.join(folder, "model.onnx"))
    np.savez(os.path.join(folder, "data.npz"), **data)
    return meta


# Keras 3 zoo models also written as ONNX by tf2onnx (tests/test_onnx_keras.py): LSTMs become ONNX
# LSTM nodes; SimpleRNN, GRU and LSTMs with other activations become Loop graphs, which npinfer
# unrolls when the sequence length is fixed and refuses (by name) when it is not (*_variable_time).
ONNX_CASES = (
    "lstm_default", "lstm_sequences", "lstm_backwards", "lstm_backwards_sequences", "lstm_state", "lstm_no_bias", "lstm_relu",
    "lstm_sigmoid_tanh_swap", "lstm_variable_time", "bidirectional_lstm_concat", "bidirectional_lstm_sum",
    "bidirectional_lstm_concat_sequences", "bidirectional_lstm_state", "bidirectional_lstm_none", "conv_bidirectional_lstm_dense",
    "conv1d_valid", "conv1d_same_strided", "conv1d_causal_dilated", "dense_on_sequences", "dense_bias", "batch_normalization",
    "article_simple_rnn", "gru_default", "gru_reset_before", "lstm_hard_sigmoid",
    "simplernn_default", "simplernn_sequences", "simplernn_backwards", "simplernn_relu", "simplernn_no_bias", "gru_sequences",
    "gru_backwards_sequences", "gru_no_bias", "gru_hard_sigmoid_reset_before", "gru_state", "bidirectional_gru_concat",
    "bidirectional_simplernn_sum", "stacked_lstm_gru_rnn", "embedding_gru_classifier", "simplernn_variable_time",
    "gru_variable_time",
)


def export_onnx(model, path: str) -> str:
    """Write `model` as ONNX with tf2onnx (opset 17); "ok" or the error."""
    try:
        import tensorflow as tf
        import tf2onnx

        model.output_names = [f"output_{i}" for i in range(len(model.outputs))]  # tf2onnx needs names on Keras 3
        spec = [tf.TensorSpec((None,) + tuple(i.shape[1:]), i.dtype, name=f"input_{k}") for k, i in enumerate(model.inputs)]
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
        with open(path, "wb") as handle:
            handle.write(proto.SerializeToString())
        return "ok"
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def record_stateful(k, model, case: zoo.Case, rng, data: dict, meta: dict) -> None:
    """Consecutive calls of a stateful model (state carried over), a reset, and one more call."""
    import npinfer

    reset_states(model)
    calls = []
    for step, action in enumerate(STATEFUL_CALLS):
        if action == "reset":
            reset_states(model)
            calls.append("reset")
            continue
        inputs = example_inputs(model, 4, rng, case.data)
        if model.inputs[0].shape[1] is None:  # a free time axis: vary the chunk length
            inputs = [rng.normal(size=(4, 2 + step, x.shape[2])).astype(np.float32) for x in inputs]
        data[f"stateful/{step}/x"] = inputs[0]
        for j, array in enumerate(run_keras(model, inputs)):
            data[f"stateful/{step}/keras/{j}"] = array
        calls.append("call")
    meta["stateful_calls"] = calls
    reset_states(model)
    try:
        converted = npinfer.from_keras(model)
        for step, action in enumerate(STATEFUL_CALLS):
            if action == "reset":
                converted.reset_states()
                continue
            for j, array in enumerate(outputs_of(converted.predict(data[f"stateful/{step}/x"]))):
                data[f"stateful/{step}/from_keras/{j}"] = array
    except Exception as err:
        meta["from_keras_error"] = f"{type(err).__name__}: {err}"


def activation_references(k, flavor: str, out: str) -> None:
    import tensorflow as tf  # both flavors run on TensorFlow; tf.keras's functions need tensors

    rng = np.random.default_rng(7)
    grid = np.linspace(-6.0, 6.0, 241, dtype=np.float32).reshape(1, 241)
    cube = (rng.normal(size=(4, 6, 8)) * 3).astype(np.float32)
    data = {"grid": grid, "cube": cube}
    for i, (name, params) in enumerate(activation_calls(flavor)):
        kwargs = dict(params)
        if flavor == "tf_keras" and name == "relu" and "negative_slope" in kwargs:
            kwargs["alpha"] = kwargs.pop("negative_slope")  # tf.keras spells it alpha
        x = cube if "axis" in params or name in ("softmax", "log_softmax", "sparsemax") else grid
        try:
            function = getattr(k.activations, name, None) or k.activations.get(name)  # tf.keras: relu6 via get
            data[f"{i}"] = np.asarray(function(tf.constant(x), **kwargs))
        except Exception as err:  # recorded; the test for this call fails with it
            data[f"{i}_error"] = np.frombuffer(f"{type(err).__name__}: {err}".encode(), np.uint8)
    np.savez(os.path.join(out, "activations.npz"), **data)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavor", choices=zoo.FLAVORS, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--golden", action="store_true", help="only the cases committed as golden fixtures")
    args = parser.parse_args(argv)

    start = time.time()
    k = import_keras(args.flavor)
    os.makedirs(args.out, exist_ok=True)
    selected = [c for c in zoo.CASES.values() if args.flavor in c.flavors]
    if args.golden:
        selected = [c for c in selected if c.golden]
    if args.cases:
        names = set(args.cases.split(","))
        selected = [c for c in selected if c.name in names]
    index = {"flavor": args.flavor, "keras_version": k.__version__, "cases": {}}
    for case in selected:
        try:
            index["cases"][case.name] = generate_case(case, k, args.flavor, args.out)
        except Exception:
            index["cases"][case.name] = {"case": case.name, "generator_error": traceback.format_exc()}
        k.backend.clear_session()
    if not args.golden:
        activation_references(k, args.flavor, args.out)
    index["seconds"] = round(time.time() - start, 1)
    with open(os.path.join(args.out, "index.json"), "w") as handle:
        json.dump(index, handle, indent=1)
    print(f"{args.flavor}: {len(selected)} cases in {index['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
