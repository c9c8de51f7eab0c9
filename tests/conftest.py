"""Shared fixtures: the committed model goldens and tiny models built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_MODELS = Path(__file__).resolve().parents[1] / "conformance" / "golden" / "models"


@pytest.fixture(scope="session")
def golden_models() -> Path:
    return GOLDEN_MODELS


def golden_case(name: str) -> Path:
    return GOLDEN_MODELS / name


def assert_same_container(a: object, b: object, assert_same: Callable[[object, object], None]) -> None:
    """One level of a comparison of nested outputs: dicts with the same keys, or lists of the same length, whose
    items `assert_same` compares (the caller's comparison, which comes back here for containers); any other
    value must be equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def to_array_api_strict(tree: object) -> object:
    """A parameter tree (nested dicts and lists of NumPy arrays) as array-api-strict arrays (skips without it)."""
    xps = pytest.importorskip("array_api_strict")
    if isinstance(tree, dict):
        return {k: to_array_api_strict(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_array_api_strict(v) for v in tree]
    import numpy as np

    return xps.asarray(np.array(tree))
