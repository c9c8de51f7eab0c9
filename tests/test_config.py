"""DebertaConfig: transformers' real defaults, config.json reading, validation naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deberta_np import DebertaConfig
from deberta_np.errors import ConfigError

# microsoft/deberta-base config.json, quoted in spec §1.2
DEBERTA_BASE = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "relative_attention": True,
    "pos_att_type": "c2p|p2c",
    "layer_norm_eps": 1e-7,
    "max_relative_positions": -1,
    "position_biased_input": False,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 0,
    "vocab_size": 50265,
}


def test_code_defaults_not_docstring_defaults() -> None:
    c = DebertaConfig()
    assert (c.vocab_size, c.type_vocab_size, c.layer_norm_eps, c.max_relative_positions) == (
        50265,
        0,
        1e-7,
        -1,
    )
    assert c.relative_attention is False and c.position_biased_input is True and c.pos_att_type == []
    assert c.pooler_hidden_size == c.hidden_size == c.embedding_size == 768
    assert c.legacy is True and c.talking_head is False and c.num_labels == 2
    assert c.id2label == {0: "LABEL_0", 1: "LABEL_1"} and c.label2id == {"LABEL_0": 0, "LABEL_1": 1}


def test_defaults_equal_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    ours, theirs = DebertaConfig().to_dict(), transformers.DebertaConfig().to_dict()
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "hidden_act", "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "relative_attention",
                "max_relative_positions", "pad_token_id", "position_biased_input", "pooler_dropout",
                "pooler_hidden_act", "pooler_hidden_size", "legacy", "initializer_range"):  # fmt: skip
        assert ours[key] == theirs[key], key
    assert theirs["pos_att_type"] is None and ours["pos_att_type"] == []


def test_official_deberta_base_config() -> None:
    c = DebertaConfig.from_dict(DEBERTA_BASE)
    assert c.pos_att_type == ["c2p", "p2c"] and c.scale_factor == 3
    assert c.max_relative == 512 and c.head_dim == 64 and c.embedding_size == 768


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("c2p|p2c", ["c2p", "p2c"]),
        (" P2C | C2P ", ["p2c", "c2p"]),
        (["c2p"], ["c2p"]),
        (None, []),
        ("None", ["none"]),
    ],
)
def test_pos_att_type_forms(value: object, expected: list[str]) -> None:
    assert DebertaConfig(pos_att_type=value).pos_att_type == expected  # type: ignore[arg-type]


def test_none_counts_in_the_scale_factor_as_in_transformers() -> None:
    assert DebertaConfig(pos_att_type="None").scale_factor == 2


def test_max_relative_positions_below_one_means_max_position_embeddings() -> None:
    assert DebertaConfig(max_relative_positions=0, max_position_embeddings=128).max_relative == 128
    assert DebertaConfig(max_relative_positions=7).max_relative == 7


def test_unknown_keys_are_kept_and_written_back() -> None:
    c = DebertaConfig.from_dict(
        {**DEBERTA_BASE, "pooling": {"dropout": 0}, "z_steps": 2, "transformers_version": "x"}
    )
    assert c.extra == {"pooling": {"dropout": 0}, "z_steps": 2, "transformers_version": "x"}
    assert c.to_dict()["z_steps"] == 2


def test_labels_from_json_with_string_keys() -> None:
    c = DebertaConfig.from_dict({"id2label": {"0": "CONTRADICTION", "1": "NEUTRAL", "2": "ENTAILMENT"}})
    assert c.num_labels == 3 and c.id2label[2] == "ENTAILMENT" and c.label2id["NEUTRAL"] == 1
    assert DebertaConfig.from_dict({"num_labels": 5}).id2label[4] == "LABEL_4"
    # transformers lets id2label win over a disagreeing num_labels
    assert DebertaConfig.from_dict({"num_labels": 5, "id2label": {"0": "a", "1": "b"}}).num_labels == 2


def test_round_trip_through_a_directory(tmp_path: Path) -> None:
    c = DebertaConfig.from_dict(
        {**DEBERTA_BASE, "num_labels": 3, "embedding_size": 512, "talking_head": True}
    )
    c.save_pretrained(tmp_path)
    again = DebertaConfig.from_pretrained(tmp_path)
    assert again == c
    assert json.loads((tmp_path / "config.json").read_text())["pos_att_type"] == ["c2p", "p2c"]


def test_reads_a_config_transformers_wrote(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    transformers.DebertaConfig(**DEBERTA_BASE, num_labels=3, legacy=False).save_pretrained(tmp_path)
    c = DebertaConfig.from_pretrained(tmp_path)
    assert c.pos_att_type == ["c2p", "p2c"] and c.num_labels == 3 and c.legacy is False


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"hidden_size": 100, "num_attention_heads": 12}, "hidden_size"),
        ({"pos_att_type": "c2p|p2p"}, "pos_att_type"),
        ({"pos_att_type": "c2q"}, "pos_att_type"),
        ({"hidden_act": "gelu_erf"}, "hidden_act"),
        ({"pooler_hidden_act": "softmax"}, "pooler_hidden_act"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_hidden_layers": -1}, "num_hidden_layers"),
        ({"num_attention_heads": 0}, "num_attention_heads"),
        ({"intermediate_size": 0}, "intermediate_size"),
        ({"vocab_size": -5}, "vocab_size"),
        ({"max_position_embeddings": 0}, "max_position_embeddings"),
        ({"embedding_size": 0}, "embedding_size"),
        ({"type_vocab_size": -1}, "type_vocab_size"),
        ({"layer_norm_eps": 0.0}, "layer_norm_eps"),
        ({"hidden_size": "768"}, "hidden_size"),
        ({"relative_attention": "yes"}, "relative_attention"),
        ({"num_labels": 0}, "num_labels"),
        ({"max_relative_positions": 1.5}, "max_relative_positions"),
        ({"pad_token_id": -1}, "pad_token_id"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        DebertaConfig.from_dict(values)
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"no config\.json"),  # no file at all
        ("{not json", r"config\.json: not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"hidden_act": "nope"}', r"config.json: config field hidden_act"),
    ],
)
def test_file_errors_name_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(ConfigError, match=message):
        DebertaConfig.from_pretrained(tmp_path)
