"""DebertaTokenizer: published examples, API behaviour, properties and bad input (no transformers needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.tokenizer_files import DEBERTA_V1, GPT2_FAIRSEQ
from deberta_np.tokenizer import BatchEncoding, DebertaTokenizer
from deberta_np.tokenizer.bpe import from_byte_level
from deberta_np.tokenizer.normalizer import WHITE_SPACE

V1 = DEBERTA_V1


@pytest.fixture(scope="module")
def tok() -> DebertaTokenizer:
    return DebertaTokenizer.from_pretrained(V1)


# --- published numbers (spec §5.1 docstring, §6.4 test_tokenizer_integration) ---------------------------------------


def test_docstring_examples(tok):
    assert tok("Hello world")["input_ids"] == [1, 31414, 232, 2]
    assert tok(" Hello world")["input_ids"] == [1, 20920, 232, 2]
    assert (tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == (
        0, 1, 2, 3, 50264)  # fmt: skip
    assert tok.vocab_size == 50265


def test_published_integration_example(tok):
    sequences = [
        "ALBERT: A Lite BERT for Self-supervised Learning of Language Representations",
        "ALBERT incorporates two parameter reduction techniques",
        "The first one is a factorized embedding parameterization. By decomposing the large vocabulary embedding "
        "matrix into two small matrices, we separate the size of the hidden layers from the size of vocabulary "
        "embedding.",
    ]
    expected_ids = [
        [1, 2118, 11126, 565, 35, 83, 25191, 163, 18854, 13, 12156, 12, 16101, 25376, 13807, 9, 22205, 27893, 1635, 2]
        + [0] * 25,
        [1, 2118, 11126, 565, 24536, 80, 43797, 4878, 7373, 2] + [0] * 35,
        [1, 133, 78, 65, 16, 10, 3724, 1538, 33183, 11303, 43797, 1938, 4, 870, 24165, 29105, 5, 739, 32644, 33183,
         11303, 36173, 88, 80, 650, 7821, 45940, 6, 52, 2559, 5, 1836, 9, 5, 7397, 13171, 31, 5, 1836, 9, 32644,
         33183, 11303, 4, 2],
    ]  # fmt: skip
    enc = tok(sequences, padding=True)
    assert enc["input_ids"] == expected_ids
    assert enc["token_type_ids"] == [[0] * 45] * 3
    assert enc["attention_mask"] == [[1] * 20 + [0] * 25, [1] * 10 + [0] * 35, [1] * 45]
    assert tok.batch_decode(enc["input_ids"], skip_special_tokens=True) == sequences


def _toy(tmp_path: Path) -> DebertaTokenizer:
    vocab = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "Ġ", "Ġl", "Ġn", "Ġlo", "Ġlow", "er", "Ġlowest",
             "Ġnewer", "Ġwider", "[UNK]"]  # fmt: skip
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (tmp_path / "merges.txt").write_text("\n".join(["#version: 0.2", "Ġ l", "Ġl o", "Ġlo w", "e r", ""]))
    return DebertaTokenizer.from_pretrained(tmp_path, unk_token="[UNK]")


def test_toy_vocabulary_as_published(tmp_path):
    # spec §6.4 (slow tokenizer test): an unknown byte-level symbol becomes [UNK] (the fast 4.x tokenizer drops it).
    tok = _toy(tmp_path)
    tokens = tok.tokenize("lower newer")
    assert tokens == ["l", "o", "w", "er", "Ġ", "n", "e", "w", "er"]
    assert tok.convert_tokens_to_ids([*tokens, tok.unk_token]) == [0, 1, 2, 15, 10, 9, 3, 2, 15, 19]
    assert tok("Hello", "World")["token_type_ids"] == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    enc = tok("Hello wé", add_special_tokens=False, return_offsets_mapping=True)
    # 'H' and both bytes of 'é' are not in the vocabulary
    assert enc["input_ids"] == [19, 3, 0, 0, 1, 10, 2, 19, 19]
    assert enc["offset_mapping"] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (7, 8)]


# --- API -------------------------------------------------------------------------------------------------------------


def test_mask_absorbs_left_space(tok):
    enc = tok("lower [MASK] newer", return_offsets_mapping=True)
    assert enc["input_ids"] == [1, 29668, 50264, 13964, 2]
    assert enc["offset_mapping"] == [(0, 0), (0, 5), (5, 12), (12, 18), (0, 0)]
    assert enc.tokens() == ["[CLS]", "lower", " [MASK]", "Ġnewer", "[SEP]"]  # as the fast tokenizer shows it
    assert tok.tokenize("lower [MASK] newer") == ["lower", "[MASK]", "Ġnewer"]  # vocabulary strings, as slow
    assert tok.decode(enc["input_ids"]) == "[CLS]lower[MASK] newer[SEP]"


def test_special_token_helpers(tok):
    a, b = (
        tok.encode("Hello world", add_special_tokens=False),
        tok.encode("How are you?", add_special_tokens=False),
    )
    assert tok.build_inputs_with_special_tokens(a) == tok.encode("Hello world")
    assert tok.build_inputs_with_special_tokens(a, b) == tok.encode("Hello world", "How are you?")
    assert tok.get_special_tokens_mask(a, b) == [1] + [0] * len(a) + [1] + [0] * len(b) + [1]
    assert tok.get_special_tokens_mask(tok.encode("Hi"), already_has_special_tokens=True) == [1, 0, 1]
    assert tok.create_token_type_ids_from_sequences(a, b) == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert tok("Hello world", "How are you?")["token_type_ids"] == tok.create_token_type_ids_from_sequences(
        a, b
    )


def test_numpy_tensors_and_lazy_details(tok):
    enc = tok(["Hello world", "a b c d"], padding=True, return_tensors="np")
    assert isinstance(enc, BatchEncoding)
    assert enc["input_ids"].dtype == np.int64 and enc["input_ids"].shape == (2, 6)
    assert enc.attention_mask.tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    # word ids / tokens were not needed for the call; they are computed on first use
    assert enc.word_ids(1) == [None, 0, 1, 2, 3, None]
    assert enc.tokens(0) == ["[CLS]", "Hello", "Ġworld", "[SEP]", "[PAD]", "[PAD]"]
    assert enc.sequence_ids(0) == [None, 0, 0, None, None, None]
    with pytest.raises(ValueError, match="ragged"):
        tok(["Hello world", "a b c d"], return_tensors="np")


def test_pre_split_words_get_the_prefix_space(tok):
    enc = tok(["Hello", "wörld"], is_split_into_words=True, return_offsets_mapping=True)
    assert enc.tokens() == ["[CLS]", "ĠHello", "Ġw", "Ã¶r", "ld", "[SEP]"]
    assert enc.word_ids() == [None, 0, 1, 1, 1, None]
    assert enc["offset_mapping"] == [(0, 0), (0, 5), (0, 1), (1, 3), (3, 5), (0, 0)]  # relative to each word


def test_added_tokens_json(tmp_path):
    tok = _toy(tmp_path)
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<new>": 20}))
    tok = DebertaTokenizer.from_pretrained(tmp_path, unk_token="[UNK]")
    assert tok("lo<new>w", add_special_tokens=False)["input_ids"] == [0, 1, 20, 2]
    assert tok.vocab_size == 20 and tok.convert_tokens_to_ids("<new>") == 20
    assert len(tok) == 25  # [CLS], [SEP], [PAD], [MASK] are not in the toy vocabulary: added after it


def test_overflow_windows(tok):
    enc = tok(
        "one two three four five six", truncation=True, max_length=5, stride=1, return_overflowing_tokens=True
    )
    assert enc["input_ids"] == [[1, 1264, 80, 130, 2], [1, 130, 237, 292, 2], [1, 292, 411, 2]]
    assert enc["overflow_to_sample_mapping"] == [0, 0, 0]


def test_save_and_reload(tok, tmp_path):
    files = tok.save_pretrained(tmp_path)
    assert {Path(f).name for f in files} >= {"vocab.json", "merges.txt", "tokenizer_config.json"}
    again = DebertaTokenizer.from_pretrained(tmp_path)
    text = "Round trip: [MASK] héllo 😊"
    assert again(text, return_offsets_mapping=True) == tok(text, return_offsets_mapping=True)
    assert (V1 / "merges.txt").read_text(encoding="utf-8") == Path(files[1]).read_text(encoding="utf-8")
    assert json.loads(Path(files[0]).read_text(encoding="utf-8")) == json.loads(
        (V1 / "vocab.json").read_text()
    )
    prefixed = tok.save_vocabulary(tmp_path, filename_prefix="x")
    assert Path(prefixed[0]).name == "x-vocab.json"


GPT2 = GPT2_FAIRSEQ


def test_from_gpt2_files_rebuilds_the_shared_vocabulary():
    """Microsoft's construction from GPT-2's encoder.json/vocab.bpe and fairseq's dict.txt gives vocab.json."""
    built = DebertaTokenizer.from_gpt2_files(GPT2 / "encoder.json", GPT2 / "vocab.bpe", GPT2 / "dict.txt")
    assert built.get_vocab() == json.loads((V1 / "vocab.json").read_text(encoding="utf-8"))
    assert built("Hello world")["input_ids"] == [1, 31414, 232, 2]


