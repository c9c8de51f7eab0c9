"""End to end: deberta_np's pipelines against transformers' pipelines and ONNX Runtime, tokenization included.

    python benchmarks/pipelines.py                   # 2,000 documents, both tasks (over an hour on 2 cores)
    python benchmarks/pipelines.py --quick           # 100 documents in chunks of 50, no reruns (~6 min)

Two random checkpoints of deberta-base's shape (benchmarks/forward.py's BASE), built once with transformers (seed
0, save_pretrained) into --workdir with the real deberta-v1 tokenizer files (data/tokenizers/deberta-v1:
vocab.json, merges.txt) and tokenizer_config.json {"model_max_length": 512}, so that every tokenizer truncates at
512 tokens: DebertaForSequenceClassification with 3 labels (text-classification) and DebertaForTokenClassification
with 9 labels (token-classification, CoNLL's tags). The documents are real paragraphs of the tokenizer corpus
(conformance.tokenizer_corpus.short_documents, 20 to 2,000 characters, ~40 languages), of mixed lengths.

Contenders, each in its own process, held to --threads CPUs (default 2), all with batch size --batch-size:
  * deberta_np: `deberta_np.pipeline(task, model=DIR, batch_size=B)` as a user calls it (no thread variable: it
    chooses its threading itself); its batches are length-sorted (deberta_np.pipelines.base.length_batches);
  * transformers: `transformers.pipeline(task, model=DIR, batch_size=B)` (DebertaTokenizerFast, PyTorch eager,
    torch.set_num_threads(N), under torch.inference_mode()); its batches follow the input order;
  * onnxruntime: the transformers model exported with torch.onnx.export (checked against PyTorch, padded batches
    included), DebertaTokenizerFast, a plain loop: tokenize the documents, sort them by length, cut batches of B,
    pad, run, softmax and argmax in NumPy (the same batching as deberta_np: the strongest simple baseline);
  * with --input-order, deberta_np again with its batches in input order (a reference: what sorting saves).
Post-processing is the pipelines' default for every contender: text-classification the best label and its softmax
score; token-classification aggregation_strategy "none" (one entity per non-special token whose label is not "O",
with its word and character span), which keeps the contenders comparable (no grouping rules to differ on).
The documents are cut into chunks of --chunk; the contenders take turns, one chunk each, in a rotating order, so
that a disturbance hits all alike. A chunk during which other processes used more than --max-foreign of its wall
time in CPU is run again (up to --retries times; the least disturbed run is kept). Like forward.py, measured
processes run without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, and each contender's BLAS is printed above every
table. The outputs of every contender are compared with deberta_np's (labels, scores), so that none is fast by
being wrong. See benchmarks/README.md for the columns and for what padding costs (and why nothing is packed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.forward import (  # noqa: E402  (after the sys.path insert above)
    BASE,
    MACHINE_PINS,
    WorkerProcess,
    blas_report,
    build_random,
    deberta_np_plans,
    export_checked,
    format_blas,
    machine,
    model_flops,
    set_threads,
    versions,
)

TEXT, TOKEN = "text-classification", "token-classification"
TASKS = {  # task: (transformers class, config overrides)
    TEXT: ("DebertaForSequenceClassification", {"id2label": {0: "negative", 1: "neutral", 2: "positive"}}),
    TOKEN: (
        "DebertaForTokenClassification",
        {"id2label": dict(enumerate("O B-PER I-PER B-ORG I-ORG B-LOC I-LOC B-MISC I-MISC".split()))},
    ),
}
MAX_LENGTH = 512
INPUT_ORDER = "deberta_np, input order"
CONTENDERS = ("deberta_np", "transformers", "onnxruntime", INPUT_ORDER)
WARMUP_DOCUMENTS = 16

# ================================================================================================================
# Setup (the driver): checkpoints, their ONNX exports, the documents
# ================================================================================================================


def build_task_checkpoint(workdir: Path, task: str) -> Path:
    """A random deberta-base-shaped checkpoint with the task's head, the deberta-v1 tokenizer files beside it."""
    from conformance.pipeline_models import TOKENIZER_DIR, TOKENIZER_FILES

    class_name, overrides = TASKS[task]
    checkpoint = build_random(workdir / f"deberta-base-{task}", class_name, {**BASE, **overrides})
    for name in TOKENIZER_FILES:
        if not (checkpoint / name).exists():
            shutil.copyfile(TOKENIZER_DIR / name, checkpoint / name)
    # Both tokenizers read it: truncation at 512 tokens, deberta-base's.
    (checkpoint / "tokenizer_config.json").write_text(json.dumps({"model_max_length": MAX_LENGTH}) + "\n")
    return checkpoint


