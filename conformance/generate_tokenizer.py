"""Write the tokenizer goldens from the reference: transformers 4.57.6 `DebertaTokenizerFast` (everything) and the
slow `DebertaTokenizer` (ids, `tokenize()` strings), on the shared deberta-v1 files.

    python -m conformance.generate_tokenizer                  # all goldens (about a minute)
    python -m conformance.generate_tokenizer --unicode-tables # regenerate deberta_np/tokenizer/_unicode_tables.py

Needs transformers==4.57.6 (and its tokenizers) and hypothesis; the checker (tokenizer_suite.py) needs neither.
Where the slow and fast reference disagree, the fast output is the golden and the slow ids are recorded as a
documented difference with its cause (see deberta_np/tokenizer/deberta.py for the policy).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import random
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.generate import versions
from conformance.tokenizer_corpus import load_corpus
from conformance.tokenizer_suite import (
    GOLDEN_DIR,
    PAIR_OPTIONS,
    SINGLE_OPTIONS,
    TOKENIZER_DIR,
    canonical_output,
    corpus_pairs,
    digest,
    document_digests,
    encode_canonical,
)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SAMPLE_EVERY = 12  # full outputs for the first document of every 12th corpus source
N_HYPOTHESIS = 1200


def quiet_transformers() -> Any:
    """transformers, with its warnings off; a warning of our own if it is not the version of the goldens."""
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    if transformers.__version__ != "4.57.6":
        print(
            f"warning: goldens are defined by transformers 4.57.6, this is {transformers.__version__}",
            file=sys.stderr,
        )
    return transformers


def _reference() -> tuple[Any, Any, Any]:
    transformers = quiet_transformers()
    fast = transformers.DebertaTokenizerFast.from_pretrained(TOKENIZER_DIR)
    slow = transformers.DebertaTokenizer.from_pretrained(TOKENIZER_DIR)
    fast_prefix = transformers.DebertaTokenizerFast.from_pretrained(TOKENIZER_DIR, add_prefix_space=True)
    return fast, slow, fast_prefix


def _provenance() -> dict:
    import regex
    import tokenizers
    import transformers

    return {
        "generator": "python -m conformance.generate_tokenizer",
        **versions(transformers, tokenizers, regex),
        "python": platform.python_version(),
        "reference": "DebertaTokenizerFast (all fields); DebertaTokenizer (slow) for ids and tokenize()",
    }


def write_golden(path: Path, payload: dict) -> None:
    """Gzipped compact JSON, keys sorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # mtime=0: the same goldens give the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(data.encode("utf-8", "surrogatepass"))
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def _write(name: str, payload: dict) -> None:
    write_golden(GOLDEN_DIR / name, payload)


def _slow_difference(text: str) -> str:
    """Why the slow tokenizer may differ from the fast one on `text` ('' if it should not)."""
    from deberta_np.tokenizer.bpe import classes_agree

    if any(not classes_agree(ch) for ch in text if not ch.isascii()):
        return "character assigned after Unicode 15.1 (slow's regex classifies it as a letter/number)"
    if any(c in text for c in "\x1c\x1d\x1e\x1f") and "[MASK]" in text:
        return "U+001C..U+001F before [MASK]: slow strips (and drops) it, fast keeps it"
    return ""


# --- corpus ------------------------------------------------------------------------------------------------------


def encoded_corpus(fast: Any, slow: Any) -> Iterator[tuple[Any, list[str], Any, list[list[int]]]]:
    """For each corpus source (one that is missing is reported and left out): the source, its documents, the fast
    reference's encoding of them (one batch) and the slow reference's ids of each."""
    sources, missing = load_corpus()
    if missing:
        print("missing corpus sources (skipped): " + ", ".join(missing), file=sys.stderr)
    for source in sources:
        docs = list(source.documents)
        yield source, docs, fast(docs, **SINGLE_OPTIONS), [slow(d)["input_ids"] for d in docs]


def pair_digest(fast: Any, a: str, b: str) -> str:
    """The digest of the fast reference's output on a corpus pair, or "error" where only_second cannot fit (the
    checker expects a ValueError)."""
    try:
        return digest(encode_canonical(fast, [a], [b], raw=True, **PAIR_OPTIONS))
    except Exception:
        return "error"


