"""Read and write safetensors files with NumPy alone, reading through a zero-copy memory map.

The format (huggingface/safetensors README): an 8-byte little-endian header length ``N``, then ``N`` bytes
of UTF-8 JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``
padded with spaces, then the byte buffer. Offsets are relative to the buffer; the tensors tile the buffer
exactly (no holes, no overlaps); data is little-endian and in C order.

``read_safetensors`` maps the file read-only and returns ``np.frombuffer`` views of the map, so a checkpoint
never sits in memory twice (the `safetensors` package copies every tensor for NumPy). BF16 has no NumPy
dtype and is upcast to float32 at read, which is necessarily a copy. Every returned array is read-only.

Big-endian hosts are not supported: the views are declared little-endian (``<f4``...), which NumPy reads
correctly but slowly there; nothing here byte-swaps them to native order.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap as _mmap
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from deberta_np.errors import CheckpointError
from deberta_np.jsonio import loads

__all__ = ["atomic_writer", "read_safetensors", "read_safetensors_header", "write_safetensors"]

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's cap (MAX_HEADER_SIZE)
MAX_DIMS = 64  # NumPy's limit (NPY_MAXDIMS)
MAX_BYTES = 2**63 - 1  # NumPy's limit on an array's size in bytes, zero-sized or not

# safetensors dtype name -> little-endian NumPy dtype. "BF16" is read as raw uint16 and upcast.
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# Writer: NumPy kind+itemsize -> safetensors name: the reader's table turned round, less BF16 (no NumPy dtype).
_NAMES: dict[tuple[str, int], str] = {
    (dtype.kind, dtype.itemsize): name for name, dtype in _DTYPES.items() if name != "BF16"
}

# The order in which the `safetensors` package lays tensors out: by its `Dtype` enum, largest first,
# then by name. Only the relative order of the dtypes we can write matters.
_PACKAGE_DTYPE_RANK = {
    name: rank
    for rank, name in enumerate(
        ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
    )
}


def _fail(path: str | os.PathLike, what: str, name: str | None = None) -> CheckpointError:
    where = f"{os.fspath(path)}" + (f", tensor {name!r}" if name is not None else "")
    if os.path.islink(path):
        where += f" (a link to {os.path.realpath(path)})"
    return CheckpointError(f"safetensors file {where}: {what}")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in the JSON header")
        out[key] = value
    return out


def _is_int(x: object) -> bool:
    return type(x) is int  # not bool, not float


def _parse_header(
    path: str | os.PathLike, head: bytes, buffer_len: int
) -> tuple[dict[str, tuple[str, tuple[int, ...], int, int]], dict[str, str]]:
    """Validate a JSON header; return ``{name: (dtype, shape, begin, end)}`` and the metadata."""
    if not head.startswith(b"{"):
        raise _fail(path, "the header does not start with '{'")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(path, f"the header is not UTF-8 ({e})") from None
    obj = loads(text, lambda reason: _fail(path, f"the header is not valid JSON: {reason}"),
                object_pairs_hook=_no_duplicates)  # fmt: skip
    if not isinstance(obj, dict):
        raise _fail(path, "the header is not a JSON object")

    metadata: dict[str, str] = {}
    if "__metadata__" in obj:
        raw = obj.pop("__metadata__")
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise _fail(path, "__metadata__ must be an object mapping strings to strings")
        metadata = raw

    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for name, entry in obj.items():
        if not isinstance(entry, dict):
            raise _fail(path, "the entry is not a JSON object", name)
        missing = {"dtype", "shape", "data_offsets"} - entry.keys()
        if missing:
            raise _fail(path, f"the entry lacks {sorted(missing)}", name)
        extra = entry.keys() - {"dtype", "shape", "data_offsets"}
        if extra:
            raise _fail(path, f"the entry has unknown fields {sorted(extra)}", name)
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str):
            raise _fail(path, f"dtype must be a string, got {dtype!r}", name)
        if dtype not in _DTYPES:
            raise _fail(path, f"unknown dtype {dtype!r} (supported: {', '.join(_DTYPES)})", name)
        if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
            raise _fail(path, f"shape must be a list of integers, got {shape!r}", name)
        if any(d < 0 for d in shape):
            raise _fail(path, f"negative dimension in shape {shape}", name)
        if len(shape) > MAX_DIMS:
            raise _fail(
                path, f"shape has {len(shape)} dimensions, more than the {MAX_DIMS} NumPy allows", name
            )
        # NumPy refuses a shape whose nonzero dimensions multiply past 2**63 bytes, even when another is 0
        if math.prod(max(d, 1) for d in shape) * _DTYPES[dtype].itemsize > MAX_BYTES:
            raise _fail(path, f"shape {shape} is larger than any array can be (2**63 bytes)", name)
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _fail(path, f"data_offsets must be [begin, end] integers, got {offsets!r}", name)
        begin, end = offsets
        if not 0 <= begin <= end <= buffer_len:
            raise _fail(
                path, f"data_offsets [{begin}, {end}] outside the {buffer_len}-byte data buffer", name
            )
        nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
        if nbytes != end - begin:
            raise _fail(
                path,
                f"shape {shape} of {dtype} needs {nbytes} bytes but data_offsets [{begin}, {end}] "
                f"span {end - begin}",
                name,
            )
        entries[name] = (dtype, tuple(shape), begin, end)

    # The tensors must tile the buffer exactly: sorted by offsets, each starts where the previous ended.
    expected, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin < expected:
            raise _fail(path, f"data_offsets [{begin}, {end}] overlap tensor {previous!r}", name)
        if begin > expected:
            raise _fail(
                path, f"hole in the data buffer: bytes [{expected}, {begin}) belong to no tensor", name
            )
        expected, previous = end, name
    if expected != buffer_len:
        raise _fail(
            path, f"bytes [{expected}, {buffer_len}) at the end of the data buffer belong to no tensor"
        )
    return entries, metadata


def _header_length(path: str | os.PathLike, prefix: bytes, size: int) -> int:
    """The header length that the first 8 bytes of a `size`-byte file give, after checking it is sane."""
    if size < 8:
        raise _fail(path, f"the file is {size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        # Not the number: from a file that is not safetensors it would echo 8 bytes of its content.
        raise _fail(
            path,
            "not a safetensors file: the header length its first 8 bytes give exceeds the "
            f"{MAX_HEADER_BYTES}-byte limit",
        )
    if 8 + n > size:
        raise _fail(path, f"header length {n} runs past the end of the {size}-byte file (truncated?)")
    return n


def _read_prefix(path: str | os.PathLike) -> tuple[int, int]:
    """Return (file size, header length) after checking both are sane."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
    return size, _header_length(path, prefix, size)


