"""Encoder forward speed and memory: deberta_np against transformers (PyTorch eager) and ONNX Runtime.

    python benchmarks/forward.py                 # the full table (a few minutes)
    python benchmarks/forward.py --quick         # a smoke run: two shapes, three repeats, no ONNX

One random checkpoint, built once with transformers into --workdir and loaded by every contender:
  --model deberta-base (default): vocab 50265, hidden 768, 12 layers, 12 heads, c2p|p2c, max_relative_positions -1;
  --model deberta-v3-base: the same with vocab 128100, position_buckets 256, share_att_key, norm_rel_ebd.
Each contender runs in its own process (imports and memory do not mix), with the same number of threads:
  * transformers: torch.set_num_threads(N), OMP/MKL_NUM_THREADS=N, under torch.inference_mode();
  * ONNX Runtime (if installed): the transformers model exported with torch.onnx.export, intra_op_num_threads=N;
  * deberta_np: --numpy-threads default (default): as a user runs it, no variable set, N cores (the process's
    affinity is cut to N CPUs when the machine has more); it chooses its threading per call itself. For reference
    only: --numpy-threads workers, N worker threads (DEBERTA_NP_THREADS=N) over a single-threaded OpenBLAS
    (OPENBLAS_NUM_THREADS=1), the old "tuned" mode; --numpy-threads blas, one thread over an N-threaded OpenBLAS;
    --numpy-threads products, the default with one sequence's weight products of few tokens (under 64) shared
    by N threads as pieces for OpenBLAS's small kernels (FastDeberta.products_below_tokens, off by default).
    These variables are set before numpy is imported.
Measured processes run as a user's would: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set (this
one pins OpenBLAS to its Haswell (AVX2) kernels on an AVX-512 CPU), are removed from their environment, both
together; the BLAS library, version, kernel and threads of every contender are printed above every table.
For every shape the contenders take turns, one forward each (--back-to-back K: K forwards in a row, timed
together, the mean per forward: throughput rather than the latency of a call after a pause), in a rotating order,
after warm-up runs; the table gives the median. Peak RSS comes from a fresh process per contender and shape
(ru_maxrss after loading and two forwards). See benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHAPES = "1x16,1x128,8x128,32x128,1x512"
GPU_SHAPES = "1x128,32x128,128x128,8x512"
BASE = {  # deberta-base's shape (microsoft/deberta-base config.json), random weights
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "relative_attention": True,
    "pos_att_type": ["c2p", "p2c"],
    "max_relative_positions": -1,
    "position_biased_input": False,
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-7,
}
V3_BASE = {  # deberta-v3-base's shape (microsoft/deberta-v3-base config.json), random weights
    **BASE,
    "vocab_size": 128100,
    "pos_att_type": ["p2c", "c2p"],
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
}
MODELS = {  # --model: (config, class name in transformers and in deberta_np)
    "deberta-base": (BASE, "DebertaModel"),
    "deberta-v3-base": (V3_BASE, "DebertaV2Model"),
}
CONTENDERS = ("deberta_np", "transformers", "onnxruntime")
# Removed, together, from the environment of every measured process: a user's machine does not pin OpenBLAS's
# kernel (OPENBLAS_CORETYPE=Haswell runs AVX2 kernels on an AVX-512 CPU) nor its cache size. Tests and CI keep them.
MACHINE_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def user_env(extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without MACHINE_PINS (and `drop`), plus `extra`: a measured process's."""
    env = {k: v for k, v in os.environ.items() if k not in MACHINE_PINS + drop}
    return {**env, **(extra or {})}


def reexec_as_user() -> None:
    """Run this script again without MACHINE_PINS if any is set (for benchmarks that measure in-process); call
    it before numpy is imported."""
    if any(name in os.environ for name in MACHINE_PINS):
        os.execve(sys.executable, [sys.executable, *sys.argv], user_env())


def blas_report(contender: str = "") -> dict[str, Any]:
    """What this process computes with: threadpoolctl's view of its BLAS/OpenMP libraries, and for torch and
    ONNX Runtime their own kernels (call after the contender's imports)."""
    report: dict[str, Any] = {"pins": {k: os.environ[k] for k in MACHINE_PINS if k in os.environ}}
    try:
        from threadpoolctl import threadpool_info

        report["libraries"] = [
            {
                k: info.get(k)
                for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")
            }
            | {"file": Path(info.get("filepath", "")).name}
            for info in threadpool_info()
        ]
    except ImportError:
        report["libraries"] = "threadpoolctl not installed (pip install threadpoolctl)"
    if contender == "transformers":
        import torch

        report["torch"] = (
            f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads, MKL {torch.backends.mkl.is_available()}, "
            f"mkldnn {torch.backends.mkldnn.is_available()}"
        )
    if contender == "onnxruntime":
        import onnxruntime

        report["onnxruntime"] = (
            f"onnxruntime {onnxruntime.__version__}: its own MLAS kernels (dispatched at run time, not listed by "
            "threadpoolctl); the numpy OpenBLAS listed is loaded, unused"
        )
    return report


