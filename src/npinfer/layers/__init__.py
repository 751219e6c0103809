"""NumPy layers, one registry keyed by the framework's (Keras's) class name."""

from __future__ import annotations

from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .conv import Conv1D, DepthwiseConv1D, SeparableConv1D
from .core import Activation, Dense, Flatten, Identity, InputLayer, Reshape
from .embedding import Embedding, Masking
from .merge import Concatenate, Dot, ElementwiseMerge
from .normalization import (
    BatchNormalization,
    LayerNormalization,
    Normalization,
    UnitNormalization,
)
from .ops import OPERATIONS
from .pooling import GlobalPooling1D, Pooling1D
from .preprocessing import Rescaling
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .registry import (
    CUSTOM,
    LAYERS,
    create_layer,
    register_layer,
    supported_layers,
    unregister_layer,
    unsupported_layer,
)
from .reshaping import Cropping1D, Permute, RepeatVector, UpSampling1D, ZeroPadding1D
from .tensor_ops import TENSOR_OPS
from .wrappers import Bidirectional, TimeDistributed

LAYERS.update({
    "InputLayer": InputLayer,
    "Dense": Dense,
    "Activation": Activation,
    "ReLU": Activation,
    "LeakyReLU": Activation,
    "ELU": Activation,
    "Softmax": Activation,
    "Identity": Identity,
    "Rescaling": Rescaling,
    "Dropout": Identity,
    "SpatialDropout1D": Identity,
    "GaussianNoise": Identity,
    "GaussianDropout": Identity,
    "AlphaDropout": Identity,
    "Flatten": Flatten,
    "Reshape": Reshape,
    "Add": ElementwiseMerge,
    "Subtract": ElementwiseMerge,
    "Multiply": ElementwiseMerge,
    "Average": ElementwiseMerge,
    "Maximum": ElementwiseMerge,
    "Minimum": ElementwiseMerge,
    "Concatenate": Concatenate,
    "Dot": Dot,
    "SimpleRNN": SimpleRNN,
    "LSTM": LSTM,
    "GRU": GRU,
    "RNN": RNN,
    "Bidirectional": Bidirectional,
    "TimeDistributed": TimeDistributed,
    "Embedding": Embedding,
    "Masking": Masking,
    "Conv1D": Conv1D,
    "SeparableConv1D": SeparableConv1D,
    "DepthwiseConv1D": DepthwiseConv1D,
    "MaxPooling1D": Pooling1D,
    "AveragePooling1D": Pooling1D,
    "GlobalMaxPooling1D": GlobalPooling1D,
    "GlobalAveragePooling1D": GlobalPooling1D,
    "UpSampling1D": UpSampling1D,
    "ZeroPadding1D": ZeroPadding1D,
    "Cropping1D": Cropping1D,
    "RepeatVector": RepeatVector,
    "Permute": Permute,
    "BatchNormalization": BatchNormalization,
    "LayerNormalization": LayerNormalization,
    "UnitNormalization": UnitNormalization,
    "Normalization": Normalization,
    "Attention": Attention,
    "AdditiveAttention": AdditiveAttention,
    "MultiHeadAttention": MultiHeadAttention,
    **OPERATIONS,
    **TENSOR_OPS,
})

__all__ = ["CUSTOM", "LAYERS", "create_layer", "register_layer", "supported_layers", "unregister_layer", "unsupported_layer"]
