"""Models written out by torch.onnx.export (issue 20) run in npinfer as in PyTorch: a ResNet-style
CNN, a 2-layer GRU (one- and bidirectional) and a small nn.TransformerEncoder (with and without a
src_key_padding_mask), briefly trained, exported with dynamic batch (and time) axes, loaded with
npinfer.load (the layer tier takes the CNN and the GRU, the tensor tier the Transformer) and
compared with PyTorch's own output at batch 1, 3, 8 and time lengths 1, 5, 17: within 1e-5
(relative where |value| > 1). Files the layer tier takes run on the tensor tier as well. ONNX Runtime runs each file too, as a check of the export itself.

Both exporters run here, on the same trained modules:
- TorchScript exporter (`torch.onnx.export(..., dynamo=False, dynamic_axes=...)`), opsets 11 and 17.
- torch.export-based exporter (`torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`, onnxscript
  0.7.2), default opset 20, batch and time given as `torch.export.Dim(min=1)` (so examples of size >1
  are not specialised and size 1 still runs), `external_data=False` (by default it writes the
  weights to a side file, which npinfer refuses by name: ModelFormatError). It writes
  LayerNormalization, Gemm, Shape/Gather/Concat/Reshape chains and one GRU node; it keeps the
  Transformer's time axis truly dynamic: one file runs at every length 1, 5, 17. (For the GRU it
  annotates output y's time axis as the example's 5; ONNX Runtime only warns, values are right.)
  torch limitation: only the first nn.GRU exported with dynamo=True in a process keeps its time
  axis; every later GRU export (even after torch._dynamo.reset()) silently fixes it at the example's
  5 (input shape ['batch', 5, 4], no error, no warning). So only the bidirectional 2-layer GRU is
  exported with dynamo here (once per session); the unidirectional one runs the TorchScript files.
  `test_the_dynamo_exports_keep_batch_and_time_dynamic` checks the files' input shapes.

The TorchScript exporter fixes an nn.TransformerEncoder's sequence length at the example's
(pytorch/pytorch#110347, #117209: `k.view(k.shape[0], ...)` in F.multi_head_attention_forward is
exported as a Reshape to the constant example length, whatever dynamic_axes say), so ONNX Runtime
fails on any other length too. The Transformer is therefore exported once per time length, with a
dynamic batch axis; the file exported with a dynamic time axis is checked at its example length 5,
and at other lengths it must be refused with npinfer.InputError naming the Reshape (as ONNX Runtime
refuses it), never answered wrongly.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from parity import as_list, assert_close
from torch import nn

import npinfer
from npinfer.importers.onnx_proto import read_model
from npinfer.limits import current
from npinfer.ops.model import TypedModel

torch.set_num_threads(1)

BATCHES = (1, 3, 8)
LENGTHS = (1, 5, 17)


# -- the models ---------------------------------------------------------------------------------

class Block(nn.Module):
    """A ResNet basic block; a strided 1x1 conv + BatchNorm downsample where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):  # (batch, cin, h, w) -> (batch, cout, h/stride, w/stride)
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 5, 2, 2, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.blocks = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 5)

    def forward(self, x):  # (batch, 3, 16, 16) -> (batch, 5)
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class Encoder(nn.Module):
    """nn.TransformerEncoder(d_model 16, nhead 2, 2 layers, batch_first); forward(x[, padding mask])."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x, padding=None):  # (batch, time, 16), (batch, time) bool -> (batch, time, 16)
        return self.encoder(x, src_key_padding_mask=padding)


def _trained(module: nn.Module, *example: torch.Tensor, steps: int = 5) -> nn.Module:
    """A few SGD steps on random data (so BatchNorm running statistics and biases are not trivial)."""
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
    module.train()
    for _ in range(steps):
        out = module(*[torch.randn_like(t) if t.is_floating_point() else t for t in example])
        out = out[0] if isinstance(out, tuple) else out
        loss = (out ** 2).mean() + out.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return module.eval()


def _padding(rng, batch: int, time: int) -> np.ndarray:
    """src_key_padding_mask: True where a position is padding; every row keeps at least one step."""
    lengths = rng.integers(1, time + 1, batch)
    return np.arange(time)[None, :] >= lengths[:, None]  # (batch, time) bool


# -- export once per session --------------------------------------------------------------------

EXPORTERS = ("torchscript", "dynamo")


def _dynamo(path, module, example, dynamic) -> str:
    """torch.export-based export; `dynamic` maps each forward argument to {axis: "batch" | "time"}."""
    dims = {name: torch.export.Dim(name, min=1, max=64) for name in ("batch", "time")}
    shapes = {arg: {axis: dims[dim] for axis, dim in axes.items()} for arg, axes in dynamic.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), dynamo=True, dynamic_shapes=shapes, external_data=False,
                          verbose=False)
    return str(path)


def _export(path, module, example, names, outputs, dynamic, **options) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's TracerWarnings
        torch.onnx.export(module, example, str(path), dynamo=False, input_names=names, output_names=outputs,
                          dynamic_axes=dynamic, **options)
    return str(path)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """The trained CNN and its files: BatchNorm folded into the convs (EVAL) or kept as nodes (PRESERVE)."""
    torch.manual_seed(0)
    module = _trained(ResNet(), torch.randn(6, 3, 16, 16))
    folder = tmp_path_factory.mktemp("resnet")
    dynamic = {"x": {0: "batch"}, "y": {0: "batch"}}
    files = {}
    for mode in ("EVAL", "PRESERVE"):
        for opset in (11, 17):
            files[mode, opset] = _export(folder / f"{mode}{opset}.onnx", module, (torch.randn(2, 3, 16, 16),), ["x"], ["y"],
                                         dynamic, opset_version=opset, training=getattr(torch.onnx.TrainingMode, mode))
    files["dynamo"] = _dynamo(folder / "dynamo.onnx", module, (torch.randn(2, 3, 16, 16),), {"x": {0: "batch"}})
    return module, files


@pytest.fixture(scope="module")
def gru(tmp_path_factory):
    """Trained nn.GRU(4, 6, num_layers=2, batch_first) one- and bidirectional; outputs y and h_n."""
    folder = tmp_path_factory.mktemp("gru")
    models = {}
    for bidirectional in (False, True):
        torch.manual_seed(1)
        module = _trained(nn.GRU(4, 6, num_layers=2, bidirectional=bidirectional, batch_first=True), torch.randn(3, 5, 4))
        dynamic = {"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}, "h": {1: "batch"}}
        for opset in (11, 17):
            models[bidirectional, opset] = module, _export(folder / f"gru{bidirectional}{opset}.onnx", module,
                                                           (torch.randn(2, 5, 4),), ["x"], ["y", "h"], dynamic,
                                                           opset_version=opset)
        if bidirectional:  # see the module docstring: a second dynamo GRU export loses the time axis
            models[bidirectional, "dynamo"] = module, _dynamo(folder / f"gru{bidirectional}dynamo.onnx", module,
                                                              (torch.randn(2, 5, 4),), {"input": {0: "batch", 1: "time"}})
    return models


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """The trained Encoder, exported at each time length (the exporter fixes it), with a dynamic batch axis."""
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    module = _trained(Encoder(), torch.randn(3, 5, 16), torch.from_numpy(_padding(rng, 3, 5)))
    folder = tmp_path_factory.mktemp("encoder")
    files = {}
    for masked in (False, True):
        names = ["x", "padding"] if masked else ["x"]
        for time in LENGTHS:
            files[masked, time] = _export(folder / f"enc{masked}{time}.onnx", module, _example(rng, 2, time, masked), names,
                                          ["y"], {name: {0: "batch"} for name in names + ["y"]}, opset_version=17)
        files[masked, "time"] = _export(folder / f"enc{masked}time.onnx", module, _example(rng, 2, 5, masked), names,
                                        ["y"], {name: {0: "batch", 1: "time"} for name in names + ["y"]}, opset_version=17)
        dynamic = {"x": {0: "batch", 1: "time"}, "padding": {0: "batch", 1: "time"}} if masked else {"x": {0: "batch", 1: "time"}}
        files[masked, "dynamo"] = _dynamo(folder / f"enc{masked}dynamo.onnx", module, _example(rng, 2, 5, masked), dynamic)
    return module, files


def _example(rng, batch: int, time: int, masked: bool) -> tuple:
    """Encoder inputs as tensors: x (batch, time, 16) and, if masked, its padding mask."""
    x = torch.from_numpy(rng.standard_normal((batch, time, 16), dtype=np.float32))
    return (x, torch.from_numpy(_padding(rng, batch, time))) if masked else (x,)


# -- the comparison -----------------------------------------------------------------------------

def _tier(model) -> str:
    return getattr(model, "tier", "layer")


def _models(path: str) -> list:
    """npinfer.load's model and, where the layer tier took the file, the tensor tier's on it too."""
    loaded = npinfer.load(path)
    if _tier(loaded) == "tensor":
        return [loaded]
    with open(path, "rb") as handle:
        return [loaded, TypedModel(read_model(handle.read(), current(None), path), path)]


def _check(path: str, module: nn.Module, inputs: list, what: str) -> None:
    """npinfer (each tier that runs the file) and ONNX Runtime against the module itself, within 1e-5."""
    with torch.no_grad():
        out = module(*[torch.from_numpy(a) for a in inputs])
    expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]  # the GRU gives (y, h_n)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    runtime = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), inputs)})
    assert len(runtime) == len(expected), what
    for index, (theirs, torch_out) in enumerate(zip(runtime, expected)):
        assert_close(theirs, torch_out, what=f"{what} output {index}: ONNX Runtime vs torch (the export itself)")
    for model in _models(path):
        where = f"{what} ({_tier(model)} tier)"
        got = as_list(model.predict(inputs[0] if len(inputs) == 1 else inputs))
        assert len(got) == len(expected), where
        for index, (ours, torch_out) in enumerate(zip(got, expected)):
            assert_close(ours, torch_out, what=f"{where} output {index}: npinfer vs torch")


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("exporter, mode, opset", [("torchscript", mode, opset) for mode in ("EVAL", "PRESERVE")
                                                   for opset in (11, 17)] + [("dynamo", "eval module", 20)])
def test_resnet_style_cnn(resnet, exporter, mode, opset, batch):
    module, files = resnet
    x = np.random.default_rng(batch).standard_normal((batch, 3, 16, 16), dtype=np.float32)
    path = files["dynamo"] if exporter == "dynamo" else files[mode, opset]
    _check(path, module, [x], f"ResNet-style CNN, {exporter} exporter, training={mode}, opset {opset}, batch {batch}")


@pytest.mark.parametrize("time", LENGTHS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("bidirectional, exporter, opset", [(b, "torchscript", o) for b in (False, True) for o in (11, 17)]
                         + [(True, "dynamo", 20)])
def test_gru_with_dynamic_batch_and_time(gru, bidirectional, exporter, opset, batch, time):
    module, path = gru[bidirectional, "dynamo" if exporter == "dynamo" else opset]
    x = np.random.default_rng(10 * batch + time).standard_normal((batch, time, 4), dtype=np.float32)
    _check(path, module, [x], f"GRU 2 layers bidirectional={bidirectional}, {exporter} exporter, opset {opset}, batch {batch}, time {time}")


@pytest.mark.parametrize("time", LENGTHS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("masked", (False, True))
@pytest.mark.parametrize("exporter", EXPORTERS)
def test_transformer_encoder_with_dynamic_batch(encoder, exporter, masked, batch, time):
    """TorchScript: one file per length (dynamic batch); dynamo: one file with dynamic batch and time."""
    module, files = encoder
    inputs = [t.numpy() for t in _example(np.random.default_rng(10 * batch + time), batch, time, masked)]
    path = files[masked, "dynamo" if exporter == "dynamo" else time]
    _check(path, module, inputs,
           f"TransformerEncoder src_key_padding_mask={masked}, {exporter} exporter, batch {batch}, time {time}")


@pytest.mark.parametrize("time", (1, 17))
@pytest.mark.parametrize("masked", (False, True))
def test_a_transformer_exported_with_a_dynamic_time_axis_is_refused_at_other_lengths_as_by_onnx_runtime(encoder, masked, time):
    """dynamic_axes asked for a dynamic time axis, but the exporter fixed a Reshape to the example's
    length 5: the file runs at 5 (any batch) and npinfer refuses other lengths by the Reshape's name, as ORT fails."""
    module, files = encoder
    path = files[masked, "time"]
    rng = np.random.default_rng(time)
    for batch in BATCHES:
        at_5 = [t.numpy() for t in _example(rng, batch, 5, masked)]
        _check(path, module, at_5, f"TransformerEncoder src_key_padding_mask={masked}, dynamic time axis, batch {batch}, time 5")
    inputs = [t.numpy() for t in _example(rng, 3, time, masked)]
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="Reshape"):
        session.run(None, {i.name: a for i, a in zip(session.get_inputs(), inputs)})
    with pytest.raises(npinfer.InputError, match="Reshape"):
        npinfer.load(path).predict(inputs[0] if len(inputs) == 1 else inputs)


def test_the_two_cnn_exports_differ_as_meant(resnet):
    """training=EVAL folds every BatchNorm into its Conv; PRESERVE keeps BatchNormalization nodes."""
    _, files = resnet
    for opset in (11, 17):
        kinds = {mode: {node.op_type for node in onnx.load(files[mode, opset]).graph.node} for mode in ("EVAL", "PRESERVE")}
        assert "BatchNormalization" not in kinds["EVAL"] and "BatchNormalization" in kinds["PRESERVE"], kinds


def test_the_dynamo_exports_keep_batch_and_time_dynamic(resnet, gru, encoder):
    """Every dynamo file declares the batch (and time) axes it was given as symbols, not numbers."""
    files = [resnet[1]["dynamo"]] + [gru[True, "dynamo"][1]] + [encoder[1][m, "dynamo"] for m in (False, True)]
    for path in files:
        for value in onnx.load(path).graph.input:
            dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            expected = ["batch", 3, 16, 16] if len(dims) == 4 else ["batch", "time"] + dims[2:]
            assert dims == expected, (path, value.name, dims)