def format_blas(reports: dict[str, dict[str, Any]]) -> str:
    """The BLAS lines printed above every table."""
    lines = []
    for name, report in reports.items():
        libraries = report["libraries"]
        if not isinstance(libraries, str):
            libraries = "; ".join(
                f"{lib['internal_api']} {lib['version'] or ''} ({lib['file']}), kernel {lib.get('architecture') or '-'}, "
                f"{lib['num_threads']} threads"
                + (f", {lib['threading_layer']}" if lib.get("threading_layer") else "")
                for lib in libraries
            )
        extra = report.get("torch") or report.get("onnxruntime")
        pins = ", ".join(f"{k}={v}" for k, v in report["pins"].items()) or "no OPENBLAS_CORETYPE/L2_SIZE"
        lines.append(f"- BLAS of {name}: {libraries}" + (f"; {extra}" if extra else "") + f" ({pins})")
        if "plans" in report:
            lines.append(f"  - deberta_np's threading per shape (FastDeberta.plan): {report['plans']}")
    return "\n".join(lines)


# ================================================================================================================
# FLOPs
# ================================================================================================================


def model_flops(
    model: str, batch: int, length: int, with_position_projections: bool = False
) -> dict[str, int]:
    """Analytic FLOPs (2 per multiply-add) of one forward, by term; matmuls only (elementwise work is ignored).

    c2p and p2c multiply by the relative rows a length reads: v1 the 2S rows around the middle of the table
    (S = min(L, P)); v2/v3 the rows of the buckets its distances fall in, 2 min(bucket(L - 1) + 1, S) (S = the
    attention span). transformers' v2 multiplies by all 2S rows at every length instead
    (`with_position_projections`), which it also projects (pos_proj and pos_q_proj, or v3's key_proj and
    query_proj) in every layer of every call: these depend on the weights alone, deberta_np projects them once
    at load."""
    c, _ = MODELS[model]
    h, i, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    positions = c["max_position_embeddings"]  # max_relative_positions -1: P = max_position_embeddings
    if "position_buckets" in c:  # v2/v3
        span = c["position_buckets"]
        rows = (
            2 * span if with_position_projections else 2 * min(bucket(length - 1, span, positions) + 1, span)
        )
    else:
        rows = 2 * min(length, positions)
    tokens = batch * length
    per_layer = {
        "qkv": 2 * tokens * h * 3 * h,
        "c2c": 2 * tokens * length * h,
        "c2p": 2 * tokens * rows * h,
        "p2c": 2 * tokens * rows * h,
        "context": 2 * tokens * length * h,
        "output": 2 * tokens * h * h,
        "ffn": 2 * 2 * tokens * h * i,
    }
    if with_position_projections:
        per_layer["pos_proj"] = 2 * 2 * rows * h * h
    return {name: layers * value for name, value in per_layer.items()}


def bucket(distance: int, buckets: int, max_position: int) -> int:
    """The log bucket of a non-negative distance (deberta_np.model_v2.log_bucket_positions, in float32)."""
    import numpy as np

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from deberta_np.model_v2 import log_bucket_positions

    return int(log_bucket_positions(np.asarray([distance]), buckets, max_position)[0])


# ================================================================================================================
# Worker processes (one per contender): JSON lines in, JSON lines out
# ================================================================================================================


def set_threads(contender: str, threads: int, numpy_threads: str) -> None:
    """Thread counts, set before numpy/torch are imported (deberta_np's default: none; it is held to `threads`
    CPUs by its affinity, see limit_cpus)."""
    if contender == "deberta_np" and numpy_threads in ("default", "products"):
        for name in THREAD_VARIABLES:
            os.environ.pop(name, None)
        return
    blas = 1 if contender == "deberta_np" and numpy_threads == "workers" else threads
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(blas)
    os.environ["DEBERTA_NP_THREADS"] = str(threads if contender == "deberta_np" and blas == 1 else 1)


