"""ONNX operators, signal processing: DFT, STFT (tensor tier). See ops/registry.py for the operator contract.

ONNX keeps complex values as real tensors whose last axis holds (real, imaginary) — size 2 — or
only the real part — size 1. These operators turn that layout into NumPy complex values, call
numpy.fft once (`fourier`) and lay the result out again in the input's type:

    DFT  forward  onesided=0  fft(x, n)        complex -> [..., n, ..., 2]
         forward  onesided=1  rfft(x, n)       real    -> [..., n // 2 + 1, ..., 2]
         inverse  onesided=0  ifft(x, n)       complex -> [..., n, ..., 2]      (1/n scaling)
         inverse  onesided=1  irfft(x, n)      one-sided complex -> [..., n, ..., 1] real
    STFT frames of frame_length every frame_step samples, times the window, fft of each frame:
         (batch, signal_length, 1 or 2) -> (batch, frames, frame_length or frame_length // 2 + 1, 2)

float and double are transformed in their own precision (complex64 / complex128); float16 is
transformed in float32 and rounded to float16 once, as ONNX Runtime's CPU kernels do.
"""

from __future__ import annotations

import numpy as np

from .registry import Call, operator
from .shape import scalar_of
from .values import FLOATS, type_name

F64 = np.dtype(np.float64)
LENGTHS = (np.dtype(np.int32), np.dtype(np.int64))


def work_type(dtype) -> np.dtype:
    """The complex type a transform of `dtype` values runs in: complex128 for double, else complex64."""
    return np.dtype(np.complex128) if np.dtype(dtype) == F64 else np.dtype(np.complex64)


def signal_type(call: Call, x: np.ndarray, what: str = "input") -> np.dtype:
    """x's element type (float16 / float / double) after checking the (..., 1 or 2) layout."""
    if x.dtype not in FLOATS:
        raise call.refuse(f"{what} of type {type_name(x.dtype)} (ONNX: float16, float, double, bfloat16; "
                          "npinfer computes float16, float and double)")
    if x.ndim < 2 or x.shape[-1] not in (1, 2):
        raise call.malformed(f"takes {what} whose last axis is 1 (real) or 2 (real, imaginary), got shape {list(x.shape)}")
    return x.dtype


def scalar(call: Call, value: np.ndarray, what: str, allowed=LENGTHS) -> int:
    """A scalar integer input (a one-element tensor, as ONNX Runtime accepts it)."""
    if value.dtype not in allowed:
        raise call.malformed(f"takes {what} of type {' or '.join(type_name(d) for d in allowed)}, not {type_name(value.dtype)}")
    return int(scalar_of(call, value, what))


def positive(call: Call, value: np.ndarray, what: str) -> int:
    n = scalar(call, value, what)
    if n < 1:
        raise call.malformed(f"has {what}={n}; it must be positive")
    return n


def complex_values(x: np.ndarray) -> np.ndarray:
    """(..., 1 or 2) real layout -> (...) complex in the transform's type."""
    z = x[..., 0].astype(work_type(x.dtype))
    if x.shape[-1] == 2:
        z.imag = x[..., 1]
    return z


def real_layout(z: np.ndarray, dtype) -> np.ndarray:
    """(...) complex -> (..., 2) of dtype (real, imaginary); a real array -> (..., 1)."""
    if np.iscomplexobj(z):
        return np.stack([z.real, z.imag], axis=-1).astype(dtype, copy=False)
    return z[..., np.newaxis].astype(dtype, copy=False)


def fourier(z: np.ndarray, n: int, axis: int, inverse: bool, onesided: bool) -> np.ndarray:
    """The transform of z along `axis` at length n (z cut or zero-padded to n): forward or inverse
    (scaled by 1/n), full or onesided (forward: of z's real part, n // 2 + 1 bins; inverse: the
    real signal of n samples whose first n // 2 + 1 bins z holds)."""
    if not onesided:
        return (np.fft.ifft if inverse else np.fft.fft)(z, n, axis)
    if inverse:
        return np.fft.irfft(z, n, axis)
    return np.fft.rfft(z.real, n, axis)


