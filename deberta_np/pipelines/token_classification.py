"""token-classification (NER): a label for every token, optionally grouped into entities
(transformers' TokenClassificationPipeline, whose grouping rules are reproduced step by step).

Words. Neither DeBERTa's byte-level BPE (v1) nor its SentencePiece Unigram model (v2/v3) has a continuing-subword
marker, so, like transformers for such tokenizers, a token counts as the continuation of a word when it does not
start at a space: `is_subword = start > 0 and " " not in text[start - 1 : start + 1]`. Offsets are the
tokenizer's, and a token that begins with a space (`Ġworld`, `▁world`) includes it: entities then start at the
space (`' Berlin'`, start 39), exactly as in transformers.

SentencePiece. Words are decoded as transformers' pipelines decode them, with the fast tokenizer's Metaspace
decoder (base.tokens_to_string). A character the vocabulary lacks is one [UNK] for the fast tokenizer (never a
subword, its word the text it covers) and UTF-8 byte pieces for sentencepiece (deberta_np's default): the first
byte piece of a run starts a word as the [UNK] would, the others continue it, so the words are the same.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Feature, Pipeline, check_positive_int, host, is_byte_piece, softmax, tokens_to_string

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """`ner(text, aggregation_strategy="none", ignore_labels=["O"], stride=None)`.

    "none": one `{entity, score, index, word, start, end}` per token (word is the vocabulary string, `ĠBerlin` or
    `▁Berlin`).
    "simple": adjacent tokens with the same tag (B-X then I-X...) become one `{entity_group, score, word, start,
    end}`, score their mean. "first" / "average" / "max": each word first gets one label (its first token's, the
    best of its averaged scores, or its most confident token's), then words are grouped as in "simple".
    `stride`: texts longer than the tokenizer's model_max_length are split into windows overlapping by `stride`
    tokens (needs an aggregation strategy); overlapping entities are resolved as transformers does.
    `is_split_into_words=True` takes lists of words, joined by `delimiter` (default " ") for the offsets.
    """

    task = "token-classification"
    head = "token_classification"
    defaults: ClassVar[dict[str, Any]] = {
        "aggregation_strategy": "none",
        "ignore_labels": None,
        "stride": None,
        "is_split_into_words": False,
        "delimiter": None,
    }

    def __call__(self, inputs: str | list[str] | list[list[str]], **params: Any) -> Any:
        split = params.get("is_split_into_words", self.parameters.get("is_split_into_words", False))
        if split and isinstance(inputs, list) and not all(isinstance(i, list) for i in inputs):
            return self.run([inputs], **params)  # one pre-split text: a one-item list, as transformers
        return super().__call__(inputs, **params)

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        strategy = params["aggregation_strategy"]
        if not isinstance(strategy, str) or strategy.lower() not in STRATEGIES:
            raise ValueError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        params["aggregation_strategy"] = strategy = strategy.lower()
        ignore = params["ignore_labels"]
        params["ignore_labels"] = ["O"] if ignore is None else list(ignore)
        if params["stride"] is not None:
            stride = check_positive_int(params["stride"], "stride", minimum=0)
            if stride >= self.tokenizer.model_max_length:
                raise ValueError(
                    f"stride ({stride}) must be smaller than the tokenizer's model_max_length "
                    f"({self.tokenizer.model_max_length}), minus its special tokens"
                )
            if strategy == "none":
                raise ValueError(
                    "stride splits long texts into windows, whose tokens must be merged: it needs an "
                    'aggregation_strategy other than "none"'
                )
        if params["is_split_into_words"] and params["delimiter"] is None:
            params["delimiter"] = " "
        return params

    # --- preprocessing ------------------------------------------------------------------------------------------

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        word_chars = None
        if params["is_split_into_words"]:
            if not isinstance(item, list) or not all(isinstance(w, str) for w in item):
                raise TypeError("with is_split_into_words=True each input is a list of words (str)")
            if not item:
                raise InputError("the list of words is empty")
            if not getattr(self.tokenizer, "add_prefix_space", True):
                # A byte-level BPE tokenizer encodes each word alone; without a prefix space " Berlin" would be
                # encoded as the different token "Berlin". transformers refuses this too.
                raise InputError(
                    "pre-split words (is_split_into_words=True) need a tokenizer with add_prefix_space=True; load "
                    "it with DebertaTokenizer.from_pretrained(DIR, add_prefix_space=True) and pass tokenizer="
                )
            sentence = params["delimiter"].join(item)
            word_chars, position = [], 0
            for word in item:  # where each word starts and ends in the joined sentence
                word_chars.append((position, position + len(word)))
                position += len(word) + len(params["delimiter"])
        else:
            sentence = self.check_text(item)
        options: dict[str, Any] = {"truncation": True}  # to model_max_length, when the tokenizer has one
        if params["stride"] is not None:
            options.update(return_overflowing_tokens=True, stride=params["stride"])
        batch = self.tokenizer([item], is_split_into_words=params["is_split_into_words"], **options)
        features = []
        for window in batch.encodings:
            info = {
                "sentence": sentence,
                "offsets": window.offsets,
                "special": window.special_tokens_mask,
                "word_ids": window.word_ids,
                "word_chars": word_chars,
            }
            features.append(Feature(list(window.ids), list(window.type_ids), info))
        return features

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        logits = host(self.model(ids, attention_mask=mask, token_type_ids=types).logits)
        return [{"logits": logits[r, : len(row)]} for r, row in enumerate(rows)]

    # --- postprocessing -----------------------------------------------------------------------------------------

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        strategy = params["aggregation_strategy"]
        entities: list[dict] = []
        for feature, output in zip(features, outputs):
            scores = softmax(output["logits"])
            tokens = self.pre_entities(feature, scores)
            grouped = self.aggregate(tokens, strategy)
            entities += [
                e
                for e in grouped
                if e.get("entity") not in params["ignore_labels"]
                and e.get("entity_group") not in params["ignore_labels"]
            ]
        if len(features) > 1:
            entities = merge_overlapping(entities)
        return [_plain(e) for e in entities]

    def pre_entities(self, feature: Feature, scores: np.ndarray) -> list[dict]:
        """Every non-special token with its scores, character span and whether it continues a word."""
        info = feature.info
        sentence = info["sentence"]
        tokens = []
        previous_byte = False  # the token before was a byte piece
        for index, token_scores in enumerate(scores):
            if info["special"][index]:
                previous_byte = False
                continue
            token_id = feature.input_ids[index]
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start, end = info["offsets"][index]
            if info["word_chars"] is not None and info["word_ids"][index] is not None:
                shift = info["word_chars"][info["word_ids"][index]][0]  # offsets are relative to the word
                start, end = start + shift, end + shift
            is_subword = start > 0 and " " not in sentence[start - 1 : start + 1]
            if token_id == self.tokenizer.unk_token_id:
                word, is_subword = sentence[start:end], False
            byte = is_byte_piece(self.tokenizer, word)
            if byte:  # a run of byte pieces stands where the fast tokenizer has one [UNK] (module docstring)
                is_subword = previous_byte
            previous_byte = byte
            tokens.append(
                {
                    "word": word,
                    "scores": token_scores,
                    "start": start,
                    "end": end,
                    "index": index,
                    "is_subword": is_subword,
                }
            )
        return tokens

    def aggregate(self, tokens: list[dict], strategy: str) -> list[dict]:
        if strategy in ("none", "simple"):
            entities = []
            for token in tokens:
                best = token["scores"].argmax()
                entities.append(
                    {
                        "entity": self.label(best),
                        "score": token["scores"][best],
                        "index": token["index"],
                        "word": token["word"],
                        "start": token["start"],
                        "end": token["end"],
                    }
                )
        else:
            entities = [self.aggregate_word(word, strategy) for word in split_words(tokens)]
        return entities if strategy == "none" else self.group_entities(entities)

    def aggregate_word(self, tokens: list[dict], strategy: str) -> dict:
        """One label for a word's tokens: the first token's, the best averaged score, or the top token's."""
        if strategy == "first":
            scores = tokens[0]["scores"]
        elif strategy == "max":
            scores = max(tokens, key=lambda t: t["scores"].max())["scores"]  # the first of equal maxima
        else:  # average
            scores = np.nanmean(np.stack([t["scores"] for t in tokens]), axis=0)
        best = scores.argmax()
        return {
            "entity": self.label(best),
            "score": scores[best],
            "word": tokens_to_string(self.tokenizer, [t["word"] for t in tokens]),
            "start": tokens[0]["start"],
            "end": tokens[-1]["end"],
        }

    def group_entities(self, entities: list[dict]) -> list[dict]:
        """Adjacent entities with the same tag form a group; a B- tag always starts a new one."""
        groups: list[dict] = []
        current: list[dict] = []
        for entity in entities:
            if current:
                bi, tag = split_tag(entity["entity"])
                _, last_tag = split_tag(current[-1]["entity"])
                if tag != last_tag or bi == "B":
                    groups.append(self.group(current))
                    current = []
            current.append(entity)
        if current:
            groups.append(self.group(current))
        return groups

    def group(self, entities: list[dict]) -> dict:
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": np.mean(np.nanmean([e["score"] for e in entities])),
            # With first/average/max these "tokens" are already decoded words, decoded once more: transformers
            # does this too (so 'Zoë' at the start of a text becomes 'Zo\ufffd' there and here).
            "word": tokens_to_string(self.tokenizer, [e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }


def split_words(tokens: list[dict]) -> list[list[dict]]:
    """Consecutive tokens of one word (a token that is not a subword starts a new word)."""
    words: list[list[dict]] = []
    for token in tokens:
        if words and token["is_subword"]:
            words[-1].append(token)
        else:
            words.append([token])
    return words


def split_tag(label: str) -> tuple[str, str]:
    """ "B-PER" -> ("B", "PER"), "I-PER" -> ("I", "PER"); a label without a prefix counts as "I"."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def merge_overlapping(entities: list[dict]) -> list[dict]:
    """Entities of overlapping windows: of entities that overlap, keep the longest (then the most confident)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    kept = []
    previous = entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or (
                length == previous_length and entity["score"] > previous["score"]
            ):
                previous = entity
        else:
            kept.append(previous)
            previous = entity
    kept.append(previous)
    return kept


def _plain(entity: dict) -> dict:
    """NumPy scalars -> Python numbers (JSON-ready)."""
    return {
        k: (float(v) if k == "score" else int(v) if k in ("index", "start", "end") else v)
        for k, v in entity.items()
    }
