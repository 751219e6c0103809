"""npinfer.from_torch against PyTorch itself (CPU, float32, eval mode), every module and option.

Each module gets random weights, three Adam steps on a random target (so biases, running
statistics and gates are far from their initial values), then is converted on one input and
compared on ANOTHER (other batch size, and other sequence length where the model allows it).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch  # in the test extra: a missing torch fails these tests, never skips them
from torch import nn
from torch.nn import functional as F

import npinfer
from npinfer.errors import InputError, NpinferError, UnsupportedLayerError, UnsupportedOptionError
from parity import assert_close

torch.set_num_threads(1)
TOLERANCE = 1e-5


def _outputs(value) -> list:
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _outputs(item)]
    return [value]


def _train_briefly(module, example) -> None:
    """Three Adam steps towards random targets of the outputs' shapes."""
    module.train()
    parameters = list(module.parameters())
    optimizer = torch.optim.Adam(parameters, lr=0.05) if parameters else None
    inputs = example if isinstance(example, tuple) else (example,)
    generator = torch.Generator().manual_seed(7)
    for _ in range(3):
        outputs = [o for o in _outputs(module(*inputs)) if o.is_floating_point()]  # also moves running statistics
        if optimizer is not None:
            optimizer.zero_grad()
            loss = sum(((o - torch.randn(o.shape, generator=generator)) ** 2).mean() for o in outputs)
            loss.backward()
            optimizer.step()
    module.eval()


def _as_numpy(example):
    if isinstance(example, tuple):
        flat = [t for item in example for t in _outputs(item)]
        return [t.numpy() for t in flat]
    return example.numpy()


def check(module, example, other, tolerance=TOLERANCE):
    """Convert on `example`, compare on `other`; also the .npz round trip, bit for bit."""
    torch.manual_seed(0)
    _train_briefly(module, example)
    model = npinfer.from_torch(module, example)
    with torch.no_grad():
        expected = [t.numpy() for t in _outputs(module(*(other if isinstance(other, tuple) else (other,))))]
    got = model.predict(_as_numpy(other))
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == np.float32
        assert_close(a, b, tolerance=tolerance, what=f"output {i}")
    return model, got


def _seq(batch, steps, features, batch_first):
    x = torch.randn(batch, steps, features)
    return x if batch_first else x.transpose(0, 1).contiguous()


# -- recurrent modules ----------------------------------------------------------------------------

RECURRENT = [
    (kind, layers, bidirectional, batch_first, bias, extra)
    for kind, extras in (("RNN", ({"nonlinearity": "tanh"}, {"nonlinearity": "relu"})), ("LSTM", ({}, {"proj_size": 3})),
                         ("GRU", ({},)))
    for layers, bidirectional, batch_first, bias, extra in itertools.product((1, 2), (False, True), (False, True), (True, False), extras)
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,bias,extra", RECURRENT,
                         ids=[f"{k}-{n}l-{'bi' if b else 'uni'}-{'bf' if f else 'tm'}-{'bias' if c else 'nobias'}"
                              f"{''.join('-' + str(v) for v in e.values())}" for k, n, b, f, c, e in RECURRENT])
def test_recurrent_modules(kind, layers, bidirectional, batch_first, bias, extra):
    torch.manual_seed(1)
    module = getattr(nn, kind)(4, 6, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias, **extra)
    model, _ = check(module, _seq(3, 7, 4, batch_first), _seq(5, 11, 4, batch_first))
    assert model.batch_first == batch_first


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_recurrent_modules_with_initial_states(kind, batch_first):
    torch.manual_seed(2)
    directions, layers = 2, 2
    module = getattr(nn, kind)(4, 5, num_layers=layers, bidirectional=True, batch_first=batch_first)

    def example(batch, steps):
        h = torch.randn(layers * directions, batch, 5)
        state = (h, torch.randn(layers * directions, batch, 5)) if kind == "LSTM" else h
        return (_seq(batch, steps, 4, batch_first), state)

    check(module, example(3, 6), example(4, 9))


# -- the other modules --------------------------------------------------------------------------

def conv_cases(paddings=(0, 2, "same", "valid"), strides=(1, 2), dilations=(1, 2)):
    """(padding, stride, dilation, groups, bias) of every combination torch accepts."""
    for padding, stride, dilation, groups, bias in itertools.product(paddings, strides, dilations, (1, 2), (True, False)):
        if padding == "same" and stride != 1:
            continue  # torch refuses it too
        yield padding, stride, dilation, groups, bias


