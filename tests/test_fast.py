"""The fast path (deberta_np/fast.py) equals the readable one (model.py), trick by trick.

Tolerances (tests/tolerance.py): the fast path computes the same sums as the readable one in another order, so
the two agree within twice the rounding bound of the encoder's longest chain of reductions (tolerance.encoder_terms)
on values of the tensor's own magnitude, in float32 and float64 alike, under any BLAS kernel.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.check import GOLDEN
from deberta_np import DebertaConfig, DebertaModel, fast, model
from deberta_np.family import family_of
from deberta_np.modeling import MODEL_CLASSES, DebertaV2Model
from deberta_np.parameters import PREFIX, leaves, nest
from deberta_np.safetensors_io import read_safetensors
from tests.conftest import to_array_api_strict
from tests.tolerance import encoder_terms, reordering_tolerance

V1_CASES = sorted(
    p.name
    for p in GOLDEN.iterdir()
    if (p / "golden.safetensors").exists() and '"deberta-v2"' not in (p / "config.json").read_text()
)
V2_CASES = sorted(
    p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists() and p.name not in V1_CASES
)
VARIANTS = {
    "default": (fast.Tricks(), 1),
    "all tricks off": (fast.OFF, 1),
    "flat gathers, small blocks and chunks, 2 threads": (
        fast.Tricks(gather="flat", block_bytes=1, tokens_per_chunk=5),
        2,
    ),
    "readable gathers, 3 threads": (fast.Tricks(gather="readable"), 3),
    "no position cache, 2 threads": (fast.Tricks(position_cache=False), 2),
    "bands of 4 relative rows": (fast.Tricks(band=4), 1),
    "bands of 3 rows, sequences shared by 2 threads": (fast.Tricks(band=3, parallel="shards"), 2),
    "3 threads, one group of sequences each": (fast.Tricks(parallel="groups"), 3),
    "weight products by pieces of 3 rows": (fast.Tricks(skinny_rows=3), 1),
    "pieces of 2 rows, sequences shared by 2 threads": (fast.Tricks(skinny_rows=2, parallel="shards"), 2),
    "pieces of 3 rows shared by 2 threads (products)": (fast.Tricks(skinny_rows=3, parallel="products"), 2),
}


def assert_close(ours: np.ndarray, reference: np.ndarray, what: str, terms: int) -> None:
    """`ours` equals `reference` up to reordered sums of `terms` terms (tests/tolerance.py)."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype, what
    difference = float(np.abs(ours.astype(np.float64) - reference.astype(np.float64)).max(initial=0.0))
    limit = reordering_tolerance(reference.dtype, terms, float(np.abs(reference).max(initial=0.0)))
    assert difference <= limit, f"{what}: {difference:.2e} > {limit:.2e}"


def head_terms(config: DebertaConfig, length: int) -> int:
    """The encoder's chain, then a head's (at most three reductions of `hidden` terms: the MLM head's)."""
    return encoder_terms(config, length) + 3 * config.hidden_size


def assert_same_encoding(ours: tuple, reference: tuple, config: DebertaConfig) -> None:
    h, hidden, attentions = ours
    terms = encoder_terms(config, h.shape[-2])
    assert_close(h, reference[0], "last hidden state", terms)
    assert len(hidden) == len(reference[1]) and len(attentions) == len(reference[2])
    for i, (a, b) in enumerate(zip(hidden, reference[1])):
        assert_close(a, b, f"hidden state {i}", terms)
    for i, (a, b) in enumerate(zip(attentions, reference[2])):
        assert_close(a, b, f"attentions {i} (every head)", terms)


def golden_inputs(case: str) -> tuple[dict[str, np.ndarray], str]:
    golden, metadata = read_safetensors(GOLDEN / case / "golden.safetensors")
    return {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}, metadata["head"]


# ================================================================================================================
# Every golden model, every trick switched off in turn, both padded-row modes
# ================================================================================================================


