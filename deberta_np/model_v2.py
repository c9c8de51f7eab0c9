"""DeBERTa-v2 and v3 inference: what changes from v1 (model.py), written as the specification.

Read model.py first: the building blocks, the embeddings, the masked softmax, the layer, the encoder loop and
the task heads are v1's, used unchanged; this module passes its attention, its relative table and its
convolution into model.py's forward (`model.deberta`). What is new in v2/v3 (transformers'
`models/deberta_v2/modeling_deberta_v2.py`, 4.57.6), top to bottom:
  * relative positions in log buckets (`position_buckets`) instead of clipping: near distances keep a row each,
    far ones share rows, so 256 rows reach 512 tokens and beyond;
  * attention with separate query/key/value projections that have biases, and position projections that are
    either their own (`pos_key_proj`, `pos_query_proj`) or, with `share_att_key` (v3), the content ones: one
    projection serves content and positions, so the table is read in the same space as the tokens;
  * a LayerNorm on the relative-position table (`norm_rel_ebd="layer_norm"`);
  * a convolution branch after the first layer (`conv_kernel_size`, v2-xlarge/xxlarge; "nGiE", n-gram induced
    input encoding, in Microsoft's release notes): a 1-D convolution over neighbouring tokens' embeddings, added
    to layer 0's output, for the local dependencies that attention over relative positions learns slowly;
  * a multiple-choice head.
DeBERTa-v3 (arXiv:2111.09543) changes pre-training (replaced-token detection, see model.py), not this forward.

Dimension legend as in model.py, plus:
    C  number of choices (multiple choice)     k  convolution kernel size     G  convolution groups
    S  attention span = position_buckets if set, else P (v2 does not shrink it to the length)
"""

from __future__ import annotations

import functools
from typing import Any

from . import model, shim
from .config import DebertaV2Config
from .model import (
    ACTIVATIONS,
    Array,
    Params,
    attention_scale,
    embedding_parameter_shapes,
    layer_norm,
    layer_tail_shapes,
    linear,
    masked_softmax,
    merge_heads,
    sequence_classification_head,
    split_heads,
)

# ================================================================================================================
# Relative positions in log buckets
# ================================================================================================================


def log_bucket_positions(rel: Array, buckets: int, max_position: int) -> Array:
    """Distances within +-buckets/2 are kept; farther ones share logarithmically wider buckets.  int64 -> int64.

    bucket(r) = r                                                          if |r| <= mid (mid = buckets // 2)
              = sign(r) * (mid + ceil(log(|r| / mid) / log((max_position - 1) / mid) * (mid - 1)))  otherwise
    Computed in float32, as transformers does (the ceil makes the rounding of the log part of the definition).
    """
    xp = shim.namespace(rel)
    mid = buckets // 2
    sign = xp.astype(xp.sign(rel), xp.float32)
    near = (rel < mid) & (rel > -mid)
    magnitude = xp.astype(xp.where(near, mid - 1, xp.abs(rel)), xp.float32)
    scale = xp.log(xp.asarray((max_position - 1) / mid, dtype=xp.float32))
    # log() only matters where magnitude > mid >= 1; the floor at 1 keeps the discarded entries finite
    log_position = xp.ceil(xp.log(xp.maximum(magnitude, 1.0) / float(mid)) / scale * float(mid - 1)) + float(
        mid
    )
    bucket = xp.where(magnitude <= float(mid), xp.astype(rel, xp.float32), log_position * sign)
    return xp.astype(bucket, xp.int64)


def relative_positions(length: int, config: DebertaV2Config, xp: Any) -> Array:
    """rel[i, j] = i - j (model.relative_positions), in log buckets when config.position_buckets > 0.  [L, L]."""
    rel = model.relative_positions(length, xp)  # [L, L] int64
    if config.position_buckets > 0:
        rel = log_bucket_positions(rel, config.position_buckets, config.max_relative)
    return rel


def relative_embeddings(p: Params, config: DebertaV2Config) -> Array:
    """The relative-position table [2S, H], layer-normed when norm_rel_ebd says so."""
    table = p["rel_embeddings"]["weight"]  # [2S, H]
    if "layer_norm" in config.norm_rel_ebd:
        table = layer_norm(table, p["LayerNorm"], config.layer_norm_eps)
    return table


# ================================================================================================================
# Disentangled attention, v2
# ================================================================================================================


