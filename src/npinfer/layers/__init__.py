"""NumPy layers, one registry keyed by the framework's (Keras's) class name."""

from __future__ import annotations

from .activation_layers import PReLU, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .augmentation import AUGMENTATIONS
from .conv import Conv, ConvTranspose, DepthwiseConv, SeparableConv
from .core import Activation, Augmentation, Dense, Flatten, Identity, InputLayer, RandomSize, Reshape
from .embedding import Embedding, Masking
from .merge import Concatenate, Dot, ElementwiseMerge
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization, Normalization, UnitNormalization
from .ops import OPERATIONS
from .pooling import GlobalPooling, Pooling
from .preprocessing import CategoryEncoding, CenterCrop, Discretization, IntegerLookup, Rescaling, Resizing
from .recurrent import GRU, LSTM, RNN, ConvLSTM, SimpleRNN
from .registry import CUSTOM, LAYERS, create_layer, register_layer, supported_layers, unregister_layer, unsupported_layer
from .reshaping import Cropping, Permute, RepeatVector, UpSampling, ZeroPadding
from .tensor_ops import TENSOR_OPS
from .wrappers import Bidirectional, TimeDistributed

LAYERS.update({
    "InputLayer": InputLayer,
    "Dense": Dense,
    "Activation": Activation,
    "ReLU": Activation,
    "LeakyReLU": Activation,
    "ELU": Activation,
    "Softmax": Softmax,
    "PReLU": PReLU,
    "ThresholdedReLU": Activation,
    "Identity": Identity,
    "Rescaling": Rescaling,
    "CategoryEncoding": CategoryEncoding,
    "Discretization": Discretization,
    "IntegerLookup": IntegerLookup,
    "CenterCrop": CenterCrop,
    "Resizing": Resizing,
    "Dropout": Identity,
    **{f"SpatialDropout{n}D": Identity for n in (1, 2, 3)},
    "GaussianNoise": Identity,
    "GaussianDropout": Identity,
    "AlphaDropout": Identity,
    "ActivityRegularization": Identity,
    **{name: Augmentation for name in AUGMENTATIONS},
    "RandomHeight": RandomSize,
    "RandomWidth": RandomSize,
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
    "RepeatVector": RepeatVector,
    "Permute": Permute,
    "BatchNormalization": BatchNormalization,
    "LayerNormalization": LayerNormalization,
    "GroupNormalization": GroupNormalization,
    "UnitNormalization": UnitNormalization,
    "Normalization": Normalization,
    "Attention": Attention,
    "AdditiveAttention": AdditiveAttention,
    "MultiHeadAttention": MultiHeadAttention,
    **{f"Conv{n}D": Conv for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": ConvTranspose for n in (1, 2, 3)},
    **{f"DepthwiseConv{n}D": DepthwiseConv for n in (1, 2)},
    **{f"SeparableConv{n}D": SeparableConv for n in (1, 2)},
    **{f"{kind}Pooling{n}D": Pooling for kind in ("Max", "Average") for n in (1, 2, 3)},
    **{f"Global{kind}Pooling{n}D": GlobalPooling for kind in ("Max", "Average") for n in (1, 2, 3)},
    **{f"UpSampling{n}D": UpSampling for n in (1, 2, 3)},
    **{f"ZeroPadding{n}D": ZeroPadding for n in (1, 2, 3)},
    **{f"Cropping{n}D": Cropping for n in (1, 2, 3)},
    **{f"ConvLSTM{n}D": ConvLSTM for n in (1, 2, 3)},
    **OPERATIONS,
    **TENSOR_OPS,
})

__all__ = ["CUSTOM", "LAYERS", "create_layer", "register_layer", "supported_layers", "unregister_layer", "unsupported_layer"]
