"""Model-agnostic encodings: pairing with special tokens, truncation with stride/overflow, padding, batch output.

This is the part of a tokenizer that does not care how text became tokens, so a SentencePiece (DeBERTa v2/v3)
tokenizer can reuse it unchanged. The semantics are those of the Rust `tokenizers` library behind transformers'
fast tokenizers (`Encoding::truncate`, `truncate_encodings`, `TemplateProcessing`, `Encoding::merge_with`,
`pad_encodings`), which is what users of `return_overflowing_tokens` and `return_offsets_mapping` run today.

An `Encoding` may be *lean* (ids only: `tokens`, `offsets` and `word_ids` are None) when the caller asked for no
offsets; `BatchEncoding` recomputes the full details on first use of `.tokens()`, `.word_ids()` etc.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class CharSpan(NamedTuple):
    """Characters `start`..`end` (exclusive) of the original text (transformers' CharSpan)."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens `start`..`end` (exclusive) of an encoded sequence (transformers' TokenSpan)."""

    start: int
    end: int


TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")


@dataclass
class Encoding:
    """One sequence (or a finished model input) as parallel per-token lists."""

    ids: list[int]
    type_ids: list[int]
    tokens: list[str] | None = None
    offsets: list[tuple[int, int]] | None = None
    word_ids: list[int | None] | None = None
    special_tokens_mask: list[int] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    sequence_ids: list[int | None] = field(default_factory=list)
    overflowing: list[Encoding] = field(default_factory=list)

    @classmethod
    def from_sequence(
        cls,
        ids: list[int],
        tokens: list[str] | None,
        offsets: list[tuple[int, int]] | None,
        word_ids: list[int | None] | None,
        sequence_id: int = 0,
    ) -> Encoding:
        n = len(ids)
        return cls(ids, [sequence_id] * n, tokens, offsets, word_ids, [0] * n, [1] * n, [sequence_id] * n)

    @classmethod
    def special(cls, token_id: int, token: str, type_id: int) -> Encoding:
        return cls([token_id], [type_id], [token], [(0, 0)], [None], [1], [1], [None])

    @property
    def detailed(self) -> bool:
        return self.offsets is not None

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int) -> Encoding:
        """Tokens start..stop (no overflow)."""
        detailed = self.detailed
        return Encoding(
            self.ids[start:stop],
            self.type_ids[start:stop],
            self.tokens[start:stop] if detailed else None,
            self.offsets[start:stop] if detailed else None,
            self.word_ids[start:stop] if detailed else None,
            self.special_tokens_mask[start:stop],
            self.attention_mask[start:stop],
            self.sequence_ids[start:stop],
        )

    def concat(self, other: Encoding) -> Encoding:
        """self followed by other, ignoring both overflow lists."""
        detailed = self.detailed and other.detailed
        return Encoding(
            self.ids + other.ids,
            self.type_ids + other.type_ids,
            self.tokens + other.tokens if detailed else None,
            self.offsets + other.offsets if detailed else None,
            self.word_ids + other.word_ids if detailed else None,
            self.special_tokens_mask + other.special_tokens_mask,
            self.attention_mask + other.attention_mask,
            self.sequence_ids + other.sequence_ids,
        )

    # --- alignment look-ups, as tokenizers' Encoding (sequence ranges come from sequence_ids, so that padding on
    # either side and overflow windows need no bookkeeping) ---------------------------------------------------

    def sequence_range(self, sequence_id: int) -> range:
        """Positions of the tokens of text `sequence_id`; all positions when it has none (as tokenizers)."""
        positions = [i for i, s in enumerate(self.sequence_ids) if s == sequence_id]
        return range(positions[0], positions[-1] + 1) if positions else range(len(self.ids))

    def token_to_sequence(self, token: int) -> int | None:
        return self.sequence_ids[token] if 0 <= token < len(self.ids) else None

    def token_to_word(self, token: int) -> int | None:
        if self.token_to_sequence(token) is None:
            return None
        return self.word_ids[token]

    def token_to_chars(self, token: int) -> tuple[int, int] | None:
        if self.token_to_sequence(token) is None:
            return None
        return self.offsets[token]

    def char_to_token(self, char: int, sequence_id: int = 0) -> int | None:
        return next((i for i in self.sequence_range(sequence_id) if self.offsets[i][0] <= char < self.offsets[i][1]),
                    None)  # fmt: skip

    def word_to_tokens(self, word: int, sequence_id: int = 0) -> tuple[int, int] | None:
        positions = [i for i in self.sequence_range(sequence_id) if self.word_ids[i] == word]
        return (positions[0], positions[-1] + 1) if positions else None

    def word_to_chars(self, word: int, sequence_id: int = 0) -> tuple[int, int] | None:
        tokens = self.word_to_tokens(word, sequence_id)
        return None if tokens is None else (self.offsets[tokens[0]][0], self.offsets[tokens[1] - 1][1])

    def as_sequence(self, sequence_id: int, type_id: int) -> Encoding:
        """This encoding (overflow windows too) marked as sequence `sequence_id` (0: A, 1: B) with `type_id`;
        the token lists are shared, not copied."""
        n = len(self.ids)
        return Encoding(
            self.ids,
            [type_id] * n,
            self.tokens,
            self.offsets,
            self.word_ids,
            self.special_tokens_mask,
            self.attention_mask,
            [sequence_id] * n,
            [o.as_sequence(sequence_id, type_id) for o in self.overflowing],
        )


# --- truncation --------------------------------------------------------------------------------------------------


def truncate(encoding: Encoding, max_len: int, stride: int, direction: str = "right") -> Encoding:
    """Keep `max_len` tokens; the rest goes to `overflowing` as windows of `max_len` tokens that each repeat the
    last `stride` tokens of the previous window (`Encoding::truncate`)."""
    n = len(encoding.ids)
    if max_len >= n:
        return encoding
    if max_len == 0:
        empty = Encoding([], [], [] if encoding.detailed else None, [] if encoding.detailed else None,
                         [] if encoding.detailed else None)  # fmt: skip
        empty.overflowing = [encoding]
        return empty
    if stride >= max_len:
        raise ValueError(
            f"stride ({stride}) must be smaller than the number of tokens kept per sequence ({max_len}; that is "
            "max_length minus the special tokens, shared between the two texts of a pair)"
        )
    step = max_len - stride
    windows = []
    if direction == "right":
        for start in range(0, n, step):
            stop = min(start + max_len, n)
            windows.append((start, stop))
            if stop == n:
                break
    else:  # "left": windows counted from the end, the last tokens are kept first
        for last in range(n - 1, -1, -step):
            stop = last + 1
            start = max(stop - max_len, 0)
            windows.append((start, stop))
            if start == 0:
                break
    head = encoding.slice(*windows[0])
    head.overflowing = [encoding.slice(a, b) for a, b in windows[1:]]
    return head


def truncate_pair(
    first: Encoding,
    second: Encoding | None,
    max_length: int,
    strategy: str,
    stride: int,
    direction: str = "right",
) -> tuple[Encoding, Encoding | None]:
    """Truncate one or two sequences to `max_length` tokens in total (`truncate_encodings`).

    `longest_first` shortens the longer sequence first and, if both must shrink, splits `max_length` evenly (the
    second gets the odd token); `only_first`/`only_second` shorten one and fail if it cannot absorb the excess."""
    if strategy == "do_not_truncate":
        return first, second
    if max_length == 0:
        return truncate(first, 0, stride, direction), None if second is None else truncate(
            second, 0, stride, direction
        )
    total = len(first) + (len(second) if second is not None else 0)
    if total <= max_length:
        return first, second
    excess = total - max_length
    if strategy == "longest_first":
        if second is None:
            return truncate(first, total - excess, stride, direction), None
        n1, n2 = len(first), len(second)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        n2 = n1 if n1 > max_length else max(n1, max_length - n1)
        if n1 + n2 > max_length:
            n1 = max_length // 2
            n2 = n1 + max_length % 2
        if swap:
            n1, n2 = n2, n1
        return truncate(first, n1, stride, direction), truncate(second, n2, stride, direction)
    if strategy == "only_second" and second is None:
        raise ValueError("truncation='only_second' needs a text_pair")
    target = first if strategy == "only_first" else second
    if len(target) <= excess:
        raise ValueError(
            f"truncation={strategy!r}: the {'first' if strategy == 'only_first' else 'second'} sequence has "
            f"{len(target)} tokens, too few to remove the {excess} needed to fit max_length; use 'longest_first'"
        )
    cut = truncate(target, len(target) - excess, stride, direction)
    return (cut, second) if strategy == "only_first" else (first, cut)


# --- pairing with special tokens (TemplateProcessing) --------------------------------------------------------------


def merge(left: Encoding, right: Encoding) -> Encoding:
    """`Encoding::merge_with`: concatenate, and combine the overflow windows of both sides (every left window with
    the right sequence and each of its windows, then the left head with each right window)."""
    overflowing = []
    for lo in left.overflowing:
        overflowing.append(lo.concat(right))
        overflowing.extend(lo.concat(ro) for ro in right.overflowing)
    overflowing.extend(left.concat(ro) for ro in right.overflowing)
    out = left.concat(right)
    out.overflowing = overflowing
    return out


@dataclass(frozen=True)
class Template:
    """`[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`-style template. Items are ("A"|"B", type_id) for the sequences and
    (token_id, token_string, type_id) for special tokens."""

    single: tuple[tuple, ...]
    pair: tuple[tuple, ...]

    def num_special_tokens(self, is_pair: bool) -> int:
        return sum(len(item) == 3 for item in (self.pair if is_pair else self.single))

    def apply(self, first: Encoding, second: Encoding | None, add_special_tokens: bool) -> Encoding:
        parts = []
        for item in self.pair if second is not None else self.single:
            if len(item) == 2:
                name, type_id = item
                parts.append(first.as_sequence(0, type_id) if name == "A" else second.as_sequence(1, type_id))
            elif add_special_tokens:
                parts.append(Encoding.special(*item))
        if any(p.overflowing for p in parts):
            out = Encoding([], [], [], [], [])
            for part in parts:
                out = merge(out, part)
            return out
        return concat_all(parts)  # the common case, in one pass instead of pairwise merges


def concat_all(parts: list[Encoding]) -> Encoding:
    """Concatenation of encodings without overflow windows."""

    def join(lists: list[list]) -> list:
        out: list = []
        for values in lists:
            out += values
        return out

    detailed = all(p.detailed for p in parts)
    return Encoding(
        join([p.ids for p in parts]),
        join([p.type_ids for p in parts]),
        join([p.tokens for p in parts]) if detailed else None,
        join([p.offsets for p in parts]) if detailed else None,
        join([p.word_ids for p in parts]) if detailed else None,
        join([p.special_tokens_mask for p in parts]),
        join([p.attention_mask for p in parts]),
        join([p.sequence_ids for p in parts]),
    )


# --- padding -------------------------------------------------------------------------------------------------------


def pad(
    encoding: Encoding, length: int, pad_id: int, pad_type_id: int, pad_token: str, side: str = "right"
) -> None:
    """Pad in place (overflow windows too) to `length` tokens: pad id, attention 0, special mask 1, offsets (0, 0)."""
    for o in encoding.overflowing:
        pad(o, length, pad_id, pad_type_id, pad_token, side)
    n = length - len(encoding.ids)
    if n <= 0:
        return
    e = encoding
    fields = [("ids", pad_id), ("type_ids", pad_type_id), ("special_tokens_mask", 1), ("attention_mask", 0),
              ("sequence_ids", None)]  # fmt: skip
    if e.detailed:
        fields += [("tokens", pad_token), ("offsets", (0, 0)), ("word_ids", None)]
    for name, value in fields:
        current = getattr(e, name)
        setattr(e, name, current + [value] * n if side == "right" else [value] * n + current)


def pad_batch(
    encodings: Sequence[Encoding],
    length: int | None,
    pad_to_multiple_of: int | None,
    pad_id: int,
    pad_type_id: int,
    pad_token: str,
    side: str = "right",
) -> None:
    """`pad_encodings`: to `length`, or (None) to the longest *head* encoding of the batch; then round up."""
    if not encodings:
        return
    target = length if length is not None else max(len(e.ids) for e in encodings)
    if pad_to_multiple_of and target % pad_to_multiple_of:
        target += pad_to_multiple_of - target % pad_to_multiple_of
    for e in encodings:
        pad(e, target, pad_id, pad_type_id, pad_token, side)


# --- batch output --------------------------------------------------------------------------------------------------


class BatchEncoding(dict):
    """What `tokenizer(...)` returns: a dict of model inputs plus per-sequence `Encoding`s.

    Keys: `input_ids`, `token_type_ids`, `attention_mask` and, on request, `special_tokens_mask`,
    `offset_mapping`, `overflow_to_sample_mapping`, `length`. Values are lists (one list per sequence for a batch)
    or, with `return_tensors="np"`, int64 arrays. Attribute access works too (`enc.input_ids`)."""

    def __init__(
        self,
        data: dict[str, Any],
        encodings: list[Encoding],
        details: Callable[[], list[Encoding]] | None = None,
    ) -> None:
        super().__init__(data)
        self._encodings = encodings
        self._details = details

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def encodings(self) -> list[Encoding]:
        """The per-sequence encodings, with tokens/offsets/word ids (computed now if the call did not need them)."""
        if self._encodings and not self._encodings[0].detailed and self._details is not None:
            self._encodings = self._details()
        return self._encodings

    def _encoding(self, batch_index: int) -> Encoding:
        encodings = self.encodings
        if not encodings:
            raise ValueError(
                "this BatchEncoding has no per-token encodings (it comes from pad() or an empty batch); "
                "call the tokenizer for tokens, offsets and word ids"
            )
        if not -len(encodings) <= batch_index < len(encodings):
            raise IndexError(f"batch_index {batch_index} out of range for a batch of {len(encodings)}")
        return encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        """Token strings of sequence `batch_index` (an lstrip added token shows the whitespace it absorbed)."""
        return list(self._encoding(batch_index).tokens)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Index of the pre-tokenized word each token comes from (None for special and pad tokens)."""
        return list(self._encoding(batch_index).word_ids)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 or 1: which text of the pair each token comes from (None for special and pad tokens)."""
        return list(self._encoding(batch_index).sequence_ids)

    def words(self, batch_index: int = 0) -> list[int | None]:
        """Deprecated alias of `word_ids` (transformers warns the same way)."""
        warnings.warn(
            "`BatchEncoding.words()` property is deprecated and should be replaced with the identical, but more "
            "self-explanatory `BatchEncoding.word_ids()` property.",
            FutureWarning,
            stacklevel=2,
        )
        return self.word_ids(batch_index)

    @property
    def n_sequences(self) -> int | None:
        """1 or 2: how many texts went into each row (None for an empty batch)."""
        encodings = self._encodings
        return None if not encodings else len({s for s in encodings[0].sequence_ids if s is not None}) or 1

    def _locate(self, first: int, second: int | None, what: str) -> tuple[Encoding, int]:
        """transformers' `batch_or_*_index` convention: one index is in row 0; two are (row, index). A negative
        row counts from the end, as transformers; a negative token/char/word index is refused (transformers
        fails on one with an OverflowError)."""
        batch_index, index = (0, first) if second is None else (first, second)
        for name, value in (("batch index", batch_index), (what, index)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if index < 0:
            raise ValueError(f"{what} must be >= 0, got {index}")
        return self._encoding(batch_index), index

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        """Which text (0 or 1) a token comes from; None for special and pad tokens."""
        encoding, token = self._locate(batch_or_token_index, token_index, "token index")
        return encoding.token_to_sequence(token)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        """The index of the word a token comes from (in its own text); None for special and pad tokens."""
        encoding, token = self._locate(batch_or_token_index, token_index, "token index")
        return encoding.token_to_word(token)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        """The characters of its text a token covers; None for special and pad tokens."""
        encoding, token = self._locate(batch_or_token_index, token_index, "token index")
        span = encoding.token_to_chars(token)
        return None if span is None else CharSpan(*span)

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The token covering character `char_index` of text `sequence_index` (0 or 1); None if none does
        (a space, or past the end)."""
        encoding, char = self._locate(batch_or_char_index, char_index, "char index")
        return encoding.char_to_token(char, sequence_index)

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The word covering character `char_index` of text `sequence_index`; None if no token does."""
        encoding, char = self._locate(batch_or_char_index, char_index, "char index")
        token = encoding.char_to_token(char, sequence_index)
        return None if token is None else encoding.token_to_word(token)

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        """The tokens of word `word_index` of text `sequence_index`; None if it has none."""
        encoding, word = self._locate(batch_or_word_index, word_index, "word index")
        span = encoding.word_to_tokens(word, sequence_index)
        return None if span is None else TokenSpan(*span)

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        """The characters of word `word_index` of text `sequence_index`; None if it has no tokens (transformers
        fails there with a TypeError)."""
        encoding, word = self._locate(batch_or_word_index, word_index, "word index")
        span = encoding.word_to_chars(word, sequence_index)
        return None if span is None else CharSpan(*span)


def to_numpy(data: dict[str, Any]) -> dict[str, Any]:
    """Lists of equal-length lists -> int64 arrays (offsets: shape (batch, length, 2))."""
    out = {}
    for key, value in data.items():
        try:
            arr = np.asarray(value, dtype=np.int64)
        except ValueError:
            raise ValueError(
                f"return_tensors='np' needs sequences of one length, but {key!r} is ragged; "
                "use padding=True or padding='max_length'"
            ) from None
        if key == "offset_mapping" and arr.shape[-1:] != (2,):
            arr = arr.reshape((*arr.shape, 2))  # no tokens at all: (batch, 0) -> (batch, 0, 2)
        out[key] = arr
    return out
