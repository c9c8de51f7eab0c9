"""feature-extraction: the encoder's last hidden state (transformers' FeatureExtractionPipeline), or a pooled vector."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import TOKENIZER_OPTIONS, Feature, Pipeline, host, tokenizer_options

POOLINGS = ("none", "mean", "cls")


class FeatureExtractionPipeline(Pipeline):
    """`embed(text, pooling="none", return_tensors=False)`.

    pooling "none": the last hidden state of every token, special tokens included, as transformers returns it:
    nested lists of shape [1, length, hidden]. "mean": the average over the text's tokens (special tokens
    included, padding never), a list of `hidden` floats; "cls": the first token's vector. `return_tensors=True`
    gives NumPy arrays instead of lists. A text pair is `{"text": a, "text_pair": b}`.
    """

    task = "feature-extraction"
    head = "base"
    defaults: ClassVar[dict[str, Any]] = {
        "pooling": "none",
        "return_tensors": False,
        **TOKENIZER_OPTIONS,
    }

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["pooling"] not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {params['pooling']!r}")
        return params

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        from .text_classification import text_and_pair

        text, pair = text_and_pair(item)
        options = tokenizer_options(params)
        encoding = self.tokenizer(text, pair, **options)
        return [Feature(list(encoding["input_ids"]), list(encoding["token_type_ids"]))]

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        h = self.model.encode(ids, attention_mask=mask, token_type_ids=types)
        h = host(h)
        return [{"hidden": h[r, : len(row)]} for r, row in enumerate(rows)]

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        hidden = outputs[0]["hidden"]  # [length, hidden]
        if params["pooling"] == "mean":
            vector = hidden.mean(axis=0)
        elif params["pooling"] == "cls":
            vector = hidden[0]
        else:
            vector = hidden[None]  # [1, length, hidden], transformers' shape
        return vector if params["return_tensors"] else vector.tolist()
