"""`python -m conformance`'s report: a table of at most 120 columns, --failures, and the suites it runs."""

from __future__ import annotations

import pytest

from conformance import __main__ as conformance_main


def rows() -> list[dict]:
    long_case = "a-case-name-far-longer-than-any-column-should-be [sequence_classification]"
    return [
        {"suite": "model", "case": long_case, "what": "float32 hidden states (all layers) " * 3, "value": "1.0e-06",
         "limit": "1e-05", "ok": True},
        {"suite": "pipelines", "case": "qa/x", "what": "refused like transformers",
         "value": "InputError: " + "a long message " * 20, "limit": "an error", "ok": False},
    ]  # fmt: skip


def test_the_table_fits_120_columns_and_a_failure_shows_its_whole_message(
    capsys: pytest.CaptureFixture,
) -> None:
    conformance_main.print_table(rows())
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 120
    assert "…" in out and "FAIL" in out and "PASS" in out
    assert " ".join(out.split()).count("a long message") == 20  # wrapped under the row, not cut


def test_failures_only(capsys: pytest.CaptureFixture) -> None:
    conformance_main.print_table(rows(), failures_only=True)
    out = capsys.readouterr().out
    assert "FAIL" in out and "PASS" not in out


def test_every_committed_suite_is_imported_not_skipped() -> None:
    suites = conformance_main.committed_suites()
    assert list(suites) == ["models", "tensorflow", "tokenizer", "tokenizer-v2", "pipelines"]
    assert all(callable(run) for run in suites.values())
