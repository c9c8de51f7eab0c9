"""model.py uses only the array API standard: it runs unchanged under array-api-strict."""

from __future__ import annotations

import numpy as np
import pytest

from deberta_np import DebertaModel, model
from tests.conftest import golden_case, to_array_api_strict
from tests.tolerance import encoder_terms, reordering_tolerance

xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize(
    "case", ["base-c2p-p2c", "p2c-clamped-talking-head", "c2p-clamped-abs-types-embproj"]
)
def test_tiny_model_under_array_api_strict(case: str) -> None:
    xps.set_array_api_strict_flags(api_version="2024.12")
    reference = DebertaModel.from_pretrained(golden_case(case))
    rng = np.random.default_rng(0)
    ids = rng.integers(1, reference.config.vocab_size, size=(2, 9))
    mask = np.ones((2, 9), dtype=np.int64)
    mask[1, 6:] = 0
    expected = reference(ids, mask).last_hidden_state
    inputs = [xps.asarray(a) for a in (ids, mask, np.zeros_like(ids), np.arange(9)[None, :])]
    got, _, _ = model.deberta(*inputs, to_array_api_strict(reference.params["deberta"]), reference.config)
    limit = reordering_tolerance(np.float32, encoder_terms(reference.config, 9), np.abs(expected).max())
    assert np.abs(np.asarray(got) - expected).max() <= limit