def test_the_golden_cases_are_found() -> None:
    assert len(V1_CASES) >= 10


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", V1_CASES)
def test_golden_models(case: str, dtype: str) -> None:
    inputs, head = golden_inputs(case)
    for zero_rows in (False, True):
        readable = MODEL_CLASSES[head].from_pretrained(
            GOLDEN / case, dtype=dtype, fast=False, zero_fully_masked_rows=zero_rows
        )
        args = readable.prepare_inputs(
            (
                inputs["input_ids"],
                inputs.get("attention_mask"),
                inputs.get("token_type_ids"),
                inputs.get("position_ids"),
            )
        )
        p, config = readable.params[PREFIX[:-1]], readable.config
        reference = model.deberta(*args, p, config, True, True)
        for tricks, threads in VARIANTS.values():
            encoder = fast.FastDeberta(p, config, tricks, threads=threads)
            assert_same_encoding(encoder(args, True, True), reference, config)


@pytest.mark.parametrize("case", V1_CASES)
def test_public_classes_dispatch(case: str) -> None:
    """fast=True (the default) and fast=False give the same outputs through the public classes, every head."""
    inputs, head = golden_inputs(case)
    outputs = [
        MODEL_CLASSES[head].from_pretrained(GOLDEN / case, fast=flag)(
            **inputs, output_hidden_states=True, output_attentions=True
        )
        for flag in (True, False)
    ]
    assert outputs[0].keys() == outputs[1].keys()
    terms = head_terms(DebertaConfig.from_pretrained(GOLDEN / case), inputs["input_ids"].shape[-1])
    for key in outputs[0].keys():
        for a, b in zip(np.atleast_1d(outputs[0][key]), np.atleast_1d(outputs[1][key])):
            assert_close(np.asarray(a), np.asarray(b), key, terms)
    assert all(x.flags.c_contiguous for x in outputs[0].hidden_states)


# ================================================================================================================
# Hypothesis: random tiny configs, padded batches, lengths above max_relative_positions, every variant
# ================================================================================================================


def random_params(config: DebertaConfig, seed: int, dtype: type) -> dict:
    """Random encoder parameters in the readable module's nested layout (LayerNorm weights near 1); v1 or v2."""
    rng = np.random.default_rng(seed)
    flat = {}
    for name, shape in family_of(config).spec.encoder_parameter_shapes(config).items():
        value = rng.normal(0.0, 0.3, size=shape)
        if "LayerNorm.weight" in name:
            value = 1.0 + 0.1 * value
        flat[name] = value.astype(dtype)
    return nest(flat)


@st.composite
def encoders(draw: st.DrawFn) -> tuple[DebertaConfig, dict]:
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    config = DebertaConfig(
        vocab_size=40,
        hidden_size=heads * draw(st.sampled_from([2, 4, 8])),
        num_hidden_layers=draw(st.integers(1, 2)),
        num_attention_heads=heads,
        intermediate_size=draw(st.integers(3, 20)),
        hidden_act=draw(st.sampled_from(["gelu", "gelu", "tanh", "gelu_new"])),
        max_position_embeddings=40,
        relative_attention=draw(st.sampled_from([True, True, False])),
        max_relative_positions=draw(st.sampled_from([-1, 2, 5, 9])),
        pos_att_type=draw(st.sampled_from(["c2p|p2c", "c2p", "p2c", "none"])),
        position_biased_input=draw(st.booleans()),
        type_vocab_size=draw(st.sampled_from([0, 2])),
        talking_head=draw(st.booleans()),
        zero_fully_masked_rows=draw(st.booleans()),
    )
    return config, {"seed": draw(st.integers(0, 2**16))}


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    batch, length = draw(st.integers(1, 4)), draw(st.integers(1, 22))
    ids = np.array(draw(st.lists(st.integers(0, 39), min_size=batch * length, max_size=batch * length)))
    lengths = draw(st.lists(st.integers(0, length), min_size=batch, max_size=batch))
    mask = (np.arange(length)[None, :] < np.array(lengths)[:, None]).astype(np.int64)  # right padding
    if draw(st.booleans()):  # and holes anywhere (a masked first token, as in transformers' tests)
        holes = draw(st.lists(st.booleans(), min_size=batch * length, max_size=batch * length))
        mask = mask * (1 - np.array(holes, dtype=np.int64).reshape(batch, length) * draw(st.integers(0, 1)))
    types = np.array(draw(st.lists(st.integers(0, 1), min_size=batch * length, max_size=batch * length)))
    positions = np.arange(length, dtype=np.int64)[None, :] + draw(st.integers(0, 5))
    shape = (batch, length)
    return ids.reshape(shape).astype(np.int64), mask, types.reshape(shape).astype(np.int64), positions


