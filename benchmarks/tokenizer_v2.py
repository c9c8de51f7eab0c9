"""DeBERTa-v2/v3 tokenizer throughput: deberta_np vs transformers' slow (sentencepiece) and fast (tokenizers)
DebertaV2 tokenizers, on the shared deberta-v3 spm.model.

    python benchmarks/tokenizer_v2.py [--repeat 3] [--limit-mb 0]

Same corpus for all (conformance/tokenizer_corpus.py, ~7.6 MB in ~40 languages), single-threaded
(TOKENIZERS_PARALLELISM=false, RAYON_NUM_THREADS=1), each tokenizer called through its public `__call__`:
unbatched (one document per call) and batched (lists of 64 documents), offsets off and on (the slow tokenizer has
no offsets). deberta_np runs in both modes: the default (sentencepiece's ids) and reference="fast". Each row is
the best of --repeat timed passes after one warm-up pass (all keep per-word caches; ours are bounded), in CPU
time of this process (so other load on the machine matters less) and wall time; the "cold" rows time a freshly
loaded deberta_np tokenizer's first pass, and the load itself.
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
from conformance.tokenizer_files import DEBERTA_V3  # noqa: E402
from deberta_np.tokenizer import DebertaV2Tokenizer  # noqa: E402

V3 = DEBERTA_V3
BATCH = 64


def timed(call: Callable[[], int]) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, tokens) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = call()
    return time.process_time() - cpu, time.perf_counter() - wall, tokens


def passes(call: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    """Best CPU and wall time of `repeat` passes after a warm-up, and the token count of a pass."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit-mb", type=float, default=0, help="use only the first N MB of the corpus")
    args = parser.parse_args(argv)
    if not (V3 / "spm.model").exists():
        print(f"{V3.resolve()}/spm.model not found", file=sys.stderr)
        return 1

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
    fast = transformers.DebertaV2TokenizerFast.from_pretrained(V3)
    slow = transformers.DebertaV2Tokenizer.from_pretrained(V3)
    load, _, _ = timed(lambda: DebertaV2Tokenizer.from_pretrained(V3) and 0)
    ours = DebertaV2Tokenizer.from_pretrained(V3)
    ours_fast = DebertaV2Tokenizer.from_pretrained(V3, reference="fast")
    tokenizers = (("deberta_np", ours), ('deberta_np reference="fast"', ours_fast), ("fast (Rust)", fast),
                  ("slow (sentencepiece)", slow))  # fmt: skip

    from benchmarks.forward import blas_report, format_blas

    print(format_blas({"this process (numpy)": blas_report()}))
    print(f"corpus: {len(docs)} documents, {mb:.2f} MB; python {platform.python_version()}, "
          f"transformers {transformers.__version__}; best of {args.repeat} after warm-up; single thread")  # fmt: skip
    print()
    results: dict[tuple[str, bool, bool], tuple[float, float, int]] = {}
    for batched in (False, True):
        for offsets in (False, True):
            for name, tok in tokenizers:
                if name.startswith("slow") and offsets:
                    continue  # the slow tokenizer has no offsets
                repeat = 1 if name.startswith("slow") else args.repeat
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
            fast_s = results[("fast (Rust)", batched, offsets)][0]
            slow_s = results[("slow (sentencepiece)", batched, False)][0]
            ratio = f"{fast_s / cpu:.2f}x, {slow_s / cpu:.2f}x" + (" (slow: offsets off)" if offsets else "")
        print(f"| {name} | {'batched (64)' if batched else 'unbatched'} | {'on' if offsets else 'off'} | "
              f"{mb / cpu:.2f} | {tokens / cpu / 1e6:.3f} | {mb / wall:.2f} | {ratio} |")  # fmt: skip
    for name, options in (("deberta_np", {}), ('deberta_np reference="fast"', {"reference": "fast"})):
        cold = DebertaV2Tokenizer.from_pretrained(V3, **options)
        cpu, wall, tokens = timed(runner(cold, docs, False, False))
        print(f"| {name}, cold (fresh tokenizer, first pass) | unbatched | off | {mb / cpu:.2f} | "
              f"{tokens / cpu / 1e6:.3f} | {mb / wall:.2f} | |")  # fmt: skip
    print(
        f"\ndeberta_np load (spm.model -> tokenizer): {load:.2f} s CPU; "
        f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
