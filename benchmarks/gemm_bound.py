"""How much faster than PyTorch can a NumPy DeBERTa be on this CPU? The weight products alone, timed.

    python benchmarks/gemm_bound.py                    # deberta-base, the forward benchmark's five shapes
    python benchmarks/gemm_bound.py --shapes 8x128 --repeats 5

Any implementation must multiply the tokens by every weight matrix of every layer: in_proj (v1) or query, key and
value (v2) [3H, H], the attention output [H, H] and the feed-forward [I, H] and [H, I], 12 times. These products are
92% of deberta-base's FLOPs at 8x128 and more for larger batches. This script times just them, with random float32
weights of those shapes and nothing else (no attention, no softmax, GELU or LayerNorm), in fresh processes with N
threads:
  * numpy (OpenBLAS, numpy's BLAS): as deberta_np.fast runs them (feature-major, W @ x with x of [H, tokens]),
    one N-threaded OpenBLAS call per product, and N worker threads each multiplying a slice of the weight rows
    with a single-threaded OpenBLAS (deberta_np's fast path chooses between the two per call);
  * torch (MKL): the same products with torch.mm, torch.set_num_threads(N), under inference_mode;
  * transformers: DebertaModel's whole forward (the checkpoint of benchmarks/forward.py, built if absent).
Measured processes run without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (as a user's would; see forward.py); the
BLAS library, version, kernel and threads of numpy and torch are printed above the table. The column "bound" is transformers' forward time over numpy's products-only time (the median over rounds of that
ratio within each round, since this machine's speed drifts over minutes): no NumPy implementation of the model can
be faster than PyTorch by more than that, since it has to do these products and everything else too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import BASE, SHAPES, build_checkpoint, format_blas, fresh

TARGETS = {(1, 16): 2.0, (1, 128): 2.0, (8, 128): 1.3, (32, 128): 1.3, (1, 512): 1.2}  # issue 5's CPU targets

# The end of every timed script: one warm-up `forward()`, then the median of `repeats` timed calls, as JSON.
MEDIAN_TIME = """
forward()
times = []
for _ in range({repeats}):
    started = time.perf_counter(); forward(); times.append(time.perf_counter() - started)
print(json.dumps({{"seconds": statistics.median(times)}}))
"""

PRODUCTS = (
    """
import json, time, statistics, os
from concurrent.futures import ThreadPoolExecutor
import numpy as np
H, I, layers, tokens, repeats, mode, threads = {h}, {i}, {layers}, {tokens}, {repeats}, {mode!r}, {threads}
rng = np.random.default_rng(0)
weights = [rng.standard_normal(shape, dtype=np.float32) * 0.02 for shape in ((3 * H, H), (H, H), (I, H), (H, I))]
x = {{H: rng.standard_normal((H, tokens), dtype=np.float32), I: rng.standard_normal((I, tokens), dtype=np.float32)}}
outs = [np.empty((w.shape[0], tokens), dtype=np.float32) for w in weights]
pool = ThreadPoolExecutor(threads)
def product(w, out):
    if mode == "blas":
        np.matmul(w, x[w.shape[1]], out=out)
        return
    bounds = np.linspace(0, w.shape[0], threads + 1).astype(int)
    list(pool.map(lambda k: np.matmul(w[bounds[k]:bounds[k + 1]], x[w.shape[1]], out=out[bounds[k]:bounds[k + 1]]),
                  range(threads)))
def forward():
    for _ in range(layers):
        for w, out in zip(weights, outs):
            product(w, out)
"""
    + MEDIAN_TIME
)

TORCH_PRODUCTS = (
    """
import json, time, statistics
import torch
torch.set_num_threads({threads})
H, I, layers, tokens, repeats = {h}, {i}, {layers}, {tokens}, {repeats}
g = torch.Generator().manual_seed(0)
weights = [torch.randn(shape, generator=g) * 0.02 for shape in ((3 * H, H), (H, H), (I, H), (H, I))]
x = {{H: torch.randn(tokens, H, generator=g), I: torch.randn(tokens, I, generator=g)}}
def forward():
    with torch.inference_mode():
        for _ in range(layers):
            for w in weights:
                torch.nn.functional.linear(x[w.shape[1]], w)
"""
    + MEDIAN_TIME
)

TRANSFORMERS_FORWARD = (
    """
import json, time, statistics
import numpy as np, torch, transformers
from benchmarks.forward import inputs
torch.set_num_threads({threads})
model = transformers.DebertaModel.from_pretrained({checkpoint!r}).eval()
ids, mask = (torch.from_numpy(a) for a in inputs("deberta-base", {batch}, {length}))
def forward():
    with torch.inference_mode():
        model(ids, attention_mask=mask)
"""
    + MEDIAN_TIME
)


REPORT = """
import json
from benchmarks.forward import blas_report
{imports}
print(json.dumps(blas_report({contender!r})))
"""


def env(blas_threads: int) -> dict[str, str]:
    return {
        name: str(blas_threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=SHAPES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/deberta_np_bench"))
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = str(build_checkpoint(args.workdir, "deberta-base"))
    h, i, layers, n = BASE["hidden_size"], BASE["intermediate_size"], BASE["num_hidden_layers"], args.threads

    print(f"# Weight products alone against PyTorch's whole forward (deberta-base, float32, {n} threads)\n")
    reports = {
        "numpy (products)": fresh(REPORT.format(imports="import numpy", contender=""), env(n), threads=n),
        "torch (products, transformers)": fresh(
            REPORT.format(imports="import torch, transformers", contender="transformers"), env(n), threads=n
        ),
    }
    print(format_blas(reports) + "\n")
    print("| shape | numpy products: N BLAS threads | N workers x 1 BLAS thread | torch products (MKL) | "
          "transformers forward | bound (forward / best numpy products) | bound per round | target |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for batch, length in shapes:
        common = {"h": h, "i": i, "layers": layers, "tokens": batch * length, "repeats": args.repeats}
        forward = TRANSFORMERS_FORWARD.format(
            threads=n, checkpoint=checkpoint, batch=batch, length=length, repeats=args.repeats
        )
        cells: dict[str, list[float]] = {"blas": [], "workers": [], "torch": [], "forward": []}
        bounds = []
        for _ in range(args.rounds):  # the machine's speed drifts: the cells of one round run back to back
            cells["blas"].append(
                fresh(PRODUCTS.format(**common, mode="blas", threads=n), env(n), threads=n)["seconds"]
            )
            cells["workers"].append(
                fresh(PRODUCTS.format(**common, mode="workers", threads=n), env(1), threads=n)["seconds"]
            )
            cells["torch"].append(
                fresh(TORCH_PRODUCTS.format(**common, threads=n), env(n), threads=n)["seconds"]
            )
            cells["forward"].append(fresh(forward, env(n), threads=n)["seconds"])
            bounds.append(cells["forward"][-1] / min(cells["blas"][-1], cells["workers"][-1]))
        blas, workers, theirs, reference = (statistics.median(cells[k]) for k in cells)
        target = TARGETS.get((batch, length))
        print(
            f"| {batch}x{length} | {blas * 1e3:.1f} ms | {workers * 1e3:.1f} ms | {theirs * 1e3:.1f} ms | "
            f"{reference * 1e3:.1f} ms | {statistics.median(bounds):.2f}x | "
            f"{', '.join(f'{b:.2f}' for b in bounds)} | {f'{target:.1f}x' if target else '-'} |"
        )
    print(
        f"\nmedians of {args.rounds} rounds; each cell of a round a fresh process, the median of {args.repeats} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
