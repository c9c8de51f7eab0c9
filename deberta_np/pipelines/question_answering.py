"""question-answering: the span of a context that answers a question (transformers' QuestionAnsweringPipeline).

A context too long for one model input is cut into windows of `max_seq_len` tokens (question + context piece +
3 special tokens), consecutive pieces overlapping by `doc_stride` tokens. In each window, start and end
probabilities are a softmax over the context tokens (and [CLS], the "no answer" position); a span's score is
p(start) * p(end), spans run forward and are at most `max_answer_len` tokens long. Spans are mapped back to
characters of the context, widened to whole words (`align_to_words`: a word is a pre-tokenizer piece, so it
includes its leading space). Answers with the same text (ignoring case) from different spans or windows are one
answer whose score is the sum, as in transformers.

NOTE(transformers behaviour, reproduced): with a fast tokenizer transformers never uses `max_question_len`
(only its slow-tokenizer path truncates the question). deberta_np accepts it and, like transformers, does not
truncate; a question that leaves no room for the context within `max_seq_len` is refused with an InputError.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .base import Feature, Pipeline, check_positive_int, host


class QuestionAnsweringPipeline(Pipeline):
    """`qa(question=..., context=..., top_k=1, doc_stride=None, max_answer_len=15, max_seq_len=None,
    max_question_len=64, handle_impossible_answer=False, align_to_words=True)` -> {score, start, end, answer}
    (a list of them when top_k > 1 finds several; a list of results for several questions).

    Defaults as transformers: max_seq_len = min(384, tokenizer.model_max_length), doc_stride =
    min(max_seq_len // 2, 128). Also `qa({"question": q, "context": c})`, a list of such dicts, or
    `qa(question=[q1, q2], context=c)`.
    """

    task = "question-answering"
    head = "question_answering"
    defaults: ClassVar[dict[str, Any]] = {
        "top_k": 1,
        "doc_stride": None,
        "max_answer_len": 15,
        "max_seq_len": None,
        "max_question_len": 64,
        "handle_impossible_answer": False,
        "align_to_words": True,
    }

    def __call__(self, *args: Any, question: Any = None, context: Any = None, **params: Any) -> Any:
        examples = to_examples(args, question, context)
        results = self.run(examples, **params)
        return results[0] if len(examples) == 1 else results

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        params["top_k"] = check_positive_int(params["top_k"], "top_k")
        params["max_answer_len"] = check_positive_int(params["max_answer_len"], "max_answer_len")
        params["max_question_len"] = check_positive_int(params["max_question_len"], "max_question_len")
        if params["max_seq_len"] is None:
            params["max_seq_len"] = min(self.tokenizer.model_max_length, 384)
        params["max_seq_len"] = check_positive_int(params["max_seq_len"], "max_seq_len")
        if params["doc_stride"] is None:
            params["doc_stride"] = min(params["max_seq_len"] // 2, 128)
        params["doc_stride"] = check_positive_int(params["doc_stride"], "doc_stride", minimum=0)
        if params["doc_stride"] > params["max_seq_len"]:
            raise ValueError(
                f"doc_stride ({params['doc_stride']}) is larger than max_seq_len ({params['max_seq_len']})"
            )
        for name in ("handle_impossible_answer", "align_to_words"):
            if not isinstance(params[name], bool):
                raise TypeError(f"{name} must be true or false, got {params[name]!r}")
        return params

    # --- preprocessing ------------------------------------------------------------------------------------------

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        # checked here, where every input passes (the call, the command line's run, batches)
        question, context = (
            self.check_text(item["question"], "question"),
            self.check_text(item["context"], "context"),
        )
        max_seq_len, stride = params["max_seq_len"], params["doc_stride"]
        question_first = self.tokenizer.padding_side == "right"  # transformers' rule
        # counts only (windows come next): no over-length warning, as transformers' QA pipeline gives none
        n_question = len(self.tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
        n_context = len(self.tokenizer(context, add_special_tokens=False, verbose=False)["input_ids"])
        n_special = len(self.tokenizer.build_inputs_with_special_tokens([], []))  # [CLS] [SEP] [SEP]
        room = max_seq_len - n_question - n_special  # context tokens per window
        overflow = n_question + n_context + n_special > max_seq_len
        if overflow and room <= 0:
            raise InputError(
                f"the question is {n_question} tokens long: with the {n_special} special tokens it leaves no room "
                f"for the context within max_seq_len={max_seq_len}; shorten the question or raise max_seq_len"
            )
        if overflow and stride >= room:
            raise InputError(
                f"doc_stride ({stride}) must be smaller than the context tokens each window holds (max_seq_len "
                f"{max_seq_len} - {n_question} question tokens - {n_special} special tokens = {room})"
            )
        first, second = (question, context) if question_first else (context, question)
        encoding = self.tokenizer(
            first,
            second,
            truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len,
            stride=stride if overflow else 0,  # no window: the stride is irrelevant (and may exceed the room)
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        features = []
        for window in encoding.encodings:
            # p_mask: 1 where no answer can be (question, special tokens), except [CLS]: "no answer".
            p_mask = [int(s != 1) if question_first else 0 for s in window.sequence_ids]
            for index, token_id in enumerate(window.ids):
                if token_id == self.tokenizer.cls_token_id:
                    p_mask[index] = 0
            features.append(
                Feature(list(window.ids), list(window.type_ids), {"window": window, "p_mask": p_mask})
            )
        return features

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        out = self.model(ids, attention_mask=mask, token_type_ids=types)
        start, end = host(out.start_logits), host(out.end_logits)
        return [{"start": start[r, : len(row)], "end": end[r, : len(row)]} for r, row in enumerate(rows)]

    # --- postprocessing -----------------------------------------------------------------------------------------

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        context = item["context"]
        top_k, align = params["top_k"], params["align_to_words"]
        question_first = self.tokenizer.padding_side == "right"
        min_null_score = 1000000.0  # large and positive: the smallest [CLS] score of all windows wins
        answers: list[dict] = []
        for feature, output in zip(features, outputs):
            starts, ends, scores, min_null_score = select_starts_ends(
                output["start"][None],
                output["end"][None],
                np.array(feature.info["p_mask"])[None],
                np.ones((1, len(feature)), dtype=np.int64),  # windows are not padded
                min_null_score,
                top_k * 2 + 10 if align else top_k,  # word alignment may merge candidates: take more
                params["handle_impossible_answer"],
                params["max_answer_len"],
            )
            window = feature.info["window"]
            for s, e, score in zip(starts, ends, scores):
                start, end = char_span(window, int(s), int(e), 1 if question_first else 0, align)
                text = context[start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score.item()
                else:
                    answers.append({"score": score.item(), "start": start, "end": end, "answer": text})
        if params["handle_impossible_answer"]:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def to_examples(args: tuple, question: Any, context: Any) -> list[dict[str, str]]:
    """The call's arguments as a list of {"question", "context"} (their texts are checked by preprocess)."""
    if args and (question is not None or context is not None):
        raise TypeError("give the inputs either as arguments or as question=/context=, not both")
    if len(args) == 2 and all(isinstance(a, str) for a in args):
        items: Any = [{"question": args[0], "context": args[1]}]
    elif len(args) == 1:
        items = args[0] if isinstance(args[0], list) else [args[0]]
    elif args:
        raise TypeError(
            "expected qa(question, context), qa({'question': q, 'context': c}) or a list of such dicts"
        )
    elif question is None or context is None:
        raise TypeError("question and context are both required")
    elif isinstance(question, list):
        contexts = context if isinstance(context, list) else [context] * len(question)
        if len(contexts) != len(question):
            raise InputError(f"{len(question)} questions but {len(contexts)} contexts")
        items = [{"question": q, "context": c} for q, c in zip(question, contexts)]
    else:
        items = [{"question": question, "context": context}]
    if not items:
        raise InputError("no question given")
    for item in items:
        if not isinstance(item, dict) or set(item) != {"question", "context"}:
            raise TypeError(
                f"each input is a dict with exactly the keys 'question' and 'context', got {item!r}"[:200]
            )
    return items


def select_starts_ends(
    start: np.ndarray,
    end: np.ndarray,
    p_mask: np.ndarray,
    attention_mask: np.ndarray,
    min_null_score: float,
    top_k: int,
    handle_impossible_answer: bool,
    max_answer_len: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """transformers' select_starts_ends, line for line: probabilities over the allowed tokens, then the best spans.

    start, end [1, L] logits; p_mask [1, L] (1: no answer there); attention_mask [1, L].
    """
    allowed = np.abs(p_mask - 1) & attention_mask
    forbidden = allowed == 0.0
    start = np.where(forbidden, -10000.0, start)
    end = np.where(forbidden, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, (start[0, 0] * end[0, 0]).item())
    start[0, 0] = end[0, 0] = 0.0  # [CLS] is the null answer, never part of a span
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, allowed)
    return starts, ends, scores, min_null_score


def decode_spans(
    start: np.ndarray, end: np.ndarray, top_k: int, max_answer_len: int, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top_k spans by p(start) * p(end) with start <= end < start + max_answer_len, both on allowed tokens.

    transformers' decode_spans with the same NumPy calls, so that even equal scores come out in the same order.
    """
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))  # [1, L, L]
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        order = [np.argmax(flat)]
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        best = np.argpartition(-flat, top_k)[0:top_k]
        order = best[np.argsort(-flat[best])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # As transformers: `allowed.nonzero()` of the [1, L] mask also yields its row indices (all 0), so position 0
    # always counts as allowed here; its probability is 0 anyway.
    keep = np.isin(starts, allowed.nonzero()) & np.isin(ends, allowed.nonzero())
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def char_span(window: Any, s: int, e: int, sequence: int, align_to_words: bool) -> tuple[int, int]:
    """Characters of tokens s..e of a window; with align_to_words, from the start of s's word to the end of e's
    (a word's tokens within this window and this sequence), falling back to the tokens' own offsets."""
    if align_to_words:
        first, last = _word_chars(window, s, sequence), _word_chars(window, e, sequence)
        if first is not None and last is not None:
            return first[0], last[1]
    return window.offsets[s][0], window.offsets[e][1]


def _word_chars(window: Any, token: int, sequence: int) -> tuple[int, int] | None:
    word = window.word_ids[token]
    if word is None:  # a special token: no word
        return None
    tokens = [
        i
        for i, (w, seq) in enumerate(zip(window.word_ids, window.sequence_ids))
        if seq == sequence and w == word
    ]
    if not tokens:
        return None
    return window.offsets[tokens[0]][0], window.offsets[tokens[-1]][1]
