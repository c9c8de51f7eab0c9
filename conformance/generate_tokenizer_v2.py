"""Write the DeBERTa-v2/v3 tokenizer goldens from the reference: transformers 4.57.6's slow `DebertaV2Tokenizer`
(sentencepiece, the model's own tokenizer) and `DebertaV2TokenizerFast` (tokenizers), on the shared deberta-v3
`spm.model`; plus sentencepiece's own normaliser output.

    python -m conformance.generate_tokenizer_v2               # all goldens (a few minutes)
    python -m conformance.generate_tokenizer_v2 --only corpus

Needs transformers==4.57.6, tokenizers, sentencepiece and hypothesis; the checker (tokenizer_v2_suite.py) needs
none of them. Both references are recorded: deberta_np's default (`reference="sentencepiece"`) must give the slow
ids everywhere and the fast offsets, tokens and word ids wherever the two references agree on the ids;
`reference="fast"` must give the fast output everywhere. Where they disagree the cause is classified ("bytes":
explained by byte fallback alone, i.e. the slow ids with each run of byte pieces replaced by one [UNK] are the fast
ids; "other": normalisation and the rest, see deberta_np/tokenizer/deberta_v2.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import warnings
from typing import Any

from conformance.generate_tokenizer import _allowed, _option_grid
from conformance.tokenizer_corpus import load_corpus
from conformance.tokenizer_suite import (
    PAIR_OPTIONS,
    SINGLE_OPTIONS,
    canonical,
    corpus_pairs,
    digest,
    encode_canonical,
    n_rows,
    rows_detail,
)
from conformance.tokenizer_v2_suite import (
    CASE_PAIRS,
    CASE_TEXTS,
    GOLDEN_DIR,
    TOKENIZER_DIR,
    VARIANT,
    VARIANT_EVERY,
    WORD_LISTS,
)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SAMPLE_EVERY = 12  # full outputs for the first document of every 12th corpus source
N_HYPOTHESIS = 1000
VARIANT_HYPOTHESIS_EVERY = 3  # hypothesis strings also encoded with VARIANT options


def _references(**options: Any) -> tuple[Any, Any]:
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    if transformers.__version__ != "4.57.6":
        print(f"warning: goldens are defined by transformers 4.57.6, this is {transformers.__version__}",
              file=sys.stderr)  # fmt: skip
    slow = transformers.DebertaV2Tokenizer.from_pretrained(TOKENIZER_DIR, **options)
    fast = transformers.DebertaV2TokenizerFast.from_pretrained(TOKENIZER_DIR, **options)
    return slow, fast


def _provenance() -> dict:
    import regex
    import sentencepiece
    import tokenizers
    import transformers

    return {
        "generator": "python -m conformance.generate_tokenizer_v2",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "sentencepiece": sentencepiece.__version__,
        "regex": regex.__version__,
        "python": platform.python_version(),
        "model": "data/tokenizers/deberta-v3/spm.model (microsoft/deberta-v3-base)",
        "reference": "DebertaV2Tokenizer (slow: ids, tokenize, decode); DebertaV2TokenizerFast (all fields)",
    }


def _write(name: str, payload: dict) -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    with (
        open(GOLDEN_DIR / name, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f,  # mtime=0: reproducible bytes
    ):
        f.write(data.encode("utf-8", "surrogatepass"))
    print(f"wrote {GOLDEN_DIR / name} ({(GOLDEN_DIR / name).stat().st_size / 1e3:.0f} kB)")


def _byte_ids() -> frozenset[int]:
    from deberta_np.tokenizer.sentencepiece_model import BYTE, read_model

    return frozenset(
        i for i, p in enumerate(read_model(TOKENIZER_DIR / "spm.model").pieces) if p.type == BYTE
    )


def cause(slow_ids: list[int], fast_ids: list[int], byte_ids: frozenset[int] = frozenset()) -> str:
    """Why the two references differ: "bytes" if byte fallback alone explains it, else "other"."""
    byte_ids = byte_ids or _byte_ids()
    collapsed: list[int] = []
    for i in slow_ids:
        if i in byte_ids:
            if not collapsed or collapsed[-1] != -1:
                collapsed.append(-1)
        else:
            collapsed.append(i)
    return "bytes" if [3 if i == -1 else i for i in collapsed] == fast_ids else "other"


# --- corpus ------------------------------------------------------------------------------------------------------


def generate_corpus() -> None:
    slow, fast = _references()
    vslow, vfast = _references(**VARIANT)
    byte_ids = _byte_ids()
    sources, missing = load_corpus()
    if missing:
        print("missing corpus sources (skipped): " + ", ".join(missing), file=sys.stderr)
    entries, sample, total = [], [], 0
    for n, source in enumerate(sources):
        docs = list(source.documents)
        total += sum(len(d.encode("utf-8", "surrogatepass")) for d in docs)
        enc = fast(docs, **SINGLE_OPTIONS)
        tokens, words = rows_detail(enc, len(docs))
        single = [digest(canonical({k: [v[i]] for k, v in enc.items()}, [tokens[i]], [words[i]]))
                  for i in range(len(docs))]  # fmt: skip
        slow_ids = [slow(d)["input_ids"] for d in docs]
        differ = {
            i: cause(s, enc["input_ids"][i], byte_ids)
            for i, s in enumerate(slow_ids)
            if s != enc["input_ids"][i]
        }
        pairs, pairs_agree = [], []
        for j, (a, b) in enumerate(corpus_pairs(docs)):
            try:
                pairs.append(digest(encode_canonical(fast, [a], [b], raw=True, **PAIR_OPTIONS)))
            except Exception:  # only_second cannot fit: the checker expects a ValueError
                pairs.append("error")
            if all(slow(t)["input_ids"] == fast(t)["input_ids"] for t in (a, b)):
                pairs_agree.append(j)
        variant = []
        for i in range(0, len(docs), VARIANT_EVERY):
            e = vfast([docs[i]], **SINGLE_OPTIONS)
            variant.append({
                "index": i,
                "fast": digest(canonical(e, *rows_detail(e, 1))),
                "slow_ids": digest(vslow(docs[i])["input_ids"]),
                "agree": vslow(docs[i])["input_ids"] == e["input_ids"][0],
            })  # fmt: skip
        entries.append({
            "path": source.path,
            "sha256": source.sha256,
            "single": single,
            "slow_ids": [digest(ids) for ids in slow_ids],
            "differ": {str(i): c for i, c in differ.items()},
            "pairs": pairs,
            "pairs_agree": pairs_agree,
            "variant": variant,
        })  # fmt: skip
        if n % SAMPLE_EVERY == 0 and docs:
            sample.append({"text": docs[0], "fast": encode_canonical(fast, [docs[0]], **SINGLE_OPTIONS),
                           "slow_ids": slow_ids[0]})  # fmt: skip
    _write("corpus.json.gz", {"provenance": _provenance(), "corpus_mb": total / 1e6, "variant": VARIANT,
                              "sources": entries, "sample": sample})  # fmt: skip


# --- hypothesis strings ------------------------------------------------------------------------------------------

# Pieces that hypothesis mixes with arbitrary characters, to make the interesting cases frequent: special tokens,
# characters without a piece (byte fallback), charsmap rules of every kind (one to many, removals, spaces,
# multi-character keys, clusters whose first character has a rule), whitespace of all sorts, punctuation.
SPECIAL_PIECES = [
    "[MASK]", " [MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", " [UNK] ", "[unk]", "［UNK］", "[MASK", "<0x41>",
    "ẞ", "ẞẞ", "Ầ", "🧬", "𝔘", "😊", "👩‍👩‍👧", "🇫🇷", "e\u0301", "ｅ\u0301", "A\u0300\u0301", "e\u0301\u0301\u0301",
    "\u1100\u1161", "\u1100\u1161\u11a8", "ᄀ", "ｶﾞ", "ﾞ", "\u3000\u0301", "´\x1c", "¨", "΅", "ﬁ", "⑴", "½", "…",
    "İ", "ΑΣ", "ς", "ǅ", "\u200b", "\u200d", "\u200c", "\ufeff", "\u2581", "\x85", "\xa0", "\u202f", "\u3000",
    "\x00", "\x01", "\x0b", "\x1c", "\x7f", "\xad", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0c", "\u2028",
    " ,", ", ", "'s", "!", "¿", "«»", "、", "。", "，", "123", "１２３", "生活的真谛是", "ปี", "ด", "שלום",
    "مرحبا", "क्ष", "क\u093c", "\u0e33", "\U0010fffd", "\ue000", "\U000e0041",
]  # fmt: skip


def hypothesis_strings(n: int) -> list[str]:
    """`n` strings drawn by hypothesis (derandomized: the same hypothesis version gives the same strings)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    collected: list[str] = []
    any_char = st.characters(exclude_categories=("Cs",))
    piece = st.one_of(
        st.text(any_char, max_size=8), st.sampled_from(SPECIAL_PIECES), st.text("ab ,.'\n", max_size=6)
    )
    strategy = st.lists(piece, max_size=10).map("".join)

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(text: str) -> None:
        collected.append(text)

    collect()
    return list(dict.fromkeys(collected))


