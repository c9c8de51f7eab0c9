"""DebertaV2Tokenizer against the stored goldens (no transformers) and, when installed, live against transformers'
slow (sentencepiece) and fast DeBERTa-v2 tokenizers and sentencepiece itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import tokenizer_v2_suite
from conformance.tokenizer_files import DEBERTA_V3
from deberta_np.tokenizer import DebertaV2Tokenizer

V3 = DEBERTA_V3
pytestmark = [
    # transformers' warning on converting a byte-fallback model: that difference is what these tests check
    pytest.mark.filterwarnings("ignore:The sentencepiece tokenizer that you are converting:UserWarning"),
]


def _suite():
    return tokenizer_v2_suite


@pytest.fixture(scope="module")
def ours() -> tuple[DebertaV2Tokenizer, DebertaV2Tokenizer]:
    return _suite().load_tokenizers()


def test_golden_option_cases(ours):
    rows = _suite().check_cases(ours, examples := [])
    assert all(r["ok"] for r in rows), (rows, examples)


def test_golden_hypothesis_strings(ours):
    suite = _suite()
    rows = suite.check_hypothesis(ours, suite.load_tokenizers(**suite.VARIANT), examples := [])
    assert all(r["ok"] for r in rows), (rows, examples)


# --- live, against transformers and sentencepiece -------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    transformers.logging.set_verbosity_error()
    return (
        transformers.DebertaV2Tokenizer.from_pretrained(V3),
        transformers.DebertaV2TokenizerFast.from_pretrained(V3),
    )


def _full(enc) -> tuple:
    return enc["input_ids"], enc["offset_mapping"], enc.tokens(), enc.word_ids()


TEXT = st.lists(
    st.one_of(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
        st.sampled_from(
            ["[MASK]", " [UNK] ", "ẞ", "ｅ\u0301", "\r\n", "´\x1c", "\x01", "…", "yyyyyyy", "  "]
        ),
        st.text("ab ,.'\n", max_size=5),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_live_against_transformers(ours, reference, text):
    slow, fast = reference
    default, fast_mode = ours
    ids = slow(text)["input_ids"]
    expected = _full(fast(text, return_offsets_mapping=True))
    got = _full(default(text, return_offsets_mapping=True))
    assert got[0] == ids
    if ids == expected[0]:
        assert got == expected
    assert _full(fast_mode(text, return_offsets_mapping=True)) == expected
    assert default.decode(ids) == slow.decode(ids)


@settings(max_examples=100, deadline=None)
@given(TEXT)
def test_live_normalizer_against_sentencepiece(ours, reference, text):
    import sentencepiece

    from deberta_np.tokenizer.normalizer import normalize_spm

    processor = _processor(sentencepiece)
    assert normalize_spm(text, ours[0].charsmap)[0] == processor.Normalize(text)


_PROCESSOR: list = []


def _processor(sentencepiece):
    if not _PROCESSOR:
        _PROCESSOR.append(sentencepiece.SentencePieceProcessor(model_file=str(V3 / "spm.model")))
    return _PROCESSOR[0]


def test_tokenizer_json_only(ours, reference, tmp_path):
    # A directory with only the fast tokenizer's tokenizer.json (as many hub repositories ship) loads too.
    _, fast = reference
    fast.save_pretrained(tmp_path)
    (tmp_path / "spm.model").unlink(missing_ok=True)
    for name in ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"):
        (tmp_path / name).unlink(missing_ok=True)
    default = DebertaV2Tokenizer.from_pretrained(tmp_path)
    fast_mode = DebertaV2Tokenizer.from_pretrained(tmp_path, reference="fast")
    assert default.unigram.byte_fallback  # inferred from the 256 byte pieces
    for text in ["Hello world [MASK]!", "ẞ x ｅ\u0301", "a [UNK] b", "生活的真谛是"]:
        assert _full(fast_mode(text, return_offsets_mapping=True)) == _full(
            fast(text, return_offsets_mapping=True)
        )
        assert default(text)["input_ids"] == ours[0](text)["input_ids"]
    saved = fast_mode.save_pretrained(tmp_path / "again")
    assert Path(saved[0]).name == "tokenizer.json"
