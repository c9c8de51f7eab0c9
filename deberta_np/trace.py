"""Trace every intermediate of one forward pass, under stable names, in forward order.

    from deberta_np import load_model, trace
    model = load_model("deberta-base", dtype="float64")
    tensors = trace(model, input_ids=[[1, 31414, 232, 2]])     # {"input_ids": ..., "layer.0.query": ..., ...}
    save_trace("mine.safetensors", tensors, trace_metadata(model, tensors))

A porter writes the same names from their own code (any subset, safetensors or .npz) and runs
`deberta-np compare theirs.safetensors mine.safetensors` to see the first tensor where the two disagree.
`TRACE_NAMES` below is the schema: every name, its axes and what it holds (the README's table is made from it).

The trace re-runs the readable spec (model.py, model_v2.py) step by step with the same functions and the same
order of operations: its hidden states, attention maps and logits are bit-identical to the spec's (tested). The
values that the spec never materialises (c2p and p2c before scaling, the masked scores) are computed beside it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from . import model as spec
from . import model_v2 as spec_v2
from . import shim
from .config import DebertaConfig, DebertaV2Config
from .errors import CheckpointError
from .parameters import PREFIX

Array = Any

# ================================================================================================================
# The schema: every name a trace may hold, in forward order
# ================================================================================================================


@dataclass(frozen=True)
class TraceName:
    name: str  # with {i} for the layer index
    axes: str  # one letter per axis (model.py's legend; R = rows of the relative-position table)
    meaning: str
    present: str = "always"  # the condition under which the tensor exists


LAYER_NAMES = (
    TraceName("layer.{i}.query", "B n L d", "content query per head, bias included, not scaled"),
    TraceName("layer.{i}.key", "B n L d", "content key per head (v1: in_proj has no key bias)"),
    TraceName("layer.{i}.value", "B n L d", "content value per head, bias included"),
    TraceName(
        "layer.{i}.c2p",
        "B n L L",
        "content-to-position term before the scale: q_i . pos_key[c2p_index[i, j]]",
        "relative_attention and c2p in pos_att_type",
    ),
    TraceName(
        "layer.{i}.p2c",
        "B n L L",
        "position-to-content term before the scale: k_j . pos_query[p2c_index[j, i]], as [query i, key j]",
        "relative_attention and p2c in pos_att_type",
    ),
    TraceName(
        "layer.{i}.scores",
        "B n L L",
        "(c2c + c2p + p2c) / sqrt(d * scale_factor), talking-head mixed (v1 talking_head), masked pairs = "
        "finfo.min: the softmax input",
    ),
    TraceName(
        "layer.{i}.probs", "B n L L", "attention probabilities (after head_weights_proj with talking_head)"
    ),
    TraceName("layer.{i}.context", "B L H", "probs @ value, heads merged (width n*d)"),
    TraceName("layer.{i}.attention_output", "B L H", "LayerNorm(dense(context) + layer input)"),
    TraceName("layer.{i}.intermediate", "B L I", "act(dense(attention_output))"),
    TraceName("layer.{i}.output", "B L H", "LayerNorm(dense(intermediate) + attention_output)"),
)

TRACE_NAMES = (
    TraceName("input_ids", "B L", "token ids (int64)"),
    TraceName("attention_mask", "B L", "1 for a real token, 0 for padding (int64)"),
    TraceName("token_type_ids", "B L", "segment ids (int64; ignored when type_vocab_size = 0)"),
    TraceName("position_ids", "B L", "absolute positions (int64), broadcast over the batch"),
    TraceName("embeddings.word", "B L E", "rows of word_embeddings"),
    TraceName("embeddings.position", "B L E", "rows of position_embeddings", "position_biased_input"),
    TraceName("embeddings.token_type", "B L E", "rows of token_type_embeddings", "type_vocab_size > 0"),
    TraceName("embeddings.sum", "B L E", "word + position + token_type, before embed_proj and LayerNorm"),
    TraceName("embeddings.projected", "B L H", "embed_proj(sum)", "embedding_size != hidden_size"),
    TraceName("embeddings.layer_norm", "B L H", "after the embedding LayerNorm, before the mask"),
    TraceName("embeddings.output", "B L H", "after the mask (padded positions zero): the encoder input"),
    TraceName(
        "relative_positions",
        "L L",
        "rel[i, j] = i - j (int64); v2/v3: in log buckets when position_buckets > 0",
        "relative_attention",
    ),
    TraceName(
        "c2p_index",
        "L L",
        "the row of the table c2p reads for (query i, key j): clip(rel + S, 0, 2S - 1) (int64; v1: a row of "
        "the slice P-S .. P+S-1)",
        "relative_attention and c2p in pos_att_type",
    ),
    TraceName(
        "p2c_index",
        "L L",
        "the row p2c reads for (key j, query i): clip(-rel + S, 0, 2S - 1) (int64)",
        "relative_attention and p2c in pos_att_type",
    ),
    TraceName(
        "rel_embeddings",
        "R H",
        "the relative-position table the layers project: v1 the whole [2P, H] table; v2/v3 [2S, H], after "
        "its LayerNorm when norm_rel_ebd = layer_norm",
        "relative_attention",
    ),
    *LAYER_NAMES,
    TraceName(
        "conv.output",
        "B L H",
        "v2 ConvLayer: LayerNorm(layer.0.output + act(conv(embeddings.output))) x mask; layer 1's input",
        "v2 with conv_kernel_size > 0 (comes right after layer.0.output)",
    ),
    TraceName("last_hidden_state", "B L H", "the encoder output"),
    TraceName(
        "pooled", "B H", "ContextPooler: act(dense(first token))", "sequence classification, multiple choice"
    ),
    TraceName(
        "logits",
        "B L V | B T | B L T | B C",
        "the head's logits: masked LM, sequence classification, token classification, multiple choice",
        "a head with logits",
    ),
    TraceName("start_logits", "B L", "question answering", "question answering"),
    TraceName("end_logits", "B L", "question answering", "question answering"),
)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
_BY_PATTERN = [
    (re.compile("^" + re.escape(t.name).replace(r"\{i\}", r"(\d+)") + "$"), t) for t in TRACE_NAMES
]


def describe(name: str) -> TraceName | None:
    """The schema entry of a trace name (layer names match with their index), or None for an unknown name."""
    for pattern, entry in _BY_PATTERN:
        if pattern.match(name):
            return entry
    return None


def forward_rank(name: str) -> tuple[int, int, int]:
    """A sort key that puts names in forward order: schema position, layer index; unknown names last."""
    for position, (pattern, entry) in enumerate(_BY_PATTERN):
        match = pattern.match(name)
        if match:
            layer = int(match.group(1)) if match.groups() else -1
            # layer names sit between rel_embeddings and conv.output; conv.output follows layer 0
            if entry.name.startswith("layer."):
                return (_LAYERS_AT, layer, position)
            if entry.name == "conv.output":
                return (_LAYERS_AT, 0, len(_BY_PATTERN))
            return (position, -1, 0)
    return (len(_BY_PATTERN) + 1, 0, 0)


_LAYERS_AT = next(i for i, (_, t) in enumerate(_BY_PATTERN) if t.name.startswith("layer."))


# ================================================================================================================
# Tracing deberta_np
# ================================================================================================================


class _Recorder:
    def __init__(self) -> None:
        self.tensors: dict[str, Array] = {}

    def __call__(self, name: str, value: Array) -> Array:
        self.tensors[name] = value
        return value


def _is_torch_module(model: Any) -> bool:
    """Whether `model` is a torch.nn.Module (a transformers model), without importing torch."""
    return any(c.__module__ == "torch.nn.modules.module" for c in type(model).__mro__)


def trace(
    model: Any,
    input_ids: Any,
    attention_mask: Any = None,
    token_type_ids: Any = None,
    position_ids: Any = None,
) -> dict[str, numpy.ndarray]:
    """Every intermediate of one forward of a deberta_np model (any head, v1 or v2/v3), in forward order.

    The inputs are those of the model's __call__ (checked the same way); a multiple-choice model's [B, C, L]
    inputs are traced as the [B*C, L] rows its encoder sees. Returns NumPy arrays named as in TRACE_NAMES.
    `model` may also be a transformers DeBERTa model (PyTorch, any head): its trace under the same names, the
    reference to compare a port with (trace_transformers.py).
    """
    inputs = (input_ids, attention_mask, token_type_ids, position_ids)
    if _is_torch_module(model):
        from .trace_transformers import trace_transformers

        return trace_transformers(model, inputs)
    config = model.config
    v2 = isinstance(config, DebertaV2Config)
    choices = None
    if model.head == "multiple_choice":
        inputs, choices = model.choice_rows(inputs)
    ids, mask, types, positions = model.prepare_inputs(inputs)
    xp = shim.namespace(ids)
    rec = _Recorder()
    rec("input_ids", ids)
    rec("attention_mask", mask)
    rec("token_type_ids", types)
    rec("position_ids", xp.broadcast_to(positions, ids.shape))
    p = model.params[PREFIX[:-1]]
    dtype = p["embeddings"]["word_embeddings"]["weight"].dtype
    float_mask = xp.astype(mask, dtype)  # [B, L]
    pairs = spec.pair_mask(mask)  # [B, 1, L, L]
    embedded = _embeddings(rec, ids, types, positions, float_mask, p["embeddings"], config)
    table = _relative(rec, ids.shape[1], p["encoder"], config, xp)
    h = embedded
    attention = _attention_v2 if v2 else _attention_v1
    for index, layer_params in enumerate(p["encoder"]["layer"]):
        h = _layer(rec, f"layer.{index}.", attention, h, pairs, table, layer_params, config)
        if v2 and index == 0 and config.conv_kernel_size > 0:
            h = rec("conv.output", spec_v2.conv_branch(embedded, h, float_mask, p["encoder"]["conv"], config))
    rec("last_hidden_state", h)
    _head(rec, model, h, choices)
    return {name: shim.to_numpy(value) for name, value in rec.tensors.items()}


def _embeddings(
    rec: _Recorder,
    ids: Array,
    types: Array,
    positions: Array,
    float_mask: Array,
    p: dict[str, Any],
    config: DebertaConfig,
) -> Array:
    """model.embeddings, step by step (same operations, same order)."""
    xp = shim.namespace(ids)
    x = rec("embeddings.word", shim.take_rows(p["word_embeddings"]["weight"], ids))  # [B, L, E]
    if config.position_biased_input:
        position = shim.take_rows(p["position_embeddings"]["weight"], positions)  # [1 or B, L, E]
        x = x + rec("embeddings.position", xp.broadcast_to(position, x.shape))
    if config.type_vocab_size > 0:
        x = x + rec("embeddings.token_type", shim.take_rows(p["token_type_embeddings"]["weight"], types))
    rec("embeddings.sum", x)
    if config.embedding_size != config.hidden_size:
        x = rec("embeddings.projected", spec.linear(x, p["embed_proj"]))  # [B, L, H]
    x = rec("embeddings.layer_norm", spec.layer_norm(x, p["LayerNorm"], config.layer_norm_eps))
    return rec("embeddings.output", x * float_mask[:, :, None])


def _relative(rec: _Recorder, length: int, p: dict[str, Any], config: DebertaConfig, xp: Any) -> Array | None:
    """Relative positions, the table rows each term reads, and the table itself (None without relative attention)."""
    if not config.relative_attention:
        return None
    if isinstance(config, DebertaV2Config):
        rel = spec_v2.relative_positions(length, config, xp)
        span = config.position_span
        table = spec_v2.relative_embeddings(p, config)  # [2S, H]
    else:
        rel = spec.relative_positions(length, xp)
        span = min(length, config.max_relative)
        table = p["rel_embeddings"]["weight"]  # [2P, H]
    rec("relative_positions", rel)
    if "c2p" in config.pos_att_type:
        rec("c2p_index", xp.clip(rel + span, 0, 2 * span - 1))
    if "p2c" in config.pos_att_type:
        rec("p2c_index", xp.clip(-rel + span, 0, 2 * span - 1))
    return rec("rel_embeddings", table)


def _position_terms(
    rec: _Recorder, prefix: str, q: Array, k: Array, table: Array, key_proj: Any, query_proj: Any, n: int
) -> None:
    """c2p and p2c before any scaling, from the unscaled q and k (the spec folds the scale in earlier)."""
    xp = shim.namespace(q)
    if key_proj is not None:
        pos_key = spec.split_heads(spec.linear(table, key_proj), n)  # [n, K, d]
        c2p = shim.take_along_last(q @ xp.matrix_transpose(pos_key), rec.tensors["c2p_index"])
        rec(prefix + "c2p", c2p)  # [B, n, L, L]
    if query_proj is not None:
        pos_query = spec.split_heads(spec.linear(table, query_proj), n)  # [n, K, d]
        p2c = shim.take_along_last(k @ xp.matrix_transpose(pos_query), rec.tensors["p2c_index"])
        rec(prefix + "p2c", xp.matrix_transpose(p2c))  # [B, n, L(query), L(key)]


def _attention_v1(
    rec: _Recorder, prefix: str, h: Array, table: Array | None, p: dict[str, Any], config: DebertaConfig
) -> Array:
    """model.disentangled_self_attention up to the scores (the masked softmax and context are shared)."""
    xp = shim.namespace(h)
    n, d = config.num_attention_heads, config.head_dim
    qkv = spec.split_heads(spec.linear(h, p["in_proj"]), n)  # [B, n, L, 3d]
    q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
    q = rec(prefix + "query", q + xp.reshape(p["q_bias"], (n, 1, d)))
    rec(prefix + "key", k)
    rec(prefix + "value", v + xp.reshape(p["v_bias"], (n, 1, d)))
    q = q / spec.attention_scale(config)
    scores = q @ xp.matrix_transpose(k)
    if config.relative_attention:
        length = h.shape[1]
        span = min(length, config.max_relative)
        rows = table[config.max_relative - span : config.max_relative + span, :]  # [2S, H]
        terms = config.pos_att_type
        _position_terms(
            rec,
            prefix,
            rec.tensors[prefix + "query"],
            k,
            rows,
            p["pos_proj"] if "c2p" in terms else None,
            p["pos_q_proj"] if "p2c" in terms else None,
            n,
        )
        scores = scores + spec.disentangled_bias(q, k, table, p, config)
    if config.talking_head:
        scores = spec.talking_heads(scores, p["head_logits_proj"])
    return scores


def _attention_v2(
    rec: _Recorder, prefix: str, h: Array, table: Array | None, p: dict[str, Any], config: DebertaV2Config
) -> Array:
    """model_v2.disentangled_self_attention up to the scores."""
    xp = shim.namespace(h)
    n = config.num_attention_heads
    q = rec(prefix + "query", spec.split_heads(spec.linear(h, p["query_proj"]), n))  # [B, n, L, d]
    k = rec(prefix + "key", spec.split_heads(spec.linear(h, p["key_proj"]), n))
    rec(prefix + "value", spec.split_heads(spec.linear(h, p["value_proj"]), n))
    scores = q @ (xp.matrix_transpose(k) / spec_v2.attention_scale(config))
    if config.relative_attention:
        key_proj = p["key_proj"] if config.share_att_key else p.get("pos_key_proj")
        query_proj = p["query_proj"] if config.share_att_key else p.get("pos_query_proj")
        terms = config.pos_att_type
        _position_terms(
            rec,
            prefix,
            q,
            k,
            table,
            key_proj if "c2p" in terms else None,
            query_proj if "p2c" in terms else None,
            n,
        )
        scores = scores + spec_v2.disentangled_bias(q, k, table, p, config)
    return scores


def _layer(
    rec: _Recorder,
    prefix: str,
    attention: Callable[..., Array],
    h: Array,
    pairs: Array,
    table: Array | None,
    p: dict[str, Any],
    config: DebertaConfig,
) -> Array:
    """model.layer / model_v2.layer, step by step."""
    xp = shim.namespace(h)
    eps = config.layer_norm_eps
    attention_params = p["attention"]["self"]
    scores = attention(rec, prefix, h, table, attention_params, config)
    # what masked_softmax feeds its softmax (it computes fp16 scores in float32)
    wide = xp.astype(scores, xp.float32) if shim.is_half(scores) else scores
    rec(prefix + "scores", xp.where(pairs, wide, shim.finfo_min(xp, wide.dtype)))
    probs = spec.masked_softmax(scores, pairs, config.zero_fully_masked_rows)
    if getattr(config, "talking_head", False):
        probs = spec.talking_heads(probs, attention_params["head_weights_proj"])
    rec(prefix + "probs", probs)
    v = rec.tensors[prefix + "value"]
    context = rec(prefix + "context", spec.merge_heads(probs @ v))
    out = p["attention"]["output"]
    a = rec(
        prefix + "attention_output",
        spec.layer_norm(spec.linear(context, out["dense"]) + h, out["LayerNorm"], eps),
    )
    f = rec(
        prefix + "intermediate",
        spec.ACTIVATIONS[config.hidden_act](spec.linear(a, p["intermediate"]["dense"])),
    )
    return rec(
        prefix + "output",
        spec.layer_norm(spec.linear(f, p["output"]["dense"]) + a, p["output"]["LayerNorm"], eps),
    )


def _head(rec: _Recorder, model: Any, h: Array, choices: int | None) -> None:
    """The head of the model's class, as its __call__ computes it (modeling.py)."""
    config, params, head = model.config, model.params, model.head
    if head in ("masked_lm", "masked_lm_legacy"):
        word_embeddings = params["deberta"]["embeddings"]["word_embeddings"]["weight"]
        if head == "masked_lm":
            rec(
                "logits", spec.masked_lm_head(h, params["lm_predictions"]["lm_head"], word_embeddings, config)
            )
        else:
            predictions = params["cls"]["predictions"]
            decoder = predictions.get("decoder", {}).get("weight", word_embeddings)
            rec("logits", spec.legacy_masked_lm_head(h, predictions, decoder, config))
    elif head in ("sequence_classification", "multiple_choice"):
        act = spec.ACTIVATIONS[config.pooler_hidden_act]
        pooled = rec("pooled", act(spec.linear(h[:, 0, :], params["pooler"]["dense"])))
        logits = spec.linear(pooled, params["classifier"])
        if head == "multiple_choice":
            logits = shim.namespace(h).reshape(logits, (-1, choices))
        rec("logits", logits)
    elif head == "token_classification":
        rec("logits", spec.token_classification_head(h, params))
    elif head == "question_answering":
        start, end = spec.question_answering_head(h, params)
        rec("start_logits", start)
        rec("end_logits", end)


