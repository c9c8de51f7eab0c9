"""The fast forward pass of DeBERTa-v2/v3: `model_v2.deberta`, through fast.py's tricks.

model_v2.py is the specification and this module, with fast.py, an optimisation of it, tested equal to it
(tests/test_fast_v2.py). FastDebertaV2 is fast.FastDeberta with what v2/v3 does differently; the attention
(blocks, strided skew, bands, flat gathers), the dense part, GELU and the worker threads are fast.py's.
How v2 maps onto fast.py's tricks (numbers as in its docstring):

* The relative table is rel_embeddings after its LayerNorm (norm_rel_ebd "layer_norm"), 2C rows, C =
  position_buckets, or P without buckets; v2 projects all 2C rows in every layer of every call.
  1. Position cache: the LayerNorm and the projections (pos_key_proj / pos_query_proj, or with share_att_key (v3)
     the content key_proj / query_proj, biases included) run once, at load. LayerNorm and linear act row by row,
     so a length uses the view of the rows it reads.
  2. Skew: v2's rel(i, j) is i - j in log buckets, and buckets keep distances up to position_buckets / 2 (and a
     little beyond: v3-base, buckets 256 and P 512, up to 131): lengths up to that and up to C (nothing
     clipped) read c2p[i, j] = c2p_full[i, C + i - j], the strided view of v1. Longer lengths gather with flat
     indices into the rows they read (v3-base at 512: all 512), cached per length.
  Scale: v2 divides c2c, c2p and p2c by sqrt(d * (1 + [c2p] + [p2c])) after the products; here q is divided
  before c2c and c2p and pos_query at load (as fast.py does for v1): the same up to rounding.
* Projections: v2's query_proj, key_proj and value_proj (each with a bias) write their heads' rows into one
  [3, m d, T] buffer, three products with the checkpoint's weights as they are (no concatenated copy).
* The ConvLayer after layer 0 (conv_kernel_size > 0): model_v2.conv1d stacks k shifted copies of the [B, L, H]
  input and multiplies them by a permuted (copied) weight; here the shifted copies are the rows of a
  feature-major [H, k, tokens] block (zero where a shift leaves the sequence, conv1d's padding) and the weight
  [H, H/G, k] is used as the [G, H/G, (H/G) k] matrix it already is in memory: one product per group and chunk
  of sequences (trick 7). The mask, conv_act, residual, LayerNorm and mask follow, in place, in model_v2's order.

float16 models stay on model_v2.py (modeling.py does not build this class for them).
"""

from __future__ import annotations

from typing import Any

from . import model, model_v2, shim
from .config import DebertaV2Config
from .fast import Array, FastDeberta, Params, _column, _fill_where_not_, _Run, layer_norm_


