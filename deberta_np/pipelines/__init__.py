"""Task pipelines that behave like transformers' `pipeline(...)`: same inputs, options, defaults and outputs.

    from deberta_np import pipeline
    fill = pipeline("fill-mask", model="deberta-base")
    fill("Paris is the [MASK] of France.", top_k=3)     # [{score, token, token_str, sequence}, ...]

Tasks: fill-mask, text-classification (alias sentiment-analysis), zero-shot-classification,
token-classification (alias ner), question-answering, feature-extraction. Each module says which transformers
behaviours it reproduces; conformance/pipelines_suite.py checks them against transformers 4.57.6's outputs.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import CheckpointError
from .base import (
    HEAD_DESCRIPTIONS,
    RTD,
    Failure,
    Pipeline,
    checkpoint_heads,
    discriminator_explanation,
    load_model,
    load_tokenizer,
    resolve_model_path,
    set_labels,
)
from .feature_extraction import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .question_answering import QuestionAnsweringPipeline
from .text_classification import TextClassificationPipeline
from .token_classification import TokenClassificationPipeline
from .zero_shot import ZeroShotClassificationPipeline

PIPELINES: dict[str, type[Pipeline]] = {
    cls.task: cls
    for cls in (
        FillMaskPipeline,
        TextClassificationPipeline,
        ZeroShotClassificationPipeline,
        TokenClassificationPipeline,
        QuestionAnsweringPipeline,
        FeatureExtractionPipeline,
    )
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(
    task: str,
    model: str | os.PathLike[str] | Any,
    *,
    tokenizer: str | os.PathLike[str] | Any = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 1,
    id2label: dict[Any, str] | None = None,
    **parameters: Any,
) -> Pipeline:
    """A ready pipeline for `task` on a checkpoint directory (or a hub id, when huggingface_hub is installed).

    model: a checkpoint directory, a hub id, or an already loaded deberta_np model (then `tokenizer` is needed).
    tokenizer: a directory or a tokenizer object; default: the checkpoint's own files.
    batch_size: inputs (and windows of long inputs) run through the model together, grouped by length.
    id2label: replaces the config's label names ({0: "negative", 1: "positive"}).
    parameters: defaults for the task's call options (top_k=3, aggregation_strategy="simple", ...).

    A checkpoint without the head the task needs is refused with a CheckpointError that says what it holds.
    """
    name = ALIASES.get(task, task)
    if name not in PIPELINES:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join([*PIPELINES, *ALIASES])}")
    cls = PIPELINES[name]
    if isinstance(model, (str, os.PathLike)):
        path = resolve_model_path(model)
        check_head(path, cls)
        loaded = load_model(path, cls.head, device, dtype)
        if tokenizer is None:
            tokenizer = load_tokenizer(path)
    else:
        loaded = model
        if cls.head != "base" and not _has_head(loaded, cls.head):
            raise CheckpointError(f"{task} needs a model with {HEAD_DESCRIPTIONS[cls.head]}, got {loaded!r}")
        if tokenizer is None:
            raise TypeError("a model object needs tokenizer= (a directory or a tokenizer object)")
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_tokenizer(resolve_model_path(tokenizer))
    if id2label is not None:
        set_labels(loaded.config, id2label)
    return cls(loaded, tokenizer, batch_size=batch_size, **parameters)


def check_head(path: os.PathLike[str], cls: type[Pipeline]) -> None:
    """Refuse, before loading, a checkpoint that lacks the task's head, saying what it holds instead."""
    heads = checkpoint_heads(path)
    if cls.head == "masked_lm" and RTD in heads:
        # Whatever MLM tensors it also holds, a discriminator's masked-token predictions are meaningless.
        raise CheckpointError(f"{cls.task} refuses it: {discriminator_explanation(path)}")
    if cls.head in heads:
        return
    held = [HEAD_DESCRIPTIONS[h] for h in heads if h != "base"]
    holds = "an encoder with " + " and ".join(held) if held else "a bare encoder (no task head)"
    hint = {
        "masked_lm": " Fine-tuning drops the pretraining MLM head: use a pretrained checkpoint such as "
        "microsoft/deberta-base (transformers would fill the missing head with random numbers).",
        "sequence_classification": " Use a checkpoint fine-tuned for this task (for zero-shot, on NLI: e.g. "
        "microsoft/deberta-large-mnli).",
    }.get(cls.head, " Use a checkpoint fine-tuned for this task.")
    raise CheckpointError(f"{cls.task} needs {HEAD_DESCRIPTIONS[cls.head]}, but {path} holds {holds}.{hint}")


def _has_head(model: Any, head: str) -> bool:
    model_head = getattr(model, "head", None)
    return model_head == head or (head == "masked_lm" and model_head == "masked_lm_legacy")


__all__ = [
    "ALIASES",
    "PIPELINES",
    "Failure",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "Pipeline",
    "QuestionAnsweringPipeline",
    "TextClassificationPipeline",
    "TokenClassificationPipeline",
    "ZeroShotClassificationPipeline",
    "checkpoint_heads",
    "pipeline",
]
