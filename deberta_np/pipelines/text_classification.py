"""text-classification: labels for a text or a text pair (transformers' TextClassificationPipeline)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import (
    TOKENIZER_OPTIONS,
    UNSET,
    Feature,
    Pipeline,
    check_positive_int,
    host,
    softmax,
    tokenizer_options,
)

FUNCTIONS = ("softmax", "sigmoid", "none")


class TextClassificationPipeline(Pipeline):
    """`classify(text_or_pair, top_k=<unset>, function_to_apply=None, text_pair=None)`.

    Inputs: a text, `{"text": a, "text_pair": b}`, or a list of either. `text_pair=` pairs every input text with
    the same second text (`classify("premise", text_pair="hypothesis")`, as transformers, whose tokenizer takes
    it); a dict that holds its own "text_pair" then is a TypeError, as there. Output shapes follow transformers:
    without `top_k`, each input gives its best `{label, score}` (and a single text gives a one-item list); with
    `top_k` (an int, or None for all labels), each input gives a list of `{label, score}` sorted by score.
    `function_to_apply` defaults to the config's choice: none for regression, sigmoid for multi-label or a
    single output, softmax otherwise.
    """

    task = "text-classification"
    head = "sequence_classification"
    defaults: ClassVar[dict[str, Any]] = {
        "top_k": UNSET,
        "function_to_apply": None,
        **TOKENIZER_OPTIONS,
        "text_pair": None,
    }

    def __call__(self, inputs: Any, **params: Any) -> Any:
        results = super().__call__(inputs, **params)
        # transformers: a single *string* without a call-time top_k comes back wrapped in a list.
        return [results] if isinstance(inputs, str) and "top_k" not in params else results

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["top_k"] is not UNSET and params["top_k"] is not None:
            params["top_k"] = check_positive_int(params["top_k"], "top_k")
        function = params["function_to_apply"]
        if function is not None:
            if not isinstance(function, str) or function.lower() not in FUNCTIONS:
                raise ValueError(f"function_to_apply must be one of {', '.join(FUNCTIONS)}, got {function!r}")
            params["function_to_apply"] = function.lower()
        if params["text_pair"] is not None:
            params["text_pair"] = self.check_text(params["text_pair"], "text_pair")
        return params

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        text, pair = text_and_pair(item)
        if params["text_pair"] is not None:
            if isinstance(item, dict) and "text_pair" in item:
                raise TypeError(
                    "text_pair given twice: in the input dict and as text_pair=; give it in one place only"
                )
            pair = params["text_pair"]
        options = tokenizer_options(params)
        encoding = self.tokenizer(text, pair, **options)
        return [Feature(list(encoding["input_ids"]), list(encoding["token_type_ids"]))]

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        logits = host(self.model(ids, attention_mask=mask, token_type_ids=types).logits)
        return [{"logits": row} for row in logits]

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        logits = outputs[0]["logits"]
        function = params["function_to_apply"] or self.default_function()
        if function == "softmax":
            scores = softmax(logits)
        elif function == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-logits))
        else:
            scores = logits
        if params["top_k"] is UNSET:
            best = int(scores.argmax())
            return {"label": self.label(best), "score": float(scores[best])}
        ranked = [{"label": self.label(i), "score": float(s)} for i, s in enumerate(scores)]
        ranked.sort(key=lambda x: x["score"], reverse=True)  # stable: equal scores keep the label order
        return ranked if params["top_k"] is None else ranked[: params["top_k"]]

    def default_function(self) -> str:
        """transformers' rule: from problem_type, then the number of labels."""
        c = self.config
        if c.problem_type == "regression":
            return "none"
        if c.problem_type == "multi_label_classification" or c.num_labels == 1:
            return "sigmoid"
        return "softmax"


def text_and_pair(item: Any) -> tuple[str, str | None]:
    """A text, or a {"text", "text_pair"} dict; both non-empty strings."""
    if isinstance(item, dict):
        unknown = set(item) - {"text", "text_pair"}
        if unknown or "text" not in item:
            raise TypeError(
                'a text pair is a dict {"text": ..., "text_pair": ...}; got keys '
                + ", ".join(map(repr, item))
            )
        pair = item.get("text_pair")
        return Pipeline.check_text(item["text"]), None if pair is None else Pipeline.check_text(
            pair, "text_pair"
        )
    if isinstance(item, (list, tuple)):
        raise TypeError('send a text pair as a dict {"text": a, "text_pair": b}, not as a list or tuple')
    return Pipeline.check_text(item), None
