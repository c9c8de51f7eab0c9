"""The fast forward pass of DeBERTa v1: `model.deberta`, computed with less work and memory.

model.py is the specification and this module an optimisation of it, tested equal to it (tests/test_fast.py).
`DebertaModel(..., fast=False)` runs model.py instead, and each trick below can be switched off alone (`Tricks`).
DeBERTa-v2/v3 runs the same tricks through fast_v2.FastDebertaV2, a subclass that overrides what v2 does
differently (the relative table and its log buckets, the projections, the ConvLayer; see fast_v2.py). In the
text below, read "the relative table of 2C rows" for v2 (C = position_buckets, or P) where it says 2P.
What each replaces in model.py, and why the result is the same:

1. Position cache (load time). pos_key = pos_proj(rel_embeddings) and pos_query = pos_q_proj(rel_embeddings) /
   scale depend on the weights alone: model.py computes them in every layer of every call; here once, for all
   2P rows. A length uses the view of rows P-S .. P+S-1, the rows model.py projects (linear acts row by row).
2. Skew instead of gather. While L <= P nothing is clipped (S = L, so S + i - j lies in [1, 2S - 1]) and
   c2p[i, j] = c2p_full[i, S + i - j] is a fixed diagonal pattern: a strided view of the [L, K] matrix, added
   without an index array (NumPy only). Clipped lengths (L > P), v2 lengths beyond the identity part of the log
   buckets, and other backends take the same elements with a flat `take` and precomputed flat indices into the
   rows of the table the length reads (`_Window`), cached per length in a bounded LRU cache.
   2b. Bands. Query i reads only the L columns S+i-L+1 .. S+i of its c2p row, half of the 2L computed. For long
   unclipped lengths c2p is computed per band of rows, each against the columns its rows read (p2c likewise per
   band of keys): (L + band) / 2L of the work.
3. Blocked attention. Scores, position terms and probabilities are computed for a block of batch rows and heads
   at a time, sized to stay in the CPU cache. The [B, n, L, L] probabilities exist only when output_attentions
   asks for them.
4. Feature-major activations, no layout copies. Between layers the hidden state is kept as [H, T] (T = B*L
   tokens, one column per token): every linear is then W @ x, which BLAS runs faster than x @ W.T when T is small,
   the rows of one head's query, key or value are contiguous, and Q, K, V and the context are strided views that
   BLAS reads and writes in place. The caller gets [B, L, H] back.
5. In place. Bias, scale, mask, softmax, residual and LayerNorm run in place on buffers this module allocated,
   with model.py's operations in model.py's order. Inputs and parameters are never written.
6. GELU without float64. model.py's erf runs in float64 over every fdlibm branch; here float32 GELU is
   relu(x) - |x| erfc(|x| / sqrt 2) / 2, with erfc from a rational fit whose error in GELU is 4.4e-8, below
   float32 rounding (model.py's own float32 GELU is within 4.5e-7 of the exact value, this one within 2.5e-7).
   float64 keeps model.py's erf.
7. Token-chunked dense part. The attention output, LayerNorms and feed-forward run on chunks of tokens, so the
   [I, tokens] intermediate stays in cache.
8. Worker threads (FastDeberta's `threads`): groups of sequences, or heads and weight rows, per thread, each
   calling a single-threaded BLAS. The sums of partial products that the second way adds are model.py's sums in
   another order. By default (no `threads`, no $DEBERTA_NP_THREADS) each call chooses between them and one
   thread over NumPy's multi-threaded BLAS, whichever is faster at its shape (`FastDeberta.plan`), and lowers
   OpenBLAS to one thread at run time for the calls that use workers (blas_threads.py).
9. Weight products by pieces (few tokens). OpenBLAS multiplies products of at most 100^3 multiply-adds with
   kernels that read the operands in place, larger ones after copying them into blocks. With few tokens a weight
   product does T multiply-adds per weight, and copying the weight, streamed from memory once per product, costs
   about as much as the multiplications. Cut into pieces of rows that fit the bound (one batched matmul, NumPy
   looping over the pieces), the 1x16 deberta-base forward takes 43 ms of CPU instead of 69 on one core of a
   2-core AVX-512 EPYC. The small kernels are single-threaded: pieces are used only while BLAS runs
   single-threaded (OPENBLAS_NUM_THREADS=1, or worker threads), and with parallel "products" one thread runs the
   encoder while the worker threads share the pieces of each weight product (not chosen by default: see
   products_below_tokens). Each output element is the same sum, in another kernel's order. By default only with
   OpenBLAS's AVX-512 kernels, in float32.

Left to the readable modules: float16 models (they compute LayerNorm and softmax in float32).
Results equal the readable ones up to float rounding: in float64 to about 1e-15; in float32 to a few units in the
last place, the differences BLAS itself makes between two shapes of the same product.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from . import blas_threads, model, shim
from .config import DebertaConfig

Array = Any
Params = dict[str, Any]
# What an encoder reads, in model.deberta's order: input_ids, attention_mask, token_type_ids, position_ids.
Inputs = tuple[Array, Array, Array, Array]


@dataclass(frozen=True)
class Tricks:
    """Switches for the tricks of the fast path (all on by default); see the module docstring."""

    position_cache: bool = True  # 1: project the relative embeddings once, at load
    gather: str = "auto"  # 2: "auto" (strided skew while L <= P on NumPy, else flat take), "flat", "readable"
    band: int = 128  # 2b: rows per band of c2p and p2c when L >= 2 * band (unclipped, NumPy); 0: no bands
    block_bytes: int = 3 << 20  # 3: attention working set per block; 0: the whole batch at once
    fast_gelu: bool = True  # 6: float32 GELU without float64 erf (NumPy)
    tokens_per_chunk: int = 512  # 7: tokens per chunk of the dense part; 0: all tokens at once
    parallel: str = "auto"  # 8: "groups" (of sequences), "shards" (of heads and weight rows), "auto"
    skinny_rows: int = -1  # 9: weight products by pieces of n rows; -1: where it pays (few tokens); 0: never


OFF = Tricks(
    position_cache=False,
    gather="readable",
    band=0,
    block_bytes=0,
    fast_gelu=False,
    tokens_per_chunk=0,
    skinny_rows=0,
)

# ================================================================================================================
# Backend-specific helpers: NumPy gets `out=` and strided views; other backends the plain operations.
# ================================================================================================================


def _is_numpy(x: Array) -> bool:
    return shim.is_numpy(shim.namespace(x))


def _matmul(a: Array, b: Array, out: Array | None = None) -> Array:
    """a @ b, written into `out` when given (NumPy's matmul writes strided outputs through BLAS, no copy)."""
    if out is None:
        return a @ b
    if _is_numpy(out):
        return shim.namespace(out).matmul(a, b, out=out)
    out[...] = a @ b
    return out


# Trick 9. OpenBLAS (0.3.17 on, in its AVX-512 x86-64 kernels) computes a product of at most 100^3 multiply-adds
# (M N K <= 1e6) with "small matrix" kernels that read the operands where they are; a larger product first copies
# ("packs") them into blocks. With few tokens a weight product W [N, K] @ x [K, T] does T multiply-adds per weight
# read, and packing W, streamed from memory once per call, costs about as much as the multiplications.
_SMALL_PRODUCT = 1_000_000
_SMALL_KERNEL_CORES = ("skylakex", "cooperlake", "sapphirerapids")  # openblas_get_corename(), lower case
_SKINNY_MIN_ROWS = 8  # thinner pieces lose more to the per-piece overhead than packing costs


def skinny_rows(rows: int, inner: int, tokens: int) -> int:
    """Rows per piece of a product [rows, inner] @ [inner, tokens] that OpenBLAS's small kernels take, or 0.

    A divisor of `rows` where one is at least half the largest size (one batched product, no remainder)."""
    return _skinny_rows(rows, inner, tokens, _SMALL_PRODUCT)


@functools.lru_cache(maxsize=256)  # asked for every weight product: a few shapes per model
def _skinny_rows(rows: int, inner: int, tokens: int, bound: int) -> int:
    most = bound // max(1, inner * tokens)
    if most < _SKINNY_MIN_ROWS or rows <= most:  # too thin, or small already
        return 0
    divisor = max(d for d in range(1, most + 1) if rows % d == 0)
    return divisor if 2 * divisor > most else most


def skinny_matmul(weight: Array, x: Array, rows: int, out: Array | None = None, threads: int = 1) -> Array:
    """weight [N, K] @ x [K, T] (into out [N, T]) as batched products of pieces of `rows` rows, NumPy only.

    Each piece is its own BLAS call (NumPy's matmul loops over the batch); splitting the first axis of weight and
    out is a view, so the pieces read the weight and write out in place. threads > 1: the pieces are shared by
    the calling thread and threads - 1 pool threads (each call releases the GIL), never called from a pool
    thread. Each output element is the same sum as in the whole product, computed by another kernel (another
    rounding order)."""
    np = shim.namespace(x)
    n, k = weight.shape
    tokens = x.shape[1]
    if out is None:
        out = np.empty((n, tokens), dtype=np.result_type(weight, x))
    whole = n // rows * rows
    pieces = np.reshape(weight[:whole, :], (-1, rows, k))
    into = np.reshape(out[:whole, :], (-1, rows, tokens))
    shares = FastDeberta._split(pieces.shape[0], threads)
    futures = [
        _pool(threads).submit(np.matmul, pieces[share, ...], x, out=into[share, ...])
        for share in shares[1:]
        if share.stop > share.start
    ]
    np.matmul(pieces[shares[0], ...], x, out=into[shares[0], ...])
    if whole < n:
        np.matmul(weight[whole:, :], x, out=out[whole:, :])
    for future in futures:
        future.result()
    return out


def _exp_(x: Array) -> Array:
    """exp(x), in place on NumPy."""
    xp = shim.namespace(x)
    return xp.exp(x, out=x) if shim.is_numpy(xp) else xp.exp(x)


def _fill_where_not_(x: Array, keep: Array, value: float) -> Array:
    """where(keep, x, value), in place on NumPy."""
    xp = shim.namespace(x)
    if shim.is_numpy(xp):
        xp.copyto(x, value, where=~keep)
        return x
    return xp.where(keep, x, value)


def _contiguous(x: Array) -> Array:
    """A C-ordered copy of a strided view (what callers of model.deberta get)."""
    xp = shim.namespace(x)
    return xp.ascontiguousarray(x) if hasattr(xp, "ascontiguousarray") else xp.asarray(x, copy=True)


def _skew(r: Array, transpose: bool, start: int | None = None, length: int | None = None) -> Array:
    """The unclipped gathers as a strided view of r [..., R, W] (each row contiguous). NumPy only.

    transpose=False (c2p, R query rows):  out[..., i, j] = r[..., i, start + i - j]   -> [..., R, L]
    transpose=True  (p2c, R key rows):    out[..., i, j] = r[..., j, start + i - j]   -> [..., L, R]
    (model.py's gather, then transposed). Defaults: L = R and start = L, the whole [L, 2L] table.
    With r's strides (row, col) the element r[a, start + c] sits at start*col + a*row + c*col from r[0, 0]:
    c2p steps (row + col) per i and -col per j; p2c steps col per i and (row - col) per j.
    """
    *lead, rows, _ = r.shape
    length = rows if length is None else length
    start = length if start is None else start
    *lead_strides, row, col = r.strides
    shape, strides = ((length, rows), (col, row - col)) if transpose else ((rows, length), (row + col, -col))
    return shim.namespace(r).lib.stride_tricks.as_strided(
        r[..., 0, start:], shape=(*lead, *shape), strides=(*lead_strides, *strides), writeable=False
    )


_POOLS: dict[int, Any] = {}  # threads -> concurrent.futures.ThreadPoolExecutor, shared by all models
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> Any:
    with _POOLS_LOCK:
        if threads not in _POOLS:
            from concurrent.futures import ThreadPoolExecutor  # on first use: import deberta_np stays fast

            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="deberta_np")
        return _POOLS[threads]


