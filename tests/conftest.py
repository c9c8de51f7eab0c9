"""Shared fixtures: the committed model goldens and tiny models built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN_MODELS = Path(__file__).resolve().parents[1] / "conformance" / "golden" / "models"


@pytest.fixture(scope="session")
def golden_models() -> Path:
    return GOLDEN_MODELS


def golden_case(name: str) -> Path:
    return GOLDEN_MODELS / name


def to_array_api_strict(tree: object) -> object:
    """A parameter tree (nested dicts and lists of NumPy arrays) as array-api-strict arrays (skips without it)."""
    xps = pytest.importorskip("array_api_strict")
    if isinstance(tree, dict):
        return {k: to_array_api_strict(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_array_api_strict(v) for v in tree]
    import numpy as np

    return xps.asarray(np.array(tree))
