"""The `deberta-np` command line: every subcommand through `main([...])`, plus one real `python -m deberta_np`."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import pipeline_models
from deberta_np.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    names = ["mlm", "encoder", "sentiment", "nli", "ner", "qa"]
    return pipeline_models.build_all(tmp_path_factory.mktemp("cli-models"), names)


@pytest.fixture(scope="module")
def models_v2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """DeBERTa v2/v3 checkpoints (SentencePiece tokenizer)."""
    names = ["nli-v3", "ner-v3", "qa-v3", "v3-discriminator"]
    return pipeline_models.build_all(tmp_path_factory.mktemp("cli-models-v2"), names)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, list, str]:
    """(exit status, parsed stdout JSON lines, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_python_m_deberta_np_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deberta_np", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for command in (
        "fill-mask",
        "classify",
        "zero-shot",
        "ner",
        "qa",
        "embed",
        "inspect",
        "convert",
        "verify",
        "bench",
    ):
        assert command in done.stdout


def test_every_subcommand_help_shows_an_example(capsys: pytest.CaptureFixture) -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and f"deberta-np {command}" in out, command


# --- tasks ------------------------------------------------------------------------------------------------------


def test_fill_mask(capsys: pytest.CaptureFixture, models: dict) -> None:
    status, lines, err = run(
        capsys, "fill-mask", "--model", models["mlm"], "Paris is the [MASK] of France.", "--top-k", 2
    )
    assert status == 0 and err == ""  # no progress bar: stderr is not a terminal
    assert len(lines) == 1 and len(lines[0]) == 2
    assert set(lines[0][0]) == {"score", "token", "token_str", "sequence"}
    _, lines, err = run(
        capsys, "fill-mask", "--model", models["mlm"], "--text", "A [MASK].", "--target", " dog"
    )
    assert lines[0][0]["token_str"] == " dog"
    # warnings are the tool's own one-line messages, not Python's UserWarning with a source line
    assert err.startswith("deberta-np fill-mask: warning: ") and "using its first token 'Ġdog'" in err
    assert err.count("\n") == 1 and "UserWarning" not in err
    _, lines, _ = run(capsys, "fill-mask", "--model", models["mlm"], "A [MASK].", "--top-k", "all")
    assert len(lines[0]) == 50265  # every token, as classify's --top-k all gives every label


def test_classify_jsonl_with_bad_lines(capsys: pytest.CaptureFixture, models: dict, tmp_path: Path) -> None:
    lines = [
        '"I love it."',
        "{not json",
        '{"text": "A man eats.", "text_pair": "Someone eats."}',
        '""',
        "",
        '{"txt": 1}',
        '"ok"',
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    status, out, err = run(
        capsys, "classify", "--model", models["sentiment"], "--input", tmp_path / "in.jsonl", "--top-k", "all"
    )
    assert status == 1
    # one output line per input line, in order: an error record where a line could not be used
    assert ["error" in o if isinstance(o, dict) else False for o in out] == [
        False, True, False, True, True, True, False]  # fmt: skip
    assert out[4] == {"error": "blank line", "input": f"{tmp_path / 'in.jsonl'} line 5"}
    assert len(out[0]) == 3 and {r["label"] for r in out[0]} == {"negative", "neutral", "positive"}
    assert "line 2: invalid JSON" in err and "line 4: text is empty" in err and "line 6: expected" in err
    assert "line 1:" not in err and "line 7:" not in err


def test_classify_pair_stdin_and_id2label(
    capsys: pytest.CaptureFixture, models: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = run(
        capsys, "classify", "--model", models["sentiment"], "A man eats.", "--pair", "Someone eats."
    )
    assert status == 0 and len(out[0]) == 1
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'"first"\n{"text": "second"}\n')))
    labels = '{"0": "neg", "1": "mid", "2": "pos"}'
    status, out, _ = run(
        capsys, "classify", "--model", models["sentiment"], "--id2label", labels, "--max-length", 4
    )
    assert status == 0 and len(out) == 2 and out[0][0]["label"] in ("neg", "mid", "pos")


