"""The repository's own tokenizer files: present, the ones data/tokenizers/README.md records, and required."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from conformance import pipeline_models, pipelines_suite, tokenizer_suite, tokenizer_v2_suite
from conformance.tokenizer_files import TOKENIZERS

# the README's sha256 block, as sha256sum prints it: "<digest>  <path>"
RECORDED = [
    (name, digest)
    for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", (TOKENIZERS / "README.md").read_text(), re.M)
]


def test_every_file_is_recorded_with_its_sha256() -> None:
    files = sorted(str(p.relative_to(TOKENIZERS)) for p in TOKENIZERS.rglob("*") if p.is_file())
    assert sorted(name for name, _ in RECORDED) == [f for f in files if f != "README.md"]
    for name, digest in RECORDED:
        assert hashlib.sha256((TOKENIZERS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("suite", [tokenizer_suite, tokenizer_v2_suite])
def test_a_missing_tokenizer_file_fails_the_suite(
    suite: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "TOKENIZER_DIR", tmp_path / "absent")
    rows = suite.run_checks()  # type: ignore[attr-defined]
    assert len(rows) == 1
    assert rows[0]["ok"] is False and not rows[0].get("skipped")
    assert str(tmp_path / "absent") in rows[0]["value"]


def test_a_missing_tokenizer_file_fails_the_pipeline_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_models, "TOKENIZER_V2_DIR", tmp_path / "absent")
    monkeypatch.setattr(pipelines_suite, "available", pipeline_models.available)
    monkeypatch.setattr(pipelines_suite, "build_all", lambda root, names: {})
    rows = pipelines_suite.run_checks()
    setup = [r for r in rows if r["case"] == "setup"]
    assert len(setup) == 1 and setup[0]["ok"] is False and "absent" in setup[0]["value"]
