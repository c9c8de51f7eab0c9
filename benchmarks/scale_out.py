"""Documents per second on one machine: one process, Ray Data with 1 and 2 actors, Dask with 1 and 2 workers.

    python benchmarks/scale_out.py                          # deberta-base-shaped classifier, 2000 documents
    python benchmarks/scale_out.py --shape tiny --documents 3000   # a quick run on the 2-layer test model

The job is the same everywhere: read a JSONL corpus of real paragraphs (conformance/tokenizer_corpus.py: licences,
man pages and translations in ~40 languages), classify every text with deberta_np.Predictor in batches of
--engine-batch rows, write Parquet. The model is a random checkpoint of deberta-base's shape (hidden 768, 12
layers, the real 50265-token vocabulary and tokenizer) with a 3-label sequence-classification head, built without
torch (conformance/pipeline_models.py).

Threads: the machine's cores (--cores, default the CPUs this process may run on) are split between the workers,
never oversubscribed: W workers get cores // W deberta_np worker threads each (DEBERTA_NP_THREADS, with a
single-threaded OpenBLAS, as benchmarks/forward.py runs deberta_np). Ray gets one more logical CPU than there are
cores, so that its read and write tasks are not starved by actors holding every CPU (they are short and mostly
wait on files). Every configuration runs in a fresh process whose environment has OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (numpy's OpenBLAS picks its kernel as on a user's machine); each worker reports the kernel
it runs (threadpoolctl).

Times: `job s` is the wall time from reading the corpus to the written Parquet, model loading included (each
worker loads the model once); `start s` is the engine's own start (ray.init, the LocalCluster), not included in
docs/s. `vs one process` is docs/s over one process's docs/s on the same cores: below 1x, the engine's overhead.

Memory per worker, read from /proc/PID/smaps_rollup and /proc/PID/smaps at the end of the worker's last batch:
RSS, PSS (shared pages divided among the processes that map them) and USS (pages only this process holds), and the
RSS and PSS of the mapped model.safetensors alone. The weights are memory-mapped, so two workers on one machine
hold one copy: each worker's weights PSS is about half the file's resident size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASE_SHAPE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
CONFIGURATIONS = [("one process", 1), ("ray", 1), ("ray", 2), ("dask", 1), ("dask", 2)]
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ================================================================================================================
# The driver: builds the inputs, runs each configuration in a fresh process, prints the table
# ================================================================================================================


def build_inputs(workdir: Path, shape: str, documents: int) -> tuple[Path, Path]:
    from conformance import pipeline_models
    from conformance.tokenizer_corpus import short_documents

    workdir.mkdir(parents=True, exist_ok=True)
    overrides = {"id2label": pipeline_models.SENTIMENT_LABELS, **(BASE_SHAPE if shape == "base" else {})}
    model = pipeline_models.PipelineModel(f"scale-out-{shape}", "sequence_classification", 17, overrides, 3.0)
    checkpoint = workdir / model.name
    if not (checkpoint / "model.safetensors").exists():
        print(f"building {checkpoint} ...", file=sys.stderr, flush=True)
        pipeline_models.build(model, checkpoint)
    corpus = workdir / f"corpus-{documents}.jsonl"
    if not corpus.exists():
        lines = [
            json.dumps({"id": i, "text": t}, ensure_ascii=False)
            for i, t in enumerate(short_documents(documents))
        ]
        corpus.write_text("\n".join(lines) + "\n")
    return checkpoint, corpus


def measured_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", DEBERTA_NP_THREADS=str(threads)
    )
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape", choices=("base", "tiny"), default="base", help="deberta-base's or the test model's"
    )
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--engine-batch", type=int, default=128, help="rows per Predictor call (map_batches)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per model call inside the Predictor")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/deberta_np_scale_out"))
    parser.add_argument("--run", nargs=2, metavar=("ENGINE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checkpoint, corpus = build_inputs(args.workdir, args.shape, args.documents)
    if args.run:
        print(json.dumps(run(args.run[0], int(args.run[1]), checkpoint, corpus, args)))
        return 0
    rows = []
    for engine, workers in CONFIGURATIONS:
        threads = max(1, args.cores // workers)
        command = [sys.executable, __file__, "--run", engine, str(workers), "--shape", args.shape]
        command += ["--documents", str(args.documents), "--engine-batch", str(args.engine_batch)]
        command += [
            "--batch-size",
            str(args.batch_size),
            "--cores",
            str(args.cores),
            "--workdir",
            str(args.workdir),
        ]
        print(f"running {engine} x{workers} ({threads} threads each) ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, env=measured_env(threads), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{engine} x{workers} failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"engine": engine, "workers": workers, "threads": threads, **result})
    print_table(rows, args, checkpoint)
    return 0


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, checkpoint: Path) -> None:
    single = rows[0]["docs_per_s"]
    size = (checkpoint / "model.safetensors").stat().st_size / 2**20
    pinned = ", ".join(f"{k}={os.environ[k]}" for k in UNSET if k in os.environ) or "none"
    print(f"\n{args.documents} documents, {args.shape}-shaped classifier (model.safetensors {size:.0f} MiB), "
          f"{args.cores} cores, engine batch {args.engine_batch}, model batch {args.batch_size}; "
          f"unset for the measured processes: {', '.join(UNSET)} (this shell sets {pinned})")  # fmt: skip
    print("\n| configuration | threads/worker | BLAS kernel | start s | job s | docs/s | docs/s vs one process "
          "| per worker: RSS / PSS / USS MiB | weights RSS / PSS MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        memory = r["memory"]
        per_worker = "; ".join(f"{m['rss']:.0f} / {m['pss']:.0f} / {m['uss']:.0f}" for m in memory)
        weights = "; ".join(f"{m['weights_rss']:.0f} / {m['weights_pss']:.0f}" for m in memory)
        kernels = ",".join(sorted({m["kernel"] for m in memory}))
        overhead = f"{r['docs_per_s'] / single:.2f}x"
        name = r["engine"] if r["engine"] == "one process" else f"{r['engine']}, {r['workers']} worker(s)"
        print(f"| {name} | {r['threads']} | {kernels} | {r['start_s']:.1f} | {r['job_s']:.1f} | "
              f"{r['docs_per_s']:.1f} | {overhead} | {per_worker} | {weights} |")  # fmt: skip


# ================================================================================================================
# One configuration (in its own process)
# ================================================================================================================


def run(
    engine: str, workers: int, checkpoint: Path, corpus: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import pandas as pd

    memory_dir = Path(tempfile.mkdtemp(prefix="scale-out-memory-"))
    out = Path(tempfile.mkdtemp(prefix="scale-out-parquet-"))
    options = {"model_dir": str(checkpoint), "task": "text-classification", "batch_size": args.batch_size}
    threads = max(1, args.cores // workers)
    started = time.perf_counter()
    try:
        if engine == "one process":
            start_s = 0.0
            started = time.perf_counter()
            predictor = MeasuredPredictor(memory_dir=str(memory_dir), **options)
            frame = pd.read_json(corpus, lines=True, dtype={"text": object})
            parts = [
                predictor(frame.iloc[i : i + args.engine_batch])
                for i in range(0, len(frame), args.engine_batch)
            ]
            pd.concat(parts).to_parquet(out / "part-0.parquet")
        elif engine == "ray":
            import ray

            session = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # socket paths must stay under 108 bytes
            ray.init(num_cpus=args.cores + 1, include_dashboard=False, log_to_driver=False, _temp_dir=session)
            ray.data.DataContext.get_current().enable_progress_bars = False
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            try:
                ray.data.read_json(str(corpus)).map_batches(
                    MeasuredPredictor,
                    fn_constructor_kwargs={"memory_dir": str(memory_dir), **options},
                    batch_size=args.engine_batch,
                    batch_format="pandas",
                    concurrency=workers,
                    num_cpus=threads,
                ).write_parquet(str(out))
            finally:
                job_s = time.perf_counter() - started
                ray.shutdown()
                shutil.rmtree(session, ignore_errors=True)
        else:
            import dask.dataframe as dd
            import distributed

            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(cluster)
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            try:
                predictor = MeasuredPredictor(memory_dir=str(memory_dir), **options)
                frame = dd.read_json(str(corpus), lines=True, blocksize=None, dtype={"text": object})
                frame = frame.repartition(npartitions=max(1, args.documents // args.engine_batch))
                frame.map_partitions(predictor, meta=predictor.meta(frame)).to_parquet(str(out))
            finally:
                job_s = time.perf_counter() - started
                client.close()
                cluster.close()
        if engine == "one process":
            job_s = time.perf_counter() - started
        rows = sum(len(pd.read_parquet(p)) for p in out.glob("*.parquet"))
        if rows != args.documents:
            raise RuntimeError(f"{engine}: {rows} rows written, expected {args.documents}")
        memory = [json.loads(p.read_text()) for p in sorted(memory_dir.glob("*.json"))]
        return {"start_s": start_s, "job_s": job_s, "docs_per_s": args.documents / job_s, "memory": memory}
    finally:
        shutil.rmtree(memory_dir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


from deberta_np.predictor import Predictor  # noqa: E402  (after the sys.path insert above)


class MeasuredPredictor(Predictor):
    """Predictor that records its process's memory and BLAS kernel after every batch (the last one stays)."""

    def __init__(self, memory_dir: str, **options: Any) -> None:
        super().__init__(**options)
        self.memory_dir = memory_dir

    def __call__(self, batch: Any) -> Any:
        out = super().__call__(batch)
        if len(batch):
            record = {**process_memory(self.model_dir), "kernel": blas_kernel(), "pid": os.getpid()}
            Path(self.memory_dir, f"{os.getpid()}.json").write_text(json.dumps(record))
        return out


def process_memory(model_dir: str) -> dict[str, float]:
    """MiB: RSS, PSS and USS of this process, and the RSS and PSS of its mapping of model.safetensors."""
    rollup: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        rollup[key] = float(value.split()[0]) / 1024
    weights = {"Rss": 0.0, "Pss": 0.0}
    target = str(Path(model_dir, "model.safetensors").resolve())
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
            inside = fields[-1] == target
        elif inside and fields and fields[0].rstrip(":") in weights:
            weights[fields[0].rstrip(":")] += float(fields[1]) / 1024
    return {
        "rss": rollup["Rss"],
        "pss": rollup["Pss"],
        "uss": rollup["Private_Clean"] + rollup["Private_Dirty"],
        "weights_rss": weights["Rss"],
        "weights_pss": weights["Pss"],
    }


def blas_kernel() -> str:
    try:
        import threadpoolctl

        info = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
        return str(info[0].get("architecture", "?")) if info else "not OpenBLAS"
    except ImportError:
        return "? (no threadpoolctl)"


if __name__ == "__main__":
    sys.exit(main())