def transformed_shape(shape: tuple, axis: int, n: int, inverse: bool, onesided: bool) -> tuple:
    """The (..., 1 or 2) shape of `fourier`'s result laid out as reals."""
    size = n // 2 + 1 if onesided and not inverse else n
    return shape[:axis] + (size,) + shape[axis + 1:-1] + (1 if onesided and inverse else 2,)


# -- DFT -----------------------------------------------------------------------------------

def dft_axis(call: Call, x: np.ndarray, axis_input) -> int:
    """The signal axis: the `axis` attribute (default 1) before opset 20, the `axis` input (default -2)
    from opset 20; [-r, -2] or [0, r - 2] for rank r (the last axis holds the complex parts)."""
    if call.opset >= 20:
        axis = -2 if axis_input is None else scalar(call, axis_input, "axis", (np.dtype(np.int64),))
    else:
        axis = int(call.attr("axis", 1))
    rank = x.ndim
    if not -rank <= axis < rank - 1 or axis == -1:
        raise call.malformed(f"has axis={axis}; for an input of rank {rank} it must be in [-{rank}, -2] or [0, {rank - 2}]")
    return axis % rank


def flag(call: Call, name: str, default: int) -> bool:
    value = int(call.attr(name, default))
    if value not in (0, 1):
        raise call.malformed(f"has {name}={value}; it must be 0 or 1")
    return bool(value)


@operator("DFT", attributes=("axis", "inverse", "onesided"))
def dft(call: Call, x, dft_length=None, axis_input=None):
    """The discrete Fourier transform of x (..., 1 or 2) along one signal axis (see the module's table)."""
    if call.opset < 17:
        raise call.malformed("does not exist before opset 17")
    if call.opset < 20 and axis_input is not None:
        raise call.malformed("has an axis input, which DFT takes from opset 20 (an attribute before)")
    dtype = signal_type(call, x)
    axis = dft_axis(call, x, axis_input)
    inverse, onesided = flag(call, "inverse", 0), flag(call, "onesided", 0)
    if onesided and x.shape[-1] != (2 if inverse else 1):
        raise call.malformed("is onesided: its forward transform takes a real input (last axis 1), its inverse a "
                             f"complex one (last axis 2); got shape {list(x.shape)}")
    if dft_length is not None:
        n = positive(call, dft_length, "dft_length")
    else:
        n = 2 * (x.shape[axis] - 1) if onesided and inverse else x.shape[axis]
        if n < 1:
            raise call.malformed(f"has no dft_length and {x.shape[axis]} values on axis {axis}: the transform would be empty")
    shape = call.admit(transformed_shape(x.shape, axis, n, inverse, onesided), dtype)
    call.admit(x.shape[:axis] + (max(n, x.shape[axis]),) + x.shape[axis + 1:-1], work_type(dtype), "the transform")
    return real_layout(fourier(complex_values(x), n, axis, inverse, onesided), dtype).reshape(shape)


# -- STFT ----------------------------------------------------------------------------------

def frame_length_of(call: Call, signal: np.ndarray, window, frame_length) -> int:
    """frame_length: the input, else the window's length, else the signal's; the window (1-D, the
    signal's type) must have that length."""
    if window is not None:
        if window.dtype != signal.dtype:
            raise call.malformed(f"has a window of type {type_name(window.dtype)} for a signal of type {type_name(signal.dtype)}")
        if window.ndim != 1:
            raise call.malformed(f"takes a 1-D window, got shape {list(window.shape)}")
    if frame_length is not None:
        length = positive(call, frame_length, "frame_length")
        if window is not None and window.shape[0] != length:
            raise call.malformed(f"has frame_length={length} and a window of {window.shape[0]} values; they must agree")
    else:
        length = window.shape[0] if window is not None else signal.shape[1]
    if not 1 <= length <= signal.shape[1]:
        raise call.malformed(f"has frames of {length} samples for a signal of {signal.shape[1]}")
    return length