def load_contender(
    contender: str, model: str, checkpoint: Path, threads: int, device: str = "cpu", dtype: str = "float32"
) -> Any:
    """A function (ids, mask) -> last hidden state, for the contender. On "cuda" it returns once the GPU has
    finished (the output stays on the GPU); the host's int64 inputs are copied over inside the call, for every
    contender alike."""
    import numpy as np

    class_name = MODELS[model][1]
    if contender == "deberta_np":
        sys.path.insert(0, str(REPO))
        import deberta_np

        ours = getattr(deberta_np, class_name).from_pretrained(checkpoint, device=device, dtype=dtype)
        if device == "cpu":
            run_numpy = lambda ids, mask: ours(ids, attention_mask=mask).last_hidden_state  # noqa: E731
            run_numpy.model = ours  # type: ignore[attr-defined]
            return run_numpy
        import cupy

        def run_cupy(ids: np.ndarray, mask: np.ndarray) -> Any:
            out = ours(cupy.asarray(ids), attention_mask=cupy.asarray(mask)).last_hidden_state
            cupy.cuda.get_current_stream().synchronize()
            return out

        return run_cupy
    if contender == "transformers":
        import torch
        import transformers

        torch.set_num_threads(threads)
        hf = getattr(transformers, class_name).from_pretrained(checkpoint).eval()
        hf = hf.to(device=device, dtype=getattr(torch, dtype))

        def run(ids: np.ndarray, mask: np.ndarray) -> Any:
            with torch.inference_mode():
                out = hf(
                    torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)
                ).last_hidden_state
            if device == "cpu":
                return out.numpy()
            torch.cuda.synchronize()
            return out

        run.module = hf  # type: ignore[attr-defined]
        return run
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(onnx_path(checkpoint)), options, providers=["CPUExecutionProvider"]
    )
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def deberta_np_plans(forward: Any, shapes: list[list[int]]) -> str:
    """How deberta_np's fast path runs each shape: its worker threads, and BLAS's threads during the call."""
    encoder = forward.model._fast_path()
    if encoder is None:
        return "readable path (no fast path)"
    from deberta_np import blas_threads

    control = blas_threads.controller()
    blas = control.budget() if control is not None else "NumPy's (not controllable)"
    cells = []
    for batch, length in shapes:
        workers, single = encoder.plan(batch, length)
        cells.append(
            f"{batch}x{length}: " + (f"{workers} workers x 1 BLAS thread" if single else
                                     f"{workers} worker{'s' if workers > 1 else ''} x {blas} BLAS threads")
        )  # fmt: skip
    return "; ".join(cells)


def inputs(model: str, batch: int, length: int) -> tuple[Any, Any]:
    import numpy as np

    vocab = MODELS[model][0]["vocab_size"]
    ids = np.random.default_rng(batch * 1000 + length).integers(4, vocab, (batch, length))
    return ids.astype(np.int64), np.ones((batch, length), dtype=np.int64)


def worker(
    contender: str,
    model: str,
    checkpoint: Path,
    threads: int,
    device: str,
    dtype: str,
    products: bool = False,
) -> None:
    """Serve commands from stdin: {"run": [B, L], "times": K} -> {"seconds": mean of K forwards in a row};
    {"flops": [B, L]}. products: deberta_np shares the pieces of one sequence's few-token products."""
    forward = load_contender(contender, model, checkpoint, threads, device, dtype)
    if products and contender == "deberta_np":
        from deberta_np.fast import FastDeberta

        FastDeberta.products_below_tokens = 64
    cache: dict[tuple[int, int], Any] = {}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "blas" in command:  # after the forwards: libraries load lazily, and deberta_np's plans per shape
            reply = blas_report(contender)
            if contender == "deberta_np" and device == "cpu":
                reply["plans"] = deberta_np_plans(forward, command["blas"])
        elif "run" in command:
            shape = tuple(command["run"])
            ids, mask = cache.setdefault(shape, inputs(model, *shape))
            times = command.get("times", 1)
            started = time.perf_counter()
            for _ in range(times):
                forward(ids, mask)
            reply: dict[str, Any] = {"seconds": (time.perf_counter() - started) / times}
        elif "flops" in command:  # transformers only: torch's own count of the matmul FLOPs
            import torch
            from torch.utils.flop_counter import FlopCounterMode

            ids, mask = (torch.from_numpy(a).to(device) for a in inputs(model, *command["flops"]))
            with FlopCounterMode(display=False) as counter:  # grad mode on: its module tracker needs it
                forward.module(ids, attention_mask=mask)
            reply = {"flops": int(counter.get_total_flops()), "by_op": {str(k): int(v) for k, v in
                     counter.get_flop_counts().get("Global", {}).items()}}  # fmt: skip
        print(json.dumps(reply), flush=True)


