"""deberta_np loading each committed `tf_model.h5` (conformance/golden/tf) against TensorFlow's own outputs.

Needs h5py (the `tf` extra), not TensorFlow: the goldens were made by `python -m conformance.generate_tf`.
Without h5py (an optional extra: the main job needs only numpy and regex) it reports one SKIP row saying so.

TF's DeBERTa classes (transformers 4.57.6) give a padded query row all-zero attention (XSoftmax, as transformers'
PyTorch classes did up to 4.46); 4.57's PyTorch classes, and deberta_np by default, let it attend uniformly.
So each case is checked twice: by default at real tokens (and pooled logits of rows whose first token is real),
and with `zero_fully_masked_rows=True` at every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deberta_np import shim
from deberta_np.oracle import POOLED_HEADS, TOLERANCE, row
from deberta_np.safetensors_io import read_safetensors

GOLDEN = Path(__file__).resolve().parent / "golden" / "tf"
OUTPUT_FIELDS = ("last_hidden_state", "logits", "start_logits", "end_logits")


@dataclass(frozen=True)
class Difference:
    case: str
    what: str  # e.g. "hidden_states.2 (real tokens)"
    max_abs: float
    magnitude: float  # max |TF value| over the compared positions
    length: int  # sequence length, for the error bound of the computation


def cases() -> list[Path]:
    return (
        sorted(p for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists()) if GOLDEN.is_dir() else []
    )


def case_differences(directory: Path, device: str = "cpu") -> list[Difference]:
    """Max |deberta_np - TF| of every hidden state, attention map and head output, in float32, in both modes."""
    from conformance.check import model_class

    golden, metadata = read_safetensors(directory / "golden.safetensors")
    inputs = {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}
    mask = inputs["attention_mask"]
    real = mask.reshape(-1, mask.shape[-1]).astype(bool)  # [B, L], or [B*C, L] for multiple choice
    head, version = metadata["head"], metadata["version"]
    found = []
    for zero_rows, where in ((False, "real tokens"), (True, "every position, zero_fully_masked_rows")):
        model = model_class(head, version).from_pretrained(
            directory, device=device, dtype="float32", zero_fully_masked_rows=zero_rows
        )
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
        ours = {f"hidden_states.{i}": a for i, a in enumerate(out.hidden_states)}
        ours.update({f"attentions.{i}": a for i, a in enumerate(out.attentions)})
        ours.update({f: getattr(out, f) for f in OUTPUT_FIELDS if f"float32.{f}" in golden})
        for name, value in ours.items():
            reference = golden[f"float32.{name}"]
            value = shim.to_numpy(value)
            if value.shape != reference.shape:
                found.append(
                    Difference(directory.name, f"{name} shape {value.shape}", np.inf, 0.0, real.shape[1])
                )
                continue
            difference = np.abs(value.astype(np.float64) - reference)
            magnitude = np.abs(reference.astype(np.float64))
            if not zero_rows:
                selected = _real(difference, real, name, head)
                difference, magnitude = selected, _real(magnitude, real, name, head)
            found.append(
                Difference(
                    directory.name,
                    f"{name} ({where})",
                    float(difference.max(initial=0.0)),
                    float(magnitude.max(initial=0.0)),
                    real.shape[1],
                )
            )
    return found


def _real(values: np.ndarray, real: np.ndarray, name: str, head: str) -> np.ndarray:
    """The entries that depend only on real tokens: real query rows; pooled logits of rows with a real first token."""
    if name.startswith("attentions."):
        return np.moveaxis(values, 1, 2)[real]  # [B, heads, L, L] -> real query rows
    if head in POOLED_HEADS and name == "logits":
        return values.reshape(real.shape[0], -1)[real[:, 0]]  # [B, T] or [B, C] -> rows by their first token
    return values.reshape(real.shape[0], real.shape[1], -1)[real]


def run_checks(device: str = "cpu") -> list[dict[str, Any]]:
    try:
        import h5py  # noqa: F401
    except ModuleNotFoundError:
        why = "skipped: h5py is not installed (pip install 'deberta_np[tf]')"
        return [
            {**row("tensorflow", "setup", "tf_model.h5 goldens", 0.0, 0.0), "value": why, "skipped": True}
        ]
    rows = []
    for directory in cases():
        try:
            for d in case_differences(directory, device):
                limit = TOLERANCE["float32"] * max(1.0, d.magnitude)  # float32 at the values' own magnitude
                rows.append(row("tensorflow", d.case, f"float32 {d.what}", d.max_abs, limit))
        except Exception as error:  # a crash is a failure of that case, reported in the table
            rows.append({"suite": "tensorflow", "case": directory.name, "what": "load and run",
                         "value": f"{type(error).__name__}: {error}", "limit": "-", "ok": False})  # fmt: skip
    return rows
