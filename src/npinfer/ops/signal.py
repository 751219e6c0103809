"""ONNX operators, signal processing: DFT, STFT (tensor tier). See ops/registry.py for the operator contract."""

from __future__ import annotations
