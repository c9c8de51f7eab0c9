"""fill-mask: the most likely tokens for each `[MASK]` of a text (transformers' FillMaskPipeline)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import TOKENIZER_OPTIONS, Feature, Pipeline, check_positive_int, decode, host, softmax


class FillMaskPipeline(Pipeline):
    """`fill(text, top_k=5, targets=None)` -> [{score, token, token_str, sequence}] per mask.

    One mask gives one list; several masks give one list per mask, and then `sequence` keeps the special tokens
    and the other masks (`"[CLS]Paris is the capital of[MASK].[SEP]"`), as in transformers.
    `targets` restricts the candidates to the given words (a vocabulary string, else the first token of the word);
    their scores are still probabilities over the whole vocabulary.
    """

    task = "fill-mask"
    head = "masked_lm"
    defaults: ClassVar[dict[str, Any]] = {"top_k": 5, "targets": None, "tokenizer_kwargs": None}

    def __call__(self, inputs: str | list[str], **params: Any) -> Any:
        items = inputs if isinstance(inputs, list) else [inputs]
        results = self.run(items, **params)
        # transformers returns a one-item list's result unwrapped, like a single text's.
        return results if isinstance(inputs, list) and len(inputs) != 1 else results[0]

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        params["top_k"] = check_positive_int(params["top_k"], "top_k")
        if params["targets"] is not None:
            params["target_ids"] = self.target_ids(params["targets"])
        kwargs = params["tokenizer_kwargs"] or {}
        unknown = set(kwargs) - set(TOKENIZER_OPTIONS)
        if unknown:
            raise TypeError(
                f"tokenizer_kwargs accepts {' and '.join(TOKENIZER_OPTIONS)}, got {', '.join(sorted(unknown))}"
            )
        return params

    def target_ids(self, targets: str | list[str]) -> np.ndarray:
        """Vocabulary ids of the targets: the string itself if it is a vocabulary entry (`'Ġcapital'` for v1's
        byte-level BPE, `'▁capital'` for SentencePiece), else the first token of its encoding (`' capital'` ->
        `'Ġcapital'` / `'▁capital'`, with a warning, as transformers)."""
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            if not isinstance(target, str):
                raise TypeError(f"targets must be str, got {type(target).__name__}")
            token_id = vocab.get(target)
            if token_id is None:
                encoded = self.tokenizer(target, add_special_tokens=False)["input_ids"] if target else []
                if not encoded:
                    warnings.warn(
                        f"target {target!r} is not in the vocabulary and encodes to nothing: ignored",
                        stacklevel=6,
                    )
                    continue
                token_id = encoded[0]
                warnings.warn(
                    f"target {target!r} is not in the vocabulary: using its first token "
                    f"{self.tokenizer.convert_ids_to_tokens(token_id)!r}",
                    stacklevel=6,
                )
            ids.append(int(token_id))
        if not ids:
            raise InputError("targets: none of the targets maps to a token; give at least one")
        return np.array(list(dict.fromkeys(ids)), dtype=np.int64)

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        text = self.check_text(item)
        encoding = self.tokenizer(text, **(params["tokenizer_kwargs"] or {}))
        ids = list(encoding["input_ids"])
        if self.tokenizer.mask_token_id not in ids:
            raise InputError(f"no mask token ({self.tokenizer.mask_token}) in the text: {_short(text)}")
        return [Feature(ids, list(encoding["token_type_ids"]))]

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        # Only the masked positions need the vocabulary-wide projection (V = 50265 columns: at every position it
        # would cost more than the whole encoder), so the head runs on the gathered hidden states alone.
        h = self.model.encode(ids, attention_mask=mask, token_type_ids=types)
        row, column = np.nonzero(ids == self.tokenizer.mask_token_id)
        xp = self.model.xp
        logits = host(self.model.masked_lm_logits(h[xp.asarray(row), xp.asarray(column)][None]))[
            0
        ]  # [masks, V]
        return [{"logits": logits[row == r]} for r in range(len(rows))]

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        ids = np.array(features[0].input_ids)
        positions = np.nonzero(ids == self.tokenizer.mask_token_id)[0]
        probs = softmax(outputs[0]["logits"])  # over the whole vocabulary, also with targets
        target_ids = params.get("target_ids")
        top_k = params["top_k"]
        if target_ids is not None:
            probs = probs[:, target_ids]
            top_k = min(top_k, len(target_ids))
        single = len(positions) == 1
        result = []
        for position, row in zip(positions, probs):
            best = np.argsort(-row, kind="stable")[:top_k]
            candidates = []
            for index in best:
                token = int(index if target_ids is None else target_ids[index])
                filled = ids.copy()
                filled[position] = token
                filled = filled[filled != self.tokenizer.pad_token_id]
                candidates.append(
                    {
                        "score": float(row[index]),
                        "token": token,
                        "token_str": decode(self.tokenizer, [token]),
                        # With several masks the special tokens stay, or the other masks would vanish.
                        "sequence": decode(self.tokenizer, filled.tolist(), skip_special_tokens=single),
                    }
                )
            result.append(candidates)
        return result[0] if single else result


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
