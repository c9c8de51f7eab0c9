"""From the tensors read from a checkpoint (checkpoint_files.py) to the model's parameters: names, strictness.

The loader is strict. Every parameter the model needs must be in the checkpoint with the right shape (nothing is
ever randomly initialised); every tensor in the checkpoint must be used, or be one the reference is known to
ignore. The few renamings are the ones transformers itself applies:
  * `deberta.` prefix: present in task-head checkpoints, absent in bare-model ones; both load into both;
  * `LayerNorm.gamma` / `LayerNorm.beta`: old TF-style names of `LayerNorm.weight` / `LayerNorm.bias`;
  * the MLM head exists in two layouts, `lm_predictions.lm_head.*` (Microsoft's, in the official checkpoints) and
    `cls.predictions.*` (transformers' legacy one); the checkpoint decides which is used (see `masked_lm_head`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .config import DebertaConfig
from .errors import CheckpointError
from .family import family_of

PREFIX = "deberta."
ENCODER_ROOTS = ("embeddings.", "encoder.")
MLM_PREFIXES = {"masked_lm": "lm_predictions.lm_head.", "masked_lm_legacy": "cls.predictions."}
# Tensors of a head other than the one being loaded: a checkpoint of one task is routinely loaded as another
# (every official checkpoint is an MLM checkpoint, loaded as a bare encoder or to fine-tune a classifier).
# `mask_predictions.*` is the replaced-token-detection head of DeBERTa-v3 discriminators (transformers ignores it).
OTHER_HEAD_PREFIXES = (
    "lm_predictions.",
    "cls.",
    "pooler.",
    "classifier.",
    "qa_outputs.",
    "mask_predictions.",
)


# DeBERTa-v3's pretraining head: "was this token replaced?" (ELECTRA-style). No task uses it; it marks a
# discriminator, whose MLM head (if it has one) was never trained to predict masked tokens.
RTD = "replaced_token_detection"


def heads_in(names: Iterable[str]) -> list[str]:
    """The heads a checkpoint holds, judged from its tensor names: "base" and any of masked_lm,
    sequence_classification, token_classification, question_answering and replaced_token_detection (RTD)."""
    names = set(names)
    heads = ["base"]
    if any(n.startswith(("lm_predictions.", "cls.predictions.")) for n in names):
        heads.append("masked_lm")
    if "classifier.weight" in names:
        # transformers' token classifier has no pooler; the sequence classifier (and multiple choice) has one.
        heads.append("sequence_classification" if "pooler.dense.weight" in names else "token_classification")
    if "qa_outputs.weight" in names:
        heads.append("question_answering")
    if any(n.startswith("mask_predictions.") for n in names):
        heads.append(RTD)
    return heads


def discriminator_explanation(source: Any) -> str:
    """Why a replaced-token-detection discriminator (a DeBERTa-v3 checkpoint) has no usable MLM head."""
    return (
        f"{source} is a replaced-token-detection discriminator (it holds mask_predictions.*, as the DeBERTa-v3 "
        "checkpoints do): it was trained to tell replaced tokens from original ones, not to predict masked "
        "tokens, so it has no usable masked-language-model head (transformers would fill [MASK] with meaningless "
        "tokens). Use it as an encoder (feature-extraction) or fine-tune it for classification, NER or QA; for "
        "fill-mask use an MLM-trained checkpoint (DeBERTa v1, deberta-v2-xlarge/xxlarge)."
    )


def canonical_names(state: dict[str, Any], source: str) -> dict[str, Any]:
    """Rename stored keys to transformers' head-model names (`deberta.` prefix, LayerNorm.weight/bias)."""
    renamed: dict[str, Any] = {}
    for key, value in state.items():
        name = key
        if name.endswith("LayerNorm.gamma"):
            name = name[: -len("gamma")] + "weight"
        elif name.endswith("LayerNorm.beta"):
            name = name[: -len("beta")] + "bias"
        if name.startswith(ENCODER_ROOTS):
            name = PREFIX + name
        if name in renamed:
            raise CheckpointError(
                f"{source}: tensor {key!r} duplicates another tensor that is also named {name!r}"
            )
        renamed[name] = value
    return renamed


def masked_lm_head(state: dict[str, Any], config: DebertaConfig, source: str) -> str:
    """Which MLM head layout the checkpoint holds: "masked_lm" or "masked_lm_legacy".

    NOTE(divergence): transformers picks the head from `config.legacy` alone and randomly initialises it when the
    checkpoint holds the other layout (the official microsoft/deberta-* checkpoints hold `lm_predictions.*` and
    have no `legacy` key, so transformers builds the legacy head from random numbers). We use the head that is in
    the checkpoint; `config.legacy` decides only if both are present.
    """
    if RTD in heads_in(state):
        raise CheckpointError(discriminator_explanation(source))
    present = [head for head, prefix in MLM_PREFIXES.items() if any(k.startswith(prefix) for k in state)]
    if not present:
        raise CheckpointError(
            f"{source} has no masked-language-model head: neither lm_predictions.lm_head.* (Microsoft's layout) "
            "nor cls.predictions.* (transformers' legacy layout) is in it. transformers would fill the head with "
            "random numbers and fill-mask would print nonsense; deberta_np refuses. Load it as DebertaModel, or "
            "use a checkpoint trained with an MLM head (DeBERTa-v3 checkpoints are RTD discriminators: none)."
        )
    if len(present) == 2:
        return "masked_lm_legacy" if config.legacy else "masked_lm"
    return present[0]


