"""Read a SentencePiece `.model` file (a serialized `ModelProto`) without protobuf or sentencepiece.

Why our own reader: the file is one small, stable message (sentencepiece_model.proto, unchanged in the fields read
here since 2018), and the protobuf wire format needs only varints and length-delimited fields, so about a hundred
lines replace a run-time dependency (`protobuf`, whose generated `_pb2` modules also break across its major
versions: transformers' copy fails to import with protobuf 5+). Only the fields a tokenizer needs are kept;
unknown fields are skipped, as protobuf does. A malformed file raises ValueError naming the file and the field.

Wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of (tag, value) with
tag = field_number << 3 | wire_type; wire types 0 = varint, 1 = 8 bytes, 2 = length-delimited (strings, bytes,
sub-messages, packed arrays), 5 = 4 bytes (float). Later occurrences of a singular field overwrite earlier ones.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from deberta_np.errors import TokenizerError

# ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
PIECE_TYPES = {NORMAL: "NORMAL", UNKNOWN: "UNKNOWN", CONTROL: "CONTROL", USER_DEFINED: "USER_DEFINED",
               UNUSED: "UNUSED", BYTE: "BYTE"}  # fmt: skip


class Piece(NamedTuple):
    # A NamedTuple rather than a dataclass: a model has ~10^5 pieces and this builds them 5x faster.
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass(frozen=True)
class TrainerSpec:
    """The TrainerSpec fields that matter at encoding time (defaults as in sentencepiece_model.proto)."""

    model_type: int = 1
    vocab_size: int = 8000
    byte_fallback: bool = False
    treat_whitespace_as_suffix: bool = False
    split_digits: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "


@dataclass(frozen=True)
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    normalization_rule_tsv: str = ""


@dataclass(frozen=True)
class ModelProto:
    pieces: tuple[Piece, ...]
    trainer_spec: TrainerSpec = field(default_factory=TrainerSpec)
    normalizer_spec: NormalizerSpec = field(default_factory=NormalizerSpec)
    # Whether the file held the two specs. Every sentencepiece trainer writes both, after the pieces, so a
    # file cut at a piece boundary still parses but lacks them (and would load with default settings).
    has_trainer_spec: bool = True
    has_normalizer_spec: bool = True


# field number -> (attribute, kind); kinds: "int", "bool", "str", "bytes", "float"
_TRAINER_FIELDS = {3: ("model_type", "int"), 4: ("vocab_size", "int"), 35: ("byte_fallback", "bool"),
                   24: ("treat_whitespace_as_suffix", "bool"), 25: ("split_digits", "bool"), 40: ("unk_id", "int"),
                   41: ("bos_id", "int"), 42: ("eos_id", "int"), 43: ("pad_id", "int"), 45: ("unk_piece", "str"),
                   46: ("bos_piece", "str"), 47: ("eos_piece", "str"), 48: ("pad_piece", "str"),
                   44: ("unk_surface", "str")}  # fmt: skip
_NORMALIZER_FIELDS = {1: ("name", "str"), 2: ("precompiled_charsmap", "bytes"), 3: ("add_dummy_prefix", "bool"),
                      4: ("remove_extra_whitespaces", "bool"), 5: ("escape_whitespaces", "bool"),
                      6: ("normalization_rule_tsv", "str")}  # fmt: skip
_WIRE_OF_KIND = {"int": 0, "bool": 0, "str": 2, "bytes": 2, "float": 5}


class _Malformed(Exception):
    """Internal: a wire-format error, re-raised as ValueError with the file and field path."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(what)
        self.where = where