@settings(max_examples=60, deadline=None)
@given(
    drawn=encoders(),
    inputs=batches(),
    variant=st.sampled_from(sorted(VARIANTS)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_hypothesis_inputs(drawn: tuple, inputs: tuple, variant: str, dtype: type) -> None:
    config, extra = drawn
    p = random_params(config, extra["seed"], dtype)
    ids, mask, types, positions = inputs
    reference = model.deberta(ids, mask, types, positions, p, config, True, True)
    tricks, threads = VARIANTS[variant]
    encoder = fast.FastDeberta(p, config, tricks, threads=threads)
    before = ids.copy(), mask.copy(), types.copy(), positions.copy()
    assert_same_encoding(encoder((ids, mask, types, positions), True, True), reference, config)
    for original, now in zip(before, (ids, mask, types, positions)):
        assert np.array_equal(original, now)  # inputs are never written


def tiny_config(**sizes: int) -> DebertaConfig:
    """A v1 config of width 8 (two heads of 4) with relative c2p|p2c attention; `sizes` give the rest."""
    return DebertaConfig(
        vocab_size=40,
        hidden_size=8,
        num_attention_heads=2,
        relative_attention=True,
        pos_att_type="c2p|p2c",
        max_position_embeddings=40,
        **sizes,
    )


def test_parameters_are_never_written() -> None:
    config = tiny_config(num_hidden_layers=2, intermediate_size=12, max_relative_positions=3)
    p = random_params(config, 0, np.float32)
    for array in leaves(p):
        array.flags.writeable = False  # a write raises
    ids = np.arange(14, dtype=np.int64).reshape(2, 7) % 40
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3])
    for threads in (1, 2):
        encoder = fast.FastDeberta(p, config, threads=threads)
        encoder((ids, mask, np.zeros_like(ids), np.arange(7)[None, :]), True, True)


@pytest.mark.parametrize("band", [32, 8])
def test_threads_running_at_once_give_the_readable_result_every_time(band: int) -> None:
    """Two worker threads multiplying at once, call after call, padded batches. NumPy 2.4's matmul over OpenBLAS
    0.3.31 on stacked operands that were both transposed views sometimes returned wrong products when two
    threads called it at once (about 1 forward in 100 here, with bands of 32 rows at 66 tokens); the fast path
    now hands BLAS one C-ordered operand there."""
    config = DebertaConfig(
        vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        relative_attention=True, pos_att_type="c2p|p2c", max_position_embeddings=512,
    )  # fmt: skip
    p = random_params(config, 7, np.float32)
    encoder = fast.FastDeberta(p, config, fast.Tricks(band=band), threads=2)
    rng = np.random.default_rng(7)
    for length in (66, 70, 100, 130):
        ids = rng.integers(5, 1000, (8, length))
        mask = (np.arange(length)[None, :] < length - rng.integers(0, 3, (8, 1))).astype(np.int64)
        inputs = (ids, mask, np.zeros_like(ids), np.arange(length)[None, :])
        expected = model.deberta(*inputs, p, config)[0]
        limit = 2 * reordering_tolerance(np.float32, encoder_terms(config, length), 1.0)
        worst = max(
            float((np.abs(encoder(inputs)[0] - expected) * mask[..., None]).max()) for _ in range(150)
        )
        assert worst <= limit * max(1.0, float(np.abs(expected).max()))


