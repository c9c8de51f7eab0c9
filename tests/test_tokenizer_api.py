"""The transformers tokenizer surface around the segmentation (issue 14): special-token setters, added tokens,
`pad`, lengths, BatchEncoding's alignment look-ups, the over-length warning. Each behaviour is checked on its own
and, where transformers is installed, live against DebertaTokenizerFast / DebertaV2TokenizerFast on the same calls
(the v2 tokenizer in reference="fast" mode, whose ids are the fast tokenizer's by construction)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from conformance.tokenizer_files import DEBERTA_V1, DEBERTA_V3
from deberta_np.tokenizer import AddedToken, DebertaTokenizer, DebertaV2Tokenizer

pytestmark = pytest.mark.filterwarnings(
    "ignore:The sentencepiece tokenizer that you are converting:UserWarning"
)

TEXTS = [
    "Hello world! The quick brown fox.",
    "naïve café — déjà vu, 東京 and ＱＱ.",
    "a [MASK] b",
    "",
    "  spaced   out  ",
]
ADDED_TEXT = "hello foo bar qqa ＱＱ ｑｑ qq <r>  x [MASK] <x>world <s> new_tok"


def ours(version: str, **kwargs) -> DebertaTokenizer | DebertaV2Tokenizer:
    if version == "v1":
        return DebertaTokenizer.from_pretrained(DEBERTA_V1, **kwargs)
    return DebertaV2Tokenizer.from_pretrained(DEBERTA_V3, reference="fast", **kwargs)


def reference(version: str, **kwargs):
    transformers = pytest.importorskip("transformers")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers.logging.set_verbosity_error()
    if version == "v1":
        return transformers.DebertaTokenizerFast(
            vocab_file=str(DEBERTA_V1 / "vocab.json"), merges_file=str(DEBERTA_V1 / "merges.txt"), **kwargs
        )
    return transformers.DebertaV2TokenizerFast(vocab_file=str(DEBERTA_V3 / "spm.model"), **kwargs)


def plain(encoding) -> dict:
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in encoding.items()}


VERSIONS = pytest.mark.parametrize("version", ["v1", "v2"])


# --- 1. setting a special token -------------------------------------------------------------------------------------


@VERSIONS
def test_setting_the_pad_token_moves_its_id_and_the_padding(version):
    tok = ours(version)
    unk = tok.unk_token_id
    assert tok.pad_token_id == 0
    tok.pad_token = "[UNK]"
    assert tok.pad_token == "[UNK]" and tok.pad_token_id == unk
    batch = tok(["a", "a b c d"], padding=True)
    assert batch["input_ids"][0][-1] == unk and batch["attention_mask"][0][-1] == 0
    assert tok.pad(tok(["a", "a b c d"]))["input_ids"][0][-1] == unk
    tok.pad_token = "not-in-the-vocabulary"  # transformers: the unknown token's id, nothing added
    assert tok.pad_token_id == unk and len(tok) == len(ours(version))
    tok.pad_token_id = 5
    assert tok.pad_token == tok.convert_ids_to_tokens(5)
    tok.pad_token = AddedToken("[SEP]", special=True)
    assert tok.pad_token == "[SEP]" and tok.pad_token_id == tok.sep_token_id
    tok.pad_token = None
    assert tok.pad_token_id is None
    with pytest.raises(ValueError, match="pad token"):
        tok(["a", "a b"], padding=True)
    with pytest.raises(TypeError, match="pad_token"):
        tok.pad_token = 3
    with pytest.raises(TypeError, match="pad_token_id"):
        tok.pad_token_id = "3"


@VERSIONS
def test_special_token_setters_match_transformers(version):
    tok, ref = ours(version), reference(version)
    for t in (tok, ref):
        t.pad_token = "[UNK]"
        t.cls_token = "[MASK]"  # renames only: the template keeps [CLS]
        t.mask_token_id = 7
        t.sep_token = "unknown-string"
    for attr in ("pad_token", "cls_token", "mask_token", "sep_token", "unk_token", "bos_token", "eos_token"):
        assert getattr(tok, attr) == getattr(ref, attr), attr
        assert getattr(tok, attr + "_id") == getattr(ref, attr + "_id"), attr
    assert tok.all_special_tokens == ref.all_special_tokens
    assert tok.all_special_ids == ref.all_special_ids
    assert plain(tok(["a", "b c d"], ["e", "f"], padding=True)) == plain(
        ref(["a", "b c d"], ["e", "f"], padding=True)
    )


# --- 2. added tokens, pad, lengths, BatchEncoding -------------------------------------------------------------------


def _add_everything(tok, added_token) -> list:
    """The same sequence of additions on ours and on transformers'; the return values."""
    return [
        tok.add_tokens(["hello", "foo bar", added_token("qq", single_word=True)]),
        tok.add_tokens(["hello"]),  # already added with these flags: 0
        tok.add_tokens("new_tok"),
        tok.add_tokens(["", added_token("<r>", lstrip=True, rstrip=True, normalized=False)]),
        tok.add_tokens([added_token("ｑｑ", single_word=True, normalized=True)]),
        tok.add_special_tokens({"additional_special_tokens": ["<x>"], "pad_token": "<p>"}),
        tok.add_special_tokens(
            {"additional_special_tokens": ["<s>"]}, replace_additional_special_tokens=False
        ),
        tok.add_special_tokens({"mask_token": "[MASK]"}),  # other flags than the file's: replaced, counted
    ]


