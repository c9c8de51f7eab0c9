"""Without ../shared (the device machine, a bare clone) the tokenizer suites report SKIP, not PASS or FAIL."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import tokenizer_suite, tokenizer_v2_suite


@pytest.mark.parametrize("suite", [tokenizer_suite, tokenizer_v2_suite])
def test_missing_shared_tokenizer_is_a_skip(
    suite: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "TOKENIZER_DIR", tmp_path / "absent")
    rows = suite.run_checks()  # type: ignore[attr-defined]
    assert len(rows) == 1
    assert rows[0]["skipped"] is True and rows[0]["ok"] is True
    assert str(tmp_path / "absent") in rows[0]["value"]
