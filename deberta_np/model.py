"""DeBERTa inference, written as the specification: pure functions of (arrays, params, config).

DeBERTa ("Decoding-enhanced BERT with disentangled attention", He, Liu, Gao and Chen, ICLR 2021,
https://arxiv.org/abs/2006.03654) is BERT with one idea changed: a token is not its word embedding plus an
absolute-position embedding. Each token keeps its content vector, and relative positions enter the attention
scores directly, through a table of relative-position embeddings shared by all layers. The attention score of
query i and key j (paper, eq. 2 and 4) is a sum of three products:

    A[i, j] = Qc_i . Kc_j                 content-to-content   (c2c, BERT's score)
            + Qc_i . Kr_δ(i,j)            content-to-position  (c2p: what query i looks for at that distance)
            + Kc_j . Qr_δ(j,i)            position-to-content  (p2c: what key j offers to a query at that distance)
    out_i   = softmax_j(A[i, :] / √(3d)) . Vc

with Qc, Kc, Vc the content projections of the hidden states, Qr, Kr the projections of the relative-position
table, and δ(i, j) = k + clip(i - j, -k, k - 1) the table row of a distance, k the largest distance told apart.

The paper's notation in this file:
    paper               code                           here
    k                   P = config.max_relative        the distance beyond which positions are clipped
    P (the 2k x d table) rel_embeddings [2P, H]         `encoder.rel_embeddings.weight`
    δ(i, j)             P + clip(i - j, -S, S - 1)     the row, within the slice of K = 2S rows in use
    Kr, Qr              pos_key, pos_query             pos_proj(table), pos_q_proj(table) (v1 names)
    √(3d)               attention_scale(config)        √(d · scale_factor), scale_factor = 1 + #terms
Each of the three terms is a dot product of two d-long vectors whose entries have variance about 1, so each has
variance about d and their sum about 3d: dividing by √(3d) brings the scores back to variance about 1, as
BERT's √d does for its one term. (With only c2p, or neither, scale_factor counts fewer terms.)

What this file does not hold, and why inference does not need it:
  * The enhanced mask decoder (EMD, paper §3.2). Pre-training predicts masked words with two extra layers that
    add *absolute* positions just before the output ("a new store opened beside the new mall": store and mall
    have the same relative context). It is part of the pre-training MLM decoder, not of the encoder; transformers
    does not implement it and no fine-tuned head uses it. The official v1 checkpoints still carry its
    `embeddings.position_embeddings.weight`, which the loader knows to ignore.
  * Replaced-token detection (RTD). DeBERTa-v3 is pre-trained as ELECTRA is: a small generator fills the masked
    positions, and the released model is the discriminator, trained to say for every token whether it was
    replaced. Its `mask_predictions.*` head is a pre-training head that no task uses: the encoder below is all
    that classification, tagging and question answering fine-tune.
  * Dropout: the identity at inference.

Read top to bottom: building blocks, embeddings, relative positions and disentangled attention, the layer and
the encoder, the task heads, the activation functions, and last the checkpoint schema (every parameter name with
its shape). DeBERTa-v2/v3 (model_v2.py) changes the attention and the relative positions, and passes its own
into this file's forward, `deberta`. The code is that of Hugging Face transformers'
`models/deberta/modeling_deberta.py` (4.57.6), which the tests compare it with.

Dimension legend (one letter per dimension, used in every shape comment):
    B  batch size                      L  sequence length (queries and keys: this is self-attention)
    V  vocabulary size                 E  embedding size (= H unless config.embedding_size is set)
    H  hidden size                     n  attention heads         d  head size = H / n
    I  intermediate (feed-forward) size
    P  max relative distance (config.max_relative; the paper's k)
    S  attention span = min(L, P)      K  = 2S rows of the relative-position table in use
    T  number of labels

Parameters are nested dicts whose paths are the checkpoint key names: `p["encoder"]["layer"][3]["attention"]
["self"]["in_proj"]["weight"]` is `deberta.encoder.layer.3.attention.self.in_proj.weight`. Linear weights keep
PyTorch's [out, in] layout and are applied as `x @ W.T + b`.

Numerics: everything runs in the parameters' dtype (float32, or float64 as the oracle mode), except that
float16 inputs to LayerNorm and softmax are computed in float32. Scalars are Python floats, never NumPy scalars
(NumPy 2 promotes `float32_array / numpy.float64(8.0)` to float64). Inputs are never modified in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import shim
from .config import DebertaConfig

Array = Any  # an array of the backend in use (numpy.ndarray or cupy.ndarray)
Params = dict[str, Any]

# ================================================================================================================
# Building blocks
# ================================================================================================================


def linear(x: Array, p: Params) -> Array:
    """x @ W.T + b: [..., in] -> [..., out], with W [out, in] and optional b [out]."""
    xp = shim.namespace(x)
    *lead, width = x.shape
    y = xp.reshape(xp.reshape(x, (-1, width)) @ p["weight"].T, (*lead, p["weight"].shape[0]))  # [..., out]
    if "bias" in p:
        y = y + p["bias"]
    return y


def layer_norm(x: Array, p: Params, eps: float) -> Array:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance, eps inside the root)."""
    xp = shim.namespace(x)
    # transformers' DebertaLayerNorm casts here (`hidden_states.float()`, back with `.to(input_type)` below):
    # float16 is normalised in float32, where its variance cannot overflow. NOTE(divergence): that cast also
    # rounds float64 to float32; the float64 oracle mode keeps float64.
    h = xp.astype(x, xp.float32) if shim.is_half(x) else x
    mean = xp.mean(h, axis=-1, keepdims=True)  # [..., 1]
    var = xp.mean((h - mean) ** 2, axis=-1, keepdims=True)  # [..., 1]
    h = (h - mean) / xp.sqrt(var + eps)  # [..., D]
    return p["weight"] * xp.astype(h, x.dtype) + p["bias"]


