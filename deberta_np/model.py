"""DeBERTa (v1) inference, written as the specification: pure functions of (arrays, params, config).

Read top to bottom: building blocks, embeddings, relative positions, disentangled attention, the layer, the
encoder, the four task heads, and last the checkpoint schema (every parameter name with its shape).
The reference is Hugging Face transformers' `models/deberta/modeling_deberta.py` (4.57.6); the math is that of
spec §2-§4 (`shared/reference/deberta-v1-spec.md`). Dropout is the identity at inference and does not appear.

Dimension legend (one letter per dimension, used in every shape comment):
    B  batch size                      L  sequence length (queries and keys: this is self-attention)
    V  vocabulary size                 E  embedding size (= H unless config.embedding_size is set)
    H  hidden size                     n  attention heads         d  head size = H / n
    I  intermediate (feed-forward) size
    P  max relative distance (config.max_relative)
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

from . import xp as shim
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
    # One [tokens, in] @ [in, out] product: a stacked [B, L, in] operand would run one BLAS call per sequence.
    y = xp.reshape(xp.reshape(x, (-1, width)) @ p["weight"].T, (*lead, p["weight"].shape[0]))  # [..., out]
    if "bias" in p:
        y = y + p["bias"]
    return y


def layer_norm(x: Array, p: Params, eps: float) -> Array:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance, eps inside the root)."""
    xp = shim.namespace(x)
    h = xp.astype(x, xp.float32) if shim.is_half(x) else x  # float16 would overflow in var
    mean = xp.mean(h, axis=-1, keepdims=True)  # [..., 1]
    var = xp.mean((h - mean) ** 2, axis=-1, keepdims=True)  # [..., 1]
    h = (h - mean) / xp.sqrt(var + eps)  # [..., D]
    return p["weight"] * xp.astype(h, x.dtype) + p["bias"]


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


# transformers' ACT2FN names (config.hidden_act, config.pooler_hidden_act)
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


def relative_positions(length: int, xp: Any) -> Array:
    """rel[i, j] = i - j: the distance from query i to key j.  [L, L] int64."""
    ids = xp.arange(length, dtype=xp.int64)  # [L]
    return ids[:, None] - ids[None, :]  # [L, L]


def attention_scale(config: DebertaConfig) -> float:
    """sqrt(d * scale_factor): c2c, c2p and p2c are each divided by it; scale_factor = 1 + len(pos_att_type)."""
    return math.sqrt(config.head_dim * config.scale_factor)


