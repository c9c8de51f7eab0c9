"""Check deberta_np's DeBERTa-v2/v3 tokenizer against the stored goldens (needs neither transformers, tokenizers
nor sentencepiece).

Goldens (written by `python -m conformance.generate_tokenizer_v2` from transformers 4.57.6's slow
`DebertaV2Tokenizer`, i.e. sentencepiece, and `DebertaV2TokenizerFast`, on the shared deberta-v3 spm.model) live
in conformance/golden/tokenizer_v2/:

* corpus.json.gz: per source file of the ~7.6 MB corpus (conformance/tokenizer_corpus.py) its sha256 and, per
  document, 64-bit digests of the fast tokenizer's full output and of the slow tokenizer's ids, which documents
  the two disagree on (and why: byte fallback or other); digests for document pairs (question + document with
  truncation/stride/overflow); the same for every VARIANT_EVERY-th document with do_lower_case and
  split_by_punct; full outputs for a sample;
* hypothesis.json.gz: hypothesis-drawn Unicode strings with both references' full outputs, tokenize() strings,
  decodes and sentencepiece's normalised text, pairs with truncation options, and VARIANT outputs for a third;
* cases.json.gz: option cases (truncation, stride/overflow, padding, batches, pairs, pre-split words, tensors)
  on texts both references agree on, with full outputs or the reference's error.

What is checked: the default tokenizer (`reference="sentencepiece"`) gives the slow ids everywhere and the fast
offsets, tokens, word ids and masks wherever the references agree on the ids; `reference="fast"` gives the fast
output everywhere. `run_checks()` returns one row per check: suite, case, what, value, limit, ok.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

from conformance.tokenizer_files import DEBERTA_V3
from conformance.tokenizer_suite import (
    PAIR_OPTIONS,
    SINGLE_OPTIONS,
    check_case,
    corpus_pairs,
    digest,
    document_digests,
    encode_canonical,
    sources_row,
)

SUITE = "tokenizer-v2"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "tokenizer_v2"
# The shared deberta-v3 tokenizer lives next to the repository (never copied into it).
TOKENIZER_DIR = DEBERTA_V3
VARIANT = {"do_lower_case": True, "split_by_punct": True}
VARIANT_EVERY = 4


def _json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def load_golden(name: str) -> Any:
    with gzip.open(GOLDEN_DIR / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def _row(case: str, what: str, mismatches: int, total: int, unit: str, extra: str = "") -> dict:
    return {"suite": SUITE, "case": case, "what": what, "value": f"{mismatches} mismatches / {total} {unit}{extra}",
            "limit": "0", "ok": mismatches == 0}  # fmt: skip


def _info(case: str, what: str, value: str) -> dict:
    return {"suite": SUITE, "case": case, "what": what, "value": value, "limit": "-", "ok": True}


def _fail(case: str, what: str, value: str) -> dict:
    return {"suite": SUITE, "case": case, "what": what, "value": value, "limit": "-", "ok": False}


def load_tokenizers(**options: Any) -> tuple[Any, Any]:
    """deberta_np's tokenizer in its two modes: (sentencepiece ids, fast tokenizer)."""
    from deberta_np.tokenizer import DebertaV2Tokenizer

    return (
        DebertaV2Tokenizer.from_pretrained(TOKENIZER_DIR, **options),
        DebertaV2Tokenizer.from_pretrained(TOKENIZER_DIR, reference="fast", **options),
    )


def _ids(out: dict) -> list[int]:
    return out["input_ids"][0]


# --- corpus ------------------------------------------------------------------------------------------------------


