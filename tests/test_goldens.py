"""Every committed golden (transformers 4.57.6 outputs) reproduced: float32 <= 1e-5, float64 <= 1e-10."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.check import GOLDEN, OLD_MASKING_FILE, check_case, check_padded_positions
from deberta_np.safetensors_io import read_safetensors

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists())


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    rows = check_case(GOLDEN / case)
    failed = [r for r in rows if not r["ok"]]
    assert rows and not failed, failed


OLD = [case for case in CASES if (GOLDEN / case / OLD_MASKING_FILE).exists()]


def test_both_padded_row_behaviours_are_covered() -> None:
    assert len(OLD) >= 6


@pytest.mark.parametrize("case", OLD)
def test_padded_rows_in_both_modes(case: str) -> None:
    """Zero rows (transformers 4.46) and uniform rows (4.57) differ at padded positions; we match each."""
    new = read_safetensors(GOLDEN / case / "golden.safetensors")[0]
    old = read_safetensors(GOLDEN / case / OLD_MASKING_FILE)[0]
    padded = ~new["inputs.attention_mask"].astype(bool)
    last = max(int(k.rsplit(".", 1)[1]) for k in new if k.startswith("float32.hidden_states."))
    gap = np.abs(new[f"float32.hidden_states.{last}"] - old[f"float32.hidden_states.{last}"])[padded].max()
    assert gap > 1e-2  # the two references really disagree there, so the check below is not vacuous
    rows = check_padded_positions(GOLDEN / case)
    assert len(rows) == 2 and all(r["ok"] for r in rows), rows
