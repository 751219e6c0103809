"""The catalogue of Keras models the parity tests build, for Keras 3 and tf-keras 2.x.

Importable without TensorFlow: each builder receives the Keras module (``keras`` or
``tf_keras``) and the flavor name. `generate_fixtures.py` builds, briefly trains, saves and
records every case; the tests compare npinfer against what it recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

FLAVORS = ("keras3", "tf_keras")
BATCH_SIZES = (1, 7, 64)
# Time steps used for a variable (None) time dimension, per batch size: lengths differ per call.
VARIABLE_TIME = {1: 5, 7: 9, 64: 3}


@dataclass(frozen=True)
class Case:
    """One model to build in each flavor: a parity case, or a refusal case (`refuse` set)."""

    name: str
    build: Callable
    flavors: tuple = FLAVORS
    refuse: tuple | None = None  # (error class name, text the message must contain)
    intermediates: bool = False  # also record every layer's output (for predict(outputs=...))
    golden: bool = False  # also committed under tests/fixtures for runs without TensorFlow
    data: str = "normal"  # inputs: normal, right_padded / left_padded (zero steps to mask), tokens (ids, 0 = padding)
    adapt: bool = False  # call adapt() on Normalization layers before training
    stateful: bool = False  # record a sequence of calls (state carried), a reset, and another call
    no_h5: tuple = ()  # flavors whose Keras cannot write the trained model as .h5 (Keras 3: several
    # augmentation layers' configs fail to pickle once called): their .h5 route is not tested


CASES: dict[str, Case] = {}


def case(name, flavors=FLAVORS, **kwargs):
    def register(build):
        CASES[name] = Case(name, build, flavors, **kwargs)
        return build
    return register


def _seq(k, input_shape, *layers):
    return k.Sequential([k.Input(input_shape)] + list(layers))


# -- the article's model and the recurrent layers with their options -------------------

@case("article_simple_rnn", golden=True)
def _article(k, flavor):
    # ../shared/seed: SimpleRNN(3) over look-back 4 of 3 features, then Dense(1).
    return _seq(k, (4, 3), k.layers.SimpleRNN(3), k.layers.Dense(1))


RNN_VARIANTS = {
    "default": {},
    "no_bias": {"use_bias": False},
    "sequences": {"return_sequences": True},
    "backwards": {"go_backwards": True},
    "backwards_sequences": {"go_backwards": True, "return_sequences": True},
    "relu": {"activation": "relu"},
    "softsign": {"activation": "softsign"},
    "hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    "sigmoid_tanh_swap": {"activation": "sigmoid", "recurrent_activation": "tanh"},
    "variable_time": {},
    "state": {"return_state": True},
    "state_sequences": {"return_state": True, "return_sequences": True},
    "reset_before": {"reset_after": False},
    "reset_before_no_bias": {"reset_after": False, "use_bias": False},
    "reset_before_backwards_sequences": {"reset_after": False, "go_backwards": True, "return_sequences": True},
    "hard_sigmoid_reset_before": {"recurrent_activation": "hard_sigmoid", "reset_after": False},
}
RECURRENT = ("SimpleRNN", "LSTM", "GRU")


def _recurrent_case(layer_name, variant, options):
    def build(k, flavor):
        time = None if variant == "variable_time" else 6
        layer = getattr(k.layers, layer_name)(5, **options)
        if options.get("return_state"):
            x = k.Input((time, 4))
            outs = layer(x)
            return k.Model(x, list(outs))
        return _seq(k, (time, 4), layer)
    return build


for _layer in RECURRENT:
    for _variant, _options in RNN_VARIANTS.items():
        if "recurrent_activation" in _options and _layer == "SimpleRNN":
            continue
        if "reset_after" in _options and _layer != "GRU":
            continue
        case(f"{_layer.lower()}_{_variant}", golden=_variant in ("default", "hard_sigmoid", "reset_before", "variable_time"))(
            _recurrent_case(_layer, _variant, _options))


@case("stacked_lstm_gru_rnn", intermediates=True)
def _stacked(k, flavor):
    return _seq(k, (7, 3),
                k.layers.LSTM(6, return_sequences=True),
                k.layers.GRU(5, return_sequences=True, reset_after=False),
                k.layers.SimpleRNN(4),
                k.layers.Dense(3, activation="softmax"))


@case("stacked_lstm_dense_per_step")
def _stacked_per_step(k, flavor):
    return _seq(k, (None, 3),
                k.layers.LSTM(8, return_sequences=True, go_backwards=True),
                k.layers.LSTM(4, return_sequences=True),
                k.layers.Dense(2))


# -- Dense and activations ---------------------------------------------------------------

@case("dense_bias")
def _dense(k, flavor):
    return _seq(k, (6,), k.layers.Dense(5))


@case("dense_no_bias_tanh")
def _dense_no_bias(k, flavor):
    return _seq(k, (6,), k.layers.Dense(4, use_bias=False, activation="tanh"))


@case("dense_on_sequences")
def _dense_rank3(k, flavor):
    return _seq(k, (4, 6), k.layers.Dense(5, activation="relu"), k.layers.Dense(2))


KERAS3_ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "sigmoid", "hard_sigmoid",
    "tanh", "softmax", "log_softmax", "softplus", "softsign", "swish", "silu", "hard_silu", "hard_swish",
    "mish", "exponential", "hard_tanh", "tanh_shrink", "log_sigmoid", "soft_shrink", "hard_shrink",
    "sparse_plus", "sparse_sigmoid", "squareplus", "sparsemax", "glu",
)
TF_KERAS_ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
    "softmax", "log_softmax", "softplus", "softsign", "swish", "mish", "exponential",
)


def _activation_case(name):
    def build(k, flavor):
        # Dense(8) spreads values over [-3, 3] so that every piece of each function is used.
        return _seq(k, (6,), k.layers.Dense(8), k.layers.Activation(name))
    return build


for _name in sorted(set(KERAS3_ACTIVATIONS) | set(TF_KERAS_ACTIVATIONS)):
    _flavors = tuple(f for f, names in (("keras3", KERAS3_ACTIVATIONS), ("tf_keras", TF_KERAS_ACTIVATIONS)) if _name in names)
    case(f"activation_{_name}", flavors=_flavors, golden=_name == "hard_sigmoid")(_activation_case(_name))


@case("dense_activation_argument")
def _dense_activation(k, flavor):
    return _seq(k, (6,), k.layers.Dense(7, activation="gelu"), k.layers.Dense(5, activation="hard_sigmoid"),
                k.layers.Dense(3, activation="softmax"))


@case("softmax_on_time_axis")
def _softmax_axis(k, flavor):
    return _seq(k, (4, 5), k.layers.Dense(5), k.layers.Softmax(axis=1))


@case("activation_softmax_on_sequences")
def _softmax_rank3(k, flavor):
    return _seq(k, (4, 5), k.layers.Dense(6), k.layers.Activation("softmax"))


def _relu_case(options):
    def build(k, flavor):
        return _seq(k, (6,), k.layers.Dense(8), k.layers.ReLU(**options))
    return build


RELU_OPTIONS = {
    "plain": {},
    "max_value": {"max_value": 1.5},
    "relu6": {"max_value": 6.0},
    "negative_slope": {"negative_slope": 0.3},
    "threshold": {"threshold": 0.4},
    "all_options": {"max_value": 1.2, "negative_slope": 0.1, "threshold": 0.2},
    "slope_and_max": {"max_value": 2.0, "negative_slope": 0.25},
}
for _variant, _options in RELU_OPTIONS.items():
    case(f"relu_layer_{_variant}")(_relu_case(_options))


@case("leaky_relu_layer")
def _leaky(k, flavor):
    layer = k.layers.LeakyReLU(negative_slope=0.15) if flavor == "keras3" else k.layers.LeakyReLU(alpha=0.15)
    return _seq(k, (6,), k.layers.Dense(8), layer)


@case("elu_layer")
def _elu_layer(k, flavor):
    return _seq(k, (6,), k.layers.Dense(8), k.layers.ELU(alpha=0.7))


# -- shape layers, dropout and noise -----------------------------------------------------

@case("dropout_and_noise_identity")
def _dropouts(k, flavor):
    return _seq(k, (4, 6),
                k.layers.Dropout(0.3), k.layers.SpatialDropout1D(0.2), k.layers.GaussianNoise(0.5),
                k.layers.GaussianDropout(0.2), k.layers.AlphaDropout(0.2),
                k.layers.LSTM(3), k.layers.Dropout(0.5), k.layers.Dense(2))


@case("flatten_reshape")
def _flatten_reshape(k, flavor):
    return _seq(k, (4, 6), k.layers.Reshape((6, 4)), k.layers.SimpleRNN(3, return_sequences=True),
                k.layers.Flatten(), k.layers.Reshape((-1, 2)), k.layers.Flatten(), k.layers.Dense(2))


@case("flatten_channels_first")
def _flatten_cf(k, flavor):
    return _seq(k, (4, 3), k.layers.Dense(5), k.layers.Flatten(data_format="channels_first"), k.layers.Dense(3))


# -- Functional models ---------------------------------------------------------------------

@case("functional_two_inputs_two_outputs", intermediates=True, golden=True)
def _functional(k, flavor):
    seq = k.Input((6, 3), name="sequence")
    static = k.Input((4,), name="static")
    h = k.layers.LSTM(5, name="encoder")(seq)
    s = k.layers.Dense(5, activation="relu", name="static_dense")(static)
    added = k.layers.Add(name="sum")([h, s])
    joined = k.layers.Concatenate(name="join")([h, s, added])
    forecast = k.layers.Dense(2, name="forecast")(joined)
    score = k.layers.Dense(1, activation="sigmoid", name="score")(added)
    return k.Model([seq, static], [forecast, score])


@case("functional_concat_time_axis")
def _functional_concat(k, flavor):
    a = k.Input((3, 4), name="a")
    b = k.Input((5, 4), name="b")
    joined = k.layers.Concatenate(axis=1)([a, b])
    out = k.layers.GRU(4)(joined)
    return k.Model([a, b], out)


@case("functional_branches_add_three")
def _functional_branches(k, flavor):
    x = k.Input((None, 3), name="x")
    branches = [k.layers.SimpleRNN(4)(x), k.layers.GRU(4)(x), k.layers.LSTM(4)(x)]
    return k.Model(x, k.layers.Add()(branches))


@case("functional_encoder_states_as_outputs")
def _functional_states(k, flavor):
    x = k.Input((5, 3))
    seq, h, c = k.layers.LSTM(4, return_sequences=True, return_state=True)(x)
    last = k.layers.SimpleRNN(3)(seq)
    return k.Model(x, [last, k.layers.Concatenate()([h, c])])


# -- refusals: files npinfer must refuse by name --------------------------------------------

@case("conv2d_flatten_dense")  # refused before issue 14 (Conv2D)
def _conv2d(k, flavor):
    return _seq(k, (5, 5, 1), k.layers.Conv2D(2, 3), k.layers.Flatten(), k.layers.Dense(1))


@case("refuse_hashing", refuse=("UnsupportedLayerError", "Hashing"))
def _hashing(k, flavor):
    x = k.Input((4,), dtype="int64")
    return k.Model(x, k.layers.Dense(1)(k.layers.Hashing(num_bins=5)(x)))


@case("refuse_lambda", refuse=("UnsupportedLayerError", "Lambda"))
def _lambda(k, flavor):
    return _seq(k, (4,), k.layers.Lambda(lambda t: t * 2.0), k.layers.Dense(1))


@case("refuse_mixed_precision", refuse=("UnsupportedOptionError", "mixed_float16"))
def _mixed(k, flavor):
    return _seq(k, (4,), k.layers.Dense(3, dtype="mixed_float16"))


@case("refuse_ops_in_functional", flavors=("keras3",), refuse=("UnsupportedLayerError", "Absolute"))
def _ops(k, flavor):
    x = k.Input((4,))
    return k.Model(x, k.layers.Dense(2)(k.ops.abs(x)))


@case("refuse_tf_op_lambda", flavors=("tf_keras",), refuse=("UnsupportedLayerError", "TFOpLambda"))
def _tf_op(k, flavor):
    import tensorflow as tf

    x = k.Input((4,))
    return k.Model(x, k.layers.Dense(2)(tf.math.abs(x)))


@case("refuse_custom_activation", refuse=("UnsupportedOptionError", "custom"))
def _custom_activation(k, flavor):
    @k.saving.register_keras_serializable(package="zoo")
    def doubled_tanh(x):
        return 2.0 * k.activations.tanh(x)

    return _seq(k, (4,), k.layers.Dense(3, activation=doubled_tanh))


@case("refuse_custom_layer", refuse=("UnsupportedLayerError", "custom"))
def _custom_layer(k, flavor):
    @k.saving.register_keras_serializable(package="zoo")
    class Doubler(k.layers.Layer):
        def call(self, x):
            return x * 2.0

    return _seq(k, (4,), Doubler(), k.layers.Dense(1))


import zoo_layers  # noqa: E402,F401  (registers the layer-breadth cases)
import zoo_images  # noqa: E402,F401  (2-D and 3-D layers)