def check_corpus(tokenizers: tuple[Any, Any], variants: tuple[Any, Any], examples: list[str]) -> list[dict]:
    from conformance.tokenizer_corpus import load_corpus

    ours, ours_fast = tokenizers
    golden = load_golden("corpus.json.gz")
    by_path = {s.path: s for s in load_corpus()[0]}
    bad_sources: list[str] = []
    counts = dict.fromkeys(("docs", "agree", "ids", "agreeing", "fast", "pairs", "pairs_agree", "pairs_default",
                            "pairs_fast", "variant", "variant_agree", "variant_ids", "variant_default",
                            "variant_fast"), 0)  # fmt: skip
    causes: dict[str, int] = {}

    def example(what: str) -> None:
        if len(examples) < 8:
            examples.append(what)

    for entry in golden["sources"]:
        source = by_path.get(entry["path"])
        if (
            source is None
            or source.sha256 != entry["sha256"]
            or len(source.documents) != len(entry["single"])
        ):
            bad_sources.append(f"{'missing' if source is None else 'changed'} {entry['path']}")
            continue
        docs = list(source.documents)
        differ = {int(i): c for i, c in entry["differ"].items()}
        for c in differ.values():
            causes[c] = causes.get(c, 0) + 1
        for tok, name in ((ours, "default"), (ours_fast, "fast")):
            enc = tok(docs, **SINGLE_OPTIONS)
            for i, (full, expected) in enumerate(zip(document_digests(enc, len(docs)), entry["single"])):
                if name == "fast":
                    counts["fast"] += full != expected
                    if full != expected:
                        example(f"fast: {entry['path']} document {i}")
                    continue
                counts["docs"] += 1
                ids_ok = digest(enc["input_ids"][i]) == entry["slow_ids"][i]
                counts["ids"] += not ids_ok
                if not ids_ok:
                    example(f"ids: {entry['path']} document {i}")
                if i not in differ:
                    counts["agree"] += 1
                    counts["agreeing"] += full != expected
                    if full != expected:
                        example(f"offsets: {entry['path']} document {i}")
        agree = set(entry["pairs_agree"])
        for j, ((a, b), expected) in enumerate(zip(corpus_pairs(docs), entry["pairs"])):
            counts["pairs"] += 1
            counts["pairs_agree"] += j in agree
            for tok, key in ((ours_fast, "pairs_fast"), (ours, "pairs_default")):
                if key == "pairs_default" and j not in agree:
                    continue
                try:
                    got = digest(encode_canonical(tok, [a], [b], raw=True, **PAIR_OPTIONS))
                except ValueError:
                    got = "error"
                counts[key] += got != expected
                if got != expected:
                    example(f"{key}: {entry['path']} pair {j}")
        for item in entry["variant"]:
            text = docs[item["index"]]
            counts["variant"] += 1
            counts["variant_agree"] += item["agree"]
            default, fast = (encode_canonical(t, [text], raw=True, **SINGLE_OPTIONS) for t in variants)
            counts["variant_ids"] += digest(default["input_ids"][0]) != item["slow_ids"]
            counts["variant_fast"] += digest(fast) != item["fast"]
            if item["agree"]:
                counts["variant_default"] += digest(default) != item["fast"]
    rows = []
    rows.append(sources_row(SUITE, bad_sources, golden))
    n, c = counts, causes
    rows += [
        _info("corpus single texts", "documents where slow (sentencepiece) and fast references disagree",
              f"{n['docs'] - n['agree']} / {n['docs']} ({c.get('bytes', 0)} by byte fallback alone, "
              f"{c.get('other', 0)} other)"),
        _row("corpus single texts", "default: ids vs slow DebertaV2Tokenizer (sentencepiece)", n["ids"], n["docs"],
             "texts"),
        _row("corpus single texts", "default: ids+types+masks+offsets+tokens+word_ids vs fast where they agree",
             n["agreeing"], n["agree"], "texts"),
        _row("corpus single texts", 'reference="fast": everything vs fast', n["fast"], n["docs"], "texts"),
        _row("corpus pairs", 'reference="fast": 100-char question + document, only_second 512/128 windows',
             n["pairs_fast"], n["pairs"], "pairs"),
        _row("corpus pairs", "default: the same, where the references agree on both texts", n["pairs_default"],
             n["pairs_agree"], "pairs"),
        _row("corpus lower+punct", "default: ids vs slow (do_lower_case, split_by_punct)", n["variant_ids"],
             n["variant"], "texts"),
        _row("corpus lower+punct", "default: everything vs fast where they agree", n["variant_default"],
             n["variant_agree"], "texts"),
        _row("corpus lower+punct", 'reference="fast": everything vs fast', n["variant_fast"], n["variant"],
             "texts"),
    ]  # fmt: skip
    sample_bad = 0
    for item in golden["sample"]:
        default = encode_canonical(ours, [item["text"]], **SINGLE_OPTIONS)
        fast = encode_canonical(ours_fast, [item["text"]], **SINGLE_OPTIONS)
        sample_bad += fast != item["fast"] or _ids(default) != item["slow_ids"]
    rows.append(_row("corpus sample", "full outputs stored verbatim (both modes)", sample_bad, len(golden["sample"]),
                     "texts"))  # fmt: skip
    return rows