def test_band_products_hand_blas_one_c_ordered_operand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workaround the test above exercises, checked directly: every band product has a C-ordered operand."""
    config = tiny_config(num_hidden_layers=1, intermediate_size=12, max_relative_positions=-1)
    p = random_params(config, 3, np.float32)
    seen = []
    real = fast._matmul

    def recorded(a, b, out=None):
        if a.ndim == 4 and b.ndim == 3:  # [b, h, band, d] @ [h, d, columns]: the band products
            seen.append(a.flags.c_contiguous or b.flags.c_contiguous or a[0, 0].flags.c_contiguous)
        return real(a, b, out)

    monkeypatch.setattr(fast, "_matmul", recorded)
    ids = np.arange(24, dtype=np.int64).reshape(2, 12) % 40
    inputs = (ids, np.ones_like(ids), np.zeros_like(ids), np.arange(12)[None, :])
    fast.FastDeberta(p, config, fast.Tricks(band=4), threads=2)(inputs)
    assert seen and all(seen)


# ================================================================================================================
# The switch, the caches, the pieces
# ================================================================================================================


def test_fast_false_runs_model_py(monkeypatch: pytest.MonkeyPatch) -> None:
    case = GOLDEN / "base-c2p-p2c"
    readable = DebertaModel.from_pretrained(case, fast=False)
    assert readable.fast is False and readable._fast_encoder is None  # no caches built
    calls = []
    original = model.deberta
    monkeypatch.setattr(model, "deberta", lambda *a, **k: calls.append(1) or original(*a, **k))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast path ran")

    monkeypatch.setattr(fast.FastDeberta, "__call__", refuse)
    readable([[5, 6, 7]])
    assert calls == [1]
    faster = DebertaModel.from_pretrained(case)
    assert faster.fast is True and faster._fast_encoder is not None  # caches built at load
    with pytest.raises(AssertionError, match="the fast path ran"):
        faster([[5, 6, 7]])
    faster.fast = False  # switched off after loading
    faster([[5, 6, 7]])
    assert calls == [1, 1]


def test_position_cache_is_built_at_load() -> None:
    encoder = DebertaModel.from_pretrained(GOLDEN / "base-c2p-p2c")._fast_encoder
    config = encoder.config
    assert len(encoder.positions) == config.num_hidden_layers
    key, query = encoder.positions[0]
    p = encoder.p["encoder"]["layer"][0]["attention"]["self"]
    rel = encoder.p["encoder"]["rel_embeddings"]["weight"]
    n = config.num_attention_heads
    assert np.allclose(key, model.split_heads(model.linear(rel, p["pos_proj"]), n), atol=1e-6)
    scale = model.attention_scale(config)
    assert np.allclose(query, model.split_heads(model.linear(rel, p["pos_q_proj"]), n) / scale, atol=1e-6)


def test_float16_stays_on_model_py_and_v2_gets_its_own_class() -> None:
    assert DebertaModel.from_pretrained(GOLDEN / "base-c2p-p2c", dtype="float16")._fast_path() is None
    assert V2_CASES
    for name in V2_CASES:  # tests/test_fast_v2.py tests it
        assert type(DebertaV2Model.from_pretrained(GOLDEN / name)._fast_path()).__name__ == "FastDebertaV2"
    v2 = DebertaV2Model.from_pretrained(GOLDEN / V2_CASES[0], fast=False)
    with pytest.raises(ValueError, match="readable module"):  # not its model: family.py picks the class
        fast.FastDeberta(v2.params[PREFIX[:-1]], v2.config)


def test_gather_index_cache_is_bounded_and_lru() -> None:
    config = tiny_config(num_hidden_layers=1, intermediate_size=8, max_relative_positions=2)
    encoder = fast.FastDeberta(random_params(config, 1, np.float64), config, max_lengths=3)
    for length in (5, 6, 7, 5, 8):  # 5 is used again, so 6 is the oldest when 8 arrives
        ids = np.ones((1, length), dtype=np.int64)
        encoder((ids, np.ones_like(ids), np.zeros_like(ids), np.arange(length)[None, :]))
        assert len(encoder._indices) <= 3
    assert list(encoder._indices) == [7, 5, 8]


@pytest.mark.parametrize("transpose", [False, True])
def test_strided_skew_equals_the_gather(transpose: bool) -> None:
    length = 7
    r = np.random.default_rng(3).normal(size=(2, 3, length, 2 * length))[:, ::2]  # strided leading axes
    rel = model.relative_positions(length, np)
    if transpose:
        expected = np.swapaxes(
            model.shim.take_along_last(r, np.clip(-rel + length, 0, 2 * length - 1)), -1, -2
        )
    else:
        expected = model.shim.take_along_last(r, np.clip(rel + length, 0, 2 * length - 1))
    assert np.array_equal(fast._skew(r, transpose), expected)


def test_skinny_pieces_fit_the_small_kernels() -> None:
    assert fast.skinny_rows(2304, 768, 16) == 72  # a divisor: one batched product
    assert fast.skinny_rows(768, 3072, 16) == 16
    assert fast.skinny_rows(1009, 768, 16) == 81  # no divisor near the largest size: a remainder of 37 rows
    for rows, inner, tokens in [(2304, 768, 16), (768, 3072, 16), (1009, 768, 16), (3072, 768, 100)]:
        piece = fast.skinny_rows(rows, inner, tokens)
        assert 8 <= piece < rows and piece * inner * tokens <= fast._SMALL_PRODUCT
    assert fast.skinny_rows(768, 768, 200) == 0  # pieces thinner than 8 rows
    assert fast.skinny_rows(64, 768, 16) == 0  # small already


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skinny_matmul_equals_the_product(dtype: type) -> None:
    rng = np.random.default_rng(5)
    weight = rng.normal(size=(50, 80)).astype(dtype)[:, 3:40]  # a column slice: rows are strided
    x = rng.normal(size=(37, 5)).astype(dtype)
    exact = weight.astype(np.float64) @ x.astype(np.float64)
    limit = reordering_tolerance(np.dtype(dtype), 37, float((np.abs(weight) @ np.abs(x)).max()))
    for rows in (7, 10, 49):  # a remainder of 1 row, none, one piece and a remainder
        assert np.abs(fast.skinny_matmul(weight, x, rows) - exact).max() <= limit
        buffer = np.full((50, 9), np.nan, dtype=dtype)
        out = buffer[:, 2:7]  # a strided output, written in place
        assert fast.skinny_matmul(weight, x, rows, out=out) is out
        assert np.abs(out - exact).max() <= limit
        assert np.isnan(buffer[:, :2]).all() and np.isnan(buffer[:, 7:]).all()


def test_gelu_float32_accuracy() -> None:
    x = np.linspace(-14.0, 14.0, 400_001, dtype=np.float32)
    exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in x.astype(np.float64)])
    ours = fast.gelu_(x.copy())
    assert np.abs(ours - exact).max() <= 3e-7  # model.gelu in float32: 4.5e-7
    assert np.abs(ours - model.gelu(x)).max() <= 6e-7
    x = np.array([0.0, -0.0, np.inf, 1e30, 20.0, -np.inf, -1e30, -20.0], dtype=np.float32)
    special = fast.gelu_(x.copy())
    assert np.array_equal(special[:5], x[:5])  # x Phi(x) = x there
    assert np.abs(special[5:]).max() < 1e-31  # and 0 up to float32 resolution (|x| is clamped at 12)
    assert np.isnan(fast.gelu_(np.array([np.nan], dtype=np.float32)))[0]


# ================================================================================================================
# Other backends: the portable branches (what CuPy runs), under array-api-strict
# ================================================================================================================


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "case", ["base-c2p-p2c", "p2c-clamped-talking-head", "c2p-clamped-abs-types-embproj"]
)
def test_portable_branches_under_array_api_strict(case: str, threads: int) -> None:
    """Off NumPy the fast path uses only the standard (flat-index gathers, no out=, no strided views)."""
    xps = pytest.importorskip("array_api_strict")
    xps.set_array_api_strict_flags(api_version="2024.12")

    for dtype in ("float32", "float64"):
        readable = DebertaModel.from_pretrained(GOLDEN / case, dtype=dtype, fast=False)
        ids = np.random.default_rng(0).integers(1, readable.config.vocab_size, size=(3, 9))
        mask = np.ones((3, 9), dtype=np.int64)
        mask[1, 6:] = 0
        args = (ids, mask, np.zeros_like(ids), np.arange(9)[None, :])
        reference = model.deberta(*args, readable.params[PREFIX[:-1]], readable.config, True, True)
        encoder = fast.FastDeberta(
            to_array_api_strict(readable.params[PREFIX[:-1]]), readable.config, threads=threads
        )
        got = encoder(tuple(xps.asarray(a) for a in args), True, True)
        assert_same_encoding(
            (np.asarray(got[0]), [np.asarray(a) for a in got[1]], [np.asarray(a) for a in got[2]]),
            reference,
            readable.config,
        )


# ================================================================================================================
# The default threading: chosen per call (FastDeberta.plan), BLAS lowered to one thread for worker calls
# ================================================================================================================


class FakeBlas:
    """blas_threads.OpenBlasThreads' interface, recording the single_threaded() blocks."""

    def __init__(self, count: int, core: str = "Haswell") -> None:
        self.count, self.blocks, self.core = count, 0, core

    def budget(self) -> int:
        return self.count

    @contextlib.contextmanager
    def single_threaded(self) -> Iterator[None]:
        self.blocks += 1
        yield


