"""Tokenizer throughput: deberta_np vs transformers' slow (Python) and fast (Rust) DeBERTa tokenizers.

    python benchmarks/tokenizer.py [--repeat 3] [--limit-mb 0]

Same corpus for all (conformance/tokenizer_corpus.py, ~7.6 MB, ~40 languages), single-threaded
(TOKENIZERS_PARALLELISM=false, RAYON_NUM_THREADS=1), each tokenizer called through its public `__call__`:
unbatched (one document per call) and batched (lists of 64 documents), offsets off and on (the slow tokenizer has
no offsets). Each row is the best of --repeat timed passes after one warm-up pass (all three keep per-word caches;
ours is bounded), in CPU time of this process (so other load on the machine matters less) and wall time; the
"cold" row times a freshly loaded deberta_np tokenizer's first pass, and the load itself.

The measuring and the table are shared with benchmarks/tokenizer_v2.py (`compare`): only the contenders differ.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.forward import reexec_as_user  # noqa: E402

reexec_as_user()  # as users run it: again without the machine's OPENBLAS_CORETYPE/L2_SIZE, before numpy loads
from conformance.tokenizer_corpus import load_corpus  # noqa: E402
from conformance.tokenizer_files import DEBERTA_V1  # noqa: E402
from deberta_np.tokenizer import DebertaTokenizer  # noqa: E402

V1 = DEBERTA_V1
BATCH = 64
FAST = "fast (Rust)"  # the name of transformers' fast tokenizer among the contenders


def timed(call: Callable[[], int]) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, tokens) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = call()
    return time.process_time() - cpu, time.perf_counter() - wall, tokens


def passes(call: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    """Best CPU and wall time of `repeat` passes after a warm-up, and the token count of a pass.

    CPU time (time.process_time) is the main measure: everything runs in this one thread, and it is far less
    disturbed than wall time when other processes share the machine."""
    call()
    runs = [timed(call) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


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


def documents(limit_mb: float) -> list[str]:
    """The corpus's documents, or its first `limit_mb` MB (0: all)."""
    sources, _ = load_corpus()
    docs = [d for s in sources for d in s.documents]
    if limit_mb:
        kept, size = [], 0
        for d in docs:
            if size > limit_mb * 1e6:
                break
            kept.append(d)
            size += len(d.encode("utf-8"))
        docs = kept
    return docs


def compare(
    argv: list[str] | None,
    description: str,
    contenders: Callable[[Any], list[tuple[str, Any]]],
    cold: list[tuple[str, Callable[[], Any]]],
) -> int:
    """Time every contender on the corpus and print the table.

    `contenders(transformers)`: [(name, tokenizer)]: deberta_np's (names starting with "deberta_np"), transformers'
    fast one named FAST and its slow one (a name starting with "slow": no offsets, one pass, it is slow). `cold`:
    [(name, load)] of deberta_np tokenizers: a fresh one's first pass is timed, and the first one's load."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit-mb", type=float, default=0, help="use only the first N MB of the corpus")
    args = parser.parse_args(argv)
    docs = documents(args.limit_mb)
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6

    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    tokenizers = contenders(transformers)
    slow_name = next(name for name, _ in tokenizers if name.startswith("slow"))
    load_name, load_fresh = cold[0]
    load, _, _ = timed(lambda: load_fresh() and 0)  # only the time counts

    from benchmarks.forward import blas_report, format_blas

    print(format_blas({"this process (numpy)": blas_report()}))
    print(f"corpus: {len(docs)} documents, {mb:.2f} MB; python {platform.python_version()}, "
          f"transformers {transformers.__version__}; best of {args.repeat} after warm-up; single thread")  # fmt: skip
    print()
    results: dict[tuple[str, bool, bool], tuple[float, float, int]] = {}
    for batched in (False, True):
        for offsets in (False, True):
            for name, tok in tokenizers:
                if name == slow_name and offsets:
                    continue  # the slow tokenizer has no offsets
                repeat = 1 if name == slow_name else args.repeat
                results[(name, batched, offsets)] = passes(runner(tok, docs, batched, offsets), repeat)
                print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    print(
        "| tokenizer | mode | offsets | MB/s (CPU) | Mtokens/s (CPU) | MB/s (wall) | speed vs fast, slow (CPU) |"
    )
    print("|---|---|---|---:|---:|---:|---|")
    for (name, batched, offsets), (cpu, wall, tokens) in results.items():
        ratio = ""
        if name.startswith("deberta_np"):
            fast_s = results[(FAST, batched, offsets)][0]
            slow_s = results[(slow_name, batched, False)][0]
            ratio = f"{fast_s / cpu:.2f}x, {slow_s / cpu:.2f}x" + (" (slow: offsets off)" if offsets else "")
        print(f"| {name} | {'batched (64)' if batched else 'unbatched'} | {'on' if offsets else 'off'} | "
              f"{mb / cpu:.2f} | {tokens / cpu / 1e6:.3f} | {mb / wall:.2f} | {ratio} |")  # fmt: skip
    for name, fresh in cold:
        cpu, wall, tokens = timed(runner(fresh(), docs, False, False))
        print(f"| {name}, cold (fresh tokenizer, first pass) | unbatched | off | {mb / cpu:.2f} | "
              f"{tokens / cpu / 1e6:.3f} | {mb / wall:.2f} | |")  # fmt: skip
    print(
        f"\n{load_name} load (files -> tokenizer): {load:.2f} s CPU; "
        f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    def contenders(transformers: Any) -> list[tuple[str, Any]]:
        return [
            ("deberta_np", DebertaTokenizer.from_pretrained(V1)),
            (FAST, transformers.DebertaTokenizerFast.from_pretrained(V1)),
            ("slow (Python)", transformers.DebertaTokenizer.from_pretrained(V1)),
        ]

    return compare(
        argv,
        __doc__.split("\n\n")[0],
        contenders,
        [("deberta_np", lambda: DebertaTokenizer.from_pretrained(V1))],
    )


if __name__ == "__main__":
    raise SystemExit(main())