class FastDebertaV2(FastDeberta):
    """The DeBERTa-v2/v3 encoder with load-time caches: `FastDebertaV2(p, config)(ids, mask, ...)` ==
    model_v2.deberta. Arguments, caches and threads as FastDeberta's."""

    model_type = "deberta-v2"
    talking_heads = False
    config: DebertaV2Config

    def __init__(self, p: Params, config: DebertaV2Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(p, config, *args, **kwargs)
        # The largest distance that the log buckets keep unchanged (every one without buckets), from the spec's own
        # function: a length up to it + 1 has rel(i, j) = i - j. Buckets are odd, so -r behaves as r.
        self.plain_up_to = self.span
        if config.position_buckets > 0:
            xp = self.xp
            distances = xp.arange(self.span + 1, dtype=xp.int64)  # a strided length (<= C) has distances < C
            moved = model_v2.log_bucket_positions(distances, config.position_buckets, config.max_relative)
            moved = moved != distances
            if bool(xp.any(moved)):
                self.plain_up_to = int(xp.argmax(xp.astype(moved, xp.int64))) - 1

    def _span(self) -> int:
        return self.config.position_span

    def _relative_table(self, rows: slice) -> Array:
        """model_v2.relative_embeddings, for the rows `rows` (its LayerNorm acts row by row)."""
        table = self.p["encoder"]["rel_embeddings"]["weight"][rows, :]
        if "layer_norm" in self.config.norm_rel_ebd:
            table = model.layer_norm(table, self.p["encoder"]["LayerNorm"], self.config.layer_norm_eps)
        return table

    def _relative_positions(self, length: int) -> Array:
        return model_v2.relative_positions(length, self.config, self.xp)

    def _plain_distances(self, length: int) -> bool:
        return length - 1 <= self.plain_up_to

    def _project(self, table: Array, p: Params) -> tuple[Array | None, Array | None]:
        """model_v2.disentangled_bias's pos_key and pos_query (/ scale) for the rows of `table` -> [n, K, d] each."""
        c = self.config
        n = c.num_attention_heads
        key_proj = p["key_proj"] if c.share_att_key else p.get("pos_key_proj")
        query_proj = p["query_proj"] if c.share_att_key else p.get("pos_query_proj")
        key = model.split_heads(model.linear(table, key_proj), n) if "c2p" in c.pos_att_type else None
        query = None
        if "p2c" in c.pos_att_type:
            query = model.split_heads(model.linear(table, query_proj), n) / self.scale
        return key, query

    def _qkv(self, h: Array, index: int, heads: slice, run: _Run | None = None) -> tuple[Array, Array, Array]:
        """query_proj, key_proj and value_proj (with their biases) for the heads `heads`, q divided by the scale."""
        xp, d = self.xp, self.config.head_dim
        p = self._layer(index)["attention"]["self"]
        rows = slice(d * heads.start, d * heads.stop)
        m, tokens = heads.stop - heads.start, h.shape[1]
        qkv = xp.empty((3, m * d, tokens), dtype=h.dtype)
        for i, name in enumerate(("query_proj", "key_proj", "value_proj")):
            out = self._linear(p[name]["weight"][rows, :], h, out=qkv[i, ...], run=run)
            out += _column(p[name]["bias"][rows])
            if not shim.is_numpy(xp):  # without out=, the product and the bias are a new array
                qkv[i, ...] = out
        qkv = xp.reshape(qkv, (3, m, d, tokens))
        q = qkv[0, ...]
        q /= self.scale
        return q, qkv[1, ...], qkv[2, ...]

    # ------------------------------------------------------------------------------------------------------------
    # The ConvLayer
    # ------------------------------------------------------------------------------------------------------------

    def _has_post_layer(self, index: int) -> bool:
        return index == 0 and self.config.conv_kernel_size > 0

    def _post_layer(
        self, index: int, embedded: Array, h: Array, columns: slice, length: int, token_mask: Array | None
    ) -> None:
        """model_v2.conv_branch on the columns `columns` (whole sequences) of h [H, T], in place."""
        c, xp = self.config, self.xp
        p = self.p["encoder"]["conv"]
        sequences = (columns.stop - columns.start) // length
        per_chunk = max(1, (self.tricks.tokens_per_chunk or sequences * length) // length)  # trick 7
        for first in range(0, sequences, per_chunk):
            part = slice(
                columns.start + first * length, columns.start + min(first + per_chunk, sequences) * length
            )
            out = self._conv1d(embedded[:, part], p["conv"]["weight"], length)  # [H, m]
            out += _column(p["conv"]["bias"])
            keep = None if token_mask is None else xp.reshape(token_mask[part], (1, -1))
            if keep is not None:  # the conv reached into padding; zero its output there
                out = _fill_where_not_(out, keep != 0.0, 0.0)
            out = self._activate(out, None, c.conv_act)
            out += h[:, part]
            out = layer_norm_(out, p["LayerNorm"], c.layer_norm_eps)
            if keep is not None:
                out *= keep
            h[:, part] = out

    def _conv1d(self, x: Array, weight: Array, length: int) -> Array:
        """model_v2.conv1d of whole sequences, feature-major: x [H, b*L] -> [H, b*L] (without the bias)."""
        xp = self.xp
        groups, kernel = self.config.conv_groups, self.config.conv_kernel_size
        hidden, tokens = x.shape
        width, half = hidden // groups, (kernel - 1) // 2
        # shifted[c, j, t] = x[c, t + j - half] within t's sequence, else 0 (the 'same' padding)
        shifted = xp.zeros((hidden, kernel, tokens // length, length), dtype=x.dtype)
        sequences = xp.reshape(x, (hidden, -1, length))  # [H, b, L]
        for j in range(kernel):
            shift, overlap = j - half, length - abs(j - half)
            if overlap > 0:
                into, source = max(0, -shift), max(0, shift)
                shifted[:, j, :, into : into + overlap] = sequences[:, :, source : source + overlap]
        # weight [H, H/G, k] is [G, H/G, (H/G) k] in memory, its columns (c, j) the rows of shifted's [G, (H/G) k, T]
        product = xp.reshape(weight, (groups, hidden // groups, width * kernel)) @ xp.reshape(
            shifted, (groups, width * kernel, tokens)
        )  # [G, H/G, T]
        return xp.reshape(product, (hidden, tokens))