class WorkerProcess:
    """A contender's own process, serving JSON lines on stdin/stdout: held to `threads` CPUs (limit_cpus) and run
    without MACHINE_PINS (user_env). It prints one line when ready (kept as `ready`)."""

    def __init__(self, contender: str, command: list[str], threads: int) -> None:
        self.contender = contender
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=user_env(),
            preexec_fn=limit_cpus(threads),
        )
        self.ready = self.ask_raw()  # {"ready": true, ...}: loaded

    def ask_raw(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the {self.contender} worker died (exit status {self.process.wait()})")
        return json.loads(line)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self.ask_raw()

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker process, all its threads (Linux; 0 elsewhere)."""
        return process_cpu_seconds(self.process.pid)

    def measured_ask(self, command: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """(the reply, CPU seconds that other processes used meanwhile): what disturbed the worker's timing."""
        busy, mine, own = machine_busy_seconds(), self.cpu_seconds(), time.process_time()
        reply = self.ask(command)
        foreign = machine_busy_seconds() - busy - (self.cpu_seconds() - mine) - (time.process_time() - own)
        return reply, max(0.0, foreign)

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait()


class Worker(WorkerProcess):
    """A forward.py contender: runs one forward of a shape per command."""

    def __init__(self, contender: str, args: argparse.Namespace, checkpoint: Path) -> None:
        command = [sys.executable, __file__, "--worker", contender, "--threads", str(args.threads)]
        command += [
            "--numpy-threads",
            args.numpy_threads,
            "--workdir",
            str(args.workdir),
            "--model",
            args.model,
        ]
        command += ["--device", args.device, "--dtype", args.dtype]
        super().__init__(contender, command, args.threads)

    def timed_run(self, shape: tuple[int, int], times: int = 1) -> tuple[float, float]:
        """(seconds of one forward, the mean of `times` in a row; CPU seconds that other processes used meanwhile)."""
        reply, foreign = self.measured_ask({"run": list(shape), "times": times})
        return reply["seconds"], foreign


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used, all CPUs together, from /proc/stat (0 where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# ================================================================================================================
# One-off measurements in fresh processes
# ================================================================================================================


def limit_cpus(threads: int | None) -> Any:
    """A preexec_fn that holds a child to the first `threads` CPUs it may use (as `taskset` would), or None: with
    no thread variable set, deberta_np uses the CPUs of its affinity, so every contender is held alike."""
    if not threads or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) <= threads:
        return None
    return lambda: os.sched_setaffinity(0, cpus[:threads])


def fresh(
    code: str,
    env: dict[str, str],
    measured: bool = True,
    drop: tuple[str, ...] = (),
    threads: int | None = None,
) -> dict[str, Any]:
    """Run `code` in a fresh Python (repo on sys.path); it prints one JSON line last. A measured process runs
    without MACHINE_PINS (and without the variables `drop`), on at most `threads` CPUs."""
    output = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n{code}"],
        env=user_env(env, drop) if measured else {**os.environ, **env},
        preexec_fn=limit_cpus(threads) if measured else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"subprocess failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DEBERTA_NP_THREADS")