@VERSIONS
def test_added_tokens_match_transformers(version):
    HFAddedToken = pytest.importorskip("transformers").AddedToken

    tok, ref = ours(version), reference(version)
    # ours accepts transformers' AddedToken objects too
    assert _add_everything(tok, HFAddedToken) == _add_everything(ref, HFAddedToken)
    assert len(tok) == len(ref)
    assert tok.get_added_vocab() == ref.get_added_vocab()
    assert tok.additional_special_tokens == ref.additional_special_tokens
    assert tok.special_tokens_map == ref.special_tokens_map
    assert tok.pad_token_id == ref.pad_token_id
    assert tok.all_special_ids == ref.all_special_ids
    flags = ("content", "lstrip", "rstrip", "single_word", "normalized", "special")
    assert {i: tuple(getattr(t, f) for f in flags) for i, t in tok.added_tokens_decoder.items()} == {
        i: tuple(getattr(t, f) for f in flags) for i, t in ref.added_tokens_decoder.items()
    }
    for text in [ADDED_TEXT, *TEXTS]:
        mine = tok(text, return_offsets_mapping=True)
        theirs = ref(text, return_offsets_mapping=True)
        assert plain(mine) == plain(theirs), text
        assert mine.tokens() == theirs.tokens() and mine.word_ids() == theirs.word_ids(), text
    ids = tok(ADDED_TEXT)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    assert plain(tok([ADDED_TEXT, "x"], padding=True)) == plain(ref([ADDED_TEXT, "x"], padding=True))


def test_our_added_token_defaults_are_those_of_tokenizers():
    assert AddedToken("x").normalized is True and AddedToken("x").special is False
    assert AddedToken("x", special=True).normalized is False
    with pytest.raises(TypeError, match="content"):
        AddedToken(3)


@VERSIONS
def test_added_tokens_bad_arguments(version):
    tok = ours(version)
    with pytest.raises(TypeError, match="new_tokens"):
        tok.add_tokens([3])
    with pytest.raises(ValueError, match="not one of"):
        tok.add_special_tokens({"foo_token": "x"})
    with pytest.raises(TypeError, match="additional_special_tokens"):
        tok.add_special_tokens({"additional_special_tokens": "<x>"})
    assert tok.add_tokens([]) == 0 and len(tok) == len(ours(version))


@VERSIONS
def test_added_tokens_survive_save_and_reload(version, tmp_path):
    tok = ours(version)
    tok.add_tokens(["foo bar", AddedToken("<r>", lstrip=True, rstrip=True, normalized=False)])
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]})
    tok.save_pretrained(tmp_path)
    again = type(tok).from_pretrained(tmp_path, **({"reference": "fast"} if version == "v2" else {}))
    assert again.get_added_vocab() == tok.get_added_vocab()
    assert again(ADDED_TEXT)["input_ids"] == tok(ADDED_TEXT)["input_ids"]


PAD_CALLS = [
    ({}, {}),
    ({"padding": "max_length", "max_length": 12}, {}),
    ({"pad_to_multiple_of": 8}, {}),
    ({"padding_side": "left"}, {"return_special_tokens_mask": True}),
    ({"return_attention_mask": False}, {"return_attention_mask": False}),
    ({"return_tensors": "np"}, {}),
    ({"padding": False}, {}),
    ({"padding": "max_length", "max_length": 3}, {}),
]


@VERSIONS
@pytest.mark.parametrize(("pad_options", "encode_options"), PAD_CALLS)
def test_pad_matches_transformers(version, pad_options, encode_options):
    tok, ref = ours(version), reference(version)
    texts = ["Hello world", "A much longer second sentence here.", "x"]
    for t in (tok, ref):
        t.pad_token = "[UNK]"  # padding must follow the setter
    batch = tok(texts, **encode_options)
    # a BatchEncoding, a list of dicts (what a data collator gets), and one example
    rows = [{k: v[i] for k, v in batch.items()} for i in range(len(texts))]
    single = {k: v[1] for k, v in batch.items()}
    for inputs in (batch, rows, single):
        mine = tok.pad(inputs, **pad_options)
        theirs = ref.pad(dict(inputs) if isinstance(inputs, dict) else inputs, **pad_options)
        assert plain(mine) == plain(theirs), (inputs, pad_options)
        assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}


