"""Batch inference for data engines: `Predictor(model_dir, task, **options)` is called on a batch of rows.

    import ray
    ds = ray.data.read_json("corpus.jsonl")
    ds = ds.map_batches(Predictor, fn_constructor_kwargs={"model_dir": "DIR", "task": "text-classification"},
                        batch_size=256, concurrency=2)
    ds.write_parquet("out/")

A batch is what Ray Data and Dask hand a function: a dict of NumPy arrays (Ray's "numpy" batch format), a pandas
DataFrame (Ray's "pandas" format, each Dask partition), or a pyarrow Table (Ray's "pyarrow" format). The result is
the same kind of batch with every input column kept and result columns added (see `Predictor`).

Engines copy the predictor to their workers: Ray builds it in each actor from `fn_constructor_kwargs`, Dask pickles
it into every task. So it holds only the path and the options until its first non-empty batch; then the pipeline is
loaded once per process and kept in a process-wide cache, so that each of a Dask worker's task copies (and every
Predictor with the same model and loading options) reuses it. The weights are memory-mapped (safetensors): workers
on one machine share their pages.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError

# Per process: (task, model, loading options) -> a loaded pipeline. A Dask worker unpickles a fresh Predictor
# for every task; without this cache each partition would load the model again.
_LOADED: dict[tuple[Any, ...], Any] = {}
_LOADED_LOCK = threading.Lock()

# The pipelines' call options that decide the shape of the result columns rather than what is computed.
_RESERVED = {"return_tensors"}


class Predictor:
    """A task pipeline called on batches of rows (Ray Data `map_batches`, Dask `map_partitions`).

    model_dir: a checkpoint directory (or a hub id, when huggingface_hub is installed), read on the workers.
    task: fill-mask, text-classification (sentiment-analysis), zero-shot-classification, token-classification
        (ner), question-answering or feature-extraction.
    text_column, text_pair_column, question_column, context_column: the input columns. A text pair is read when
        the pair column exists (text-classification, feature-extraction); a missing or null pair means no pair.
    output_prefix: put before every result column name (`pred_label`), for inputs that already have a `label`
        column. A result column that would replace an input column is refused.
    device, dtype, batch_size (rows per model call, grouped by length), tokenizer, id2label: as `pipeline(...)`.
    options: the task's call options (top_k, candidate_labels, aggregation_strategy, pooling, ...), checked now.

    Result columns (a row that fails has `error` set, the message naming the problem, and empty results:
    None for objects, NaN for scores and embeddings, -1 for positions; `error` is None for the others):
      text-classification: `label`, `score` (the best label); with `top_k` (an int, or None for all labels):
          `labels`, `scores`, sorted by score.
      zero-shot-classification: `labels`, `scores` (sorted by score; candidate_labels= is required).
      token-classification: `entities`, a list of dicts as the pipeline returns them.
      question-answering: `answer`, `score`, `start`, `end`; with top_k > 1: `answers`, a list of dicts.
      feature-extraction: `embedding`, float32, pooling "mean" by default (or "cls"): one vector per row (in a
          dict batch, a [rows, hidden] array); pooling "none": a [tokens, hidden] array per row.
      fill-mask: `predictions`, one list per [MASK] of {score, token, token_str, sequence} dicts.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        task: str,
        *,
        text_column: str = "text",
        text_pair_column: str = "text_pair",
        question_column: str = "question",
        context_column: str = "context",
        output_prefix: str = "",
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 8,
        tokenizer: str | os.PathLike[str] | None = None,
        id2label: dict[Any, str] | None = None,
        **options: Any,
    ) -> None:
        from .pipelines import ALIASES, PIPELINES

        name = ALIASES.get(task, task)
        if name not in PIPELINES:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join([*PIPELINES, *ALIASES])}")
        accepted = set(PIPELINES[name].defaults) - _RESERVED
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise TypeError(
                f"{name} got unexpected option(s) {', '.join(unknown)}; it accepts {', '.join(sorted(accepted))}"
            )
        from .pipelines.base import check_positive_int

        check_positive_int(batch_size, "batch_size")
        if name == "feature-extraction":
            options.setdefault("pooling", "mean")  # one vector per row: what a table column holds
            options["return_tensors"] = True
        # Only plain values travel to the workers: the path, not the model.
        self.model_dir = os.fspath(model_dir)
        self.task = name
        self.columns = {
            "text": text_column,
            "text_pair": text_pair_column,
            "question": question_column,
            "context": context_column,
        }
        self.output_prefix = output_prefix
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.tokenizer = None if tokenizer is None else os.fspath(tokenizer)
        self.id2label = None if id2label is None else {str(k): str(v) for k, v in dict(id2label).items()}
        self.options = options
        self._pipeline: Any = None

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Predictor({self.model_dir!r}, {self.task!r}{', ' if options else ''}{options})"

    # --- what travels to a worker -------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pipeline"] = None  # never the loaded model: the worker loads (or finds) its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def pipeline(self) -> Any:
        """The task pipeline, loaded on first use; once per process for the same model and loading options."""
        if self._pipeline is None:
            key = (
                self.task,
                self.model_dir,
                self.tokenizer,
                self.device,
                self.dtype,
                self.batch_size,
                json.dumps(self.id2label, sort_keys=True),
            )
            with _LOADED_LOCK:
                if key not in _LOADED:
                    from .pipelines import pipeline

                    pipe = pipeline(
                        self.task,
                        self.model_dir,
                        tokenizer=self.tokenizer,
                        device=self.device,
                        dtype=self.dtype,
                        batch_size=self.batch_size,
                        id2label=self.id2label,
                    )
                    # Bad options (a zero-shot run without candidate_labels, ...) fail the batch at once.
                    pipe._parameters(dict(self.options))
                    _LOADED[key] = pipe
                self._pipeline = _LOADED[key]
        return self._pipeline

    # --- calling on a batch -------------------------------------------------------------------------------------

    def __call__(self, batch: Any) -> Any:
        """The batch with the result columns (and `error`) added: a dict of arrays, a DataFrame or an Arrow Table."""
        if hasattr(batch, "columns") and hasattr(batch, "iloc"):  # a pandas DataFrame
            return self._frame(batch)
        if isinstance(batch, Mapping):
            columns = {name: np.asarray(values) for name, values in batch.items()}
            return {**columns, **self._results(columns, frame=False)}
        if type(batch).__module__.startswith("pyarrow") and hasattr(batch, "to_pandas"):
            import pyarrow

            return pyarrow.Table.from_pandas(self._frame(batch.to_pandas()), preserve_index=False)
        raise TypeError(
            "a batch is a dict of arrays (Ray's numpy format), a pandas DataFrame or a pyarrow Table, got "
            f"{type(batch).__name__}"
        )

    def meta(self, frame: Any) -> Any:
        """The empty DataFrame that `self(frame)` returns, without loading the model: Dask's `meta=`.

        `frame` is a pandas DataFrame or a Dask one (its `_meta`)."""
        empty = getattr(frame, "_meta", frame).iloc[:0]
        return self._frame(empty)

    def _frame(self, frame: Any) -> Any:
        import pandas as pd

        columns = {name: frame[name].to_numpy() for name in frame.columns}
        results = self._results(columns, frame=True)
        out = frame.copy()
        for name, values in results.items():
            # Text columns as pandas' string dtype (pd.NA where missing): a string column in Arrow and Parquet
            # whether or not any row has a value. Object columns stay object, whatever pandas would infer.
            text = name in {self.output_prefix + column for column in _TEXT_COLUMNS}
            out[name] = pd.Series(values, index=frame.index, dtype=pd.StringDtype() if text else values.dtype)
        return out

    def _results(self, columns: dict[str, np.ndarray], frame: bool) -> dict[str, np.ndarray]:
        needed = ["question", "context"] if self.task == "question-answering" else ["text"]
        for role in needed:
            if self.columns[role] not in columns:
                raise InputError(
                    f"the batch has no column {self.columns[role]!r} (the {role}); it has "
                    f"{', '.join(map(repr, columns)) or 'none'}. Set {role}_column= to the column that holds it"
                )
        rows = len(columns[self.columns[needed[0]]])
        names = self._output_names()
        clash = sorted(set(names.values()) & set(columns))
        if clash:
            raise InputError(
                f"the batch already has column(s) {', '.join(map(repr, clash))}, which the results would "
                "replace; set output_prefix= (e.g. 'pred_')"
            )
        errors: list[str | None] = [None] * rows
        items: list[Any] = []
        positions: list[int] = []
        for row in range(rows):
            try:
                items.append(self._item(columns, row))
                positions.append(row)
            except (ValueError, TypeError) as error:
                errors[row] = str(error)
        results: list[Any] = [None] * rows
        if items:
            from .pipelines import Failure

            for row, result in zip(positions, self.pipeline().run(items, errors="collect", **self.options)):
                if isinstance(result, Failure):
                    errors[row] = str(result.error)
                else:
                    results[row] = result
        return {names[k]: v for k, v in self._columns(results, frame).items()} | {
            names["error"]: _strings(errors)
        }

    def _item(self, columns: dict[str, np.ndarray], row: int) -> Any:
        """The pipeline input of one row (a ValueError/TypeError for a row that cannot be one)."""
        from .pipelines import Pipeline

        def text(role: str) -> str:
            value = columns[self.columns[role]][row]
            if _missing(value):
                raise InputError(f"{self.columns[role]} is missing")
            return Pipeline.check_text(_str(value, self.columns[role]), self.columns[role])

        if self.task == "question-answering":
            return {"question": text("question"), "context": text("context")}
        if (
            self.task in ("text-classification", "feature-extraction")
            and self.columns["text_pair"] in columns
        ):
            pair = columns[self.columns["text_pair"]][row]
            if not _missing(pair):
                return {"text": text("text"), "text_pair": text("text_pair")}
        return text("text")

    def _output_names(self) -> dict[str, str]:
        names = {
            "text-classification": ["labels", "scores"] if "top_k" in self.options else ["label", "score"],
            "zero-shot-classification": ["labels", "scores"],
            "token-classification": ["entities"],
            "question-answering": ["answers"]
            if self.options.get("top_k", 1) != 1
            else ["answer", "score", "start", "end"],
            "feature-extraction": ["embedding"],
            "fill-mask": ["predictions"],
        }[self.task]
        return {name: self.output_prefix + name for name in [*names, "error"]}

    def _columns(self, results: list[Any], frame: bool) -> dict[str, np.ndarray]:
        """The result columns of one batch (None where a row failed)."""
        ok = [r is not None for r in results]

        def field(name: str) -> list[Any]:
            return [r[name] if r is not None else None for r in results]

        if self.task == "text-classification":
            if "top_k" in self.options:
                ranked = [r if r is None or isinstance(r, list) else [r] for r in results]
                return {
                    "labels": _objects([None if r is None else [x["label"] for x in r] for r in ranked]),
                    "scores": _objects([None if r is None else [x["score"] for x in r] for r in ranked]),
                }
            return {"label": _strings(field("label")), "score": _floats(field("score"))}
        if self.task == "zero-shot-classification":
            return {"labels": _objects(field("labels")), "scores": _objects(field("scores"))}
        if self.task == "token-classification":
            return {"entities": _objects(results)}
        if self.task == "question-answering":
            if self.options.get("top_k", 1) != 1:
                return {
                    "answers": _objects([r if r is None or isinstance(r, list) else [r] for r in results])
                }
            return {
                "answer": _strings(field("answer")),
                "score": _floats(field("score")),
                "start": np.array([-1 if r is None else r["start"] for r in results], dtype=np.int64),
                "end": np.array([-1 if r is None else r["end"] for r in results], dtype=np.int64),
            }
        if self.task == "fill-mask":
            # one mask gives a list of candidates, several a list per mask: always a list per mask here
            return {
                "predictions": _objects([r if r is None or isinstance(r[0], list) else [r] for r in results])
            }
        # feature-extraction
        if self.options["pooling"] == "none" or frame:
            vectors = [None if r is None else np.asarray(r[0] if r.ndim == 3 else r) for r in results]
            if self.options["pooling"] != "none":  # a failed row's vector is NaN, as its score would be
                width = next((len(v) for v in vectors if v is not None), 0)
                vectors = [np.full(width, np.nan, np.float32) if v is None else v for v in vectors]
            return {"embedding": _objects(vectors)}
        if not results:
            return {"embedding": np.zeros((0, 0), np.float32)}
        if not any(ok):
            width = self.pipeline().config.hidden_size
            return {"embedding": np.full((len(results), width), np.nan, np.float32)}
        width = next(len(r) for r in results if r is not None)
        matrix = np.full((len(results), width), np.nan, np.float32)
        for row, r in enumerate(results):
            if r is not None:
                matrix[row] = r
        return {"embedding": matrix}


def _missing(value: Any) -> bool:
    """A null cell as the formats hold it: None (JSON null), NaN (pandas object columns), pandas' NA."""
    return (
        value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"
    )


def _objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array holding each value as it is (numpy would turn equal-length lists into a 2-D array)."""
    out = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        out[index] = value
    return out


# Text columns: object arrays with None where a row has no value; a DataFrame gets pandas' string dtype (pd.NA),
# which is a string column in Arrow and Parquet even when no row has a value. (An all-None object array becomes
# Arrow's null type, so a numpy-format batch without a failed row writes a null `error` column: Ray users who write
# Parquet use batch_format="pandas". NumPy's StringDType would keep the type, but Ray pickles it.)
_TEXT_COLUMNS = ("label", "answer", "error")


def _strings(values: Sequence[str | None]) -> np.ndarray:
    return _objects(values)


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _str(value: Any, role: str) -> str:
    """A NumPy string scalar as str; anything else is not a text."""
    if isinstance(value, str):  # np.str_
        return str(value)
    raise TypeError(f"{role} must be a str, got {type(value).__name__}")