def thread_env(contender: str, threads: int, numpy_threads: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(the thread variables set_threads sets, those it removes) for a fresh process of this contender."""
    saved = dict(os.environ)
    try:
        set_threads(contender, threads, numpy_threads)
        env = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return env, tuple(k for k in THREAD_VARIABLES if k not in env)


def peak_memory(contender: str, shape: tuple[int, int], args: argparse.Namespace, checkpoint: Path) -> float:
    """MiB after loading and two forwards, in a fresh process: on the CPU its peak RSS; on "cuda" the GPU memory
    its allocator holds (PyTorch's peak reserved bytes, CuPy's memory pool, which keeps what it allocated)."""
    code = f"""
import json, resource
from benchmarks.forward import inputs, load_contender
from pathlib import Path
forward = load_contender({contender!r}, {args.model!r}, Path({str(checkpoint)!r}), {args.threads},
                         {args.device!r}, {args.dtype!r})
ids, mask = inputs({args.model!r}, *{shape!r})
forward(ids, mask); forward(ids, mask)
if {args.device!r} == "cpu":
    used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
elif {contender!r} == "deberta_np":
    import cupy
    used = cupy.get_default_memory_pool().total_bytes()
else:
    import torch
    used = torch.cuda.max_memory_reserved()
print(json.dumps({{"mib": used / 2**20}}))
"""
    env, drop = thread_env(contender, args.threads, args.numpy_threads)
    return fresh(code, env, drop=drop, threads=args.threads)["mib"]


IMPORTS = {
    "deberta_np": "import deberta_np",
    "transformers": "import torch, transformers; from transformers import {model_class}",
}


def import_seconds(contender: str, model: str) -> float:
    code = f"""
import json, time
started = time.perf_counter()
{IMPORTS[contender].format(model_class=MODELS[model][1])}
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""
    return fresh(code, {})["seconds"]


LOADS = {  # on "cuda" the weights end on the GPU in the dtype asked for
    "deberta_np": "from deberta_np import {model_class} as Model\n"
    "load = lambda: Model.from_pretrained(path, device={device!r}, dtype={dtype!r})",
    "transformers": "import torch\nfrom transformers import {model_class} as Model\n"
    "load = lambda: Model.from_pretrained(path).to({device!r}, getattr(torch, {dtype!r}))",
}


def load_seconds(contender: str, checkpoint: Path, args: argparse.Namespace, repeats: int = 3) -> float:
    """Median time of `from_pretrained` (safetensors; deberta_np's includes building its fast-path caches)."""
    code = f"""
import json, time
path = {str(checkpoint)!r}
{LOADS[contender].format(model_class=MODELS[args.model][1], device=args.device, dtype=args.dtype)}
load()  # the first load also finishes lazy imports
times = []
for _ in range({repeats}):
    started = time.perf_counter(); model = load(); times.append(time.perf_counter() - started); del model
print(json.dumps({{"seconds": sorted(times)[len(times) // 2]}}))
"""
    env, drop = thread_env(contender, args.threads, args.numpy_threads)
    return fresh(code, env, drop=drop, threads=args.threads)["seconds"]


def gemm_peak(
    library: str, threads: int, device: str = "cpu", dtype: str = "float32", attempts: int = 3
) -> float:
    """Achieved GFLOP/s of a large matrix product with `threads` threads (CPU) or on the GPU: the best of 10
    products in each of `attempts` fresh processes (a peak: the best run is the one least disturbed)."""
    return max(gemm_once(library, threads, device, dtype) for _ in range(attempts))


def gemm_once(library: str, threads: int, device: str, dtype: str) -> float:
    n = 2048 if device == "cpu" else 8192
    code = f"""
import json, time
import numpy as np
a = np.random.default_rng(0).random(({n}, {n}), dtype=np.float32).astype({dtype!r})
sync = lambda: None
if {library!r} == "torch":
    import torch
    torch.set_num_threads({threads})
    a = torch.from_numpy(a).to({device!r})
    product = lambda: torch.mm(a, a)
    if {device!r} == "cuda":
        sync = torch.cuda.synchronize
elif {device!r} == "cuda":
    import cupy
    a = cupy.asarray(a)
    product = lambda: a @ a
    sync = cupy.cuda.get_current_stream().synchronize
else:
    product = lambda: a @ a
product(); sync()
best = min((lambda s: (product(), sync(), time.perf_counter() - s)[2])(time.perf_counter()) for _ in range(10))
print(json.dumps({{"gflops": 2 * {n}**3 / best / 1e9}}))
"""
    env = {
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    return fresh(code, env, threads=threads)["gflops"]


def memory_bandwidth(threads: int) -> dict[str, float]:
    """GB/s of this machine's memory, best of 5 in a fresh process: numpy's BLAS matrix-vector product over a
    512 MiB float32 matrix with `threads` threads (it reads the matrix once, as a forward of few tokens reads the
    weights), and a 256 MiB np.copyto (read + write, one thread)."""
    code = """
import json, time
import numpy as np
a = np.ones((8192, 16384), dtype=np.float32); x = np.ones(16384, dtype=np.float32); y = np.empty(8192, np.float32)
src = np.ones(2**26, dtype=np.float32); dst = np.empty_like(src)
best = lambda f: min((lambda s: (f(), time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(5))
gemv = best(lambda: np.matmul(a, x, out=y)); copy = best(lambda: np.copyto(dst, src))
print(json.dumps({"gemv": a.nbytes / gemv / 1e9, "copy": 2 * src.nbytes / copy / 1e9}))
"""
    return fresh(code, {"OPENBLAS_NUM_THREADS": str(threads)}, threads=threads)


def weight_bytes(model: str) -> int:
    """Bytes of the encoder's weight matrices in float32 (what a forward of few tokens streams from memory; the
    embedding table is only gathered)."""
    c, _ = MODELS[model]
    h, i = c["hidden_size"], c["intermediate_size"]
    return 4 * c["num_hidden_layers"] * (4 * h * h + 2 * h * i)


# ================================================================================================================
# Setup: the checkpoint and its ONNX export
# ================================================================================================================


def checkpoint_path(workdir: Path, model: str) -> Path:
    return workdir / f"{model}-random"


def onnx_path(checkpoint: Path) -> Path:
    return checkpoint.parent / f"{checkpoint.name}.onnx"


def build_checkpoint(workdir: Path, model: str) -> Path:
    config, class_name = MODELS[model]
    return build_random(checkpoint_path(workdir, model), class_name, config)


def build_random(checkpoint: Path, class_name: str, config: dict[str, Any]) -> Path:
    """A random checkpoint (seed 0) of transformers' `class_name` with `config`, saved once as safetensors."""
    if (checkpoint / "model.safetensors").exists():
        return checkpoint
    print(f"building the random checkpoint in {checkpoint} ...", flush=True)
    config_class = "DebertaV2Config" if class_name.startswith("DebertaV2") else "DebertaConfig"
    code = f"""
import json, torch, transformers
torch.manual_seed(0)
config = transformers.{config_class}(**{config!r})
transformers.{class_name}(config).eval().save_pretrained({str(checkpoint)!r}, safe_serialization=True)
print(json.dumps({{"ok": True}}))
"""
    fresh(code, {}, measured=False)
    return checkpoint


def export_onnx(model: str, checkpoint: Path) -> str | None:
    """Export the transformers model to ONNX (once) and check it against PyTorch; None if usable, else why not."""
    config, class_name = MODELS[model]
    return export_checked(
        checkpoint, class_name, config["vocab_size"], onnx_path(checkpoint), "last_hidden_state"
    )


def export_checked(checkpoint: Path, class_name: str, vocab: int, target: Path, output: str) -> str | None:
    """Export transformers' `class_name` from `checkpoint` to `target` (once), inputs input_ids and attention_mask,
    one output named `output`, and check it against PyTorch at other shapes than the traced one, one of them
    right-padded (a batch of a pipeline); None if usable, else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime onnx)"
    code = f"""
import json, numpy as np, torch, transformers, onnxruntime
from pathlib import Path
target = Path({str(target)!r})
model = transformers.{class_name}.from_pretrained({str(checkpoint)!r}).eval()
if not target.exists():
    ids = torch.randint(4, {vocab}, (2, 16)); mask = torch.ones_like(ids)
    torch.onnx.export(model, (ids, mask), str(target), input_names=["input_ids", "attention_mask"],
                      output_names=[{output!r}], opset_version=17, dynamo=False,
                      dynamic_axes={{"input_ids": {{0: "batch", 1: "length"}},
                                    "attention_mask": {{0: "batch", 1: "length"}}}})
session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
worst = 0.0
for batch, length, padded in ((1, 16, 0), (3, 37, 0), (2, 130, 0), (3, 40, 25)):
    ids = np.random.default_rng(length).integers(4, {vocab}, (batch, length)); mask = np.ones_like(ids)
    mask[1:, length - padded:] = 0
    with torch.inference_mode():
        ref = getattr(model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)), {output!r}).numpy()
    out = session.run(None, {{"input_ids": ids, "attention_mask": mask}})[0]
    worst = max(worst, float(np.abs(out - ref).max()))
