"""The GGUF header: metadata and tensor directory, read and checked before
any weight is loaded.

The `gguf` package gives the format's constants (magic, value and tensor
types, block sizes). Its GGUFReader is not used: it builds a numpy view per
array item (about 10 s for a 49k-token vocabulary on a 2-core machine) and
trusts the counts a file declares. This reader walks the header once over a
read-only mmap and checks every count against the bytes left, so a truncated
file, a lying header or a huge declared array is refused in milliseconds
without allocating what it declares.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType
from gguf import GGUFValueType as V

from ...api.errors import ErrorCode, ServingError

# Limits far above any real model's (a 256k vocabulary, a 2,000-tensor
# directory), low enough that a hostile header cannot make us loop for minutes.
MAX_ARRAY_ITEMS = 1 << 22
MAX_STRING_BYTES = 1 << 24
MAX_METADATA_KEYS = 1 << 16
MAX_TENSORS = 1 << 17
MAX_DIMS = 4

_SCALARS: dict[V, struct.Struct] = {
    V.UINT8: struct.Struct("<B"), V.INT8: struct.Struct("<b"),
    V.UINT16: struct.Struct("<H"), V.INT16: struct.Struct("<h"),
    V.UINT32: struct.Struct("<I"), V.INT32: struct.Struct("<i"),
    V.UINT64: struct.Struct("<Q"), V.INT64: struct.Struct("<q"),
    V.FLOAT32: struct.Struct("<f"), V.FLOAT64: struct.Struct("<d"),
    V.BOOL: struct.Struct("<?"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: GGMLQuantizationType
    shape: tuple[int, ...]  # ggml order: the first dimension is the innermost
    offset: int  # from the start of the file
    nbytes: int


@dataclass(frozen=True)
class GgufHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    file_size: int

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)


class GgufFormatError(ValueError):
    """The file is not a well-formed GGUF file."""


def read_header(path: Path) -> GgufHeader:
    """The header of the GGUF file at `path`; ServingError(MODEL_LOAD_FAILED) naming
    what is wrong when it is not a well-formed GGUF file."""
    try:
        # Non-blocking: a FIFO swapped in after the caller's check must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):  # swapped after the caller's check
                raise GgufFormatError("not a regular file")
            size = info.st_size
            if size < 24:
                raise GgufFormatError(f"{size} bytes is too short for a GGUF header")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _Parser(data, path, size).header()
    except GgufFormatError as exc:
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED,
                           f"{str(path)!r} is not a valid GGUF file: {exc}", model=str(path)) from None
    except OSError as exc:
        raise ServingError(ErrorCode.MODEL_LOAD_FAILED, f"could not read {str(path)!r}: {exc}",
                           model=str(path)) from None


class _Parser:
    def __init__(self, data: mmap.mmap, path: Path, size: int) -> None:
        self.data = data
        self.path = path
        self.size = size
        self.at = 0

    def header(self) -> GgufHeader:
        magic = self._u32()
        if magic != GGUF_MAGIC:
            raise GgufFormatError(f"no GGUF magic (the file starts with {bytes(self.data[:4])!r})")
        version = self._u32()
        if version not in (2, 3):
            raise GgufFormatError(f"GGUF version {version}; versions 2 and 3 are supported")
        tensor_count, key_count = self._u64(), self._u64()
        if key_count > MAX_METADATA_KEYS:
            raise GgufFormatError(f"the header declares {key_count} metadata keys "
                                  f"(at most {MAX_METADATA_KEYS})")
        if tensor_count > MAX_TENSORS:
            raise GgufFormatError(f"the header declares {tensor_count} tensors "
                                  f"(at most {MAX_TENSORS})")
        metadata: dict[str, Any] = {}
        for _ in range(key_count):
            key = self._string()
            metadata[key] = self._value(V(self._enum(V, "metadata value type", key)), key)
        directory = [self._tensor_info() for _ in range(tensor_count)]
        alignment = metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GgufFormatError(f"general.alignment {alignment!r} is not a power of two")
        data_start = -(-self.at // alignment) * alignment
        tensors = [self._placed(name, kind, shape, offset, data_start, alignment)
                   for name, kind, shape, offset in directory]
        return GgufHeader(path=self.path, version=version, metadata=metadata, tensors=tensors,
                          file_size=self.size)

    def _placed(self, name: str, kind: GGMLQuantizationType, shape: tuple[int, ...], offset: int,
                data_start: int, alignment: int) -> TensorInfo:
        block, block_bytes = GGML_QUANT_SIZES[kind]
        if shape[0] % block:
            raise GgufFormatError(f"tensor {name!r}: its first dimension {shape[0]} is not a "
                                  f"multiple of the {kind.name} block size {block}")
        count = 1
        for dim in shape:
            count *= dim
        nbytes = count // block * block_bytes
        start = data_start + offset
        if offset % alignment:
            raise GgufFormatError(f"tensor {name!r}: offset {offset} is not aligned to {alignment}")
        if start + nbytes > self.size:
            raise GgufFormatError(f"tensor {name!r} ({kind.name}, {nbytes} bytes at {start}) ends "
                                  f"past the end of the file ({self.size} bytes): truncated?")
        return TensorInfo(name=name, type=kind, shape=shape, offset=start, nbytes=nbytes)

    def _tensor_info(self) -> tuple[str, GGMLQuantizationType, tuple[int, ...], int]:
        name = self._string()
        dims = self._u32()
        if not 1 <= dims <= MAX_DIMS:
            raise GgufFormatError(f"tensor {name!r} has {dims} dimensions (1 to {MAX_DIMS})")
        shape = tuple(self._u64() for _ in range(dims))
        if any(dim == 0 or dim > 1 << 40 for dim in shape):
            raise GgufFormatError(f"tensor {name!r} has the shape {list(shape)}")
        kind = GGMLQuantizationType(self._enum(GGMLQuantizationType, "tensor type", name))
        return name, kind, shape, self._u64()

    def _value(self, kind: V, key: str) -> Any:
        if kind == V.STRING:
            return self._string()
        if kind == V.ARRAY:
            item = V(self._enum(V, "array item type", key))
            count = self._u64()
            smallest = 8 if item == V.STRING else 8 if item == V.ARRAY else _SCALARS[item].size
            if count > MAX_ARRAY_ITEMS or count * smallest > self.size - self.at:
                raise GgufFormatError(f"metadata {key!r} declares an array of {count} items, more "
                                      f"than the {self.size - self.at} bytes left can hold "
                                      f"(or over {MAX_ARRAY_ITEMS})")
            if item in _SCALARS and item != V.BOOL:
                return self._scalar_array(item, count)
            return [self._value(item, key) for _ in range(count)]
        scalar = _SCALARS[kind]
        value = scalar.unpack_from(self._take(scalar.size), 0)[0]
        return value

    def _scalar_array(self, item: V, count: int) -> list[Any]:
        unpack = _SCALARS[item]
        raw = self._take(unpack.size * count)
        return [value for (value,) in unpack.iter_unpack(raw)] if count else []

    def _enum(self, enum: Any, what: str, where: str) -> int:
        value = self._u32()
        try:
            enum(value)
        except ValueError:
            raise GgufFormatError(f"unknown {what} {value} at {where!r}") from None
        return value

    def _string(self) -> str:
        length = self._u64()
        if length > MAX_STRING_BYTES:
            raise GgufFormatError(f"a string of {length} bytes at byte {self.at - 8}")
        raw = self._take(length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GgufFormatError(f"a string at byte {self.at - length} is not UTF-8") from None

    def _u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def _u64(self) -> int:
        return int(_U64.unpack(self._take(8))[0])

    def _take(self, count: int) -> bytes:
        end = self.at + count
        if end > self.size:
            raise GgufFormatError(f"the header ends early (truncated, or a count that lies): "
                                  f"{count} bytes wanted at byte {self.at}, the file has "
                                  f"{self.size}")
        raw = self.data[self.at:end]
        self.at = end
        return raw
