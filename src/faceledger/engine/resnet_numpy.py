"""dlib's face-recognition ResNet, run with numpy's BLAS instead of dlib-bin's own matrix code.

dlib-bin is built without BLAS, so its ResNet spends ~80 ms per face in unoptimised loops; the same
weights through numpy's BLAS take a fraction of that. The weights are read from the very file dlib
loads (dlib's serialisation format) and the architecture is dlib's published one
(dnn_face_recognition_ex.cpp). The output equals dlib's within float32 rounding; the test suite checks
it against dlib and face_recognition on real faces.

Architecture, input first: conv 32 7x7/2, affine, relu, max-pool 3x3/2; residual blocks
32 x3, 64 (down) +3, 128 (down) +2, 256 (down) +2, 256 (down); global average pool; fc 256 -> 128."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceledger.errors import EngineUnavailable, InvalidInput
from faceledger.types import FloatVector, RGBImage

F32 = npt.NDArray[np.float32]

# (channels, downsamples) for each residual block, input first
BLOCKS: tuple[tuple[int, bool], ...] = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)
_CHIP_PX = 150


@dataclass(frozen=True)
class Conv:
    weights: F32  # (filters, channels * kh * kw), rows in dlib's (channel, row, col) order
    bias: F32  # (filters, 1)
    kernel: int
    stride: int
    padding: int


@dataclass(frozen=True)
class Affine:
    gamma: F32  # (channels, 1, 1)
    beta: F32


@dataclass(frozen=True)
class ResnetWeights:
    input_mean: F32  # (3, 1, 1): dlib's per-channel means, subtracted before dividing by 256
    convs: tuple[Conv, ...]
    affines: tuple[Affine, ...]
    fc: F32  # (256, 128)


class _Reader:
    """dlib's serialisation: integers as a length byte (bit 7 = negative) then little-endian bytes;
    floats as integer mantissa and exponent; strings length-prefixed; tensors as version, 4 dims, float32s."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.pos = data, position

    def integer(self) -> int:
        control = self.data[self.pos]
        size, negative = control & 0x0F, bool(control & 0x80)
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> F32:
        version = self.integer()
        if version != 2:
            raise ValueError(f"unknown tensor version {version}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        values = np.frombuffer(self.data[self.pos : end], dtype="<f4").astype(np.float32)
        self.pos = end
        return values.reshape(shape)


def _after(data: bytes, marker: bytes, start: int) -> int:
    """Position just after the next length-prefixed marker string."""
    token = bytes([1, len(marker)]) + marker
    found = data.find(token, start)
    if found < 0:
        raise ValueError(f"layer {marker.decode()} not found")
    return found + len(token)


def load_weights(path: Path) -> ResnetWeights:
    try:
        return _parse(path.read_bytes())
    except (ValueError, IndexError, struct.error) as exc:
        raise EngineUnavailable(f"{path}: not the dlib face-recognition ResNet expected ({exc})") from exc


def _expected_convs() -> list[tuple[int, int, int, int]]:
    """(filters, kernel, stride, padding) of every conv in file order; dlib pads only stride-1 convs."""
    convs = [(32, 7, 2, 0)]
    for channels, down in BLOCKS:
        convs += [(channels, 3, 2 if down else 1, 0 if down else 1), (channels, 3, 1, 1)]
    return convs


def _parse(data: bytes) -> ResnetWeights:
    reader = _Reader(data, _after(data, b"input_rgb_image_sized", 0))
    mean = np.array([reader.real() for _ in range(3)], dtype=np.float32).reshape(3, 1, 1)
    convs: list[Conv] = []
    affines: list[Affine] = []
    position, channels_in = reader.pos, 3
    for filters, kernel, stride, padding in _expected_convs():
        reader = _Reader(data, _after(data, b"con_4", position))
        params = reader.tensor().ravel()
        found = tuple(reader.integer() for _ in range(7))  # filters, nr, nc, stride y/x, padding y/x
        if found != (filters, kernel, kernel, stride, stride, padding, padding):
            raise ValueError(f"conv {len(convs)} is {found}, expected {filters}x{kernel} /{stride} pad {padding}")
        size = filters * channels_in * kernel * kernel
        convs.append(
            Conv(params[:size].reshape(filters, -1), params[size:].reshape(filters, 1), kernel, stride, padding)
        )
        reader = _Reader(data, _after(data, b"affine_", reader.pos))
        scale_shift = reader.tensor().ravel()
        if scale_shift.size != 2 * filters:
            raise ValueError(f"affine {len(affines)} has {scale_shift.size} values, expected {2 * filters}")
        affines.append(Affine(scale_shift[:filters].reshape(-1, 1, 1), scale_shift[filters:].reshape(-1, 1, 1)))
        position, channels_in = reader.pos, filters
    reader = _Reader(data, _after(data, b"fc_2", position))
    outputs, inputs = reader.integer(), reader.integer()
    fc = reader.tensor().reshape(inputs, outputs)
    if (inputs, outputs) != (256, 128):
        raise ValueError(f"fc is {inputs}->{outputs}, expected 256->128")
    return ResnetWeights(mean, tuple(convs), tuple(affines), fc)


def _conv(x: F32, conv: Conv) -> F32:
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((0, 0), (p, p), (p, p)))
    k, s = conv.kernel, conv.stride
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]
    _, out_h, out_w, _, _ = windows.shape
    columns = windows.transpose(0, 3, 4, 1, 2).reshape(-1, out_h * out_w)
    result: F32 = (conv.weights @ columns + conv.bias).reshape(-1, out_h, out_w)
    return result


def _pool(x: F32, size: int, stride: int, reduce: str) -> F32:
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    pooled: F32 = windows.max(axis=(3, 4)) if reduce == "max" else windows.mean(axis=(3, 4), dtype=np.float32)
    return pooled


def _add_padded(a: F32, b: F32) -> F32:
    """dlib's add_prev: tensors of different sizes add as if zero-padded at the end of each axis."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out


def describe(weights: ResnetWeights, chip: RGBImage) -> FloatVector:
    """The 128-d descriptor of one aligned 150x150 RGB chip."""
    if chip.shape != (_CHIP_PX, _CHIP_PX, 3):
        raise InvalidInput(f"expected a {_CHIP_PX}x{_CHIP_PX} RGB face chip, got an array of shape {chip.shape}")
    x: F32 = (chip.transpose(2, 0, 1).astype(np.float32) - weights.input_mean) / np.float32(256.0)
    convs, affines = iter(weights.convs), iter(weights.affines)

    def conv_affine(t: F32) -> F32:
        affine = next(affines)
        return _conv(t, next(convs)) * affine.gamma + affine.beta

    x = _pool(np.maximum(conv_affine(x), 0), 3, 2, "max")
    for _, down in BLOCKS:
        y = conv_affine(np.maximum(conv_affine(x), 0))
        x = np.maximum(_add_padded(y, _pool(x, 2, 2, "mean") if down else x), 0)
    pooled = x.mean(axis=(1, 2), dtype=np.float32)
    vector: FloatVector = (pooled @ weights.fc).astype(np.float32)
    return vector
