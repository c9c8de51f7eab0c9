"""How far two evaluations of the same computation may differ, derived from the computation, not from a run.

Two evaluations of one expression that differ only in the order of their sums (another BLAS kernel or blocking,
another batch shape, the fast path against the readable one) round differently. A sum of n terms computed in a
format with unit roundoff u is within gamma_n * sum(|terms|) of the exact sum, gamma_n = n u / (1 - n u), whatever
the order (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.5). That worst case grows
like n; rounding errors that are independent and of mean zero grow like sqrt(n): with probability at least
1 - 2 n exp(-lambda**2 / 2), the error is within gamma~_n(lambda) = exp(lambda sqrt(n) u + n u**2 / (1 - u)) - 1 of
sum(|terms|) (Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41,
2019, theorem 2.4). We take lambda = 10 (a failure probability below n * 4e-22) and the smaller of the two bounds.
Two evaluations are within twice the bound of each other. A chain of reductions (a layer: projections, scores,
context, feed-forward) is bounded, to first order, by the bound of the total number of terms along the chain, on
values of the chain's magnitude.

For a float32 dot product of 768 terms that is 3.3e-5 of its magnitude, where a run typically shows 1e-6: it holds
for any kernel, blocking or thread count, and it stays far below what a wrong computation (a missing term, a wrong
index or mask: errors of the order of the values themselves) produces.
"""

from __future__ import annotations

import math

import numpy as np

UNIT_ROUNDOFF = {
    np.dtype(np.float16): 2.0**-11,
    np.dtype(np.float32): 2.0**-24,
    np.dtype(np.float64): 2.0**-53,
}


LAMBDA = 10.0


def gamma(terms: int, dtype: np.dtype | type) -> float:
    """The relative error bound of a sum of `terms` terms in `dtype`: the probabilistic one, or the worst case."""
    u = UNIT_ROUNDOFF[np.dtype(dtype)]
    worst = terms * u / (1.0 - terms * u) if terms * u < 1.0 else math.inf
    probable = math.expm1(LAMBDA * math.sqrt(terms) * u + terms * u * u / (1.0 - u))
    return min(worst, probable)


def reordering_tolerance(dtype: np.dtype | type, terms: int, magnitude: float) -> float:
    """Largest |a - b| between two evaluations in `dtype` of a computation whose reductions add up to `terms` terms
    along its longest chain, on values whose absolute sums are at most `magnitude` (at least 1: values near zero
    still carry the rounding of the larger values they were computed from)."""
    return 2.0 * gamma(terms, dtype) * max(1.0, magnitude)


def encoder_terms(config: object, length: int) -> int:
    """The terms summed along an encoder's longest chain of reductions: per layer the query/key/value projections
    (hidden), the scores (head size, three terms with c2p and p2c), the context (length), the attention output
    (hidden), the feed-forward (hidden, then intermediate); LayerNorm's mean and variance (hidden) twice a layer."""
    hidden, intermediate = config.hidden_size, config.intermediate_size  # type: ignore[attr-defined]
    head = hidden // config.num_attention_heads  # type: ignore[attr-defined]
    per_layer = 3 * hidden + 3 * head + length + hidden + hidden + intermediate + 4 * hidden
    return (config.num_hidden_layers + 1) * per_layer  # type: ignore[attr-defined]
