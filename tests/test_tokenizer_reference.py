"""DebertaTokenizer against the stored goldens (no transformers) and, when installed, live against transformers."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import tokenizer_suite
from conformance.tokenizer_files import DEBERTA_V1
from deberta_np.tokenizer import DebertaTokenizer

V1 = DEBERTA_V1


def _suite():
    return tokenizer_suite


@pytest.fixture(scope="module")
def ours() -> tuple[DebertaTokenizer, DebertaTokenizer]:
    return DebertaTokenizer.from_pretrained(V1), DebertaTokenizer.from_pretrained(V1, add_prefix_space=True)


def test_golden_option_cases(ours):
    suite = _suite()
    rows = suite.check_cases(*ours, examples := [])
    assert all(r["ok"] for r in rows), (rows, examples)


def test_golden_hypothesis_strings(ours):
    suite = _suite()
    rows = suite.check_hypothesis(ours[0], examples := [])
    assert all(r["ok"] for r in rows), (rows, examples)


def test_missing_or_changed_corpus_source_is_reported(ours, monkeypatch):
    suite = _suite()
    golden = suite.load_golden("corpus.json.gz")
    first = dict(golden["sources"][0])
    changed = {**golden["sources"][1], "sha256": "0" * 64}
    missing = {**first, "path": "/usr/share/nowhere/gone.txt"}
    small = {**golden, "sources": [first, changed, missing], "sample": []}
    monkeypatch.setattr(suite, "load_golden", lambda name: small)
    rows = suite.check_corpus(ours[0], [])
    sources = next(r for r in rows if r["case"] == "corpus sources")
    assert not sources["ok"] and "2 of 3 unusable" in sources["value"] and "gone.txt" in sources["value"]


# --- live, against transformers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers.logging.set_verbosity_error()
    return (
        transformers.DebertaTokenizerFast.from_pretrained(V1),
        transformers.DebertaTokenizer.from_pretrained(V1),
    )


def _canonical(enc):
    suite = _suite()
    return suite._json(suite.canonical(enc, *suite.rows_detail(enc, suite.n_rows(enc))))


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40) | st.lists(
    st.sampled_from(
        ["[MASK]", " [MASK]", "[SEP]", "😊", "\u3000", "\x85", "'ll", " 7", "e\u0301", "שלום", "\u0558"]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=TEXT, pair=st.none() | TEXT)
def test_live_against_fast_and_slow(ours, reference, text, pair):
    fast, slow = reference
    options = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
    assert _canonical(ours[0](text, pair, **options)) == _canonical(fast(text, pair, **options))
    from conformance.generate_tokenizer import _slow_difference

    # pair == "": fast (followed) encodes no pair at all, slow a pair with an empty second text.
    if not _slow_difference(text + (pair or "")) and pair != "":
        assert ours[0](text, pair)["input_ids"] == slow(text, pair)["input_ids"]


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("padding", [False, True, "max_length"])
def test_live_truncation_and_padding(ours, reference, strategy, padding):
    fast, _ = reference
    a = ["The quick brown fox jumps over the lazy dog again and again", "short", "mid length text here"]
    b = ["and a second text that is long enough to be cut", "tiny pair", "one two three four five six seven"]
    options = dict(truncation=strategy, max_length=11, stride=2, return_overflowing_tokens=True, padding=padding,
                   return_offsets_mapping=True, return_special_tokens_mask=True)  # fmt: skip
    try:
        expected = _canonical(fast(a, b, **options))
    except BaseException as e:  # Rust errors, or its PanicException (a BaseException)
        if isinstance(e, KeyboardInterrupt):
            raise
        with pytest.raises(ValueError):
            ours[0](a, b, **options)
        return
    assert _canonical(ours[0](a, b, **options)) == expected


def test_tokenizer_json_only_directory(reference, tmp_path):
    fast, _ = reference
    fast.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    tok = DebertaTokenizer.from_pretrained(tmp_path)
    text = "A tokenizer.json-only directory: [MASK] works 😊"
    assert tok(text, "pair", return_offsets_mapping=True) == DebertaTokenizer.from_pretrained(V1)(
        text, "pair", return_offsets_mapping=True
    )


def test_transformers_loads_our_save(ours, reference, tmp_path):
    transformers = pytest.importorskip("transformers")
    ours[0].save_pretrained(tmp_path)
    fast = transformers.DebertaTokenizerFast.from_pretrained(tmp_path)
    slow = transformers.DebertaTokenizer.from_pretrained(tmp_path)
    text = "Saved by deberta_np: lower [MASK] newer"
    assert fast(text)["input_ids"] == slow(text)["input_ids"] == ours[0](text)["input_ids"]


def test_unicode_tables_match_the_reference_pre_tokenizer():
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    from deberta_np.tokenizer.bpe import _pinned

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    pinned = _pinned()
    for cp in [*range(0, 0x3400, 7), *range(0x3400, 0x110000, 211), 0x558, 0xC5C, 0x107BB, 0x2EBF0, 0x1E030]:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        kind = (
            "L"
            if len(pre.pre_tokenize_str("a" + ch)) == 1
            else "N"
            if len(pre.pre_tokenize_str("1" + ch)) == 1
            else None
        )
        assert (pinned.kind(ch) if pinned.kind(ch) in "LN" else None) == kind, hex(cp)