@pytest.mark.parametrize("padding,stride,dilation,groups,bias", list(conv_cases()))
def test_conv1d(padding, stride, dilation, groups, bias):
    torch.manual_seed(3)
    module = nn.Conv1d(4, 6, 3, padding=padding, stride=stride, dilation=dilation, groups=groups, bias=bias)
    check(module, torch.randn(2, 4, 12), torch.randn(3, 4, 17))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rank", [2, 3])
def test_linear(bias, rank):
    torch.manual_seed(4)
    shape = (3, 5) if rank == 2 else (3, 4, 5)
    other = (6, 5) if rank == 2 else (6, 4, 5)
    check(nn.Linear(5, 7, bias=bias), torch.randn(*shape), torch.randn(*other))


@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding(padding_idx):
    torch.manual_seed(5)
    module = nn.Sequential(nn.Embedding(12, 4, padding_idx=padding_idx), nn.Linear(4, 2))
    check(module, torch.randint(0, 12, (3, 5)), torch.randint(0, 12, (4, 9)))


@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("normalized", [(6,), (4, 6)])
def test_layer_norm(affine, bias, normalized):
    torch.manual_seed(6)
    module = nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias, eps=1e-4)
    check(module, torch.randn(3, 4, 6) * 3 + 1, torch.randn(5, 4, 6) * 3 + 1)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rank", [2, 3])
def test_batch_norm1d(affine, rank):
    torch.manual_seed(7)
    module = nn.BatchNorm1d(4, affine=affine, momentum=0.5)
    shape = (8, 4) if rank == 2 else (8, 4, 6)
    check(module, torch.randn(*shape) * 2 + 1, torch.randn(5, *shape[1:]) * 2 + 1)


ACTIVATIONS = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.1), nn.ELU(0.7), nn.CELU(1.3), nn.SELU(), nn.GELU(), nn.GELU("tanh"),
               nn.Sigmoid(), nn.Tanh(), nn.SiLU(), nn.Mish(), nn.Softplus(), nn.Softsign(), nn.Hardsigmoid(), nn.Hardswish(),
               nn.Hardtanh(), nn.Tanhshrink(), nn.LogSigmoid(), nn.Softshrink(0.3), nn.Hardshrink(0.4), nn.GLU(),
               nn.Softmax(dim=1), nn.Softmax(dim=-1), nn.LogSoftmax(dim=2), nn.Identity(), nn.Dropout(0.5), nn.Flatten(),
               nn.Flatten(0, 1)]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=[repr(a) for a in ACTIVATIONS])
def test_activation_and_shape_modules(activation):
    torch.manual_seed(8)
    module = nn.Sequential(nn.Linear(4, 6), activation)
    check(module, torch.randn(3, 5, 4) * 3, torch.randn(2, 5, 4) * 3)


# -- custom modules: forward composes modules with tensor functions -----------------------------

class Tagger(nn.Module):
    """Embedding -> Conv1d -> BiLSTM -> LayerNorm -> head; several outputs, a parameter used in forward."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.conv = nn.Conv1d(8, 6, 3, padding=1)
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(10)
        self.head = nn.Sequential(nn.Linear(10, 7), nn.GELU(), nn.Dropout(0.1), nn.Linear(7, 3))
        self.scale = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, ids):
        x = self.emb(ids)
        x = F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        out, (h, c) = self.lstm(x)
        y = self.head(self.norm(out))
        last = torch.cat([h[0], h[1]], dim=1)
        return y * self.scale, last.mean(dim=1, keepdim=True), y[:, -1].softmax(-1)


class TimeMajorRegressor(nn.Module):
    """A 2-layer GRU read time-major, BatchNorm on the last step, view with x.size()."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 4, num_layers=2)
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        out, h = self.gru(x)
        z = self.bn(out[-1])
        return self.fc(torch.tanh(z)).view(x.size(1), -1)


