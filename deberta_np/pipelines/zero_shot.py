"""zero-shot-classification: any labels, scored by an NLI model (transformers' ZeroShotClassificationPipeline).

Each candidate label becomes a hypothesis ("This example is sports.") paired with the text; the model's
entailment logit is the label's score. The entailment label is found in config.label2id (the first whose name
starts with "entail", any case).

NOTE(transformers behaviour, reproduced): with `multi_label` (or a single candidate) each label's score is
softmax(contradiction, entailment)[entailment], where transformers takes as contradiction label 0, or the last
label when entailment is 0, whatever those labels are called. For the usual orders (MNLI's contradiction,
neutral, entailment; cross-encoder's contradiction, entailment, neutral; or entailment first) that is the
contradiction label; for an order like (neutral, contradiction, entailment) it is neutral. deberta_np keeps this
rule so that its scores are transformers' scores.
"""

from __future__ import annotations

import string
import warnings
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import UNSET, Feature, Pipeline, host, softmax


class ZeroShotClassificationPipeline(Pipeline):
    """`classify(text, candidate_labels, hypothesis_template="This example is {}.", multi_label=False)`
    -> {sequence, labels, scores}, labels sorted by score (a list of texts gives a list of results)."""

    task = "zero-shot-classification"
    head = "sequence_classification"
    defaults: ClassVar[dict[str, Any]] = {
        "candidate_labels": None,
        "hypothesis_template": "This example is {}.",
        "multi_label": False,
    }

    def __call__(self, sequences: str | list[str], candidate_labels: Any = UNSET, **params: Any) -> Any:
        # An explicit candidate_labels=None replaces the pipeline's labels and is refused, as in transformers;
        # only leaving the argument out falls back to the labels given when the pipeline was made.
        if candidate_labels is not UNSET:
            params["candidate_labels"] = candidate_labels
        return super().__call__(sequences, **params)

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        labels = params["candidate_labels"]
        if labels is None:
            # TypeError as in transformers (whose len(None) fails): a required argument is missing.
            raise TypeError(
                "candidate_labels is required, got None (a None at the call replaces the pipeline's own labels, "
                "as in transformers): give the labels to choose from, e.g. ['sports', 'politics']"
            )
        if isinstance(labels, str):
            labels = [
                label.strip() for label in labels.split(",") if label.strip()
            ]  # "a, b,c" as transformers
        if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
            raise TypeError(
                f"candidate_labels must be a list of str (or one comma-separated str), got {labels!r}"
            )
        if not labels:
            raise InputError("candidate_labels is empty: give at least one label")
        template = params["hypothesis_template"]
        if not isinstance(template, str):
            raise TypeError(f"hypothesis_template must be a str, got {type(template).__name__}")
        if not _one_placeholder(template):
            raise InputError(
                f"hypothesis_template {template[:80]!r} has no single {{}} for the label: it must hold exactly "
                "one (any other brace doubled, as {{ or }}), e.g. 'This example is {}.'"
            )
        if not isinstance(params["multi_label"], bool):
            raise TypeError(f"multi_label must be true or false, got {params['multi_label']!r}")
        params["candidate_labels"] = list(labels)
        return params

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        text = self.check_text(item)
        features = []
        for label in params["candidate_labels"]:
            hypothesis = params["hypothesis_template"].format(label)
            try:
                # Only the text is shortened to fit the model (never the hypothesis), when a limit is known.
                encoding = self.tokenizer(text, hypothesis, truncation="only_first")
            except ValueError:
                # The hypothesis alone is too long to fit: transformers then encodes without truncation.
                encoding = self.tokenizer(text, hypothesis)
            features.append(Feature(list(encoding["input_ids"]), list(encoding["token_type_ids"])))
        return features

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        logits = host(self.model(ids, attention_mask=mask, token_type_ids=types).logits)
        return [{"logits": row} for row in logits]

    @property
    def entailment_id(self) -> int:
        """The index of the config label whose name starts with "entail" (any case); -1 if none does."""
        for label, index in self.config.label2id.items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        labels = params["candidate_labels"]
        logits = np.stack([o["logits"] for o in outputs])  # [labels, num_labels]
        entailment = self.entailment_id
        if entailment == -1:
            warnings.warn(
                "no label of config.label2id starts with 'entail': using the last label as entailment",
                stacklevel=4,
            )
        if params["multi_label"] or len(labels) == 1:
            contradiction = -1 if entailment == 0 else 0  # see the module docstring
            scores = softmax(logits[:, [contradiction, entailment]])[:, 1]
        else:
            scores = softmax(logits[:, entailment])
        order = list(reversed(scores.argsort()))  # transformers' exact ordering, ties included
        return {
            "sequence": item,
            "labels": [labels[i] for i in order],
            "scores": [float(scores[i]) for i in order],
        }


def _one_placeholder(template: str) -> bool:
    """Whether `template.format(label)` puts the label in exactly one place: str.format raises IndexError for
    "{} and {}", KeyError for "{name}", ValueError for a lone brace, and ignores the label with no field."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        template.format("label")  # a field's format spec may hold fields of its own ("{:{}}")
    except (IndexError, KeyError, ValueError, AttributeError):
        return False
    return fields in ([""], ["0"])
