"""Corpora on the command line: `--shard i/n` (a job array splits one input file) and `--output FILE` (Parquet).

    deberta-np classify --model DIR --input corpus.jsonl --shard 0/4 --output part-0.parquet   # job 0 of 4
    ...
    deberta-np classify --model DIR --input corpus.jsonl --shard 3/4 --output part-3.parquet   # job 3 of 4

Shard i of n (0 <= i < n) takes the input lines whose number N (1-based) has (N - 1) % n == i,
so n processes, on one machine or many, cover every line once without a scheduler. With --shard or --output each
result is a record that keeps its input line number: {"line": N, "result": <what the command prints for the line,
or null>, "error": <the problem, or null>}. --output writes them to FILE: Parquet (columns line int64, result string
holding that JSON text, error string) for a .parquet/.pq name, or any other name but .jsonl/.json/.ndjson when
pyarrow is installed; JSON lines otherwise. The file appears under its name only once complete (it is written
beside it and renamed). Without --output the records go to stdout as JSON lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
ROW_GROUP = 4096  # records per Parquet row group: memory stays bounded on large corpora


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` -> (i, n), 0 <= i < n (an argparse type)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"shard i/n needs n >= 1 and 0 <= i < n, got {text!r}")
    return index, count


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    # Marks the task commands: `trace` has an --output of its own, which is no record file.
    parser.set_defaults(records=True)
    parser.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="process only lines N with (N-1) %% n == i, for n processes i = 0..n-1 (output keeps line numbers)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="write {line, result, error} records to FILE: Parquet if pyarrow is installed (or .parquet), "
        "JSON lines for .jsonl",
    )


def in_shard(number: int, shard: tuple[int, int] | None) -> bool:
    """Whether input line `number` (1-based) belongs to shard (i, n); every line does without --shard."""
    return shard is None or (number - 1) % shard[1] == shard[0]


def output_format(path: str) -> str:
    """'parquet' or 'jsonl' for an output file name (ValueError: Parquet asked for without pyarrow)."""
    suffix = Path(path).suffix.lower()
    has_pyarrow = importlib.util.find_spec("pyarrow") is not None
    if suffix in JSON_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        if not has_pyarrow:
            raise ValueError(
                f"{path}: writing Parquet needs pyarrow (pip install pyarrow), or name a .jsonl file"
            )
        return "parquet"
    return "parquet" if has_pyarrow else "jsonl"


def label_number(label: str) -> int:
    """The number in an input label ("corpus.jsonl line 12" -> 12, "input 2" -> 2)."""
    return int(label.rsplit(" ", 1)[-1])


class RecordSink:
    """Where the {line, result, error} records go: stdout, a JSON lines file or a Parquet file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.format = "jsonl" if path is None else output_format(path)
        self._partial = None if path is None else Path(f"{path}.partial")
        self._stream: TextIO | None = None
        self._writer: Any = None
        self._rows: list[dict[str, Any]] = []

    def __enter__(self) -> RecordSink:
        if self._partial is not None and self.format == "jsonl":
            self._stream = open(self._partial, "w", encoding="utf-8")
        return self

    def write(self, label: str, result: Any, error: BaseException | str | None) -> None:
        line = label_number(label)
        text = None if error is not None else json.dumps(result, ensure_ascii=False)
        message = None if error is None else str(error)
        if self.format == "parquet":
            self._rows.append({"line": line, "result": text, "error": message})
            if len(self._rows) >= ROW_GROUP:
                self._flush()
            return
        record = json.dumps({"line": line, "result": None, "error": message}, ensure_ascii=False)
        if text is not None:  # the result's JSON text as the command prints it, spliced in unparsed
            record = record.replace('"result": null', f'"result": {text}', 1)
        print(record, file=self._stream or sys.stdout)

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("line", pa.int64()), ("result", pa.string()), ("error", pa.string())])
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._partial, schema)
        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=schema))
        self._rows = []

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._partial is None:
            return
        if self.format == "parquet" and (self._rows or self._writer is None):
            self._flush()  # also an empty shard: a valid file with no rows
        if self._writer is not None:
            self._writer.close()
        if self._stream is not None:
            self._stream.close()
        if kind is None:
            os.replace(self._partial, self.path)  # complete: under its name
        else:
            self._partial.unlink(missing_ok=True)