def test_tokens_that_are_not_byte_level_decode_as_themselves(tok):
    """The Rust ByteLevel decoder's rule: a token with a character outside the byte table is its own UTF-8."""
    assert tok.convert_tokens_to_string([" Zürich"]) == " Zürich"  # a plain space is not in the table
    assert tok.convert_tokens_to_string(["ĠZ", "Ã¼", "rich"]) == " Zürich"
    transformers = pytest.importorskip("transformers")
    fast = transformers.DebertaTokenizerFast(
        vocab_file=str(V1 / "vocab.json"), merges_file=str(V1 / "merges.txt")
    )
    for tokens in ([" Zürich"], ["ĠZ", "Ã¼", "rich"], ["a\nb", "Ċ"], ["Ã", " é"]):
        assert tok.convert_tokens_to_string(tokens) == fast.convert_tokens_to_string(tokens), tokens


def test_pinned_unicode_classes(tok):
    # U+0558 is an Armenian letter only since Unicode 17; the reference (Unicode 15.1) treats it as punctuation.
    enc = tok("a\u0558a", return_offsets_mapping=True, add_special_tokens=False)
    assert enc.word_ids() == [0, 1, 1, 2]
    assert enc["offset_mapping"] == [(0, 1), (1, 2), (1, 2), (2, 3)]