class Composed(nn.Module):
    """Tensor functions: permute, reshape with -1, stack, chunk, max(dim), unsqueeze/squeeze,
    matmul with a parameter, F.pad, arithmetic with scalars, exp/sqrt, F.linear."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 6, batch_first=True)
        self.proj = nn.Parameter(torch.randn(6, 6) * 0.3)
        self.w = nn.Parameter(torch.randn(2, 12) * 0.3)
        self.b = nn.Parameter(torch.randn(2) * 0.1)

    def forward(self, x):
        seq, h = self.rnn(x)
        a, b = seq.chunk(2, dim=-1)
        pooled, _ = torch.max(seq, dim=1)
        mixed = torch.stack([a.mean(1), b.mean(1)], dim=1).reshape(x.shape[0], -1)
        z = (seq @ self.proj).permute(0, 2, 1)
        z = F.pad(z, (1, 2)).sum(dim=-1)
        g = torch.sqrt(torch.exp(-mixed) + 1.0) - 0.5 * mixed
        head = F.linear(torch.cat([g, z], dim=1), self.w, self.b)
        return head, h.squeeze(0).unsqueeze(1) * 2.0 / 3.0 + pooled.unsqueeze(1), torch.sigmoid(1 - head)


@pytest.mark.parametrize("make,example,other", [
    (Tagger, lambda: torch.randint(0, 20, (4, 9)), lambda: torch.randint(0, 20, (2, 13))),
    (TimeMajorRegressor, lambda: torch.randn(6, 5, 3), lambda: torch.randn(11, 8, 3)),
    (Composed, lambda: torch.randn(3, 7, 4), lambda: torch.randn(5, 10, 4)),
], ids=["Tagger", "TimeMajorRegressor", "Composed"])
def test_custom_modules(make, example, other, tmp_path):
    torch.manual_seed(9)
    other_input = other()
    model, got = check(make(), example(), other_input)
    model.save(tmp_path / "m.npz")
    again = npinfer.load(tmp_path / "m.npz").predict(_as_numpy(other_input))
    assert all(np.array_equal(a, b) for a, b in zip(again if isinstance(again, list) else [again], got))


# -- refusals, by name ------------------------------------------------------------------------

class WithPixelShuffle(nn.Module):  # (with nn.Conv2d until issue 14, which added Conv2d)
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(x)


class WithCumsum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


class WithControlFlow(nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


@pytest.mark.parametrize("module,example,error,words", [
    (WithPixelShuffle(), torch.randn(1, 4, 5, 5), UnsupportedLayerError, ["PixelShuffle", "supported modules", "LSTM"]),
    (WithCumsum(), torch.randn(2, 3), UnsupportedLayerError, ["cumsum", "supported"]),
    (WithControlFlow(), torch.randn(2, 3), UnsupportedLayerError, ["cannot be traced"]),
    (nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"), torch.randn(1, 2, 5), UnsupportedOptionError, ["padding_mode", "'zeros'"]),
    (nn.Embedding(5, 2, max_norm=1.0), torch.randint(0, 5, (2, 3)), UnsupportedOptionError, ["max_norm"]),
    (nn.BatchNorm1d(3, track_running_stats=False), torch.randn(4, 3), UnsupportedOptionError, ["track_running_stats"]),
    (nn.Softplus(beta=2.0), torch.randn(2, 3), UnsupportedOptionError, ["beta"]),
], ids=["PixelShuffle", "cumsum", "control-flow", "reflect-padding", "max_norm", "no-running-stats", "softplus-beta"])
def test_unsupported_is_refused_by_name(module, example, error, words):
    with pytest.raises(error) as raised:
        npinfer.from_torch(module, example)
    assert all(w in str(raised.value) for w in words), str(raised.value)


def test_squeeze_without_dim_is_refused():
    class Squeezer(nn.Module):
        def forward(self, x):
            return x.squeeze()

    with pytest.raises(UnsupportedOptionError, match="give dim"):
        npinfer.from_torch(Squeezer(), torch.randn(2, 1, 3))


def test_time_major_models_refuse_batch_splitting_and_keep_training_mode():
    module = nn.LSTM(3, 4)
    module.train()
    model = npinfer.from_torch(module, torch.randn(5, 2, 3))
    assert module.training  # from_torch puts the module back as it was
    assert model.batch_axes == [1] and not model.batch_first
    with pytest.raises(InputError, match="batch on another axis"):
        model.predict(np.zeros((5, 2, 3), np.float32), batch_size=1)
    with pytest.raises(InputError, match="time-major"):
        list(npinfer.predict_chunks(model, np.zeros((10, 3)), look_back=4))
    with pytest.raises(NpinferError, match="example_input"):
        npinfer.from_torch(module, [np.zeros((5, 2, 3))])


class FixedLength(nn.Module):
    """forward fixes the sequence length (a view to 5 * 4 features): only the batch is free."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.fc = nn.Linear(4 * 5, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out.reshape(x.size(0), 20))


