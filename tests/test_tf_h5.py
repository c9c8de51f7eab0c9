"""TensorFlow checkpoints: tf_model.h5 as transformers 4.57.6's TF classes save it, read with h5py only.

The goldens (conformance/golden/tf, made by `python -m conformance.generate_tf` with TensorFlow 2.21.0) hold
TF's own outputs; deberta_np loading the .h5 must reproduce them. The other tests plant one fault in a copy of a
golden file and check that it is caught: by a CheckpointError naming the dataset, or by the outputs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.cases import TF_CASES
from conformance.tf_suite import GOLDEN, case_differences, cases, run_checks
from deberta_np import CheckpointError
from deberta_np.checkpoint_files import find_checkpoint_files, read_state_dict
from deberta_np.config import config_from_pretrained
from deberta_np.tf_h5 import pytorch_name, read_tf_h5
from tests.tolerance import encoder_terms, reordering_tolerance

try:
    import h5py
except ModuleNotFoundError:  # the tests that read .h5 files skip; the pure ones still run
    h5py = None

needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py not installed (pip install 'deberta_np[tf]')")
TF_HEADS = {(case.version, case.head) for case in TF_CASES}


def tolerance(directory: Path, magnitude: float, length: int) -> float:
    """float32 reordering bound for the encoder's chain of reductions plus a head (pooler + classifier, or MLM
    transform + LayerNorm + decoder: at most four more sums of max(hidden, embedding) terms)."""
    config = config_from_pretrained(directory)
    head_terms = 4 * max(config.hidden_size, config.embedding_size)
    return reordering_tolerance(np.float32, encoder_terms(config, length) + head_terms, magnitude)


def test_every_tf_head_class_has_a_golden() -> None:
    # transformers 4.57.6 has TF classes for these heads (v1 has no TFDebertaForMultipleChoice)
    v1 = {"base", "masked_lm", "sequence_classification", "token_classification", "question_answering"}
    assert {("v1", h) for h in v1} | {("v2", h) for h in v1 | {"multiple_choice"}} == TF_HEADS
    assert sorted(p.name for p in cases()) == sorted(case.name for case in TF_CASES)


def test_committed_files_are_small() -> None:
    for directory in cases():
        for file in directory.iterdir():
            assert file.stat().st_size < 200 * 1024, file


@needs_h5py
@pytest.mark.parametrize("case", [case.name for case in TF_CASES])
def test_tf_golden(case: str) -> None:
    differences = case_differences(GOLDEN / case)
    names = {d.what for d in differences}
    assert any(n.startswith("attentions.") for n in names) and any(
        n.startswith("hidden_states.") for n in names
    )
    assert any(n.startswith(("logits", "start_logits", "last_hidden_state")) for n in names)
    for d in differences:
        assert d.max_abs <= tolerance(GOLDEN / case, d.magnitude, d.length), d


@needs_h5py
def test_conformance_suite_rows_pass() -> None:
    rows = run_checks()
    assert len(rows) >= 2 * len(TF_CASES) and all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]


def test_conformance_suite_without_h5py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    rows = run_checks()  # one SKIP row that says what to install, never a silent pass
    assert len(rows) == 1 and rows[0]["skipped"] and "pip install 'deberta_np[tf]'" in rows[0]["value"]


def test_without_h5py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(CheckpointError, match=r"tf_model\.h5: .*needs h5py: pip install 'deberta_np\[tf\]'"):
        read_tf_h5(GOLDEN / "tf-v1-base" / "tf_model.h5")


def test_names_and_layouts() -> None:
    assert pytorch_name("deberta/encoder/layer_._3/attention/self/in_proj/kernel", 2) == (
        "deberta.encoder.layer.3.attention.self.in_proj.weight",
        (1, 0),
    )
    assert pytorch_name("deberta/encoder/conv/conv/kernel", 3) == (
        "deberta.encoder.conv.conv.weight",
        (2, 1, 0),
    )
    assert pytorch_name("deberta/embeddings/LayerNorm/gamma", 1) == (
        "deberta.embeddings.LayerNorm.weight",
        None,
    )
    assert pytorch_name("deberta/embeddings/LayerNorm/beta", 1) == ("deberta.embeddings.LayerNorm.bias", None)
    assert pytorch_name("deberta/embeddings/token_type_embeddings/embeddings", 2)[0] == (
        "deberta.embeddings.token_type_embeddings.weight"
    )
    assert pytorch_name("deberta/encoder/rel_embeddings.weight", 2) == (
        "deberta.encoder.rel_embeddings.weight",
        None,
    )
    with pytest.raises(CheckpointError, match="4 dimensions"):
        pytorch_name("classifier/kernel", 4)


@needs_h5py
def test_directory_with_only_tf_model_h5() -> None:
    directory = GOLDEN / "tf-v2-seqcls-own-pos-proj"
    assert [f.name for f in find_checkpoint_files(directory)] == ["tf_model.h5"]
    state = read_state_dict(directory)
    # the TF v2 class keeps v1's names pos_proj / pos_q_proj for PyTorch's pos_key_proj / pos_query_proj
    assert "deberta.encoder.layer.0.attention.self.pos_key_proj.weight" in state
    assert "deberta.encoder.layer.0.attention.self.pos_query_proj.bias" in state
    assert not any(".pos_proj." in n or ".pos_q_proj." in n for n in state)
    # v1 has those names in PyTorch too: kept
    assert "deberta.encoder.layer.0.attention.self.pos_q_proj.bias" in read_state_dict(GOLDEN / "tf-v1-base")
    # Dense kernels become [out, in]: intermediate is 32 -> 40
    assert state["deberta.encoder.layer.0.intermediate.dense.weight"].shape == (40, 32)
    assert not state["deberta.encoder.layer.0.intermediate.dense.weight"].flags.writeable


@needs_h5py
def test_safetensors_beside_tf_model_h5_is_preferred(tmp_path: Path) -> None:
    from deberta_np.safetensors_io import write_safetensors

    shutil.copytree(GOLDEN / "tf-v1-base", tmp_path / "m")
    state = {k: np.ascontiguousarray(v) for k, v in read_state_dict(tmp_path / "m").items()}
    write_safetensors(tmp_path / "m" / "model.safetensors", state)
    assert [f.name for f in find_checkpoint_files(tmp_path / "m")] == ["model.safetensors"]


# --- planted faults ----------------------------------------------------------------------------------------------


def _copy(tmp_path: Path, case: str) -> tuple[Path, Path]:
    directory = tmp_path / case
    shutil.copytree(GOLDEN / case, directory)
    return directory, directory / "tf_model.h5"


def _dataset_path(file: h5py.File, ending: str) -> str:
    found: list[str] = []
    file.visititems(lambda name, node: found.append(name) if name.endswith(ending) else None)
    assert len(found) == 1, found
    return found[0]


def _replace(file: h5py.File, name: str, values: np.ndarray, **options: object) -> None:
    del file[name]
    file.create_dataset(name, data=values, **options)


def _transposed(tmp_path: Path, ending: str) -> Path:
    """A copy of tf-v1-base with the kernel whose path ends with `ending` stored transposed."""
    directory, h5 = _copy(tmp_path, "tf-v1-base")
    with h5py.File(h5, "r+") as file:
        name = _dataset_path(file, ending)
        _replace(file, name, np.ascontiguousarray(file[name][()].T))
    return directory


@needs_h5py
def test_a_transposed_square_kernel_is_caught_by_the_outputs(tmp_path: Path) -> None:
    """[32, 32] loads either way: only the outputs can tell, and they do."""
    directory = _transposed(tmp_path, "layer_._1/attention/output/dense/kernel:0")
    worst = max(
        case_differences(directory), key=lambda d: d.max_abs - tolerance(directory, d.magnitude, d.length)
    )
    assert worst.max_abs > 100 * tolerance(directory, worst.magnitude, worst.length), worst


@needs_h5py
def test_a_transposed_rectangular_kernel_is_a_shape_error(tmp_path: Path) -> None:
    from deberta_np import DebertaModel

    directory = _transposed(tmp_path, "layer_._0/intermediate/dense/kernel:0")
    with pytest.raises(
        CheckpointError,
        match=r"'deberta\.encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[32, 40\]",
    ):
        DebertaModel.from_pretrained(directory)


@needs_h5py
def test_a_missing_dataset_is_named(tmp_path: Path) -> None:
    _, h5 = _copy(tmp_path, "tf-v1-base")
    with h5py.File(h5, "r+") as file:
        del file[_dataset_path(file, "layer_._1/attention/self/q_bias:0")]
    with pytest.raises(
        CheckpointError, match=r"tf_model\.h5: dataset .*layer_\._1/attention/self/q_bias:0.* is missing"
    ):
        read_tf_h5(h5)


@needs_h5py
def test_a_tensor_missing_from_the_file_is_named_by_the_loader(tmp_path: Path) -> None:
    from deberta_np import DebertaModel

    directory, h5 = _copy(tmp_path, "tf-v1-base")
    with h5py.File(h5, "r+") as file:
        del file[_dataset_path(file, "layer_._1/attention/self/q_bias:0")]
        names = [
            n
            for n in file["deberta"].attrs["weight_names"]
            if not str(n).endswith("layer_._1/attention/self/q_bias:0")
        ]
        file["deberta"].attrs["weight_names"] = names
    with pytest.raises(
        CheckpointError, match=r"missing 1 tensor\(s\): deberta\.encoder\.layer\.1\.attention\.self\.q_bias"
    ):
        DebertaModel.from_pretrained(directory)


@needs_h5py
def test_a_head_the_file_lacks_is_refused(tmp_path: Path) -> None:
    from deberta_np import DebertaForSequenceClassification

    with pytest.raises(CheckpointError, match="no sequence classification head"):
        DebertaForSequenceClassification.from_pretrained(GOLDEN / "tf-v1-base")


@needs_h5py
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("int", r"dataset '.*q_bias:0' has dtype int32, shape \[32\]; expected float16, float32 or float64"),
        ("gzip", r"dataset '.*q_bias:0' is filtered \(compressed\); not read"),
        ("soft", r"q_bias:0' is a SoftLink; only hard links are read"),
        ("external", r"q_bias:0' is a ExternalLink; only hard links are read"),
        ("no-layer-names", r"no 'layer_names' attribute at the root: not a Keras HDF5 weights file"),
        ("untied", r"both map to 'deberta\.embeddings\.word_embeddings\.weight' with different values"),
        ("top-level", r"top_level_model_weights holds variables"),
    ],
)
def test_unexpected_contents_are_refused_by_name(tmp_path: Path, fault: str, message: str) -> None:
    case = "tf-v1-mlm-embproj" if fault == "untied" else "tf-v1-base"
    _, h5 = _copy(tmp_path, case)
    with h5py.File(h5, "r+") as file:
        name = _dataset_path(file, "deberta/encoder/layer_._0/attention/self/q_bias:0")
        values = file[name][()]
        if fault == "int":
            _replace(file, name, values.astype(np.int32))
        elif fault == "gzip":
            _replace(file, name, values, compression="gzip")
        elif fault == "soft":
            del file[name]
            file[name] = h5py.SoftLink("/" + name.rsplit("/", 1)[0] + "/v_bias:0")
        elif fault == "external":
            del file[name]
            file[name] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/q_bias")
        elif fault == "no-layer-names":
            del file.attrs["layer_names"]
        elif fault == "untied":
            tied = _dataset_path(
                file, "cls/tf_deberta_for_masked_lm/deberta/embeddings/word_embeddings/weight:0"
            )
            _replace(file, tied, file[tied][()] + 1.0)
        elif fault == "top-level":
            file["top_level_model_weights"].attrs["weight_names"] = [b"m/extra:0"]
    with pytest.raises(CheckpointError, match=message):
        read_tf_h5(h5)


@needs_h5py
def test_split_weight_names_attribute_is_joined(tmp_path: Path) -> None:
    """Keras splits a layer's weight_names into weight_names0, weight_names1, ... above 64 KiB; both read alike."""
    _, h5 = _copy(tmp_path, "tf-v1-base")
    before = read_tf_h5(h5)
    with h5py.File(h5, "r+") as file:
        names = list(file["deberta"].attrs["weight_names"])
        del file["deberta"].attrs["weight_names"]
        file["deberta"].attrs["weight_names0"] = names[:10]
        file["deberta"].attrs["weight_names1"] = names[10:]
    after = read_tf_h5(h5)
    assert list(after) == list(before) and all(np.array_equal(after[k], before[k]) for k in before)


@needs_h5py
def test_inspect_reads_a_tf_checkpoint() -> None:
    from deberta_np.cli import inspect_checkpoint

    report = inspect_checkpoint(str(GOLDEN / "tf-v2-mlm-conv"))
    assert report["heads"]["masked_lm"].startswith("ok"), report


def test_a_hub_repo_with_only_tf_weights_is_fetched_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.machinery
    import types

    from deberta_np.pipelines import resolve_model_path

    calls: list[list[str]] = []
    (tmp_path / "empty").mkdir()

    def snapshot_download(repo_id: str, allow_patterns: list[str]) -> str:
        calls.append(allow_patterns)  # never the network: local directories stand in for the cache
        return str(GOLDEN / "tf-v1-base" if "tf_model.h5" in allow_patterns else tmp_path / "empty")

    fake = types.ModuleType("huggingface_hub")
    fake.__spec__ = importlib.machinery.ModuleSpec("huggingface_hub", None)
    fake.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    assert resolve_model_path("someone/deberta-tf") == GOLDEN / "tf-v1-base"
    assert ["*.safetensors" in c for c in calls] == [True, False, False] and "tf_model.h5" in calls[-1]
