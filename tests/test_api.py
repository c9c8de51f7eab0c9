"""What transformers users reach for on the model classes: labels= and its loss, save_pretrained, torch_dtype,
device indices, and refusing what is not understood."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from deberta_np import DebertaForSequenceClassification, DebertaModel, load_model, losses, oracle, pipeline
from deberta_np.errors import BackendError, InputError
from tests.conftest import golden_case

GOLDEN = Path(__file__).resolve().parents[1] / "conformance" / "golden" / "models"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists())
has_transformers = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")),
    reason="needs the oracle extra (torch, transformers)",
)


def test_cross_entropy_as_torch_defines_it() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [1.0, 3.0, 0.0]])
    by_hand = -np.mean([math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1))), math.log(1 / 3)])
    assert losses.cross_entropy(logits, np.array([0, 2, -100])) == pytest.approx(by_hand, rel=1e-14)
    assert np.isnan(losses.cross_entropy(logits, np.array([-100, -100, -100])))  # torch: nan
    with pytest.raises(InputError, match="label 3 is outside"):
        losses.cross_entropy(logits, np.array([0, 3, 1]))
    # QA: positions past the input are clamped to its length and left out
    start = end = np.zeros((2, 4))
    assert losses.question_answering(start, end, np.array([1, 9]), np.array([2, 4])) == pytest.approx(
        math.log(4)
    )


def test_labels_give_a_loss_first_and_unknown_arguments_are_refused() -> None:
    model = DebertaForSequenceClassification.from_pretrained(golden_case("c2p-clamped-abs-types-embproj"))
    out = model([[1, 5, 9, 2]], labels=[1])
    assert out.keys() == ["loss", "logits"] and out[0] is out.loss and out.loss.shape == ()
    assert model([[1, 5, 9, 2]]).keys() == ["logits"]
    with pytest.raises(TypeError, match=r"unexpected argument.*labelz.*it takes input_ids.*labels"):
        model([[1, 5, 9, 2]], labelz=[1])
    qa = load_model(golden_case("no-relative-abs-positions"), "question_answering")
    with pytest.raises(InputError, match="needs start_positions and end_positions"):
        qa([[1, 5, 9, 2]], start_positions=[1])


def test_from_pretrained_keywords(tmp_path: Path) -> None:
    case = golden_case("base-c2p-p2c")
    assert DebertaModel.from_pretrained(case, torch_dtype="float64").dtype == "float64"
    assert DebertaModel.from_pretrained(case, dtype=np.float64).dtype == "float64"
    assert DebertaModel.from_pretrained(case, torch_dtype="auto").dtype == "float32"  # config holds float32
    assert DebertaModel.from_pretrained(case, device=-1).device == "cpu"  # transformers' index for the CPU
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) foo; it takes device, dtype"):
        DebertaModel.from_pretrained(case, foo=1)
    with pytest.raises(TypeError, match="not both"):
        DebertaModel.from_pretrained(case, dtype="float64", torch_dtype="float16")
    with pytest.raises(BackendError, match="unsupported dtype 'bfloat16'"):
        DebertaModel.from_pretrained(case, torch_dtype="bfloat16")
    assert DebertaModel.from_pretrained(case, num_labels=3).config.num_labels == 3  # a config field: accepted


def test_pipeline_takes_transformers_device_index() -> None:
    from conformance import pipeline_models

    assert pipeline("feature-extraction", golden_case("base-c2p-p2c"), tokenizer=pipeline_models.DEBERTA_V1,
                    device=-1).model.device == "cpu"  # fmt: skip
    with pytest.raises(BackendError):
        pipeline(
            "feature-extraction", golden_case("base-c2p-p2c"), tokenizer=pipeline_models.DEBERTA_V1, device=0
        )


def task_head(case: str) -> str:
    """The head a golden checkpoint was made for (its task head, or the encoder)."""
    return next((h for h in oracle.checkable_heads(GOLDEN / case) if h != "base"), "base")


@pytest.mark.parametrize("case", CASES)
def test_save_pretrained_round_trip(case: str, tmp_path: Path) -> None:
    head = task_head(case)
    model = load_model(GOLDEN / case, head)
    model.save_pretrained(tmp_path)
    again = load_model(tmp_path, head)
    ids = [[1, 5, 9, 2, 7]] if head != "multiple_choice" else [[[1, 5, 9, 2], [1, 7, 8, 2]]]
    for a, b in zip(model(ids).to_tuple(), again(ids).to_tuple()):
        assert np.array_equal(a, b)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["torch_dtype"] == "float32" and saved["architectures"][0].endswith(
        type(model).__name__[-12:]
    )


@has_transformers
@pytest.mark.parametrize(
    "case", ["mlm-microsoft-layout", "mlm-legacy-embproj", "v2-multiple-choice", "sharded-deep"]
)
def test_transformers_loads_what_save_pretrained_writes(case: str, tmp_path: Path) -> None:
    import torch
    import transformers

    head = task_head(case)
    model = load_model(GOLDEN / case, head)
    model.save_pretrained(tmp_path)
    hf_class = getattr(transformers, json.loads((tmp_path / "config.json").read_text())["architectures"][0])
    reference, info = hf_class.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [], info
    ids = np.array([[1, 5, 9, 2, 7]] if head != "multiple_choice" else [[[1, 5, 9, 2], [1, 7, 8, 2]]])
    with torch.inference_mode():
        expected = reference.eval()(torch.from_numpy(ids))[0].numpy()
    got = model(ids)[0]
    assert np.abs(got - expected).max() <= oracle.TOLERANCE["float32"] * max(
        1.0, float(np.abs(expected).max())
    )