def _varint(buf: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed(where, "truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(where, "varint longer than 10 bytes")


def _fields(
    buf: bytes, start: int, end: int, where: str, names: dict | None = None
) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a message: int for varints, bytes for the rest. `names` gives field
    names (number -> name or (name, kind)) for error messages."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end, where)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(where, "field number 0")
        name = (names or {}).get(number, f"<field {number}>")
        field_where = f"{where}.{name if isinstance(name, str) else name[0]}"
        if wire == 0:
            value, pos = _varint(buf, pos, end, field_where)
        elif wire == 2:
            length, pos = _varint(buf, pos, end, field_where)
            if pos + length > end:
                raise _Malformed(field_where, f"length {length} runs past the end of the message")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _Malformed(field_where, "truncated fixed-size value")
            value, pos = buf[pos : pos + size], pos + size
        else:  # 3/4: proto2 groups, not used by sentencepiece
            raise _Malformed(field_where, f"unsupported wire type {wire}")
        yield number, wire, value


def _convert(value: object, wire: int, kind: str, where: str) -> object:
    if wire != _WIRE_OF_KIND[kind]:
        raise _Malformed(where, f"wire type {wire}, expected {_WIRE_OF_KIND[kind]} for a {kind}")
    if kind == "int":  # int32: negative values are 10-byte two's complement varints
        v = value & 0xFFFFFFFF
        return v - (1 << 32) if v >= 1 << 31 else v
    if kind == "bool":
        return bool(value)
    if kind == "float":
        return struct.unpack("<f", value)[0]
    if kind == "str":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Malformed(where, f"not UTF-8 ({e.reason} at byte {e.start})") from None
    return bytes(value)


def _message(buf: bytes, spec: dict, where: str) -> dict:
    out = {}
    for number, wire, value in _fields(buf, 0, len(buf), where, spec):
        if number in spec:
            name, kind = spec[number]
            out[name] = _convert(value, wire, kind, f"{where}.{name}")
    return out


_PIECE_FIELDS = {1: ("piece", "str"), 2: ("score", "float"), 3: ("type", "int")}
_MODEL_FIELDS = {1: "pieces", 2: "trainer_spec", 3: "normalizer_spec", 5: "denormalizer_spec"}


_UNPACK_FLOAT = struct.Struct("<f").unpack_from


def _piece(buf: bytes, index: int) -> Piece:
    # Fast path for the layout every sentencepiece writer produces (piece, score, optional type; short strings):
    # 0A <len> <utf-8> 15 <float32> [18 <type>]. Anything else goes through the general reader.
    n = len(buf)
    if n >= 7 and buf[0] == 0x0A and buf[1] < 0x80:
        end = 2 + buf[1]
        if end + 5 <= n and buf[end] == 0x15:
            rest = n - end - 5
            if rest == 0 or (rest == 2 and buf[end + 5] == 0x18 and 0 < buf[end + 6] <= BYTE):
                try:
                    text = buf[2:end].decode("utf-8")
                except UnicodeDecodeError:
                    pass  # the general reader reports it
                else:
                    return Piece(text, _UNPACK_FLOAT(buf, end + 1)[0], buf[end + 6] if rest else NORMAL)
    where = f"ModelProto.pieces[{index}]"
    fields = _message(buf, _PIECE_FIELDS, where)
    if "piece" not in fields:
        raise _Malformed(f"{where}.piece", "missing")
    if fields.get("type", NORMAL) not in PIECE_TYPES:
        raise _Malformed(f"{where}.type", f"unknown piece type {fields['type']}")
    return Piece(**fields)


def parse_model(data: bytes, source: str = "<bytes>") -> ModelProto:
    """Parse a serialized ModelProto. `source` names the file in error messages."""
    pieces: list[Piece] = []
    trainer: dict = {}
    normalizer: dict = {}
    seen: set[int] = set()
    try:
        pos, n = 0, len(data)
        # The pieces come first and are most of the file: read them inline, then the rest generically.
        # The common layout (0A <len> 0A <len> <utf-8> 15 <float32> [18 <type>]) is matched here directly.
        unpack, append, make = _UNPACK_FLOAT, pieces.append, Piece._make
        while pos + 1 < n and data[pos] == 0x0A and data[pos + 1] < 0x80:
            end = pos + 2 + data[pos + 1]
            if end > n:
                break
            k = pos + 4 + (data[pos + 3] if end - pos >= 9 else n)  # end of the piece string if common layout
            if k + 5 <= end and data[pos + 2] == 0x0A and data[pos + 3] < 0x80 and data[k] == 0x15:
                rest = end - k - 5
                if rest == 0 or (rest == 2 and data[k + 5] == 0x18 and 0 < data[k + 6] <= BYTE):
                    try:
                        text = data[pos + 4 : k].decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # the general reader reports it
                    else:
                        append(make((text, unpack(data, k + 1)[0], data[k + 6] if rest else NORMAL)))
                        pos = end
                        continue
            append(_piece(data[pos + 2 : end], len(pieces)))
            pos = end
        for number, wire, value in _fields(data, pos, n, "ModelProto", _MODEL_FIELDS):
            if number in (1, 2, 3) and wire != 2:
                name = {1: "pieces", 2: "trainer_spec", 3: "normalizer_spec"}[number]
                raise _Malformed(f"ModelProto.{name}", f"wire type {wire}, expected a sub-message (2)")
            seen.add(number)
            if number == 1:
                pieces.append(_piece(value, len(pieces)))
            elif number == 2:
                trainer.update(_message(value, _TRAINER_FIELDS, "ModelProto.trainer_spec"))
            elif number == 3:
                normalizer.update(_message(value, _NORMALIZER_FIELDS, "ModelProto.normalizer_spec"))
    except _Malformed as e:
        raise TokenizerError(f"{source}: malformed SentencePiece model at {e.where}: {e}") from None
    if not pieces:
        raise TokenizerError(f"{source}: malformed SentencePiece model at ModelProto.pieces: no pieces")
    return ModelProto(
        tuple(pieces), TrainerSpec(**trainer), NormalizerSpec(**normalizer), 2 in seen, 3 in seen
    )


def read_model(path: str | Path) -> ModelProto:
    """Read `spm.model` (or any SentencePiece model file)."""
    path = Path(path)
    return parse_model(path.read_bytes(), str(path))


def check_model(model: ModelProto, source: str) -> None:
    """Refuse what `sentencepiece` refuses when it loads a model (ModelInterface::InitializePieces), and a model
    without the specs every trainer writes: a file cut short at a piece boundary parses, and would otherwise
    load with default settings (unknown characters mapped to id 0, the padding piece in DeBERTa-v3).
    Raises TokenizerError naming the file and the field."""

    def fail(where: str, what: str) -> TokenizerError:
        return TokenizerError(f"{source}: invalid SentencePiece model at ModelProto.{where}: {what}")

    if not model.has_trainer_spec:
        raise fail("trainer_spec", "missing (every sentencepiece trainer writes it: a truncated file?)")
    if not model.has_normalizer_spec:
        raise fail("normalizer_spec", "missing (every sentencepiece trainer writes it: a truncated file?)")
    byte_fallback = model.trainer_spec.byte_fallback
    unknown = [i for i, p in enumerate(model.pieces) if p.type == UNKNOWN]
    if len(unknown) != 1:
        what = "no piece has type UNKNOWN" if not unknown else f"pieces {unknown[:5]} all have type UNKNOWN"
        raise fail("pieces", f"{what}; a model has exactly one unknown piece")
    if model.trainer_spec.unk_id != unknown[0]:
        raise fail(
            "trainer_spec.unk_id", f"{model.trainer_spec.unk_id}, but the UNKNOWN piece is {unknown[0]}"
        )
    found = set()
    for i, piece in enumerate(model.pieces):
        if not piece.piece:
            raise fail(f"pieces[{i}].piece", "empty")
        if piece.type == BYTE:
            if not byte_fallback:
                raise fail(f"pieces[{i}]", f"byte piece {piece.piece!r} in a model without byte_fallback")
            if len(piece.piece) != 6 or not re.fullmatch(r"<0x[0-9A-F]{2}>", piece.piece):
                raise fail(f"pieces[{i}].piece", f"{piece.piece[:20]!r} is not a byte piece <0x00>..<0xFF>")
            found.add(int(piece.piece[3:5], 16))
    if byte_fallback and len(found) != 256:
        missing = min(set(range(256)) - found)
        raise fail("pieces", f"byte_fallback is on but the byte piece <0x{missing:02X}> is missing")
