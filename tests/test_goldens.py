"""Every committed golden (transformers 4.57.6 outputs) reproduced: float32 <= 1e-5, float64 <= 1e-10."""

from __future__ import annotations

import pytest

from conformance.check import GOLDEN, check_case

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists())


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    rows = check_case(GOLDEN / case)
    failed = [r for r in rows if not r["ok"]]
    assert rows and not failed, failed
