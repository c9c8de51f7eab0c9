"""DebertaV2Tokenizer and its parts: the SentencePiece model reader, the charsmap normaliser, the Unigram model,
API behaviour, properties and bad input (no transformers, tokenizers or sentencepiece needed)."""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.tokenizer_files import DEBERTA_V3
from deberta_np.tokenizer import DebertaTokenizer, DebertaV2Tokenizer
from deberta_np.tokenizer.normalizer import (
    Charsmap,
    collapse_spaces,
    metaspace,
    normalize_fast,
    normalize_spm,
    precompiled_fast,
)
from deberta_np.tokenizer.sentencepiece_model import (
    BYTE,
    CONTROL,
    NORMAL,
    UNKNOWN,
    USER_DEFINED,
    parse_model,
    read_model,
)
from deberta_np.tokenizer.unigram import Unigram, f32

V3 = DEBERTA_V3


@pytest.fixture(scope="module")
def tok() -> DebertaV2Tokenizer:
    return DebertaV2Tokenizer.from_pretrained(V3)


@pytest.fixture(scope="module")
def tok_fast() -> DebertaV2Tokenizer:
    return DebertaV2Tokenizer.from_pretrained(V3, reference="fast")


# --- a protobuf writer for synthetic models ------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32 values are written as 64-bit two's complement
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes | str | float, wire: int | None = None) -> bytes:
    if isinstance(value, float):
        return _varint(number << 3 | 5) + struct.pack("<f", value)
    if isinstance(value, (bytes, str)):
        data = value.encode("utf-8") if isinstance(value, str) else value
        return _varint(number << 3 | 2) + _varint(len(data)) + data
    return _varint(number << 3 | (0 if wire is None else wire)) + _varint(value)


def _model(pieces: list[tuple[str, float, int]], trainer: bytes = b"", normalizer: bytes = b"") -> bytes:
    out = b""
    for piece, score, kind in pieces:
        body = _field(1, piece) + _field(2, score) + (_field(3, kind) if kind != NORMAL else b"")
        out += _field(1, body)
    return out + _field(2, trainer) + _field(3, normalizer)


TOY = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("▁", -2.0, NORMAL), ("a", -1.0, NORMAL),
       ("b", -1.5, NORMAL), ("ab", -2.0, NORMAL), ("▁ab", -2.5, NORMAL), ("aa", -2.0, NORMAL),
       ("aaa", -3.0, NORMAL), ("<0x63>", 0.0, BYTE), ("XY", 0.0, USER_DEFINED)]  # fmt: skip
# What sentencepiece loads: a byte piece only with byte_fallback, and then all 256 of them.
TOY_VALID = [p for p in TOY if p[2] != BYTE]


# --- SentencePiece model reader ------------------------------------------------------------------------------------


def test_reader_synthetic_model():
    trainer = (
        _field(3, 1) + _field(35, 1) + _field(40, 0) + _field(43, -1) + _field(45, "<unk>") + _field(99, 7)
    )
    normalizer = _field(1, "identity") + _field(3, 0) + _field(3, 1) + _field(4, 0)
    m = parse_model(_model(TOY, trainer, normalizer))
    assert [tuple(p) for p in m.pieces] == TOY
    assert m.trainer_spec.byte_fallback and m.trainer_spec.unk_id == 0 and m.trainer_spec.pad_id == -1
    assert m.trainer_spec.unk_piece == "<unk>" and m.trainer_spec.model_type == 1
    # later occurrences win, unknown fields are skipped, defaults as in the .proto
    assert m.normalizer_spec.add_dummy_prefix is True and m.normalizer_spec.remove_extra_whitespaces is False
    assert m.normalizer_spec.escape_whitespaces is True and m.normalizer_spec.name == "identity"


