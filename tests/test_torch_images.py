"""PyTorch modules over 2 and 3 spatial axes (issue 14) through from_torch, against torch itself
(briefly trained, compared on another batch size): nn.Conv2d / Conv3d (padding, strides,
dilation, groups, bias), nn.ConvTranspose1d / 2d (padding, output_padding, dilation),
nn.MaxPool / AvgPool 1-3d (padding, count_include_pad), nn.AdaptiveAvgPool2d, nn.BatchNorm2d,
and a small CNN; they export too. Refusals by module and option."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

import npinfer
from npinfer.export import export_script
from parity import as_list, assert_close
from test_torch_parity import check, conv_cases

torch.set_num_threads(1)


@pytest.mark.parametrize("padding,stride,dilation,groups,bias", list(conv_cases((0, (1, 2), "same", "valid"), (1, (2, 1)), (1, (1, 2)))))
def test_conv2d(padding, stride, dilation, groups, bias):
    torch.manual_seed(3)
    module = nn.Conv2d(4, 6, (3, 2), padding=padding, stride=stride, dilation=dilation, groups=groups, bias=bias)
    check(module, torch.randn(2, 4, 9, 8), torch.randn(3, 4, 9, 8))


@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 2), ("same", 1)])
def test_conv3d(padding, stride):
    torch.manual_seed(4)
    check(nn.Conv3d(2, 3, (2, 3, 2), padding=padding, stride=stride), torch.randn(2, 2, 5, 6, 5), torch.randn(3, 2, 5, 6, 5))


@pytest.mark.parametrize("padding,output_padding,stride,dilation", [(0, 0, 1, 1), (1, 0, 2, 1), (1, 1, 2, 1), (0, 1, 3, 1), (2, 0, 1, 2)])
@pytest.mark.parametrize("rank", [1, 2])
def test_conv_transpose(rank, padding, output_padding, stride, dilation):
    torch.manual_seed(5)
    module = (nn.ConvTranspose1d if rank == 1 else nn.ConvTranspose2d)(3, 4, 3, stride=stride, padding=padding,
                                                                       output_padding=output_padding, dilation=dilation)
    spatial = (7,) if rank == 1 else (5, 6)
    check(module, torch.randn(2, 3, *spatial), torch.randn(4, 3, *spatial))


POOLS = [(kind, rank, options) for kind in ("Max", "Avg") for rank in (1, 2, 3)
         for options in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1})] + [
    ("Avg", 2, {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": True})]


@pytest.mark.parametrize("kind,rank,options", POOLS)
def test_pooling(kind, rank, options):
    module = getattr(nn, f"{kind}Pool{rank}d")(**options)
    spatial = (9, 8, 7)[:rank]
    check(nn.Sequential(nn.Conv1d(2, 2, 1) if rank == 1 else getattr(nn, f"Conv{rank}d")(2, 2, 1), module),
          torch.randn(2, 2, *spatial), torch.randn(3, 2, *spatial))


@pytest.mark.parametrize("kind", ["Avg", "Max"])
@pytest.mark.parametrize("output_size", [1, (3, 2), (None, 4)])
def test_adaptive_average_pooling(output_size, kind):
    pool = getattr(nn, f"Adaptive{kind}Pool2d")(output_size)
    module = nn.Sequential(nn.Conv2d(3, 4, 1), pool, nn.Flatten(), nn.Linear(4 * {1: 1, (3, 2): 6, (None, 4): 24}[output_size], 2))
    check(module, torch.randn(2, 3, 6, 8), torch.randn(5, 3, 6, 8))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def test_small_cnn_matches_torch_and_exports(tmp_path):
    torch.manual_seed(6)
    module = SmallCNN()
    model, got = check(module, torch.randn(2, 3, 16, 16), torch.randn(5, 3, 16, 16))
    export_script(model, str(tmp_path / "cnn.py"))
    spec = importlib.util.spec_from_file_location("exported_cnn", tmp_path / "cnn.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    x = np.random.default_rng(0).normal(size=(5, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(x)).numpy()
    for a in as_list(script.predict(x)):
        assert_close(a, expected, tolerance=1e-5)


@pytest.mark.parametrize("module,word", [
    (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    (nn.AvgPool2d(3, padding=1, count_include_pad=False), "count_include_pad"),
    (nn.ConvTranspose2d(2, 4, 3, groups=2), "groups"),
    (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), "padding_mode"),
    (nn.AdaptiveAvgPool2d((4, 3)), "output_size"),
])
def test_refused_by_module_and_option(module, word):
    with pytest.raises(npinfer.UnsupportedOptionError, match=word):
        npinfer.from_torch(module.eval(), torch.randn(2, 2, 6, 8))
