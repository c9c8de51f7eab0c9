"""The porter's commands: `deberta-np trace`, `deberta-np compare` and `deberta-np verify --onnx`.

Registered by cli.build_parser (one call, `register`), kept here so that cli.py stays the task commands' home.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy

from .errors import CheckpointError, InputError

BACKENDS = ("deberta_np", "transformers", "onnx")


def model_inputs(args: argparse.Namespace, path: Path, head: str) -> dict[str, numpy.ndarray]:
    """The inputs of the traced forward: --input-ids rows (no tokenizer needed) or the tokenized --text/--pair
    (several --text make a padded batch; for a multiple-choice model they are the choices of one example)."""
    if args.input_ids:
        rows = [[int(part) for part in row.split(",") if part.strip()] for row in args.input_ids]
        length = max(len(row) for row in rows)
        ids = numpy.zeros((len(rows), length), dtype=numpy.int64)
        mask = numpy.zeros((len(rows), length), dtype=numpy.int64)
        for i, row in enumerate(rows):  # right padding with id 0, mask 0
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        inputs = {"input_ids": ids, "attention_mask": mask}
    else:
        from .pipelines import load_tokenizer

        if not args.text:
            raise InputError("give --text (with a tokenizer in the model directory) or --input-ids")
        pairs = args.pair or None
        if pairs is not None and len(pairs) != len(args.text):
            raise InputError(f"{len(pairs)} --pair for {len(args.text)} --text: give one pair per text")
        tokenizer = load_tokenizer(path)
        encoded = tokenizer(args.text, pairs, padding=True, return_tensors="np")
        inputs = {
            name: numpy.asarray(encoded[name], dtype=numpy.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids")
            if name in encoded
        }
    if head == "multiple_choice":
        inputs = {name: value[None] for name, value in inputs.items()}  # one example, the rows as its choices
    return inputs


def cmd_trace(args: argparse.Namespace) -> int:
    from .config import config_from_pretrained
    from .pipelines import resolve_model_path
    from .trace import architecture_head, save_trace, trace, trace_metadata

    path = resolve_model_path(args.model)
    config = config_from_pretrained(path)
    head = args.head or architecture_head(config)
    inputs = model_inputs(args, path, head)
    if args.backend == "deberta_np":
        from .modeling import load_model

        model = load_model(path, head, device=args.device, dtype=args.dtype)
        tensors = trace(model, **inputs)
        metadata = trace_metadata(model, tensors)
    elif args.backend == "transformers":
        from .trace_transformers import load_transformers_model

        tensors = trace(load_transformers_model(path, head, args.dtype), **inputs)
        metadata = _metadata(config, head, tensors, "transformers")
    else:
        if not args.onnx:
            raise InputError("--backend onnx needs --onnx FILE.onnx")
        from .onnx_check import trace_onnx

        tensors = trace_onnx(args.onnx, **inputs)
        metadata = _metadata(config, head, tensors, f"onnx ({Path(args.onnx).name})")
    save_trace(args.output, tensors, metadata)
    summary = {"output": str(args.output), "tensors": len(tensors), "backend": args.backend, "head": head}
    print(json.dumps(summary))
    return 0


def _metadata(config: Any, head: str, tensors: dict[str, Any], backend: str) -> dict[str, str]:
    from .trace import trace_metadata

    holder = argparse.Namespace(config=config, head=head)
    return trace_metadata(holder, tensors, backend)


def cmd_compare(args: argparse.Namespace) -> int:
    """Exit 0: no tensor beyond tolerance; 1: one is (named on the last line); 2: the traces cannot be compared."""
    from .compare import UnusableTraces, compare_traces
    from .trace import load_trace

    try:
        a, meta_a = load_trace(args.a)
        b, meta_b = load_trace(args.b)
        report = compare_traces(a, b, args.atol, args.rtol, meta_a, meta_b)
    except (UnusableTraces, CheckpointError) as error:
        print(f"deberta-np compare: error: {error}", file=sys.stderr)
        return 2
    for side, names in (("first", report.only_a), ("second", report.only_b)):
        if names:
            print(f"only in the {side} trace ({len(names)}): {', '.join(names[:8])}", file=sys.stderr)
    tolerance = "per tensor" if report.atol is None else f"{report.atol:g}"
    print(f"tolerance: |a - b| <= atol + rtol |b|, atol {tolerance}, rtol {report.rtol:.3g}", file=sys.stderr)
    for line in report.lines():
        print(line)
    return 1 if report.first_divergence else 0


def cmd_verify_onnx(args: argparse.Namespace) -> int:
    from .cli import UsageError
    from .onnx_check import check_onnx
    from .oracle import Report, summary
    from .pipelines import resolve_model_path

    if not args.model:
        raise UsageError("verify --onnx needs --model DIR (the checkpoint the graph was exported from)")
    try:
        rows = check_onnx(resolve_model_path(args.model), args.onnx, head=args.head)
    except (ValueError, OSError) as error:  # a checkpoint or graph that cannot be loaded: nothing was checked
        raise UsageError(str(error)) from None
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(summary(rows), file=sys.stderr)
    return Report(rows).status  # as verify: 0 passed, 1 failed, 2 nothing could be checked


def register(sub: Any, subcommand: Any) -> None:
    """Add trace and compare, and verify's --onnx (the verify command itself stays cli.cmd_verify)."""
    p = subcommand(sub, "trace", "every intermediate of one forward, under stable names, to a safetensors file",
                   'deberta-np trace --model deberta-base --text "A test." --dtype float64 --output mine.safetensors')  # fmt: skip
    p.add_argument("--model", required=True, metavar="DIR")
    p.add_argument("--text", action="append", default=[], help="an input text (repeatable: a padded batch)")
    p.add_argument("--pair", action="append", default=[], help="the second text of each --text")
    p.add_argument("--input-ids", action="append", default=[], metavar="IDS",
                   help="comma-separated token ids of one row (repeatable; no tokenizer needed)")  # fmt: skip
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--head", help="the head to trace (default: the one config.json's architectures names)")
    p.add_argument("--backend", default="deberta_np", choices=BACKENDS)
    p.add_argument("--onnx", metavar="FILE", help="the graph for --backend onnx")
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", required=True, metavar="FILE", help=".safetensors (or .npz)")
    p.set_defaults(run=cmd_trace)

    p = subcommand(sub, "compare", "compare two traces tensor by tensor and name the first divergence",
                   "deberta-np compare mine.safetensors reference.safetensors --rtol 1e-4")  # fmt: skip
    p.add_argument("a", metavar="A", help="a trace (.safetensors or .npz)")
    p.add_argument("b", metavar="B", help="the reference trace")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: from the dtypes, per tensor)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: from the dtypes)")
    p.set_defaults(run=cmd_compare)

    verify = sub.choices["verify"]
    verify.add_argument("--onnx", metavar="FILE", help="check an exported ONNX graph against the oracle")
    verify.add_argument("--head", help="with --onnx: the head the graph computes (default: config.json's)")
    plain = verify.get_default("run")
    verify.set_defaults(run=lambda args: cmd_verify_onnx(args) if args.onnx else plain(args))