def test_sizes_the_module_fixes_stay_fixed():
    torch.manual_seed(10)
    model, _ = check(FixedLength(), torch.randn(2, 5, 3), torch.randn(7, 5, 3))
    assert model.input_shape == (None, 5, 3)
    with pytest.raises(npinfer.InputShapeError, match=r"\(None, 5, 3\)"):
        model.predict(np.zeros((2, 6, 3), np.float32))


def test_integers_joined_with_floats_become_floats_of_the_model_dtype(tmp_path):
    """torch.cat of int64 and float32 gives float32; so do npinfer and its exported script."""
    from npinfer.export import export_script
    from test_export import _load_script

    class Joined(nn.Module):
        def forward(self, ids, x):
            return torch.cat([ids, x], dim=1) * 2

    model = npinfer.from_torch(Joined(), (torch.randint(0, 5, (2, 3)), torch.randn(2, 4)))
    ids, x = torch.randint(0, 5, (3, 3)), torch.randn(3, 4)
    expected = Joined()(ids, x).numpy()
    got = model.predict([ids.numpy(), x.numpy()])
    assert got.dtype == np.float32 == expected.dtype
    assert_close(got, expected, tolerance=1e-6)
    export_script(model, str(tmp_path / "joined.py"))
    scripted = _load_script(tmp_path / "joined.py").predict(ids.numpy(), x.numpy())
    assert scripted.dtype == np.float32 and np.array_equal(scripted, got)


class Extremes(nn.Module):
    """torch.amax / amin give values only; torch.max / min with a dim give (values, indices)."""

    def forward(self, x):
        return torch.amax(x, dim=1) + torch.amin(x, dim=(1,)) * 2 + torch.max(x, 1)[0] - x.min(dim=1)[0] + x.amax(1)


def test_amax_amin_and_max_min_with_a_dim():
    torch.manual_seed(6)
    x = torch.randn(3, 7, 4)
    model = npinfer.from_torch(Extremes().eval(), x)
    other = torch.randn(5, 7, 4)
    assert_close(model.predict(other.numpy()), Extremes()(other).numpy(), tolerance=1e-5)

# -- torch.nn.functional forms and tensor methods (issue 19) ----------------------------------