def disentangled_bias(q: Array, k: Array, table: Array, p: Params, config: DebertaV2Config) -> Array:
    """c2p + p2c.  q, k [B, n, L, d] (unscaled), table [2S, H] -> [B, n, L, L].

    With r = rel[i, j] (bucketed) and the row S + r of the table, clipped to [0, 2S):
        c2p[i, j] = q_i . pos_key[S + r] / scale        p2c[i, j] = k_j . pos_query[S + r] / scale
    share_att_key (v3) projects the table with the content key_proj/query_proj, biases included.
    """
    xp = shim.namespace(q)
    n, span = config.num_attention_heads, config.position_span
    scale = attention_scale(config)
    rel = relative_positions(q.shape[-2], config, xp)  # [L, L]
    key_proj = p["key_proj"] if config.share_att_key else p.get("pos_key_proj")
    query_proj = p["query_proj"] if config.share_att_key else p.get("pos_query_proj")
    bias = 0.0
    if "c2p" in config.pos_att_type:
        pos_key = split_heads(linear(table, key_proj), n)  # [n, 2S, d]
        c2p = q @ xp.matrix_transpose(pos_key)  # [B, n, L, 2S]
        c2p_index = xp.clip(rel + span, 0, 2 * span - 1)  # [L, L]
        bias = bias + shim.take_along_last(c2p, c2p_index) / scale  # [B, n, L, L]
    if "p2c" in config.pos_att_type:
        pos_query = split_heads(linear(table, query_proj), n)  # [n, 2S, d]
        p2c = k @ xp.matrix_transpose(pos_query)  # [B, n, L, 2S]: row j is key j
        p2c_index = xp.clip(-rel + span, 0, 2 * span - 1)  # [L, L]
        bias = bias + xp.matrix_transpose(shim.take_along_last(p2c, p2c_index)) / scale  # [B, n, L, L]
    return bias


def disentangled_self_attention(
    h: Array, mask: Array, table: Array | None, p: Params, config: DebertaV2Config
) -> tuple[Array, Array]:
    """h [B, L, H] -> (context [B, L, H], attention probabilities [B, n, L, L])."""
    xp = shim.namespace(h)
    n = config.num_attention_heads
    q = split_heads(linear(h, p["query_proj"]), n)  # [B, n, L, d]
    k = split_heads(linear(h, p["key_proj"]), n)  # [B, n, L, d]
    v = split_heads(linear(h, p["value_proj"]), n)  # [B, n, L, d]
    # model.attention_scale, with v2's scale_factor = 1 + [c2p] + [p2c]; v2 scales k and the terms, v1 q
    scores = q @ (xp.matrix_transpose(k) / attention_scale(config))  # [B, n, L, L]
    if config.relative_attention:
        scores = scores + disentangled_bias(q, k, table, p, config)
    probs = masked_softmax(scores, mask, config.zero_fully_masked_rows)  # [B, n, L, L]
    return merge_heads(probs @ v), probs  # [B, L, H]


# ================================================================================================================
# The convolution branch (v2-xlarge/xxlarge)
# ================================================================================================================