def test_explicit_threads_are_kept_and_blas_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    readable = DebertaModel.from_pretrained(GOLDEN / "base-c2p-p2c", fast=False)
    p, config = readable.params[PREFIX[:-1]], readable.config
    monkeypatch.setenv("DEBERTA_NP_THREADS", "3")
    assert fast.FastDeberta(p, config).plan(64, 512) == (3, False)
    monkeypatch.delenv("DEBERTA_NP_THREADS")
    assert fast.FastDeberta(p, config, threads=2).plan(1, 16) == (2, False)


PLAN_CASES = pytest.mark.parametrize("case", ["base-c2p-p2c", "v2-v3-like-buckets-shared-key"])


def default_threaded(case: str, monkeypatch: pytest.MonkeyPatch, core: str) -> tuple:
    """(blas, readable model, fast encoder) of a golden case, threads chosen per call, over a FakeBlas of 2 threads
    with the kernels `core` on a 4-core affinity."""
    monkeypatch.delenv("DEBERTA_NP_THREADS", raising=False)
    blas = FakeBlas(2, core=core)
    monkeypatch.setattr(fast.blas_threads, "controller", lambda: blas)
    monkeypatch.setattr(fast.blas_threads, "cores", lambda: 4)
    readable = (DebertaV2Model if case in V2_CASES else DebertaModel).from_pretrained(
        GOLDEN / case, fast=False
    )
    return blas, readable, readable.family.fast(readable.params[PREFIX[:-1]], readable.config)