def test_reader_pieces_in_general_layout():
    # type before score, a two-byte length, a field the reader does not know: the general path reads them
    long_piece = "x" * 200
    body = _field(3, CONTROL) + _field(1, "<s>") + _field(2, -0.5) + _field(7, 1)
    data = _field(1, body) + _field(1, _field(1, long_piece) + _field(2, -3.0))
    m = parse_model(data)
    assert [tuple(p) for p in m.pieces] == [("<s>", -0.5, CONTROL), (long_piece, -3.0, NORMAL)]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"\x0a\x05\x0a\x03ab", "pieces"),  # length runs past the end
        (_field(1, _field(1, b"\xff\xfe") + _field(2, 0.0)), "pieces[0].piece"),  # not UTF-8
        (_field(1, _field(2, 0.0)), "pieces[0].piece"),  # missing piece string
        (_field(1, _field(1, "a") + _field(3, 9)), "pieces[0].type"),  # unknown type
        (_field(1, _field(1, "a")) + _field(2, 5), "trainer_spec"),  # varint where a message belongs
        (_field(1, _field(1, "a")) + _field(2, _field(35, "x")), "trainer_spec.byte_fallback"),
        (_field(1, _field(1, "a")) + b"\x12\xff", "ModelProto"),  # truncated varint
        (b"", "pieces"),
        (b"\x0b\x00", "ModelProto"),  # wire type 3 (group)
    ],
)
def test_reader_malformed(data, where, tmp_path):
    path = tmp_path / "spm.model"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"{path}: malformed SentencePiece model at .*{re.escape(where)}"):
        read_model(path)


def test_reader_deberta_v3():
    m = read_model(V3 / "spm.model")
    types = [p.type for p in m.pieces]
    assert len(m.pieces) == 128000 and m.trainer_spec.vocab_size == 128000
    assert [p.piece for p in m.pieces[:4]] == ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
    assert types.count(BYTE) == 256 and types[3] == UNKNOWN and types[:3] == [CONTROL] * 3
    assert m.trainer_spec.byte_fallback and m.trainer_spec.unk_id == 3 and m.trainer_spec.pad_id == 0
    assert m.normalizer_spec.name == "nmt_nfkc" and len(m.normalizer_spec.precompiled_charsmap) > 100_000


# --- charsmap and normalisation ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charsmap(tok) -> Charsmap:
    return tok.charsmap


@pytest.mark.parametrize(
    "blob", [b"", b"\x01\x00", b"\x08\x00\x00\x00\x00", b"\x03\x00\x00\x00abcd", b"\x00\x00\x00\x00"]
)
def test_charsmap_malformed(blob):
    with pytest.raises(ValueError, match="precompiled_charsmap"):
        Charsmap(blob)


def test_charsmap_rules(charsmap):
    assert charsmap.single["ｆ"] == "f" and charsmap.single["\t"] == " " and charsmap.single["\x01"] == ""
    assert charsmap.longest("A\u0300x", 0) == (2, "À")  # a two-character rule
    assert charsmap.longest("x", 0) is None
    assert charsmap.shortest("ｅ\u0301") == "e"  # the fast tokenizer's cluster rule: shortest prefix
    assert charsmap.positions("ab\tｆ A\u0300") == [2, 3, 5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hello\r\n  wörld ｆｕｌｌ  ", "▁Hello▁wörld▁full"),
        ("", ""),
        ("   ", ""),
        ("\x01", ""),
        ("¨a", "▁\u0308a"),  # a rule that starts with a space after the dummy prefix
        ("a\u200bb", "▁a▁b"),
        ("e\u0301\u0301", "▁é\u0301"),  # the longest rule, then one character
        ("x\u2581y", "▁x▁y"),
    ],
)
def test_normalize_spm(charsmap, text, expected):
    assert normalize_spm(text, charsmap)[0] == expected
    normalized, align = normalize_spm(text, charsmap, with_alignment=True)
    assert normalized == expected and len(align) == len(expected)


def test_normalize_spm_flags(charsmap):
    flags = {"add_dummy_prefix": False, "remove_extra_whitespaces": False}
    assert normalize_spm(" a  b ", charsmap, **flags)[0] == "▁a▁▁b▁"
    assert normalize_spm(" a  b ", charsmap, add_dummy_prefix=False)[0] == "a▁b"
    assert normalize_spm(" a  b ", charsmap, escape_whitespaces=False)[0] == " a b"
    assert normalize_spm(" a ", None)[0] == "▁a"


