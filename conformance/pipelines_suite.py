"""Check deberta_np's pipelines against transformers' (no torch, no transformers needed).

The goldens (conformance/golden/pipelines/goldens.json, written by `python -m conformance.generate_pipelines`)
hold pipeline calls and what transformers 4.57.6 returned. This module rebuilds the same random checkpoints
bit for bit (conformance/pipeline_models.py) in a temporary directory with the repository's tokenizers (deberta-v1's
BPE for v1 models, deberta-v3's spm.model for v2/v3 ones), repeats each call with `deberta_np.pipeline` and
compares:

* exactly: structure, labels, tokens, words, answers, character offsets, indices, and the order of everything;
* within float tolerance: scores (absolute 1e-5; relative 1e-4 for fill-mask and question answering, whose
  probabilities can be tiny) and hidden states (absolute 1e-5);
* for a call transformers refuses: deberta_np must refuse it too (a ValueError or TypeError: InputError,
  CheckpointError, ...).

DeBERTa v2/v3 cases run with the checkpoint's own tokenizer, deberta_np's DebertaV2Tokenizer, whose default ids
are sentencepiece's; transformers' pipelines use the fast tokenizer. The generator only lets a case do so where
the two give the same ids (`sentencepiece_ids_agree`); a case with `tokenizer: {"reference": "fast"}` runs with
`DebertaV2Tokenizer(reference="fast")`, and holds texts on which they differ (byte fallback vs [UNK]).
A family whose tokenizer file is missing from data/tokenizers fails (one setup row says so).

`run_checks()` returns one row per check: suite, case, what, value, limit, ok.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

from conformance.pipeline_models import MODELS, available, build_all, tokenizer_source, weights_digest

GOLDEN_FILE = Path(__file__).resolve().parent / "golden" / "pipelines" / "goldens.json"
SUITE = "pipelines"
ABSOLUTE = 1e-5
RELATIVE = 1e-4
RELATIVE_TASKS = (
    "fill-mask",
    "question-answering",
)  # scores are probabilities, some tiny: compare relatively


def row(case: str, what: str, value: str, limit: str, ok: bool) -> dict[str, Any]:
    return {"suite": SUITE, "case": case, "what": what, "value": value, "limit": limit, "ok": ok}


def compare(
    expected: Any, actual: Any, relative: bool, path: str = "", numeric: bool = False
) -> tuple[str | None, float]:
    """(the first exact mismatch or None, the largest score difference). `numeric`: inside a score or a hidden
    state, where floats are compared with tolerance; everywhere else values must be equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{path or 'result'}: expected keys {sorted(expected)}, got {_describe(actual)}", 0.0
        worst = 0.0
        for key in expected:
            mismatch, diff = compare(
                expected[key], actual[key], relative, f"{path}.{key}", numeric or key in ("score", "scores")
            )
            if mismatch:
                return mismatch, diff
            worst = max(worst, diff)
        return None, worst
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path or 'result'}: expected a list of {len(expected)}, got {_describe(actual)}", 0.0
        worst = 0.0
        for index, (e, a) in enumerate(zip(expected, actual)):
            mismatch, diff = compare(e, a, relative, f"{path}[{index}]", numeric)
            if mismatch:
                return mismatch, diff
            worst = max(worst, diff)
        return None, worst
    if (
        numeric
        and isinstance(expected, float)
        and isinstance(actual, (int, float))
        and not isinstance(actual, bool)
    ):
        diff = abs(float(actual) - expected)
        if relative:
            diff = diff / abs(expected) if expected else diff
        return None, diff if math.isfinite(diff) else math.inf
    if type(expected) is not type(actual) or expected != actual:
        return f"{path or 'result'}: expected {expected!r}, got {actual!r}"[:300], 0.0
    return None, 0.0


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) < 120 else text[:117] + "..."


