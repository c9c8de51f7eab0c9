"""Compare two traces tensor by tensor, in forward order, and name the first one that diverges.

    deberta-np compare mine.safetensors reference.safetensors      # exit 0: agree, 1: diverge, 2: unusable

A tensor diverges where some compared element has |a - b| > atol + rtol * |b| (b: the second trace). Compared
elements: every element, except padded positions when a trace holds `attention_mask` (every axis of the schema
that is a token axis, L, against that row's mask) and the finfo.min fill of masked attention pairs. Integer
tensors (inputs, indices) must be equal.

Default tolerances follow the coarser float dtype of the two traces (its machine epsilon, eps) and the size of
the computation that produced them: tol = eps * sqrt(K) * (7 N + 4), with K the longest reduction (max of
hidden_size and intermediate_size) and N the number of layers, read from a trace's config metadata (K = 4096,
N = 24 when neither trace carries one). Rounding errors of a length-K dot product grow like sqrt(K) eps relative
to the operands' scale, and a forward chains about 7 such rounding stages per layer (projections, scores,
softmax, context, two dense + LayerNorm, intermediate) plus 4 outside the layers (embeddings, table, head).
Then rtol = tol and atol = tol * max(1, the tensor's largest |b| at compared positions): the error of a dot
product is relative to the scale of its terms, not to the (possibly cancelled, near-zero) result, and every
tensor of the forward is computed from unit-scale (LayerNorm-ed) states.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy

from .trace import INPUT_NAMES, describe, forward_rank

# Elements at or beyond this magnitude in both traces are the finfo.min fill of masked pairs, not values.
FILL = 1e30


class UnusableTraces(ValueError):
    """Two traces that cannot be compared: different inputs, no common tensor (the message says which)."""


@dataclass
class Row:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float  # max |a - b| over max(1, the largest |b| at compared positions)
    ok: bool
    note: str = ""


@dataclass
class Report:
    rows: list[Row]
    atol: float | None  # None: per tensor, tol * its scale
    rtol: float
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def first_divergence(self) -> str | None:
        return next((row.name for row in self.rows if not row.ok), None)

    def lines(self) -> list[str]:
        width = max([len(row.name) for row in self.rows] + [4])
        out = [f"{'name':<{width}}  {'shape':<18}  {'max abs':>10}  {'max rel':>10}"]
        for row in self.rows:
            shape = "[" + ", ".join(map(str, row.shape)) + "]"
            verdict = "ok" if row.ok else "DIVERGES"
            note = f"  ({row.note})" if row.note else ""
            out.append(
                f"{row.name:<{width}}  {shape:<18}  {row.max_abs:>10.3e}  {row.max_rel:>10.3e}  {verdict}{note}"
            )
        out.append(f"first divergence: {self.first_divergence or 'none'}")
        return out


def default_tolerance(
    tensors_a: dict[str, Any],
    tensors_b: dict[str, Any],
    metadata_a: dict[str, str] | None = None,
    metadata_b: dict[str, str] | None = None,
) -> float:
    """tol = eps * sqrt(K) * (7 N + 4), eps of the coarser float dtype (see the module docstring)."""
    eps = 0.0
    for tensors in (tensors_a, tensors_b):
        for value in tensors.values():
            dtype = numpy.asarray(value).dtype
            if numpy.issubdtype(dtype, numpy.floating):
                eps = max(eps, float(numpy.finfo(dtype).eps))
    eps = eps or float(numpy.finfo(numpy.float64).eps)
    reduction, layers = 4096, 24
    for metadata in (metadata_a, metadata_b):
        try:
            config = json.loads((metadata or {}).get("config", ""))
            reduction = max(int(config["hidden_size"]), int(config["intermediate_size"]))
            layers = int(config["num_hidden_layers"])
            break
        except (ValueError, KeyError, TypeError):
            continue
    return eps * math.sqrt(reduction) * (7 * layers + 4)


def compare_traces(
    tensors_a: dict[str, Any],
    tensors_b: dict[str, Any],
    atol: float | None = None,
    rtol: float | None = None,
    metadata_a: dict[str, str] | None = None,
    metadata_b: dict[str, str] | None = None,
) -> Report:
    """Compare the tensors the two traces share, in forward order. Raises UnusableTraces."""
    common = [name for name in tensors_a if name in tensors_b]
    if not common:
        raise UnusableTraces(
            "the traces have no tensor name in common (names follow the table in the README, e.g. layer.0.query)"
        )
    for name in INPUT_NAMES:
        if name in tensors_a and name in tensors_b:
            a, b = numpy.asarray(tensors_a[name]), numpy.asarray(tensors_b[name])
            if a.shape != b.shape or not numpy.array_equal(a, b):
                raise UnusableTraces(
                    f"the traces were made from different inputs: {name} has shape {list(a.shape)} in the first "
                    f"and {list(b.shape)} in the second"
                    + ("" if a.shape != b.shape else ", and other values")
                )
    tol = default_tolerance(tensors_a, tensors_b, metadata_a, metadata_b)
    rtol = tol if rtol is None else rtol
    mask = next(
        (numpy.asarray(t["attention_mask"]) != 0 for t in (tensors_a, tensors_b) if "attention_mask" in t),
        None,
    )
    if mask is not None:
        mask = mask.reshape(-1, mask.shape[-1])
    rows = []
    for name in sorted(common, key=lambda n: (forward_rank(n), n)):
        rows.append(
            _compare_one(
                name, numpy.asarray(tensors_a[name]), numpy.asarray(tensors_b[name]), mask, atol, rtol, tol
            )
        )
    return Report(
        rows=rows,
        atol=atol,
        rtol=rtol,
        only_a=[n for n in tensors_a if n not in tensors_b],
        only_b=[n for n in tensors_b if n not in tensors_a],
    )


def _compare_one(
    name: str,
    a: numpy.ndarray,
    b: numpy.ndarray,
    mask: numpy.ndarray | None,
    atol: float | None,
    rtol: float,
    tol: float,
) -> Row:
    if a.shape != b.shape:
        return Row(name, b.shape, math.inf, math.inf, False, f"shape {list(a.shape)} against {list(b.shape)}")
    valid = _valid_positions(name, a.shape, mask)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        wrong = (a != b) & valid
        count = int(wrong.sum())
        diff = float(numpy.abs(a.astype(numpy.int64) - b.astype(numpy.int64))[valid].max(initial=0))
        return Row(
            name,
            a.shape,
            diff,
            0.0 if not count else math.inf,
            count == 0,
            f"{count} differ" if count else "",
        )
    a64, b64 = a.astype(numpy.float64), b.astype(numpy.float64)
    fill = (numpy.abs(a64) >= FILL) & (numpy.abs(b64) >= FILL) & (numpy.sign(a64) == numpy.sign(b64))
    compared = valid & ~fill
    if not compared.any():
        return Row(name, a.shape, 0.0, 0.0, True, "no compared position")
    diff = numpy.abs(a64 - b64)
    diff = numpy.where(numpy.isnan(a64) & numpy.isnan(b64), 0.0, diff)  # NaN in both is agreement on NaN
    diff = numpy.where(numpy.isnan(diff), math.inf, diff)
    magnitude = numpy.abs(numpy.where(numpy.isfinite(b64), b64, 0.0))
    # every tensor of the forward is made from unit-scale (LayerNorm-ed) states: its terms are at least O(1)
    scale = max(1.0, float(magnitude[compared].max()))
    limit = (tol * scale if atol is None else atol) + rtol * magnitude
    beyond = ~(diff <= limit) & compared  # NaN in one trace only is beyond any tolerance
    max_abs = float(diff[compared].max())
    max_rel = max_abs / scale
    count = int(beyond.sum())
    return Row(name, a.shape, max_abs, max_rel, count == 0, f"{count} beyond tolerance" if count else "")


def _valid_positions(name: str, shape: tuple[int, ...], mask: numpy.ndarray | None) -> numpy.ndarray:
    """True where an element belongs to real tokens only: every L axis of the name's schema checked against the
    mask of its batch row (axis 0, B)."""
    valid = numpy.ones(shape, dtype=bool)
    entry = describe(name)
    if mask is None or entry is None or not shape or shape[0] != mask.shape[0]:
        return valid
    for variant in entry.axes.split("|"):
        axes = variant.split()
        if len(axes) != len(shape) or axes[0] != "B":
            continue
        for axis, letter in enumerate(axes):
            if letter == "L" and shape[axis] == mask.shape[1]:
                index = [numpy.newaxis] * len(shape)
                index[0], index[axis] = slice(None), slice(None)
                valid = valid & mask[tuple(index)]
        break
    return valid