def test_pad_arrays_and_errors():
    tok = ours("v1")
    arrays = tok(["a b c", "d e f"], return_tensors="np")
    padded = tok.pad(arrays, padding="max_length", max_length=8)
    assert isinstance(padded["input_ids"], np.ndarray) and padded["input_ids"].shape == (2, 8)
    with pytest.raises(ValueError, match="input_ids"):
        tok.pad({"attention_mask": [1]})
    with pytest.raises(ValueError, match="other keys"):
        tok.pad([{"input_ids": [1]}, {"input_ids": [1], "labels": 3}])
    with pytest.raises(ValueError, match="per-token encodings"):
        tok.pad(tok(["a", "b c"])).tokens()


@VERSIONS
def test_lengths_and_model_input_names_match_transformers(version):
    for kwargs in ({}, {"model_max_length": 512}):
        tok, ref = ours(version, **kwargs), reference(version, **kwargs)
        assert tok.max_len_single_sentence == ref.max_len_single_sentence
        assert tok.max_len_sentences_pair == ref.max_len_sentences_pair
        assert tok.num_special_tokens_to_add(pair=True) == ref.num_special_tokens_to_add(pair=True)
        assert tok.model_input_names == ref.model_input_names
        assert isinstance(tok.model_input_names, list)


def test_model_input_names_choose_the_default_outputs():
    tok = ours("v2")
    tok.model_input_names = ["input_ids", "attention_mask"]  # as a transformers user drops token_type_ids
    assert set(tok("a")) == {"input_ids", "attention_mask"}
    assert set(tok("a", return_token_type_ids=True)) == {"input_ids", "token_type_ids", "attention_mask"}
    assert set(ours("v2")("a")) == {"input_ids", "token_type_ids", "attention_mask"}


def _lookups(encoding, n_rows: int, n_tokens: int) -> dict:
    """Every alignment look-up over every valid index; what raises in transformers is left out."""
    out = {}
    calls = []
    for b in range(-n_rows, n_rows):
        for i in range(n_tokens + 2):
            calls += [("token_to_chars", (b, i)), ("token_to_word", (b, i)), ("token_to_sequence", (b, i))]
            for s in (0, 1):
                calls += [
                    ("char_to_token", (b, i, s)),
                    ("char_to_word", (b, i, s)),
                    ("word_to_tokens", (b, i, s)),
                ]
    calls += [("char_to_token", (3,)), ("word_to_tokens", (1,)), ("token_to_chars", (2,))]
    for name, args in calls:
        try:
            out[name, args] = getattr(encoding, name)(*args)
        except (TypeError, OverflowError, AttributeError, IndexError):
            continue
    return out


@VERSIONS
def test_batch_encoding_alignment_matches_transformers(version):
    tok, ref = ours(version), reference(version)
    texts, pairs = ["Hello world, naïve café", "x"], ["second text here", "y z"]
    for options in ({}, {"padding": True, "padding_side": "left"}):
        mine = tok(texts, pairs, **options)  # details computed lazily on first look-up
        theirs = ref(texts, pairs, **options)
        n = len(theirs["input_ids"][0])
        expected = _lookups(theirs, 2, n)
        got = _lookups(mine, 2, n)
        assert {k: got.get(k) for k in expected} == expected
        assert len(expected) > 100  # the comparison covers the ground
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert mine.words(1) == theirs.word_ids(1)
        assert [w.category for w in caught] == [FutureWarning]
    single = tok("Hello world")
    assert single.char_to_token(1) == 1 and single.word_to_tokens(1) == (2, 3)
    assert single.token_to_chars(1) == (0, 5) and single.token_to_chars(0) is None
    assert single.word_to_chars(1) == (5, 11)  # v1: "Ġworld" covers the space
    with pytest.raises(ValueError, match="char index"):
        single.char_to_token(-1)
    with pytest.raises(IndexError, match="batch_index"):
        single.char_to_token(1, 0)


# --- 4. over-length warning ------------------------------------------------------------------------------------------


