"""`deberta-np TASK --input FILE --shard i/n --output FILE`: a job array splits a corpus, line numbers kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import pipeline_models
from deberta_np import corpus_io
from deberta_np.cli import main

LINES = [
    '"A short one."',
    '{"text": "A much longer text about Berlin and Paris."}',
    "",  # blank: an error record of its own
    "not json",
    '"Mid length text."',
    '""',
    '"The last text of the file."',
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pipeline_models.build_all(tmp_path_factory.mktemp("cli-corpus-models"), ["sentiment", "encoder"])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    return path


def records(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, list[dict]]:
    status = main([str(a) for a in argv])
    return status, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_shards_cover_every_line_once_with_its_number_and_the_plain_result(
    capsys: pytest.CaptureFixture, models: dict, corpus: Path
) -> None:
    # batch size 1: every text runs alone in both runs, so the results are the same bit for bit
    common = ["classify", "--model", models["sentiment"], "--input", corpus, "--batch-size", 1]
    status, plain = records(capsys, *common)
    assert status == 1  # three bad lines
    numbered = list(range(1, len(LINES) + 1))
    by_line = dict(zip(numbered, plain))  # one output line per input line
    seen: dict[int, dict] = {}
    for index in range(3):
        status, shard = records(capsys, *common, "--shard", f"{index}/3")
        for record in shard:
            assert (record["line"] - 1) % 3 == index and record["line"] not in seen
            seen[record["line"]] = record
    assert sorted(seen) == numbered
    for number, record in seen.items():
        plain_line = by_line[number]
        if isinstance(plain_line, dict) and set(plain_line) == {"error", "input"}:  # an error record
            assert record["result"] is None and record["error"] == plain_line["error"]
        else:
            assert record["result"] == plain_line and record["error"] is None
    assert seen[3]["error"] == "blank line" and seen[6]["error"] == "text is empty"
    assert seen[4]["error"] == by_line[4]["error"]  # not JSON: the plain run's message


@pytest.mark.parametrize("name", ["part.parquet", "part.jsonl", "part"])
def test_output_file_parquet_or_json_lines(
    capsys: pytest.CaptureFixture, models: dict, corpus: Path, tmp_path: Path, name: str
) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")  # without it, asking for Parquet is refused (tested below)
    out = tmp_path / name
    argv = ["embed", "--model", models["encoder"], "--input", corpus, "--shard", "1/2", "--output", out]
    status, printed = records(capsys, *argv)
    assert status == 1 and printed == []  # shard 1/2 holds line 6, the empty text
    status, expected = records(capsys, *argv[:-2])  # the same shard to stdout
    assert not Path(f"{out}.partial").exists()
    if corpus_io.output_format(str(out)) == "parquet":
        pq = pytest.importorskip("pyarrow.parquet")
        table = pq.read_table(out)
        assert table.schema.names == ["line", "result", "error"]
        rows = [
            {
                "line": r["line"],
                "result": None if r["result"] is None else json.loads(r["result"]),
                "error": r["error"],
            }
            for r in table.to_pylist()
        ]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == expected and [r["line"] for r in rows] == [2, 4, 6]


def test_output_format_and_shard_refusals(
    capsys: pytest.CaptureFixture, models: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus_io.importlib.util, "find_spec", lambda name: None)  # no pyarrow
    assert corpus_io.output_format("out.bin") == "jsonl"
    with pytest.raises(ValueError, match="needs pyarrow"):
        corpus_io.output_format("out.parquet")
    monkeypatch.undo()
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(SystemExit) as exit_:
            main(["classify", "--model", str(models["sentiment"]), "--input", "x", "--shard", bad])
        assert exit_.value.code == 2 and "--shard" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["classify", "--model", str(models["sentiment"]), "A text.", "--shard", "0/2"])
    assert exit_.value.code == 2 and "not inputs on the command line" in capsys.readouterr().err