@PLAN_CASES
def test_default_threads_choose_per_shape_and_equal_the_readable_path(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blas, readable, encoder = default_threaded(case, monkeypatch, "Haswell")
    p, config = readable.params[PREFIX[:-1]], readable.config
    assert encoder.auto_threads
    assert encoder.plan(1, 16) == (1, False)  # few tokens: one thread over NumPy's BLAS
    assert encoder.plan(8, 128) == (2, True)  # min(cores, BLAS threads) workers over a single-threaded BLAS
    assert encoder.plan(1, 512) == (2, True)
    assert encoder.plan(8, 24) == (1, False) and encoder.plan(1, 192) == (1, False)  # no small kernels
    blas.count = 1  # OPENBLAS_NUM_THREADS=1 or a threadpoolctl limit: one core
    assert encoder.plan(8, 128) == (1, False)
    blas.count = 2
    ids = np.arange(30, dtype=np.int64).reshape(3, 10) % config.vocab_size
    mask = np.array([[1] * 10, [1] * 6 + [0] * 4, [1] * 10])
    args = readable.prepare_inputs((ids, mask, None, None))
    reference = readable.family.spec.deberta(*args, p, config, True, True)
    for least in (10**9, 0):  # BLAS-threaded, then worker threads (shards: 3 rows on 2 workers)
        encoder.workers_from_tokens_groups = encoder.workers_from_tokens_shards = least
        assert_same_encoding(encoder(args, True, True), reference, config)
    assert blas.blocks == 1
    monkeypatch.setattr(fast.blas_threads, "controller", lambda: None)  # no OpenBLAS to control: one thread
    assert encoder.plan(8, 128) == (1, False)


@PLAN_CASES
def test_few_tokens_share_weight_products_with_small_kernels(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenBLAS with small-matrix kernels (trick 9): one sequence of few tokens may run as parallel "products"."""
    blas, readable, encoder = default_threaded(case, monkeypatch, "SkylakeX")
    p, config = readable.params[PREFIX[:-1]], readable.config
    assert encoder.small_kernels
    assert encoder.plan(1, 16) == (1, False)  # not chosen by default (products_below_tokens = 0)
    # workers' products of few tokens run by pieces: workers from 192 tokens (256 and 384 without small kernels)
    assert encoder.plan(8, 24) == (2, True) and encoder.plan(1, 192) == (2, True)
    assert encoder.plan(8, 20) == (1, False) and encoder.plan(1, 128) == (1, False)
    assert readable.family.fast(p, config, fast.Tricks(skinny_rows=0)).plan(8, 24) == (1, False)
    encoder.products_below_tokens = 64
    assert encoder.plan(1, 16) == (2, True) and encoder._parallel(1, 16, 2) == "products"
    assert encoder.plan(2, 16) == (1, False)  # as many sequences as threads: groups, from 256 tokens on
    assert encoder.plan(1, 64) == (1, False)
    ids = np.arange(10, dtype=np.int64).reshape(1, 10) % config.vocab_size
    args = readable.prepare_inputs((ids, None, None, None))
    reference = readable.family.spec.deberta(*args, p, config, True, True)
    monkeypatch.setattr(fast, "_SMALL_PRODUCT", 8 * config.hidden_size * 10)  # pieces of 8 rows at 10 tokens
    pieces = []
    real = fast.skinny_matmul

    def recorded(weight, x, rows, out=None, threads=1):
        pieces.append((rows, threads))
        return real(weight, x, rows, out, threads)

    monkeypatch.setattr(fast, "skinny_matmul", recorded)
    assert_same_encoding(encoder(args, True, True), reference, config)
    assert pieces and all(4 < rows <= 8 and threads == 2 for rows, threads in pieces)
    assert blas.blocks == 1
    blas.core = "Haswell"  # no small kernels: no pieces
    assert not readable.family.fast(p, config).small_kernels


def test_openblas_single_threaded_restores_the_count() -> None:
    blas = fast.blas_threads.controller()
    if blas is None:
        pytest.skip("NumPy's BLAS is no pthreads OpenBLAS here")
    before = blas.get()
    with blas.single_threaded():
        assert blas.get() == 1 and blas.budget() == before
        with blas.single_threaded():  # overlapping blocks (two callers): restored by the last
            assert blas.get() == 1
        assert blas.get() == 1
    assert blas.get() == before == blas.budget()
