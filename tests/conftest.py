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
