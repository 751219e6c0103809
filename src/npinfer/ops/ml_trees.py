"""ONNX operators, ai.onnx.ml tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor, TreeEnsemble (tensor tier). See ops/registry.py for the operator contract."""

from __future__ import annotations
