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
import platform
import sys
from typing import Any

from conformance.generate import versions
from conformance.generate_tokenizer import (
    CASE_PAIRS,
    SAMPLE_EVERY,
    WORD_LISTS,
    encoded_corpus,
    hypothesis_pairs,
    hypothesis_strings,
    option_cases,
    pair_digest,
    quiet_transformers,
    write_golden,
)
from conformance.generate_tokenizer import (
    CASE_TEXTS as V1_CASE_TEXTS,
)
from conformance.tokenizer_suite import (
    SINGLE_OPTIONS,
    canonical,
    corpus_pairs,
    digest,
    document_digests,
    encode_canonical,
    rows_detail,
)
from conformance.tokenizer_v2_suite import GOLDEN_DIR, TOKENIZER_DIR, VARIANT, VARIANT_EVERY

N_HYPOTHESIS = 1000
VARIANT_HYPOTHESIS_EVERY = 3  # hypothesis strings also encoded with VARIANT options
# v1's option-case texts, on which both references must agree: 谛 has no piece in spm.model (byte fallback is
# covered by the corpus and hypothesis).
CASE_TEXTS = [text.replace("谛", "") for text in V1_CASE_TEXTS]


def _references(**options: Any) -> tuple[Any, Any]:
    transformers = quiet_transformers()
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
        **versions(transformers, tokenizers, sentencepiece, regex),
        "python": platform.python_version(),
        "model": "data/tokenizers/deberta-v3/spm.model (microsoft/deberta-v3-base)",
        "reference": "DebertaV2Tokenizer (slow: ids, tokenize, decode); DebertaV2TokenizerFast (all fields)",
    }


def _write(name: str, payload: dict) -> None:
    write_golden(GOLDEN_DIR / name, payload)


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
    entries, sample, total = [], [], 0
    for n, (source, docs, enc, slow_ids) in enumerate(encoded_corpus(fast, slow)):
        total += sum(len(d.encode("utf-8", "surrogatepass")) for d in docs)
        single = document_digests(enc, len(docs))
        differ = {
            i: cause(s, enc["input_ids"][i], byte_ids)
            for i, s in enumerate(slow_ids)
            if s != enc["input_ids"][i]
        }
        pairs = [pair_digest(fast, a, b) for a, b in corpus_pairs(docs)]
        pairs_agree = [
            j
            for j, pair in enumerate(corpus_pairs(docs))
            if all(slow(t)["input_ids"] == fast(t)["input_ids"] for t in pair)
        ]
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
    texts = hypothesis_strings(N_HYPOTHESIS, SPECIAL_PIECES)
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
    _write(
        "hypothesis.json.gz",
        {
            "provenance": _provenance(),
            "variant": VARIANT,
            "items": items,
            "pairs": hypothesis_pairs(fast, texts),
        },
    )


# --- option cases ------------------------------------------------------------------------------------------------


def generate_cases() -> None:
    slow, fast = _references()
    for text in [*CASE_TEXTS, *CASE_PAIRS, *(w for words in WORD_LISTS for w in words)]:
        if slow(text)["input_ids"] != fast(text)["input_ids"]:
            raise SystemExit(f"case text {text!r}: the references disagree; pick texts they agree on")
    cases = option_cases(fast, CASE_TEXTS)
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