def _reference_outputs(slow: Any, fast: Any, text: str) -> dict:
    fast_out = encode_canonical(fast, [text], **SINGLE_OPTIONS)
    slow_ids = slow(text)["input_ids"]
    return {
        "fast": fast_out,
        "fast_tokenize": fast.tokenize(text),
        "slow_ids": slow_ids,
        "slow_tokenize": slow.tokenize(text),
    }


def generate_hypothesis() -> None:
    import sentencepiece

    slow, fast = _references()
    vslow, vfast = _references(**VARIANT)
    processor = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER_DIR / "spm.model"))
    texts = hypothesis_strings(N_HYPOTHESIS)
    byte_ids = _byte_ids()
    items = []
    for k, text in enumerate(texts):
        item = {
            "text": text,
            "spm_normalized": processor.Normalize(text),
            **_reference_outputs(slow, fast, text),
        }
        fast_ids = item["fast"]["input_ids"][0]
        item["cause"] = cause(item["slow_ids"], fast_ids, byte_ids) if item["slow_ids"] != fast_ids else None
        for name, tok, ids in (("slow", slow, item["slow_ids"]), ("fast", fast, fast_ids)):
            item[f"{name}_decode"] = tok.decode(ids)
            item[f"{name}_decode_skip"] = tok.decode(ids, skip_special_tokens=True)
        if k % VARIANT_HYPOTHESIS_EVERY == 0:
            item["variant"] = _reference_outputs(vslow, vfast, text)
        items.append(item)
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
    _write(
        "hypothesis.json.gz",
        {"provenance": _provenance(), "variant": VARIANT, "items": items, "pairs": pairs},
    )


