"""Read ``pytorch_model.bin`` (the zip format of ``torch.save``, torch >= 1.6) without torch, safely.

A torch zip holds ``<archive>/data.pkl`` (a pickle, protocol 2 by default), the raw bytes of every
storage as ``<archive>/data/<key>`` and a ``<archive>/byteorder`` record. Unpickling is code execution
unless it is restricted, so this module does not use :mod:`pickle` at all: it interprets the opcodes
itself, like torch's ``torch/_weights_only_unpickler.py``, with these rules:

* GLOBAL/STACK_GLOBAL resolve only the names in ``ALLOWED_GLOBALS`` (the handful a state dict needs), each
  to a stand-in of ours; every other name raises :class:`UnsafeCheckpointError`. Nothing is imported.
* REDUCE calls only our stand-ins; NEWOBJ builds only an empty OrderedDict; INST and OBJ are refused.
* SETITEM(S) only on dicts, APPEND(S) only on lists, BUILD only on an OrderedDict or a parameter stand-in
  (their state, e.g. ``_metadata``, is dropped: it is not weights).
* The opcode set is protocol 2-5 minus everything a state dict never needs (out-of-band buffers,
  extension codes, sets, byte strings, text-protocol opcodes); the memo, stack and mark depth are bounded.
* A storage is a zero-copy view of an ``mmap`` of the zip file at the member's data offset (read from the
  local file header). The member must be stored, not compressed (no decompression bomb), and its size
  must equal ``numel * itemsize`` exactly (the CVE-2026-24747 storage-size class).
* Tensors are bounds-checked against their storage. Copies (non-contiguous views, BF16 -> float32,
  big-endian files, and the key names that joining nested dicts builds) are charged to a budget of a few
  times the file size, so a small file cannot make us allocate without bound.
* Tuples may nest at most ``MAX_TUPLE_DEPTH`` deep: hashing one (as a dict key) recurses in C without a
  depth check, and a tuple nested 10^6 deep crashes the interpreter. Error messages show values through
  a depth- and length-limited repr, so a deep or huge value cannot blow up the error itself.
* Dtypes a state dict of ours never holds (complex, float8, uint16, quantized) are recognised, so that the
  error names the tensor and its dtype instead of calling the file unsafe.
* The result must be a dict (possibly nested; nested keys are joined with ".") whose leaves are tensors.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import reprlib
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deberta_np.errors import CheckpointError, UnsafeCheckpointError

__all__ = ["ALLOWED_GLOBALS", "read_torch_zip"]

MAX_PICKLE_BYTES = 256 * 2**20
MAX_MEMO_INDEX = 2**22  # a state dict uses about 10 memo entries per tensor
MAX_STACK_ITEMS = 2**22
MAX_MARK_DEPTH = 256
MAX_DIMS = 64
MAX_DICT_DEPTH = 8
MAX_TUPLE_DEPTH = 64  # a state dict nests tuples about 3 deep (persistent ids, sizes)
MAX_INT = 2**62
COPY_BUDGET_FACTOR = 4  # copies may total this many times the file size (+1 MiB)

LEGACY_MESSAGE = (
    "not a torch zip file; legacy (pre-1.6) torch.save files are not supported: "
    "re-save with torch>=1.6 or convert to safetensors"
)


# ----------------------------------------------------------------------------------------------------
# Stand-ins for the allowlisted globals. None of them is a real class or function of torch.


class _Global:
    """An allowlisted global: a token that only the interpreter knows how to call."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __repr__(self) -> str:
        return f"<stand-in for {self.qualname}>"


class _StorageType(_Global):
    """``torch.FloatStorage`` and friends: only valid inside a persistent id. ``dtype`` None: a torch dtype
    deberta_np does not read (complex, quantized); its tensors are reported by name when the dict is read."""

    def __init__(self, qualname: str, dtype: str | None, torch_name: str) -> None:
        super().__init__(qualname)
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.torch_name = torch_name


class _DtypeName(_Global):
    """``torch.float8_e4m3fn`` and the other dtypes torch saves through ``_rebuild_tensor_v3``."""


class _Storage:
    """One loaded storage: a 1-D native-endian view (BF16 as raw uint16); no view for an unsupported dtype."""

    def __init__(self, key: str, kind: _StorageType, flat: np.ndarray | None) -> None:
        self.key, self.kind, self.flat = key, kind, flat


class _Tensor:
    """A rebuilt tensor (``parameter`` marks ``nn.Parameter``); unwrapped to its array at the end.
    ``unsupported`` names the torch dtype of a tensor that has no array here."""

    def __init__(
        self, array: np.ndarray | None, parameter: bool = False, unsupported: str | None = None
    ) -> None:
        self.array, self.parameter, self.unsupported = array, parameter, unsupported


