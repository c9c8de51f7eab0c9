"""deberta_np.trace, the transformers trace backend and `deberta-np compare` on the committed golden models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deberta_np import load_model
from deberta_np.checkpoint_files import read_state_dict
from deberta_np.cli import main
from deberta_np.compare import UnusableTraces, compare_traces, default_tolerance
from deberta_np.config import config_from_pretrained
from deberta_np.errors import InputError
from deberta_np.safetensors_io import read_safetensors, write_safetensors
from deberta_np.trace import TRACE_NAMES, architecture_head, load_trace, save_trace, trace, trace_metadata
from tests.conftest import GOLDEN_MODELS

CASES = sorted(p.name for p in GOLDEN_MODELS.iterdir() if (p / "golden.safetensors").exists())
README = Path(__file__).resolve().parents[1] / "README.md"


def golden_inputs(case: str) -> dict[str, np.ndarray]:
    golden = read_safetensors(GOLDEN_MODELS / case / "golden.safetensors")[0]
    return {name.split(".", 1)[1]: value for name, value in golden.items() if name.startswith("inputs.")}


def traced(
    path: Path, dtype: str, fast: bool = True, case: str | None = None
) -> tuple[object, dict[str, np.ndarray]]:
    """The model at `path` (the head its config names) and its trace on the golden inputs of `case`."""
    head = architecture_head(config_from_pretrained(path))
    model = load_model(path, head, dtype=dtype)
    model.fast = fast
    return model, trace(model, **golden_inputs(case or path.name))


# ---------------------------------------------------------------------------------------------------------------
# The deberta_np trace is the spec, step by step
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_trace_is_bit_identical_to_the_spec(case: str) -> None:
    """Hidden states, attention maps and head outputs in the trace equal the readable spec's, bit for bit."""
    model, t = traced(GOLDEN_MODELS / case, "float64", fast=False)
    out = model(**golden_inputs(case), output_hidden_states=True, output_attentions=True)
    layers = model.config.num_hidden_layers
    for i in range(layers):
        hidden = t["conv.output"] if i == 0 and "conv.output" in t else t[f"layer.{i}.output"]
        np.testing.assert_array_equal(hidden, out.hidden_states[i + 1], err_msg=f"layer {i}")
        np.testing.assert_array_equal(t[f"layer.{i}.probs"], out.attentions[i], err_msg=f"layer {i}")
    np.testing.assert_array_equal(t["embeddings.output"], out.hidden_states[0])
    for field in ("logits", "start_logits", "end_logits"):
        if field in out.keys():
            np.testing.assert_array_equal(t[field], out[field])
    names = list(t)
    assert names[:4] == ["input_ids", "attention_mask", "token_type_ids", "position_ids"]
    assert (
        names.index("layer.0.query")
        < names.index("layer.0.output")
        < names.index(f"layer.{layers - 1}.query")
    )


@pytest.mark.parametrize(
    "case", ["base-c2p-p2c", "v2-v3-like-buckets-shared-key", "p2c-clamped-talking-head"]
)
def test_traced_terms_add_up_to_the_scores(case: str) -> None:
    """scores = (q.k + c2p + p2c) / sqrt(d * scale_factor) at attended pairs (talking heads mix them: skipped)."""
    model, t = traced(GOLDEN_MODELS / case, "float64")
    c = model.config
    mask = t["attention_mask"].astype(bool)
    pairs = np.broadcast_to(mask[:, None, :, None] & mask[:, None, None, :], t["layer.0.scores"].shape)
    scale = (c.head_dim * c.scale_factor) ** 0.5
    for i in range(c.num_hidden_layers):
        total = t[f"layer.{i}.query"] @ np.swapaxes(t[f"layer.{i}.key"], -1, -2)
        total = total + t.get(f"layer.{i}.c2p", 0.0) + t.get(f"layer.{i}.p2c", 0.0)
        if c.talking_head:
            assert f"layer.{i}.p2c" in t
            continue
        np.testing.assert_allclose(
            (total / scale)[pairs], t[f"layer.{i}.scores"][pairs], rtol=1e-12, atol=1e-12
        )
        assert (t[f"layer.{i}.scores"][~pairs] == np.finfo(np.float64).min).all()


def test_readme_documents_every_name() -> None:
    text = README.read_text(encoding="utf-8")
    for entry in TRACE_NAMES:
        assert f"`{entry.name}`" in text, entry.name