def onnx_file(checkpoint: Path) -> Path:
    return checkpoint.parent / f"{checkpoint.name}.onnx"


def documents(workdir: Path, count: int) -> Path:
    """`count` real paragraphs of the tokenizer corpus, of mixed lengths, written once as a JSON list."""
    from conformance.tokenizer_corpus import short_documents

    path = workdir / f"documents-{count}.json"
    if not path.exists():
        path.write_text(json.dumps(short_documents(count, min_chars=20, max_chars=2000), ensure_ascii=False))
    return path


def token_lengths(checkpoint: Path, docs: list[str]) -> list[int]:
    """Tokens of every document, special tokens included, truncated at 512 (the same for every contender)."""
    from deberta_np.tokenizer import DebertaTokenizer

    tokenizer = DebertaTokenizer.from_pretrained(checkpoint)
    return [len(ids) for ids in tokenizer(docs, truncation=True)["input_ids"]]


# ================================================================================================================
# Worker processes (one per contender and task): JSON lines in, JSON lines out
# ================================================================================================================


def load_deberta_np(task: str, checkpoint: Path, batch_size: int, input_order: bool) -> Any:
    import deberta_np

    pipe = deberta_np.pipeline(task, model=checkpoint, batch_size=batch_size)
    if input_order:  # the reference without length sorting: batches in input order, as transformers runs them
        from deberta_np.pipelines import base

        base.length_batches = lambda lengths, size: [
            list(range(start, min(start + size, len(lengths)))) for start in range(0, len(lengths), size)
        ]
    options = {"truncation": True} if task == TEXT else {}  # token-classification truncates by itself
    run = lambda docs: pipe(docs, **options)  # noqa: E731
    run.model = pipe.model  # type: ignore[attr-defined]  (for deberta_np_plans)
    return run


def load_transformers(task: str, checkpoint: Path, batch_size: int, threads: int) -> Any:
    import torch
    import transformers

    torch.set_num_threads(threads)
    pipe = transformers.pipeline(task, model=str(checkpoint), device="cpu", batch_size=batch_size)
    options = {"truncation": True} if task == TEXT else {}

    def run(docs: list[str]) -> list[Any]:
        with torch.inference_mode():
            return pipe(docs, **options)

    return run


def load_onnxruntime(task: str, checkpoint: Path, batch_size: int, threads: int) -> Any:
    import onnxruntime
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)  # DebertaTokenizerFast
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(onnx_file(checkpoint)), options, providers=["CPUExecutionProvider"]
    )
    labels = {int(k): v for k, v in json.loads((checkpoint / "config.json").read_text())["id2label"].items()}

    def run(docs: list[str]) -> list[Any]:
        token = task == TOKEN
        encoded = tokenizer(
            docs, truncation=True, return_offsets_mapping=token, return_special_tokens_mask=token
        )
        ids = encoded["input_ids"]
        order = sorted(range(len(docs)), key=lambda i: len(ids[i]))  # length-sorted batches, as deberta_np's
        results: list[Any] = [None] * len(docs)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            padded = tokenizer.pad([{"input_ids": ids[i]} for i in batch], return_tensors="np")
            feed = {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}
            logits = session.run(None, feed)[0]
            for row, index in enumerate(batch):
                if token:
                    scores = softmax(logits[row, : len(ids[index])])
                    results[index] = token_entities(tokenizer, encoded, index, scores, labels)
                else:
                    scores = softmax(logits[row])
                    best = int(scores.argmax())
                    results[index] = {"label": labels[best], "score": float(scores[best])}
        return results

    return run


def softmax(x: Any) -> Any:
    """Max-subtracted softmax over the last axis, as transformers' pipelines compute it (NumPy)."""
    import numpy as np

    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def token_entities(
    tokenizer: Any, encoded: Any, index: int, scores: Any, labels: dict[int, str]
) -> list[dict]:
    """aggregation_strategy "none": every non-special token whose best label is not "O", with its word and span."""
    ids, special = encoded["input_ids"][index], encoded["special_tokens_mask"][index]
    offsets = encoded["offset_mapping"][index]
    entities = []
    for position, token_scores in enumerate(scores):
        best = int(token_scores.argmax())
        if special[position] or labels[best] == "O":
            continue
        start, end = offsets[position]
        word = tokenizer.convert_ids_to_tokens(ids[position])
        entities.append({"entity": labels[best], "score": float(token_scores[best]), "index": position,
                         "word": word, "start": start, "end": end})  # fmt: skip
    return entities