_ORDERED_DICT = _Global("collections.OrderedDict")
_REBUILD_TENSOR_V2 = _Global("torch._utils._rebuild_tensor_v2")
_REBUILD_TENSOR_V3 = _Global("torch._utils._rebuild_tensor_v3")  # torch >= 2.1, for the dtypes below
_REBUILD_TENSOR = _Global("torch._utils._rebuild_tensor")
_REBUILD_PARAMETER = _Global("torch._utils._rebuild_parameter")
_REBUILD_PARAMETER_WITH_STATE = _Global("torch._utils._rebuild_parameter_with_state")
_REBUILD_FROM_TYPE_V2 = _Global("torch._tensor._rebuild_from_type_v2")
_SIZE = _Global("torch.Size")
_DEVICE = _Global("torch.device")
_TENSOR_TYPE = _Global("torch.Tensor")  # only as the new_type argument of _rebuild_from_type_v2
_PARAMETER_TYPE = _Global("torch.nn.parameter.Parameter")  # likewise

_STORAGE_TYPES = [
    _StorageType("torch.DoubleStorage", "<f8", "float64"),
    _StorageType("torch.FloatStorage", "<f4", "float32"),
    _StorageType("torch.HalfStorage", "<f2", "float16"),
    _StorageType("torch.BFloat16Storage", "<u2", "bfloat16"),
    _StorageType("torch.LongStorage", "<i8", "int64"),
    _StorageType("torch.IntStorage", "<i4", "int32"),
    _StorageType("torch.ShortStorage", "<i2", "int16"),
    _StorageType("torch.CharStorage", "i1", "int8"),
    _StorageType("torch.ByteStorage", "u1", "uint8"),
    _StorageType("torch.BoolStorage", "?", "bool"),
    _StorageType("torch.storage.UntypedStorage", "u1", "bytes"),  # the storage of _rebuild_tensor_v3
    _StorageType("torch.ComplexFloatStorage", None, "complex64"),
    _StorageType("torch.ComplexDoubleStorage", None, "complex128"),
    _StorageType("torch.QInt8Storage", None, "qint8"),
    _StorageType("torch.QUInt8Storage", None, "quint8"),
    _StorageType("torch.QInt32Storage", None, "qint32"),
    _StorageType("torch.QUInt4x2Storage", None, "quint4x2"),
    _StorageType("torch.QUInt2x4Storage", None, "quint2x4"),
]
_BF16 = _STORAGE_TYPES[3]
# torch.<name> dtypes that torch.save writes with _rebuild_tensor_v3 (none has a legacy storage class).
_V3_DTYPES = [
    *(f"float8_{v}" for v in ("e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e8m0fnu")),
    "float4_e2m1fn_x2",
    "complex32",
    *(f"uint{n}" for n in (1, 2, 3, 4, 5, 6, 7, 16, 32, 64)),
    *(f"int{n}" for n in range(1, 8)),
    *("bits1x8", "bits2x4", "bits4x2", "bits8", "bits16"),
]

ALLOWED_GLOBALS: dict[str, _Global] = {
    g.qualname: g
    for g in [
        _ORDERED_DICT,
        _REBUILD_TENSOR_V2,
        _REBUILD_TENSOR_V3,
        _REBUILD_TENSOR,
        _REBUILD_PARAMETER,
        _REBUILD_PARAMETER_WITH_STATE,
        _REBUILD_FROM_TYPE_V2,
        _SIZE,
        _DEVICE,
        _TENSOR_TYPE,
        _PARAMETER_TYPE,
        *_STORAGE_TYPES,
        *(_DtypeName(f"torch.{name}") for name in _V3_DTYPES),
    ]
}
ALLOWED_GLOBALS["torch._tensor.Tensor"] = _TENSOR_TYPE
ALLOWED_GLOBALS["torch.nn.Parameter"] = _PARAMETER_TYPE


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def _show(x: object) -> str:
    """repr for error messages: bounded in depth and length whatever the pickle built."""
    return _SHORT.repr(x)


def _is_int(x: object, low: int = 0) -> bool:
    return type(x) is int and low <= x < MAX_INT


# ----------------------------------------------------------------------------------------------------
# The zip container.

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... name length, extra length (30 bytes)


