"""Check deberta_np's tokenizer against the stored transformers goldens (needs neither torch nor transformers).

Goldens (written by `python -m conformance.generate_tokenizer` from transformers 4.57.6 `DebertaTokenizerFast`,
and the slow `DebertaTokenizer` for ids) live in conformance/golden/tokenizer/:

* corpus.json.gz: for each source file of the ~7.6 MB corpus (conformance/tokenizer_corpus.py) its sha256, and per
  document a 64-bit digest of the canonical JSON of the full fast output (single text; and document pairs with
  truncation/stride/overflow), and of the slow tokenizer's ids; plus full outputs for a sample of documents;
* hypothesis.json.gz: hypothesis-drawn Unicode strings with full fast outputs (single and pairs), slow ids,
  slow `tokenize()` strings and decodes;
* cases.json.gz: option cases (every truncation strategy, stride/overflow, padding modes, pad_to_multiple_of,
  padding side, batches, pairs, pre-split words, add_prefix_space, return_tensors) with full outputs or the
  reference's error.

`run_checks()` returns one row per check: suite, case, what, value, limit, ok.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.tokenizer_files import DEBERTA_V1

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "tokenizer"
# The shared deberta-v1 tokenizer files live next to the repository (never copied into it).
TOKENIZER_DIR = DEBERTA_V1

FIELDS = (
    "input_ids",
    "token_type_ids",
    "attention_mask",
    "special_tokens_mask",
    "offset_mapping",
    "overflow_to_sample_mapping",
    "length",
)
# Options used for every corpus document, and for corpus document pairs.
SINGLE_OPTIONS = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
PAIR_OPTIONS = {
    "truncation": "only_second",
    "max_length": 512,
    "stride": 128,
    "return_overflowing_tokens": True,
    "return_offsets_mapping": True,
    "return_special_tokens_mask": True,
}


def _plain(value: Any) -> Any:
    # Arrays become lists; tuples stay (json writes them as lists, and comparisons go through `_json`).
    return value.tolist() if hasattr(value, "tolist") else value


def _json(obj: Any) -> Any:
    """obj as it reads back from JSON (tuples -> lists), for comparison with stored goldens."""
    return json.loads(json.dumps(obj))


def canonical(encoding: Mapping, tokens: list | None = None, word_ids: list | None = None) -> dict:
    """The comparable content of a tokenizer output: the model-input fields, plus tokens and word ids per row."""
    out = {k: _plain(encoding[k]) for k in FIELDS if k in encoding}
    if tokens is not None:
        out["tokens"] = tokens
    if word_ids is not None:
        out["word_ids"] = word_ids
    return out


def digest(obj: Any) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8)."""
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def rows_detail(encoding: Any, n_rows: int) -> tuple[list, list]:
    """tokens and word_ids of every row of a batch output (works for transformers' and ours)."""
    return [encoding.tokens(i) for i in range(n_rows)], [encoding.word_ids(i) for i in range(n_rows)]


def n_rows(encoding: Any) -> int:
    """Rows of an output: 1 for a single sequence (flat lists), else the batch size."""
    ids = _plain(encoding["input_ids"])
    return len(ids) if ids and isinstance(ids[0], list) else 1


def canonical_output(encoding: Any) -> dict:
    """canonical(...) of a tokenizer output, single or batch, with every row's tokens and word ids, as read back
    from JSON."""
    return _json(canonical(encoding, *rows_detail(encoding, n_rows(encoding))))


def document_digests(encoding: Any, n: int) -> list[str]:
    """The digest of each row of a batch output of `n` documents: of its canonical(...) as a batch of one."""
    tokens, words = rows_detail(encoding, n)
    return [
        digest(canonical({k: [v[i]] for k, v in encoding.items()}, [tokens[i]], [words[i]])) for i in range(n)
    ]


def encode_canonical(tokenizer: Any, text: Any, pair: Any = None, raw: bool = False, **options: Any) -> dict:
    """Run a tokenizer on a *batch* and return canonical(...) with tokens and word ids of every row
    (as read back from JSON, unless `raw`, which is enough for `digest`)."""
    enc = tokenizer(text, pair, **options) if pair is not None else tokenizer(text, **options)
    out = canonical(enc, *rows_detail(enc, len(enc["input_ids"])))
    return out if raw else _json(out)


# Corpus pairs, question-answering style: the first QUESTION_CHARS characters of document 2j as the first text, the
# whole document 2j+1 as the second, cut into overflow windows (only_second) -- for every PAIR_EVERY-th j.
PAIR_EVERY = 3
QUESTION_CHARS = 100