def test_normalize_fast_alignment(charsmap):
    # the run of spaces keeps its last space; "▁" is prepended with the first character's alignment
    text, align = normalize_fast("  a \t b ", charsmap)
    assert (text, align) == ("a b", [2, 5, 6])
    assert metaspace(text, align) == ("▁a▁b", [2, 2, 5, 6])
    # tokenizers' quirk: a character removed at the very start shifts the alignment of all that follows
    assert normalize_fast("\x01abc", charsmap) == ("abc", [0, 1, 2])
    assert normalize_fast("x\x01abc", charsmap) == ("xabc", [0, 2, 3, 4])
    # a one-to-two rule followed by a removal: the inserted character takes over the removed one
    assert normalize_fast("´\x1cx", charsmap) == (" \u0301x", [0, 1, 2])
    # CR LF is one cluster, replaced whole by its shortest rule (the CR's)
    assert normalize_fast("a\r\nb", charsmap) == ("a b", [0, 1, 3])
    assert collapse_spaces("a   b", [0, 1, 2, 3, 4]) == ("a b", [0, 3, 4])
    assert precompiled_fast("ab", [5, 6], None) == ("ab", [5, 6])


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
def test_normalize_alignment_matches_string(text):
    charsmap = _shared_charsmap()
    plain = normalize_spm(text, charsmap)[0]
    normalized, align = normalize_spm(text, charsmap, with_alignment=True)
    assert normalized == plain and len(align) == len(normalized)
    assert all(0 <= a < len(text) for a in align)
    fast, fast_align = normalize_fast(text, charsmap)
    assert len(fast_align) == len(fast) and all(0 <= a < len(text) for a in fast_align)


_CHARSMAP: list[Charsmap] = []


def _shared_charsmap() -> Charsmap:
    if not _CHARSMAP:
        _CHARSMAP.append(Charsmap(read_model(V3 / "spm.model").normalizer_spec.precompiled_charsmap))
    return _CHARSMAP[0]


# --- Unigram -------------------------------------------------------------------------------------------------------


def test_unigram_viterbi_and_ties():
    uni = Unigram(TOY, 0)
    assert list(uni.word("▁ab").tokens) == ["▁ab"]
    # "aaaa": a+aaa (-4.0), aa+aa (-4.0), aaa+a (-4.0) tie; the path whose last piece starts earliest wins
    assert list(uni.word("aaaa").tokens) == ["a", "aaa"] and uni.word("aaaa").margin == 0.0
    assert uni.unk_score == f32(-3.0 - 10.0)


def test_unigram_unknown_and_byte_fallback():
    spm = Unigram(TOY, 0, byte_fallback=True)
    word = spm.word("acd")
    # "c" has a byte piece, "d" has none (its byte becomes <unk>); each byte covers its character
    assert list(word.ids) == [3, 9, 0] and list(word.tokens) == ["a", "<0x63>", "<0x64>"]
    assert list(zip(word.starts, word.lasts)) == [(0, 0), (1, 1), (2, 2)]
    no_bytes = Unigram(TOY, 0, byte_fallback=False)
    assert list(no_bytes.word("acd").ids) == [3, 0, 0]  # sentencepiece keeps one unknown per character
    fast = Unigram(TOY, 0, sentencepiece=False)
    word = fast.word("acda")
    assert list(word.ids) == [3, 0, 3] and list(word.tokens) == ["a", "cd", "a"]  # tokenizers fuses them
    assert list(fast.word("<0x63>").ids) == [9]  # and matches byte (and control) pieces written in the text
    assert spm.word("<s>").ids != [1]


def test_unigram_user_defined_bonus():
    uni = Unigram(TOY, 0)
    assert list(uni.word("aXYb").tokens) == ["a", "XY", "b"]
    assert uni.pieces["XY"][1] == pytest.approx(-0.1)


def test_unigram_rejects_inner_space_symbol():
    with pytest.raises(ValueError, match="after its first character"):
        Unigram([("<unk>", 0.0, UNKNOWN), ("a▁b", -1.0, NORMAL)], 0)
    with pytest.raises(ValueError, match="unk_id"):
        Unigram(TOY, 99)


