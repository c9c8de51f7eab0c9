"""The checkpoint check (deberta_np.oracle, `deberta-np verify --model`): which references apply, exit statuses,
and live comparisons with transformers (skipped without the oracle extra)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deberta_np import DebertaConfig, DebertaV2Config, oracle
from tests.conftest import golden_case

ROOT = Path(__file__).resolve().parents[1]
has_transformers = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("torch", "transformers")),
    reason="needs the oracle extra (torch, transformers)",
)


def base_shaped(config: dict) -> dict:
    return {**config, "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072}  # fmt: skip


def test_published_slices_and_their_limits() -> None:
    config = json.loads((golden_case("base-c2p-p2c") / "config.json").read_text())
    base = oracle.PUBLISHED["microsoft/deberta-base"]
    assert not base.fits(DebertaConfig.from_dict(config))
    assert base.fits(DebertaConfig.from_dict(base_shaped(config)))
    exact = np.array(base.slices[1][1])
    assert [r["ok"] for r in oracle.slice_rows("microsoft/deberta-base", exact, "")] == [True, True]
    assert [r["ok"] for r in oracle.slice_rows("microsoft/deberta-base", exact + 3e-5, "")] == [True, False]
    assert [r["ok"] for r in oracle.slice_rows("microsoft/deberta-base", exact + 2e-4, "")] == [False, False]
    xlarge = oracle.PUBLISHED["microsoft/deberta-v2-xlarge"]
    v2 = np.array(xlarge.slices[0][1])
    assert [r["ok"] for r in oracle.slice_rows("microsoft/deberta-v2-xlarge", v2 + 5e-5, "")] == [True]
    assert [r["ok"] for r in oracle.slice_rows("microsoft/deberta-v2-xlarge", v2 + 2e-4, "")] == [False]
    v2_config = {"vocab_size": 128100, "hidden_size": 1536, "num_hidden_layers": 24, "num_attention_heads": 24,
                 "intermediate_size": 6144, "conv_kernel_size": 3, "position_buckets": 256,
                 "relative_attention": True, "max_relative_positions": -1}  # fmt: skip
    assert xlarge.fits(DebertaV2Config.from_dict(v2_config))
    assert not base.fits(DebertaV2Config.from_dict(v2_config))


def write_config(directory: Path, **fields: object) -> tuple[Path, DebertaConfig]:
    config = base_shaped(json.loads((golden_case("base-c2p-p2c") / "config.json").read_text()))
    config.update(fields)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory, DebertaConfig.from_dict(config)


def test_a_published_slice_applies_only_to_the_published_model(tmp_path: Path) -> None:
    name = "microsoft/deberta-base"
    # shaped like deberta-base, and nothing says it is: a fine-tune, say; the note says how to ask for the slice
    plain, config = write_config(tmp_path / "plain")
    got, why = oracle.published_model(plain, config, ["base"], None)
    assert got == "" and f"--published {name}" in why
    # the user says so
    assert oracle.published_model(plain, config, ["base"], name) == (name, "named by the user")
    # the Hugging Face cache names it (snapshot folders under models--microsoft--deberta-base)
    cached, _ = write_config(tmp_path / "models--microsoft--deberta-base" / "snapshots" / "abc")
    assert oracle.published_model(cached, config, ["base", "masked_lm"], None)[0] == name
    # config.json names it: the published model, unless a task head shows it is a fine-tune of it
    named, _ = write_config(tmp_path / "named", _name_or_path=name)
    assert oracle.published_model(named, config, ["base", "masked_lm"], None)[0] == name
    assert oracle.published_model(named, config, ["base", "sequence_classification"], None)[0] == ""
    # a name that cannot be this checkpoint, or an unknown one, is a usage error
    small = DebertaConfig.from_dict(json.loads((golden_case("base-c2p-p2c") / "config.json").read_text()))
    with pytest.raises(oracle.VerifyError, match="not shaped like microsoft/deberta-base"):
        oracle.published_model(plain, small, ["base"], name)
    with pytest.raises(oracle.VerifyError, match="published slices are known for"):
        oracle.published_model(plain, config, ["base"], "microsoft/deberta-large")
    assert oracle.published_model(plain, small, ["base"], None) == (
        "", "no published reference applies to this checkpoint")  # fmt: skip


def test_nothing_checked_is_status_2_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    report = oracle.run_checks(golden_case("base-c2p-p2c"))
    assert report.rows == [] and report.status == 2
    assert any("not installed" in note for note in report.notes)
    with pytest.raises(oracle.VerifyError, match="no such checkpoint directory"):
        oracle.run_checks(golden_case("base-c2p-p2c") / "nope")


def test_verify_exit_statuses(tmp_path: Path) -> None:
    """0 passed, 1 a check failed, 2 nothing could be checked / usage error; one line, no traceback."""
    for argv in (["--model", str(tmp_path / "nope")], ["--model", str(ROOT), "--published", "nope/nope"]):
        done = subprocess.run([sys.executable, "-m", "deberta_np", "verify", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == "", done.stderr
    done = subprocess.run([sys.executable, "-m", "conformance", "--checkpoint", str(tmp_path / "nope")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "no such checkpoint directory" in done.stderr


def test_a_conformance_package_in_the_working_directory_never_runs(tmp_path: Path) -> None:
    """A model folder that carries a `conformance/` package: verify started inside it must not import it."""
    model = tmp_path / "downloaded-model"
    shutil.copytree(golden_case("base-c2p-p2c"), model)
    marker = tmp_path / "planted-code-ran"
    (model / "conformance").mkdir()
    for name in ("__init__.py", "check.py", "__main__.py"):
        (model / "conformance" / name).write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    in_checkout = (
        "import sys\nfrom deberta_np.cli import UsageError, repository_conformance\n"
        "try:\n    print(repository_conformance().__file__)\n"
        "except UsageError as error:\n    sys.exit(f'refused: {error}')"
    )
    runs = [
        [sys.executable, "-m", "deberta_np", "verify", "--model", "."],
        [
            sys.executable,
            "-c",
            "from deberta_np.cli import main; raise SystemExit(main(['verify', '--model', '.']))",
        ],
        # without --model, verify runs the goldens of the source checkout deberta_np comes from (or refuses):
        [sys.executable, "-c", in_checkout],
    ]
    for argv in runs:
        done = subprocess.run(argv, cwd=model, capture_output=True, text=True, timeout=600)
        assert not marker.exists(), f"{argv}: the planted package ran"
        assert done.returncode in (0, 1, 2) and "Traceback" not in done.stderr, done.stderr[-2000:]
    if done.returncode == 0:  # deberta_np runs from this checkout (pytest's path, or an editable install)
        assert Path(done.stdout.strip()) == ROOT / "conformance" / "__init__.py"
    else:
        assert "python -m conformance" in done.stderr


@has_transformers
def test_random_configs_against_transformers() -> None:
    from conformance.live import random_configs

    rows = random_configs(examples=2)
    assert rows and all(r["ok"] for r in rows), rows


GOLDEN = ROOT / "conformance" / "golden" / "models"


@has_transformers
@pytest.mark.parametrize(
    "case", sorted(p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists())
)
def test_checkpoint_check_on_a_local_directory(case: str) -> None:
    report = oracle.run_checks(golden_case(case))
    assert len(report.rows) >= 2 and all(r["ok"] for r in report.rows), report.rows
    assert report.status == 0
    heads = oracle.checkable_heads(golden_case(case))
    losses = [r for r in report.rows if "loss vs transformers" in r["what"]]
    assert len(losses) == 2 * (len(heads) - 1)  # every task head's loss, float32 and float64
    assert report.notes == ["published slice: no published reference applies to this checkpoint"]


@has_transformers
def test_verify_from_another_directory_checks_a_fine_tune_without_a_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fine-tune shaped like a published model (here: the published shape is made the golden's), run from an
    unrelated directory: compared with transformers, never with the published slice; the slice only on request."""
    case = golden_case("c2p-clamped-abs-types-embproj")  # a sequence-classification fine-tune
    config = DebertaConfig.from_pretrained(case)
    shape = (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
             config.intermediate_size)  # fmt: skip
    published = oracle.Published(config.model_type, shape, oracle.PUBLISHED["microsoft/deberta-base"].slices)
    monkeypatch.setitem(oracle.PUBLISHED, "microsoft/deberta-base", published)
    monkeypatch.chdir(tmp_path)
    from deberta_np.cli import main

    assert main(["verify", "--model", str(case)]) == 0
    assert main(["verify", "--model", str(case), "--published", "microsoft/deberta-base"]) == 1