def corpus_pairs(docs: list[str]) -> list[tuple[str, str]]:
    return [(docs[2 * j][:QUESTION_CHARS], docs[2 * j + 1]) for j in range(0, len(docs) // 2, PAIR_EVERY)]


def _absorbs_whitespace(text: str) -> bool:
    """Whether whitespace precedes a [MASK] (which absorbs it, so decode cannot give it back)."""
    from deberta_np.tokenizer.normalizer import WHITE_SPACE

    start = text.find("[MASK]")
    while start != -1:
        if start > 0 and text[start - 1] in WHITE_SPACE:
            return True
        start = text.find("[MASK]", start + 1)
    return False


def load_golden(name: str) -> Any:
    with gzip.open(GOLDEN_DIR / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def _row(case: str, what: str, mismatches: int, total: int, unit: str, extra: str = "") -> dict:
    value = f"{mismatches} mismatches / {total} {unit}{extra}"
    return {
        "suite": "tokenizer",
        "case": case,
        "what": what,
        "value": value,
        "limit": "0",
        "ok": mismatches == 0,
    }


def _fail(case: str, what: str, value: str) -> dict:
    return {"suite": "tokenizer", "case": case, "what": what, "value": value, "limit": "-", "ok": False}


def sources_row(suite: str, bad_sources: list[str], golden: dict) -> dict:
    """The row that says whether every corpus source of the corpus golden is there with its recorded sha256
    (`bad_sources`: those that are not)."""
    n_sources = len(golden["sources"])
    row = {"suite": suite, "case": "corpus sources", "what": "source files present with recorded sha256"}
    if bad_sources:
        shown = "; ".join(bad_sources[:3]) + (" ..." if len(bad_sources) > 3 else "")
        return {
            **row,
            "value": f"{len(bad_sources)} of {n_sources} unusable: {shown}",
            "limit": "-",
            "ok": False,
        }
    return {
        **row,
        "value": f"{n_sources}/{n_sources} ({golden['corpus_mb']:.2f} MB)",
        "limit": "all",
        "ok": True,
    }


def _load_tokenizers() -> tuple[Any, Any]:
    from deberta_np.tokenizer import DebertaTokenizer

    return DebertaTokenizer.from_pretrained(TOKENIZER_DIR), DebertaTokenizer.from_pretrained(
        TOKENIZER_DIR, add_prefix_space=True
    )


def check_corpus(tok: Any, examples: list[str]) -> list[dict]:
    from conformance.tokenizer_corpus import load_corpus

    golden = load_golden("corpus.json.gz")
    sources, _missing = load_corpus()
    by_path = {s.path: s for s in sources}
    rows = []
    bad_sources = []
    n_single = n_pair = n_slow = 0
    bad_single = bad_pair = bad_slow = 0
    for entry in golden["sources"]:
        source = by_path.get(entry["path"])
        if source is None:
            bad_sources.append(f"missing {entry['path']}")
            continue
        if source.sha256 != entry["sha256"] or len(source.documents) != len(entry["single"]):
            bad_sources.append(f"changed {entry['path']}")
            continue
        docs = list(source.documents)
        enc = tok(docs, **SINGLE_OPTIONS)
        for i, (got, expected) in enumerate(zip(document_digests(enc, len(docs)), entry["single"])):
            n_single += 1
            if got != expected:
                bad_single += 1
                if len(examples) < 5:
                    examples.append(f"single: {entry['path']} document {i}")
        for i, expected in enumerate(entry["slow_ids"]):
            n_slow += 1
            if digest(enc["input_ids"][i]) != expected and i not in entry["slow_known_differences"]:
                bad_slow += 1
        for j, ((a, b), expected) in enumerate(zip(corpus_pairs(docs), entry["pairs"])):
            n_pair += 1
            try:
                got = digest(encode_canonical(tok, [a], [b], raw=True, **PAIR_OPTIONS))
            except ValueError:
                got = "error"
            if got != expected:
                bad_pair += 1
                if len(examples) < 5:
                    examples.append(f"pair: {entry['path']} pair {j}")
    rows.append(sources_row("tokenizer", bad_sources, golden))
    rows.append(
        _row(
            "corpus single texts",
            "ids+types+masks+offsets+tokens+word_ids vs fast",
            bad_single,
            n_single,
            "texts",
        )
    )
    rows.append(
        _row(
            "corpus pairs",
            "same, 100-char question + document, only_second max_length=512 stride=128 windows",
            bad_pair,
            n_pair,
            "pairs",
        )
    )
    known = sum(len(e["slow_known_differences"]) for e in golden["sources"])
    rows.append(_row("corpus single texts", "ids vs slow DebertaTokenizer", bad_slow, n_slow, "texts",
                     f" ({known} documented slow/fast differences)"))  # fmt: skip
    sample_bad = 0
    for item in golden["sample"]:
        got = encode_canonical(tok, [item["text"]], **SINGLE_OPTIONS)
        sample_bad += got != item["expected"]
    rows.append(
        _row("corpus sample", "full outputs stored verbatim", sample_bad, len(golden["sample"]), "texts")
    )
    return rows


def check_hypothesis(tok: Any, examples: list[str]) -> list[dict]:
    golden = load_golden("hypothesis.json.gz")
    items = golden["items"]
    texts = [it["text"] for it in items]
    bad = bad_pair = bad_slow = bad_tokenize = bad_decode = bad_roundtrip = absorbed = 0
    for it in items:
        got = encode_canonical(tok, [it["text"]], **SINGLE_OPTIONS)
        if got != it["single"]:
            bad += 1
            if len(examples) < 5:
                examples.append(f"hypothesis single: {it['text']!r}")
        ids = got["input_ids"][0]
        if it["slow_ids"] is not None and ids != it["slow_ids"]:
            bad_slow += 1
        if it["slow_tokenize"] is not None and tok.tokenize(it["text"]) != it["slow_tokenize"]:
            bad_tokenize += 1
        for key, (skip, cleanup) in (("decode", (False, None)), ("decode_skip_clean", (True, True))):
            if tok.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=cleanup) != it[key]:
                bad_decode += 1
        if _absorbs_whitespace(it["text"]):
            absorbed += 1  # " [MASK]" and "[MASK]" are the same ids: the space cannot come back
        elif tok.decode(tok.encode(it["text"], add_special_tokens=False)) != it["text"]:
            bad_roundtrip += 1
    for pair in golden["pairs"]:
        got = encode_canonical(tok, [texts[pair["a"]]], [texts[pair["b"]]], **pair["options"])
        if got != pair["expected"]:
            bad_pair += 1
            if len(examples) < 5:
                examples.append(f"hypothesis pair: {texts[pair['a']]!r} / {texts[pair['b']]!r}")
    n = len(items)
    n_slow = sum(it["slow_ids"] is not None for it in items)
    return [
        _row("hypothesis strings", "ids+types+masks+offsets+tokens+word_ids vs fast", bad, n, "strings"),
        _row(
            "hypothesis pairs",
            "same, with truncation/stride/overflow",
            bad_pair,
            len(golden["pairs"]),
            "pairs",
        ),
        _row(
            "hypothesis strings",
            "ids vs slow DebertaTokenizer",
            bad_slow,
            n_slow,
            "strings",
            f" ({n - n_slow} documented slow/fast differences)",
        ),
        _row("hypothesis strings", "tokenize() vs slow", bad_tokenize, n_slow, "strings"),
        _row(
            "hypothesis strings",
            "decode (plain; skip specials + cleanup) vs fast",
            bad_decode,
            2 * n,
            "decodes",
        ),
        _row(
            "hypothesis strings",
            "decode(encode(s)) == s",
            bad_roundtrip,
            n - absorbed,
            "strings",
            f" ({absorbed} with whitespace before [MASK], which absorbs it)",
        ),
    ]


def check_case(tokenizer: Any, case: dict) -> tuple[bool, str]:
    """Whether `tokenizer` gives an option case's golden output (or raises ValueError or TypeError where the
    reference failed), and what went wrong if not."""
    try:
        enc = tokenizer(case["text"], case.get("pair"), **case["options"])
    except (ValueError, TypeError) as e:
        return "error" in case, f"raised {e}"
    if "error" in case:
        return False, "no error"
    return canonical_output(enc) == case["expected"], "output differs"


def check_cases(tok: Any, tok_prefix: Any, examples: list[str]) -> list[dict]:
    from deberta_np.tokenizer import DebertaTokenizer

    golden = load_golden("cases.json.gz")
    bad = 0
    for case in golden["cases"]:
        tokenizer = tok_prefix if case.get("add_prefix_space") else tok
        if case.get("tokenizer_options"):
            tokenizer = DebertaTokenizer.from_pretrained(TOKENIZER_DIR, **case["tokenizer_options"])
        ok, detail = check_case(tokenizer, case)
        if not ok:
            bad += 1
            if len(examples) < 5:
                examples.append(f"case {case['name']}: {detail}")
    return [_row("option cases", "truncation/stride/overflow/padding/pairs/batches/words vs fast", bad,
                 len(golden["cases"]), "cases")]  # fmt: skip


def run_checks() -> list[dict]:
    """All tokenizer conformance checks (rows for `python -m conformance`)."""
    missing = [name for name in ("vocab.json", "merges.txt") if not (TOKENIZER_DIR / name).is_file()]
    if missing:
        return [
            _fail("setup", "deberta-v1 tokenizer files", f"{', '.join(missing)} missing in {TOKENIZER_DIR}")
        ]
    if not (GOLDEN_DIR / "corpus.json.gz").exists():
        return [
            _fail(
                "setup",
                "tokenizer goldens",
                f"{GOLDEN_DIR} missing; run python -m conformance.generate_tokenizer",
            )
        ]
    tok, tok_prefix = _load_tokenizers()
    examples: list[str] = []
    rows = check_cases(tok, tok_prefix, examples)
    rows += check_hypothesis(tok, examples)
    rows += check_corpus(tok, examples)
    for e in examples:
        print(f"tokenizer mismatch: {e}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    from conformance.__main__ import run_suite

    raise SystemExit(run_suite(run_checks))