def test_zero_shot_ner_embed(capsys: pytest.CaptureFixture, models: dict) -> None:
    status, out, _ = run(
        capsys,
        "zero-shot",
        "--model",
        models["nli"],
        "--labels",
        "sports,politics",
        "Who won?",
        "--multi-label",
    )
    assert status == 0 and sorted(out[0]["labels"]) == ["politics", "sports"]
    status, out, _ = run(
        capsys,
        "ner",
        "--model",
        models["ner"],
        "--aggregation",
        "first",
        "Wolfgang Kowalczykowski lives in Berlin.",
    )
    assert status == 0 and all("entity_group" in e for e in out[0])
    status, out, _ = run(capsys, "embed", "--model", models["encoder"], "One.", "Two words.")
    assert status == 0 and len(out) == 2 and len(out[0]) == 32
    status, out, _ = run(capsys, "embed", "--model", models["encoder"], "--pooling", "none", "Hello world!")
    assert len(out[0]) == 5 and len(out[0][0]) == 32  # [tokens, hidden]


def test_qa_from_arguments_file_and_jsonl(
    capsys: pytest.CaptureFixture, models: dict, tmp_path: Path
) -> None:
    context = "My name is Wolfgang and I live in Berlin."
    (tmp_path / "context.txt").write_text(context)
    status, out, _ = run(
        capsys,
        "qa",
        "--model",
        models["qa"],
        "--question",
        "Where?",
        "--context",
        f"@{tmp_path / 'context.txt'}",
    )
    assert status == 0 and context[out[0]["start"] : out[0]["end"]] == out[0]["answer"]
    lines = [
        json.dumps({"question": "Where?", "context": context}),
        json.dumps({"question": "x" * 500, "context": context}),
    ]
    lines.append(json.dumps({"question": "Where?"}))
    (tmp_path / "qa.jsonl").write_text("\n".join(lines))
    status, out, err = run(
        capsys, "qa", "--model", models["qa"], "--input", tmp_path / "qa.jsonl", "--max-seq-len", 32
    )
    assert status == 1 and "answer" in out[0] and "error" in out[1] and "error" in out[2]
    assert "line 2: the question is" in err and "line 3: expected an object" in err


def test_missing_head_and_usage_errors(capsys: pytest.CaptureFixture, models: dict) -> None:
    status, out, err = run(capsys, "fill-mask", "--model", models["encoder"], "A [MASK].")
    assert status == 1 and out == [] and "needs a masked-language-model head" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", "--model", str(models["sentiment"]), "a", "b", "--pair", "c"])
    assert exit_info.value.code == 2 and "--pair goes with exactly one text" in capsys.readouterr().err
    status, _, err = run(capsys, "classify", "--model", "/no/such/dir", "a")
    assert status == 1 and "no such checkpoint directory" in err


# --- checkpoint tools ---------------------------------------------------------------------------------------------


def test_inspect(capsys: pytest.CaptureFixture, models: dict) -> None:
    status, out, _ = run(capsys, "inspect", "--model", models["mlm"])
    info = out[0]
    assert status == 0 and info["heads"] == {"base": "ok", "masked_lm": "ok (lm_predictions.lm_head.*)"}
    assert info["stored_dtypes"] == {"F32": info["parameters"]} and info["config"]["hidden_size"] == 32
    assert info["tokenizer"] == ["vocab.json", "merges.txt"] and info["files"] == ["model.safetensors"]
    assert info["family"] == "v1" and info["notes"] == []


def test_convert_to_float16_and_back(capsys: pytest.CaptureFixture, models: dict, tmp_path: Path) -> None:
    half = tmp_path / "half"
    status, out, _ = run(capsys, "convert", "--model", models["qa"], "--out", half, "--dtype", "float16")
    assert status == 0 and out[0]["dtype"] == "float16" and "vocab.json" in out[0]["copied"]
    status, out, _ = run(capsys, "inspect", "--model", half)
    assert set(out[0]["stored_dtypes"]) == {"F16"}
    status, out, _ = run(
        capsys, "qa", "--model", half, "--question", "Where?", "--context", "I live in Berlin."
    )
    assert status == 0 and out[0]["answer"]
    with pytest.raises(SystemExit):
        main(["convert", "--model", str(models["qa"]), "--out", str(half)])  # exists: needs --force
    assert "--force" in capsys.readouterr().err
    status, out, _ = run(capsys, "convert", "--model", half, "--out", tmp_path / "full", "--force")
    assert status == 0 and out[0]["dtype"] == "float32"