class MnistNet(nn.Module):
    """pytorch/examples' MNIST Net, its forward written with F.* calls."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = F.dropout(x, 0.25, training=self.training)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def test_mnist_net_with_functional_calls():
    torch.manual_seed(11)
    model, _ = check(MnistNet(), torch.randn(2, 1, 28, 28), torch.randn(5, 1, 28, 28))
    assert {"MaxPooling2D", "Conv2D", "Dense"} <= {layer.class_name for layer in model.spec.layers}


class LSTMAutoencoder(nn.Module):
    """The encoder's last state repeated over the input's steps (Tensor.repeat with x.size(1))."""

    def __init__(self, features=3, hidden=8):
        super().__init__()
        self.encoder = nn.LSTM(features, hidden, num_layers=2, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, x):
        _, (h, _) = self.encoder(x)
        z = h[-1].unsqueeze(1).repeat(1, x.size(1), 1)  # (batch, steps, hidden)
        y, _ = self.decoder(z)
        return self.out(y)


def test_lstm_autoencoder_with_repeat():
    torch.manual_seed(12)
    model, _ = check(LSTMAutoencoder(), torch.randn(3, 6, 3), torch.randn(4, 10, 3))
    assert model.input_shape == (None, None, 3)


class Functional(nn.Module):
    """forward is `fn(self, x)`; `parameters` become nn.Parameters, `buffers` buffers."""

    def __init__(self, fn, parameters=None, buffers=None):
        super().__init__()
        self.fn = fn
        for name, value in (parameters or {}).items():
            setattr(self, name, nn.Parameter(value))
        for name, value in (buffers or {}).items():
            self.register_buffer(name, value)

    def forward(self, x):
        return self.fn(self, x)


def _r(*shape, scale=0.5):
    return torch.randn(*shape) * scale


def _call_f(name):
    """lambda m, x: F.<name>(x)."""
    function = getattr(F, name)
    return lambda m, x: function(x)


SEQ, IMAGE = ((3, 5, 4), (2, 5, 4)), ((2, 4, 7, 7), (3, 4, 7, 7))
_BN = {"rm": torch.randn(4) * 0.3, "rv": torch.rand(4) + 0.5}

FUNCTIONAL = {
    # layers: weights are parameters or buffers
    "conv1d": (lambda m, x: F.conv1d(x.transpose(1, 2), m.w, m.b, stride=2, padding=1), {"w": _r(6, 4, 3), "b": _r(6)}, SEQ),
    "conv1d-same-dilated": (lambda m, x: F.conv1d(x, m.w, None, 1, "same", 2), {"w": _r(6, 5, 3)}, SEQ),
    "conv2d": (lambda m, x: F.conv2d(x, m.w, m.b, padding=1, groups=2), {"w": _r(6, 2, 3, 3), "b": _r(6)}, IMAGE),
    "conv2d-strided": (lambda m, x: F.conv2d(x, m.w, stride=(2, 1), dilation=(1, 2)), {"w": _r(3, 4, 2, 3)}, IMAGE),
    "conv_transpose1d": (lambda m, x: F.conv_transpose1d(x, m.w, m.b, stride=2, padding=1), {"w": _r(5, 3, 3), "b": _r(3)}, SEQ),
    "conv_transpose2d": (lambda m, x: F.conv_transpose2d(x, m.w, stride=2), {"w": _r(4, 2, 3, 3)}, IMAGE),
    "linear": (lambda m, x: F.linear(x, m.w, m.b), {"w": _r(7, 4), "b": _r(7)}, SEQ),
    "linear-no-bias": (lambda m, x: F.linear(x, m.w), {"w": _r(7, 4)}, SEQ),
    "max_pool1d": (lambda m, x: F.max_pool1d(x, 3, 2, 1), {}, SEQ),
    "max_pool2d": (lambda m, x: F.max_pool2d(x, 2), {}, IMAGE),
    "max_pool2d-padded": (lambda m, x: F.max_pool2d(x, (3, 2), stride=(2, 1), padding=1), {}, IMAGE),
    "avg_pool1d": (lambda m, x: F.avg_pool1d(x, 3, 2, 1), {}, SEQ),
    "avg_pool2d": (lambda m, x: F.avg_pool2d(x, 2), {}, IMAGE),
    "avg_pool2d-padded": (lambda m, x: F.avg_pool2d(x, 3, stride=2, padding=1), {}, IMAGE),
    "adaptive_avg_pool1d": (lambda m, x: F.adaptive_avg_pool1d(x, 1), {}, SEQ),
    "adaptive_avg_pool2d": (lambda m, x: F.adaptive_avg_pool2d(x, (1, 1)).flatten(1), {}, IMAGE),
    "adaptive_max_pool1d": (lambda m, x: F.adaptive_max_pool1d(x, 2), {}, SEQ),
    "adaptive_max_pool2d": (lambda m, x: F.adaptive_max_pool2d(x, 1), {}, IMAGE),
    "batch_norm-buffers": (lambda m, x: F.batch_norm(x, m.rm, m.rv, m.w, m.b, training=m.training, eps=1e-3),
                           {"w": _r(4) + 1, "b": _r(4)}, IMAGE),
    "batch_norm-no-affine": (lambda m, x: F.batch_norm(x, m.rm, m.rv), {}, IMAGE),
    "layer_norm": (lambda m, x: F.layer_norm(x, x.shape[-1:], m.w, m.b, eps=1e-4), {"w": _r(4) + 1, "b": _r(4)}, SEQ),
    "layer_norm-two-axes": (lambda m, x: F.layer_norm(x, (5, 4)), {}, SEQ),
    "embedding": (lambda m, x: F.embedding(x, m.w), {"w": _r(12, 3)}, "ids"),
    "dropout": (lambda m, x: F.dropout(x, 0.3, training=m.training) + F.dropout1d(x, training=False), {}, SEQ),
    # activations
    **{f"F.{name}": (_call_f(name), {}, SEQ)
       for name in ("relu", "relu6", "selu", "sigmoid", "tanh", "silu", "mish", "softsign", "tanhshrink", "logsigmoid",
                    "hardswish", "hardsigmoid", "gelu", "softplus", "hardtanh", "elu", "celu", "leaky_relu", "softshrink",
                    "hardshrink", "glu")},
    "leaky_relu-slope": (lambda m, x: F.leaky_relu(x, 0.2), {}, SEQ),
    "elu-alpha": (lambda m, x: F.elu(x, alpha=0.5) + F.celu(x, 1.5), {}, SEQ),
    "gelu-tanh": (lambda m, x: F.gelu(x, approximate="tanh"), {}, SEQ),
    "shrinks": (lambda m, x: F.softshrink(x, 0.3) + F.hardshrink(x, lambd=0.4), {}, SEQ),
    "glu-dim": (lambda m, x: F.glu(x, dim=1), {}, IMAGE),
    "torch-activations": (lambda m, x: torch.relu(x) + torch.tanh(x) * torch.sigmoid(x) + x.relu() - x.tanh() + x.sigmoid(), {}, SEQ),
    "softmax": (lambda m, x: F.softmax(x, dim=1) + F.log_softmax(x, -1) + torch.softmax(x, 2) + x.softmax(dim=-1)
                + x.log_softmax(1), {}, SEQ),
    # tensor methods and torch functions
    "repeat": (lambda m, x: x[:, -1:].repeat(1, x.size(1), 2), {}, SEQ),
    "repeat-new-axis": (lambda m, x: x.repeat(1, 2, 3).sum(0), {}, SEQ),
    "tile": (lambda m, x: torch.tile(x, (2,)) + x.tile((1, 1, 2)), {}, SEQ),
    "expand": (lambda m, x: x[:, :1].expand(-1, x.size(1), -1) * x, {}, SEQ),
    "expand-new-axis": (lambda m, x: x[..., None].expand(-1, -1, -1, 3), {}, SEQ),
    "expand_as": (lambda m, x: x.mean(1, keepdim=True).expand_as(x), {}, SEQ),
    "expand-shape": (lambda m, x: x.mean(1, keepdim=True).expand(x.shape) + x[:, :1].expand(x.size()), {}, SEQ),
    "view": (lambda m, x: x.view(x.size(0), -1), {}, SEQ),
    "reshape": (lambda m, x: x.reshape(x.shape[0], x.shape[1], 2, -1) + torch.reshape(x, (-1, 5, 2, 2)), {}, SEQ),
    "permute": (lambda m, x: x.permute(0, 2, 1) + torch.permute(x, (0, 2, 1)), {}, SEQ),
    "transpose": (lambda m, x: x.transpose(1, 2) - torch.transpose(x, -1, -2) * 2, {}, SEQ),
    "flatten": (lambda m, x: x.flatten(1) + torch.flatten(x, 1, 2), {}, SEQ),
    "squeeze-unsqueeze": (lambda m, x: x.unsqueeze(1).squeeze(1) + torch.unsqueeze(x, -1).squeeze(-1) + x[:, :1].squeeze(1)[:, None],
                          {}, SEQ),
    "chunk": (lambda m, x: torch.cat(x.chunk(2, dim=-1)[::-1], dim=1) + torch.chunk(x, 2, 2)[0].repeat(1, 2, 1), {}, SEQ),
    "split": (lambda m, x: _split(x), {}, SEQ),
    "cat-stack": (lambda m, x: torch.stack([x, x * 2], dim=1).flatten(1, 2) + torch.cat([x, -x], dim=1), {}, SEQ),
    "mean-sum": (lambda m, x: x.mean(dim=(1, 2)) + torch.sum(x, 1).sum(-1) + torch.mean(x, [1, 2], keepdim=True).flatten(1)[:, 0],
                 {}, SEQ),
    "max-values": (lambda m, x: x.max(dim=1).values + torch.max(x, 1)[0] + torch.max(x, x * 0.5).sum(1), {}, SEQ),
    "max-indices": (lambda m, x: x.max(1, keepdim=True)[1].float() + torch.min(x, dim=-1).indices[:, :, None].float()
                    + torch.argmax(x, -1, keepdim=True).float() - x.argmin(1).float()[:, None], {}, SEQ),
    "indexing": (lambda m, x: torch.cat([x[:, -1], x[:, 1:3].sum(1), x[..., None][..., 0][:, 0], x[:, None, ::2].sum((1, 2)),
                                         x[..., 1:3].mean(1).repeat(1, 2)], dim=1), {}, SEQ),
    "contiguous": (lambda m, x: x.transpose(1, 2).contiguous().view(x.size(0), -1), {}, SEQ),
}


def _split(x):
    a, b = torch.split(x, [1, 3], dim=-1)
    return torch.cat([b, a], -1) - x.split(2, dim=1)[0].sum(1, keepdim=True) + x.split(2, dim=1)[-1][:, :1]


def _functional_inputs(shapes):
    if shapes == "ids":
        return torch.randint(0, 12, (3, 5)), torch.randint(0, 12, (2, 7))
    return torch.randn(*shapes[0]) * 2, torch.randn(*shapes[1]) * 2


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_functional_forms_and_tensor_methods(name):
    fn, parameters, shapes = FUNCTIONAL[name]
    torch.manual_seed(13)
    buffers = {k: v.clone() for k, v in _BN.items()} if name.startswith("batch_norm") else None
    example, other = _functional_inputs(shapes)
    check(Functional(fn, {k: v.clone() for k, v in parameters.items()}, buffers), example, other)


def test_max_indices_as_an_output_are_int64():
    class ValuesAndIndices(nn.Module):
        def forward(self, x):
            values, indices = x.max(dim=2)
            return values, indices, torch.argmin(x, 1)

    x, other = torch.randn(3, 5, 4), torch.randn(6, 5, 4)
    model = npinfer.from_torch(ValuesAndIndices(), x)
    got = model.predict(other.numpy())
    expected = [t.numpy() for t in ValuesAndIndices()(other)]
    assert_close(got[0], expected[0], tolerance=1e-6)
    assert got[1].dtype == got[2].dtype == np.int64
    assert np.array_equal(got[1], expected[1]) and np.array_equal(got[2], expected[2])


class Calls(nn.Module):
    """A forward that calls one function `fn(self, x)`, with a weight `w`."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.w = nn.Parameter(torch.randn(2, 3, 3))
        self.register_buffer("rm", torch.zeros(3))

    def forward(self, x):
        return self.fn(self, x)