def generate_corpus(fast: Any, slow: Any) -> None:
    entries, sample, total = [], [], 0
    for n, (source, docs, enc, slow_ids) in enumerate(encoded_corpus(fast, slow)):
        total += sum(len(d.encode("utf-8", "surrogatepass")) for d in docs)
        single = document_digests(enc, len(docs))
        known = []
        for i, ids in enumerate(slow_ids):
            if ids != enc["input_ids"][i]:
                reason = _slow_difference(docs[i])
                if not reason:
                    raise SystemExit(f"unexplained slow/fast difference in {source.path} document {i}")
                known.append(i)
        pairs = [pair_digest(fast, a, b) for a, b in corpus_pairs(docs)]
        entries.append({
            "path": source.path,
            "sha256": source.sha256,
            "single": single,
            "pairs": pairs,
            "slow_ids": [digest(ids) for ids in slow_ids],
            "slow_known_differences": known,
        })  # fmt: skip
        if n % SAMPLE_EVERY == 0 and docs:
            sample.append({"text": docs[0], "expected": encode_canonical(fast, [docs[0]], **SINGLE_OPTIONS)})
    _write("corpus.json.gz", {"provenance": _provenance(), "corpus_mb": total / 1e6, "sources": entries,
                              "sample": sample})  # fmt: skip


# --- hypothesis strings ------------------------------------------------------------------------------------------

# Pieces that hypothesis mixes with arbitrary characters, to make the interesting cases frequent.
SPECIAL_PIECES = [
    "[MASK]", " [MASK]", "  [MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK", "\x1c[MASK]", "\t[MASK]",
    "😊", "👩‍👩‍👧", "🇫🇷", "e\u0301", "\u0301\u0302", "a\u20dd", "\u200d", "\u200b", "\ufeff", "\u202e",
    "שלום", "مرحبا", "\u200f", "\u061c", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\xa0",
    "\u1680", "\u2000", "\u2007", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\x00", "\x1c",
    "\x7f", "\x9f", "\xad", "'s", "'ll", "'S", " 's", "123", " ４５", "½", "Ⅻ", "生活的真谛是", "ปี", "ด",
    "\U0001d400", "\U00010000", "\U0010fffd", "\ue000", "\u0558", "\u0c5c", "\U000107bb", "ǅ", "ﬁ", "İ",
]  # fmt: skip