# ================================================================================================================
# Elementwise kernels, in place on buffers the fast path owns; x is feature-major [D, tokens]
# ================================================================================================================


def _column(v: Array) -> Array:
    """A parameter vector [D] as a column [D, 1], to broadcast over the tokens of [D, tokens]."""
    return shim.namespace(v).reshape(v, (-1, 1))


def layer_norm_(x: Array, p: Params, eps: float) -> Array:
    """model.layer_norm over the features of x [D, tokens], in place (model.py's operations, in its order)."""
    xp = shim.namespace(x)
    x -= xp.mean(x, axis=0, keepdims=True)
    x /= xp.sqrt(xp.mean(x * x, axis=0, keepdims=True) + eps)  # x * x is (x - mean) ** 2
    x *= _column(p["weight"])
    x += _column(p["bias"])
    return x


def softmax_(x: Array) -> Array:
    """shim.softmax over the last axis, in place (the same operations in the same order)."""
    xp = shim.namespace(x)
    x -= xp.max(x, axis=-1, keepdims=True)
    x = _exp_(x)
    x /= xp.sum(x, axis=-1, keepdims=True)
    return x


# erfc(a / sqrt 2) = t P(t) exp(-a^2 / 2), t = 1 / (1 + 0.235 a): P of degree 4, fitted (iteratively reweighted least
# squares on a in [0, 12]) to minimise the largest error of GELU itself, 0.5 a erfc(a / sqrt 2): 4.4e-8.
# The coefficients are P's from t^0 upwards, already halved (the 0.5 of GELU).
_ERFC_T = 0.235
_HALF_ERFC_P = (
    0.11677380232319749,
    -0.06969874618741782,
    0.5489482545342841,
    -0.5536125370023046,
    0.4575906859713056,
)
_GELU_ELEMENTS = 1 << 16  # elements per piece: the piece and its two scratch arrays stay in the L2 cache