def read_safetensors_header(
    path: str | os.PathLike,
) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """Validate a safetensors file's header without touching its data: ``({name: (dtype, shape)}, metadata)``."""
    size, n = _read_prefix(path)
    with open(path, "rb") as f:
        f.seek(8)
        head = f.read(n)
    entries, metadata = _parse_header(path, head, size - 8 - n)
    return {name: (dtype, shape) for name, (dtype, shape, _, _) in entries.items()}, metadata


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def read_safetensors(
    path: str | os.PathLike, mmap: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``, tensors as read-only zero-copy views of a memory map.

    mmap=False reads the file into private memory instead, so that replacing or truncating the file later
    cannot change (or, with SIGBUS, crash) what was loaded; it costs the file's size in memory.
    BF16 tensors come back as float32 copies; BOOL tensors are checked to hold only 0 and 1 bytes.
    Raises CheckpointError, naming the file, the tensor and the problem, for anything malformed.
    """
    with open(path, "rb") as f:
        if mmap:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise _fail(path, f"the file is {size} bytes, shorter than the 8-byte header length")
            buffer: Any = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)  # open while any view lives
        else:
            buffer = f.read()
            size = len(buffer)
    try:
        n = _header_length(path, buffer[:8], size)
        entries, metadata = _parse_header(path, buffer[8 : 8 + n], size - 8 - n)
    except CheckpointError:
        if mmap:
            buffer.close()  # no view exists yet
        raise
    base = 8 + n
    tensors: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        dt = _DTYPES[dtype]
        flat = np.frombuffer(buffer, dtype=dt, count=(end - begin) // dt.itemsize, offset=base + begin)
        if dtype == "BF16":
            flat = _readonly((flat.astype(np.uint32) << 16).view(np.float32))
        elif dtype == "BOOL" and flat.size and flat.view(np.uint8).max() > 1:
            raise _fail(path, "BOOL tensor holds bytes other than 0 and 1", name)
        tensors[name] = flat.reshape(shape)
    return tensors, metadata


def write_safetensors(
    path: str | os.PathLike, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` as a safetensors file, byte-for-byte as ``safetensors.numpy.save_file`` would.

    The layout follows the package: tensors ordered by dtype (largest first, as its Dtype enum) then by
    name, compact JSON, header padded with spaces to a multiple of 8 bytes. Metadata keys are written
    sorted (the package iterates a hash map, so with two or more metadata entries its order varies).
    Accepts float64/32/16, signed and unsigned integer and bool arrays; others raise CheckpointError.
    """
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise CheckpointError(f"safetensors file {os.fspath(path)}: metadata must map strings to strings")
    prepared: list[tuple[str, str, np.ndarray]] = []
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise CheckpointError(f"safetensors file {os.fspath(path)}: invalid tensor name {name!r}")
        arr = np.asarray(value)
        st = _NAMES.get((arr.dtype.kind, arr.dtype.itemsize))
        if st is None:
            raise CheckpointError(
                f"safetensors file {os.fspath(path)}, tensor {name!r}: cannot write dtype {arr.dtype}"
            )
        arr = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")  # keeps 0-d arrays 0-d
        prepared.append((name, st, arr))
    prepared.sort(key=lambda item: (-_PACKAGE_DTYPE_RANK[item[1]], item[0]))

    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset = 0
    for name, st, arr in prepared:
        header[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    with atomic_writer(path) as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for _, _, arr in prepared:
            f.write(arr.reshape(-1).view(np.uint8).data)  # no extra copy of a contiguous array


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write `path` through a temporary file in its folder, renamed over it only once complete and on disk.

    An interrupted write then leaves the old file whole, and a reader that memory-maps the old file keeps
    its (unlinked) inode instead of seeing it truncated under its pages (SIGBUS) or rewritten."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 gives the permissions the umask allows, as open() would (mkstemp's are 0o600)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
