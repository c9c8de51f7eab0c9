"""The same trace from transformers (4.57.6), captured from its own modules: `deberta-np trace --backend transformers`.

Module outputs are taken with PyTorch forward hooks. The values that live inside one module's forward (c2p, p2c,
their gather indices and the softmax input) are taken with a TorchFunctionMode that sees transformers' own
`torch.gather` and `softmax` calls; `get_rel_pos` and `get_rel_embedding` are wrapped on the encoder instance.
Nothing of transformers is recomputed except these view-only steps:
  * v1 query/key/value: `in_proj`'s output split per head and the q/v biases added, exactly as its forward does;
  * v1 c2p and p2c: transformers divides q (c2p) and pos_query (p2c) by the scale *before* the product; the trace
    multiplies its terms back by the same scale (one rounding) so that the names mean the same thing everywhere.
float64 runs remove transformers' two float32 round trips (DebertaLayerNorm and the attention scale), as
`conformance/generate.py` does for the float64 goldens; float32 runs are transformers unpatched.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy

from .errors import BackendError, InputError
from .oracle import float64_reference, hf_classes


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as error:
        raise BackendError(
            f"the transformers backend needs torch and transformers ({error}): pip install 'deberta_np[oracle]'"
        ) from error
    return torch


def load_transformers_model(path: str | Path, head: str, dtype: str = "float32") -> Any:
    """transformers' class for `head` (v1 or v2 from config.json), loaded from a checkpoint directory, in eval mode."""
    torch = _import_torch()
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    version = "v2" if config.model_type == "deberta-v2" else "v1"
    classes = hf_classes(version)
    classes["masked_lm_legacy"] = classes["masked_lm"]  # the layout (cls.predictions.*) follows config.legacy
    if head not in classes:
        raise InputError(f"transformers has no DeBERTa {version} class for the head {head!r}")
    model = classes[head].from_pretrained(path, dtype=torch.float32).eval()
    return model.to(getattr(torch, dtype))