def expected_shapes(config: DebertaConfig, head: str) -> dict[str, tuple[int, ...]]:
    """Every parameter of `head` on top of the encoder, with checkpoint names and shapes."""
    spec = family_of(config).spec
    shapes = {PREFIX + name: shape for name, shape in spec.encoder_parameter_shapes(config).items()}
    shapes.update(spec.head_parameter_shapes(config, head))
    if head == "masked_lm_legacy" and _untied_decoder(config):
        shapes["cls.predictions.decoder.weight"] = (config.vocab_size, config.embedding_size)
    return shapes


def _untied_decoder(config: DebertaConfig) -> bool:
    return config.extra.get("tie_word_embeddings", True) is False


def known_unused(name: str, config: DebertaConfig, head: str) -> bool:
    """Tensors that the reference ignores too, so their presence is not an error."""
    if name == PREFIX + "embeddings.position_embeddings.weight" and not config.position_biased_input:
        return True  # official v1 checkpoints carry it for Microsoft's enhanced mask decoder, unused here
    if name == PREFIX + "embeddings.position_ids":
        return True  # a buffer (arange) that older transformers versions saved
    if name in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"):
        return True  # tied copies of the word embeddings and of cls.predictions.bias
    head_prefixes = {
        "masked_lm": ("lm_predictions.",),
        "masked_lm_legacy": ("cls.",),
        "sequence_classification": ("pooler.", "classifier."),
        "token_classification": ("classifier.",),
        "question_answering": ("qa_outputs.",),
        "multiple_choice": ("pooler.", "classifier."),
    }.get(head, ())
    return name.startswith(OTHER_HEAD_PREFIXES) and not name.startswith(head_prefixes)


_LAYER = re.compile(r"deberta\.encoder\.layer\.(\d{1,9})\.")


def check_sizes(state: dict[str, Any], config: DebertaConfig, source: str) -> None:
    """Compare the config's layer count with the layers `state` (canonical names) holds, before anything is
    built from it: the expected-tensor table grows with num_hidden_layers, and a config.json of a few bytes
    saying 10^9 would otherwise exhaust memory before the mismatch is found."""
    held = {int(m.group(1)) for name in state if (m := _LAYER.match(name))}
    if config.num_hidden_layers > len(held):
        raise CheckpointError(
            f"{source}: config.json says num_hidden_layers={config.num_hidden_layers}, but the checkpoint holds "
            f"{len(held)} encoder layer(s) (does config.json describe this checkpoint?)"
        )


def select_parameters(state: dict[str, Any], config: DebertaConfig, head: str, source: str) -> dict[str, Any]:
    """Check `state` (canonical names) against what `head` needs; return exactly the needed tensors."""
    if head not in family_of(config).spec.HEADS:
        raise ValueError(f"unknown head {head!r}")
    check_sizes(state, config, source)
    shapes = expected_shapes(config, head)
    missing = [name for name in shapes if name not in state]
    unexpected = [name for name in state if name not in shapes and not known_unused(name, config, head)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {_listing(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected tensor(s) the model has no use for: {_listing(unexpected)}"
        )
    if problems:
        head_names = [name for name in shapes if not name.startswith(PREFIX)]
        if head_names and set(head_names) <= set(missing):
            hint = f" (the checkpoint holds no {head.replace('_', ' ')} head)"
        else:
            hint = " (does config.json describe this checkpoint?)"
        raise CheckpointError(f"{source}: " + "; ".join(problems) + hint)
    selected = {}
    for name, shape in shapes.items():
        found = tuple(state[name].shape)
        if found != shape:
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {list(found)}, the config implies {list(shape)}"
            )
        selected[name] = state[name]
    return selected


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"a.b.0.c": x} -> {"a": {"b": [{"c": x}]}}: dotted names to nested dicts, numbered parts to lists."""
    root: dict[str, Any] = {}
    for name, value in flat.items():
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _lists(root)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """nest's inverse: {"a": {"b": [{"c": x}]}} -> {"a.b.0.c": x} (the checkpoint names of a parameter tree)."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((str(i), value) for i, value in enumerate(tree))
    else:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def leaves(tree: Any) -> list[Any]:
    """The arrays of a nested parameter tree (nest's dicts and lists)."""
    return list(flatten(tree).values())


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    children = {key: _lists(value) for key, value in node.items()}
    if children and all(key.isdigit() for key in children):
        return [children[str(i)] for i in range(len(children))]
    return children


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... and {len(names) - limit} more" if len(names) > limit else "")
