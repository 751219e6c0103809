"""The tensor tier: typed ONNX operators and the interpreter that runs a graph of them.

Values keep their ONNX type (bool, int8..int64, uint8..uint64, float16/32/64, rank 0 included),
shapes and axes may be computed at run time, If / Loop / Scan run with run-time conditions, and
whatever depends only on constants is folded once at load. `npinfer.load` takes this tier for an
ONNX file the layer tier refuses (an integer computation, a run-time shape, a control-flow node, an
operator with no Keras-style layer).

    registry.py     the operator table, the per-node Call (attributes, opset, budgets)
    values.py       ONNX element types <-> NumPy, sequences and optionals, value descriptions
    graph.py        TypedGraph: order, constant folding, running (subgraphs read outer values)
    model.py        TypedModel: predict, inputs / outputs with their declared types
    <family>.py     the operators, one family per file (elementwise, math, shape, reduce, nn,
                    recurrent, attention, causal_conv, control, quant, ml, ml_trees, ml_svm, signal, text)
"""

from __future__ import annotations

FAMILIES = ("elementwise", "math", "shape", "reduce", "nn", "recurrent", "attention", "causal_conv", "control", "quant",
            "ml", "ml_trees", "ml_svm", "signal", "text")


def load_families() -> None:
    """Import every operator family (each registers its operators on import)."""
    import importlib

    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
