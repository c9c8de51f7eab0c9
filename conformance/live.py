"""`python -m conformance --live`: deberta_np and transformers side by side, on models drawn now.

1. Random configs and inputs drawn by hypothesis (every flag of the v1 model, every head, both MLM layouts,
   both file formats, padding, lengths on both sides of max_relative_positions), float32 and float64.
2. A deberta-base-shaped model (vocab 50265, hidden 768, 12 layers, 12 heads, c2p|p2c) with random weights,
   every head, and a deberta-v3-base-shaped one (vocab 128100, 256 log buckets, share_att_key, LayerNorm on
   the relative table), float32.
Needs the oracle extra (torch, transformers 4.57.6). Nothing is downloaded or committed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases import DEBERTA_BASE_FLAGS, Case
from conformance.check import model_class, valid_positions
from conformance.generate import make_inputs, random_model, reference_outputs, save_checkpoint
from deberta_np import model_v2, shim
from deberta_np.config import ACTIVATION_NAMES
from deberta_np.model import HEADS as V1_HEADS
from deberta_np.oracle import POOLED_HEADS, TOLERANCE, row, valid_diff


def draw_case(data: Any, head: str) -> tuple[Case, str]:
    """A random tiny config for `head`, file format and input length (hypothesis `data` object)."""
    from hypothesis import strategies as st

    heads = data.draw(st.sampled_from([1, 2, 4]), label="heads")
    head_dim = data.draw(st.sampled_from([2, 4, 8]), label="head_dim")
    hidden = heads * head_dim
    relative = data.draw(st.booleans(), label="relative_attention")
    absolute = data.draw(st.booleans(), label="position_biased_input") or not relative
    config = {
        "vocab_size": data.draw(st.integers(8, 120), label="vocab"),
        "hidden_size": hidden,
        "num_hidden_layers": data.draw(st.integers(1, 3), label="layers"),
        "num_attention_heads": heads,
        "intermediate_size": data.draw(st.integers(4, 48), label="intermediate"),
        "max_position_embeddings": 48,
        "relative_attention": relative,
        "pos_att_type": data.draw(
            st.sampled_from(["c2p|p2c", "c2p", "p2c", "p2c|c2p", "None", None]), label="pos"
        ),
        "max_relative_positions": data.draw(st.sampled_from([-1, 1, 2, 3, 5, 8, 13]), label="max_rel"),
        "position_biased_input": absolute,
        "type_vocab_size": data.draw(st.integers(0, 3), label="type_vocab_size"),
        "talking_head": data.draw(st.booleans(), label="talking_head"),
        "hidden_act": data.draw(st.sampled_from(ACTIVATION_NAMES), label="hidden_act"),
        "pooler_hidden_act": data.draw(st.sampled_from(ACTIVATION_NAMES), label="pooler_act"),
        "layer_norm_eps": data.draw(st.sampled_from([1e-7, 1e-5, 1e-12]), label="eps"),
        "num_labels": data.draw(st.integers(1, 4), label="num_labels") if head != "question_answering" else 2,
    }
    if head != "masked_lm" and data.draw(st.booleans(), label="embed_proj"):
        config["embedding_size"] = data.draw(st.sampled_from([4, 6, 12]), label="embedding_size")
    if head == "masked_lm":
        config.update(legacy=False, tie_word_embeddings=False)  # 4.57.6 breaks the tied variant
    version = data.draw(st.sampled_from(["v1", "v2"]), label="version") if head != "multiple_choice" else "v2"
    if version == "v2":
        config.pop("talking_head")
        config.update(
            position_buckets=data.draw(st.sampled_from([-1, 4, 6, 8]), label="position_buckets"),
            norm_rel_ebd=data.draw(st.sampled_from(["none", "layer_norm"]), label="norm_rel_ebd"),
            share_att_key=data.draw(st.booleans(), label="share_att_key"),
            conv_kernel_size=data.draw(st.sampled_from([0, 1, 3, 5]), label="conv_kernel_size"),
            conv_groups=data.draw(
                st.sampled_from([g for g in (1, 2, 4) if hidden % g == 0]), label="conv_groups"
            ),
            conv_act=data.draw(st.sampled_from(ACTIVATION_NAMES), label="conv_act"),
        )
        if config["position_buckets"] > 0:
            config["max_relative_positions"] = data.draw(st.sampled_from([16, 32]), label="max_rel_v2")
    hf_head = "masked_lm" if head.startswith("masked_lm") else head
    case = Case(
        name="live",
        head=hf_head,
        config=config,
        length=data.draw(st.integers(3, 24), label="length"),
        covers="",
        file_format=data.draw(st.sampled_from(["safetensors", "bin", "sharded-safetensors"]), label="format"),
        position_ids=absolute and data.draw(st.booleans(), label="position_ids"),
        version=version,
    )
    return case, head


def compare(
    directory: Path, case: Case, reference: dict[str, np.ndarray], inputs: dict[str, np.ndarray], dtype: str
) -> float:
    """Max diff at valid positions between deberta_np and `reference` over every output."""
    model = model_class(case.head, case.version).from_pretrained(directory, dtype=dtype)
    out = model(**inputs, output_hidden_states=True, output_attentions=True)
    valid = valid_positions(inputs["attention_mask"])
    worst = 0.0
    for field in ("hidden_states", "attentions"):
        for index, value in enumerate(getattr(out, field)):
            worst = max(worst, valid_diff(shim.to_numpy(value), reference[f"{dtype}.{field}.{index}"], valid))
    for field in ("last_hidden_state", "logits", "start_logits", "end_logits"):
        if f"{dtype}.{field}" in reference:
            per_token = case.head not in POOLED_HEADS
            ours = shim.to_numpy(getattr(out, field))
            worst = max(worst, valid_diff(ours, reference[f"{dtype}.{field}"], valid if per_token else None))
    return worst


def random_configs(examples: int) -> list[dict[str, Any]]:
    """`examples` random configs for each head (both versions drawn), compared in float32 and float64."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    worst: dict[tuple[str, str], list[float]] = {}

    def one(data: Any, head: str) -> None:
        case, label = draw_case(data, head)
        seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
        model = random_model(case.config, case.head, seed, version=case.version)
        inputs = make_inputs(case, case.config, seed)
        with tempfile.TemporaryDirectory() as tmp:
            save_checkpoint(model, Path(tmp), case)
            for dtype in ("float32", "float64"):
                reference = reference_outputs(model, inputs, dtype)
                diff = compare(Path(tmp), case, reference, inputs, dtype)
                worst.setdefault((f"{case.version} {label}", dtype), []).append(diff)
                assert diff <= TOLERANCE[dtype], f"{label} {dtype}: max diff {diff:.3e} > {TOLERANCE[dtype]}"

    for head in model_v2.HEADS:  # every head, both MLM layouts; multiple choice is v2-only

        @settings(
            max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(st.data())
        def for_head(data: Any) -> None:
            one(data, head)  # noqa: B023 (runs before the loop moves on)

        for_head()
    return [
        row(
            "live",
            f"random configs [{name}] x{len(diffs)}",
            f"{dtype} all outputs",
            max(diffs),
            TOLERANCE[dtype],
        )
        for (name, dtype), diffs in sorted(worst.items())
    ]


BASE_SHAPED = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    **DEBERTA_BASE_FLAGS,
}