def check_case(
    spec: dict, pipelines: dict, directories: dict[str, Path], tokenizers: dict | None = None
) -> dict[str, Any]:
    from deberta_np import pipeline

    options = spec.get("tokenizer", {})
    key = (spec["task"], spec["model"], json.dumps(spec["init"], sort_keys=True), json.dumps(options))
    try:
        if key not in pipelines:
            tokenizer = _tokenizer(
                directories[spec["model"]], options, {} if tokenizers is None else tokenizers
            )
            pipelines[key] = pipeline(
                spec["task"], model=directories[spec["model"]], tokenizer=tokenizer, **spec["init"]
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            actual = pipelines[key](*spec["args"], **spec["kwargs"])
        error = None
    except (ValueError, TypeError) as caught:  # InputError, CheckpointError, ConfigError are ValueErrors
        actual, error = None, caught
    if "error" in spec:
        what = f"refused like transformers ({spec['error']})"
        if error is None:
            return row(spec["id"], what, f"no error: {_describe(actual)}", "an error", False)
        return row(spec["id"], what, f"{type(error).__name__}: {error}"[:100], "an error", True)
    if error is not None:
        return row(spec["id"], "result", f"{type(error).__name__}: {error}"[:200], "no error", False)
    relative = spec["task"] in RELATIVE_TASKS
    hidden = spec["task"] == "feature-extraction"
    mismatch, diff = compare(spec["output"], actual, relative, numeric=hidden)
    if hidden:
        what = "hidden states: max abs diff"
    else:
        what = "labels/tokens/spans/offsets equal; scores: " + (
            "max rel diff" if relative else "max abs diff"
        )
    limit = RELATIVE if relative else ABSOLUTE
    if mismatch:
        return row(spec["id"], what, mismatch, f"{limit:.0e}", False)
    return row(spec["id"], what, f"{diff:.2e}", f"{limit:.0e}", diff <= limit)


def _tokenizer(directory: Path, options: dict, cache: dict) -> Any:
    """The checkpoint's tokenizer as the pipeline loads it, with the case's options (reference="fast"); loaded
    once per checkpoint and options (reading spm.model takes most of a second)."""
    from deberta_np.pipelines.base import load_tokenizer
    from deberta_np.tokenizer import DebertaV2Tokenizer

    key = (directory, json.dumps(options, sort_keys=True))
    if key not in cache:
        cache[key] = (
            DebertaV2Tokenizer.from_pretrained(directory, **options) if options else load_tokenizer(directory)
        )
    return cache[key]


def run_checks() -> list[dict[str, Any]]:
    """All pipeline checks (rows for `python -m conformance`)."""
    if not GOLDEN_FILE.exists():
        return [row("setup", "pipeline goldens", f"{GOLDEN_FILE} missing", "", False)]
    golden = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    models = golden["metadata"]["models"]
    rows = []
    missing = sorted({MODELS[name].family for name in models if not available(MODELS[name].family)})
    for family in missing:
        directory, files = tokenizer_source(family)
        what = f"{family} tokenizer ({', '.join(files)})"
        rows.append(row("setup", what, f"missing in {directory}: its cases cannot run", "", False))
    names = sorted(name for name in models if MODELS[name].family not in missing)
    with tempfile.TemporaryDirectory(prefix="deberta_np-pipelines-") as tmp:
        directories = build_all(Path(tmp), names)
        for name, directory in directories.items():
            digest = weights_digest(directory)
            ok = digest == models[name]["sha256"]
            rows.append(
                row(f"model {name}", "rebuilt weights are bit-identical (sha256)", digest[:16], "", ok)
            )
        pipelines: dict = {}
        tokenizers: dict = {}
        for spec in golden["cases"]:
            if spec["model"] in directories:
                rows.append(check_case(spec, pipelines, directories, tokenizers))
    return rows


if __name__ == "__main__":
    from conformance.__main__ import run_suite

    raise SystemExit(run_suite(run_checks))