def conv1d(x: Array, weight: Array, bias: Array, groups: int) -> Array:
    """PyTorch's Conv1d over the length axis with 'same' padding (odd kernel).  x [B, L, H] -> [B, L, H].

    weight [H, H/G, k]: out[b, t, o] = bias[o] + sum_{c in o's group, j < k} weight[o, c, j] x[b, t + j - k//2, c]
    """
    xp = shim.namespace(x)
    b, length, hidden = x.shape
    out_channels, group_width, kernel = weight.shape
    half = (kernel - 1) // 2
    zeros = xp.zeros((b, half, hidden), dtype=x.dtype)
    padded = xp.concat([zeros, x, zeros], axis=1)  # [B, L + k - 1, H]
    windows = xp.stack([padded[:, j : j + length, :] for j in range(kernel)], axis=2)  # [B, L, k, H]
    windows = xp.reshape(windows, (b, length, kernel, groups, group_width))  # [B, L, k, G, H/G]
    windows = xp.reshape(
        xp.permute_dims(windows, (0, 1, 3, 2, 4)), (b, length, groups, 1, kernel * group_width)
    )
    w = xp.reshape(weight, (groups, out_channels // groups, group_width, kernel))  # [G, H/G, H/G, k]
    w = xp.reshape(xp.permute_dims(w, (0, 3, 2, 1)), (groups, kernel * group_width, out_channels // groups))
    out = xp.reshape(windows @ w, (b, length, out_channels))  # [B, L, G, 1, H/G] -> [B, L, H]
    return out + bias


def conv_branch(
    embedded: Array, first_layer_output: Array, mask: Array, p: Params, config: DebertaV2Config
) -> Array:
    """LayerNorm(layer-0 output + act(conv(embedding output))), padded positions zeroed.  -> [B, L, H]."""
    out = conv1d(embedded, p["conv"]["weight"], p["conv"]["bias"], config.conv_groups)  # [B, L, H]
    xp = shim.namespace(out)
    out = xp.where(mask[:, :, None] != 0.0, out, 0.0)  # the conv reached into padding; zero its output there
    out = ACTIVATIONS[config.conv_act](out)
    return layer_norm(first_layer_output + out, p["LayerNorm"], config.layer_norm_eps) * mask[:, :, None]


# ================================================================================================================
# The encoder: model.deberta with the v2 attention, the v2 relative table and the convolution after layer 0
# ================================================================================================================


def convolution_after_first_layer(
    index: int, embedded: Array, h: Array, mask: Array, p: Params, config: DebertaV2Config
) -> Array:
    """After layer 0, where the checkpoint has a ConvLayer (conv_kernel_size > 0): conv_branch; else h as is."""
    if index != 0 or config.conv_kernel_size == 0:
        return h
    return conv_branch(embedded, h, mask, p["conv"], config)


# ids [B, L] -> (last hidden state [B, L, H], N + 1 hidden states if asked, N attentions if asked): v1's forward
# (embeddings, then the layers) with what v2/v3 change passed in.
deberta = functools.partial(
    model.deberta,
    attention=disentangled_self_attention,
    relative_table=relative_embeddings,
    after_layer=convolution_after_first_layer,
)


# ================================================================================================================
# Heads: v1's (model.py), and multiple choice
# ================================================================================================================


def multiple_choice_head(h: Array, p: Params, config: DebertaV2Config, choices: int) -> Array:
    """The sequence-classification head with one output, on each (example, choice) row: h [B*C, L, H] ->
    logits [B, C], the score of each choice."""
    logits = sequence_classification_head(h, p, config)  # [B*C, 1]
    return shim.namespace(h).reshape(logits, (-1, choices))  # [B, C]


# ================================================================================================================
# The checkpoint schema
# ================================================================================================================

HEADS = (*model.HEADS, "multiple_choice")


def head_parameter_shapes(config: DebertaV2Config, head: str) -> dict[str, tuple[int, ...]]:
    """model.head_parameter_shapes, and multiple choice: the sequence-classification pooler, one output."""
    if head != "multiple_choice":
        return model.head_parameter_shapes(config, head)
    shapes = model.head_parameter_shapes(config, "sequence_classification")
    shapes.update({"classifier.weight": (1, config.hidden_size), "classifier.bias": (1,)})
    return shapes


def encoder_parameter_shapes(config: DebertaV2Config) -> dict[str, tuple[int, ...]]:
    """Shapes of the `deberta.*` parameters (names without the prefix)."""
    c = config
    h = c.hidden_size
    inner = c.num_attention_heads * c.head_dim
    shapes = embedding_parameter_shapes(c)
    if c.relative_attention:
        shapes["encoder.rel_embeddings.weight"] = (2 * c.position_span, h)
    if "layer_norm" in c.norm_rel_ebd:
        shapes["encoder.LayerNorm.weight"] = shapes["encoder.LayerNorm.bias"] = (h,)
    if c.conv_kernel_size > 0:
        shapes["encoder.conv.conv.weight"] = (h, h // c.conv_groups, c.conv_kernel_size)
        shapes["encoder.conv.conv.bias"] = (h,)
        shapes["encoder.conv.LayerNorm.weight"] = shapes["encoder.conv.LayerNorm.bias"] = (h,)
    for index in range(c.num_hidden_layers):
        prefix = f"encoder.layer.{index}."
        projections = ["query_proj", "key_proj", "value_proj"]
        if c.relative_attention and not c.share_att_key:
            projections += [
                name
                for kind, name in (("c2p", "pos_key_proj"), ("p2c", "pos_query_proj"))
                if kind in c.pos_att_type
            ]
        for name in projections:
            shapes[f"{prefix}attention.self.{name}.weight"] = (inner, h)
            shapes[f"{prefix}attention.self.{name}.bias"] = (inner,)
        shapes.update(layer_tail_shapes(prefix, c))
    return shapes