def hypothesis_strings(n: int, special_pieces: list[str] = SPECIAL_PIECES) -> list[str]:
    """`n` strings drawn by hypothesis, arbitrary characters mixed with `special_pieces` (derandomized, yet the
    draws can still differ a little between runs and hypothesis versions; harmless, since the drawn strings are
    stored with their outputs)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    collected: list[str] = []
    any_char = st.characters(exclude_categories=("Cs",))  # every code point except surrogates
    piece = st.one_of(
        st.text(any_char, max_size=8), st.sampled_from(special_pieces), st.text("ab ,.'\n", max_size=6)
    )
    strategy = st.lists(piece, max_size=10).map("".join)

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(text: str) -> None:
        collected.append(text)

    collect()
    return list(dict.fromkeys(collected))


def generate_hypothesis(fast: Any, slow: Any) -> None:
    texts = hypothesis_strings(N_HYPOTHESIS)
    items = []
    for text in texts:
        single = encode_canonical(fast, [text], **SINGLE_OPTIONS)
        ids = single["input_ids"][0]
        slow_ids = slow(text)["input_ids"]
        if slow_ids != ids:
            if not _slow_difference(text):
                raise SystemExit(f"unexplained slow/fast difference on {text!r}")
            slow_ids = None
        items.append({
            "text": text,
            "single": single,
            "slow_ids": slow_ids,
            "slow_tokenize": slow.tokenize(text) if slow_ids is not None else None,
            "decode": fast.decode(ids),
            "decode_skip_clean": fast.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True),
        })  # fmt: skip
    _write(
        "hypothesis.json.gz",
        {"provenance": _provenance(), "items": items, "pairs": hypothesis_pairs(fast, texts)},
    )


def hypothesis_pairs(fast: Any, texts: list[str]) -> list[dict]:
    """400 pairs of `texts` drawn from a fixed seed, under five option sets in turn, with the fast reference's
    output (a pair it refuses is left out)."""
    rng = random.Random(3)
    option_sets = [
        {"return_offsets_mapping": True, "return_special_tokens_mask": True},
        {**PAIR_OPTIONS, "max_length": 12, "stride": 2},
        {**PAIR_OPTIONS, "truncation": "only_first", "max_length": 10, "stride": 0},
        {**PAIR_OPTIONS, "truncation": "only_second", "max_length": 10, "stride": 1, "padding": True},
        {"truncation": True, "max_length": 8, "padding": "max_length", "return_offsets_mapping": True},
    ]
    pairs = []
    for k in range(400):
        a, b = rng.randrange(len(texts)), rng.randrange(len(texts))
        options = option_sets[k % len(option_sets)]
        try:
            expected = encode_canonical(fast, [texts[a]], [texts[b]], **options)
        except BaseException as e:  # the reference raises (or panics) on impossible only_* truncations
            if isinstance(e, KeyboardInterrupt):
                raise
            continue
        pairs.append({"a": a, "b": b, "options": options, "expected": expected})
    return pairs


# --- option cases ------------------------------------------------------------------------------------------------

CASE_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog. It's 42°C in Zürich, isn't it?",
    "lower [MASK] newer",
    " leading space and trailing  ",
    "😊 héllo 生活的真谛是 مرحبا",
    "",
    "a",
    "one two three four five six seven eight nine ten eleven twelve thirteen",
]
CASE_PAIRS = [
    "second text here",
    "x",
    "the pair is much longer than the first text, by quite a few tokens",
    "",
]
WORD_LISTS = [["Hello", "world", "!"], ["big", " spaced", "wörld", "", "a b", "😊", "[MASK]x"], ["x"]]


def _option_grid() -> list[dict]:
    grid = []
    for truncation, max_length, stride, overflow in itertools.product(
        [True, "longest_first", "only_first", "only_second", False, "do_not_truncate", None],
        [None, 3, 5, 8, 13],
        [0, 1, 3],
        [False, True],
    ):
        if stride and not overflow:
            continue
        grid.append({"truncation": truncation, "max_length": max_length, "stride": stride,
                     "return_overflowing_tokens": overflow})  # fmt: skip
    for padding, multiple, side, max_length in itertools.product(
        [True, "longest", "max_length", False, "do_not_pad"], [None, 4], ["right", "left"], [None, 6, 16]
    ):
        grid.append(
            {
                "padding": padding,
                "pad_to_multiple_of": multiple,
                "padding_side": side,
                "max_length": max_length,
            }
        )
    return grid


def _allowed(options: dict, is_pair: bool) -> bool:
    """Our documented contract raises ValueError where the reference panics or ignores the request; such
    combinations are tested as errors in tests/, not stored as reference outputs here."""
    truncation = options.get("truncation")
    max_length = options.get("max_length")
    on = truncation not in (False, "do_not_truncate", None) or (truncation is None and max_length is not None
                                                                 and options.get("padding", False) is False)  # fmt: skip
    if not on or max_length is None:
        return True
    n_special = (3 if is_pair else 2) if options.get("add_special_tokens", True) else 0
    room = max_length - n_special
    return room >= 0 and not (options.get("stride", 0) and options["stride"] >= room)


def generate_cases(fast: Any, fast_prefix: Any) -> None:
    cases = option_cases(fast, CASE_TEXTS, prefixed=fast_prefix)
    _write("cases.json.gz", {"provenance": _provenance(), "cases": cases})
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} with reference errors")


def option_cases(fast: Any, texts: list[str], prefixed: Any = None) -> list[dict]:
    """The fast reference's outputs (or errors) for every option set of the grid and more, on singles, pairs and
    batches of `texts` and CASE_PAIRS, and on pre-split WORD_LISTS. `prefixed`: the reference with
    add_prefix_space=True (byte-level BPE needs it for pre-split words, and it gets cases of its own); None for
    SentencePiece, which needs nothing of the kind."""
    cases = []
    words, words_meta = (prefixed, {"add_prefix_space": True}) if prefixed else (fast, {})

    def add(name: str, tokenizer: Any, text: Any, pair: Any, options: dict, **meta: Any) -> None:
        options = {**options, "return_offsets_mapping": True, "return_special_tokens_mask": True}
        if not _allowed(
            options, pair is not None or (isinstance(text, list) and text and isinstance(text[0], tuple))
        ):
            return
        case = {"name": name, "text": text, "options": options, **meta}
        if pair is not None:
            case["pair"] = pair
        try:
            enc = tokenizer(text, pair, **options)
            case["expected"] = canonical_output(enc)
        except BaseException as e:  # Exception or the Rust PanicException
            if isinstance(e, KeyboardInterrupt):
                raise
            case["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        cases.append(case)

    grid = _option_grid()
    for g, options in enumerate(grid):
        # Rotate through inputs so that every option set meets singles, pairs and batches.
        t = texts[g % len(texts)]
        p = CASE_PAIRS[g % len(CASE_PAIRS)]
        add(f"single-{g}", fast, t, None, options)
        add(f"pair-{g}", fast, t, p, options)
        add(f"batch-{g}", fast, texts, None, options)
        add(f"batch-pairs-{g}", fast, texts[:4], CASE_PAIRS, options)
    for k, options in enumerate([{}, {"add_special_tokens": False}, {"return_tensors": "np", "padding": True},
                                 {"return_length": True, "padding": "max_length", "max_length": 12, "truncation": True},
                                 {"return_token_type_ids": False, "return_attention_mask": False}]):  # fmt: skip
        add(f"flags-{k}", fast, texts, None, options)
        add(f"flags-pair-{k}", fast, texts[1], CASE_PAIRS[2], options)
        for w, word_list in enumerate(WORD_LISTS):
            add(
                f"words-{k}-{w}",
                words,
                word_list,
                None,
                {**options, "is_split_into_words": True},
                **words_meta,
            )
            add(f"words-pair-{k}-{w}", words, word_list, ["pair", "words"], {**options, "is_split_into_words": True},
                **words_meta)  # fmt: skip
        if prefixed:
            add(f"prefix-{k}", prefixed, texts, None, options, add_prefix_space=True)
    add("words-batch", words, WORD_LISTS, None, {"is_split_into_words": True, "padding": True}, **words_meta)
    add("words-batch-truncated", words, WORD_LISTS, None,
        {"is_split_into_words": True, "truncation": True, "max_length": 6, "stride": 1,
         "return_overflowing_tokens": True}, **words_meta)  # fmt: skip
    for k, options in enumerate(
        [
            {"truncation": True, "max_length": 7, "stride": 2, "return_overflowing_tokens": True},
            {"truncation": "only_second", "max_length": 9, "return_overflowing_tokens": True},
        ]
    ):
        fast.truncation_side = "left"
        try:
            add(
                f"truncation-left-{k}",
                fast,
                texts,
                None,
                options,
                tokenizer_options={"truncation_side": "left"},
            )
            add(f"truncation-left-pair-{k}", fast, texts[:4], CASE_PAIRS, options,
                tokenizer_options={"truncation_side": "left"})  # fmt: skip
        finally:
            fast.truncation_side = "right"
    return cases


# --- Unicode tables ----------------------------------------------------------------------------------------------


def generate_unicode_tables() -> None:
    """Classify every code point as the reference's ByteLevel pre-tokenizer does, and write the ranges."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)

    def joins(prefix: str, ch: str) -> bool:  # does `ch` continue a run started by `prefix`?
        return len(pre.pre_tokenize_str(prefix + ch)) == 1

    ranges: dict[str, list[list[int]]] = {"L": [], "N": []}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        kind = "L" if joins("a", ch) else "N" if joins("1", ch) else None
        if kind:
            r = ranges[kind]
            if r and r[-1][1] == cp - 1:
                r[-1][1] = cp
            else:
                r.append([cp, cp])

    def fmt(r: list[list[int]]) -> str:
        items = [f"0x{a:X}" if a == b else f"0x{a:X}-0x{b:X}" for a, b in r]
        lines, cur = [], ""
        for item in items:
            if len(cur) + len(item) + 1 > 100:
                lines.append(cur)
                cur = ""
            cur += item + " "
        lines.append(cur)
        return "\n".join(f'    "{line}"' for line in lines)

    path = Path(__file__).resolve().parents[1] / "deberta_np" / "tokenizer" / "_unicode_tables.py"
    head = path.read_text(encoding="utf-8").split("LETTER_RANGES = (")[0]
    path.write_text(f"{head}LETTER_RANGES = (\n{fmt(ranges['L'])}\n)\n\nNUMBER_RANGES = (\n{fmt(ranges['N'])}\n)\n",
                    encoding="utf-8")  # fmt: skip
    print(f"wrote {path}: {len(ranges['L'])} letter ranges, {len(ranges['N'])} number ranges")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unicode-tables", action="store_true", help="regenerate _unicode_tables.py instead")
    parser.add_argument("--only", choices=["cases", "hypothesis", "corpus"], help="generate one golden file")
    args = parser.parse_args(argv)
    if args.unicode_tables:
        generate_unicode_tables()
        return 0
    fast, slow, fast_prefix = _reference()
    if args.only in (None, "cases"):
        generate_cases(fast, fast_prefix)
    if args.only in (None, "hypothesis"):
        generate_hypothesis(fast, slow)
    if args.only in (None, "corpus"):
        generate_corpus(fast, slow)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
