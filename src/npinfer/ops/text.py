"""ONNX operators, strings and text: StringConcat, StringSplit, StringNormalizer, TfIdfVectorizer (tensor tier). See ops/registry.py for the operator contract."""

from __future__ import annotations
