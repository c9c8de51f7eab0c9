"""An exported ONNX graph against the oracle: `deberta-np verify --model DIR --onnx FILE.onnx`.

ONNX exports of DeBERTa have a record of graphs that are right on the example they were traced with and wrong
elsewhere: shapes frozen at export time, masks folded into constants, the relative-position span computed from
the example's length. `check_onnx` runs the graph with onnxruntime on the inputs that break such exports (every
length class from 1 to 512, batch 1 and 8, right padding, pairs with token types, rows that are all padding)
and compares each output with deberta_np in float64 at the real tokens. A graph that fails to run on an input
is a failure of that input, reported with onnxruntime's message.

`export_transformers_onnx` makes the graph this is demonstrated on: torch.onnx.export of transformers' model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy

from .errors import BackendError, InputError

# The row lengths of the batch-8 case: full, one token, odd, empty (all padding), ...
BATCH8_LENGTHS = (37, 1, 20, 0, 5, 37, 12, 36)
SINGLE_LENGTHS = (1, 2, 3, 7, 16, 31, 64, 127, 128, 129, 255, 256, 257, 384, 511, 512)


def _session(path: str | os.PathLike[str]) -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendError(
            "checking an ONNX graph needs onnxruntime: pip install 'deberta_np[onnx]'"
        ) from error
    if not Path(path).is_file():
        raise InputError(f"ONNX file {path}: not found")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the report says what failed
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
        raise InputError(f"ONNX file {path}: onnxruntime cannot load it ({error})") from error


def _feed(session: Any, inputs: dict[str, numpy.ndarray]) -> dict[str, numpy.ndarray]:
    """The graph's inputs from ours, by name (ids, mask, token types, positions), cast to the declared type."""
    feed = {}
    for graph_input in session.get_inputs():
        if graph_input.name not in inputs:
            if graph_input.name == "token_type_ids":
                feed[graph_input.name] = numpy.zeros_like(inputs["input_ids"])
                continue
            raise InputError(
                f"the ONNX graph wants an input {graph_input.name!r}; deberta_np feeds input_ids, attention_mask, "
                "token_type_ids and position_ids"
            )
        dtype = numpy.int32 if graph_input.type == "tensor(int32)" else numpy.int64
        feed[graph_input.name] = numpy.asarray(inputs[graph_input.name]).astype(dtype)
    return feed


def trace_onnx(
    path: str | os.PathLike[str],
    input_ids: Any,
    attention_mask: Any = None,
    token_type_ids: Any = None,
    position_ids: Any = None,
) -> dict[str, numpy.ndarray]:
    """The inputs and the graph's outputs under their output names (name them after the trace names)."""
    session = _session(path)
    ids = numpy.asarray(input_ids, dtype=numpy.int64)
    inputs = {"input_ids": ids}
    inputs["attention_mask"] = (
        numpy.ones_like(ids) if attention_mask is None else numpy.asarray(attention_mask, dtype=numpy.int64)
    )
    inputs["token_type_ids"] = (
        numpy.zeros_like(ids) if token_type_ids is None else numpy.asarray(token_type_ids, dtype=numpy.int64)
    )
    if position_ids is not None:
        inputs["position_ids"] = numpy.broadcast_to(numpy.asarray(position_ids, dtype=numpy.int64), ids.shape)
    outputs = session.run(None, _feed(session, inputs))
    result = {name: value.reshape(-1, ids.shape[-1]) for name, value in inputs.items()}
    for meta, value in zip(session.get_outputs(), outputs, strict=True):
        result[meta.name] = numpy.asarray(value)
    return result