def gelu_(x: Array, bias: Array | None = None) -> Array:
    """Exact GELU x Phi(x) of x + bias, in place, for a float32 NumPy x [R, C] and bias [R] (or None).

    Computed as relu(x) - 0.5 |x| erfc(|x| / sqrt 2), which equals model.gelu:
    for x >= 0, x Phi(x) = x - x (1 - Phi(x)) = x - 0.5 x erfc(x / sqrt 2); for x < 0,
    x Phi(x) = -0.5 |x| erfc(|x| / sqrt 2). No cancellation, so float32 suffices. |x| is clamped at 12, where
    0.5 |x| erfc(|x| / sqrt 2) < 1e-32 is far below float32 resolution (and exp never produces denormals).
    The bias add and the 21 passes run block by block, each block in the L2 cache.
    """
    np = shim.namespace(x)
    x2 = np.reshape(x, (x.shape[0], -1))  # x is contiguous: a view
    rows = max(1, _GELU_ELEMENTS // x2.shape[1])
    a_buf, t_buf, tail_buf = (np.empty(rows * x2.shape[1], x.dtype) for _ in range(3))
    for start in range(0, x2.shape[0], rows):
        block = x2[start : start + rows]
        if bias is not None:
            block += np.reshape(bias[start : start + rows], (-1, 1))
        v = np.reshape(block, (-1,))
        a, t, tail = a_buf[: v.shape[0]], t_buf[: v.shape[0]], tail_buf[: v.shape[0]]
        np.minimum(np.abs(v, out=a), 12.0, out=a)
        np.multiply(a, _ERFC_T, out=t)
        t += 1.0
        np.divide(1.0, t, out=t)  # t = 1 / (1 + 0.235 a)
        np.multiply(t, _HALF_ERFC_P[-1], out=tail)  # Horner's rule for t P(t) / 2
        for c in reversed(_HALF_ERFC_P[:-1]):
            tail += c
            tail *= t
        tail *= a
        np.multiply(a, a, out=a)
        a *= -0.5
        tail *= np.exp(a, out=a)  # 0.5 |x| erfc(|x| / sqrt 2)
        np.maximum(v, 0.0, out=v)
        v -= tail
    return x


# ================================================================================================================
# The encoder
# ================================================================================================================


@dataclass(frozen=True)
class _Window:
    """How one length reads the relative table [2C, H]: its rows lo .. hi-1, and how the gathers run.

    mode: "strided" (trick 2: rel(i, j) = i - j, nothing clipped; lo = C - L, hi = C + L), "flat" (`flat`: the
    flat positions in the [L, hi - lo] products of the c2p and transposed p2c gathers, [L*L] each) or "readable"
    (`index`: the readable modules' c2p and p2c indices [L, L], shifted to the rows lo .. hi-1)."""

    mode: str
    lo: int
    hi: int
    flat: tuple[Array, Array] | None = None
    index: tuple[Array, Array] | None = None


@dataclass
class _Run:
    """What the worker threads of one forward share."""

    batch: int
    length: int
    mask: Array | None  # [B, 1, L, L] pair mask; None: every pair attends
    token_mask: Array | None  # [B, L] the attention mask in the parameters' dtype; None: no padding
    window: _Window  # how this length reads the relative table
    hidden: list[Array]  # per layer (embeddings first), [B, L, H], if asked
    attentions: list[Array]  # per layer, [B, n, L, L], if asked
    last: Array  # [B, L, H]
    pieces: bool = False  # BLAS runs single-threaded: trick 9 may cut weight products into pieces
    share: int = 1  # threads sharing those pieces (parallel "products")


@dataclass
class _Shards:
    """Tensor parallelism: shard i of `count` owns heads[i], ffn_rows[i] and tokens[i] (token columns)."""

    count: int
    barrier: threading.Barrier | None
    heads: list[slice]
    ffn_rows: list[slice]
    tokens: list[slice]
    hidden: list[Array]  # two [H, T] buffers, this layer's input and output in turn
    residual: Array  # [H, T]: the attention block's output, input of the feed-forward
    partial: list[Array]  # per shard, [H, T]: its part of a product whose sum the shards need

    def meet(self) -> None:
        """Wait until every shard has finished the step before."""
        if self.barrier is not None:
            self.barrier.wait()

    def total(self, shard: int) -> Array:
        """The sum of all shards' partial products, at this shard's tokens -> [H, t] (a new array)."""
        tokens = self.tokens[shard]
        total = self.partial[0][:, tokens] + self.partial[1][:, tokens]
        for part in self.partial[2:]:
            total += part[:, tokens]
        return total


class FastDeberta:
    """The DeBERTa v1 encoder with load-time caches: `FastDeberta(p, config)(ids, mask, ...)` == model.deberta.

    What v1 and v2/v3 do differently (the relative table and positions, the projections, v2's ConvLayer) sits in
    the methods that fast_v2.FastDebertaV2 overrides; the attention, the gathers and the threads are shared.

    p is the `deberta.*` parameter subtree (model.py's layout), never modified. The caches hold the projected
    relative embeddings (2 x 2P x H per layer) and, per length, the flat gather indices (`max_lengths` lengths).

    threads (trick 8): worker threads sharing a forward. A batch of at least `threads` sequences is cut into
    groups of sequences, one per thread, which never wait for each other. Fewer sequences are cut by heads and
    weight rows instead (tensor parallelism): each thread projects and attends with its heads, multiplies by its
    rows of the feed-forward, and the threads add up their partial products, meeting 4 times per layer. Given
    (or $DEBERTA_NP_THREADS), every call runs that many, and BLAS is left as it is: pair threads > 1 with a
    single-threaded BLAS (OPENBLAS_NUM_THREADS=1). Default (neither): chosen per call by `plan`.
    """

    model_type = "deberta"  # the config.model_type it computes
    talking_heads = True  # v1's talking_head option (v2/v3 have none)

    @classmethod
    def applies(cls, config: DebertaConfig, dtype: str) -> bool:
        """Whether this class computes the model: its own model_type in "float32" or "float64". float16 (which
        computes LayerNorm and softmax in float32) is left to the readable module (family.py says which)."""
        return config.model_type == cls.model_type and dtype in ("float32", "float64")

    def __init__(
        self,
        p: Params,
        config: DebertaConfig,
        tricks: Tricks | None = None,
        max_lengths: int = 16,
        threads: int | None = None,
    ) -> None:
        self.p, self.config = p, config
        self.tricks = tricks or Tricks()
        self.dtype = p["embeddings"]["word_embeddings"]["weight"].dtype
        self.xp = shim.namespace(p["embeddings"]["word_embeddings"]["weight"])
        name = next((n for n in ("float32", "float64") if self.dtype == getattr(self.xp, n)), str(self.dtype))
        if not self.applies(config, name):
            raise ValueError(
                f"{type(self).__name__} computes {self.model_type!r} models in float32 or float64, not a "
                f"{config.model_type!r} model in {name}: run the readable module (family.family_of(config).spec)"
            )
        self.scale = model.attention_scale(config)
        self.span = self._span()  # C: row C of the relative table is distance 0
        self.talking_head = self.talking_heads and bool(getattr(config, "talking_head", False))
        self.max_lengths = max_lengths
        # neither given: plan() chooses the threading per call
        self.auto_threads = not threads and not os.environ.get("DEBERTA_NP_THREADS")
        self.threads = max(1, threads or int(os.environ.get("DEBERTA_NP_THREADS", "1")))
        self.small_kernels = self._small_kernels()
        self._lock = threading.Lock()  # for the index cache, if several threads call one model
        self._indices: OrderedDict[int, _Window] = OrderedDict()  # flat windows, per length
        # Trick 1: per layer (pos_key [n, 2C, d] or None, pos_query [n, 2C, d] or None), computed once.
        self.positions: list[tuple[Array | None, Array | None]] = []
        if config.relative_attention and self.tricks.position_cache:
            rel = self._relative_table(slice(None))  # [2C, H]
            layers = p["encoder"]["layer"]
            self.positions = [(None, None)] * len(layers)

            def project(index: int) -> None:
                self.positions[index] = self._project(rel, layers[index]["attention"]["self"])

            self._map(project, len(layers))  # the threads share the load-time work too

    def _small_kernels(self) -> bool:
        """Whether trick 9 pays by default: NumPy in float32 (the precision measured) over an OpenBLAS whose kernels
        for this CPU include the small-matrix ones."""
        if not (shim.is_numpy(self.xp) and self.dtype == self.xp.float32):
            return False
        blas = blas_threads.controller()
        return blas is not None and blas.core.lower() in _SMALL_KERNEL_CORES

    # ------------------------------------------------------------------------------------------------------------
    # What v2/v3 (fast_v2.FastDebertaV2) does differently
    # ------------------------------------------------------------------------------------------------------------

    def _span(self) -> int:
        """C, the middle row of the relative table (v1: P)."""
        return self.config.max_relative

    def _relative_table(self, rows: slice) -> Array:
        """The rows `rows` of the relative table [2C, H] (v1: rel_embeddings as they are)."""
        return self.p["encoder"]["rel_embeddings"]["weight"][rows, :]

    def _relative_positions(self, length: int) -> Array:
        """rel(i, j) [L, L], the readable module's relative positions (v1: i - j)."""
        return model.relative_positions(length, self.xp)

    def _plain_distances(self, length: int) -> bool:
        """Whether rel(i, j) = i - j for every pair of this length (v1: always; v2: not beyond the buckets)."""
        return True

    def _qkv(self, h: Array, index: int, heads: slice, run: _Run | None = None) -> tuple[Array, Array, Array]:
        """The queries (biased, divided by the scale), keys and values of the heads `heads`: [m, d, T] each
        (run: see _linear).

        v1: one product with those heads' rows of in_proj, interleaved per head (q, k, v of head 0, then of head
        1...); q and v have biases, k none."""
        xp, d = self.xp, self.config.head_dim
        p = self._layer(index)["attention"]["self"]
        in_proj = p["in_proj"]["weight"][3 * d * heads.start : 3 * d * heads.stop, :]
        qkv = self._linear(in_proj, h, run=run)  # [3 d m, T]
        qkv = xp.reshape(qkv, (heads.stop - heads.start, 3, d, h.shape[1]))  # [m, 3, d, T]
        q, k, v = qkv[:, 0, :, :], qkv[:, 1, :, :], qkv[:, 2, :, :]  # [m, d, T] views
        q += xp.reshape(p["q_bias"], (-1, d, 1))[heads, ...]
        q /= self.scale
        v += xp.reshape(p["v_bias"], (-1, d, 1))[heads, ...]
        return q, k, v

    def _has_post_layer(self, index: int) -> bool:
        """Whether layer `index` is followed by a step of its own (v2's ConvLayer after layer 0); v1: never."""
        return False

    def _post_layer(
        self, index: int, embedded: Array, h: Array, columns: slice, length: int, token_mask: Array | None
    ) -> None:
        """That step, in place on the columns `columns` of h [H, T] (whole sequences of `length` tokens).

        embedded [H, T]: the embeddings (layer 0's input); token_mask [T] or None (no padding)."""

    # ------------------------------------------------------------------------------------------------------------

    def _project(self, table: Array, p: Params) -> tuple[Array | None, Array | None]:
        """model.disentangled_bias's pos_key and pos_query for the rows of `table` [K, H] -> [n, K, d] each."""
        n = self.config.num_attention_heads
        pos_att = self.config.pos_att_type
        key = model.split_heads(model.linear(table, p["pos_proj"]), n) if "c2p" in pos_att else None
        query = None
        if "p2c" in pos_att:
            query = model.split_heads(model.linear(table, p["pos_q_proj"]), n) / self.scale
        return key, query

    # Below this many tokens (B * L) one thread over NumPy's multi-threaded BLAS beats the worker threads over a
    # single-threaded one: per layer the workers add Python work (which the GIL serialises) and, cut by heads and
    # rows (fewer sequences than threads), 4 meetings; products of few tokens parallelise well inside BLAS.
    # From 2-core measurements (issue 15's: blas faster at 1x16 and 1x128, workers at 8x128, 32x128 and 1x512 by
    # shards; one noisy in-process comparison: workers slightly ahead at 2x128 and 4x64, level at 1x384).
    workers_from_tokens_groups = 256  # cut by groups of sequences
    workers_from_tokens_shards = 384  # cut by heads and rows
    # With pieces (trick 9: OpenBLAS's small kernels) a worker's products of up to ~160 tokens run unpacked, so the
    # workers pay from fewer tokens (in-process, interleaved, deberta-base, 2 cores, SkylakeX kernels: workers
    # 230 ms against 268 at 8x24, 231 against 262 at 4x48, 282 against 314 at 1x192, 335 against 384 at 1x256;
    # level at 8x16, 8x20, 3x64, 1x64 and 1x128; one thread over BLAS ahead at 2x16).
    workers_from_tokens_with_pieces = 192
    # Below this many tokens, fewer sequences than threads and trick 9 on: parallel "products" (see _parallel).
    # 0: never by default. benchmarks/forward.py, deberta-base 1x16, 2 cores: back to back (--back-to-back 8) it
    # ran 34.5 ms against 43.9 for whole products over 2 BLAS threads, but a call after a pause is slower with it
    # (in-process, interleaved: 47 ms against 43), the idle pool thread's core being slow to pick up work.
    products_below_tokens = 0

    def plan(self, batch: int, length: int) -> tuple[int, bool]:
        """(worker threads, whether BLAS runs single-threaded during the call) for a call of this shape.

        `threads` given (or $DEBERTA_NP_THREADS): (threads, False), BLAS as the caller set it. Default: the
        cores this process may use (its affinity), at most NumPy's BLAS thread count (so OPENBLAS_NUM_THREADS=1
        or a threadpoolctl limit still means one core), as workers over a single-threaded BLAS from
        workers_from_tokens_* tokens on, else (1, False): one thread over NumPy's BLAS. Where OpenBLAS's count
        cannot be changed at run time (blas_threads.controller() is None), always (1, False)."""
        if not self.auto_threads:
            return self.threads, False
        blas = (
            blas_threads.controller()
            if _is_numpy(self.p["embeddings"]["word_embeddings"]["weight"])
            else None
        )
        if blas is None:
            return 1, False
        budget = min(blas_threads.cores(), blas.budget())
        if budget == 1:
            return 1, False
        if self.talking_head and batch < budget and not self._products_pay(batch * length):  # no shards
            return 1, False
        groups = batch >= 4 * budget or batch % budget == 0  # as in _parallel
        least = self.workers_from_tokens_groups if groups else self.workers_from_tokens_shards
        if self._pieces():
            least = min(least, self.workers_from_tokens_with_pieces)
        if batch * length >= least or (not groups and self._products_pay(batch * length)):
            return budget, True
        return 1, False

    def _parallel(self, batch: int, length: int, threads: int) -> str:
        """How `threads` threads share a call (trick 8): "groups", "shards" or "products" (trick 9)."""
        if threads == 1:
            return "groups"
        if self.tricks.parallel != "auto":
            return self.tricks.parallel
        if batch >= 4 * threads or batch % threads == 0:
            return "groups"
        return "products" if self._products_pay(batch * length) else "shards"

    def _products_pay(self, tokens: int) -> bool:
        """Whether this few tokens run fastest as parallel "products": one thread runs the encoder and the threads
        share the pieces of its weight products (trick 9 on)."""
        return self._pieces() and tokens < self.products_below_tokens

    def _pieces(self) -> bool:
        """Whether single-threaded weight products of few tokens run by pieces (trick 9)."""
        return self.tricks.skinny_rows > 0 or (self.tricks.skinny_rows < 0 and self.small_kernels)

    def _linear(self, weight: Array, x: Array, out: Array | None = None, run: _Run | None = None) -> Array:
        """weight [N, K] @ x [K, T] (into out): by pieces of rows for few tokens (trick 9), else one product.

        By default only where the call runs BLAS single-threaded (run.pieces): the small kernels are, so pieces
        would leave a multi-threaded BLAS's other threads idle. Parallel "products": run.share threads share them."""
        rows = self.tricks.skinny_rows
        if rows < 0:
            pays = self.small_kernels and run is not None and run.pieces
            rows = skinny_rows(weight.shape[0], weight.shape[1], x.shape[1]) if pays else 0
        if 0 < rows < weight.shape[0] and shim.is_numpy(self.xp):
            return skinny_matmul(weight, x, rows, out, run.share if run is not None else 1)
        return _matmul(weight, x, out)

    def _empty(self, *shape: int) -> Array:
        return self.xp.empty(shape, dtype=self.dtype)

    def _map(self, task: Callable[[int], None], count: int, threads: int | None = None) -> None:
        """task(0), ..., task(count - 1) on `threads` (default self.threads) worker threads (each writes its own
        part of shared outputs)."""
        threads = threads or self.threads
        if threads == 1 or count == 1:
            for item in range(count):
                task(item)
            return
        futures = [_pool(threads).submit(task, item) for item in range(count)]
        errors = [e for e in (f.exception() for f in futures) if e is not None]  # waits for all
        if errors:  # the first that is not a shard stopped by another shard's failure
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])

    @staticmethod
    def _split(size: int, parts: int) -> list[slice]:
        """range(size) cut into `parts` near-equal slices, in order (some empty if size < parts)."""
        bounds = [size * i // parts for i in range(parts + 1)]
        return [slice(a, b) for a, b in pairwise(bounds)]

    # ------------------------------------------------------------------------------------------------------------

    def __call__(
        self, inputs: Inputs, output_hidden_states: bool = False, output_attentions: bool = False
    ) -> tuple[Array, list[Array], list[Array]]:
        """model.deberta(*inputs, ...)'s results: (last hidden state [B, L, H], hidden states, attentions)."""
        input_ids, attention_mask, token_type_ids, position_ids = inputs
        c, xp, empty = self.config, self.xp, self._empty
        batch, length = input_ids.shape
        hidden, n, layers = c.hidden_size, c.num_attention_heads, c.num_hidden_layers
        padded = not bool(xp.all(attention_mask != 0))
        run = _Run(
            batch,
            length,
            model.pair_mask(attention_mask) if padded else None,
            xp.astype(attention_mask, self.dtype) if padded else None,
            self._window(length),  # built here, before the worker threads start
            [empty(batch, length, hidden) for _ in range(layers + 1)] if output_hidden_states else [],
            [empty(batch, n, length, length) for _ in range(layers)] if output_attentions else [],
            empty(batch, length, hidden),
        )
        inputs = (input_ids, token_type_ids, position_ids, attention_mask)
        threads, single_blas = self.plan(batch, length)
        blas = blas_threads.controller() if single_blas else None
        if self.small_kernels:
            control = blas_threads.controller()
            run.pieces = single_blas or control is None or control.get() == 1
        with blas.single_threaded() if blas is not None else nullcontext():
            self._encode(run, inputs, threads)
        return run.last, run.hidden, run.attentions

    def _encode(self, run: _Run, inputs: tuple[Array, ...], threads: int) -> None:
        """The encoder into `run`, on `threads` worker threads (by groups of sequences, or by shards)."""
        c, empty = self.config, self._empty
        batch, length = run.batch, run.length
        hidden, n = c.hidden_size, c.num_attention_heads
        tokens = batch * length
        count = 1 if self.talking_head else min(threads, n, tokens, c.intermediate_size)  # shards possible
        way = self._parallel(batch, length, threads)
        if way == "products":
            # one thread runs the encoder, the threads share the pieces of its weight products
            run.share = threads
            self._encode_group(run, inputs, slice(0, batch))
        elif count == 1 or way == "groups":
            # one group of sequences per thread (a single group if there are fewer sequences than threads)
            groups = [g for g in self._split(batch, threads) if g.stop > g.start]
            self._map(lambda g: self._encode_group(run, inputs, groups[g]), len(groups), threads)
        else:  # few sequences: the threads share every layer (tensor parallelism)
            h = self._embeddings(*inputs)  # [H, T]
            shards = _Shards(
                count,
                threading.Barrier(count) if count > 1 else None,
                self._split(n, count),
                self._split(c.intermediate_size, count),
                self._split(tokens, count),
                [h, empty(hidden, tokens)],
                empty(hidden, tokens),
                [empty(hidden, tokens) for _ in range(count)],
            )
            self._map(lambda shard: self._encode_shard(run, shards, shard), count, threads)

    def _publish(
        self, run: _Run, target: list[Array], index: int, h: Array, rows: slice, tokens: slice
    ) -> None:
        """Copy the token columns `tokens` of h [H, T] (the sequences `rows`) into target[index] [B, L, H]."""
        if target:
            view = self.xp.reshape(target[index][rows, ...], (-1, self.config.hidden_size))  # [T, H]
            view[tokens, :] = self.xp.matrix_transpose(h[:, tokens])

    def _encode_group(self, run: _Run, inputs: tuple[Array, ...], rows: slice) -> None:
        """The whole encoder for the sequences `rows`, in one thread (its weight products shared by run.share)."""
        every = slice(None)
        embedded = h = self._embeddings(*(x[rows, :] if x.shape[0] > 1 else x for x in inputs))  # [H, T]
        self._publish(run, run.hidden, 0, h, rows, every)
        heads = slice(0, self.config.num_attention_heads)
        token_mask = None if run.token_mask is None else self.xp.reshape(run.token_mask[rows, :], (-1,))
        for index in range(self.config.num_hidden_layers):
            context = self._attention(*self._qkv(h, index, heads, run), run, rows, heads, index)
            h = self._dense(context, h, index, run)
            if self._has_post_layer(index):
                self._post_layer(index, embedded, h, slice(0, h.shape[1]), run.length, token_mask)
            self._publish(run, run.hidden, index + 1, h, rows, every)
        self._publish(run, [run.last], 0, h, rows, every)

    def _encode_shard(self, run: _Run, shards: _Shards, shard: int) -> None:
        """The whole encoder for all sequences, as shard `shard` (see _Shards)."""
        c = self.config
        d = c.head_dim
        every, tokens = slice(0, run.batch), shards.tokens[shard]
        heads, ffn_rows = shards.heads[shard], shards.ffn_rows[shard]
        try:
            self._publish(run, run.hidden, 0, shards.hidden[0], every, tokens)
            for index in range(c.num_hidden_layers):
                p = self._layer(index)
                h, out = shards.hidden[index % 2], shards.hidden[(index + 1) % 2]
                # attention with this shard's heads: their rows of the projections, their columns of the output dense
                context = self._attention(
                    *self._qkv(h, index, heads, run), run, every, heads, index
                )  # [d * heads, T]
                attention_out = p["attention"]["output"]
                dense = attention_out["dense"]["weight"][:, d * heads.start : d * heads.stop]
                self._linear(dense, context, out=shards.partial[shard], run=run)  # [H, T]
                shards.meet()
                a = shards.total(shard)  # this shard's tokens of W_o @ context
                a += _column(attention_out["dense"]["bias"])
                a += h[:, tokens]
                shards.residual[:, tokens] = layer_norm_(a, attention_out["LayerNorm"], c.layer_norm_eps)
                shards.meet()
                # the feed-forward with this shard's rows of the intermediate layer
                intermediate = p["intermediate"]["dense"]
                f = self._linear(
                    intermediate["weight"][ffn_rows, :], shards.residual, run=run
                )  # [I / shards, T]
                f = self._activate(f, intermediate["bias"][ffn_rows])
                self._linear(
                    p["output"]["dense"]["weight"][:, ffn_rows], f, out=shards.partial[shard], run=run
                )
                shards.meet()
                o = shards.total(shard)
                o += _column(p["output"]["dense"]["bias"])
                o += shards.residual[:, tokens]
                out[:, tokens] = layer_norm_(o, p["output"]["LayerNorm"], c.layer_norm_eps)
                shards.meet()
                if self._has_post_layer(index):  # on whole sequences: this shard's share of them
                    rows = self._split(run.batch, shards.count)[shard]
                    columns = slice(rows.start * run.length, rows.stop * run.length)
                    flat_mask = None if run.token_mask is None else self.xp.reshape(run.token_mask, (-1,))
                    # layer 0's input (the embeddings) is still in shards.hidden[0]: layer 1 writes it after this
                    self._post_layer(index, shards.hidden[0], out, columns, run.length, flat_mask)
                    shards.meet()
                self._publish(run, run.hidden, index + 1, out, every, tokens)
            self._publish(run, [run.last], 0, shards.hidden[c.num_hidden_layers % 2], every, tokens)
        except BaseException:
            if shards.barrier is not None:
                shards.barrier.abort()  # the other shards stop waiting for this one
            raise

    def _layer(self, index: int) -> Params:
        return self.p["encoder"]["layer"][index]

    def _embeddings(self, ids: Array, types: Array, positions: Array, attention_mask: Array) -> Array:
        """model.embeddings -> [H, T], with its LayerNorm and mask in place."""
        xp, p, c = self.xp, self.p["embeddings"], self.config
        x = shim.take_rows(p["word_embeddings"]["weight"], ids)  # [B, L, E], a new array
        if c.position_biased_input:
            x += shim.take_rows(p["position_embeddings"]["weight"], positions)
        if c.type_vocab_size > 0:
            x += shim.take_rows(p["token_type_embeddings"]["weight"], types)
        if c.embedding_size != c.hidden_size:
            x = model.linear(x, p["embed_proj"])  # [B, L, H]
        x = _contiguous(xp.matrix_transpose(xp.reshape(x, (-1, c.hidden_size))))  # [H, T]
        x = layer_norm_(x, p["LayerNorm"], c.layer_norm_eps)
        if not bool(xp.all(attention_mask != 0)):  # multiplying by a mask of ones changes nothing
            x *= xp.reshape(xp.astype(attention_mask, x.dtype), (1, -1))
        return x

    # ------------------------------------------------------------------------------------------------------------
    # The dense part of a layer (attention output, feed-forward), token chunk by token chunk
    # ------------------------------------------------------------------------------------------------------------

    def _dense(self, context: Array, h: Array, index: int, run: _Run | None = None) -> Array:
        """model.layer after the attention, for context and h [H, T] -> a new [H, T] (run: see _linear)."""
        p, eps = self._layer(index), self.config.layer_norm_eps
        attention_out = p["attention"]["output"]
        tokens = h.shape[1]
        chunk = self.tricks.tokens_per_chunk or tokens
        out = self.xp.empty_like(h)
        for start in range(0, tokens, chunk):  # trick 7: tokens are independent outside attention
            part = slice(start, min(start + chunk, tokens))
            a = self._linear(attention_out["dense"]["weight"], context[:, part], run=run)  # [H, m]
            a += _column(attention_out["dense"]["bias"])
            a += h[:, part]
            a = layer_norm_(a, attention_out["LayerNorm"], eps)
            f = self._activate(
                self._linear(p["intermediate"]["dense"]["weight"], a, run=run),
                p["intermediate"]["dense"]["bias"],
            )
            o = self._linear(p["output"]["dense"]["weight"], f, out=out[:, part], run=run)  # [H, m]
            o += _column(p["output"]["dense"]["bias"])
            o += a
            layer_norm_(o, p["output"]["LayerNorm"], eps)
        return out

    def _activate(self, f: Array, bias: Array | None, name: str | None = None) -> Array:
        """act(f + bias), act = hidden_act unless named, for f [D, m] (f is ours: written in place)."""
        name, xp = name or self.config.hidden_act, self.xp
        exact_gelu = name in ("gelu", "gelu_python")
        if exact_gelu and self.tricks.fast_gelu and shim.is_numpy(xp) and self.dtype == xp.float32:
            return gelu_(f, bias)  # trick 6
        if bias is not None:
            f += _column(bias)
        return model.ACTIVATIONS[name](f)

    # ------------------------------------------------------------------------------------------------------------
    # Attention
    # ------------------------------------------------------------------------------------------------------------

    def _attention(
        self, q: Array, k: Array, v: Array, run: _Run, rows: slice, heads: slice, index: int
    ) -> Array:
        """The readable disentangled_self_attention for the sequences `rows` and the heads `heads`.

        q, k, v [m, d, T] from _qkv (q divided by the scale) -> their context [d m, T] (probabilities into
        run.attentions)."""
        xp, c = self.xp, self.config
        p = self._layer(index)["attention"]["self"]
        d, length, window = c.head_dim, run.length, run.window
        m, tokens = heads.stop - heads.start, q.shape[-1]
        pos_key, pos_query = self._position_terms(index, window)
        context = xp.empty((m, d, tokens // length, length), dtype=q.dtype)
        probs_all = run.attentions[index][rows, heads, ...] if run.attentions else None  # [b, m, L, L]
        mask = None if run.mask is None else run.mask[rows, ...]

        def per_sequence(x: Array) -> Array:  # [h, d, b*L] -> [b, h, d, L]
            return xp.permute_dims(xp.reshape(x, (x.shape[0], d, -1, length)), (2, 0, 1, 3))

        for block_rows, block_heads in self._blocks(tokens // length, length, m, window.hi - window.lo):
            t = slice(block_rows.start * length, block_rows.stop * length)
            q_b, k_b, v_b = q[block_heads, :, t], k[block_heads, :, t], v[block_heads, :, t]  # [h, d, b*L]
            scores = _matmul(xp.matrix_transpose(per_sequence(q_b)), per_sequence(k_b))  # [b, h, L, L]: c2c
            absolute = slice(heads.start + block_heads.start, heads.start + block_heads.stop)
            if pos_key is not None:  # c2p
                self._add_relative(scores, q_b, pos_key[absolute, ...], length, window, transpose=False)
            if pos_query is not None:  # p2c
                self._add_relative(scores, k_b, pos_query[absolute, ...], length, window, transpose=True)
            if self.talking_head:  # blocks then hold every head
                scores = model.talking_heads(scores, p["head_logits_proj"])
            block_mask = None if mask is None else mask[block_rows, ...]
            if block_mask is not None:
                scores = _fill_where_not_(scores, block_mask, shim.finfo_min(xp, scores.dtype))
            probs = softmax_(scores)
            if block_mask is not None and c.zero_fully_masked_rows:
                probs = _fill_where_not_(probs, block_mask, 0.0)
            if self.talking_head:
                probs = model.talking_heads(probs, p["head_weights_proj"])
            # context^T = v^T @ probs^T, written straight into the [h, d, b, L] = [d h, T] context
            out = xp.permute_dims(context[block_heads, :, block_rows, :], (2, 0, 1, 3))  # [b, h, d, L]
            _matmul(per_sequence(v_b), xp.matrix_transpose(probs), out=out)
            if probs_all is not None:
                probs_all[block_rows, block_heads, ...] = probs
        return xp.reshape(context, (m * d, tokens))

    def _blocks(self, batch: int, length: int, heads: int, width: int) -> list[tuple[slice, slice]]:
        """(batch rows, heads) blocks whose scores and one position term fit in tricks.block_bytes (trick 3).

        width: the rows of the relative table in use. Rows before heads: the block's c2p and p2c are one product
        per head over all its rows' tokens, which BLAS runs faster the more tokens it has."""
        per_head = length * (length + width) * self.xp.finfo(self.dtype).bits // 8  # scores + one term
        budget = self.tricks.block_bytes or batch * heads * per_head
        if self.talking_head:  # heads are mixed: every block holds them all
            rows, width = max(1, min(batch, budget // (per_head * heads))), heads
        else:
            rows = max(1, min(batch, budget // per_head))
            width = max(1, min(heads, budget // (per_head * rows))) if rows == batch else 1
        return [
            (slice(b, min(b + rows, batch)), slice(h, min(h + width, heads)))
            for b in range(0, batch, rows)
            for h in range(0, heads, width)
        ]

    def _position_terms(self, index: int, window: _Window) -> tuple[Array | None, Array | None]:
        """pos_key and pos_query / scale [n, K, d] for the rows window.lo .. window.hi-1 of the relative table."""
        if not self.config.relative_attention:
            return None, None
        rows = slice(window.lo, window.hi)
        if self.positions:  # trick 1
            key, query = self.positions[index]
            return (None if key is None else key[:, rows, :]), (None if query is None else query[:, rows, :])
        return self._project(self._relative_table(rows), self._layer(index)["attention"]["self"])

    def _gather_mode(self, length: int) -> str:
        """ "strided" (trick 2: NumPy, rel = i - j, nothing clipped), "flat" (cached flat indices) or "readable"."""
        if self.tricks.gather == "readable":
            return "readable"
        if (
            self.tricks.gather == "auto"
            and length <= self.span
            and shim.is_numpy(self.xp)
            and self._plain_distances(length)
        ):
            return "strided"
        return "flat"

    def _window(self, length: int) -> _Window:
        """How this length reads the relative table (flat windows LRU-cached per length, `max_lengths` of them).

        Built by the calling thread before the workers start; the lock is for callers in several threads."""
        mode = self._gather_mode(length)
        if mode == "strided":  # c2p[i, j] reads row C + i - j: rows C-L+1 .. C+L-1, in a window of 2L
            return _Window(mode, self.span - length, self.span + length)
        if mode == "readable":  # the readable modules compute their indices in every call: so does this mode
            c2p, p2c, lo, hi = self._relative_indices(length)
            return _Window(mode, lo, hi, index=(c2p, p2c))
        with self._lock:
            if length in self._indices:
                self._indices.move_to_end(length)
                return self._indices[length]
            xp = self.xp
            c2p, p2c, lo, hi = self._relative_indices(length)
            rows = xp.arange(length, dtype=xp.int64)
            width = hi - lo
            flat = (
                xp.reshape(rows[:, None] * width + c2p, (-1,)),  # c2p[i, j] = r[i, c2p_index[i, j]]
                xp.reshape(
                    rows[None, :] * width + xp.matrix_transpose(p2c), (-1,)
                ),  # p2c^T: r[j, p2c_index[j, i]]
            )
            window = self._indices[length] = _Window(mode, lo, hi, flat=flat)
            while len(self._indices) > self.max_lengths:
                self._indices.popitem(last=False)  # the least recently used length
            return window

    def _relative_indices(self, length: int) -> tuple[Array, Array, int, int]:
        """The readable modules' c2p and p2c indices [L, L] (clip(+-rel + C, 0, 2C - 1)), shifted to the rows
        lo .. hi-1 they read, and lo, hi. (v1 projects only the rows C-S .. C+S-1, which hold them all.)"""
        xp, span = self.xp, self.span
        rel = self._relative_positions(length)  # [L, L]
        c2p = xp.clip(rel + span, 0, 2 * span - 1)
        p2c = xp.clip(-rel + span, 0, 2 * span - 1)
        lo = min(int(xp.min(c2p)), int(xp.min(p2c)))
        hi = max(int(xp.max(c2p)), int(xp.max(p2c))) + 1
        return c2p - lo, p2c - lo, lo, hi

    def _add_relative(
        self, scores: Array, x: Array, table: Array, length: int, window: _Window, transpose: bool
    ) -> None:
        """scores [b, h, L, L] += c2p (x: queries, table: pos_key) or += p2c^T (x: keys, table: pos_query).

        x [h, d, b*L] and table [h, K, d]: the block's heads. One product per head for all the block's tokens;
        or, strided and long (trick 2b), one per band of rows: the rows a..b-1 of c2p only read the columns
        a+1 .. b+L-1 of the window (those of p2c, L-b+1 .. 2L-1-a), so each band multiplies only those:
        (L + band) / 2L of the work."""
        # thinner bands (32 rows from L = 64) were not faster at 1x128 and 8x128 with 2 threads: bands of 128
        xp, band = self.xp, self.tricks.band
        if not (band and window.mode == "strided" and length >= 2 * band):
            r = _matmul(xp.matrix_transpose(x), xp.matrix_transpose(table))  # [h, b*L, K]
            scores += self._gather(r, length, window, transpose)
            return
        heads, d = x.shape[0], x.shape[1]
        # A C-ordered copy: NumPy 2.4's matmul over OpenBLAS 0.3.31, called from two threads at once on stacked
        # operands that are both transposed views, sometimes returned wrong products (about 1 call in 100 of this
        # loop's, reproduced with numpy alone); with one operand C-ordered it never did (tests/test_fast.py, the
        # threaded bands case).
        rows = _contiguous(
            xp.permute_dims(xp.reshape(x, (heads, d, -1, length)), (2, 0, 3, 1))
        )  # [b, h, L, d]
        for start in range(0, length, band):
            stop = min(start + band, length)
            first = length - stop + 1 if transpose else start + 1  # the band's first column of the table
            columns = table[:, first : first + length + stop - start - 1, :]  # [h, L + band - 1, d]
            r = _matmul(rows[:, :, start:stop, :], xp.matrix_transpose(columns))  # [b, h, band, L + band - 1]
            if transpose:
                scores[..., start:stop] += _skew(r, True, start=stop - start - 1, length=length)
            else:
                scores[:, :, start:stop, :] += _skew(r, False, start=length - 1, length=length)

    def _gather(self, r: Array, length: int, window: _Window, transpose: bool) -> Array:
        """c2p [b, h, L, L] (or the transposed p2c) from r [h, b*L, K], K = window.hi - window.lo."""
        xp = self.xp
        heads, width = r.shape[0], r.shape[-1]
        r = xp.reshape(r, (heads, -1, length, width))  # [h, b, L, K]
        if window.mode == "flat":
            taken = xp.take(
                xp.reshape(r, (heads, -1, length * width)), window.flat[transpose], axis=-1
            )  # [h, b, L*L]
            term = xp.reshape(taken, (heads, -1, length, length))
        elif window.mode == "readable":
            term = shim.take_along_last(r, window.index[transpose])
            if transpose:
                term = xp.matrix_transpose(term)
        else:
            term = _skew(r, transpose)
        return xp.permute_dims(term, (1, 0, 2, 3))  # [b, h, L, L]