def trace_transformers(model: Any, inputs: tuple[Any, Any, Any, Any]) -> dict[str, numpy.ndarray]:
    """Run a transformers DeBERTa model (any head, v1 or v2/v3) once; return the trace under deberta_np's names.

    `deberta_np.trace(model, ...)` calls this for a transformers model: `inputs` are trace's (input_ids,
    attention_mask, token_type_ids, position_ids); a multiple-choice model takes [B, C, L] and is traced per
    flattened row.
    """
    torch = _import_torch()
    from torch.overrides import TorchFunctionMode

    inputs = _torch_inputs(torch, *inputs)
    base = getattr(model, "deberta", model)
    config = base.config
    v2 = config.model_type == "deberta-v2"
    terms = [t.strip().lower() for t in (config.pos_att_type or [])]
    if isinstance(config.pos_att_type, str):
        terms = [t.strip().lower() for t in config.pos_att_type.split("|")]
    relative = getattr(config, "relative_attention", False)
    record: dict[str, Any] = {}
    flat_ids = inputs["input_ids"].reshape(-1, inputs["input_ids"].shape[-1])
    batch, length = flat_ids.shape
    for name, value in inputs.items():
        record[name] = (
            value.reshape(-1, length).expand(batch, length)
            if name == "position_ids"
            else value.reshape(-1, length)
        )
    if "position_ids" not in record:
        record["position_ids"] = torch.arange(length).expand(batch, length)
    if "token_type_ids" not in record:
        record["token_type_ids"] = torch.zeros(batch, length, dtype=torch.long)

    handles: list[Any] = []
    current = {"layer": -1, "gathers": 0}

    def keep(name: str, first: bool = False) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if first and name in record:
                return
            record[name] = output[0] if isinstance(output, tuple) else output

        return hook

    def keep_input(name: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            record[name] = args[0]

        return hook

    emb = base.embeddings
    handles.append(emb.word_embeddings.register_forward_hook(keep("embeddings.word")))
    if emb.position_embeddings is not None and config.position_biased_input:
        handles.append(emb.position_embeddings.register_forward_hook(keep("embeddings.position")))
    if emb.token_type_embeddings is not None:
        handles.append(emb.token_type_embeddings.register_forward_hook(keep("embeddings.token_type")))
    if emb.embed_proj is not None:
        handles.append(emb.embed_proj.register_forward_pre_hook(keep_input("embeddings.sum")))
        handles.append(emb.embed_proj.register_forward_hook(keep("embeddings.projected")))
    else:
        handles.append(emb.LayerNorm.register_forward_pre_hook(keep_input("embeddings.sum")))
    handles.append(emb.LayerNorm.register_forward_hook(keep("embeddings.layer_norm")))
    handles.append(emb.register_forward_hook(keep("embeddings.output")))

    for index, layer in enumerate(base.encoder.layer):
        prefix = f"layer.{index}."
        attention = layer.attention.self

        def enter(module: Any, args: Any, index: int = index) -> None:
            current["layer"], current["gathers"] = index, 0

        def leave(module: Any, args: Any, output: Any) -> None:
            current["layer"] = -1

        handles.append(attention.register_forward_pre_hook(enter))
        handles.append(attention.register_forward_hook(leave))
        if v2:
            for proj, name in (("query_proj", "query"), ("key_proj", "key"), ("value_proj", "value")):
                # first call only: with share_att_key the same projections are applied to the position table
                handles.append(
                    getattr(attention, proj).register_forward_hook(
                        _heads_hook(record, prefix + name, attention)
                    )
                )
        else:
            handles.append(attention.in_proj.register_forward_hook(_in_proj_hook(record, prefix, attention)))
        handles.append(attention.register_forward_hook(keep(prefix + "context")))
        handles.append(layer.attention.output.register_forward_hook(keep(prefix + "attention_output")))
        handles.append(layer.intermediate.register_forward_hook(keep(prefix + "intermediate")))
        handles.append(layer.register_forward_hook(keep(prefix + "output")))
    if getattr(base.encoder, "conv", None) is not None:
        handles.append(base.encoder.conv.register_forward_hook(keep("conv.output")))
    if getattr(model, "pooler", None) is not None:
        handles.append(model.pooler.register_forward_hook(keep("pooled")))

    encoder = base.encoder
    get_rel_pos, get_rel_embedding = encoder.get_rel_pos, encoder.get_rel_embedding

    def rel_pos(*args: Any, **kwargs: Any) -> Any:
        out = get_rel_pos(*args, **kwargs)
        if out is not None:
            record["relative_positions"] = out.reshape(out.shape[-2:])
        return out

    def rel_embedding() -> Any:
        out = get_rel_embedding()
        if out is not None:
            record["rel_embeddings"] = out
        return out

    class Capture(TorchFunctionMode):
        """transformers' gathers (c2p, then p2c) and softmax input, inside each attention module's forward."""

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            layer = current["layer"]
            if layer < 0:
                return out
            prefix = f"layer.{layer}."
            if func is torch.gather:
                kinds = [t for t in ("c2p", "p2c") if t in terms]
                kind = kinds[current["gathers"]] if current["gathers"] < len(kinds) else None
                current["gathers"] += 1
                index = kwargs.get("index", args[2] if len(args) > 2 else None)
                if kind is not None:
                    index_name = kind + "_index"
                    if index_name not in record:
                        record[index_name] = index.reshape(-1, *index.shape[-2:])[0]
                    record[prefix + kind] = out  # raw; shaped and unscaled below
            elif func is torch.nn.functional.softmax:
                record[prefix + "scores"] = args[0]
            return out

    precision = next(model.parameters()).dtype
    context = float64_reference() if precision == torch.float64 else contextlib.nullcontext()
    encoder.get_rel_pos, encoder.get_rel_embedding = rel_pos, rel_embedding
    try:
        with torch.inference_mode(), context, Capture():
            out = model(**inputs, output_attentions=True, output_hidden_states=True)
            scale = _scale(torch, config, terms, precision)
    finally:
        for handle in handles:
            handle.remove()
        del encoder.get_rel_pos, encoder.get_rel_embedding  # the class's methods again

    heads = config.num_attention_heads
    for index, probs in enumerate(out.attentions):
        prefix = f"layer.{index}."
        record[prefix + "probs"] = probs
        shape = (batch, heads, length, length)
        for kind in ("c2p", "p2c"):
            if prefix + kind in record and relative:
                value = record[prefix + kind].reshape(shape)
                if kind == "p2c":
                    value = value.transpose(-1, -2)  # transformers transposes after the gather
                if not v2:
                    value = value * scale  # v1 folded the scale in before the product
                record[prefix + kind] = value
        record[prefix + "scores"] = record[prefix + "scores"].reshape(shape)
    if "embeddings.position" in record:
        record["embeddings.position"] = record["embeddings.position"].expand(batch, length, -1)
    record["last_hidden_state"] = out.hidden_states[-1]
    for field in ("logits", "start_logits", "end_logits"):
        if getattr(out, field, None) is not None:
            record[field] = out[field]
    return _ordered(record, torch)


def _scale(torch: Any, config: Any, terms: list[str], dtype: Any) -> Any:
    """transformers v1's attention scale: scaled_size_sqrt, as its forward computes it (the patched one in float64)."""
    from transformers.models.deberta import modeling_deberta as md

    head_size = config.hidden_size // config.num_attention_heads
    scale = md.scaled_size_sqrt(torch.empty(0, head_size), 1 + len(terms))
    return scale.to(dtype)


def _heads_hook(record: dict[str, Any], name: str, attention: Any) -> Any:
    def hook(module: Any, args: Any, output: Any) -> None:
        if name not in record:
            b, length, _ = output.shape
            record[name] = output.view(b, length, attention.num_attention_heads, -1).permute(0, 2, 1, 3)

    return hook


def _in_proj_hook(record: dict[str, Any], prefix: str, attention: Any) -> Any:
    def hook(module: Any, args: Any, output: Any) -> None:
        # transformers' DisentangledSelfAttention.forward, its first three lines
        query, key, value = attention.transpose_for_scores(output).chunk(3, dim=-1)
        record[prefix + "query"] = query + attention.transpose_for_scores(attention.q_bias[None, None, :])
        record[prefix + "key"] = key
        record[prefix + "value"] = value + attention.transpose_for_scores(attention.v_bias[None, None, :])

    return hook


def _torch_inputs(torch: Any, *values: Any) -> dict[str, Any]:
    names = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
    inputs = {}
    for name, value in zip(names, values, strict=True):
        if value is None:
            continue
        array = numpy.asarray(value)
        if array.dtype.kind not in "iub":
            raise InputError(f"{name} must hold integers, got dtype {array.dtype}")
        inputs[name] = torch.from_numpy(array.astype(numpy.int64))
    if "input_ids" not in inputs:
        raise InputError("input_ids is required")
    if "attention_mask" not in inputs:
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    return inputs


def _ordered(record: dict[str, Any], torch: Any) -> dict[str, numpy.ndarray]:
    from .trace import forward_rank

    names = sorted(record, key=lambda name: (forward_rank(name), name))
    result = {}
    for name in names:
        value = record[name]
        result[name] = value.detach().cpu().numpy().copy() if isinstance(value, torch.Tensor) else value
    return result
