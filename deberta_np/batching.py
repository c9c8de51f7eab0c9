"""Length-bucketed batches: sort sequences by length, pad each batch only to its own longest, restore the order.

A batch padded to its longest member wastes the work of every padding token: with relative positions and the
attention mask a real token's output does not depend on how much padding follows it, so grouping sequences of
similar length changes no result and removes most of that work.

    buckets = bucket_by_length(token_ids, batch_size=32)
    for bucket in buckets:
        bucket.outputs = model(bucket.input_ids, attention_mask=bucket.attention_mask).last_hidden_state
    per_sequence = restore_order(buckets, [b.outputs for b in buckets])  # [len_i, H] each, in input order
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy

__all__ = ["Bucket", "bucket_by_length", "restore_order", "run_bucketed"]


@dataclass
class Bucket:
    """One padded batch: rows `indices` of the input, right-padded to the longest of them."""

    indices: list[int]  # position of each row in the input sequence list
    lengths: list[int]  # its number of real tokens
    input_ids: numpy.ndarray  # [b, L] int64
    attention_mask: numpy.ndarray  # [b, L] int64: 1 for real tokens, 0 for padding
    token_type_ids: numpy.ndarray | None = None  # [b, L] int64, if token types were given
    extra: dict[str, Any] = field(default_factory=dict)  # free for the caller


def bucket_by_length(
    sequences: Sequence[Sequence[int]],
    batch_size: int,
    pad_id: int = 0,
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> list[Bucket]:
    """Cut the sequences, sorted by length (ties keep input order), into batches of at most `batch_size`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if token_type_ids is not None and [len(t) for t in token_type_ids] != [len(s) for s in sequences]:
        raise ValueError("token_type_ids must have one sequence of the same length per input sequence")
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # sorted() is stable
    buckets = []
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        lengths = [len(sequences[i]) for i in indices]
        width = max(max(lengths), 1)
        ids = numpy.full((len(indices), width), pad_id, dtype=numpy.int64)
        mask = numpy.zeros((len(indices), width), dtype=numpy.int64)
        types = None if token_type_ids is None else numpy.zeros((len(indices), width), dtype=numpy.int64)
        for row, (i, n) in enumerate(zip(indices, lengths)):
            ids[row, :n] = sequences[i]
            mask[row, :n] = 1
            if types is not None:
                types[row, :n] = token_type_ids[i]  # type: ignore[index]
        buckets.append(Bucket(indices, lengths, ids, mask, types))
    return buckets


def restore_order(buckets: Sequence[Bucket], outputs: Sequence[Any]) -> list[Any]:
    """Per-bucket outputs [b, L, ...] -> one output [length_i, ...] per input sequence, in input order."""
    restored: list[Any] = [None] * sum(len(b.indices) for b in buckets)
    for bucket, output in zip(buckets, outputs):
        for row, (i, n) in enumerate(zip(bucket.indices, bucket.lengths)):
            restored[i] = output[row, :n]
    return restored


def run_bucketed(
    forward: Callable[[Bucket], Any],
    sequences: Sequence[Sequence[int]],
    batch_size: int,
    pad_id: int = 0,
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> list[Any]:
    """forward(bucket) -> [b, L, ...] on every bucket; the outputs per sequence, padding removed, in input order."""
    buckets = bucket_by_length(sequences, batch_size, pad_id, token_type_ids)
    return restore_order(buckets, [forward(bucket) for bucket in buckets])
