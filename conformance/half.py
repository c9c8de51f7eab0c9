"""float16 against float32 on the committed goldens: max abs diff and PSNR of hidden states and head outputs.

float16 has no reference in transformers worth matching (its fp16 DeBERTa overflows, spec/design notes §B.4);
what matters is that deberta_np's float16 never produces inf/NaN and stays close to its own float32.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from conformance.check import GOLDEN, OUTPUT_FIELDS, model_class, valid_positions
from deberta_np import shim
from deberta_np.safetensors_io import read_safetensors

# A sanity floor, not a target: one float16 rounding alone is ~66 dB, and the logits of a tiny head are a handful
# of numbers (their peak, and so their PSNR, swings with the draw). The real requirement is "finite".
MIN_PSNR_DB = 40.0


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, the peak being the largest |reference|."""
    error = float(np.mean((reference - other) ** 2))
    peak = float(np.abs(reference).max())
    return math.inf if error == 0.0 else 10.0 * math.log10(peak * peak / error)


def half_rows(directory: Path, device: str) -> list[dict[str, Any]]:
    golden, metadata = read_safetensors(directory / "golden.safetensors")
    inputs = {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}
    valid = valid_positions(inputs["attention_mask"])
    cls = model_class(metadata["head"], metadata.get("version", "v1"))
    outputs = {}
    for dtype in ("float32", "float16"):
        out = cls.from_pretrained(directory, device=device, dtype=dtype)(**inputs, output_hidden_states=True)
        arrays = {"hidden states": np.stack([shim.to_numpy(h) for h in out.hidden_states])}
        arrays.update(
            {
                f: shim.to_numpy(getattr(out, f))
                for f in OUTPUT_FIELDS
                if f in out.keys() and f != "last_hidden_state"
            }
        )
        outputs[dtype] = {k: v.astype(np.float64) for k, v in arrays.items()}
    rows = []
    for name, full in outputs["float32"].items():
        half = outputs["float16"][name]
        if name == "hidden states":
            full, half = full[:, valid], half[:, valid]
        elif full.ndim >= 2 and full.shape[:2] == valid.shape:
            full, half = full[valid], half[valid]
        finite = bool(np.isfinite(half).all())
        ratio = psnr(full, half) if finite else -math.inf
        rows.append(
            {
                "suite": "float16",
                "case": f"{metadata['case']} [{metadata['head']}]",
                "what": f"{name}: max abs diff {np.abs(full - half).max():.1e}, PSNR",
                "value": f"{ratio:.1f} dB" if finite else "inf/NaN",
                "limit": f">= {MIN_PSNR_DB:.0f} dB",
                "ok": finite and ratio >= MIN_PSNR_DB,
            }
        )
    return rows


def run_checks(device: str = "cpu") -> list[dict[str, Any]]:
    rows = []
    for directory in sorted(p for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists()):
        rows.extend(half_rows(directory, device))
    return rows
