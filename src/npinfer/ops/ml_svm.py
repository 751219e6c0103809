"""ONNX operators, ai.onnx.ml support vector machines: SVMClassifier, SVMRegressor (tensor tier). See ops/registry.py for the operator contract."""

from __future__ import annotations
