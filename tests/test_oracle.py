"""Live comparisons with transformers (skipped without the oracle extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import golden_case

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_random_configs_against_transformers() -> None:
    from conformance.live import random_configs

    rows = random_configs(examples=2)
    assert rows and all(r["ok"] for r in rows), rows


@pytest.mark.parametrize(
    "case",
    [
        "mlm-microsoft-layout",
        "c2p-clamped-abs-types-embproj",
        "no-relative-abs-positions",
        "v2-xlarge-like-conv-mlm",
        "v2-v3-like-buckets-shared-key",
    ],
)
def test_checkpoint_suite_on_a_local_directory(case: str) -> None:
    from conformance.checkpoint import run_checks

    rows = run_checks(str(golden_case(case)))
    assert len(rows) >= 4 and all(r["ok"] for r in rows), rows


def test_deberta_base_is_recognised_and_its_slice_check_can_fail() -> None:
    from conformance import checkpoint
    from deberta_np import DebertaConfig, DebertaV2Config

    config = json.loads((golden_case("base-c2p-p2c") / "config.json").read_text())
    assert not checkpoint.is_deberta_base(DebertaConfig.from_dict(config))
    base_like = {**config, "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                 "num_attention_heads": 12, "intermediate_size": 3072}  # fmt: skip
    assert checkpoint.is_deberta_base(DebertaConfig.from_dict(base_like))
    exact = np.array(checkpoint.PUBLISHED_TF)
    assert [r["ok"] for r in checkpoint.slice_rows(exact)] == [True, True]
    assert [r["ok"] for r in checkpoint.slice_rows(exact + 3e-5)] == [True, False]
    assert [r["ok"] for r in checkpoint.slice_rows(exact + 2e-4)] == [False, False]
    v2 = np.array(checkpoint.PUBLISHED_V2_XLARGE)
    assert [r["ok"] for r in checkpoint.slice_rows(v2 + 5e-5, v2=True)] == [True]
    assert [r["ok"] for r in checkpoint.slice_rows(v2 + 2e-4, v2=True)] == [False]
    xlarge = {"vocab_size": 128100, "hidden_size": 1536, "num_hidden_layers": 24, "num_attention_heads": 24,
              "intermediate_size": 6144, "conv_kernel_size": 3, "position_buckets": 256, "relative_attention": True,
              "max_relative_positions": -1}  # fmt: skip
    assert checkpoint.is_deberta_v2_xlarge(DebertaV2Config.from_dict(xlarge))
    assert not checkpoint.is_deberta_base(DebertaV2Config.from_dict(xlarge))
