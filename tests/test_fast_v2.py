"""The fast path for DeBERTa-v2/v3 (deberta_np/fast_v2.py) equals the readable one (model_v2.py), trick by trick.

Tolerances as in tests/test_fast.py: reordered sums along the encoder's chain (tests/tolerance.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deberta_np import DebertaV2Config, DebertaV2Model, fast, model_v2
from deberta_np.fast_v2 import FastDebertaV2
from deberta_np.modeling import V2_MODEL_CLASSES
from deberta_np.parameters import leaves
from tests.conftest import to_array_api_strict
from tests.test_fast import (
    GOLDEN,
    V2_CASES,
    VARIANTS,
    assert_close,
    assert_same_encoding,
    golden_inputs,
    head_terms,
    random_params,
)
from tests.tolerance import encoder_terms


def v2_config(**overrides: object) -> DebertaV2Config:
    values = {
        "vocab_size": 40,
        "hidden_size": 12,
        "num_hidden_layers": 2,
        "num_attention_heads": 3,
        "intermediate_size": 10,
        "max_position_embeddings": 64,
        "relative_attention": True,
        "position_biased_input": False,
        "pos_att_type": "p2c|c2p",
        "hidden_act": "gelu",
        "type_vocab_size": 0,
    }
    return DebertaV2Config.from_dict({**values, **overrides})


def inputs(batch: int, length: int, seed: int, padded: bool = True) -> tuple[np.ndarray, ...]:
    """ids, attention mask (right padding and a hole when `padded`), token types and positions."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 40, size=(batch, length))
    mask = np.ones((batch, length), dtype=np.int64)
    if padded and batch > 1:
        mask[1, length // 2 :] = 0  # right padding
        mask[-1, 0] = 0  # a masked first token, as in transformers' tests
    return ids, mask, rng.integers(0, 2, size=(batch, length)), np.arange(length)[None, :]


# Each config with lengths inside and beyond the strided range (bucket identity, C = position_span) and beyond P
CONFIGS = {
    "v3-like: buckets, shared key, layer-normed table": (
        {
            "position_buckets": 8,
            "max_relative_positions": 16,
            "share_att_key": True,
            "norm_rel_ebd": "layer_norm",
        },
        (3, 5, 7, 12, 20),
    ),
    "buckets, own position projections": ({"position_buckets": 6, "max_relative_positions": 32}, (4, 9, 40)),
    "no buckets, clipped (P = 4)": ({"max_relative_positions": 4}, (3, 4, 9)),
    "no buckets, P = max_position_embeddings": ({"max_relative_positions": -1}, (6, 17)),
    "c2p only, shared key": ({"pos_att_type": "c2p", "share_att_key": True, "position_buckets": 8}, (5, 11)),
    "p2c only, layer norm": (
        {"pos_att_type": "p2c", "norm_rel_ebd": "layer_norm", "max_relative_positions": 6},
        (8,),
    ),
    "pos_att_type none": ({"pos_att_type": "none", "max_relative_positions": 5}, (7,)),
    "no relative attention, absolute positions and types": (
        {"relative_attention": False, "position_biased_input": True, "type_vocab_size": 2},
        (6,),
    ),
    "conv 3, tanh, v2-xlarge-like": (
        {"conv_kernel_size": 3, "position_buckets": 8, "norm_rel_ebd": "layer_norm"},
        (2, 9),
    ),
    "conv 5, 3 groups, gelu, embed_proj": (
        {
            "conv_kernel_size": 5,
            "conv_groups": 3,
            "conv_act": "gelu",
            "embedding_size": 8,
            "max_relative_positions": 3,
        },
        (1, 4, 8),
    ),
    "conv 1, 2 groups, relu, 4 heads of 3": (
        {
            "conv_kernel_size": 1,
            "conv_groups": 2,
            "conv_act": "relu",
            "num_attention_heads": 4,
            "share_att_key": True,
        },
        (5,),
    ),
    "tanh-GELU, zeroed fully masked rows, one layer": (
        {
            "hidden_act": "gelu_new",
            "zero_fully_masked_rows": True,
            "num_hidden_layers": 1,
            "position_buckets": 4,
        },
        (3, 10),
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_random_configs_every_variant(name: str, dtype: type) -> None:
    overrides, lengths = CONFIGS[name]
    config = v2_config(**overrides)
    p = random_params(config, len(name), dtype)
    encoders = {
        variant: FastDebertaV2(p, config, tricks, threads=threads)
        for variant, (tricks, threads) in VARIANTS.items()
    }
    for length in lengths:
        for batch in (1, 3):
            args = inputs(batch, length, seed=length)
            reference = model_v2.deberta(*args, p, config, True, True)
            for variant, encoder in encoders.items():
                try:
                    assert_same_encoding(encoder(args, True, True), reference, config)
                except AssertionError as error:
                    raise AssertionError(f"{variant}, length {length}, batch {batch}: {error}") from None
            last, hidden, attentions = encoders["default"](args)  # nothing asked: nothing kept
            assert_close(last, reference[0], "last hidden state", encoder_terms(config, length))
            assert hidden == [] and attentions == []


def test_strided_range_of_the_buckets() -> None:
    """v3-base's buckets (256, P 512) keep distances up to 131: lengths up to 132 take the strided skew."""
    v3 = v2_config(position_buckets=256, max_relative_positions=512, hidden_size=12, num_hidden_layers=1)
    encoder = FastDebertaV2(random_params(v3, 0, np.float32), v3)
    bucket = model_v2.log_bucket_positions(np.arange(300), 256, 512)
    assert encoder.plain_up_to == int(np.argmax(bucket != np.arange(300))) - 1 == 131
    modes = [encoder._window(n).mode for n in (1, 128, 132, 133, 256, 257, 600)]
    assert modes == ["strided"] * 3 + ["flat"] * 4
    window = encoder._window(200)  # distances up to 199 fall in the buckets +-169: 339 of the 512 rows
    assert (window.lo, window.hi) == (256 - 169, 256 + 170)
    plain = v2_config(max_relative_positions=6)
    encoder = FastDebertaV2(random_params(plain, 0, np.float32), plain)
    assert [encoder._window(n).mode for n in (6, 7)] == ["strided", "flat"]


# ================================================================================================================
# Hypothesis: random tiny v2 configs and padded batches, every variant
# ================================================================================================================


@st.composite
def configs(draw: st.DrawFn) -> DebertaV2Config:
    heads = draw(st.sampled_from([1, 2, 3]))
    hidden = heads * draw(st.sampled_from([2, 4]))
    buckets = draw(st.sampled_from([-1, -1, 4, 8]))
    return v2_config(
        hidden_size=hidden,
        num_attention_heads=heads,
        num_hidden_layers=draw(st.integers(1, 2)),
        intermediate_size=draw(st.integers(3, 12)),
        hidden_act=draw(st.sampled_from(["gelu", "tanh"])),
        relative_attention=draw(st.sampled_from([True, True, False])),
        position_buckets=buckets,
        max_relative_positions=draw(st.sampled_from([-1, 3, 9] if buckets < 0 else [12, 20])),
        pos_att_type=draw(st.sampled_from(["c2p|p2c", "c2p", "p2c", "none"])),
        share_att_key=draw(st.booleans()),
        norm_rel_ebd=draw(st.sampled_from(["none", "layer_norm"])),
        conv_kernel_size=draw(st.sampled_from([0, 0, 1, 3])),
        conv_groups=draw(st.sampled_from([1, heads])),
        conv_act=draw(st.sampled_from(["tanh", "gelu"])),
        zero_fully_masked_rows=draw(st.booleans()),
    )


@settings(max_examples=40, deadline=None)
@given(
    config=configs(),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 24)),
    seed=st.integers(0, 2**16),
    variant=st.sampled_from(sorted(VARIANTS)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_hypothesis_configs(
    config: DebertaV2Config, shape: tuple, seed: int, variant: str, dtype: type
) -> None:
    p = random_params(config, seed, dtype)
    args = inputs(*shape, seed=seed, padded=seed % 2 == 0)
    before = [a.copy() for a in args]
    tricks, threads = VARIANTS[variant]
    reference = model_v2.deberta(*args, p, config, True, True)
    assert_same_encoding(
        FastDebertaV2(p, config, tricks, threads=threads)(args, True, True), reference, config
    )
    assert all(np.array_equal(a, b) for a, b in zip(args, before))  # inputs are never written


def test_parameters_are_never_written() -> None:
    config = v2_config(conv_kernel_size=3, position_buckets=4, share_att_key=True, norm_rel_ebd="layer_norm")
    p = random_params(config, 0, np.float32)
    for array in leaves(p):
        array.flags.writeable = False  # a write raises
    args = inputs(2, 7, seed=0)
    for tricks, threads in (VARIANTS["default"], (fast.Tricks(parallel="shards"), 2), (fast.OFF, 1)):
        FastDebertaV2(p, config, tricks, threads=threads)(args, True, True)


# ================================================================================================================
# Through the model classes: fast=True (the default) runs fast_v2 and equals fast=False
# ================================================================================================================


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", V2_CASES)
def test_public_classes_dispatch(case: str, dtype: str) -> None:
    batch, head = golden_inputs(case)
    models = [
        V2_MODEL_CLASSES[head].from_pretrained(GOLDEN / case, dtype=dtype, fast=flag)
        for flag in (True, False)
    ]
    assert isinstance(models[0]._fast_path(), FastDebertaV2) and models[1]._fast_encoder is None
    outputs = [m(**batch, output_hidden_states=True, output_attentions=True) for m in models]
    assert outputs[0].keys() == outputs[1].keys()
    terms = head_terms(models[1].config, batch["input_ids"].shape[-1])
    for key in outputs[0].keys():
        for a, b in zip(np.atleast_1d(outputs[0][key]), np.atleast_1d(outputs[1][key])):
            assert_close(np.asarray(a), np.asarray(b), key, terms)
    assert all(x.flags.c_contiguous for x in outputs[0].hidden_states)


def test_float16_stays_on_model_v2() -> None:
    for case in V2_CASES:
        assert DebertaV2Model.from_pretrained(GOLDEN / case, dtype="float16")._fast_path() is None


def test_fast_false_runs_model_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    case = GOLDEN / "v2-v3-like-buckets-shared-key"
    calls = []
    original = model_v2.deberta
    monkeypatch.setattr(model_v2, "deberta", lambda *a, **k: calls.append(1) or original(*a, **k))
    DebertaV2Model.from_pretrained(case, fast=False)([[5, 6, 7]])
    assert calls == [1]
    DebertaV2Model.from_pretrained(case)([[5, 6, 7]])
    assert calls == [1]  # the fast path ran


@pytest.mark.parametrize("threads", [1, 2])
def test_portable_branches_under_array_api_strict(threads: int) -> None:
    """Off NumPy the v2 fast path uses only the standard (flat-index gathers, no out=, no strided views)."""
    xps = pytest.importorskip("array_api_strict")
    xps.set_array_api_strict_flags(api_version="2024.12")

    config = v2_config(
        conv_kernel_size=3, conv_groups=3, position_buckets=4, share_att_key=True, norm_rel_ebd="layer_norm"
    )
    for dtype in (np.float32, np.float64):
        p = random_params(config, 5, dtype)
        args = inputs(3, 9, seed=1)
        reference = model_v2.deberta(*args, p, config, True, True)
        encoder = FastDebertaV2(to_array_api_strict(p), config, threads=threads)
        got = encoder(tuple(xps.asarray(a) for a in args), True, True)
        assert_same_encoding(
            (np.asarray(got[0]), [np.asarray(a) for a in got[1]], [np.asarray(a) for a in got[2]]),
            reference,
            config,
        )
