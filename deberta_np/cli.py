"""`deberta-np`: the task pipelines, checkpoint tools and a benchmark on the command line (JSON lines out).

    deberta-np fill-mask --model DIR "Paris is the [MASK] of France."
    deberta-np classify  --model DIR --input texts.jsonl > labels.jsonl
    deberta-np qa        --model DIR --question "Who?" --context @story.txt

Inputs: texts as arguments (or --text), or many inputs as JSON lines from a file (--input FILE, `-` for stdin, or
piped stdin). A line is a JSON string or an object ({"text": ..., "text_pair": ...}; for qa {"question": ...,
"context": ...}). Output: one JSON value per input, in input order. An input that fails prints `null` in its place
and `line N: <problem>` on stderr, the others are still processed, and the exit status is 1.
A progress bar is drawn on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .config import read_config_json, write_config_json
from .corpus_io import RecordSink, add_corpus_options, in_shard
from .errors import BackendError, CheckpointError, ConfigError, InputError
from .jsonio import loads
from .oracle import PUBLISHED

# One chunk of inputs goes through the pipeline at a time: memory stays bounded and the progress bar moves.
CHUNK_BATCHES = 8
TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "spm.model",
)


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


# ================================================================================================================
# Reading inputs
# ================================================================================================================


def read_text_argument(value: str) -> str:
    """`@path` reads the text from a file (for long contexts); anything else is the text itself."""
    if value.startswith("@") and len(value) > 1:
        try:
            return Path(value[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read {value[1:]}: {error.strerror or error}") from error
    return value


def input_lines(
    stream: BinaryIO, plain: bool = False, shard: tuple[int, int] | None = None
) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every line of `stream` in `shard` (all without one), blank ones included, so that
    output line N answers input line N; a line that cannot be used gives (number, InputError) and the others go
    on. The bytes are decoded per line (a UTF-8 byte-order mark at the start is dropped): one bad line does not
    sink a file, and another shard's lines are never decoded."""
    for number, raw in enumerate(stream, 1):
        if not in_shard(number, shard):
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        raw = raw.rstrip(b"\r\n")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, InputError(f"not UTF-8 (byte {error.start + 1} is {raw[error.start]:#04x})")
            continue
        if not line.strip():
            yield number, InputError("blank line")
        elif plain:
            yield number, line
        else:
            yield number, parse_json_line(line)


def parse_json_line(line: str) -> Any:
    """The line's JSON value, or an InputError saying why there is none (syntax, nesting, a 5000-digit number)."""
    try:
        # parse_int=int: an over-long number is this line's error, not a string to classify
        return loads(line, InputError, lambda _, reason: InputError(reason), parse_int=int)
    except InputError as error:
        reason = str(error)
        if "; use sys.set_int_max_str_digits" in reason:  # Python's advice, not the user's
            reason = reason.split(";")[0] + ")"
        hint = "" if line.lstrip()[:1] in ('"', "{", "[") else " (one plain text per line? pass --plain)"
        return InputError(reason + hint)


def text_item(value: Any, pair: bool = False) -> Any:
    """A JSON line of a text task: a string, or {"text": ...} (and "text_pair" where pairs make sense)."""
    if isinstance(value, str):
        return value
    keys = {"text", "text_pair"} if pair else {"text"}
    if isinstance(value, dict) and "text" in value and set(value) <= keys:
        return value if pair and "text_pair" in value else value["text"]
    allowed = '{"text": ..., "text_pair": ...}' if pair else '{"text": ...}'
    raise InputError(f"expected a JSON string or an object {allowed}, got {json.dumps(value)[:80]}")


def qa_item(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"question", "context"}:
        return value
    raise InputError(f'expected an object {{"question": ..., "context": ...}}, got {json.dumps(value)[:80]}')