V3_BASE_SHAPED = {
    **BASE_SHAPED,
    "vocab_size": 128100,
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": "p2c|c2p",
}


def base_shaped() -> list[dict[str, Any]]:
    """deberta-base's and deberta-v3-base's shapes with random weights (std 0.02, as transformers initialises)."""
    rows = []
    models = [("v1", "deberta-base-shaped", BASE_SHAPED, V1_HEADS)]
    models.append(
        (
            "v2",
            "deberta-v3-base-shaped",
            V3_BASE_SHAPED,
            ("base", "sequence_classification", "question_answering"),
        )
    )
    for version, name, config, heads in models:
        for head in heads:
            hf_head = "masked_lm" if head.startswith("masked_lm") else head
            extra = {"legacy": head == "masked_lm_legacy", "tie_word_embeddings": head != "masked_lm"}
            case = Case(name, hf_head, {**config, **extra}, length=64, covers="", version=version)
            model = random_model(case.config, hf_head, seed=7, scale=0.02, version=version)
            inputs = make_inputs(case, case.config, seed=8)
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint(model, Path(tmp), case)
                reference = reference_outputs(model, inputs, "float32")
                diff = compare(Path(tmp), case, reference, inputs, "float32")
            rows.append(
                row("live", f"{name} [{head}]", "float32 all outputs, 3x64", diff, TOLERANCE["float32"])
            )
    return rows


def run_checks(
    examples: int = 25, base_shaped_model: bool = True, device: str = "cpu"
) -> list[dict[str, Any]]:
    rows = random_configs(examples)
    if base_shaped_model:
        rows += base_shaped()
    return rows