# ---------------------------------------------------------------------------------------------------------------
# transformers under the same names
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_transformers_trace_agrees_on_every_name(case: str, dtype: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from deberta_np.trace_transformers import load_transformers_model

    path = GOLDEN_MODELS / case
    model, ours = traced(path, dtype)
    theirs = trace(load_transformers_model(path, model.head, dtype), **golden_inputs(case))
    assert list(theirs) == list(ours)  # the same names, in the same (forward) order
    metadata = trace_metadata(model, ours)
    report = compare_traces(ours, theirs, metadata_a=metadata)
    assert report.first_divergence is None, "\n".join(report.lines())
    # the default tolerance is the one derived from the computation, tighter in float64
    assert report.rtol == default_tolerance(ours, theirs, metadata)
    assert report.rtol < (1e-4 if dtype == "float32" else 1e-12)


# ---------------------------------------------------------------------------------------------------------------
# compare locates a planted bug
# ---------------------------------------------------------------------------------------------------------------


def planted(tmp_path: Path, case: str, parameter: str) -> Path:
    """A copy of a golden checkpoint with one parameter of one layer perturbed."""
    source = GOLDEN_MODELS / case
    target = tmp_path / f"{case}-bug"
    target.mkdir()
    shutil.copyfile(source / "config.json", target / "config.json")
    state = {name: np.array(value, dtype=np.float32) for name, value in read_state_dict(source).items()}
    name = next(n for n in state if n.endswith(parameter))
    state[name] = state[name] + np.float32(0.05)
    write_safetensors(target / "model.safetensors", state, metadata={"format": "pt"})
    return target


@pytest.mark.parametrize(
    ("case", "parameter", "first"),
    [
        ("base-c2p-p2c", "encoder.layer.1.attention.self.pos_proj.weight", "layer.1.c2p"),
        ("base-c2p-p2c", "encoder.layer.1.attention.self.pos_q_proj.bias", "layer.1.p2c"),
        ("v2-v3-like-buckets-shared-key", "encoder.layer.1.attention.self.value_proj.bias", "layer.1.value"),
        ("v2-xlarge-like-conv-mlm", "encoder.layer.0.intermediate.dense.weight", "layer.0.intermediate"),
        ("v2-xlarge-like-conv-mlm", "encoder.conv.conv.bias", "conv.output"),
    ],
)
def test_compare_names_the_first_tensor_a_planted_bug_affects(
    tmp_path: Path, case: str, parameter: str, first: str, capsys: pytest.CaptureFixture[str]
) -> None:
    buggy, port = traced(planted(tmp_path, case, parameter), "float32", case=case)
    _, oracle = traced(GOLDEN_MODELS / case, "float64")
    save_trace(tmp_path / "port.safetensors", port, trace_metadata(buggy, port))
    save_trace(tmp_path / "oracle.npz", oracle, {})
    assert main(["compare", str(tmp_path / "port.safetensors"), str(tmp_path / "oracle.npz")]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"first divergence: {first}"
    ok_before = lines[1 : next(i for i, line in enumerate(lines) if line.startswith(first + " "))]
    assert ok_before and all(line.endswith("ok") for line in ok_before)


def test_compare_agrees_with_itself_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, t = traced(GOLDEN_MODELS / "base-c2p-p2c", "float32")
    save_trace(tmp_path / "a.safetensors", t, trace_metadata(model, t))
    assert main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "a.safetensors")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "first divergence: none"


# ---------------------------------------------------------------------------------------------------------------
# compare: padded positions, subsets, unusable input
# ---------------------------------------------------------------------------------------------------------------


def small_trace() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    return {
        "input_ids": np.array([[1, 5, 2, 0], [1, 2, 0, 0]]),
        "attention_mask": mask,
        "layer.0.scores": rng.normal(size=(2, 3, 4, 4)),
        "layer.0.output": rng.normal(size=(2, 4, 6)),
    }


def test_padded_positions_are_not_compared() -> None:
    a = small_trace()
    b = {name: value.copy() for name, value in a.items()}
    b["layer.0.output"][1, 3, :] += 10.0  # padded token of row 1
    b["layer.0.scores"][0, :, :, 3] += 10.0  # padded key of row 0
    b["layer.0.scores"][1, :, 2, :] += 10.0  # padded query of row 1
    assert compare_traces(a, b).first_divergence is None
    b["layer.0.scores"][0, 1, 2, 1] += 1e-3  # a real pair
    report = compare_traces(a, b)
    assert report.first_divergence == "layer.0.scores"
    assert report.rows[2].max_abs == pytest.approx(1e-3)


def test_a_subset_in_an_npz_file_is_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = small_trace()
    save_trace(tmp_path / "full.safetensors", a, {})
    np.savez(tmp_path / "port.npz", input_ids=a["input_ids"], **{"layer.0.output": a["layer.0.output"]})
    assert main(["compare", str(tmp_path / "port.npz"), str(tmp_path / "full.safetensors")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in out[1:-1]] == ["input_ids", "layer.0.output"]


def test_unusable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = small_trace()
    other = dict(a, input_ids=a["input_ids"] + 1)
    with pytest.raises(UnusableTraces, match="different inputs: input_ids"):
        compare_traces(a, other)
    with pytest.raises(UnusableTraces, match="no tensor name in common"):
        compare_traces({"x": a["layer.0.output"]}, {"y": a["layer.0.output"]})
    save_trace(tmp_path / "a.safetensors", a, {})
    save_trace(tmp_path / "b.safetensors", other, {})
    assert main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")]) == 2
    assert "different inputs" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "missing.safetensors")]) == 2
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert main(["compare", str(tmp_path / "bad.npz"), str(tmp_path / "a.safetensors")]) == 2