def collect_inputs(
    args: argparse.Namespace, direct: list[Any], parse: Callable[[Any], Any]
) -> list[tuple[str, Any]]:
    """(label, item or exception) for every input: the command line's, or the JSON lines of --input / stdin."""
    if direct and args.input:
        raise UsageError("give inputs either on the command line or with --input, not both")
    if direct and args.shard:
        raise UsageError("--shard splits the lines of --input (or stdin), not inputs on the command line")
    if direct:
        return [(f"input {i}", item) for i, item in enumerate(direct, 1)]
    if args.input is None and (sys.stdin is None or sys.stdin.isatty()):
        raise UsageError("no input: give a text, --input FILE, or pipe JSON lines to stdin")
    plain = getattr(args, "plain", False)
    with contextlib.ExitStack() as stack:
        if args.input in (None, "-"):
            stream, name = sys.stdin.buffer, "stdin"
        else:
            try:
                stream, name = stack.enter_context(open(args.input, "rb")), args.input
            except OSError as error:
                raise UsageError(f"cannot read {args.input}: {error.strerror or error}") from error
        items = []
        for number, value in input_lines(stream, plain, args.shard):
            if not isinstance(value, Exception):
                try:
                    value = parse(value)
                except (ValueError, TypeError) as error:
                    value = error
            items.append((f"{name} line {number}", value))
        return items


# ================================================================================================================
# Running a pipeline over the inputs
# ================================================================================================================


class Progress:
    """`done/total` on stderr, redrawn in place; silent unless stderr is a terminal (nothing extra when piped)."""

    def __init__(self, total: int, unit: str = "inputs") -> None:
        self.total, self.unit = total, unit
        self.enabled = sys.stderr is not None and sys.stderr.isatty() and total > 1
        self.started = time.perf_counter()
        self.drawn = False

    def update(self, done: int, what: str = "") -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {self.unit} ({rate:.2f}/s) {what}"
        )
        sys.stderr.write(f"\r\033[K{line.rstrip()}")
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        """Wipe the bar before a result line goes to the same terminal."""
        if self.drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.drawn = False

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


def run_task(
    pipe: Any,
    inputs: list[tuple[str, Any]],
    params: dict[str, Any],
    shape: Callable[[Any], Any],
    sink: RecordSink | None = None,
) -> int:
    """Write one JSON line per input, in order (for a failed one an error record {"error", "input"}, also reported
    on stderr), or with --shard/--output a {line, result, error} record to `sink`; return the exit status."""
    failed = 0
    progress = Progress(len(inputs))
    chunk = pipe.batch_size * CHUNK_BATCHES
    for start in range(0, len(inputs), chunk):
        part = inputs[start : start + chunk]
        good = [item for _, item in part if not isinstance(item, Exception)]
        results = iter(pipe.run(good, errors="collect", **params) if good else [])
        progress.clear()
        for label, item in part:
            error = item if isinstance(item, Exception) else None
            result = None if error else next(results)
            if error is None and type(result).__name__ == "Failure":
                error = result.error
            if error is not None:
                failed += 1
                print(f"{label}: {error}", file=sys.stderr)
            if sink is not None:
                sink.write(label, None if error is not None else shape(result), error)
            elif error is not None:
                print(json.dumps({"error": str(error), "input": label}, ensure_ascii=False))
            else:
                print(json.dumps(shape(result), ensure_ascii=False))
        (sink or sys.stdout).flush()
        progress.update(min(start + chunk, len(inputs)))
    progress.close()
    return 1 if failed else 0


def make_pipeline(args: argparse.Namespace, task: str, **options: Any) -> Any:
    from .pipelines import pipeline

    pipe = pipeline(task, args.model, tokenizer=args.tokenizer, device=args.device, dtype=args.dtype,
                    batch_size=args.batch_size, **options)  # fmt: skip
    if args.max_length is not None:
        # Every pipeline truncates (or, for qa and ner --stride, windows) at the tokenizer's model_max_length.
        pipe.tokenizer.model_max_length = args.max_length
    return pipe