def split_heads(x: Array, n: int) -> Array:
    """[..., M, n*d] -> [..., n, M, d]: one slice of the last axis per head."""
    xp = shim.namespace(x)
    *lead, m, width = x.shape
    x = xp.reshape(x, (*lead, m, n, width // n))  # [..., M, n, d]
    return xp.moveaxis(x, -2, -3)  # [..., n, M, d]


def merge_heads(x: Array) -> Array:
    """[B, n, L, d] -> [B, L, n*d]."""
    xp = shim.namespace(x)
    b, n, length, d = x.shape
    return xp.reshape(xp.permute_dims(x, (0, 2, 1, 3)), (b, length, n * d))


# ================================================================================================================
# Embeddings
# ================================================================================================================


def embeddings(
    input_ids: Array,
    token_type_ids: Array,
    position_ids: Array,
    mask: Array,
    p: Params,
    config: DebertaConfig,
) -> Array:
    """Token ids [B, L] -> the encoder input [B, L, H]; padded positions (mask 0) are zero vectors."""
    x = shim.take_rows(p["word_embeddings"]["weight"], input_ids)  # [B, L, E]
    if config.position_biased_input:  # absolute positions; false in the official v1 checkpoints
        x = x + shim.take_rows(p["position_embeddings"]["weight"], position_ids)  # [B, L, E]
    if config.type_vocab_size > 0:  # 0 in the official v1 checkpoints: token_type_ids are then ignored
        x = x + shim.take_rows(p["token_type_embeddings"]["weight"], token_type_ids)  # [B, L, E]
    if config.embedding_size != config.hidden_size:
        x = linear(x, p["embed_proj"])  # [B, L, H]
    x = layer_norm(x, p["LayerNorm"], config.layer_norm_eps)  # [B, L, H]
    return x * mask[:, :, None]  # [B, L, H]; the mask is applied after the LayerNorm


# ================================================================================================================
# Relative positions and disentangled attention
# ================================================================================================================
#
# The relative-position table has 2P rows; row P + δ holds distance δ = i - j, for δ in [-P, P - 1]. A sequence
# of L tokens has distances -(L-1) .. L-1 only, so it reads the K = 2S rows P-S .. P+S-1 (S = min(L, P)), and a
# row is found as S + δ within that slice. Here P = 4, L = 3 (S = 3, the slice is rows 1..6):
#
#     table row      0    1    2    3    4    5    6    7          c2p row S + (i - j) for query i, key j:
#     distance δ    -4   -3   -2   -1    0   +1   +2   +3                   j=0  j=1  j=2
#                        └──────── slice: K = 2S = 6 ───┘             i=0    3    2    1
#     slice row           0    1    2    3    4    5                  i=1    4    3    2
#                                                                    i=2    5    4    3
#
# Each diagonal of the [L, L] grid is one distance, hence one row. When L > P (S = P) the distances beyond the
# table are clipped to its first and last rows: every token farther than P - 1 away looks the same. That is the
# paper's δ(i, j) = k + clip(i - j, -k, k - 1), with k = P.


def relative_positions(length: int, xp: Any) -> Array:
    """rel[i, j] = i - j: the distance from query i to key j.  [L, L] int64."""
    ids = xp.arange(length, dtype=xp.int64)  # [L]
    return ids[:, None] - ids[None, :]  # [L, L]


def attention_scale(config: DebertaConfig) -> float:
    """The paper's √(3d): √(d · scale_factor), scale_factor = 1 + the position terms config.scale_factor counts.

    NOTE(divergence): transformers computes it in float32 even in float64 mode; this is the exact value."""
    return math.sqrt(config.head_dim * config.scale_factor)


def disentangled_bias(q: Array, k: Array, rel_embeddings: Array, p: Params, config: DebertaConfig) -> Array:
    """The relative-position terms c2p + p2c of the attention scores.  -> [B, n, L, L]

    q is already divided by the scale. With δ = clip(i - j, -S, S - 1) (the slice row is S + δ):
        c2p[i, j] = q_i . pos_key[S + δ]            content of query i  -> position of key j relative to i
        p2c[i, j] = k_j . pos_query[S + δ] / scale  position of query i relative to j -> content of key j

    The p2c index convention. The paper writes Kc_j . Qr_δ(j,i): the row of distance j - i. The code, like
    transformers and Microsoft's, reads the row of i - j for p2c too: it multiplies every key by every row
    (p2c [B, n, L, K], row j is key j), gathers with the index S - rel (the [L, L] grid read as [key j, query i],
    so entry [j, i] is S - (j - i) = S + i - j), then flips the result to [query i, key j]. Both conventions
    give each distance its own row, in mirrored order; the checkpoints were trained with the code's, so the
    code's is the one their weights need.
    """
    xp = shim.namespace(q)
    n = config.num_attention_heads
    length = q.shape[-2]
    span = min(length, config.max_relative)  # S
    rel = relative_positions(length, xp)  # [L, L]
    low, high = config.max_relative - span, config.max_relative + span
    table = rel_embeddings[low:high, :]  # [K, H]: rows P-S .. P+S-1 of the [2P, H] table
    bias = 0.0
    if "c2p" in config.pos_att_type:
        pos_key = split_heads(linear(table, p["pos_proj"]), n)  # [n, K, d]: the paper's Kr
        c2p = q @ xp.matrix_transpose(pos_key)  # [B, n, L, K]: query i against every row
        c2p_index = xp.clip(rel + span, 0, 2 * span - 1)  # [L, L]: S + δ
        bias = bias + shim.take_along_last(c2p, c2p_index)  # [B, n, L, L]
    if "p2c" in config.pos_att_type:
        pos_query = split_heads(linear(table, p["pos_q_proj"]), n) / attention_scale(config)  # [n, K, d]: Qr
        p2c = k @ xp.matrix_transpose(pos_query)  # [B, n, L, K]: row j is key j
        p2c_index = xp.clip(-rel + span, 0, 2 * span - 1)  # [L, L]: [j, i] -> S + clip(i - j)
        bias = bias + xp.matrix_transpose(
            shim.take_along_last(p2c, p2c_index)
        )  # [B, n, L, L]: flipped to [i, j]
    return bias


def talking_heads(scores: Array, p: Params) -> Array:
    """Mix the heads with a Linear(n, n) over the head axis (config.talking_head; never in official checkpoints)."""
    xp = shim.namespace(scores)
    mixed = linear(xp.permute_dims(scores, (0, 2, 3, 1)), p)  # [B, L, L, n]
    return xp.permute_dims(mixed, (0, 3, 1, 2))  # [B, n, L, L]


def masked_softmax(scores: Array, mask: Array, zero_fully_masked_rows: bool) -> Array:
    """Softmax over keys with masked pairs filled with finfo.min first.  [B, n, L, L] -> same.

    A padded query row is entirely masked: it comes out uniform (transformers >= 4.47) or, with
    `zero_fully_masked_rows`, all zero (transformers <= 4.46, TF, Microsoft). Valid rows are identical.
    """
    xp = shim.namespace(scores)
    s = xp.astype(scores, xp.float32) if shim.is_half(scores) else scores  # fp16 never sees the fill
    s = xp.where(mask, s, shim.finfo_min(xp, s.dtype))  # mask [B, 1, L, L] broadcasts over heads
    probs = shim.softmax(s, axis=-1)  # [B, n, L, L]
    if zero_fully_masked_rows:
        probs = xp.where(mask, probs, 0.0)
    return xp.astype(probs, scores.dtype)


def disentangled_self_attention(
    h: Array, mask: Array, rel_embeddings: Array | None, p: Params, config: DebertaConfig
) -> tuple[Array, Array]:
    """DeBERTa v1 attention.  h [B, L, H] -> (context [B, L, H], attention probabilities [B, n, L, L])."""
    xp = shim.namespace(h)
    n, d = config.num_attention_heads, config.head_dim
    # in_proj is interleaved per head: rows [3d*h, 3d*h + d) are head h's query, then its key, then its value.
    qkv = split_heads(linear(h, p["in_proj"]), n)  # [B, n, L, 3d]
    q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]  # [B, n, L, d] each: Qc, Kc, Vc
    q = q + xp.reshape(p["q_bias"], (n, 1, d))  # key has no bias
    v = v + xp.reshape(p["v_bias"], (n, 1, d))
    q = q / attention_scale(config)
    scores = q @ xp.matrix_transpose(k)  # [B, n, L, L]: c2c, already scaled
    if config.relative_attention:
        scores = scores + disentangled_bias(q, k, rel_embeddings, p, config)
    if config.talking_head:
        scores = talking_heads(scores, p["head_logits_proj"])
    probs = masked_softmax(scores, mask, config.zero_fully_masked_rows)  # [B, n, L, L]
    if config.talking_head:
        probs = talking_heads(probs, p["head_weights_proj"])
    context = merge_heads(probs @ v)  # [B, L, H]
    return context, probs


# ================================================================================================================
# The layer and the encoder
# ================================================================================================================

# The attention a layer runs: (h [B, L, H], pair mask, relative table or None, its params, config) -> (context
# [B, L, H], probabilities [B, n, L, L]). v1's is disentangled_self_attention; model_v2 passes its own.
Attention = Callable[[Array, Array, "Array | None", Params, DebertaConfig], tuple[Array, Array]]


def layer(
    h: Array,
    mask: Array,
    rel_embeddings: Array | None,
    p: Params,
    config: DebertaConfig,
    attention: Attention = disentangled_self_attention,
) -> tuple[Array, Array]:
    """One post-LN transformer layer.  h [B, L, H] -> (h' [B, L, H], attention probabilities [B, n, L, L])."""
    eps = config.layer_norm_eps
    context, probs = attention(h, mask, rel_embeddings, p["attention"]["self"], config)
    out = p["attention"]["output"]
    a = layer_norm(linear(context, out["dense"]) + h, out["LayerNorm"], eps)  # [B, L, H]
    f = ACTIVATIONS[config.hidden_act](linear(a, p["intermediate"]["dense"]))  # [B, L, I]
    return layer_norm(linear(f, p["output"]["dense"]) + a, p["output"]["LayerNorm"], eps), probs  # [B, L, H]


def pair_mask(attention_mask: Array) -> Array:
    """[B, L] of 0/1 -> [B, 1, L, L] bool: query i may attend to key j iff both are real tokens."""
    valid = attention_mask != 0
    return valid[:, None, :, None] & valid[:, None, None, :]


def encoder(
    h: Array,
    mask: Array,
    rel_embeddings: Array | None,
    layers: list[Params],
    config: DebertaConfig,
    output_hidden_states: bool,
    output_attentions: bool,
    attention: Attention = disentangled_self_attention,
    after_layer: Callable[[int, Array], Array] | None = None,
) -> tuple[Array, list[Array], list[Array]]:
    """The stack of layers: the embedding output h [B, L, H] -> (last hidden state, hidden states, attentions).

    Every layer reads the same relative table. after_layer(index, h) -> h, if given, runs after each layer
    (model_v2's convolution after the first one). hidden_states (if asked) holds N + 1 arrays [B, L, H]: the
    embedding output, then each layer's output; attentions (if asked) holds N arrays [B, n, L, L].
    """
    hidden_states, attentions = [h] if output_hidden_states else [], []
    for index, layer_params in enumerate(layers):
        h, probs = layer(h, mask, rel_embeddings, layer_params, config, attention)
        if after_layer is not None:
            h = after_layer(index, h)
        if output_hidden_states:
            hidden_states.append(h)
        if output_attentions:
            attentions.append(probs)
    return h, hidden_states, attentions


def relative_embeddings(p: Params, config: DebertaConfig) -> Array:
    """The relative-position table every layer reads: rel_embeddings [2P, H], as stored."""
    return p["rel_embeddings"]["weight"]


# What runs after layer `index`: (index, the embedding output, h, the float mask, encoder params, config) -> h.
AfterLayer = Callable[[int, Array, Array, Array, Params, DebertaConfig], Array]


def deberta(
    input_ids: Array,
    attention_mask: Array,
    token_type_ids: Array,
    position_ids: Array,
    p: Params,
    config: DebertaConfig,
    output_hidden_states: bool = False,
    output_attentions: bool = False,
    *,
    attention: Attention = disentangled_self_attention,
    relative_table: Callable[[Params, DebertaConfig], Array] = relative_embeddings,
    after_layer: AfterLayer | None = None,
) -> tuple[Array, list[Array], list[Array]]:
    """The DeBERTa encoder: ids [B, L] -> (last hidden state [B, L, H], hidden states, attentions).

    The keyword arguments are where v2/v3 differ (model_v2.deberta passes its own); v1 uses the defaults."""
    xp = shim.namespace(input_ids)
    dtype = p["embeddings"]["word_embeddings"]["weight"].dtype
    float_mask = xp.astype(attention_mask, dtype)  # [B, L]
    embedded = embeddings(
        input_ids, token_type_ids, position_ids, float_mask, p["embeddings"], config
    )  # [B, L, H]
    table = relative_table(p["encoder"], config) if config.relative_attention else None  # [2P, H]

    def after(index: int, h: Array) -> Array:
        return after_layer(index, embedded, h, float_mask, p["encoder"], config)

    return encoder(
        embedded,
        pair_mask(attention_mask),
        table,
        p["encoder"]["layer"],
        config,
        output_hidden_states,
        output_attentions,
        attention=attention,
        after_layer=after if after_layer is not None else None,
    )


# ================================================================================================================
# Task heads (h is the last hidden state [B, L, H])
# ================================================================================================================


def masked_lm_head(h: Array, p: Params, word_embeddings: Array, config: DebertaConfig) -> Array:
    """Microsoft's MLM head, `lm_predictions.lm_head.*` (official checkpoints; transformers legacy=False).

    -> logits [B, L, V]. The output projection is the word-embedding matrix [V, E] (E = H here).
    """
    t = ACTIVATIONS[config.hidden_act](linear(h, p["dense"]))  # [B, L, H]
    t = layer_norm(t, p["LayerNorm"], config.layer_norm_eps)  # [B, L, H]
    return t @ word_embeddings.T + p["bias"]  # [B, L, V]


def legacy_masked_lm_head(h: Array, p: Params, word_embeddings: Array, config: DebertaConfig) -> Array:
    """transformers' BERT-style MLM head, `cls.predictions.*` (legacy=True).  -> logits [B, L, V]."""
    t = ACTIVATIONS[config.hidden_act](linear(h, p["transform"]["dense"]))  # [B, L, E]
    t = layer_norm(t, p["transform"]["LayerNorm"], config.layer_norm_eps)  # [B, L, E]
    return t @ word_embeddings.T + p["bias"]  # [B, L, V]; the decoder is tied to the word embeddings


def sequence_classification_head(h: Array, p: Params, config: DebertaConfig) -> Array:
    """ContextPooler (dense + activation on the first token) and classifier.  -> logits [B, T]."""
    pooled = ACTIVATIONS[config.pooler_hidden_act](linear(h[:, 0, :], p["pooler"]["dense"]))  # [B, H]
    return linear(pooled, p["classifier"])  # [B, T]


def token_classification_head(h: Array, p: Params) -> Array:
    """A linear classifier on every token.  -> logits [B, L, T]."""
    return linear(h, p["classifier"])  # [B, L, T]


def question_answering_head(h: Array, p: Params) -> tuple[Array, Array]:
    """Span extraction.  -> (start_logits [B, L], end_logits [B, L])."""
    logits = linear(h, p["qa_outputs"])  # [B, L, 2]
    return logits[..., 0], logits[..., 1]


# ================================================================================================================
# Activation functions: transformers' ACT2FN names (config.hidden_act, pooler_hidden_act, v2's conv_act)
# ================================================================================================================


def gelu(x: Array) -> Array:
    """Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): transformers' "gelu" (torch.nn.functional.gelu)."""
    return 0.5 * x * (1.0 + shim.erf(x * (1.0 / math.sqrt(2.0))))


def gelu_tanh(x: Array) -> Array:
    """The tanh approximation of GELU ("gelu_new", "gelu_pytorch_tanh")."""
    xp = shim.namespace(x)
    return 0.5 * x * (1.0 + xp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_fast(x: Array) -> Array:
    xp = shim.namespace(x)
    return 0.5 * x * (1.0 + xp.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)), written with tanh so that it never overflows."""
    xp = shim.namespace(x)
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


def relu(x: Array) -> Array:
    return shim.namespace(x).maximum(x, 0.0)


def tanh(x: Array) -> Array:
    return shim.namespace(x).tanh(x)


def silu(x: Array) -> Array:
    return x * sigmoid(x)


def quick_gelu(x: Array) -> Array:
    return x * sigmoid(1.702 * x)


def identity(x: Array) -> Array:
    return x


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": gelu,
    "gelu_python": gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "gelu_fast": gelu_fast,
    "quick_gelu": quick_gelu,
    "relu": relu,
    "tanh": tanh,
    "silu": silu,
    "swish": silu,
    "sigmoid": sigmoid,
    "linear": identity,
}


# ================================================================================================================
# The checkpoint schema: every parameter of each model, named as in a transformers checkpoint
# ================================================================================================================

HEADS = (
    "base",
    "masked_lm",
    "masked_lm_legacy",
    "sequence_classification",
    "token_classification",
    "question_answering",
)  # model_v2.HEADS adds DeBERTa-v2/v3's multiple choice


def embedding_parameter_shapes(config: DebertaConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of `embeddings.*` (the same in v1 and v2)."""
    c = config
    h, e = c.hidden_size, c.embedding_size
    shapes: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (c.vocab_size, e)}
    if c.position_biased_input:
        shapes["embeddings.position_embeddings.weight"] = (c.max_position_embeddings, e)
    if c.type_vocab_size > 0:
        shapes["embeddings.token_type_embeddings.weight"] = (c.type_vocab_size, e)
    if e != h:
        shapes["embeddings.embed_proj.weight"] = (h, e)
    shapes["embeddings.LayerNorm.weight"] = shapes["embeddings.LayerNorm.bias"] = (h,)
    return shapes