def test_bench(capsys: pytest.CaptureFixture, models: dict) -> None:
    status, out, _ = run(
        capsys, "bench", "--model", models["encoder"], "--batch", "1,2", "--seq", 8, "--repeats", 1
    )
    assert status == 0 and [(o["batch"], o["seq"]) for o in out] == [(1, 8), (2, 8)]
    assert all(o["ms_per_batch"] > 0 and o["tokens_per_s"] > 0 for o in out)


def test_verify_prints_rows_and_fails_on_a_failure(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from deberta_np import oracle

    rows = [
        {"suite": "checkpoint", "case": "x", "what": "a", "value": "1e-07", "limit": "1e-05", "ok": True},
        {"suite": "checkpoint", "case": "x", "what": "b", "value": "1e-03", "limit": "1e-05", "ok": False},
    ]
    report = oracle.Report(rows, ["published slice: none applies"])
    monkeypatch.setattr(oracle, "run_checks", lambda *args, **kwargs: report)
    status, out, err = run(capsys, "verify", "--model", tmp_path)
    assert status == 1 and out == rows and "1 passed, 1 failed" in err and "note: published slice" in err
    report.rows = rows[:1]
    assert run(capsys, "verify", "--model", tmp_path)[0] == 0
    report.rows = []
    status, out, err = run(capsys, "verify", "--model", tmp_path)
    assert status == 2 and out == [] and "nothing could be checked" in err


def test_convert_bin_to_safetensors(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    import numpy as np

    from deberta_np.checkpoint_files import read_state_dict

    source = ROOT / "conformance" / "golden" / "models" / "mlm-microsoft-layout"  # a pytorch_model.bin
    status, out, _ = run(capsys, "convert", "--model", source, "--out", tmp_path / "st")
    assert status == 0 and out[0]["copied"] == ["config.json"]
    before, after = read_state_dict(source), read_state_dict(tmp_path / "st" / "model.safetensors")
    assert set(before) == set(after)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    status, out, _ = run(capsys, "inspect", "--model", tmp_path / "st")
    assert out[0]["files"] == ["model.safetensors"] and out[0]["heads"]["masked_lm"].startswith("ok")


# --- DeBERTa v2/v3 --------------------------------------------------------------------------------------------------


def test_v2_classify_ner_qa_embed(capsys: pytest.CaptureFixture, models_v2: dict) -> None:
    status, out, _ = run(
        capsys,
        "classify",
        "--model",
        models_v2["nli-v3"],
        "A man eats.",
        "--pair",
        "Someone eats.",
        "--top-k",
        "all",
    )
    assert status == 0 and {r["label"] for r in out[0]} == {"contradiction", "entailment", "neutral"}
    text = "Zoë Saldaña flew from Zürich to São Paulo."
    status, out, _ = run(capsys, "ner", "--model", models_v2["ner-v3"], "--aggregation", "simple", text)
    assert status == 0 and out[0] and all(e["word"] == text[e["start"] : e["end"]].strip() for e in out[0])
    status, out, _ = run(capsys, "ner", "--model", models_v2["ner-v3"], text, "--ignore-labels", "")
    assert [e["word"] for e in out[0]][:2] == ["▁Zoë", "▁Sal"]  # SentencePiece pieces
    context = "My name is Wolfgang and I live in Berlin."
    status, out, _ = run(
        capsys, "qa", "--model", models_v2["qa-v3"], "--question", "Where?", "--context", context
    )
    assert status == 0 and context[out[0]["start"] : out[0]["end"]] == out[0]["answer"]
    status, out, _ = run(capsys, "embed", "--model", models_v2["v3-discriminator"], "One.", "Two words.")
    assert status == 0 and len(out) == 2 and len(out[0]) == 32


def test_v2_fill_mask_refuses_a_v3_discriminator(capsys: pytest.CaptureFixture, models_v2: dict) -> None:
    status, out, err = run(
        capsys, "fill-mask", "--model", models_v2["v3-discriminator"], "Paris is the [MASK]."
    )
    assert status == 1 and out == []
    assert "replaced-token-detection discriminator" in err and "no usable masked-language-model head" in err


def test_v2_inspect(capsys: pytest.CaptureFixture, models_v2: dict) -> None:
    status, out, _ = run(capsys, "inspect", "--model", models_v2["qa-v3"])
    info = out[0]
    assert status == 0 and info["family"] == "v2" and info["model_type"] == "deberta-v2"
    assert info["heads"] == {"base": "ok", "question_answering": "ok"} and info["notes"] == []
    assert info["config"]["position_buckets"] == 256 and info["config"]["share_att_key"] is True
    assert info["tokenizer"] == ["tokenizer_config.json", "spm.model"]
    status, out, _ = run(capsys, "inspect", "--model", models_v2["v3-discriminator"])
    info = out[0]
    assert status == 0 and info["family"] == "v2" and info["heads"]["base"] == "ok"
    assert "replaced-token-detection discriminator" in info["heads"]["masked_lm"]
    assert info["heads"]["replaced_token_detection"].startswith("present (mask_predictions.*)")
    assert len(info["notes"]) == 1 and "no usable masked-language-model head" in info["notes"][0]


def test_v2_convert(capsys: pytest.CaptureFixture, models_v2: dict, tmp_path: Path) -> None:
    half = tmp_path / "half"
    status, out, _ = run(
        capsys, "convert", "--model", models_v2["ner-v3"], "--out", half, "--dtype", "float16"
    )
    assert status == 0 and out[0]["copied"] == ["config.json", "tokenizer_config.json", "spm.model"]
    status, out, _ = run(capsys, "inspect", "--model", half)
    assert out[0]["family"] == "v2" and set(out[0]["stored_dtypes"]) == {"F16"}
    status, out, _ = run(
        capsys, "ner", "--model", half, "--aggregation", "first", "Ada Lovelace lives in London."
    )
    assert status == 0 and isinstance(out[0], list)


# --- a Unix filter: one output line per input line, closed pipes, Ctrl-C ------------------------------------------


def test_every_input_line_gets_one_output_line(
    capsys: pytest.CaptureFixture, models: dict, tmp_path: Path
) -> None:
    lines = [
        b'\xef\xbb\xbf"first, after a byte-order mark"',
        b"",
        b"\xff\xfe not UTF-8",
        b"a plain text line",
        b"[" * 100_000,
        b"1" * 5000,
        b'{"text": "last"}',
    ]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    status, out, err = run(
        capsys, "classify", "--model", models["sentiment"], "--input", tmp_path / "in.jsonl"
    )
    assert status == 1 and len(out) == len(lines)
    errors = [o.get("error", "") if isinstance(o, dict) else "" for o in out]
    assert errors[0] == errors[6] == ""
    assert errors[1] == "blank line" and errors[2] == "not UTF-8 (byte 1 is 0xff)"
    assert "pass --plain" in errors[3] and "nested too deeply" in errors[4] and "4300 digits" in errors[5]
    assert all(o["input"] == f"{tmp_path / 'in.jsonl'} line {i + 1}" for i, o in enumerate(out) if errors[i])
    assert "Traceback" not in err
    # --plain: one text per line, JSON or not
    (tmp_path / "plain.txt").write_text('one text\n"quoted" and more\n', encoding="utf-8")
    status, out, _ = run(
        capsys, "classify", "--model", models["sentiment"], "--input", tmp_path / "plain.txt", "--plain"
    )
    assert status == 0 and len(out) == 2 and all("label" in o[0] for o in out)


def test_qa_refuses_an_empty_context_as_the_python_api_does(
    capsys: pytest.CaptureFixture, models: dict
) -> None:
    status, out, err = run(capsys, "qa", "--model", models["qa"], "--question", "Who?", "--context", "")
    assert "input 1: context is empty" in err
    assert status == 1 and out == [{"error": "context is empty", "input": "input 1"}]
    status, out, _ = run(capsys, "qa", "--model", models["qa"], "--question", "", "--context", "Here.")
    assert status == 1 and out[0]["error"] == "question is empty"


def cli(*argv: object) -> list[str]:
    return [sys.executable, "-m", "deberta_np", *map(str, argv)]


def test_a_closed_pipe_ends_quietly_and_ctrl_c_exits_130(models: dict, tmp_path: Path) -> None:
    (tmp_path / "many.jsonl").write_text("".join(f'"text number {i}"\n' for i in range(300)))
    command = cli(
        "classify", "--model", models["sentiment"], "--input", tmp_path / "many.jsonl", "--batch-size", 2
    )
    # `| head -1`: read one line, close the pipe
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 141 and err == b"", err.decode()
    # Ctrl-C while it runs
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130 and b"Traceback" not in err, err.decode()
    # stdout closed from the start (`>&-`)
    done = subprocess.run(["bash", "-c", " ".join(f"'{a}'" for a in cli("inspect", "--model", models["sentiment"])) + " >&-"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (
        done.returncode == 1 and done.stderr.strip() == "deberta-np inspect: error: standard output is closed"
    )


def test_tokenizer_option_and_what_fill_mask_says_of_a_classifier(
    capsys: pytest.CaptureFixture, models: dict, tmp_path: Path
) -> None:
    bare = tmp_path / "no-tokenizer"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(models["sentiment"] / name, bare / name)
    status, _, err = run(capsys, "classify", "--model", bare, "Fine.")
    assert status == 1 and "tokenizer" in err
    status, out, _ = run(capsys, "classify", "--model", bare, "--tokenizer", models["sentiment"], "Fine.")
    assert status == 0 and out == run(capsys, "classify", "--model", models["sentiment"], "Fine.")[1]
    status, _, err = run(capsys, "fill-mask", "--model", models["sentiment"], "A [MASK].")
    assert status == 1 and "Fine-tuning drops the pretraining MLM head" in err and "v3" not in err


def test_convert_drops_tied_copies_and_records_the_dtype(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    from deberta_np import DebertaForMaskedLM
    from deberta_np.checkpoint_files import read_state_dict
    from deberta_np.safetensors_io import write_safetensors

    source = ROOT / "conformance" / "golden" / "models" / "mlm-legacy-embproj"  # cls.predictions.*, tied
    state = dict(read_state_dict(source))
    state["cls.predictions.decoder.weight"] = state["deberta.embeddings.word_embeddings.weight"]
    state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"]
    copies = tmp_path / "with-copies"
    copies.mkdir()
    shutil.copyfile(source / "config.json", copies / "config.json")
    write_safetensors(copies / "model.safetensors", state)
    for dtype in ("float32", "float16"):
        status, out, _ = run(
            capsys, "convert", "--model", copies, "--out", tmp_path / dtype, "--dtype", dtype
        )
        assert status == 0
        assert out[0]["tied_copies_dropped"] == [
            "cls.predictions.decoder.bias",
            "cls.predictions.decoder.weight",
        ]
        assert set(read_state_dict(tmp_path / dtype)) == set(read_state_dict(source))
        assert json.loads((tmp_path / dtype / "config.json").read_text())["torch_dtype"] == dtype
    ids = [[1, 5, 9, 2]]  # the same weights, tied again on loading: the same logits, bit for bit
    expected = DebertaForMaskedLM.from_pretrained(copies)(ids).logits
    assert np.array_equal(DebertaForMaskedLM.from_pretrained(tmp_path / "float32")(ids).logits, expected)


def test_warnings_are_one_line_messages(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    import deberta_np.cli as cli_module

    def warn(args: object) -> int:
        warnings.warn("something to know", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli_module, "cmd_inspect", warn)
    assert main(["inspect", "--model", "x"]) == 0
    assert capsys.readouterr().err == "deberta-np inspect: warning: something to know\n"


def test_convert_reads_config_json_through_the_checked_reader(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    source = tmp_path / "deep"
    shutil.copytree(ROOT / "conformance" / "golden" / "models" / "base-c2p-p2c", source)
    (source / "config.json").write_text("[" * 100_000)  # RecursionError in json.loads
    status = main(["convert", "--model", str(source), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1 and "config.json: not valid JSON" in err and "Traceback" not in err