def truncation(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.max_length is None else {"truncation": True, "max_length": args.max_length}


# ================================================================================================================
# Task commands
# ================================================================================================================


def cmd_fill_mask(args: argparse.Namespace) -> int:
    pipe = make_pipeline(args, "fill-mask")
    inputs = collect_inputs(args, args.texts + args.text, text_item)
    top_k = (
        pipe.tokenizer.vocab_size if args.top_k is None else args.top_k
    )  # all: every token of the vocabulary
    params: dict[str, Any] = {"top_k": top_k, "tokenizer_kwargs": truncation(args) or None}
    if args.target:
        params["targets"] = args.target
    return run_task(pipe, inputs, params, lambda r: r, args.sink)


def cmd_classify(args: argparse.Namespace) -> int:
    id2label = parse_json_option(args.id2label, "--id2label") if args.id2label else None
    pipe = make_pipeline(args, "text-classification", id2label=id2label)
    direct = args.texts + args.text
    if args.pair is not None:
        if len(direct) != 1:
            raise UsageError("--pair goes with exactly one text")
        direct = [{"text": direct[0], "text_pair": args.pair}]
    inputs = collect_inputs(args, direct, lambda v: text_item(v, pair=True))
    params = {"top_k": args.top_k, "function_to_apply": args.function, **truncation(args)}
    return run_task(pipe, inputs, params, lambda r: r, args.sink)


def cmd_zero_shot(args: argparse.Namespace) -> int:
    pipe = make_pipeline(args, "zero-shot-classification")
    inputs = collect_inputs(args, args.texts + args.text, text_item)
    params = {
        "candidate_labels": args.labels,
        "hypothesis_template": args.template,
        "multi_label": args.multi_label,
    }
    pipe.check_parameters({**pipe.defaults, **params})  # a bad label list fails once, before any input
    return run_task(pipe, inputs, params, lambda r: r, args.sink)


def cmd_ner(args: argparse.Namespace) -> int:
    pipe = make_pipeline(args, "token-classification")
    inputs = collect_inputs(args, args.texts + args.text, text_item)
    params: dict[str, Any] = {"aggregation_strategy": args.aggregation, "stride": args.stride}
    if args.ignore_labels is not None:
        params["ignore_labels"] = [label for label in args.ignore_labels.split(",") if label]
    return run_task(pipe, inputs, params, lambda r: r, args.sink)


def cmd_qa(args: argparse.Namespace) -> int:
    pipe = make_pipeline(args, "question-answering")
    direct = []
    if args.question is not None or args.context is not None:
        if args.question is None or args.context is None:
            raise UsageError("--question and --context go together")
        direct = [
            {"question": read_text_argument(args.question), "context": read_text_argument(args.context)}
        ]
    inputs = collect_inputs(args, direct, qa_item)
    params = {
        "top_k": args.top_k,
        "doc_stride": args.doc_stride,
        "max_answer_len": args.max_answer_len,
        "max_seq_len": args.max_seq_len,
        "max_question_len": args.max_question_len,
        "handle_impossible_answer": args.handle_impossible_answer,
        "align_to_words": not args.no_align_to_words,
    }
    return run_task(pipe, inputs, params, lambda r: r, args.sink)


def cmd_embed(args: argparse.Namespace) -> int:
    pipe = make_pipeline(args, "feature-extraction")
    inputs = collect_inputs(args, args.texts + args.text, lambda v: text_item(v, pair=True))
    params = {"pooling": args.pooling, **truncation(args)}
    # pooling none: [length, hidden] per text (the pipeline's leading batch axis of 1 dropped)
    return run_task(pipe, inputs, params, lambda r: r[0] if args.pooling == "none" else r, args.sink)


def parse_json_option(value: str, name: str) -> Any:
    return loads(read_text_argument(value), lambda reason: UsageError(f"{name}: {reason}"))


# ================================================================================================================
# Checkpoint commands
# ================================================================================================================


def cmd_inspect(args: argparse.Namespace) -> int:
    print(json.dumps(inspect_checkpoint(args.model), ensure_ascii=False))
    return 0


def inspect_checkpoint(model: str) -> dict[str, Any]:
    """Family (v1, or v2 for DeBERTa v2/v3), config summary, files, parameter counts, stored dtypes and the heads
    (with strict-loading results), plus notes on what the checkpoint cannot do (a v3 discriminator's fill-mask)."""
    from .checkpoint_files import find_checkpoint_files, read_state_dict
    from .config import DebertaV2Config, config_from_pretrained
    from .parameters import RTD, canonical_names, discriminator_explanation, masked_lm_head, select_parameters
    from .pipelines import checkpoint_heads, resolve_model_path

    path = resolve_model_path(model)
    config = config_from_pretrained(path)  # v2 configs as DebertaV2Config: their own parameter layout
    v2 = isinstance(config, DebertaV2Config)
    files = find_checkpoint_files(path)
    state = read_state_dict(path)
    dtypes: dict[str, int] = {}
    for name, stored in stored_dtypes(files, state).items():
        dtypes[stored] = dtypes.get(stored, 0) + int(np.prod(state[name].shape))
    canonical = canonical_names(state, str(path))
    loads: dict[str, str] = {}
    notes: list[str] = []
    for head in checkpoint_heads(path):
        if head == RTD:
            # No deberta_np (or transformers) class uses it; the loader skips it.
            loads[head] = "present (mask_predictions.*), not a task head: ignored when loading"
            notes.append(discriminator_explanation(path))
            continue
        try:
            layout = masked_lm_head(canonical, config, str(path)) if head == "masked_lm" else head
            select_parameters(canonical, config, layout, str(path))
            loads[head] = "ok" if head != "masked_lm" else f"ok ({_MLM_LAYOUTS[layout]})"
        except (CheckpointError, ConfigError) as error:
            loads[head] = str(error)
    encoder = sum(int(np.prod(a.shape)) for n, a in canonical.items() if n.startswith("deberta."))
    c = config
    summary = {
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "intermediate_size": c.intermediate_size,
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings,
        "relative_attention": c.relative_attention,
        "pos_att_type": c.pos_att_type,
        "position_biased_input": c.position_biased_input,
        "type_vocab_size": c.type_vocab_size,
        "hidden_act": c.hidden_act,
        "num_labels": c.num_labels,
        "id2label": {str(k): v for k, v in c.id2label.items()},
        "problem_type": c.problem_type,
    }
    if v2:
        summary.update(
            position_buckets=c.position_buckets,
            norm_rel_ebd="|".join(c.norm_rel_ebd),
            share_att_key=c.share_att_key,
            conv_kernel_size=c.conv_kernel_size,
        )
    return {
        "directory": str(path),
        "family": "v2" if v2 else "v1",  # v2 covers DeBERTa v2 and v3 (model_type deberta-v2)
        "model_type": c.model_type,
        "architectures": c.architectures,
        "config": summary,
        "files": [f.name for f in files],
        "tensors": len(state),
        "parameters": sum(int(np.prod(a.shape)) for a in state.values()),
        "encoder_parameters": encoder,
        "stored_dtypes": dtypes,
        "heads": loads,
        "notes": notes,
        "tokenizer": [name for name in TOKENIZER_FILES if (path / name).exists()],
    }


_MLM_LAYOUTS = {"masked_lm": "lm_predictions.lm_head.*", "masked_lm_legacy": "cls.predictions.*"}


def stored_dtypes(files: list[Path], state: dict[str, np.ndarray]) -> dict[str, str]:
    """Each tensor's dtype as stored: from the safetensors headers (BF16 included); for .bin, the arrays' dtype
    (torch's BF16 is read as float32 there, and reported so)."""
    from .safetensors_io import read_safetensors_header

    out = {name: str(array.dtype) for name, array in state.items()}
    for file in files:
        if file.suffix == ".safetensors":
            for name, (dtype, _) in read_safetensors_header(file)[0].items():
                out[name] = dtype
    return out


def cmd_convert(args: argparse.Namespace) -> int:
    from .checkpoint_files import read_state_dict
    from .pipelines import resolve_model_path
    from .safetensors_io import write_safetensors

    source = resolve_model_path(args.model)
    out = Path(args.out)
    if out.resolve() == source.resolve():
        raise UsageError("--out must be another directory than --model")
    if (out / "model.safetensors").exists() and not args.force:
        raise UsageError(f"{out / 'model.safetensors'} exists; pass --force to overwrite it")
    state = read_state_dict(source)
    dtype = np.dtype(args.dtype)
    tied = tied_copies(state, source)
    tensors = {
        name: array.astype(dtype) if np.issubdtype(array.dtype, np.floating) else array
        for name, array in state.items()
        if name not in tied
    }
    if dtype == np.float16:
        overflow = [
            n
            for n, a in state.items()
            if np.issubdtype(a.dtype, np.floating) and np.abs(a).max(initial=0) > 65504
        ]
        if overflow:
            raise UsageError(f"float16 cannot hold the values of {', '.join(overflow[:5])} (beyond 65504)")
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "model.safetensors", tensors, metadata={"format": "pt"})
    copied = [name for name in ("config.json", *TOKENIZER_FILES) if (source / name).exists()]
    for name in copied:
        shutil.copyfile(source / name, out / name)
    if (source / "config.json").exists():  # the stored dtype, where transformers looks for it
        config = read_config_json(source / "config.json")
        config["torch_dtype"] = args.dtype
        if "dtype" in config:  # transformers >= 4.56 writes this name
            config["dtype"] = args.dtype
        write_config_json(out, config)
    summary = {
        "out": str(out),
        "tensors": len(tensors),
        "tied_copies_dropped": sorted(tied),
        "dtype": args.dtype,
        "bytes": (out / "model.safetensors").stat().st_size,
        "copied": copied,
    }
    print(json.dumps(summary))
    return 0


