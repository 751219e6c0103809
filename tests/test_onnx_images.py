"""ONNX Conv / ConvTranspose / MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool over
1, 2 and 3 spatial axes, and Resize (issue 14): torch modules written by torch.onnx.export,
run by npinfer against ONNX Runtime within 1e-5 (and exported). Resize modes npinfer cannot
match exactly are refused by name."""

from __future__ import annotations

import importlib.util
import io
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.nn import functional

import npinfer
from npinfer.export import export_script
from parity import as_list, assert_close

torch.set_num_threads(1)


class Interpolate(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, x):
        return functional.interpolate(x, **self.options)


class Pools3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 3, (2, 3, 3), padding=(0, 1, 1), stride=(1, 2, 1))

    def forward(self, x):
        h = self.conv(x)
        return nn.functional.max_pool3d(h, 2, stride=1), nn.functional.avg_pool3d(h, (1, 2, 2), padding=(0, 1, 1)), h.amax(dim=(2, 3, 4))


MODELS = {
    "cnn": (lambda: nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(6, 4, 3, stride=2, groups=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)),
            (3, 16, 16)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (3, 6, 5)),
    "conv_transpose1d_dilated": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=1, padding=2, dilation=2), (3, 9)),
    "conv1d_pooling": (lambda: nn.Sequential(nn.Conv1d(3, 4, 3, padding=2, dilation=2), nn.AvgPool1d(3, stride=2, padding=1),
                                             nn.MaxPool1d(2)), (3, 17)),
    "pools3d": (Pools3d, (2, 4, 6, 6)),
    "global_max": (lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.AdaptiveMaxPool2d(1)), (2, 5, 7)),
    "upsample_nearest": (lambda: nn.Upsample(scale_factor=(2, 3), mode="nearest"), (2, 4, 5)),
    "upsample_bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), (2, 4, 5)),
    "interpolate_bilinear_size": (lambda: Interpolate(size=(7, 9), mode="bilinear", align_corners=False), (2, 4, 5)),
    "upsample3d_nearest": (lambda: nn.Upsample(scale_factor=2, mode="nearest"), (2, 2, 3, 3)),
}


def _export(module, example) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), buffer, dynamo=False, input_names=["x"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}})
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_window_models_match_onnx_runtime(name, tmp_path):
    make, shape = MODELS[name]
    torch.manual_seed(7)
    module = make()
    data = _export(module, torch.randn(2, *shape))
    (tmp_path / "m.onnx").write_bytes(data)
    model = npinfer.load(tmp_path / "m.onnx")
    x = np.random.default_rng(1).normal(size=(5, *shape)).astype(np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})
    got = as_list(model.predict(x))
    assert len(got) == len(expected)
    for j, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, tolerance=1e-5, what=f"{name} output {j}")
    export_script(model, str(tmp_path / "m.py"))
    spec = importlib.util.spec_from_file_location(f"exported_{name}", tmp_path / "m.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for j, (a, e) in enumerate(zip(as_list(script.predict(x)), expected)):
        assert_close(a, e, tolerance=1e-5, what=f"{name} exported output {j}")


def test_resize_modes_the_layers_lack_run_on_the_tensor_tier(tmp_path):
    """align_corners has no Keras-style layer; the tensor tier's Resize matches torch."""
    module = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    x = torch.randn(2, 2, 4, 5)
    (tmp_path / "m.onnx").write_bytes(_export(module, x))
    model = npinfer.load(tmp_path / "m.onnx")
    assert type(model).__name__ == "TypedModel"
    np.testing.assert_allclose(model.predict(x.numpy()), module(x).numpy(), rtol=1e-5, atol=1e-5)
