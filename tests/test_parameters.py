"""Checkpoint names: prefixes, old names, both MLM layouts, strict missing/unexpected/shape errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deberta_np import (
    DebertaForMaskedLM,
    DebertaForSequenceClassification,
    DebertaForTokenClassification,
    DebertaModel,
)
from deberta_np.checkpoint_files import read_state_dict
from deberta_np.errors import CheckpointError
from deberta_np.safetensors_io import write_safetensors
from tests.conftest import golden_case

IDS = [[1, 8, 30, 2, 5, 0]]
MASK = [[1, 1, 1, 1, 1, 0]]


def rewrite(source: Path, target: Path, edit, config_edit=None) -> Path:  # type: ignore[no-untyped-def]
    """Copy a golden checkpoint to `target` as model.safetensors with its tensors passed through `edit`."""
    target.mkdir(parents=True, exist_ok=True)
    state = {k: np.ascontiguousarray(v) for k, v in read_state_dict(source).items()}
    write_safetensors(target / "model.safetensors", edit(state))
    config = json.loads((source / "config.json").read_text())
    if config_edit:
        config_edit(config)
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_bare_model_loads_from_a_task_checkpoint_and_vice_versa(tmp_path: Path) -> None:
    mlm = golden_case("mlm-microsoft-layout")  # keys deberta.* + lm_predictions.*
    encoder = DebertaModel.from_pretrained(mlm)
    assert encoder.head == "base"
    stripped = rewrite(
        mlm, tmp_path / "bare", lambda s: {k.removeprefix("deberta."): v for k, v in s.items()}
    )
    again = DebertaModel.from_pretrained(stripped)
    assert np.array_equal(encoder(IDS, MASK).last_hidden_state, again(IDS, MASK).last_hidden_state)
    # the MLM head loads whether or not the encoder keys carry the prefix
    a = DebertaForMaskedLM.from_pretrained(mlm)(IDS, MASK).logits
    b = DebertaForMaskedLM.from_pretrained(stripped)(IDS, MASK).logits
    assert np.array_equal(a, b)


def test_a_head_missing_from_the_checkpoint_is_an_error_not_random_numbers() -> None:
    with pytest.raises(
        CheckpointError,
        match=r"missing 2 tensor\(s\): classifier.weight, classifier.bias.*token classification head",
    ):
        DebertaForTokenClassification.from_pretrained(golden_case("base-c2p-p2c"))
    with pytest.raises(CheckpointError, match=r"has no masked-language-model head.*random"):
        DebertaForMaskedLM.from_pretrained(golden_case("base-c2p-p2c"))


def test_old_gamma_beta_names(tmp_path: Path) -> None:
    source = golden_case("p2c-clamped-talking-head")

    def old_names(state: dict) -> dict:
        renamed = {}
        for k, v in state.items():
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
            renamed[k] = v
        return renamed

    old = rewrite(source, tmp_path / "old", old_names)
    assert any("gamma" in k for k in read_state_dict(old))
    a = DebertaForTokenClassification.from_pretrained(source)(IDS, MASK).logits
    b = DebertaForTokenClassification.from_pretrained(old)(IDS, MASK).logits
    assert np.array_equal(a, b)


def test_mlm_head_follows_the_checkpoint_not_config_legacy(tmp_path: Path) -> None:
    """Official checkpoints hold lm_predictions.* and no `legacy` key (so legacy=True): we use what is there."""
    source = golden_case("mlm-microsoft-layout")
    official_like = rewrite(source, tmp_path / "official", dict, lambda c: c.pop("legacy"))
    model = DebertaForMaskedLM.from_pretrained(official_like)
    assert model.config.legacy is True and model.head == "masked_lm"
    assert np.array_equal(
        model(IDS, MASK).logits, DebertaForMaskedLM.from_pretrained(source)(IDS, MASK).logits
    )
    assert DebertaForMaskedLM.from_pretrained(golden_case("mlm-legacy-embproj")).head == "masked_lm_legacy"


def test_both_mlm_layouts_present_config_legacy_decides(tmp_path: Path) -> None:
    source = golden_case("mlm-microsoft-layout")
    hidden = 32

    def add_legacy_head(state: dict) -> dict:
        rng = np.random.default_rng(0)
        extra = {
            "cls.predictions.transform.dense.weight": rng.normal(size=(hidden, hidden)),
            "cls.predictions.transform.dense.bias": rng.normal(size=hidden),
            "cls.predictions.transform.LayerNorm.weight": np.ones(hidden),
            "cls.predictions.transform.LayerNorm.bias": np.zeros(hidden),
            "cls.predictions.bias": rng.normal(size=96),
        }
        return {**state, **{k: v.astype(np.float32) for k, v in extra.items()}}

    both = rewrite(
        source, tmp_path / "both", add_legacy_head, lambda c: c.update(legacy=True, tie_word_embeddings=True)
    )
    assert DebertaForMaskedLM.from_pretrained(both).head == "masked_lm_legacy"
    assert DebertaForMaskedLM.from_pretrained(both, legacy=False).head == "masked_lm"


def test_unused_position_embeddings_of_official_checkpoints_are_ignored(tmp_path: Path) -> None:
    source = golden_case("base-c2p-p2c")  # position_biased_input false

    def add_position_table(state: dict) -> dict:
        return {**state, "deberta.embeddings.position_embeddings.weight": np.zeros((64, 32), np.float32)}

    official = rewrite(source, tmp_path / "official", add_position_table)
    a = DebertaModel.from_pretrained(official)(IDS, MASK).last_hidden_state
    assert np.array_equal(a, DebertaModel.from_pretrained(source)(IDS, MASK).last_hidden_state)


def _declare_two_labels(config: dict) -> None:
    config.update(id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1})


# Checkpoints that do not fit their class: (golden case, tensor edit, config edit, class, what the error says).
MISFITS = {
    "unexpected-tensors-are-listed": (
        "base-c2p-p2c",
        lambda s: {
            **s,
            "encoder.layer.7.attention.self.q_bias": np.zeros(32, np.float32),
            "foo": np.zeros(1, np.float32),
        },
        None,
        DebertaModel,
        r"2 unexpected tensor\(s\).*deberta.encoder.layer.7.attention.self.q_bias, foo",
    ),
    # a config that does not describe the checkpoint: p2c only, but the file has pos_proj (c2p)
    "config-that-does-not-describe-the-checkpoint": (
        "base-c2p-p2c",
        dict,
        lambda c: c.update(pos_att_type=["p2c"]),
        DebertaModel,
        r"unexpected.*pos_proj.weight.*does config.json describe this checkpoint",
    ),
    "missing-tensors-are-listed": (
        "base-c2p-p2c",
        lambda s: {k: v for k, v in s.items() if "layer.1.output" not in k},
        None,
        DebertaModel,
        r"missing 4 tensor\(s\): deberta.encoder.layer.1.output.dense.weight",
    ),
    # num_labels 3 in the file, 2 in the config
    "shape-mismatch-names-key-expected-and-found": (
        "c2p-clamped-abs-types-embproj",
        dict,
        _declare_two_labels,
        DebertaForSequenceClassification,
        r"tensor 'classifier.weight' has shape \[3, 32\], the config implies \[2, 32\]",
    ),
    "duplicate-names-after-renaming-are-refused": (
        "base-c2p-p2c",
        lambda s: {**s, "deberta.embeddings.LayerNorm.weight": s["embeddings.LayerNorm.weight"]},
        None,
        DebertaModel,
        "duplicates another tensor",
    ),
}


@pytest.mark.parametrize("misfit", MISFITS)
def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path: Path, misfit: str) -> None:
    case, edit, config_edit, model_class, message = MISFITS[misfit]
    checkpoint = rewrite(golden_case(case), tmp_path / "checkpoint", edit, config_edit)
    with pytest.raises(CheckpointError, match=message):
        model_class.from_pretrained(checkpoint)


def test_untied_legacy_decoder_when_the_config_says_so(tmp_path: Path) -> None:
    source = golden_case("mlm-legacy-embproj")  # E = 24

    def add_decoder(state: dict) -> dict:
        decoder = np.random.default_rng(1).normal(size=(96, 24)).astype(np.float32)
        return {**state, "cls.predictions.decoder.weight": decoder}

    tied = rewrite(source, tmp_path / "tied", add_decoder)
    untied = rewrite(source, tmp_path / "untied", add_decoder, lambda c: c.update(tie_word_embeddings=False))
    reference = DebertaForMaskedLM.from_pretrained(source)(IDS, MASK).logits
    assert np.array_equal(DebertaForMaskedLM.from_pretrained(tied)(IDS, MASK).logits, reference)
    assert not np.allclose(DebertaForMaskedLM.from_pretrained(untied)(IDS, MASK).logits, reference)


def test_pytorch_bin_and_its_safetensors_copy_give_identical_outputs(tmp_path: Path) -> None:
    source = golden_case("mlm-microsoft-layout")  # a pytorch_model.bin written by torch.save
    assert (source / "pytorch_model.bin").exists()
    copy = rewrite(source, tmp_path / "st", dict)
    a = DebertaForMaskedLM.from_pretrained(source)(IDS, MASK, output_hidden_states=True)
    b = DebertaForMaskedLM.from_pretrained(copy)(IDS, MASK, output_hidden_states=True)
    assert np.array_equal(a.logits, b.logits)


def test_missing_weights_file(tmp_path: Path) -> None:
    shutil.copy(golden_case("base-c2p-p2c") / "config.json", tmp_path / "config.json")
    with pytest.raises(CheckpointError):
        DebertaModel.from_pretrained(tmp_path)