def tied_copies(state: dict[str, Any], source: Path) -> set[str]:
    """The legacy MLM decoder's tensors where they only repeat the word embeddings and cls.predictions.bias (tied,
    as transformers writes them: it saves neither, and every reader ties them again)."""
    config = read_config_json(source / "config.json") if (source / "config.json").exists() else {}
    if config.get("tie_word_embeddings", True) is False:
        return set()
    prefix = "deberta." if "deberta.embeddings.word_embeddings.weight" in state else ""
    originals = {
        "cls.predictions.decoder.weight": prefix + "embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    return {
        copy
        for copy, original in originals.items()
        if copy in state and original in state and np.array_equal(state[copy], state[original])
    }


def cmd_verify(args: argparse.Namespace) -> int:
    """A checkpoint against the reference (--model), or a source checkout's committed goldens.

    Exit status: 0 every check passed, 1 a check failed, 2 nothing could be checked (or a usage error)."""
    from .oracle import Report, VerifyError, run_checks, summary

    if args.model:
        from .pipelines import resolve_model_path

        try:
            path = resolve_model_path(args.model)
            # The checks print notes of their own: stdout stays for the JSON lines.
            with contextlib.redirect_stdout(sys.stderr):
                report = run_checks(path, args.device, args.published, progress=progress_note)
        except (VerifyError, CheckpointError) as error:
            raise UsageError(str(error)) from None
        except OSError as error:  # a hub id that could not be fetched
            raise UsageError(f"{args.model}: {error}") from None
    else:
        if args.published:
            raise UsageError("--published names the model given with --model")
        conformance = repository_conformance()
        report = Report()
        with contextlib.redirect_stdout(sys.stderr):
            for name, run in conformance.__main__.committed_suites().items():
                progress_note(f"the {name} suite")
                report.rows += run(args.device)
    for r in report.rows:
        print(json.dumps(r, ensure_ascii=False))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary(report.rows), file=sys.stderr)
    if report.status == 2:
        print("deberta-np verify: nothing could be checked (see the notes above)", file=sys.stderr)
    return report.status