def test_unigram_cache_is_bounded():
    uni = Unigram(TOY, 0, cache_size=10)
    for k in range(50):
        uni.word("a" * (k % 20 + 1) + "b" * (k // 20))
    assert len(uni.cache) <= 10


def _global_viterbi_f32(uni: Unigram, text: str) -> list[int]:
    """sentencepiece's EncodeOptimized over a whole text, float32 arithmetic: the reference for words()."""
    n = len(text)
    best: list[float | None] = [0.0] + [None] * n
    back = [(0, 0)] * (n + 1)
    for i in range(n):
        single = False
        for j in range(i + 1, n + 1):
            found = uni.pieces.get(text[i:j])
            if found is None:
                break
            if found[0] < 0:
                continue
            single |= j == i + 1
            cand = f32(best[i] + found[1])
            if best[j] is None or cand > best[j]:
                best[j], back[j] = cand, (i, found[0])
        if not single:
            cand = f32(best[i] + uni.unk_score)
            if best[i + 1] is None or cand > best[i + 1]:
                best[i + 1], back[i + 1] = cand, (i, uni.unk_id)
    ids, j = [], n
    while j > 0:
        i, piece_id = back[j]
        ids.append(piece_id)
        j = i
    return ids[::-1]


def test_unigram_float32_running_score(tok):
    uni = tok.unigram
    # Exactly tied segmentations of "yyyyyyy" (yy+yyyyy, yyyyy+yy): sentencepiece's float32 running score decides.
    assert list(uni._segment("yyyyyyy", None).tokens) == ["yy", "yyyyy"]
    assert list(uni._segment("yyyyyyy", f32(-227.6032)).tokens) == ["yyyyy", "yy"]
    # in a text (sentencepiece 0.2.0 gives the same: "-yyyyyyy" ends yy+yyyyy, "and -yyyyyyy" yyyyy+yy)
    assert tok.tokenize("-yyyyyyy")[-2:] == ["yy", "yyyyy"]
    assert tok.tokenize("and -yyyyyyy")[-2:] == ["yyyyy", "yy"]
    for words in (["▁and", "▁-yyyyyyy"], ["▁the"] * 145 + ["▁-yyyyyyy"], ["▁of"] * 7 + ["▁-yyyyyyy"]):
        ids = [i for e in uni.words(words) for i in e.ids]
        assert ids == _global_viterbi_f32(uni, "".join(words))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["yyyyyyy", "xxxxxxxxxx", "aaaa", "ab", "zz", "FFFFF", "1234"]), max_size=400)
)
def test_unigram_words_match_global_viterbi(chunks):
    uni = _shared_unigram()
    words = ["▁" + c for c in chunks]
    assert [i for e in uni.words(words) for i in e.ids] == _global_viterbi_f32(uni, "".join(words))


_UNIGRAM: list[Unigram] = []


def _shared_unigram() -> Unigram:
    if not _UNIGRAM:
        m = read_model(V3 / "spm.model")
        _UNIGRAM.append(Unigram(m.pieces, m.trainer_spec.unk_id))
    return _UNIGRAM[0]


# --- the tokenizer -------------------------------------------------------------------------------------------------


def test_special_tokens_and_vocabulary(tok):
    assert (tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == (
        0, 1, 2, 3, 128000)  # fmt: skip
    assert tok.vocab_size == 128000 and len(tok) == 128001 and tok.get_vocab()["[MASK]"] == 128000
    assert tok.convert_ids_to_tokens([1, 2, 128000, 128001]) == ["[CLS]", "[SEP]", "[MASK]", None]
    assert tok.convert_tokens_to_ids(["▁Hello", "no such piece"]) == [tok.convert_tokens_to_ids("▁Hello"), 3]
    assert not isinstance(tok, DebertaTokenizer)  # pipelines pick the byte-level decoder by isinstance


def test_template_pairs_and_model_inputs(tok):
    a, b = tok.encode("Hello world", add_special_tokens=False), tok.encode("x", add_special_tokens=False)
    enc = tok("Hello world", "x", return_special_tokens_mask=True)
    assert enc["input_ids"] == [1, *a, 2, *b, 2]
    assert enc["token_type_ids"] == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert enc["special_tokens_mask"] == [1] + [0] * len(a) + [1] + [0] * len(b) + [1]
    batch = tok(["Hello world", "a much longer text than the first one"], padding=True, return_tensors="np")
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    assert batch["input_ids"].dtype == np.int64 and batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0].sum() == len(tok("Hello world")["input_ids"])
    assert batch["input_ids"][0, -1] == tok.pad_token_id


def test_mask_and_special_tokens_in_text(tok, tok_fast):
    for t in (tok, tok_fast):
        enc = t("The capital of France is [MASK].", return_offsets_mapping=True)
        k = enc["input_ids"].index(128000)
        assert enc["offset_mapping"][k] == (25, 31) and enc.tokens()[k] == "[MASK]"
    # written "[UNK]": sentencepiece's reference splits it from the raw text, the fast one after normalising
    assert tok.tokenize("a [UNK] b") == ["▁a", "[UNK]", "▁b"]
    assert tok_fast.tokenize("a [UNK] b") == ["▁a", "▁", "[UNK]", "▁b"]


def test_byte_fallback_default_and_unk_option(tok, tok_fast):
    enc = tok("ẞ x", return_offsets_mapping=True)
    assert enc.tokens() == ["[CLS]", "▁", "<0xE1>", "<0xBA>", "<0x9E>", "▁x", "[SEP]"]
    assert enc["offset_mapping"][2:5] == [(0, 1)] * 3  # every byte piece covers its character
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == "ẞ x"
    enc = tok_fast("ẞẞ x", return_offsets_mapping=True)
    assert enc["input_ids"][2] == 3 and enc.tokens()[2] == "ẞẞ" and enc["offset_mapping"][2] == (0, 2)