# ================================================================================================================
# Trace files: safetensors (with metadata) or .npz
# ================================================================================================================


def trace_metadata(model: Any, tensors: dict[str, Any], backend: str = "deberta_np") -> dict[str, str]:
    """The metadata a trace file carries: name order, config, head, dtype, backend and library version."""
    from . import __version__

    floats = [
        str(a.dtype) for a in tensors.values() if numpy.issubdtype(numpy.asarray(a).dtype, numpy.floating)
    ]
    return {
        "format": "deberta_np.trace/1",
        "names": json.dumps(list(tensors)),
        "config": json.dumps(model.config.to_dict(), sort_keys=True, default=str),
        "head": str(getattr(model, "head", "base")),
        "dtype": floats[0] if floats else "",
        "backend": backend,
        "deberta_np_version": __version__,
    }


def save_trace(path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write a trace as safetensors (metadata in its header) or, for a .npz path, NumPy's archive (no metadata
    beyond the names' order, kept by the archive)."""
    path = Path(path)
    arrays = {name: numpy.ascontiguousarray(numpy.asarray(value)) for name, value in tensors.items()}
    if path.suffix == ".npz":
        numpy.savez(path, **arrays)
        return
    from .safetensors_io import write_safetensors

    write_safetensors(path, arrays, metadata={**metadata, "names": json.dumps(list(arrays))})


def load_trace(path: str | os.PathLike[str]) -> tuple[dict[str, numpy.ndarray], dict[str, str]]:
    """Read a trace (safetensors or .npz) -> (tensors in forward order, metadata). Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"trace file {path}: not found")
    if path.suffix == ".npz":
        try:
            with numpy.load(path, allow_pickle=False) as archive:
                tensors = {name: archive[name] for name in archive.files}
        except (OSError, ValueError) as error:
            raise CheckpointError(f"trace file {path}: not a readable .npz archive ({error})") from error
        metadata: dict[str, str] = {}
    else:
        from .safetensors_io import read_safetensors

        tensors, metadata = read_safetensors(path)
    order = sorted(tensors, key=lambda name: (forward_rank(name), name))
    return {name: tensors[name] for name in order}, dict(metadata or {})


def architecture_head(config: DebertaConfig) -> str:
    """The head config.json's `architectures` names (DebertaV2ForQuestionAnswering -> question_answering), else
    "base": the head a trace of this checkpoint covers unless told otherwise."""
    suffixes = {
        "ForMaskedLM": "masked_lm",
        "ForSequenceClassification": "sequence_classification",
        "ForTokenClassification": "token_classification",
        "ForQuestionAnswering": "question_answering",
        "ForMultipleChoice": "multiple_choice",
    }
    for architecture in config.architectures or []:
        for suffix, head in suffixes.items():
            if str(architecture).endswith(suffix):
                return head
    return "base"