@pytest.mark.parametrize("fn,error,words", [
    (lambda m, x: F.interpolate(x, scale_factor=2.0), UnsupportedLayerError, ["'interpolate'", "supported", "max_pool2d", "repeat"]),
    (lambda m, x: F.fractional_max_pool2d(x[..., None].repeat(1, 1, 1, 4), 2, output_size=2), UnsupportedLayerError,
     ["'fractional_max_pool2d'", "supported"]),
    (lambda m, x: torch.cumprod(x, 1), UnsupportedLayerError, ["'cumprod'", "supported"]),
    (lambda m, x: x.unfold(2, 2, 1), UnsupportedLayerError, ["'unfold'", "supported"]),
    (lambda m, x: F.dropout(x, 0.5), UnsupportedOptionError, ["F.dropout", "training=True"]),
    (lambda m, x: F.batch_norm(x, m.rm, m.rm + x.mean()), UnsupportedLayerError, ["running_var", "parameter or buffer"]),
    (lambda m, x: F.batch_norm(x, m.rm, m.rm, training=True), UnsupportedOptionError, ["F.batch_norm", "training=True"]),
    (lambda m, x: F.conv1d(x, m.w * x.mean()), UnsupportedLayerError, ["F.conv1d weight", "parameter or buffer"]),
    (lambda m, x: F.max_pool1d(x, 2, ceil_mode=True), UnsupportedOptionError, ["F.max_pool1d", "ceil_mode"]),
    (lambda m, x: F.hardtanh(x, -2.0, 2.0), UnsupportedOptionError, ["F.hardtanh", "min_val"]),
    (lambda m, x: F.softplus(x, beta=2), UnsupportedOptionError, ["F.softplus", "beta"]),
    (lambda m, x: torch.argmax(x), UnsupportedOptionError, ["argmax", "one dim"]),
], ids=["interpolate", "fractional_max_pool", "cumprod", "unfold", "dropout-training", "computed-running-var",
        "batch_norm-training", "computed-weight", "ceil_mode", "hardtanh-range", "softplus-beta", "argmax-all"])
def test_unsupported_functions_are_refused_by_name(fn, error, words):
    with pytest.raises(error) as raised:
        npinfer.from_torch(Calls(fn), torch.randn(2, 3, 6))
    assert all(w in str(raised.value) for w in words), str(raised.value)