@operator("STFT", attributes=("onesided",))
def stft(call: Call, signal, frame_step, window=None, frame_length=None):
    """The short-time Fourier transform of signal (batch, signal_length, 1 or 2):
    (batch, frames, bins, 2), frames = (signal_length - frame_length) // frame_step + 1."""
    if call.opset < 17:
        raise call.malformed("does not exist before opset 17")
    dtype = signal_type(call, signal, "a signal")
    if signal.ndim != 3:
        raise call.malformed(f"takes a signal (batch, signal_length, 1 or 2), got shape {list(signal.shape)}")
    step = positive(call, frame_step, "frame_step")
    length = frame_length_of(call, signal, window, frame_length)
    onesided = flag(call, "onesided", 1)
    frames = (signal.shape[1] - length) // step + 1
    bins = length // 2 + 1 if onesided else length
    shape = call.admit((signal.shape[0], frames, bins, 2), dtype)
    call.admit((signal.shape[0], frames, length), work_type(dtype), "the frames")
    z = complex_values(signal)  # (batch, signal_length)
    framed = np.lib.stride_tricks.sliding_window_view(z, length, axis=1)[:, ::step]  # (batch, frames, length)
    if window is not None:
        framed = framed * window.astype(z.dtype)
    spectrum = fourier(framed, length, -1, False, False)[..., :bins]  # (batch, frames, bins)
    return real_layout(spectrum, dtype).reshape(shape)


# -- MelWeightMatrix --------------------------------------------------------------------------

MEL_OUTPUTS = {1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13}  # float, uint8, int8, uint16, int16, int32, int64, float16, double, uint32, uint64


def hertz_to_mel(hertz: np.ndarray) -> np.ndarray:
    """mel(f) = 2595 log10(1 + f / 700), the scale ONNX defines."""
    return 2595.0 * np.log10(1.0 + hertz / 700.0)


def mel_to_hertz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@operator("MelWeightMatrix", attributes=("output_datatype",))
def mel_weight_matrix(call: Call, num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
    """(dft_length // 2 + 1, num_mel_bins): triangle i rises from 0 at spectrogram bin b[i] to 1
    at b[i + 1] and falls to 0 at b[i + 2], where b are num_mel_bins + 2 points evenly spaced on
    the mel scale from lower_edge_hertz, mapped to bins as floor((dft_length + 1) f / sample_rate)."""
    from .values import numpy_dtype

    bands = positive(call, num_mel_bins, "num_mel_bins")
    length = positive(call, dft_length, "dft_length")
    rate = positive(call, sample_rate, "sample_rate")
    edges = []
    for value, what in ((lower_edge_hertz, "lower_edge_hertz"), (upper_edge_hertz, "upper_edge_hertz")):
        if value.dtype not in FLOATS:
            raise call.malformed(f"takes {what} as a float, not {type_name(value.dtype)}")
        edges.append(float(scalar_of(call, value, what)))
    low, high = edges
    if not 0 <= low < high <= rate / 2:
        raise call.malformed(f"has edges {low} and {high} Hz; they must rise within 0 to sample_rate / 2 = {rate / 2}")
    code = int(call.attr("output_datatype", 1))
    if code not in MEL_OUTPUTS:
        raise call.refuse(f"output_datatype {code} (npinfer gives float16, float, double and the integer types)")
    dtype = numpy_dtype(code, f"{call.label}'s output_datatype")
    spectrogram = length // 2 + 1
    call.admit((spectrogram, bands), dtype)
    call.admit((spectrogram, bands), F64, "its working matrix")
    # the triangles' corners: num_mel_bins + 2 points, spaced by (high - low) / (num_mel_bins + 2) mel
    low_mel, high_mel = hertz_to_mel(np.float64(low)), hertz_to_mel(np.float64(high))
    points = low_mel + np.arange(bands + 2) * ((high_mel - low_mel) / (bands + 2))
    corners = np.floor((length + 1) * mel_to_hertz(points) / rate).astype(np.int64)  # (bands + 2,)
    if corners.max() >= spectrogram:
        raise call.malformed(f"has a band reaching spectrogram bin {int(corners.max())} of {spectrogram}")
    left, centre, right = corners[:-2], corners[1:-1], corners[2:]  # (bands,) each
    j = np.arange(spectrogram)[:, None]  # (spectrogram, 1)
    rising = (j - left) / np.maximum(centre - left, 1)  # (spectrogram, bands)
    falling = (right - j) / np.maximum(right - centre, 1)
    weights = np.where((j >= left) & (j <= centre), np.where(centre > left, rising, 1.0), 0.0)
    weights = np.where((j >= centre) & (j < right), falling, weights)
    return weights.astype(dtype)