def _cases(config: Any, graph_inputs: set[str], seed: int = 0) -> list[tuple[str, dict[str, numpy.ndarray]]]:
    """(label, inputs) for each input shape that breaks exports; ids drawn from the vocabulary, padding id 0."""
    rng = numpy.random.default_rng(seed)
    limit = 512
    if config.position_biased_input:
        limit = min(limit, config.max_position_embeddings)
    pad = config.pad_token_id or 0

    def batch(lengths: list[int], width: int, pair_at: list[int] | None = None) -> dict[str, numpy.ndarray]:
        ids = numpy.full((len(lengths), width), pad, dtype=numpy.int64)
        mask = numpy.zeros_like(ids)
        types = numpy.zeros_like(ids)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(0, config.vocab_size, size=length)
            mask[row, :length] = 1
            if pair_at is not None:
                types[row, pair_at[row] : length] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    cases = [(f"batch 1, length {n}", batch([n], n)) for n in SINGLE_LENGTHS if n <= limit]
    cases.append(("batch 1, length 16, right-padded to 9 tokens", batch([9], 16)))
    width = min(max(BATCH8_LENGTHS), limit)
    lengths = [min(n, width) for n in BATCH8_LENGTHS]
    cases.append((f"batch 8, length {width}, mixed padding, one all-padding row", batch(lengths, width)))
    cases.append(
        (
            f"batch 8, length {limit}, mixed padding",
            batch([limit, 3, limit // 2, 1, limit, 7, 0, 64][:8], limit),
        )
    )
    if "token_type_ids" in graph_inputs or config.type_vocab_size > 0:
        cases.append(
            ("pair: batch 2, length 24, token types 0/1, padded", batch([24, 15], 24, pair_at=[10, 6]))
        )
    return cases


def check_onnx(
    model_dir: str | os.PathLike[str], onnx_path: str | os.PathLike[str], head: str | None = None
) -> list[dict[str, Any]]:
    """One row per (input case, graph output): shape, max abs difference at real tokens, ok (and why not)."""
    from .compare import _compare_one, default_tolerance
    from .config import config_from_pretrained
    from .modeling import load_model
    from .trace import architecture_head

    config = config_from_pretrained(model_dir)
    head = head or architecture_head(config)
    oracle = load_model(model_dir, head, dtype="float64")
    session = _session(onnx_path)
    graph_inputs = {i.name for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]
    rows: list[dict[str, Any]] = []
    if config.type_vocab_size > 0 and "token_type_ids" not in graph_inputs:
        rows.append(
            {
                "case": "graph inputs",
                "output": "*",
                "ok": False,
                "note": f"the model has {config.type_vocab_size} token types but the graph takes no token_type_ids",
            }
        )
    for label, inputs in _cases(config, graph_inputs):
        if head == "multiple_choice":
            inputs = {name: value[None] for name, value in inputs.items()}
        try:
            outputs = session.run(None, _feed(session, inputs))
        except Exception as error:  # onnxruntime's own exception types: the report carries the message
            rows.append({"case": label, "output": "*", "ok": False, "error": _first_line(error)})
            continue
        expected = oracle(**inputs)
        fields = expected.keys()
        mask = inputs["attention_mask"].reshape(-1, inputs["attention_mask"].shape[-1]) != 0
        tol = default_tolerance({"x": outputs[0].astype(numpy.float32)}, {}, {"config": _config_json(config)})
        for position, (name, value) in enumerate(zip(output_names, outputs, strict=True)):
            field = name if name in fields else (fields[position] if position < len(fields) else None)
            if field is None:
                continue
            row = _compare_one(field, value, numpy.asarray(expected[field]), mask, None, tol, tol)
            finite = bool(numpy.isfinite(value).all())
            note = row.note if finite else "non-finite values in the output (padded positions included)"
            rows.append(
                {
                    "case": label,
                    "output": name if name == field else f"{name} (as {field})",
                    "shape": list(numpy.shape(value)),
                    "max_abs": row.max_abs,
                    "ok": row.ok and finite,
                    **({"note": note} if note else {}),
                }
            )
    return rows


def _config_json(config: Any) -> str:
    import json

    return json.dumps(config.to_dict(), default=str)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:400]


def export_transformers_onnx(
    model_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    head: str = "base",
    dynamo: bool = False,
    example_length: int = 11,
) -> Path:
    """torch.onnx.export of transformers' model for `head` with dynamic batch and length axes.

    Inputs input_ids, attention_mask (and token_type_ids when the model has token types); outputs named after
    the trace names (last_hidden_state, logits, start_logits/end_logits). dynamo=False is the TorchScript
    exporter most published DeBERTa ONNX files were made with; dynamo=True is torch.export's (the default since
    PyTorch 2.9).
    """
    import torch

    from .trace_transformers import load_transformers_model

    model = load_transformers_model(model_dir, head, "float32")
    config = model.config
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if config.type_vocab_size > 0 else [])
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, config.vocab_size, (2, example_length), generator=generator)
    dims = {0: "batch", 1: "length"}
    if head == "multiple_choice":  # [batch, choices, length]
        ids, dims = ids[None], {0: "batch", 1: "choices", 2: "length"}
    example = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if len(names) == 3 else ())
    outputs = {"question_answering": ["start_logits", "end_logits"], "base": ["last_hidden_state"]}.get(
        head, ["logits"]
    )
    axes = {name: dims for name in names + outputs if name != "logits"}
    if head in ("masked_lm", "token_classification"):
        axes["logits"] = {0: "batch", 1: "length"}
    elif head == "multiple_choice":
        axes["logits"] = {0: "batch", 1: "choices"}
    elif "logits" in outputs:
        axes["logits"] = {0: "batch"}

    class Wrapped(torch.nn.Module):  # named tensor inputs, tuple outputs: what both exporters take
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **extra)
            return tuple(out[name] for name in outputs)

    output = Path(output)
    kwargs: dict[str, Any] = {"input_names": names, "output_names": outputs}
    if dynamo:
        shapes = {axis: torch.export.Dim(name, max=512) for axis, name in dims.items()}
        kwargs.update(dynamo=True, dynamic_shapes={name: shapes for name in names})
    else:
        kwargs.update(dynamo=False, opset_version=17, dynamic_axes=axes)
    torch.onnx.export(Wrapped().eval(), example, str(output), **kwargs)
    return output
