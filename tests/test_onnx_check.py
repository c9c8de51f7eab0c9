"""`deberta-np verify --onnx` and `trace --backend onnx` on graphs exported from transformers (skipped without
onnxruntime, or without torch/transformers/onnx to export one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deberta_np.cli import main
from tests.conftest import GOLDEN_MODELS
from tests.test_trace import planted

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from deberta_np.onnx_check import _cases, check_onnx, export_transformers_onnx

BASE = GOLDEN_MODELS / "base-c2p-p2c"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """transformers' DebertaModel through the TorchScript exporter, dynamic batch and length."""
    return export_transformers_onnx(BASE, tmp_path_factory.mktemp("onnx") / "base.onnx")


def test_the_cases_cover_what_breaks_exports() -> None:
    from deberta_np.config import config_from_pretrained

    labels = [label for label, _ in _cases(config_from_pretrained(BASE), {"input_ids", "attention_mask"})]
    assert "batch 1, length 1" in labels and "batch 1, length 512" in labels
    batches = [inputs for _, inputs in _cases(config_from_pretrained(BASE), set())]
    assert any(b["input_ids"].shape[0] == 8 and (b["attention_mask"].sum(1) == 0).any() for b in batches)
    assert any((b["attention_mask"] == 0).any() and b["input_ids"].shape[0] == 1 for b in batches)


def test_a_faithful_export_passes_every_case(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--model", str(BASE), "--onnx", str(exported)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) >= 19 and all(row["ok"] for row in rows)
    assert {row["output"] for row in rows} == {"last_hidden_state"}


def test_a_graph_of_other_weights_fails(tmp_path: Path, exported: Path) -> None:
    """The check can fail: a graph exported from a checkpoint with one perturbed weight, checked against the
    original."""
    wrong = export_transformers_onnx(
        planted(tmp_path, "base-c2p-p2c", "encoder.layer.1.attention.self.pos_proj.weight"),
        tmp_path / "w.onnx",
    )
    rows = check_onnx(BASE, wrong)
    # with one token the softmax over one key is 1 whatever the scores: pos_proj cannot matter there
    assert [row["case"] for row in rows if row["ok"]] == ["batch 1, length 1"]


def test_a_graph_frozen_at_its_example_shape_reports_the_error(tmp_path: Path) -> None:
    import torch

    from deberta_np.trace_transformers import load_transformers_model

    model = load_transformers_model(BASE, "base")
    ids = torch.ones((1, 16), dtype=torch.long)
    path = tmp_path / "static.onnx"
    torch.onnx.export(model, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], dynamo=False, opset_version=17)  # fmt: skip
    rows = check_onnx(BASE, path)
    failed = [row for row in rows if not row["ok"]]
    assert failed and all("error" in row for row in failed)
    assert any(row["ok"] for row in rows if row["case"].startswith("batch 1, length 16"))


def test_trace_with_the_onnx_backend_compares_with_the_oracle(exported: Path, tmp_path: Path) -> None:
    argv = ["trace", "--model", str(BASE), "--input-ids", "1,5,7,9,2", "--input-ids", "1,8,2"]
    assert (
        main([*argv, "--backend", "onnx", "--onnx", str(exported), "--output", str(tmp_path / "o.npz")]) == 0
    )
    assert main([*argv, "--dtype", "float64", "--output", str(tmp_path / "np.safetensors")]) == 0
    onnx_trace = dict(np.load(tmp_path / "o.npz"))
    assert set(onnx_trace) == {"input_ids", "attention_mask", "token_type_ids", "last_hidden_state"}
    assert main(["compare", str(tmp_path / "o.npz"), str(tmp_path / "np.safetensors")]) == 0


def test_verify_onnx_needs_a_model(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:  # a usage error, as for verify without an onnx graph
        main(["verify", "--onnx", str(exported)])
    assert exit_status.value.code == 2
    assert "needs --model" in capsys.readouterr().err


def test_verify_onnx_on_a_file_that_is_no_graph_checks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(SystemExit) as exit_status:  # 2: nothing could be checked, as verify says
        main(["verify", "--model", str(GOLDEN_MODELS / "base-c2p-p2c"), "--onnx", str(tmp_path / "bad.onnx")])
    assert exit_status.value.code == 2 and "bad.onnx" in capsys.readouterr().err