# --- hypothesis strings ------------------------------------------------------------------------------------------


def check_hypothesis(
    tokenizers: tuple[Any, Any], variants: tuple[Any, Any], examples: list[str]
) -> list[dict]:
    from deberta_np.tokenizer.normalizer import normalize_spm

    ours, ours_fast = tokenizers
    golden = load_golden("hypothesis.json.gz")
    items = golden["items"]
    keys = ("ids", "agreeing", "fast", "tokenize", "fast_tokenize", "decode", "fast_decode", "normalized",
            "variant_ids", "variant_default", "variant_fast", "pairs_fast", "pairs_default")  # fmt: skip
    bad = dict.fromkeys(keys, 0)
    n_agree = n_variant = n_variant_agree = n_pairs_agree = 0
    causes: dict[str, int] = {}
    spm_flags = ours._spm_flags

    for it in items:
        text = it["text"]
        agree = it["cause"] is None
        n_agree += agree
        if not agree:
            causes[it["cause"]] = causes.get(it["cause"], 0) + 1
        default = encode_canonical(ours, [text], **SINGLE_OPTIONS)
        fast = encode_canonical(ours_fast, [text], **SINGLE_OPTIONS)
        bad["ids"] += _ids(default) != it["slow_ids"]
        bad["agreeing"] += agree and default != it["fast"]
        bad["fast"] += fast != it["fast"]
        bad["tokenize"] += ours.tokenize(text) != it["slow_tokenize"]
        bad["fast_tokenize"] += ours_fast.tokenize(text) != it["fast_tokenize"]
        for tok, name, ids in (
            (ours, "decode", it["slow_ids"]),
            (ours_fast, "fast_decode", _ids(it["fast"])),
        ):
            prefix = "slow" if name == "decode" else "fast"
            bad[name] += tok.decode(ids) != it[f"{prefix}_decode"]
            bad[name] += tok.decode(ids, skip_special_tokens=True) != it[f"{prefix}_decode_skip"]
        bad["normalized"] += normalize_spm(text, ours.charsmap, **spm_flags)[0] != it["spm_normalized"]
        if _ids(default) != it["slow_ids"] or (agree and default != it["fast"]) or fast != it["fast"]:
            if len(examples) < 8:
                examples.append(f"hypothesis: {text!r}")
        if "variant" in it:
            v = it["variant"]
            n_variant += 1
            v_agree = _ids(v["fast"]) == v["slow_ids"]
            n_variant_agree += v_agree
            v_default = encode_canonical(variants[0], [text], **SINGLE_OPTIONS)
            bad["variant_ids"] += _ids(v_default) != v["slow_ids"]
            bad["variant_default"] += v_agree and v_default != v["fast"]
            bad["variant_fast"] += encode_canonical(variants[1], [text], **SINGLE_OPTIONS) != v["fast"]
    for pair in golden["pairs"]:
        a, b = items[pair["a"]], items[pair["b"]]
        bad["pairs_fast"] += (
            encode_canonical(ours_fast, [a["text"]], [b["text"]], **pair["options"]) != pair["expected"]
        )
        if a["cause"] is None and b["cause"] is None:
            n_pairs_agree += 1
            got = encode_canonical(ours, [a["text"]], [b["text"]], **pair["options"])
            bad["pairs_default"] += got != pair["expected"]
            if got != pair["expected"] and len(examples) < 8:
                examples.append(f"hypothesis pair: {a['text']!r} / {b['text']!r}")
    n = len(items)
    n_pairs = len(golden["pairs"])
    return [
        _info("hypothesis strings", "strings where slow (sentencepiece) and fast references disagree",
              f"{n - n_agree} / {n} ({causes.get('bytes', 0)} by byte fallback alone, {causes.get('other', 0)} other)"),
        _row("hypothesis strings", "default: ids vs slow DebertaV2Tokenizer (sentencepiece)", bad["ids"], n,
             "strings"),
        _row("hypothesis strings", "default: ids+types+masks+offsets+tokens+word_ids vs fast where they agree",
             bad["agreeing"], n_agree, "strings"),
        _row("hypothesis strings", 'reference="fast": everything vs fast', bad["fast"], n, "strings"),
        _row("hypothesis strings", "tokenize(): default vs slow, fast vs fast", bad["tokenize"] + bad["fast_tokenize"],
             2 * n, "strings"),
        _row("hypothesis strings", "decode (plain; skip specials): default vs slow, fast vs fast",
             bad["decode"] + bad["fast_decode"], 4 * n, "decodes"),
        _row("hypothesis strings", "normalize_spm vs sentencepiece's Normalize", bad["normalized"], n, "strings"),
        _row("hypothesis pairs", 'reference="fast": truncation/stride/overflow/padding vs fast', bad["pairs_fast"],
             n_pairs, "pairs"),
        _row("hypothesis pairs", "default: the same, where the references agree on both texts",
             bad["pairs_default"], n_pairs_agree, "pairs"),
        _row("hypothesis lower+punct", "default: ids vs slow", bad["variant_ids"], n_variant, "strings"),
        _row("hypothesis lower+punct", "default: everything vs fast where they agree", bad["variant_default"],
             n_variant_agree, "strings"),
        _row("hypothesis lower+punct", 'reference="fast": everything vs fast', bad["variant_fast"], n_variant,
             "strings"),
    ]  # fmt: skip