def test_shape_mismatch_and_nan_diverge() -> None:
    a = small_trace()
    b = dict(a, **{"layer.0.output": a["layer.0.output"][:, :, :5]})
    report = compare_traces(a, b)
    assert report.first_divergence == "layer.0.output" and "shape" in report.rows[-1].note
    c = {name: value.copy() for name, value in a.items()}
    c["layer.0.output"][0, 0, 0] = np.nan
    assert compare_traces(a, c).first_divergence == "layer.0.output"


def test_default_tolerance_follows_dtypes() -> None:
    a = small_trace()
    single = {name: v.astype(np.float32) if v.dtype.kind == "f" else v for name, v in a.items()}
    assert default_tolerance(a, a) == pytest.approx(np.finfo(np.float64).eps * 64 * 172)
    assert default_tolerance(a, single) == pytest.approx(np.finfo(np.float32).eps * 64 * 172)
    config = {"config": json.dumps({"hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2})}
    assert default_tolerance(a, a, config) == pytest.approx(np.finfo(np.float64).eps * 40**0.5 * 18)


# ---------------------------------------------------------------------------------------------------------------
# deberta-np trace
# ---------------------------------------------------------------------------------------------------------------


def test_trace_command_writes_names_config_and_version(tmp_path: Path) -> None:
    path = GOLDEN_MODELS / "c2p-clamped-abs-types-embproj"
    out = tmp_path / "t.safetensors"
    argv = ["trace", "--model", str(path), "--input-ids", "1,5,7,9,2", "--input-ids", "1,8,2"]
    assert main([*argv, "--dtype", "float64", "--output", str(out)]) == 0
    tensors, metadata = load_trace(out)
    assert json.loads(metadata["names"]) == list(tensors)
    assert json.loads(metadata["config"])["embedding_size"] == 24
    assert metadata["deberta_np_version"] and metadata["backend"] == "deberta_np"
    assert metadata["head"] == "sequence_classification" and metadata["dtype"] == "float64"
    assert tensors["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert tensors["logits"].shape == (2, 3) and tensors["layer.1.c2p"].shape == (2, 4, 5, 5)


def test_trace_command_with_the_transformers_backend(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    path = GOLDEN_MODELS / "v2-p2c-conv-groups-f16"
    for backend in ("deberta_np", "transformers"):
        argv = ["trace", "--model", str(path), "--input-ids", "1,5,7,9,2,4", "--input-ids", "1,8,2"]
        assert main([*argv, "--backend", backend, "--output", str(tmp_path / f"{backend}.npz")]) == 0
    assert main(["compare", str(tmp_path / "deberta_np.npz"), str(tmp_path / "transformers.npz")]) == 0


def test_a_multiple_choice_trace_checks_its_inputs_as_the_model_does() -> None:
    # One choice_rows for the model and its trace: a mask of another shape is named, not reshaped into rows.
    path = GOLDEN_MODELS / "v2-multiple-choice"
    model = load_model(path, architecture_head(config_from_pretrained(path)))
    inputs = golden_inputs("v2-multiple-choice")
    short = inputs["input_ids"][..., :-1]
    for run in (lambda **kw: trace(model, **kw), model):
        with pytest.raises(InputError, match=r"attention_mask has shape .* but input_ids has shape"):
            run(input_ids=inputs["input_ids"], attention_mask=np.ones_like(short))