def test_offsets_cover_the_text(tok):
    text = "Héllo  wörld, ｆｕｌｌ width\r\nand ẞ 😊!"
    enc = tok(text, return_offsets_mapping=True)
    spans = [
        s
        for s, special in zip(enc["offset_mapping"], [1, *[0] * (len(enc["input_ids"]) - 2), 1])
        if not special
    ]
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert spans == sorted(spans)
    assert enc.word_ids()[1] == 0 and enc.word_ids()[-1] is None


def test_decode(tok, tok_fast):
    ids = tok("Hello [MASK] world!")["input_ids"]
    assert tok.decode(ids) == "[CLS] Hello[MASK] world![SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "Hello world!"
    assert tok.batch_decode([ids, ids[:2]], skip_special_tokens=True) == ["Hello world!", "Hello"]
    assert tok.decode(np.array(ids)) == tok.decode(ids)
    assert tok_fast.decode([507, 229, 190, 162]) == "<0xE1><0xBA><0x9E>"  # no byte-fallback decoder there
    assert tok.decode([507, 229, 190, 162]) == "ẞ"
    with pytest.raises(ValueError, match="token_ids"):
        tok.decode([128001])
    with pytest.raises(TypeError, match="token_ids"):
        tok.decode("Hello")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["Hello", "world", "naïve", "東京", "x1", "ẞ", "don't", "e-mail"]), max_size=8)
)
def test_decode_round_trip(words):
    text = " ".join(words)
    t = _shared_tokenizer()
    assert t.decode(t.encode(text, add_special_tokens=False)) == text


_TOKENIZER: list[DebertaV2Tokenizer] = []


def _shared_tokenizer() -> DebertaV2Tokenizer:
    if not _TOKENIZER:
        _TOKENIZER.append(DebertaV2Tokenizer.from_pretrained(V3))
    return _TOKENIZER[0]


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["sentencepiece", "fast"]),
)
def test_any_text(text, reference):
    t = _shared_tokenizer() if reference == "sentencepiece" else _shared_fast()
    enc = t(text, return_offsets_mapping=True)
    ids = enc["input_ids"]
    assert ids[0] == 1 and ids[-1] == 2 and all(0 <= i <= 128000 for i in ids)
    assert len(enc["offset_mapping"]) == len(ids) == len(enc.tokens()) == len(enc.word_ids())
    assert all(0 <= a <= b <= len(text) for a, b in enc["offset_mapping"])
    assert t(text)["input_ids"] == ids  # the lean path (no offsets) gives the same ids


_FAST: list[DebertaV2Tokenizer] = []


def _shared_fast() -> DebertaV2Tokenizer:
    if not _FAST:
        _FAST.append(DebertaV2Tokenizer.from_pretrained(V3, reference="fast"))
    return _FAST[0]


def test_lowercase_and_punctuation_options(tok):
    t = DebertaV2Tokenizer.from_pretrained(V3, do_lower_case=True, split_by_punct=True)
    assert t.tokenize("Hello, World!") == ["▁hello", "▁,", "▁world", "▁!"]
    assert t.tokenize("ΑΣ") == ["▁", "ασ"]  # character by character: no final sigma
    assert tok.tokenize("Hello, World!") == ["▁Hello", ",", "▁World", "!"]


def test_pre_split_words(tok):
    enc = tok(["Hello", "wörld", "[MASK]x"], is_split_into_words=True, return_offsets_mapping=True)
    assert enc.word_ids() == [None, 0, 1, 1, 2, 2, None] or enc.word_ids()[1] == 0
    assert enc["input_ids"][1:-1] == [i for w in ("Hello", "wörld", "[MASK]x") for i in tok.encode(w)[1:-1]]
    assert all(b <= 7 for _, b in enc["offset_mapping"])  # offsets are relative to each word