print(json.dumps({{"max_diff": worst}}))
"""
    try:
        worst = fresh(code, {}, measured=False)["max_diff"]
    except RuntimeError as error:
        return f"export failed: {str(error).strip().splitlines()[-1]}"
    if worst > 1e-3:
        return f"the exported model differs from PyTorch by {worst:.1e} at other shapes than the traced one"
    return None


# ================================================================================================================
# The run
# ================================================================================================================


def gpu_name() -> str:
    code = "import json, torch; print(json.dumps({'name': torch.cuda.get_device_name(0)}))"
    return fresh(code, {}, measured=False)["name"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def versions() -> str:
    code = """
import json, importlib.metadata as m
names = ["numpy", "torch", "transformers", "onnxruntime"]
found = {}
for name in names:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(found))
"""
    return ", ".join(f"{k} {v}" for k, v in fresh(code, {}).items())


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/deberta_np_bench"))
    parser.add_argument("--model", choices=tuple(MODELS), default="deberta-base")
    parser.add_argument("--shapes", help=f"BxL,... (default {SHAPES}; on cuda {GPU_SHAPES})")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--dtype", choices=("float32", "float16"), default="float32", help="float16: cuda only"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--numpy-threads",
        choices=("default", "workers", "blas", "products"),
        default="default",
        help="deberta_np's threads: default (as users run it: no variable set, chosen per call), or, as "
        "references, workers (DEBERTA_NP_THREADS=N, OPENBLAS_NUM_THREADS=1), blas (OPENBLAS_NUM_THREADS=N) or "
        "products (the default, with one sequence's few-token products shared by N threads as pieces)",
    )
    parser.add_argument(
        "--back-to-back",
        type=positive_int,
        default=1,
        metavar="K",
        help="each timed run is K forwards in a row, reported as the mean per forward (default 1: one forward "
        "after --pause seconds of rest)",
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.05,
        help="drop a timed run if other processes used more CPU than this share of its time (1: keep all)",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.5,
        help="seconds between timed runs, so that the previous contender's spin-waiting threads fall idle",
    )
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="1x16 and 1x128, 3 repeats, no ONNX: a smoke run"
    )
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checkpoint = checkpoint_path(args.workdir, args.model)
    if args.worker:
        set_threads(args.worker, args.threads, args.numpy_threads)
        worker(
            args.worker,
            args.model,
            checkpoint,
            args.threads,
            args.device,
            args.dtype,
            args.numpy_threads == "products",
        )
        return 0
    if args.dtype == "float16" and args.device == "cpu":
        parser.error("--dtype float16 needs --device cuda (PyTorch's CPU float16 is no reference for speed)")
    if args.quick:
        args.shapes, args.repeats, args.warmup, args.no_onnx = "1x16,1x128", 3, 1, True
    args.shapes = args.shapes or (SHAPES if args.device == "cpu" else GPU_SHAPES)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = build_checkpoint(args.workdir, args.model)

    print(f"# deberta_np forward benchmark: {args.model}\n\nmachine: {machine()}; {versions()}")
    print(f"model: random {args.model}-shaped checkpoint, {json.dumps(MODELS[args.model][0])}")
    print(f"device: {gpu_name() if args.device == 'cuda' else 'cpu'}, {args.dtype}")
    print(f"load average before: {os.getloadavg()}")
    threads = args.threads
    modes = {
        "default": "its default, no variable set: threading chosen per call, see the plans below",
        "workers": f"reference mode, {threads} worker threads, OPENBLAS_NUM_THREADS=1",
        "blas": f"reference mode, OPENBLAS_NUM_THREADS={threads}, no worker threads",
        "products": "its default, with one sequence's products of under 64 tokens shared by its threads as pieces",
    }
    print(
        f"threads: {threads} per contender, each held to {threads} CPUs (deberta_np: {modes[args.numpy_threads]})"
    )
    pins = {k: os.environ[k] for k in MACHINE_PINS if k in os.environ}
    print(
        "removed from the measured processes' environment: "
        + (
            ", ".join(f"{k}={v}" for k, v in pins.items())
            if pins
            else f"nothing ({', '.join(MACHINE_PINS)} unset here)"
        )
    )

    contenders = ["deberta_np", "transformers"]
    if not args.no_onnx and args.device == "cpu":
        why_not = export_onnx(args.model, checkpoint)
        if why_not is None:
            contenders.append("onnxruntime")
        else:
            print(f"ONNX Runtime skipped: {why_not}")

    # The machine's GEMM peak in this dtype, measured now, with the same thread count (CPU) or on the GPU.
    if args.device == "cpu":
        labels, size = {"numpy (OpenBLAS)": "numpy", "torch (MKL)": "torch"}, 2048
    else:
        labels, size = {"cupy (cuBLAS)": "numpy", "torch (cuBLAS)": "torch"}, 8192
    peaks = {name: gemm_peak(library, threads, args.device, args.dtype) for name, library in labels.items()}
    peak = max(peaks.values())
    print(
        f"\n{args.dtype} GEMM peak ({size}^3, best of 3 x 10): "
        + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in peaks.items())
    )
    bandwidth = memory_bandwidth(threads) if args.device == "cpu" else None
    if bandwidth:
        print(
            f"memory bandwidth (best of 5): numpy matrix-vector product, {threads} BLAS threads, "
            f"{bandwidth['gemv']:.1f} GB/s read; np.copyto, 1 thread, {bandwidth['copy']:.1f} GB/s read + write. "
            f"The encoder's weight matrices: {weight_bytes(args.model) / 1e6:.0f} MB in float32"
        )

    workers = {name: Worker(name, args, checkpoint) for name in contenders}
    try:
        for process in workers.values():  # one forward first: libraries (OpenMP, BLAS) load lazily
            process.ask({"run": list(min(shapes, key=lambda shape: shape[0] * shape[1]))})
        blas = format_blas({name: process.ask({"blas": shapes}) for name, process in workers.items()})
        print(f"\n{blas}")
        # FLOPs: the analytic count against torch's FlopCounterMode on the transformers model.
        print("\n## FLOPs per forward (analytic count against torch.utils.flop_counter on transformers)\n")
        print(f"{blas}\n")
        print("| shape | deberta_np (analytic) | transformers (analytic, + position projections) | "
              "FlopCounterMode | per token (deberta_np) |")  # fmt: skip
        print("|---|---|---|---|---|")
        for batch, length in shapes:
            ours = sum(model_flops(args.model, batch, length).values())
            theirs = sum(model_flops(args.model, batch, length, with_position_projections=True).values())
            counted = workers["transformers"].ask({"flops": [batch, length]})["flops"]
            flag = "" if abs(counted - theirs) <= 1e-3 * theirs else " (differs!)"
            print(
                f"| {batch}x{length} | {ours / 1e9:.2f} G | {theirs / 1e9:.2f} G | {counted / 1e9:.2f} G{flag} | "
                f"{ours / batch / length / 1e6:.1f} M |"
            )

        results: dict[tuple[str, tuple[int, int]], list[float]] = {}
        disturbed: dict[tuple[str, tuple[int, int]], int] = {}
        dropped: dict[tuple[str, tuple[int, int]], list[float]] = {}
        for shape in shapes:
            for name, process in workers.items():
                for _ in range(args.warmup):
                    process.ask({"run": list(shape)})
                results[(name, shape)], disturbed[(name, shape)], dropped[(name, shape)] = [], 0, []
            # Rounds until every contender has --repeats runs during which other processes used (almost) no
            # CPU: a run that shared the machine is dropped (at most 4 x --repeats rounds).
            rounds = 0
            while (
                rounds < 4 * args.repeats and min(len(results[(n, shape)]) for n in contenders) < args.repeats
            ):
                shift = rounds % len(contenders)
                for name in contenders[shift:] + contenders[:shift]:
                    time.sleep(args.pause)  # the last contender's spinning threads (OpenMP, ORT) go idle
                    seconds, foreign = workers[name].timed_run(shape, args.back_to_back)
                    busy = seconds * args.back_to_back  # the wall time the foreign CPU time is set against
                    if foreign <= max(0.03, args.max_foreign * busy) or args.max_foreign >= 1:
                        results[(name, shape)].append(seconds)
                    else:
                        disturbed[(name, shape)] += 1
                        dropped[(name, shape)].append(seconds)
                rounds += 1
    finally:
        for process in workers.values():
            process.close()
    print(f"\nload average after the timed runs: {os.getloadavg()}")

    clean = {key: len(kept) for key, kept in results.items()}
    for key, kept in results.items():
        if (
            not kept
        ):  # never quiet: keep the disturbed runs rather than nothing (the "runs kept" column says 0)
            kept.extend(dropped[key])
    rss: dict[tuple[str, tuple[int, int]], float] = {}
    if not args.no_rss:
        for shape in shapes:
            for name in contenders:
                rss[(name, shape)] = peak_memory(name, shape, args, checkpoint)

    where = f"{threads} threads" if args.device == "cpu" else "cuda"
    print(
        f"\n## Forward pass, {args.dtype}, {where}, median of {args.repeats} (after {args.warmup} warm-up)"
        + (f", each the mean of {args.back_to_back} forwards in a row\n" if args.back_to_back > 1 else "\n")
    )
    print(f"{blas}\n")
    memory_column = "peak RSS MiB" if args.device == "cpu" else "GPU memory MiB"
    ort = "onnxruntime" in contenders
    print(
        f"| shape | contender | ms / batch | tokens / s | vs PyTorch | {'vs ORT | ' if ort else ''}{memory_column} "
        "| GFLOP/s | % of GEMM peak | weights GB/s | runs kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if ort else ""))
    for shape in shapes:
        batch, length = shape
        flops = sum(model_flops(args.model, batch, length).values())
        reference = statistics.median(results[("transformers", shape)])
        for name in contenders:
            seconds = statistics.median(results[(name, shape)])
            memory = f"{rss[(name, shape)]:.0f}" if rss else "-"
            versus_ort = (
                f"{statistics.median(results[('onnxruntime', shape)]) / seconds:.2f}x | " if ort else ""
            )
            print(
                f"| {batch}x{length} | {name} | {seconds * 1e3:.1f} | {batch * length / seconds:.0f} | "
                f"{reference / seconds:.2f}x | {versus_ort}{memory} | {flops / seconds / 1e9:.0f} | "
                f"{100 * flops / seconds / 1e9 / peak:.0f}% | {weight_bytes(args.model) / seconds / 1e9:.1f} | "
                f"{clean[(name, shape)]}/{clean[(name, shape)] + disturbed[(name, shape)]} |"
            )

    print("\n## Start-up (median of 3, fresh processes)\n")
    print(f"{blas}\n")
    print("| what | deberta_np | transformers |")
    print("|---|---|---|")
    imports = {
        name: statistics.median(import_seconds(name, args.model) for _ in range(3)) for name in IMPORTS
    }
    loads = {name: load_seconds(name, checkpoint, args) for name in LOADS}
    print(f"| import | {imports['deberta_np']:.3f} s | {imports['transformers']:.3f} s |")
    print(f"| load from safetensors | {loads['deberta_np']:.3f} s | {loads['transformers']:.3f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
