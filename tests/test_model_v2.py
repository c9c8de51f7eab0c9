"""DeBERTa-v2/v3: log buckets, the v2 attention, the ConvLayer, the config, the classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deberta_np import (
    DebertaV2Config,
    DebertaV2ForMaskedLM,
    DebertaV2ForMultipleChoice,
    DebertaV2Model,
    load_model,
    model_v2,
)
from deberta_np.errors import CheckpointError, ConfigError, InputError
from tests.conftest import golden_case

RNG = np.random.default_rng(7)


def test_log_buckets_keep_near_distances_and_are_odd() -> None:
    rel = np.arange(-3000, 3001, dtype=np.int64)
    bucket = model_v2.log_bucket_positions(rel, 256, 512)
    near = np.abs(rel) <= 128
    assert np.array_equal(bucket[near], rel[near])
    assert np.array_equal(bucket, -bucket[::-1])
    assert (np.diff(bucket) >= 0).all()  # monotone
    far = 128 + math.ceil(math.log(3000 / 128) / math.log(511 / 128) * 127)
    assert bucket[-1] == far  # the closed form at one far point


@pytest.mark.parametrize(
    ("buckets", "max_position"), [(256, 512), (256, 1024), (8, 32), (4, 64), (64, 512), (512, 512)]
)
def test_log_buckets_equal_transformers(buckets: int, max_position: int) -> None:
    torch = pytest.importorskip("torch")
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    rel = np.arange(-20000, 20001, dtype=np.int64)
    expected = make_log_bucket_position(torch.from_numpy(rel), buckets, max_position).long().numpy()
    assert np.array_equal(model_v2.log_bucket_positions(rel, buckets, max_position), expected)


def test_conv1d_equals_a_direct_loop() -> None:
    b, length, hidden, kernel, groups = 2, 7, 6, 5, 3
    x = RNG.normal(size=(b, length, hidden))
    weight = RNG.normal(size=(hidden, hidden // groups, kernel))
    bias = RNG.normal(size=hidden)
    got = model_v2.conv1d(x, weight, bias, groups)
    width, half = hidden // groups, kernel // 2
    expected = np.zeros_like(got)
    for i in range(b):
        for t in range(length):
            for o in range(hidden):
                g = o // width
                total = bias[o]
                for c in range(width):
                    for j in range(kernel):
                        s = t + j - half
                        if 0 <= s < length:
                            total += weight[o, c, j] * x[i, s, g * width + c]
                expected[i, t, o] = total
    assert np.allclose(got, expected, atol=1e-12)


def test_conv1d_equals_torch() -> None:
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 9, 8))
    conv = torch.nn.Conv1d(8, 8, 3, padding=1, groups=2, dtype=torch.float64)
    expected = conv(torch.from_numpy(x).permute(0, 2, 1)).permute(0, 2, 1).detach().numpy()
    got = model_v2.conv1d(x, conv.weight.detach().numpy(), conv.bias.detach().numpy(), 2)
    assert np.allclose(got, expected, atol=1e-12)


def v2_config(**overrides: object) -> DebertaV2Config:
    values = {"vocab_size": 30, "hidden_size": 12, "num_attention_heads": 3, "num_hidden_layers": 1,
              "intermediate_size": 7, "relative_attention": True, "pos_att_type": "p2c|c2p",
              "position_biased_input": False, "max_position_embeddings": 32}  # fmt: skip
    return DebertaV2Config.from_dict({**values, **overrides})


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize(("buckets", "max_relative", "length"), [(-1, 4, 9), (4, 16, 14), (-1, -1, 6)])
def test_v2_bias_equals_the_closed_form(share: bool, buckets: int, max_relative: int, length: int) -> None:
    config = v2_config(position_buckets=buckets, max_relative_positions=max_relative, share_att_key=share)
    n, d, span = 3, 4, config.position_span
    table = RNG.normal(size=(2 * span, 12))
    names = ("query_proj", "key_proj") if share else ("pos_query_proj", "pos_key_proj")
    p = {name: {"weight": RNG.normal(size=(12, 12)), "bias": RNG.normal(size=12)} for name in names}
    q, k = RNG.normal(size=(1, n, length, d)), RNG.normal(size=(1, n, length, d))
    got = model_v2.disentangled_bias(q, k, table, p, config)
    rel = model_v2.relative_positions(length, config, np)
    pos_key = table @ p[names[1]]["weight"].T + p[names[1]]["bias"]
    pos_query = table @ p[names[0]]["weight"].T + p[names[0]]["bias"]
    scale = math.sqrt(d * 3)
    for h in range(n):
        for i in range(length):
            for j in range(length):
                row = min(max(int(rel[i, j]) + span, 0), 2 * span - 1)
                expected = (
                    q[0, h, i] @ pos_key[row, h * d : (h + 1) * d]
                    + k[0, h, j] @ pos_query[row, h * d : (h + 1) * d]
                ) / scale
                assert abs(got[0, h, i, j] - expected) < 1e-12


def test_v2_config_defaults_and_validation() -> None:
    c = DebertaV2Config()
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.position_buckets, c.model_type) == (
        128100,
        1536,
        24,
        -1,
        "deberta-v2",
    )
    assert (
        c.norm_rel_ebd == ["none"]
        and c.share_att_key is False
        and c.conv_kernel_size == 0
        and c.conv_act == "tanh"
    )
    assert DebertaV2Config(pos_att_type="c2p|p2c|none").scale_factor == 3  # v2 counts c2p and p2c only
    v3 = DebertaV2Config.from_dict(
        {"hidden_size": 768, "num_attention_heads": 12, "position_buckets": 256, "norm_rel_ebd": "layer_norm"}
    )
    assert (
        v3.head_dim == 64
        and v3.norm_rel_ebd == ["layer_norm"]
        and v3.to_dict()["norm_rel_ebd"] == "layer_norm"
    )
    for values, field in [
        ({"conv_kernel_size": 2}, "conv_kernel_size"),
        ({"conv_groups": 5}, "conv_groups"),
        ({"conv_act": "nope"}, "conv_act"),
        ({"norm_rel_ebd": "batch_norm"}, "norm_rel_ebd"),
        ({"attention_head_size": 32}, "attention_head_size"),
        (
            {"position_buckets": 8, "max_relative_positions": 5, "relative_attention": True},
            "max_relative_positions",
        ),
        ({"share_att_key": "yes"}, "share_att_key"),
    ]:
        with pytest.raises(ConfigError, match=field):
            DebertaV2Config.from_dict(values)


def test_classes_pick_the_right_family() -> None:
    with pytest.raises(ConfigError, match="use the Deberta\\* classes"):
        DebertaV2Model.from_pretrained(golden_case("base-c2p-p2c"))
    assert isinstance(
        load_model(golden_case("v2-v3-like-buckets-shared-key"), "sequence_classification"), object
    )
    assert type(load_model(golden_case("base-c2p-p2c"))).__name__ == "DebertaModel"
    with pytest.raises(ValueError, match="unknown head 'multiple_choice' for a deberta checkpoint"):
        load_model(golden_case("base-c2p-p2c"), "multiple_choice")


def test_multiple_choice_inputs() -> None:
    model = DebertaV2ForMultipleChoice.from_pretrained(golden_case("v2-multiple-choice"))
    out = model(
        [[[1, 5, 9, 2], [1, 6, 2, 0], [1, 7, 8, 2]]],
        attention_mask=[[[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]],
    )
    assert out.logits.shape == (1, 3)
    with pytest.raises(InputError, match="3-D"):
        model([[1, 5, 9, 2]])
    with pytest.raises(InputError, match="attention_mask has shape"):
        model([[[1, 5], [1, 6]]], attention_mask=[[1, 1]])


def test_a_v3_discriminator_is_refused_for_fill_mask(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from deberta_np.checkpoint_files import read_state_dict
    from deberta_np.safetensors_io import write_safetensors

    source = golden_case("v2-xlarge-like-conv-mlm")
    target = Path(str(tmp_path))
    state = {k: np.ascontiguousarray(v) for k, v in read_state_dict(source).items()}
    state["mask_predictions.classifier.weight"] = np.zeros(
        (1, 32), np.float32
    )  # the RTD head of v3 checkpoints
    write_safetensors(target / "model.safetensors", state)
    (target / "config.json").write_text((source / "config.json").read_text())
    with pytest.raises(CheckpointError, match="replaced-token-detection discriminator"):
        DebertaV2ForMaskedLM.from_pretrained(target)
    assert DebertaV2Model.from_pretrained(target).head == "base"  # the encoder itself is fine
    assert json.loads((target / "config.json").read_text())["model_type"] == "deberta-v2"
