"""`python -m conformance --checkpoint DIR`: check a real, downloaded checkpoint.

* Against transformers run now, when it is installed: the encoder and every head the checkpoint holds, float32
  (<= 1e-5 at valid positions) and float64 (<= 1e-10; transformers' two float32 round trips removed as for the
  goldens).
* For microsoft/deberta-base (recognised by its config): against the slice that transformers' integration tests
  publish (spec §6): PyTorch's 4 digits at atol 1e-4 and the TF port's 8 digits at 1e-5. For
  microsoft/deberta-v2-xlarge: its published 4-digit slice (spec §6.3) at 1e-4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases import TOLERANCE
from conformance.check import POOLED_HEADS, row, valid_diff
from deberta_np import xp as shim
from deberta_np.config import DebertaConfig, config_from_pretrained
from deberta_np.modeling import load_model
from deberta_np.weights import read_state_dict

# spec §6.1 / §6.2: transformers' test_inference_no_head for microsoft/deberta-base
INTEGRATION_IDS = [[0, 31414, 232, 328, 740, 1140, 12695, 69, 46078, 1588, 2]]
INTEGRATION_MASK = [[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]
PUBLISHED_PT = [[-0.5986, -0.8055, -0.8462], [1.4484, -0.9348, -0.8059], [0.3123, 0.0032, -1.4131]]
# spec §6.3: microsoft/deberta-v2-xlarge, same ids and mask, assert_close(rtol=1e-4, atol=1e-4)
PUBLISHED_V2_XLARGE = [[0.2356, 0.1948, 0.0369], [-0.1063, 0.3586, -0.5152], [-0.6399, -0.0259, -0.2525]]
PUBLISHED_TF = [
    [-0.59855896, -0.80552566, -0.8462135],
    [1.4484025, -0.93483794, -0.80593085],
    [0.3122741, 0.00316059, -1.4131377],
]


def heads_in(directory: Path) -> list[str]:
    """The model classes this checkpoint can be loaded as, judged from its tensor names."""
    names = set(read_state_dict(directory))
    heads = ["base"]
    discriminator = any(n.startswith("mask_predictions.") for n in names)  # v3: refused for MLM, on purpose
    if not discriminator and any(n.startswith(("lm_predictions.", "cls.predictions.")) for n in names):
        heads.append("masked_lm")
    if "pooler.dense.weight" in names and "classifier.weight" in names:
        heads.append("sequence_classification")
    elif "classifier.weight" in names:
        heads.append("token_classification")
    if "qa_outputs.weight" in names:
        heads.append("question_answering")
    return heads


def is_deberta_base(config: DebertaConfig) -> bool:
    c = config
    shape = (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size)
    return (
        c.model_type == "deberta"
        and shape == (50265, 768, 12, 12, 3072)
        and (c.relative_attention, c.position_biased_input, sorted(c.pos_att_type))
        == (True, False, ["c2p", "p2c"])
    )


def is_deberta_v2_xlarge(config: DebertaConfig) -> bool:
    c = config
    shape = (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size)
    return (
        c.model_type == "deberta-v2"
        and shape == (128100, 1536, 24, 24, 6144)
        and getattr(c, "conv_kernel_size", 0) == 3
        and getattr(c, "position_buckets", -1) == 256
    )


def test_inputs(config: DebertaConfig) -> dict[str, np.ndarray]:
    """The integration-test row (first token masked) and a full row; random ids for small vocabularies."""
    mask = np.array([INTEGRATION_MASK[0], [1] * 11])
    if config.vocab_size >= 50265:
        return {"input_ids": np.array(INTEGRATION_IDS * 2), "attention_mask": mask}
    return {
        "input_ids": np.random.default_rng(0).integers(0, config.vocab_size, size=(2, 11)),
        "attention_mask": mask,
    }


def published_slice(directory: Path, config: DebertaConfig, device: str) -> list[dict[str, Any]]:
    model = load_model(directory, "base", device=device)
    values = shim.to_numpy(model(INTEGRATION_IDS, INTEGRATION_MASK).last_hidden_state)[0, 1:4, 1:4]
    return slice_rows(values, v2=config.model_type == "deberta-v2")


def slice_rows(values: np.ndarray, v2: bool = False) -> list[dict[str, Any]]:
    """last_hidden_state[0, 1:4, 1:4] against the published slices (spec §6)."""
    if v2:
        diff = float(np.abs(values - PUBLISHED_V2_XLARGE).max())
        return [
            row(
                "checkpoint",
                "microsoft/deberta-v2-xlarge published slice",
                "[0,1:4,1:4] vs PyTorch test",
                diff,
                1e-4,
            )
        ]
    label = "microsoft/deberta-base published slice"
    return [
        row(
            "checkpoint",
            label,
            "[0,1:4,1:4] vs PyTorch test (4 digits)",
            float(np.abs(values - PUBLISHED_PT).max()),
            1e-4,
        ),
        row(
            "checkpoint",
            label,
            "[0,1:4,1:4] vs TF test (8 digits)",
            float(np.abs(values - PUBLISHED_TF).max()),
            1e-5,
        ),
    ]


def against_transformers(
    directory: Path, config: DebertaConfig, head: str, device: str
) -> list[dict[str, Any]]:
    import torch

    from conformance.generate import float64_reference, hf_classes

    inputs = test_inputs(config)
    valid = inputs["attention_mask"].astype(bool)
    ours_model = load_model(directory, head, device=device)
    overrides = {}
    if head == "masked_lm" and ours_model.head == "masked_lm":  # Microsoft's layout: spec §3.1
        overrides = {"legacy": False, "tie_word_embeddings": False}
    version = "v2" if config.model_type == "deberta-v2" else "v1"
    reference = hf_classes(version)[head].from_pretrained(directory, **overrides).eval()
    rows = []
    for dtype in ("float32", "float64"):
        ours = load_model(directory, head, device=device, dtype=dtype)
        reference.to(getattr(torch, dtype))
        context = float64_reference() if dtype == "float64" else _null()
        with torch.inference_mode(), context:
            expected = reference(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        got = ours(**inputs)
        for field in got.keys():
            per_token = head not in POOLED_HEADS
            diff = valid_diff(
                shim.to_numpy(got[field]), expected[field].numpy(), valid if per_token else None
            )
            rows.append(
                row(
                    "checkpoint",
                    f"{directory.name} [{ours.head}]",
                    f"{dtype} {field} vs transformers",
                    diff,
                    TOLERANCE[dtype],
                )
            )
    return rows


def _null() -> Any:
    import contextlib

    return contextlib.nullcontext()


def run_checks(directory: str, device: str = "cpu") -> list[dict[str, Any]]:
    path = Path(directory)
    config = config_from_pretrained(path)
    rows: list[dict[str, Any]] = []
    if is_deberta_base(config) or is_deberta_v2_xlarge(config):
        rows += published_slice(path, config, device)
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("transformers is not installed: skipping the side-by-side comparison (pip install '.[oracle]')")
        return rows
    for head in heads_in(path):
        rows += against_transformers(path, config, head, device)
    return rows