# --- option cases ------------------------------------------------------------------------------------------------


def generate_cases() -> None:
    slow, fast = _references()
    for text in [*CASE_TEXTS, *CASE_PAIRS, *(w for words in WORD_LISTS for w in words)]:
        if slow(text)["input_ids"] != fast(text)["input_ids"]:
            raise SystemExit(f"case text {text!r}: the references disagree; pick texts they agree on")
    cases = []

    def add(name: str, text: Any, pair: Any, options: dict, **meta: Any) -> None:
        options = {**options, "return_offsets_mapping": True, "return_special_tokens_mask": True}
        is_pair = pair is not None or (isinstance(text, list) and text and isinstance(text[0], tuple))
        if not _allowed(options, is_pair):
            return
        case = {"name": name, "text": text, "options": options, **meta}
        if pair is not None:
            case["pair"] = pair
        try:
            enc = fast(text, pair, **options)
            case["expected"] = json.loads(json.dumps(canonical(enc, *rows_detail(enc, n_rows(enc)))))
        except BaseException as e:  # Exception or the Rust PanicException
            if isinstance(e, KeyboardInterrupt):
                raise
            case["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        cases.append(case)

    for g, options in enumerate(_option_grid()):
        t = CASE_TEXTS[g % len(CASE_TEXTS)]
        p = CASE_PAIRS[g % len(CASE_PAIRS)]
        add(f"single-{g}", t, None, options)
        add(f"pair-{g}", t, p, options)
        add(f"batch-{g}", CASE_TEXTS, None, options)
        add(f"batch-pairs-{g}", CASE_TEXTS[:4], CASE_PAIRS, options)
    for k, options in enumerate([{}, {"add_special_tokens": False}, {"return_tensors": "np", "padding": True},
                                 {"return_length": True, "padding": "max_length", "max_length": 12, "truncation": True},
                                 {"return_token_type_ids": False, "return_attention_mask": False}]):  # fmt: skip
        add(f"flags-{k}", CASE_TEXTS, None, options)
        add(f"flags-pair-{k}", CASE_TEXTS[1], CASE_PAIRS[2], options)
        for w, words in enumerate(WORD_LISTS):
            add(f"words-{k}-{w}", words, None, {**options, "is_split_into_words": True})
            add(f"words-pair-{k}-{w}", words, ["pair", "words"], {**options, "is_split_into_words": True})
    add("words-batch", WORD_LISTS, None, {"is_split_into_words": True, "padding": True})
    add("words-batch-truncated", WORD_LISTS, None, {"is_split_into_words": True, "truncation": True,
                                                    "max_length": 6, "stride": 1, "return_overflowing_tokens": True})  # fmt: skip
    for k, options in enumerate([{"truncation": True, "max_length": 7, "stride": 2, "return_overflowing_tokens": True},
                                 {"truncation": "only_second", "max_length": 9, "return_overflowing_tokens": True}]):  # fmt: skip
        fast.truncation_side = "left"
        try:
            add(
                f"truncation-left-{k}",
                CASE_TEXTS,
                None,
                options,
                tokenizer_options={"truncation_side": "left"},
            )
            add(f"truncation-left-pair-{k}", CASE_TEXTS[:4], CASE_PAIRS, options,
                tokenizer_options={"truncation_side": "left"})  # fmt: skip
        finally:
            fast.truncation_side = "right"
    _write("cases.json.gz", {"provenance": _provenance(), "cases": cases})
    print(f"{len(cases)} cases, {sum('error' in c for c in cases)} with reference errors")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["cases", "hypothesis", "corpus"], help="generate one golden file")
    args = parser.parse_args(argv)
    if not (TOKENIZER_DIR / "spm.model").exists():
        print(f"{TOKENIZER_DIR.resolve()}/spm.model not found", file=sys.stderr)
        return 1
    if args.only in (None, "cases"):
        generate_cases()
    if args.only in (None, "hypothesis"):
        generate_hypothesis()
    if args.only in (None, "corpus"):
        generate_corpus()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