def test_save_and_load(tok, tmp_path):
    t = DebertaV2Tokenizer.from_pretrained(V3, do_lower_case=True, model_max_length=512)
    files = t.save_pretrained(tmp_path)
    names = {"spm.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert {Path(f).name for f in files} == names
    assert (tmp_path / "spm.model").read_bytes() == (V3 / "spm.model").read_bytes()
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is True and config["model_max_length"] == 512
    again = DebertaV2Tokenizer.from_pretrained(tmp_path)
    assert again.do_lower_case and again.model_max_length == 512
    assert again("Hello World", "x")["input_ids"] == t("Hello World", "x")["input_ids"]
    assert t.save_vocabulary(tmp_path, "pre") == (str(tmp_path / "pre-spm.model"),)
    assert "reference='sentencepiece'" in repr(tok)


def test_truncation_and_overflow(tok):
    text = "one two three four five six seven eight nine ten"
    enc = tok(text, truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    assert all(len(row) <= 6 for row in enc["input_ids"]) and len(enc["input_ids"]) > 1
    assert enc["overflow_to_sample_mapping"] == [0] * len(enc["input_ids"])
    with pytest.raises(ValueError, match="stride"):
        tok(text, truncation=True, max_length=4, stride=3, return_overflowing_tokens=True)


# --- bad input -----------------------------------------------------------------------------------------------------


def test_bad_input(tok):
    with pytest.raises(TypeError, match="text"):
        tok(42)
    with pytest.raises(TypeError, match="text_pair"):
        tok("a", 42)
    with pytest.raises(ValueError, match="surrogate U\\+D800 at index 1"):
        tok("a\ud800")
    with pytest.raises(ValueError, match="return_tensors"):
        tok("a", return_tensors="pt")
    with pytest.raises(ValueError, match="reference"):
        DebertaV2Tokenizer(V3 / "spm.model", reference="slow")
    with pytest.raises(ValueError, match="padding_side"):
        DebertaV2Tokenizer(V3 / "spm.model", padding_side="up")
    with pytest.raises(TypeError, match="model must be"):
        DebertaV2Tokenizer(b"spm")
    with pytest.raises(ValueError, match="cache_size"):
        DebertaV2Tokenizer(V3 / "spm.model", cache_size=0)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        DebertaV2Tokenizer.from_pretrained(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"spm\.model"):
        DebertaV2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "spm.model").write_bytes(_model(TOY)[:-3] + b"\x0a\x09\x0a")
    with pytest.raises(
        ValueError, match=rf"{tmp_path / 'spm.model'}: malformed SentencePiece model at ModelProto"
    ):
        DebertaV2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "spm.model").write_bytes(_model(TOY, _field(3, 2)))
    with pytest.raises(ValueError, match="BPE"):
        DebertaV2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "spm.model").write_bytes(_model(TOY_VALID))
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"tokenizer_config\.json:1: invalid JSON"):
        DebertaV2Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text('{"added_tokens_decoder": {"x": {"content": "a"}}}')
    with pytest.raises(ValueError, match="added_tokens_decoder key 'x'"):
        DebertaV2Tokenizer.from_pretrained(tmp_path)


def test_toy_model_end_to_end(tmp_path):
    # a model without a charsmap, byte pieces or [MASK] piece: the specials not in the pieces get new ids
    (tmp_path / "spm.model").write_bytes(_model(TOY_VALID, _field(40, 0)))
    t = DebertaV2Tokenizer.from_pretrained(tmp_path, unk_token="<unk>", cls_token="<s>", sep_token="<s>")
    assert t.tokenize("ab aaaa") == ["▁ab", "▁", "a", "aaa"]
    assert t("ab")["input_ids"] == [1, 6, 1]
    assert t.mask_token_id == len(t) - 1 and t.pad_token_id >= len(TOY) and math.isfinite(t.unigram.unk_score)


def test_outputs_feed_the_v2_model(tmp_path):
    # input_ids / token_type_ids / attention_mask with return_tensors="np" go straight into DebertaV2Model
    golden = (
        Path(__file__).resolve().parents[1]
        / "conformance"
        / "golden"
        / "models"
        / "v2-v3-like-buckets-shared-key"
    )
    from deberta_np.modeling import DebertaV2Model

    model = DebertaV2Model.from_pretrained(golden)
    (tmp_path / "spm.model").write_bytes(
        _model(TOY_VALID, _field(40, 0))
    )  # ids below the toy model's vocab_size
    t = DebertaV2Tokenizer.from_pretrained(tmp_path, unk_token="<unk>", cls_token="<s>", sep_token="<s>")
    enc = t(["ab aaaa", "b"], ["aa", "ab ab"], padding=True, return_tensors="np")
    out = model(**enc)
    assert out.last_hidden_state.shape == (*enc["input_ids"].shape, model.config.hidden_size)
    assert np.isfinite(out.last_hidden_state).all()