def compact(task: str, results: list[Any]) -> list[Any]:
    """What is compared between contenders: [label, score] per document, or [[index, entity, score], ...]."""
    if task == TEXT:
        return [[r["label"], float(r["score"])] for r in results]
    return [[[e["index"], e["entity"], float(e["score"])] for e in entities] for entities in results]


def worker(args: argparse.Namespace) -> None:
    """Serve commands: {"run": [a, b]} (documents a..b, timed), {"blas": true}, {"rss": true}."""
    contender, task = args.worker, args.task
    library = "deberta_np" if contender.startswith("deberta_np") else contender
    set_threads(library, args.threads, "default")  # before numpy/torch load; deberta_np: no variable at all
    if library != "deberta_np":
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # the fast tokenizer's batch encoding
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    docs = json.loads(documents(args.workdir, args.documents).read_text())
    checkpoint = args.workdir / f"deberta-base-{task}"
    started = time.perf_counter()
    if library == "deberta_np":
        run = load_deberta_np(task, checkpoint, args.batch_size, contender == INPUT_ORDER)
    elif library == "transformers":
        run = load_transformers(task, checkpoint, args.batch_size, args.threads)
    else:
        run = load_onnxruntime(task, checkpoint, args.batch_size, args.threads)
    print(json.dumps({"ready": True, "load_s": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "run" in command:
            first, last = command["run"]
            started = time.perf_counter()
            out = run(docs[first:last])
            reply: dict[str, Any] = {"seconds": time.perf_counter() - started, "results": compact(task, out)}
        elif "blas" in command:  # after the warm-up: libraries load lazily
            reply = blas_report(library)
            if library == "deberta_np":
                reply["plans"] = deberta_np_plans(run, [[args.batch_size, n] for n in (32, 128, MAX_LENGTH)])
        else:
            reply = {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        print(json.dumps(reply), flush=True)


# ================================================================================================================
# The driver: rounds of chunks, the tables
# ================================================================================================================


def start_workers(task: str, contenders: list[str], args: argparse.Namespace) -> dict[str, WorkerProcess]:
    workers = {}
    for name in contenders:
        command = [sys.executable, __file__, "--worker", name, "--task", task, "--threads", str(args.threads)]
        command += ["--workdir", str(args.workdir), "--documents", str(args.documents)]
        command += ["--batch-size", str(args.batch_size)]
        workers[name] = WorkerProcess(name, command, args.threads)
    return workers


def measure(task: str, contenders: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Every contender over every chunk, in turns; per contender its seconds, results, load time, RSS, BLAS."""
    workers = start_workers(task, contenders, args)
    record = {
        name: {"seconds": 0.0, "results": [], "clean": 0, "runs": 0, "foreign": 0.0} for name in contenders
    }
    try:
        for process in workers.values():  # warm-up: lazy imports, BLAS and OpenMP pools, tokenizer caches
            process.ask({"run": [0, min(WARMUP_DOCUMENTS, args.documents)]})
        blas = format_blas({name: process.ask({"blas": True}) for name, process in workers.items()})
        chunks = [(a, min(a + args.chunk, args.documents)) for a in range(0, args.documents, args.chunk)]
        for number, chunk in enumerate(chunks):
            shift = number % len(contenders)
            for name in contenders[shift:] + contenders[:shift]:
                run_chunk(workers[name], chunk, record[name], args)
            print(f"  {task}: chunk {number + 1}/{len(chunks)} done", file=sys.stderr, flush=True)
        for name, process in workers.items():
            record[name]["load_s"] = process.ready["load_s"]
            record[name]["rss_mib"] = process.ask({"rss": True})["rss_mib"]
    finally:
        for process in workers.values():
            process.close()
    return {"blas": blas, "contenders": record}


def run_chunk(
    process: WorkerProcess, chunk: tuple[int, int], record: dict[str, Any], args: argparse.Namespace
) -> None:
    """One contender over one chunk; run again (up to --retries) while other processes took CPU meanwhile."""
    best: tuple[float, dict[str, Any]] | None = None
    for _ in range(1 + args.retries):
        time.sleep(args.pause)  # the previous contender's spinning threads (OpenMP, ORT, OpenBLAS) go idle
        reply, foreign = process.measured_ask({"run": list(chunk)})
        record["runs"] += 1
        share = foreign / reply["seconds"]
        if best is None or share < best[0]:
            best = (share, reply)
        if share <= args.max_foreign:
            record["clean"] += 1
            break
    assert best is not None
    record["seconds"] += best[1]["seconds"]
    record["foreign"] += best[0] * best[1]["seconds"]
    record["results"] += best[1]["results"]


def padding(lengths: Sequence[int], chunk: int, batch_size: int, order: str) -> tuple[int, int]:
    """(pad tokens, all tokens processed) of batches cut within chunks: `order` "sorted" (deberta_np, ORT),
    "input" (transformers), or "corpus" (sorted over all documents at once: the least padding batching can do)."""
    pad = total = 0
    for batch in padded_batches(lengths, chunk, batch_size, order):
        rows = [lengths[i] for i in batch]
        pad += max(rows) * len(rows) - sum(rows)
        total += max(rows) * len(rows)
    return pad, total


def padded_batches(lengths: Sequence[int], chunk: int, batch_size: int, order: str) -> list[list[int]]:
    """The batches (indices into `lengths`) a contender runs, given how it orders each chunk."""
    from deberta_np.pipelines.base import length_batches

    if order == "corpus":
        return length_batches(lengths, batch_size)
    batches = []
    for start in range(0, len(lengths), chunk):
        part = list(range(start, min(start + chunk, len(lengths))))
        if order == "sorted":
            batches += [[part[i] for i in b] for b in length_batches([lengths[i] for i in part], batch_size)]
        else:
            batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return batches


def flops(lengths: Sequence[int], batches: list[list[int]]) -> int:
    """Analytic FLOPs (forward.model_flops, deberta-base) of running `batches`, each padded to its longest row."""
    return sum(sum(model_flops("deberta-base", len(b), max(lengths[i] for i in b)).values()) for b in batches)


def packed_rows(lengths: Sequence[int], capacity: int = MAX_LENGTH) -> list[int]:
    """Lengths of rows packed first-fit decreasing with whole sequences (what packing would run, one sequence per
    block of a block-diagonal mask; the attention inside a row is computed densely, over the whole row)."""
    rows: list[int] = []
    for length in sorted(lengths, reverse=True):
        for r, used in enumerate(rows):
            if used + length <= capacity:
                rows[r] += length
                break
        else:
            rows.append(length)
    return rows


def agreement(task: str, ours: list[Any], theirs: list[Any]) -> str:
    """How another contender's outputs differ from deberta_np's: labels that differ, and the largest score
    difference where they agree."""
    if task == TEXT:
        differ = sum(a[0] != b[0] for a, b in zip(ours, theirs))
        worst = max((abs(a[1] - b[1]) for a, b in zip(ours, theirs) if a[0] == b[0]), default=0.0)
        return f"{differ} of {len(ours)} documents | - | {worst:.1e}"
    documents_differ = tokens_differ = tokens = 0
    worst = 0.0
    for a, b in zip(ours, theirs):
        mine, other = ({index: (label, score) for index, label, score in d} for d in (a, b))
        changed = sum(mine.get(i, ("O",))[0] != other.get(i, ("O",))[0] for i in set(mine) | set(other))
        documents_differ += changed > 0
        tokens_differ += changed
        tokens += len(set(mine) | set(other))
        same = [abs(mine[i][1] - other[i][1]) for i in set(mine) & set(other) if mine[i][0] == other[i][0]]
        worst = max([worst, *same])
    return f"{documents_differ} of {len(ours)} documents | {tokens_differ} of {tokens} entities | {worst:.1e}"


def print_task(task: str, measured: dict[str, Any], lengths: list[int], args: argparse.Namespace) -> None:
    record = measured["contenders"]
    tokens = sum(lengths)
    print(f"\n## {task}: {args.documents} documents, {tokens} tokens, batch size {args.batch_size}, "
          f"{args.threads} threads\n")  # fmt: skip
    print(f"{measured['blas']}\n")
    ort = "onnxruntime" in record
    print("| contender | docs / s | tokens / s | vs transformers | " + ("vs ORT | " if ort else "")
          + "seconds | load s | peak RSS MiB | padding | others' CPU | chunks clean |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if ort else ""))
    orders = {"transformers": "input", INPUT_ORDER: "input"}
    for name, r in record.items():
        seconds = r["seconds"]
        versus = f"{record['onnxruntime']['seconds'] / seconds:.2f}x | " if ort else ""
        pad, total = padding(lengths, args.chunk, args.batch_size, orders.get(name, "sorted"))
        print(
            f"| {name} | {args.documents / seconds:.1f} | {tokens / seconds:.0f} | "
            f"{record['transformers']['seconds'] / seconds:.2f}x | {versus}{seconds:.1f} | {r['load_s']:.1f} | "
            f"{r['rss_mib']:.0f} | {100 * pad / total:.1f}% | {100 * r['foreign'] / seconds:.1f}% | "
            f"{r['clean']}/{r['runs']} |"
        )
    print(
        "\n| outputs against deberta_np's | documents whose labels differ | entity labels that differ | max score difference (same label) |"
    )
    print("|---|---|---|---|")
    for name, r in record.items():
        if name != "deberta_np":
            print(f"| {name} | {agreement(task, record['deberta_np']['results'], r['results'])} |")


def print_padding(lengths: list[int], args: argparse.Namespace) -> None:
    """What padding costs deberta_np's batches, and what packing would cost instead (analytic FLOPs)."""
    unpadded = sum(sum(model_flops("deberta-base", 1, n).values()) for n in lengths)
    print(f"\n## Padding: {args.documents} documents, batch size {args.batch_size}, chunks of {args.chunk}\n")
    print("| batches | pad tokens / all tokens processed | FLOPs / FLOPs without padding |")
    print("|---|---|---|")
    for label, order in (
        ("length-sorted within each chunk (deberta_np, onnxruntime)", "sorted"),
        ("length-sorted over all documents at once", "corpus"),
        ("input order (transformers)", "input"),
    ):
        pad, total = padding(lengths, args.chunk, args.batch_size, order)
        cost = flops(lengths, padded_batches(lengths, args.chunk, args.batch_size, order)) / unpadded
        print(f"| {label} | {100 * pad / total:.2f}% | {cost:.3f} |")
    rows = packed_rows(lengths)
    packed = sum(sum(model_flops("deberta-base", 1, n).values()) for n in rows)
    print(f"| packed into rows of {MAX_LENGTH} (first-fit decreasing, {len(rows)} rows, block-diagonal mask) | "
          f"{100 * (1 - sum(lengths) / (MAX_LENGTH * len(rows))):.2f}% | {packed / unpadded:.3f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/deberta_np_bench_pipelines"))
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--tasks", default=f"{TEXT},{TOKEN}")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=500, help="documents per turn of a contender")
    parser.add_argument("--max-foreign", type=float, default=0.05)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--input-order", action="store_true", help="add deberta_np with unsorted batches")
    parser.add_argument("--quick", action="store_true", help="100 documents in chunks of 50, no retries")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=tuple(TASKS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.quick:
        args.documents, args.chunk, args.retries = 100, 50, 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    tasks = args.tasks.split(",")
    checkpoints = {task: build_task_checkpoint(args.workdir, task) for task in tasks}
    docs = json.loads(documents(args.workdir, args.documents).read_text())
    lengths = token_lengths(checkpoints[tasks[0]], docs)
    print(f"# deberta_np pipelines benchmark\n\nmachine: {machine()}; {versions()}")
    print(f"load average before: {os.getloadavg()}")
    pins = ", ".join(f"{k}={os.environ[k]}" for k in MACHINE_PINS if k in os.environ)
    print(f"removed from the measured processes' environment: {pins or 'nothing (unset here)'}")
    for task in tasks:
        contenders = ["deberta_np", "transformers"]
        why_not = None if args.no_onnx else export_checked(
            checkpoints[task], TASKS[task][0], BASE["vocab_size"], onnx_file(checkpoints[task]), "logits"
        )  # fmt: skip
        if args.no_onnx or why_not:
            print(f"ONNX Runtime skipped for {task}: {why_not or '--no-onnx'}")
        else:
            contenders.append("onnxruntime")
        contenders += [INPUT_ORDER] if args.input_order else []
        print_task(task, measure(task, contenders, args), lengths, args)
    print_padding(lengths, args)
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
