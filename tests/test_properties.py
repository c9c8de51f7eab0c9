"""Metamorphic properties: padding, batching and precision do not change what a real token sees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deberta_np import DebertaForTokenClassification, DebertaModel
from tests.conftest import golden_case
from tests.tolerance import encoder_terms, reordering_tolerance

# relative-only with clamping (P=3), and absolute positions + token types + embed_proj (P=4)
CASES = ["gelu-both-long", "c2p-clamped-abs-types-embproj", "p2c-clamped-talking-head"]
MODELS = {
    case: {
        dtype: DebertaModel.from_pretrained(golden_case(case), dtype=dtype)
        for dtype in ("float32", "float64")
    }
    for case in CASES
}
VOCAB = 96

sequences = st.lists(st.integers(1, VOCAB - 1), min_size=1, max_size=24)
SETTINGS = settings(max_examples=30, deadline=None)


def pad(rows: list[list[int]], length: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(sequence=sequences, others=st.lists(sequences, min_size=1, max_size=3), extra=st.integers(0, 6))
def test_padding_invariance(case: str, sequence: list[int], others: list[list[int]], extra: int) -> None:
    """A sequence alone equals the same sequence right-padded inside a batch, at its valid positions."""
    model = MODELS[case]["float64"]
    alone = model([sequence]).last_hidden_state[0]
    rows = [*others, sequence]
    ids, mask = pad(rows, max(map(len, rows)) + extra)
    batched = model(ids, mask).last_hidden_state[-1, : len(sequence)]
    assert np.abs(batched - alone).max() < 1e-12


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(rows=st.lists(sequences, min_size=2, max_size=4))
def test_batch_invariance(case: str, rows: list[list[int]]) -> None:
    """Row i of a batch equals row i run alone with the same padding (all positions, padded ones too)."""
    model = MODELS[case]["float64"]
    ids, mask = pad(rows, max(map(len, rows)))
    batched = model(ids, mask).last_hidden_state
    for i in range(len(rows)):
        alone = model(ids[i : i + 1], mask[i : i + 1]).last_hidden_state[0]
        assert np.abs(batched[i] - alone).max() < 1e-12


@pytest.mark.parametrize("case", CASES)
@SETTINGS
@given(rows=st.lists(sequences, min_size=1, max_size=3))
def test_float32_agrees_with_float64(case: str, rows: list[list[int]]) -> None:
    ids, mask = pad(rows, max(map(len, rows)))
    out32 = MODELS[case]["float32"](ids, mask).last_hidden_state
    out64 = MODELS[case]["float64"](ids, mask).last_hidden_state
    valid = mask.astype(bool)
    config = MODELS[case]["float64"].config
    limit = reordering_tolerance(np.float32, encoder_terms(config, ids.shape[1]), np.abs(out64)[valid].max())
    assert np.abs(out32 - out64)[valid].max() <= limit


@SETTINGS
@given(sequence=sequences, left=st.integers(1, 6))
def test_left_padding_is_invisible_to_relative_only_models(sequence: list[int], left: int) -> None:
    """Without absolute positions only distances i - j matter, so left padding changes no real token."""
    model = MODELS["gelu-both-long"]["float64"]
    alone = model([sequence]).last_hidden_state[0]
    ids = [[0] * left + sequence]
    mask = [[0] * left + [1] * len(sequence)]
    shifted = model(ids, mask).last_hidden_state[0, left:]
    assert np.abs(shifted - alone).max() < 1e-12


def test_heads_inherit_the_invariances() -> None:
    model = DebertaForTokenClassification.from_pretrained(golden_case("gelu-both-long"), dtype="float64")
    ids, mask = pad([[5, 6, 7, 8, 9], [5, 6, 7]], 7)
    batched = model(ids, mask).logits
    assert np.abs(batched[1, :3] - model([[5, 6, 7]]).logits[0]).max() < 1e-12