class _Archive:
    """A validated torch zip: member table, archive prefix and a read-only map of the whole file."""

    def __init__(self, path: str | os.PathLike, use_mmap: bool = True) -> None:
        self.path = os.fspath(path)
        self.size = os.path.getsize(path)
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic != b"PK\x03\x04":
                raise CheckpointError(f"{self.path}: {LEGACY_MESSAGE}")
            try:
                with zipfile.ZipFile(f) as zf:
                    infos = zf.infolist()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise CheckpointError(f"{self.path}: truncated or corrupt zip file ({e})") from None
            if use_mmap:
                self.mm: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            else:  # private memory: later changes to the file cannot reach what was loaded
                f.seek(0)
                self.mm = f.read()
                self.size = len(self.mm)
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            parts = name.split("/")
            if name.startswith("/") or "\\" in name or "\0" in name or ".." in parts or ":" in parts[0]:
                raise CheckpointError(f"{self.path}: zip member name {name!r} escapes the archive")
            if name in self.members:
                raise CheckpointError(f"{self.path}: zip member {name!r} appears twice")
            self.members[name] = info
        pickles = [n for n in self.members if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pickles) != 1:
            found = "none" if not pickles else ", ".join(pickles)
            raise CheckpointError(f"{self.path}: expected one <archive>/data.pkl in the zip, found {found}")
        self.prefix = pickles[0][: -len("/data.pkl")]

    def member(self, name: str) -> zipfile.ZipInfo | None:
        return self.members.get(f"{self.prefix}/{name}")

    def data_offset(self, info: zipfile.ZipInfo) -> int:
        """Check that ``info`` is stored, unencrypted and inside the file; return where its bytes start."""
        where = f"{self.path}: zip member {info.filename}"
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{where} is compressed (method {info.compress_type}); torch.save writes stored members "
                "and deberta_np refuses to inflate (decompression bombs)"
            )
        if info.flag_bits & 1:
            raise CheckpointError(f"{where} is encrypted")
        if info.compress_size != info.file_size:
            raise CheckpointError(f"{where} is stored but its sizes disagree")
        start = info.header_offset
        if start + _LOCAL_HEADER.size > self.size:
            raise CheckpointError(f"{where}: local header lies past the end of the file (truncated?)")
        fields = _LOCAL_HEADER.unpack_from(self.mm, start)
        if fields[0] != b"PK\x03\x04":
            raise CheckpointError(f"{where}: bad local header signature")
        name_len, extra_len = fields[-2], fields[-1]
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        local_name = self.mm[start + 30 : start + 30 + name_len]
        if local_name != info.orig_filename.encode(encoding):
            raise CheckpointError(f"{where}: local header names {local_name!r} instead")
        offset = start + 30 + name_len + extra_len
        if offset + info.file_size > self.size:
            raise CheckpointError(f"{where}: data runs past the end of the file (truncated?)")
        return offset

    def read_small(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        if info.file_size > limit:
            raise CheckpointError(f"{self.path}: zip member {info.filename} is larger than {limit} bytes")
        offset = self.data_offset(info)
        return self.mm[offset : offset + info.file_size]


# ----------------------------------------------------------------------------------------------------
# The restricted unpickler.


# Opcode byte -> (its name, the handler method, the struct format of the argument that follows it in the stream).
# Anything absent is refused. Opcodes that differ only in the width of their argument share one handler.
_OPCODES: dict[int, tuple[str, str, str]] = {
    code[0]: (name, handler, argument)
    for name, code, handler, argument in (
        # framing
        ("PROTO", b"\x80", "_op_proto", "<B"),
        ("FRAME", b"\x95", "_op_frame", "<Q"),
        ("STOP", b".", "_op_stop", ""),
        # stack and memo
        ("MARK", b"(", "_op_mark", ""),
        ("POP", b"0", "_op_pop", ""),
        ("POP_MARK", b"1", "_op_pop_mark", ""),
        ("BINGET", b"h", "_op_get", "<B"),
        ("LONG_BINGET", b"j", "_op_get", "<I"),
        ("BINPUT", b"q", "_op_put", "<B"),
        ("LONG_BINPUT", b"r", "_op_put", "<I"),
        ("MEMOIZE", b"\x94", "_op_memoize", ""),
        # plain values
        ("NONE", b"N", "_op_none", ""),
        ("NEWTRUE", b"\x88", "_op_newtrue", ""),
        ("NEWFALSE", b"\x89", "_op_newfalse", ""),
        ("BININT", b"J", "_op_push", "<i"),
        ("BININT1", b"K", "_op_push", "<B"),
        ("BININT2", b"M", "_op_push", "<H"),
        ("BINFLOAT", b"G", "_op_push", ">d"),
        ("LONG1", b"\x8a", "_op_long", "<B"),
        ("SHORT_BINUNICODE", b"\x8c", "_op_string", "<B"),
        ("BINUNICODE", b"X", "_op_string", "<I"),
        ("BINUNICODE8", b"\x8d", "_op_string", "<Q"),
        # containers
        ("EMPTY_TUPLE", b")", "_op_empty_tuple", ""),
        ("TUPLE", b"t", "_op_tuple", ""),
        ("TUPLE1", b"\x85", "_op_tuple1", ""),
        ("TUPLE2", b"\x86", "_op_tuple2", ""),
        ("TUPLE3", b"\x87", "_op_tuple3", ""),
        ("EMPTY_LIST", b"]", "_op_empty_list", ""),
        ("APPEND", b"a", "_op_append", ""),
        ("APPENDS", b"e", "_op_appends", ""),
        ("EMPTY_DICT", b"}", "_op_empty_dict", ""),
        ("SETITEM", b"s", "_op_setitem", ""),
        ("SETITEMS", b"u", "_op_setitems", ""),
        # globals and calls
        ("GLOBAL", b"c", "_op_global", ""),
        ("STACK_GLOBAL", b"\x93", "_op_stack_global", ""),
        ("INST", b"i", "_op_inst", ""),
        ("OBJ", b"o", "_op_obj", ""),
        ("NEWOBJ", b"\x81", "_op_newobj", ""),
        ("REDUCE", b"R", "_op_reduce", ""),
        ("BUILD", b"b", "_op_build", ""),
        ("BINPERSID", b"Q", "_op_binpersid", ""),
    )
}


class _Unpickler:
    """Interpret ``data.pkl`` opcode by opcode; see the module docstring for the rules."""

    def __init__(self, archive: _Archive, data: bytes, byteorder: str) -> None:
        self.archive, self.data, self.byteorder = archive, data, byteorder
        self.where = f"{archive.path}: {archive.prefix}/data.pkl"
        self.pos = 0
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.storages: dict[str, _Storage] = {}
        self.copy_budget = COPY_BUDGET_FACTOR * archive.size + 2**20
        self.tuple_depth: dict[int, tuple[tuple[Any, ...], int]] = {}  # id -> (tuple, nesting depth)
        self.entries = MAX_MEMO_INDEX  # dict entries flatten may visit (shared nested dicts repeat)
        self.handlers: dict[_Global, Callable[..., Any]] = {
            _ORDERED_DICT: self._ordered_dict,
            _REBUILD_TENSOR_V2: self._rebuild_tensor_v2,
            _REBUILD_TENSOR_V3: self._rebuild_tensor_v3,
            _REBUILD_TENSOR: self._rebuild_tensor,
            _REBUILD_PARAMETER: self._rebuild_parameter,
            _REBUILD_PARAMETER_WITH_STATE: self._rebuild_parameter_with_state,
            _REBUILD_FROM_TYPE_V2: self._rebuild_from_type_v2,
            _SIZE: self._size,
            _DEVICE: self._device,
        }

    # -- errors and raw reads

    def error(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.where}: {what}")

    def unsafe(self, what: str) -> UnsafeCheckpointError:
        return UnsafeCheckpointError(f"{self.where}: {what}; refusing to load (not a plain state dict)")

    def read(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.error(f"pickle truncated at byte {self.pos} (wanted {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def readline(self) -> str:
        end = self.data.find(b"\n", self.pos, self.pos + 257)
        if end < 0:
            raise self.error(f"unterminated or over-long name at byte {self.pos}")
        line = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"non-UTF-8 name at byte {self.pos}") from None

    def push(self, x: object) -> None:
        if len(self.stack) >= MAX_STACK_ITEMS:
            raise self.error("pickle stack too deep")
        self.stack.append(x)

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise self.error("pickle pops a MARK that was never set")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    # -- the loop

    def load(self) -> Any:
        if not self.data.startswith(b"\x80"):
            raise self.error("pickle does not start with PROTO (protocol 0/1 pickles are not supported)")
        while True:
            start = self.pos
            op = self.read(1)[0]
            if op not in _OPCODES:
                raise self.unsafe(f"opcode {bytes([op])!r} at byte {start} is not supported")
            name, handler, argument = _OPCODES[op]
            try:
                arguments = struct.unpack(argument, self.read(struct.calcsize(argument))) if argument else ()
                if name == "STOP":
                    return self._op_stop()
                getattr(self, handler)(*arguments)
            except CheckpointError:
                raise
            except (IndexError, KeyError, TypeError, ValueError, OverflowError) as e:
                reason = ", ".join(a if type(a) is str else _show(a) for a in e.args)[:200]
                raise self.error(f"malformed pickle at byte {start} ({name}): {reason}") from None
            except (RecursionError, MemoryError) as e:  # a last line of defence behind the depth bounds
                raise self.error(
                    f"pickle too deeply nested or too large at byte {start}: {type(e).__name__}"
                ) from None

    # -- framing

    def _op_proto(self, proto: int) -> None:
        if self.pos != 2:
            raise self.error("PROTO is allowed only at the start")
        if not 2 <= proto <= 5:
            raise self.error(f"pickle protocol {proto} is not supported (2 to 5 are)")

    def _op_frame(self, n: int) -> None:
        if n > len(self.data) - self.pos:
            raise self.error("pickle FRAME runs past the end of data.pkl")

    def _op_stop(self) -> Any:
        if self.metastack or len(self.stack) != 1:
            raise self.error("pickle ends with an unbalanced stack")
        if self.pos != len(self.data):
            raise self.error(f"{len(self.data) - self.pos} trailing bytes after STOP")
        return self.stack.pop()

    # -- stack and memo

    def _op_mark(self) -> None:
        if len(self.metastack) >= MAX_MARK_DEPTH:
            raise self.error("too many nested MARKs")
        self.metastack.append(self.stack)
        self.stack = []

    def _op_pop(self) -> None:
        self.stack.pop()

    def _op_pop_mark(self) -> None:
        self.pop_mark()

    def _op_get(self, i: int) -> None:
        if i not in self.memo:
            raise self.error(f"memo index {i} was never set")
        self.push(self.memo[i])

    def _op_put(self, i: int) -> None:
        if i >= MAX_MEMO_INDEX:
            raise self.error(f"memo index {i} exceeds the limit {MAX_MEMO_INDEX}")
        self.memo[i] = self.stack[-1]

    def _op_memoize(self) -> None:
        self._op_put(len(self.memo))

    # -- plain values

    def _op_none(self) -> None:
        self.push(None)

    def _op_newtrue(self) -> None:
        self.push(True)

    def _op_newfalse(self) -> None:
        self.push(False)

    def _op_push(self, value: int | float) -> None:
        self.push(value)

    def _op_long(self, n: int) -> None:
        self.push(int.from_bytes(self.read(n), "little", signed=True))

    def _op_string(self, n: int) -> None:
        self.push(str(self.read(n), "utf-8", "surrogatepass"))

    # -- containers

    def _tuple(self, items: list[Any]) -> tuple[Any, ...]:
        """A tuple of `items`, refused if it would nest tuples more than MAX_TUPLE_DEPTH deep."""
        depth = 1
        for item in items:
            if type(item) is tuple and item:
                # a tuple not built here (a torch.Size of ints) holds no tuple: depth 1
                depth = max(depth, 1 + self.tuple_depth.get(id(item), (None, 1))[1])
        if depth > MAX_TUPLE_DEPTH:
            raise self.error(f"tuples nested more than {MAX_TUPLE_DEPTH} deep")
        made = tuple(items)
        if depth > 1:
            self.tuple_depth[id(made)] = (made, depth)  # holding `made` keeps its id from being reused
        return made

    def _op_empty_tuple(self) -> None:
        self.push(())

    def _op_tuple(self) -> None:
        items = self.pop_mark()
        self.push(self._tuple(items))

    def _op_tuple1(self) -> None:
        if not self.stack:
            raise IndexError("TUPLE1 on an empty stack")
        self.stack[-1] = self._tuple(self.stack[-1:])

    def _op_tuple2(self) -> None:
        if len(self.stack) < 2:
            raise IndexError("TUPLE2 on a stack of fewer than 2 items")
        self.stack[-2:] = [self._tuple(self.stack[-2:])]

    def _op_tuple3(self) -> None:
        if len(self.stack) < 3:
            raise IndexError("TUPLE3 on a stack of fewer than 3 items")
        self.stack[-3:] = [self._tuple(self.stack[-3:])]

    def _op_empty_list(self) -> None:
        self.push([])

    def _list_target(self, opcode: str) -> list[Any]:
        target = self.stack[-1]
        if type(target) is not list:
            raise self.unsafe(f"{opcode} on a {type(target).__name__}, not a list")
        return target

    def _op_append(self) -> None:
        item = self.stack.pop()
        self._list_target("APPEND").append(item)

    def _op_appends(self) -> None:
        items = self.pop_mark()
        self._list_target("APPENDS").extend(items)

    def _op_empty_dict(self) -> None:
        self.push({})

    def _dict_target(self, opcode: str) -> dict[Any, Any]:
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict):
            raise self.unsafe(f"{opcode} on a {type(target).__name__}, not a dict")
        return target

    def _op_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self._dict_target("SETITEM")[key] = value

    def _op_setitems(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise self.error("SETITEMS with an odd number of items")
        target = self._dict_target("SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    # -- globals and calls: the only ways a pickle can reach code

    def _resolve(self, module: str, name: str, opcode: str) -> _Global:
        found = ALLOWED_GLOBALS.get(f"{module}.{name}")
        if found is None:
            raise self.unsafe(f"{opcode} asks for {module}.{name}, which is not on the allowlist")
        return found

    def _op_global(self) -> None:
        module = self.readline()
        self.push(self._resolve(module, self.readline(), "GLOBAL"))

    def _op_stack_global(self) -> None:
        name, module = self.stack.pop(), self.stack.pop()
        if type(module) is not str or type(name) is not str:
            raise self.unsafe("STACK_GLOBAL with a module or name that is not a string")
        self.push(self._resolve(module, name, "STACK_GLOBAL"))

    def _op_inst(self) -> None:
        module = self.readline()
        found = self._resolve(module, self.readline(), "INST")
        raise self.unsafe(f"INST of {found.qualname} (torch.save never emits INST)")

    def _op_obj(self) -> None:
        items = self.pop_mark()
        what = items[0].qualname if items and isinstance(items[0], _Global) else "an object"
        raise self.unsafe(f"OBJ of {what} (torch.save never emits OBJ)")

    def _op_newobj(self) -> None:
        args, cls = self.stack.pop(), self.stack.pop()
        if cls is _ORDERED_DICT and args == ():
            self.push(OrderedDict())
            return
        what = cls.qualname if isinstance(cls, _Global) else type(cls).__name__
        raise self.unsafe(f"NEWOBJ of {what} (only an empty OrderedDict is allowed)")

    def _op_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        handler = self.handlers.get(func) if isinstance(func, _Global) else None
        if handler is None:
            what = func.qualname if isinstance(func, _Global) else f"a {type(func).__name__}"
            raise self.unsafe(f"REDUCE calls {what}, which is not callable here")
        if type(args) is not tuple:
            raise self.unsafe(f"REDUCE of {func.qualname} with {type(args).__name__} arguments")
        self.stack[-1] = handler(*args)

    def _op_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is OrderedDict or (isinstance(inst, _Tensor) and inst.parameter):
            if state is not None and type(state) not in (dict, OrderedDict, tuple):
                raise self.unsafe(f"BUILD with a {type(state).__name__} state")
            return  # the state (e.g. an OrderedDict's _metadata) is not weights: dropped
        what = inst.qualname if isinstance(inst, _Global) else type(inst).__name__
        raise self.unsafe(f"BUILD on {what} (only OrderedDict and Parameter are allowed)")

    def _op_binpersid(self) -> None:
        self.push(self._persistent_load(self.stack.pop()))

    # -- stand-ins

    def _ordered_dict(self, *args: Any) -> OrderedDict[Any, Any]:
        if not args:
            return OrderedDict()
        if len(args) == 1 and type(args[0]) is list:
            if not all(type(p) is tuple and len(p) == 2 for p in args[0]):
                raise self.error("OrderedDict(...) of something other than (key, value) pairs")
            return OrderedDict(args[0])
        raise self.unsafe("OrderedDict called with unexpected arguments")

    def _size(self, *args: Any) -> tuple[int, ...]:
        if len(args) != 1 or type(args[0]) not in (tuple, list) or not all(_is_int(d) for d in args[0]):
            raise self.error("torch.Size(...) of something other than a sequence of sizes")
        return tuple(args[0])

    def _device(self, *args: Any) -> str:
        if not args or type(args[0]) is not str or len(args) > 2 or (len(args) == 2 and not _is_int(args[1])):
            raise self.error("torch.device(...) with unexpected arguments")
        return args[0] if len(args) == 1 else f"{args[0]}:{args[1]}"

    def _persistent_load(self, pid: object) -> _Storage:
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] == "storage"):
            raise self.unsafe("a persistent id that is not ('storage', type, key, location, numel)")
        _, kind, key, location, numel = pid
        if not isinstance(kind, _StorageType):
            raise self.unsafe(f"storage {_show(key)} has type {_show(kind)}, not a torch storage class")
        if type(key) is not str or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", key):
            raise self.error(f"storage key {_show(key)} is not a plain name")
        if type(location) is not str or not _is_int(numel):
            raise self.error(f"storage {key}: bad location {_show(location)} or element count {_show(numel)}")
        if key in self.storages:
            seen = self.storages[key]
            if seen.kind is not kind or seen.flat.size != numel:
                raise self.error(f"storage {key} is declared twice with different types or sizes")
            return seen
        member = f"{self.archive.prefix}/data/{key}"
        info = self.archive.member(f"data/{key}")
        if info is None:
            raise self.error(f"storage {key} has no zip member {member}")
        if kind.dtype is None:
            storage = self.storages[key] = _Storage(key, kind, None)
            return storage
        nbytes = numel * kind.dtype.itemsize
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != nbytes:
            raise self.error(
                f"storage {key} declares {numel} {kind.torch_name} elements ({nbytes} bytes) "
                f"but member {member} holds {info.file_size} bytes"
            )
        offset = self.archive.data_offset(info)  # refuses compressed members before reading a byte
        dtype = kind.dtype.newbyteorder(">") if self.byteorder == "big" else kind.dtype
        flat = np.frombuffer(self.archive.mm, dtype=dtype, count=numel, offset=offset)
        if self.byteorder == "big":
            self.charge(flat.nbytes, f"storage {key}")
            flat = flat.astype(kind.dtype)
            flat.flags.writeable = False
        if kind.dtype.kind == "b" and flat.size and flat.view(np.uint8).max() > 1:
            raise self.error(f"bool storage {key} holds bytes other than 0 and 1")
        storage = _Storage(key, kind, flat)
        self.storages[key] = storage
        return storage

    def charge(self, nbytes: int, what: str) -> None:
        self.copy_budget -= nbytes
        if self.copy_budget < 0:
            raise self.error(
                f"copying {what} would make the checkpoint expand to more than {COPY_BUDGET_FACTOR}x "
                "its file size (overlapping or repeated tensor views?)"
            )

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> _Tensor:
        if not isinstance(storage, _Storage):
            raise self.unsafe(f"a tensor rebuilt from a {type(storage).__name__}, not a storage")
        key, flat = storage.key, storage.flat
        if flat is None:
            return _Tensor(None, unsupported=storage.kind.torch_name)
        if (
            type(size) not in (tuple, list)
            or type(stride) not in (tuple, list)
            or len(size) != len(stride)
            or len(size) > MAX_DIMS
            or not all(_is_int(x) for x in (*size, *stride))
            or not _is_int(offset)
        ):
            raise self.error(
                f"tensor on storage {key}: bad offset/size/stride {_show(offset)}, {_show(size)}, {_show(stride)}"
            )
        size, stride = tuple(size), tuple(stride)
        count = math.prod(size)
        is_bf16 = storage.kind is _BF16
        if count == 0:
            empty = np.zeros(size, dtype=np.float32 if is_bf16 else flat.dtype)
            empty.flags.writeable = False
            return _Tensor(empty)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= flat.size:
            raise self.error(
                f"tensor of size {list(size)}, stride {list(stride)}, offset {offset} reads element {last} "
                f"of storage {key}, which holds {flat.size}"
            )
        contiguous, expected = True, 1
        for n, s in zip(reversed(size), reversed(stride), strict=True):
            if n != 1 and s != expected:
                contiguous = False
            expected *= n
        if contiguous:
            view = flat[offset : offset + count].reshape(size)
        else:
            item = flat.dtype.itemsize
            view = as_strided(flat[offset:], size, [s * item for s in stride], writeable=False)
        if is_bf16:
            self.charge(count * 4, f"bfloat16 storage {key}")
            bits = view.astype(np.uint32, order="C")
            bits <<= 16
            out = bits.view(np.float32)
        elif not contiguous:
            self.charge(count * flat.dtype.itemsize, f"a strided view of storage {key}")
            out = np.ascontiguousarray(view)
        else:
            out = view
        out.flags.writeable = False
        return _Tensor(out)

    def _rebuild_tensor_v2(
        self,
        storage: Any,
        offset: Any,
        size: Any,
        stride: Any,
        requires_grad: Any,
        backward_hooks: Any,
        metadata: Any = None,
    ) -> _Tensor:
        if type(requires_grad) is not bool or type(backward_hooks) not in (dict, OrderedDict):
            raise self.error("_rebuild_tensor_v2 with a bad requires_grad or backward_hooks argument")
        return self._rebuild_tensor(storage, offset, size, stride)

    def _rebuild_tensor_v3(self, storage: Any, *args: Any) -> _Tensor:
        # (storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata]): only the dtype
        # matters, since no dtype torch writes this way is one deberta_np reads
        dtype = args[5] if len(args) in (6, 7) else None
        if not isinstance(storage, _Storage) or not isinstance(dtype, _DtypeName):
            raise self.unsafe("_rebuild_tensor_v3 of something other than a storage and a torch dtype")
        return _Tensor(None, unsupported=dtype.qualname.removeprefix("torch."))

    def _rebuild_parameter(self, data: Any, requires_grad: Any, backward_hooks: Any) -> _Tensor:
        if not isinstance(data, _Tensor) or type(requires_grad) is not bool:
            raise self.error("_rebuild_parameter of something other than a tensor")
        return _Tensor(data.array, parameter=True, unsupported=data.unsupported)

    def _rebuild_parameter_with_state(
        self, data: Any, requires_grad: Any, backward_hooks: Any, state: Any
    ) -> _Tensor:
        return self._rebuild_parameter(data, requires_grad, backward_hooks)  # state is not weights

    def _rebuild_from_type_v2(self, func: Any, new_type: Any, args: Any, state: Any) -> _Tensor:
        rebuilders = (
            _REBUILD_TENSOR_V2,
            _REBUILD_TENSOR_V3,
            _REBUILD_TENSOR,
            _REBUILD_PARAMETER,
            _REBUILD_PARAMETER_WITH_STATE,
        )
        if (
            func not in rebuilders
            or new_type not in (_TENSOR_TYPE, _PARAMETER_TYPE)
            or type(args) is not tuple
        ):
            raise self.unsafe("_rebuild_from_type_v2 of something other than a tensor rebuild")
        tensor = self.handlers[func](*args)
        parameter = tensor.parameter or new_type is _PARAMETER_TYPE
        return _Tensor(tensor.array, parameter=parameter, unsupported=tensor.unsupported)

    # -- the result

    def flatten(self, obj: object, prefix: str, out: dict[str, np.ndarray], depth: int) -> None:
        """Nested dicts of tensors -> {"a.b": array}. The joined names are copies: charged to the budget,
        since a memoized long key reused under many leaves would otherwise cost its length for each."""
        path = self.archive.path
        if depth > MAX_DICT_DEPTH:
            raise CheckpointError(f"{path}: dicts nested more than {MAX_DICT_DEPTH} deep")
        for key, value in obj.items():  # type: ignore[attr-defined]
            self.entries -= 1
            if self.entries < 0:
                raise CheckpointError(f"{path}: too many entries (shared nested dicts?)")
            if type(key) is not str:
                raise CheckpointError(
                    f"{path}: state dict key {_show(key)} is a {type(key).__name__}, not a string"
                )
            if prefix:
                self.charge(len(prefix) + len(key), f"the key name {_show(prefix + key[:60])}")
            full = prefix + key
            if isinstance(value, _Tensor):
                if full in out:
                    raise CheckpointError(
                        f"{path}: key {_show(full)} appears twice after flattening nested dicts"
                    )
                if value.unsupported is not None:
                    raise CheckpointError(
                        f"{path}: tensor {_show(full)} has dtype {value.unsupported}, which deberta_np does not "
                        "read (float64/32/16, bfloat16, signed integers, uint8 and bool are supported)"
                    )
                out[full] = value.array  # type: ignore[assignment]
            elif type(value) in (dict, OrderedDict):
                self.flatten(value, full + ".", out, depth + 1)
            else:
                raise CheckpointError(
                    f"{path}: value of {_show(full)} is a {type(value).__name__}, not a tensor "
                    "(only dicts of tensors, i.e. state dicts, are supported)"
                )


# ----------------------------------------------------------------------------------------------------


def read_torch_zip(path: str | os.PathLike, mmap: bool = True) -> dict[str, np.ndarray]:
    """Read a ``torch.save`` zip file of a state dict without torch: ``{key: read-only numpy array}``.

    Keys come back as stored (nested dicts are flattened with "."). Contiguous tensors are zero-copy
    views of a memory map of the file (mmap=False: of a private copy of it, read once); BF16 is upcast
    to float32; non-contiguous views are copied.
    Raises UnsafeCheckpointError for a pickle that reaches beyond a state dict and CheckpointError for
    any other malformed, truncated or compressed file.
    """
    archive = _Archive(path, use_mmap=mmap)
    byteorder = "little"
    record = archive.member("byteorder")
    if record is not None:
        byteorder = archive.read_small(record, 16).decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"{archive.path}: byteorder record says {byteorder!r}")
    pkl = archive.member("data.pkl")
    assert pkl is not None
    data = archive.read_small(pkl, MAX_PICKLE_BYTES)
    unpickler = _Unpickler(archive, data, byteorder)
    result = unpickler.load()
    if type(result) not in (dict, OrderedDict):
        raise CheckpointError(
            f"{archive.path}: the pickle holds a {type(result).__name__}, not a state dict (a dict of tensors)"
        )
    out: dict[str, np.ndarray] = {}
    unpickler.flatten(result, "", out, 0)
    return out