def progress_note(message: str) -> None:
    if sys.stderr.isatty():
        print(f"checking {message}...", file=sys.stderr, flush=True)


def repository_conformance() -> Any:
    """The `conformance` package of the source checkout that this deberta_np runs from (the committed goldens).

    Found beside the package's own files, never through the working directory or sys.path: a model folder that
    carries a `conformance/` package of its own must not run when `verify` is started inside it."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    init = root / "conformance" / "__init__.py"
    if not (init.is_file() and (root / "pyproject.toml").is_file()):
        raise UsageError(
            "the committed goldens are part of the deberta_np repository, not of the installed package: run "
            "`python -m conformance` in a clone; `deberta-np verify --model DIR` checks a checkpoint from anywhere"
        )
    loaded = sys.modules.get("conformance")
    if loaded is None:
        spec = importlib.util.spec_from_file_location(
            "conformance", init, submodule_search_locations=[str(root / "conformance")]
        )
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["conformance"] = loaded
        spec.loader.exec_module(loaded)
    elif Path(getattr(loaded, "__file__", "") or "").resolve() != init.resolve():
        raise UsageError(f"another module named conformance is loaded ({loaded.__file__}); not running it")
    importlib.import_module("conformance.__main__")
    return loaded


def cmd_bench(args: argparse.Namespace) -> int:
    """Encoder forward time on random token ids: median over repeats, after warm-up runs."""
    from . import shim
    from .pipelines import load_model, resolve_model_path

    model = load_model(resolve_model_path(args.model), "base", args.device, args.dtype)
    c = model.config
    rng = np.random.default_rng(0)
    progress = Progress(len(args.batch) * len(args.seq) * (args.warmup + args.repeats), unit="runs")
    done = 0
    for batch in args.batch:
        for length in args.seq:
            if c.position_biased_input and length > c.max_position_embeddings:
                raise UsageError(
                    f"--seq {length} exceeds max_position_embeddings={c.max_position_embeddings}"
                )
            ids = rng.integers(4, c.vocab_size, size=(batch, length))
            times = []
            for run in range(args.warmup + args.repeats):
                started = time.perf_counter()
                h = model(ids).last_hidden_state
                shim.to_numpy(h[:1, :1])  # wait for the device to finish
                if run >= args.warmup:
                    times.append(time.perf_counter() - started)
                done += 1
                progress.update(done, f"{batch}x{length}")
            seconds = float(np.median(times))
            result = {
                "batch": batch,
                "seq": length,
                "ms_per_batch": round(seconds * 1e3, 3),
                "tokens_per_s": round(batch * length / seconds, 1) if seconds > 0 else math.inf,
                "repeats": args.repeats,
                "device": args.device,
                "dtype": args.dtype,
            }
            progress.clear()
            print(json.dumps(result))
            sys.stdout.flush()
    progress.close()
    return 0


# ================================================================================================================
# The parser
# ================================================================================================================


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def top_k_option(text: str) -> int | None:
    """A positive number, or 'all' (None: every label or token)."""
    return None if text == "all" else positive_int(text)


def int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def common(parser: argparse.ArgumentParser, inputs: bool = True, batching: bool = True) -> None:
    """--model, --device, --dtype (every model command) and the input and batching options of task commands."""
    parser.add_argument(
        "--model", required=True, metavar="DIR", help="checkpoint directory (or hub id, see README)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64", "float16"),
                        help="compute dtype (default float32; float64 is the oracle mode)")  # fmt: skip
    if inputs or batching:
        parser.add_argument(
            "--tokenizer", metavar="DIR", help="tokenizer directory (default: the checkpoint's)"
        )
    if batching:
        parser.add_argument(
            "--batch-size", type=positive_int, default=8, help="inputs per model call (default 8)"
        )
        parser.add_argument(
            "--max-length",
            type=positive_int,
            help="longest model input in tokens; longer texts are truncated",
        )
    if inputs:
        parser.add_argument("texts", nargs="*", metavar="TEXT", help="input text(s)")
        parser.add_argument("--text", action="append", default=[], help="an input text (repeatable)")
        parser.add_argument("--input", metavar="FILE", help="JSON lines to read ('-': stdin)")
        parser.add_argument(
            "--plain", action="store_true", help="--input/stdin hold one plain text per line, not JSON"
        )
        add_corpus_options(parser)


def subcommand(sub: Any, name: str, help: str, example: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deberta-np",
        description=__doc__.split("\n\n")[0],
        epilog='example:\n  deberta-np fill-mask --model deberta-base "Paris is the [MASK] of France."\n\n'
        "`deberta-np COMMAND --help` shows each command's options and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = subcommand(sub, "fill-mask", "the most likely tokens for [MASK]",
                   'deberta-np fill-mask --model deberta-base "Paris is the [MASK] of France." --top-k 3')  # fmt: skip
    common(p)
    p.add_argument("--top-k", type=top_k_option, default=5,
                   help="predictions per mask: a number or 'all' (the whole vocabulary; default 5)")  # fmt: skip
    p.add_argument("--target", action="append", help="score only this word (repeatable)")
    p.set_defaults(run=cmd_fill_mask)

    p = subcommand(sub, "classify", "text (or text-pair) classification",
                   'deberta-np classify --model deberta-large-mnli --text "A man eats." --pair "Someone eats." --top-k all')  # fmt: skip
    common(p)
    p.add_argument("--pair", help="the second text of a pair (with one text)")
    p.add_argument(
        "--top-k", type=top_k_option, default=1, help="labels per input: a number or 'all' (default 1)"
    )
    p.add_argument(
        "--function", choices=("softmax", "sigmoid", "none"), help="score function (default: the config's)"
    )
    p.add_argument(
        "--id2label", help='label names as JSON, e.g. \'{"0": "neg", "1": "pos"}\' (or @file.json)'
    )
    p.set_defaults(run=cmd_classify)

    p = subcommand(sub, "zero-shot", "classification into any labels with an NLI model",
                   'deberta-np zero-shot --model deberta-large-mnli --labels sports,politics "Who won the match?"')  # fmt: skip
    common(p)
    p.add_argument("--labels", required=True, help="comma-separated candidate labels")
    p.add_argument(
        "--template", default="This example is {}.", help="hypothesis template (default: %(default)s)"
    )
    p.add_argument("--multi-label", action="store_true", help="score each label independently")
    p.set_defaults(run=cmd_zero_shot)

    p = subcommand(sub, "ner", "token classification (named entities)",
                   'deberta-np ner --model DIR --aggregation simple "My name is Wolfgang and I live in Berlin."')  # fmt: skip
    common(p)
    p.add_argument("--aggregation", default="none", choices=("none", "simple", "first", "average", "max"))
    p.add_argument("--ignore-labels", help="comma-separated labels to leave out (default O)")
    p.add_argument("--stride", type=int, help="split long texts into windows overlapping by this many tokens")
    p.set_defaults(run=cmd_ner)

    p = subcommand(sub, "qa", "extractive question answering",
                   'deberta-np qa --model DIR --question "Where do I live?" --context @story.txt --top-k 3')  # fmt: skip
    common(p, inputs=False)
    p.add_argument("--question", help="the question (or @file)")
    p.add_argument("--context", help="the context (or @file)")
    p.add_argument(
        "--input", metavar="FILE", help='JSON lines {"question": ..., "context": ...} (\'-\': stdin)'
    )
    add_corpus_options(p)
    p.add_argument("--top-k", type=positive_int, default=1, help="answers per question (default 1)")
    p.add_argument(
        "--doc-stride", type=int, help="overlap of context windows (default min(max_seq_len/2, 128))"
    )
    p.add_argument(
        "--max-answer-len", type=positive_int, default=15, help="longest answer in tokens (default 15)"
    )
    p.add_argument(
        "--max-seq-len", type=positive_int, help="tokens per window (default min(384, model limit))"
    )
    p.add_argument(
        "--max-question-len", type=positive_int, default=64, help="accepted; unused, as in transformers"
    )
    p.add_argument("--handle-impossible-answer", action="store_true", help="allow the empty answer")
    p.add_argument("--no-align-to-words", action="store_true", help="token boundaries instead of whole words")
    p.set_defaults(run=cmd_qa)

    p = subcommand(sub, "embed", "text embeddings: mean-pooled, first token, or every token's last hidden state",
                   'deberta-np embed --model deberta-base --pooling mean "A sentence to embed."')  # fmt: skip
    common(p)
    p.add_argument("--pooling", default="mean", choices=("mean", "cls", "none"), help="default mean")
    p.set_defaults(run=cmd_embed)

    p = subcommand(sub, "inspect", "family (v1, v2/v3), config summary, parameter count, dtypes and the heads a checkpoint holds",
                   "deberta-np inspect --model deberta-base")  # fmt: skip
    p.add_argument(
        "--model", required=True, metavar="DIR", help="checkpoint directory (or hub id, see README)"
    )
    p.set_defaults(run=cmd_inspect)

    p = subcommand(sub, "convert", "rewrite a checkpoint as model.safetensors (from .bin, sharded, or another dtype)",
                   "deberta-np convert --model deberta-base --out deberta-base-f16 --dtype float16")  # fmt: skip
    p.add_argument(
        "--model", required=True, metavar="DIR", help="checkpoint directory (or hub id, see README)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="new checkpoint directory")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"), help="stored float dtype")
    p.add_argument("--force", action="store_true", help="overwrite an existing model.safetensors")
    p.set_defaults(run=cmd_convert)

    p = subcommand(sub, "verify", "check a checkpoint against transformers and, for a published model, its "
                   "published slice (exit 0 passed, 1 failed, 2 nothing checked)",
                   "deberta-np verify --model deberta-base --published microsoft/deberta-base")  # fmt: skip
    p.add_argument(
        "--model", metavar="DIR", help="checkpoint directory (without it: a source checkout's goldens)"
    )
    p.add_argument("--published", metavar="NAME", choices=sorted(PUBLISHED),
                   help="the published model this checkpoint is, to compare with the slice its tests publish")  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_verify)

    p = subcommand(sub, "bench", "encoder speed on random inputs (ms per batch, tokens per second)",
                   "deberta-np bench --model deberta-base --batch 1,8 --seq 128,512 --repeats 5")  # fmt: skip
    common(p, inputs=False, batching=False)
    p.add_argument("--batch", type=int_list, default=[1], help="batch sizes, comma-separated (default 1)")
    p.add_argument(
        "--seq", type=int_list, default=[128], help="sequence lengths, comma-separated (default 128)"
    )
    p.add_argument(
        "--repeats", type=positive_int, default=3, help="timed runs per shape; the median is kept (default 3)"
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per shape first (default 1)")
    p.set_defaults(run=cmd_bench)

    from .trace_cli import register  # the porter's commands: trace, compare, verify --onnx

    register(sub, subcommand)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. Behaves as a Unix filter: a closed pipe (`| head -1`) ends it quietly
    with cat's status (141), Ctrl-C with 130, and warnings are one-line messages, not Python's."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        print(f"deberta-np {args.command}: error: standard output is closed", file=sys.stderr)
        return 1
    name = f"deberta-np {args.command}"
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: print(f"{name}: warning: {message}", file=sys.stderr)
        try:
            if getattr(args, "records", False) and (args.shard or args.output):  # records with line numbers
                with RecordSink(args.output) as args.sink:
                    status = args.run(args)
            else:
                args.sink = None
                status = args.run(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
            return status
        except BrokenPipeError:
            # Python's own final flush would report the closed pipe again: point stdout at /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE: what a shell reports for cat on a closed pipe
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
        except UsageError as error:
            parser.exit(2, f"{name}: error: {error}\n")
        # CheckpointError, ConfigError, InputError and TokenizerError are ValueErrors; BackendError a RuntimeError
        except (ValueError, TypeError, BackendError, OSError) as error:
            print(f"{name}: error: {error}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
