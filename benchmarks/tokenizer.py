"""Tokenizer throughput: deberta_np vs transformers' slow (Python) and fast (Rust) DeBERTa tokenizers.

    python benchmarks/tokenizer.py [--repeat 3] [--limit-mb 0]

Same corpus for all (conformance/tokenizer_corpus.py, ~7.6 MB, ~40 languages), single-threaded
(TOKENIZERS_PARALLELISM=false, RAYON_NUM_THREADS=1), each tokenizer called through its public `__call__`:
unbatched (one document per call) and batched (lists of 64 documents), offsets off and on (the slow tokenizer has
no offsets). Each row is the best of --repeat timed passes after one warm-up pass (all three keep per-word caches;
ours is bounded); the "cold" row times a freshly loaded deberta_np tokenizer's first pass.
"""

from __future__ import annotations

import os
import sys

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.forward import reexec_as_user  # noqa: E402

reexec_as_user()  # as users run it: again without the machine's OPENBLAS_CORETYPE/L2_SIZE, before numpy loads
from conformance.tokenizer_corpus import load_corpus  # noqa: E402
from conformance.tokenizer_files import DEBERTA_V1  # noqa: E402
from deberta_np.tokenizer import DebertaTokenizer  # noqa: E402

V1 = DEBERTA_V1
BATCH = 64


def passes(call: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    """Best CPU time and best wall time of `repeat` passes (after a warm-up), and the token count of a pass.

    CPU time (time.process_time) is the main measure: everything runs in this one thread, and it is far less
    disturbed than wall time when other processes share the machine."""
    tokens = call()
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall, tokens


def runner(tok, docs: list[str], batched: bool, offsets: bool) -> Callable[[], int]:
    kwargs = {"return_offsets_mapping": True} if offsets else {}

    def run() -> int:
        n = 0
        if batched:
            for i in range(0, len(docs), BATCH):
                n += sum(map(len, tok(docs[i : i + BATCH], **kwargs)["input_ids"]))
        else:
            for d in docs:
                n += len(tok(d, **kwargs)["input_ids"])
        return n

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit-mb", type=float, default=0, help="use only the first N MB of the corpus")
    args = parser.parse_args(argv)

    sources, _ = load_corpus()
    docs = [d for s in sources for d in s.documents]
    if args.limit_mb:
        kept, size = [], 0
        for d in docs:
            if size > args.limit_mb * 1e6:
                break
            kept.append(d)
            size += len(d.encode("utf-8"))
        docs = kept
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6

    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    fast = transformers.DebertaTokenizerFast.from_pretrained(V1)
    slow = transformers.DebertaTokenizer.from_pretrained(V1)
    ours = DebertaTokenizer.from_pretrained(V1)

    from benchmarks.forward import blas_report, format_blas

    print(format_blas({"this process (numpy)": blas_report()}))
    print(f"corpus: {len(docs)} documents, {mb:.2f} MB; python {platform.python_version()}, "
          f"transformers {transformers.__version__}; best of {args.repeat} after warm-up; single thread")  # fmt: skip
    print()
    results: dict[tuple[str, bool, bool], tuple[float, float, int]] = {}
    for batched in (False, True):
        for offsets in (False, True):
            for name, tok in (("deberta_np", ours), ("fast (Rust)", fast), ("slow (Python)", slow)):
                if name.startswith("slow") and offsets:
                    continue  # the slow tokenizer has no offsets
                repeat = 1 if name.startswith("slow") else args.repeat
                results[(name, batched, offsets)] = passes(runner(tok, docs, batched, offsets), repeat)
                print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    print(
        "| tokenizer | mode | offsets | MB/s (CPU) | Mtokens/s (CPU) | MB/s (wall) | deberta_np speed-up (CPU) |"
    )
    print("|---|---|---|---:|---:|---:|---|")
    for (name, batched, offsets), (cpu, wall, tokens) in results.items():
        mode = "batched (64)" if batched else "unbatched"
        ratio = ""
        if name == "deberta_np":
            fast_s = results[("fast (Rust)", batched, offsets)][0]
            slow_s = results[("slow (Python)", batched, False)][0]
            ratio = f"{fast_s / cpu:.2f}x fast, {slow_s / cpu:.2f}x slow" + (
                " (slow: offsets off)" if offsets else ""
            )
        print(f"| {name} | {mode} | {'on' if offsets else 'off'} | {mb / cpu:.2f} | {tokens / cpu / 1e6:.2f} | "
              f"{mb / wall:.2f} | {ratio} |")  # fmt: skip
    cold = DebertaTokenizer.from_pretrained(V1)
    wall, cpu = time.perf_counter(), time.process_time()
    cold_tokens = runner(cold, docs, False, False)()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"| deberta_np, cold (fresh tokenizer, first pass) | unbatched | off | {mb / cpu:.2f} | "
          f"{cold_tokens / cpu / 1e6:.2f} | {mb / wall:.2f} | |")  # fmt: skip
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