def disentangled_bias(q: Array, k: Array, rel_embeddings: Array, p: Params, config: DebertaConfig) -> Array:
    """The relative-position terms c2p + p2c of the attention scores.  -> [B, n, L, L]

    q is already divided by the scale. With delta = clip(i - j, -S, S - 1) (the table row is S + delta):
        c2p[i, j] = q_i . pos_key[S + delta]         content of query i  -> position of key j relative to i
        p2c[i, j] = k_j . pos_query[S + delta] / scale  position of query i relative to j -> content of key j
    For |i - j| < S nothing is clipped; clipping happens only when L > P (S = P).
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
        pos_key = split_heads(linear(table, p["pos_proj"]), n)  # [n, K, d]
        c2p = q @ xp.matrix_transpose(pos_key)  # [B, n, L, K]
        c2p_index = xp.clip(rel + span, 0, 2 * span - 1)  # [L, L]
        bias = bias + shim.take_along_last(c2p, c2p_index)  # [B, n, L, L]
    if "p2c" in config.pos_att_type:
        pos_query = split_heads(linear(table, p["pos_q_proj"]), n) / attention_scale(config)  # [n, K, d]
        p2c = k @ xp.matrix_transpose(pos_query)  # [B, n, L, K]: row j is key j
        p2c_index = xp.clip(-rel + span, 0, 2 * span - 1)  # [L, L]: [j, i] -> S + clip(i - j)
        bias = bias + xp.matrix_transpose(shim.take_along_last(p2c, p2c_index))  # [B, n, L, L]
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
    q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]  # [B, n, L, d] each
    q = q + xp.reshape(p["q_bias"], (n, 1, d))  # key has no bias
    v = v + xp.reshape(p["v_bias"], (n, 1, d))
    # NOTE(divergence): transformers computes this scale in float32 even in float64 mode; we use the exact value.
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


def layer(
    h: Array, mask: Array, rel_embeddings: Array | None, p: Params, config: DebertaConfig
) -> tuple[Array, Array]:
    """One post-LN transformer layer.  h [B, L, H] -> (h' [B, L, H], attention probabilities [B, n, L, L])."""
    eps = config.layer_norm_eps
    context, probs = disentangled_self_attention(h, mask, rel_embeddings, p["attention"]["self"], config)
    out = p["attention"]["output"]
    a = layer_norm(linear(context, out["dense"]) + h, out["LayerNorm"], eps)  # [B, L, H]
    f = ACTIVATIONS[config.hidden_act](linear(a, p["intermediate"]["dense"]))  # [B, L, I]
    return layer_norm(linear(f, p["output"]["dense"]) + a, p["output"]["LayerNorm"], eps), probs  # [B, L, H]


def pair_mask(attention_mask: Array) -> Array:
    """[B, L] of 0/1 -> [B, 1, L, L] bool: query i may attend to key j iff both are real tokens."""
    valid = attention_mask != 0
    return valid[:, None, :, None] & valid[:, None, None, :]


def deberta(
    input_ids: Array,
    attention_mask: Array,
    token_type_ids: Array,
    position_ids: Array,
    p: Params,
    config: DebertaConfig,
    output_hidden_states: bool = False,
    output_attentions: bool = False,
) -> tuple[Array, list[Array], list[Array]]:
    """The DeBERTa encoder: ids [B, L] -> (last hidden state [B, L, H], hidden states, attentions).

    hidden_states (if asked) holds N + 1 arrays [B, L, H]: the embedding output, then each layer's output.
    attentions (if asked) holds N arrays [B, n, L, L].
    """
    xp = shim.namespace(input_ids)
    dtype = p["embeddings"]["word_embeddings"]["weight"].dtype
    mask = pair_mask(attention_mask)  # [B, 1, L, L]
    h = embeddings(
        input_ids, token_type_ids, position_ids, xp.astype(attention_mask, dtype), p["embeddings"], config
    )
    rel_embeddings = (
        p["encoder"]["rel_embeddings"]["weight"] if config.relative_attention else None
    )  # [2P, H]
    hidden_states, attentions = [h] if output_hidden_states else [], []
    for layer_params in p["encoder"]["layer"]:
        h, probs = layer(h, mask, rel_embeddings, layer_params, config)
        if output_hidden_states:
            hidden_states.append(h)
        if output_attentions:
            attentions.append(probs)
    return h, hidden_states, attentions


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
# The checkpoint schema: every parameter of each model, named as in a transformers checkpoint
# ================================================================================================================

HEADS = (
    "base",
    "masked_lm",
    "masked_lm_legacy",
    "sequence_classification",
    "token_classification",
    "question_answering",
    "multiple_choice",  # DeBERTa-v2/v3 only (model_v2.multiple_choice_head)
)


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
    if head == "masked_lm":
        prefix = "lm_predictions.lm_head."
        return {
            prefix + "dense.weight": (h, h),
            prefix + "dense.bias": (h,),
            prefix + "LayerNorm.weight": (h,),
            prefix + "LayerNorm.bias": (h,),
            prefix + "bias": (v,),
        }
    if head == "masked_lm_legacy":
        prefix = "cls.predictions."
        return {
            prefix + "transform.dense.weight": (e, h),
            prefix + "transform.dense.bias": (e,),
            prefix + "transform.LayerNorm.weight": (e,),
            prefix + "transform.LayerNorm.bias": (e,),
            prefix + "bias": (v,),
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
    if head == "multiple_choice":
        hp = c.pooler_hidden_size
        return {
            "pooler.dense.weight": (hp, hp),
            "pooler.dense.bias": (hp,),
            "classifier.weight": (1, h),
            "classifier.bias": (1,),
        }
    raise ValueError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
