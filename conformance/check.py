"""Run deberta_np on every committed model golden and compare with transformers' stored outputs (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deberta_np import shim
from deberta_np.modeling import MODEL_CLASSES, V2_MODEL_CLASSES
from deberta_np.oracle import POOLED_HEADS, TOLERANCE, row, valid_diff
from deberta_np.safetensors_io import read_safetensors

GOLDEN = Path(__file__).resolve().parent / "golden" / "models"
OLD_MASKING_FILE = "golden-transformers-4.46.safetensors"
OUTPUT_FIELDS = ("last_hidden_state", "logits", "start_logits", "end_logits")


def model_class(head: str, version: str = "v1") -> type:
    return (V2_MODEL_CLASSES if version == "v2" else MODEL_CLASSES)[head]


def valid_positions(attention_mask: np.ndarray) -> np.ndarray:
    """[B, L] (or [B, C, L] for multiple choice, flattened to [B*C, L] as the model does) -> bool."""
    return attention_mask.reshape(-1, attention_mask.shape[-1]).astype(bool)


def check_case(
    directory: Path, device: str = "cpu", dtypes: tuple[str, ...] = ("float32", "float64")
) -> list[dict[str, Any]]:
    golden, metadata = read_safetensors(directory / "golden.safetensors")
    inputs = {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}
    valid = valid_positions(inputs["attention_mask"])
    head, version = metadata["head"], metadata.get("version", "v1")
    rows = []
    for dtype in dtypes:
        model = model_class(head, version).from_pretrained(directory, device=device, dtype=dtype)
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
        hidden = [shim.to_numpy(a) for a in out.hidden_states]
        attention = [shim.to_numpy(a) for a in out.attentions]
        layers = max(valid_diff(a, golden[f"{dtype}.hidden_states.{i}"], valid) for i, a in enumerate(hidden))
        attentions = max(
            valid_diff(a, golden[f"{dtype}.attentions.{i}"], valid) for i, a in enumerate(attention)
        )
        label = f"{metadata['case']} [{head}]"
        tolerance = TOLERANCE[dtype]
        rows.append(row("model", label, f"{dtype} hidden states (all layers)", layers, tolerance))
        rows.append(row("model", label, f"{dtype} attentions (all layers)", attentions, tolerance))
        for field in OUTPUT_FIELDS:
            if f"{dtype}.{field}" in golden:
                per_token = head not in POOLED_HEADS
                ours = shim.to_numpy(getattr(out, field))
                diff = valid_diff(ours, golden[f"{dtype}.{field}"], valid if per_token else None)
                rows.append(row("model", label, f"{dtype} {field}", diff, tolerance))
    return rows


def check_padded_positions(directory: Path, device: str = "cpu") -> list[dict[str, Any]]:
    """Padded positions too, in both modes: uniform rows against 4.57.6, zero rows against 4.46 (model.masked_softmax)."""
    golden, metadata = read_safetensors(directory / "golden.safetensors")
    inputs = {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}
    head, label = metadata["head"], f"{metadata['case']} [{metadata['head']}]"
    rows = []
    references = [(False, golden, "4.57.6, uniform rows")]
    if (directory / OLD_MASKING_FILE).exists():
        old = read_safetensors(directory / OLD_MASKING_FILE)[0]
        if any(not np.array_equal(old[k], golden[k]) for k in golden if k.startswith("inputs.")):
            return [{"suite": "model", "case": label, "what": OLD_MASKING_FILE, "value": "stale: other inputs",
                     "limit": "-", "ok": False}]  # fmt: skip
        references.append((True, old, "4.46.3, zero rows"))
    for zero_rows, reference, name in references:
        model = model_class(head, metadata.get("version", "v1")).from_pretrained(
            directory, device=device, zero_fully_masked_rows=zero_rows
        )
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
        worst = 0.0
        for field in ("hidden_states", "attentions"):
            for i, value in enumerate(getattr(out, field)):
                worst = max(worst, valid_diff(shim.to_numpy(value), reference[f"float32.{field}.{i}"], None))
        for field in OUTPUT_FIELDS:
            if f"float32.{field}" in reference:
                worst = max(
                    worst, valid_diff(shim.to_numpy(getattr(out, field)), reference[f"float32.{field}"], None)
                )
        rows.append(
            row(
                "model",
                label,
                f"float32 every position incl. padded (vs {name})",
                worst,
                TOLERANCE["float32"],
            )
        )
    return rows


def run_checks(device: str = "cpu") -> list[dict[str, Any]]:
    rows = []
    for directory in sorted(p for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists()):
        try:
            rows.extend(check_case(directory, device))
            rows.extend(check_padded_positions(directory, device))
        except Exception as error:  # a crash is a failure of that case, reported in the table
            rows.append(
                {
                    "suite": "model",
                    "case": directory.name,
                    "what": "load and run",
                    "value": f"{type(error).__name__}: {error}",
                    "limit": "-",
                    "ok": False,
                }
            )
    return rows