# --- option cases ------------------------------------------------------------------------------------------------


def check_cases(tokenizers: tuple[Any, Any], examples: list[str]) -> list[dict]:
    from deberta_np.tokenizer import DebertaV2Tokenizer

    golden = load_golden("cases.json.gz")
    rows = []
    for tok, label in zip(tokenizers, ("default", 'reference="fast"')):
        bad = 0
        others: dict[str, Any] = {}  # tokenizers with other options (truncation_side), built once
        for case in golden["cases"]:
            tokenizer = tok
            if case.get("tokenizer_options"):
                key = json.dumps(case["tokenizer_options"], sort_keys=True)
                if key not in others:
                    others[key] = DebertaV2Tokenizer.from_pretrained(
                        TOKENIZER_DIR, reference=tok.reference, **case["tokenizer_options"]
                    )
                tokenizer = others[key]
            ok, detail = check_case(tokenizer, case)
            if not ok:
                bad += 1
                if len(examples) < 8:
                    examples.append(f"{label} case {case['name']}: {detail}")
        rows.append(_row("option cases", f"{label}: truncation/stride/overflow/padding/pairs/batches/words vs fast",
                         bad, len(golden["cases"]), "cases"))  # fmt: skip
    return rows


def run_checks(corpus: bool = True) -> list[dict]:
    """All DeBERTa-v2/v3 tokenizer conformance checks (rows for `python -m conformance`)."""
    if not (TOKENIZER_DIR / "spm.model").is_file():
        return [_fail("setup", "deberta-v3 tokenizer file", f"spm.model missing in {TOKENIZER_DIR}")]
    missing = [
        n for n in ("cases.json.gz", "hypothesis.json.gz", "corpus.json.gz") if not (GOLDEN_DIR / n).exists()
    ]
    if missing:
        return [_fail("setup", "tokenizer-v2 goldens",
                      f"{', '.join(missing)} missing in {GOLDEN_DIR}; run python -m conformance.generate_tokenizer_v2")]  # fmt: skip
    tokenizers = load_tokenizers()
    variants = load_tokenizers(**VARIANT)
    examples: list[str] = []
    rows = check_cases(tokenizers, examples)
    rows += check_hypothesis(tokenizers, variants, examples)
    if corpus:
        rows += check_corpus(tokenizers, variants, examples)
    for e in examples:
        print(f"tokenizer-v2 mismatch: {e}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    from conformance.__main__ import run_suite

    raise SystemExit(run_suite(run_checks))