def layer_tail_shapes(prefix: str, config: DebertaConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of a layer's attention output, intermediate and output blocks (the same in v1 and v2)."""
    h, i = config.hidden_size, config.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {}
    for block, (out_features, in_features) in (
        ("attention.output", (h, h)),
        ("intermediate", (i, h)),
        ("output", (h, i)),
    ):
        shapes[f"{prefix}{block}.dense.weight"] = (out_features, in_features)
        shapes[f"{prefix}{block}.dense.bias"] = (out_features,)
        if block != "intermediate":
            shapes[f"{prefix}{block}.LayerNorm.weight"] = shapes[f"{prefix}{block}.LayerNorm.bias"] = (h,)
    return shapes


def encoder_parameter_shapes(config: DebertaConfig) -> dict[str, tuple[int, ...]]:
    """Shapes of the `deberta.*` parameters (names without the prefix), as config implies them."""
    c = config
    h, n = c.hidden_size, c.num_attention_heads
    shapes = embedding_parameter_shapes(c)
    if c.relative_attention:
        shapes["encoder.rel_embeddings.weight"] = (2 * c.max_relative, h)
    for index in range(c.num_hidden_layers):
        prefix = f"encoder.layer.{index}."
        attention = prefix + "attention.self."
        shapes[attention + "in_proj.weight"] = (3 * h, h)
        shapes[attention + "q_bias"] = shapes[attention + "v_bias"] = (h,)
        if c.relative_attention and "c2p" in c.pos_att_type:
            shapes[attention + "pos_proj.weight"] = (h, h)
        if c.relative_attention and "p2c" in c.pos_att_type:
            shapes[attention + "pos_q_proj.weight"] = (h, h)
            shapes[attention + "pos_q_proj.bias"] = (h,)
        if c.talking_head:
            shapes[attention + "head_logits_proj.weight"] = (n, n)
            shapes[attention + "head_weights_proj.weight"] = (n, n)
        shapes.update(layer_tail_shapes(prefix, c))
    return shapes


def head_parameter_shapes(config: DebertaConfig, head: str) -> dict[str, tuple[int, ...]]:
    """Shapes of a task head's parameters (top-level names, as in the checkpoint)."""
    c = config
    h, e, v, t = c.hidden_size, c.embedding_size, c.vocab_size, c.num_labels
    if head == "base":
        return {}
    if head in (
        "masked_lm",
        "masked_lm_legacy",
    ):  # Microsoft's layout (width H) or transformers' legacy one (E)
        prefix, width = (
            ("lm_predictions.lm_head.", h) if head == "masked_lm" else ("cls.predictions.transform.", e)
        )
        return {
            prefix + "dense.weight": (width, h),
            prefix + "dense.bias": (width,),
            prefix + "LayerNorm.weight": (width,),
            prefix + "LayerNorm.bias": (width,),
            prefix.removesuffix("transform.") + "bias": (v,),
        }
    if head == "sequence_classification":
        hp = c.pooler_hidden_size
        return {
            "pooler.dense.weight": (hp, hp),
            "pooler.dense.bias": (hp,),
            "classifier.weight": (t, h),
            "classifier.bias": (t,),
        }
    if head == "token_classification":
        return {"classifier.weight": (t, h), "classifier.bias": (t,)}
    if head == "question_answering":
        return {"qa_outputs.weight": (2, h), "qa_outputs.bias": (2,)}
    raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