def test_cache_is_bounded(tmp_path):
    tok = DebertaTokenizer.from_pretrained(_toy(tmp_path).save_pretrained(tmp_path / "t")[0].rsplit("/", 1)[0],
                                           cache_size=16)  # fmt: skip
    tok(" ".join(f"w{i}" for i in range(500)))
    assert len(tok.bpe.cache) <= 16


# --- properties ------------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60) | st.lists(
    st.sampled_from(["[MASK]", "[CLS]", "é", "😊", " ", "\u3000", "\x1c", "'s", "12", "a\u0301", "\u0558"]),
    max_size=8,
).map("".join)


def _absorbs(text: str) -> bool:
    return any(text[i - 1] in WHITE_SPACE for i in range(1, len(text)) if text.startswith("[MASK]", i))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_byte_level_round_trip(tok, text):
    if _absorbs(text):  # " [MASK]" and "[MASK]" are the same ids, by design
        return
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_offsets_slice_the_text(tok, text):
    enc = tok(text, return_offsets_mapping=True)
    for token_id, token, (a, b) in zip(enc["input_ids"], enc.tokens(), enc["offset_mapping"]):
        if token_id in (tok.cls_token_id, tok.sep_token_id) and (a, b) == (0, 0):
            continue
        piece = text[a:b]
        assert piece, (token, a, b)
        if token_id in tok.all_special_ids:
            assert piece == token
        else:
            assert from_byte_level([token]) in piece.encode("utf-8")


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, b"bytes", 12, 3.5, ["ok", None], [b"x"]])
def test_non_str_input(tok, bad):
    with pytest.raises((TypeError, ValueError)):
        tok(bad)


def test_bad_arguments(tok):
    with pytest.raises(ValueError, match="surrogate"):
        tok("a\ud800b")
    with pytest.raises(ValueError, match="text_pair was given without text"):
        tok(text_pair="x")
    with pytest.raises(ValueError, match="special tokens"):
        tok("hello world", truncation=True, max_length=1)
    with pytest.raises(ValueError, match="special tokens"):
        tok("hello", "world", truncation=True, max_length=2)
    with pytest.raises(ValueError, match="stride"):
        tok("hello world foo", truncation=True, max_length=4, stride=2, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="padding"):
        tok("x", padding="sideways")
    with pytest.raises(ValueError, match="truncation"):
        tok("x", truncation="middle")
    with pytest.raises(ValueError, match="return_tensors"):
        tok("x", return_tensors="pt")
    with pytest.raises(ValueError, match="only_first"):
        tok("a b c d e f", "x", truncation="only_first", max_length=4)
    with pytest.raises(ValueError, match="same length"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="not an id"):
        tok.decode([1, 99999999])
    with pytest.raises(TypeError):
        tok.decode("hello")


def test_malformed_files_name_file_and_line(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0,\n "b": }')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    with pytest.raises(ValueError, match=r"vocab\.json:2"):
        DebertaTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2}')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nab\n")
    with pytest.raises(ValueError, match=r"merges\.txt:3"):
        DebertaTokenizer.from_pretrained(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 0}')
    with pytest.raises(ValueError, match=r"vocab\.json: id 0"):
        DebertaTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        DebertaTokenizer.from_pretrained(tmp_path / "nope")
