"""The training losses of transformers' DeBERTa heads, for evaluation (`model(..., labels=...)`): no gradients.

Each function mirrors the PyTorch loss transformers 4.57.6 calls (torch.nn.CrossEntropyLoss with its default
ignore_index -100 and mean reduction, MSELoss, BCEWithLogitsLoss), computed in the logits' dtype on host arrays:
a loss is one number, and the logits are small next to the forward pass that made them.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss's default: these targets are left out of the mean


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Mean of -log softmax(logits)[target] over the targets that are not `ignore_index` (NaN if none, as
    torch gives). logits [N, C], targets [N]."""
    targets = np.asarray(targets).reshape(-1)
    if logits.shape[0] != targets.shape[0]:
        raise InputError(f"labels hold {targets.shape[0]} targets for {logits.shape[0]} rows of logits")
    kept = targets != ignore_index
    classes = logits.shape[-1]
    bad = kept & ((targets < 0) | (targets >= classes))
    if bad.any():
        raise InputError(f"label {int(targets[bad][0])} is outside [0, {classes}) (and not {ignore_index})")
    picked = np.take_along_axis(log_softmax(logits[kept]), targets[kept][:, None], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(-picked.sum() / kept.sum(), dtype=logits.dtype)


def mse(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if predictions.shape != targets.shape:
        raise InputError(f"labels have shape {list(targets.shape)}, the logits {list(predictions.shape)}")
    return np.asarray(((predictions - targets) ** 2).mean(), dtype=predictions.dtype)


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], in torch's stable form."""
    if logits.shape != targets.shape:
        raise InputError(f"labels have shape {list(targets.shape)}, the logits {list(logits.shape)}")
    loss = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return np.asarray(loss.mean(), dtype=logits.dtype)


def sequence_classification(logits: np.ndarray, labels: np.ndarray, problem_type: str | None) -> np.ndarray:
    """transformers' DebertaForSequenceClassification loss, with its choice by problem_type (None: regression
    for one label, cross-entropy over the labels >= 0 for class indices, soft-label cross-entropy otherwise)."""
    num_labels = logits.shape[-1]
    if problem_type is None:
        if num_labels == 1:
            # transformers casts the logits to the labels' dtype (float32 labels: a float32 loss)
            dtype = labels.dtype if np.issubdtype(labels.dtype, np.floating) else logits.dtype
            return mse(logits.reshape(-1).astype(dtype), labels.reshape(-1).astype(dtype))
        if labels.ndim == 1 or labels.shape[-1] == 1:
            labels = labels.reshape(-1)
            kept = labels >= 0  # DeBERTa's own rule: negative labels are skipped, and none left gives 0
            if not kept.any():
                return np.asarray(0.0, dtype=logits.dtype)
            # transformers computes this one in float32 (`.float()`), whatever the model's dtype
            return cross_entropy(logits[kept].astype(np.float32), labels[kept].astype(np.int64))
        return np.asarray(-(log_softmax(logits) * labels).sum(-1).mean(), dtype=logits.dtype)
    if problem_type == "regression":
        if num_labels == 1:
            return mse(logits.squeeze(), labels.squeeze().astype(logits.dtype))
        return mse(logits, labels.astype(logits.dtype))
    if problem_type == "single_label_classification":
        return cross_entropy(logits.reshape(-1, num_labels), labels.reshape(-1).astype(np.int64))
    if problem_type == "multi_label_classification":
        return bce_with_logits(logits, labels.astype(logits.dtype))
    raise InputError(f"config problem_type {problem_type!r} has no loss (regression, single_label_classification"
                     " or multi_label_classification)")  # fmt: skip


def question_answering(
    start_logits: np.ndarray, end_logits: np.ndarray, start_positions: np.ndarray, end_positions: np.ndarray
) -> np.ndarray:
    """(CE(start) + CE(end)) / 2; positions outside the input are clamped to its length and left out."""
    length = start_logits.shape[1]
    starts = np.clip(np.asarray(start_positions).reshape(-1), 0, length)
    ends = np.clip(np.asarray(end_positions).reshape(-1), 0, length)
    # as transformers: the clamped positions equal the length, which is the ignore_index
    start_loss = cross_entropy(start_logits, starts, ignore_index=length)
    end_loss = cross_entropy(end_logits, ends, ignore_index=length)
    return np.asarray((start_loss + end_loss) / 2, dtype=start_logits.dtype)