@VERSIONS
def test_over_length_warning_once_per_tokenizer(version):
    tok = ours(version, model_max_length=5)
    message = (
        r"Token indices sequence length is longer than the specified maximum sequence length for this model "
        r"\(9 > 5\)\. Running this sequence through the model will result in indexing errors"
    )
    with pytest.warns(UserWarning, match=message) as caught:
        tok(["a b", "a b c d e f g"])
        tok("a b c d e f g h i j")  # the same tokenizer: not again
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours(version, model_max_length=5)("a b c d e f g", truncation=True)  # truncated: fits
        ours(version, model_max_length=5)("a b c d e f g", padding="max_length")  # max_length: no warning
        ours(version, model_max_length=5)("a b c d e f g", verbose=False)
        ours(version)("a " * 1000)  # no model_max_length
    with pytest.warns(UserWarning, match="9 > 5"):
        ours(version, model_max_length=5).encode("a b c d e f g")


# --- 3. tokenizer.json ------------------------------------------------------------------------------------------------


def _with_added(tok, added_token):
    tok.add_tokens(["foo bar", added_token("<r>", lstrip=True, rstrip=True, normalized=False)])
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]})
    return tok


TOKENIZER_JSON_CASES = [("v1", {}), ("v1", {"add_prefix_space": True}), ("v2", {}),
                        ("v2", {"do_lower_case": True, "split_by_punct": True})]  # fmt: skip


@pytest.mark.parametrize(("version", "options"), TOKENIZER_JSON_CASES)
def test_tokenizer_json_is_the_one_transformers_writes(version, options, tmp_path):
    """Our tokenizer.json is, as JSON, the file DebertaTokenizerFast / DebertaV2TokenizerFast save for the same
    tokenizer files, options and added tokens."""
    import json

    HFAddedToken = pytest.importorskip("transformers").AddedToken

    _with_added(ours(version, **options), HFAddedToken).save_pretrained(tmp_path / "ours")
    _with_added(reference(version, **options), HFAddedToken).save_pretrained(tmp_path / "theirs")
    mine, theirs = (json.loads((tmp_path / d / "tokenizer.json").read_text()) for d in ("ours", "theirs"))
    assert mine.keys() == theirs.keys()
    for key in theirs:
        assert mine[key] == theirs[key], key


def _corpus_sample(limit_chars: int = 400_000) -> list[str]:
    """Documents from every source of the conformance corpus (real text in ~40 languages), about `limit_chars`."""
    from conformance.tokenizer_corpus import load_corpus

    sources = [s for s in load_corpus()[0] if s.documents]
    per_source = max(1, limit_chars // (2000 * len(sources)))
    return [d for s in sources for d in s.documents[:per_source]]


@VERSIONS
def test_saved_tokenizer_json_loads_in_transformers_with_our_ids(version, tmp_path):
    transformers = pytest.importorskip("transformers")
    HFAddedToken = pytest.importorskip("transformers").AddedToken

    tok = _with_added(ours(version), HFAddedToken)
    tok.save_pretrained(tmp_path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    auto = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert type(auto).__name__ == ("DebertaTokenizerFast" if version == "v1" else "DebertaV2TokenizerFast")
    texts = [*TEXTS, ADDED_TEXT, *_corpus_sample()]
    assert len(texts) > 100
    mine = tok(texts)["input_ids"]
    assert fast(texts)["input_ids"] == mine
    assert auto(texts)["input_ids"] == mine
    pairs = auto(texts[:20], texts[20:40], return_offsets_mapping=True)
    assert plain(pairs) == plain(tok(texts[:20], texts[20:40], return_offsets_mapping=True))


def test_tokenizer_json_alone_reloads_with_the_same_ids(tmp_path):
    """Without transformers: a directory holding only our tokenizer.json (no vocab.json, merges.txt, spm.model)
    loads back into deberta_np with the same ids, added tokens included."""
    texts = [*TEXTS, ADDED_TEXT]
    for version in ("v1", "v2"):
        tok = _with_added(ours(version), AddedToken)
        tok.save_pretrained(tmp_path / version)
        only = tmp_path / f"{version}-only"
        only.mkdir()
        (only / "tokenizer.json").write_bytes((tmp_path / version / "tokenizer.json").read_bytes())
        again = type(tok).from_pretrained(only, **({"reference": "fast"} if version == "v2" else {}))
        assert again(texts)["input_ids"] == tok(texts)["input_ids"], version
        assert again.get_added_vocab() == tok.get_added_vocab()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_constructor_options_are_checked_once_for_both_families(version: str) -> None:
    # The options every tokenizer takes live in TokenizerBase._set_options: both families refuse the same things.
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument\(s\) bogus; it takes .*model_max_length"
    ):
        ours(version, bogus=1)
    with pytest.raises(ValueError, match="cache_size must be a positive int"):
        ours(version, cache_size=0)
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        ours(version, padding_side="middle")
    assert ours(version, model_max_length=7, truncation_side="left").truncation_side == "left"
