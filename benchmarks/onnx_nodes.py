"""The benchmark's LSTM(64) and GRU(64) as ONE ONNX LSTM / GRU node each (tf2onnx writes Keras's
GRU as a Loop over the steps): x (batch, time, features) -> Transpose -> node -> Y_h -> Squeeze.
npinfer and ONNX Runtime are timed on these files too; run.py checks them against Keras."""

from __future__ import annotations

import numpy as np

# Keras's gate blocks in ONNX's order: LSTM i, o, f, c from Keras's i, f, c, o; GRU z, r, h as they are
ONNX_BLOCKS = {"LSTM": [0, 3, 1, 2], "GRU": [0, 1, 2]}


def write_node_model(keras_model, path) -> bool:
    """Write the model's one LSTM / GRU layer as an ONNX node model at `path`; False if the model
    is not a single LSTM or GRU with default activations (GRU: reset_after)."""
    from onnx import TensorProto, helper, numpy_helper

    layers = [layer for layer in keras_model.layers if layer.__class__.__name__ != "InputLayer"]
    kind = layers[0].__class__.__name__ if len(layers) == 1 else None
    if kind not in ONNX_BLOCKS or layers[0].return_sequences or (kind == "GRU" and not layers[0].reset_after):
        return False
    kernel, recurrent, bias = layers[0].get_weights()
    units = recurrent.shape[0]
    order = np.concatenate([np.arange(b * units, (b + 1) * units) for b in ONNX_BLOCKS[kind]])
    w, r = kernel.T[order][None], recurrent.T[order][None]  # (1, G*units, features), (1, G*units, units)
    b = np.concatenate([bias[0], bias[1]]) if kind == "GRU" else np.concatenate([bias[order], np.zeros_like(bias)])
    initializers = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w, "W"), (r, "R"), (b[None], "B"))]
    attributes = {"hidden_size": units, **({"linear_before_reset": 1} if kind == "GRU" else {})}
    nodes = [helper.make_node("Transpose", ["x"], ["time_major"], perm=[1, 0, 2]),
             helper.make_node(kind, ["time_major", "W", "R", "B"], ["", "Y_h"], **attributes),
             helper.make_node("Squeeze", ["Y_h", "axis0"], ["output"])]
    initializers.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    steps, features = keras_model.inputs[0].shape[1:]
    graph = helper.make_graph(nodes, kind.lower(), [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", steps, features])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", units])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return True
