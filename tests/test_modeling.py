"""The public classes: inputs checked before any computation, outputs named as in transformers."""

from __future__ import annotations

import numpy as np
import pytest

from deberta_np import (
    DebertaForMaskedLM,
    DebertaForQuestionAnswering,
    DebertaForSequenceClassification,
    DebertaForTokenClassification,
    DebertaModel,
)
from deberta_np.errors import BackendError, InputError
from tests.conftest import golden_case
from tests.tolerance import encoder_terms, reordering_tolerance

BASE = golden_case("base-c2p-p2c")  # relative only: vocab 96, max_position_embeddings 64
ABSOLUTE = golden_case("c2p-clamped-abs-types-embproj")  # absolute positions, 2 token types


@pytest.fixture(scope="module")
def base() -> DebertaModel:
    return DebertaModel.from_pretrained(BASE)


@pytest.fixture(scope="module")
def absolute() -> DebertaForSequenceClassification:
    return DebertaForSequenceClassification.from_pretrained(ABSOLUTE)


def test_nested_lists_and_arrays_give_the_same_output(base: DebertaModel) -> None:
    ids = [[1, 5, 9, 2], [1, 7, 2, 0]]
    mask = [[1, 1, 1, 1], [1, 1, 1, 0]]
    a = base(ids, attention_mask=mask).last_hidden_state
    b = base(np.array(ids), attention_mask=np.array(mask, dtype=bool)).last_hidden_state
    assert a.shape == (2, 4, 32) and a.dtype == np.float32
    assert np.array_equal(a, b)


def test_output_fields_like_transformers(base: DebertaModel) -> None:
    out = base([[1, 5, 9, 2]], output_hidden_states=True, output_attentions=True)
    assert out.keys() == ["last_hidden_state", "hidden_states", "attentions"]
    assert len(out.hidden_states) == base.config.num_hidden_layers + 1
    assert len(out.attentions) == base.config.num_hidden_layers
    assert out.attentions[0].shape == (1, 4, 4, 4)
    assert out[0] is out.last_hidden_state is out["last_hidden_state"]
    assert np.array_equal(out.hidden_states[-1], out.last_hidden_state)
    plain = base([[1, 5, 9, 2]])
    assert plain.hidden_states is None and plain.attentions is None and plain.keys() == ["last_hidden_state"]
    with pytest.raises(KeyError):
        plain["hidden_states"]


def test_every_head_class_and_its_fields() -> None:
    ids = [[1, 5, 9, 2]]
    assert DebertaForMaskedLM.from_pretrained(golden_case("mlm-microsoft-layout"))(ids).logits.shape == (
        1,
        4,
        96,
    )
    assert DebertaForMaskedLM.from_pretrained(golden_case("mlm-legacy-embproj"))(ids).logits.shape == (
        1,
        4,
        96,
    )
    seq = DebertaForSequenceClassification.from_pretrained(ABSOLUTE)(ids)
    assert seq.logits.shape == (1, 3)
    tok = DebertaForTokenClassification.from_pretrained(golden_case("p2c-clamped-talking-head"))(ids)
    assert tok.logits.shape == (1, 4, 5)
    qa = DebertaForQuestionAnswering.from_pretrained(golden_case("no-relative-abs-positions"))(ids)
    assert qa.start_logits.shape == qa.end_logits.shape == (1, 4)
    assert qa.keys() == ["start_logits", "end_logits"]


def test_float64_mode(base: DebertaModel) -> None:
    model64 = DebertaModel.from_pretrained(BASE, dtype="float64")
    ids = [[1, 5, 9, 2, 40, 41]]
    out64 = model64(ids).last_hidden_state
    assert out64.dtype == np.float64
    limit = reordering_tolerance(np.float32, encoder_terms(base.config, 6), np.abs(out64).max())
    assert np.abs(out64 - base(ids).last_hidden_state).max() <= limit


def test_zero_fully_masked_rows_changes_only_padded_positions() -> None:
    uniform = DebertaModel.from_pretrained(BASE)
    zero = DebertaModel.from_pretrained(BASE, zero_fully_masked_rows=True)
    ids, mask = [[1, 5, 9, 2, 0, 0]], [[1, 1, 1, 1, 0, 0]]
    a = uniform(ids, mask, output_attentions=True)
    b = zero(ids, mask, output_attentions=True)
    assert np.array_equal(a.last_hidden_state[:, :4], b.last_hidden_state[:, :4])
    assert (b.attentions[0][0, :, 4:] == 0).all()
    assert np.allclose(a.attentions[0][0, :, 4:], 1 / 6)
    assert not np.allclose(a.last_hidden_state[:, 4:], b.last_hidden_state[:, 4:])


def test_token_type_ids_are_ignored_without_a_token_type_embedding(base: DebertaModel) -> None:
    ids = [[1, 5, 9, 2, 7, 2]]
    a = base(ids).last_hidden_state
    b = base(ids, token_type_ids=[[0, 0, 0, 0, 1, 1]]).last_hidden_state
    assert np.array_equal(a, b)


def test_position_ids_change_absolute_models(absolute: DebertaForSequenceClassification) -> None:
    ids = [[1, 5, 9, 2]]
    a = absolute(ids).logits
    b = absolute(ids, position_ids=[[0, 1, 2, 3]]).logits
    c = absolute(ids, position_ids=[3, 4, 5, 6]).logits
    assert np.array_equal(a, b) and not np.allclose(a, c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_ids": [1, 2, 3]}, r"input_ids must be 2-D \[batch, length\], got shape \[3\]"),
        ({"input_ids": [[[1, 2]]]}, r"input_ids must be 2-D"),
        ({"input_ids": [[1, 96]]}, r"input_ids\[0, 1\] = 96 is outside \[0, 96\) \(vocab_size\)"),
        ({"input_ids": [[1, -1]]}, r"input_ids\[0, 1\] = -1 is outside"),
        ({"input_ids": [[1.0, 2.0]]}, r"input_ids must hold integers, got dtype float64"),
        ({"input_ids": [[1, 2], [3]]}, r"input_ids: not a rectangular array"),
        ({"input_ids": [[]]}, r"input_ids is empty"),
        (
            {"input_ids": [[1, 2]], "attention_mask": [[1, 1, 1]]},
            r"attention_mask has shape \[1, 3\] but input_ids",
        ),
        ({"input_ids": [[1, 2]], "attention_mask": [[1, 2]]}, r"attention_mask must hold only 0 and 1"),
        ({"input_ids": [[1, 2]], "token_type_ids": [[0]]}, r"token_type_ids has shape \[1, 1\]"),
        ({"input_ids": [[1, 2]], "position_ids": [[0, 1, 2]]}, r"position_ids has shape \[1, 3\]"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(base: DebertaModel, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        base(**kwargs)


def test_limits_of_absolute_position_models(absolute: DebertaForSequenceClassification) -> None:
    with pytest.raises(InputError, match="sequence length 65 exceeds max_position_embeddings=64"):
        absolute([[1] * 65])
    with pytest.raises(
        InputError, match=r"token_type_ids\[0, 1\] = 2 is outside \[0, 2\) \(type_vocab_size\)"
    ):
        absolute([[1, 2]], token_type_ids=[[0, 2]])
    with pytest.raises(InputError, match=r"position_ids\[0, 1\] = 64 is outside"):
        absolute([[1, 2]], position_ids=[[0, 64]])


def test_relative_only_models_run_past_max_position_embeddings(base: DebertaModel) -> None:
    assert base([[3] * 70]).last_hidden_state.shape == (
        1,
        70,
        32,
    )  # as in transformers: positions are relative


def test_unsupported_dtype_and_device_fail_before_loading(tmp_path: object) -> None:
    with pytest.raises(BackendError, match="unsupported dtype 'bfloat16'"):
        DebertaModel.from_pretrained(BASE, dtype="bfloat16")
    with pytest.raises(BackendError, match="unknown device"):
        DebertaModel.from_pretrained(BASE, device="metal")


def test_inputs_are_not_modified(base: DebertaModel) -> None:
    ids = np.array([[1, 5, 9, 2]])
    mask = np.array([[1, 1, 1, 0]])
    ids.flags.writeable = mask.flags.writeable = False
    before = ids.copy(), mask.copy()
    base(ids, mask)
    assert np.array_equal(ids, before[0]) and np.array_equal(mask, before[1])


def test_parameters_are_zero_copy_views_of_the_file(base: DebertaModel) -> None:
    weight = base.params["deberta"]["encoder"]["layer"][0]["attention"]["self"]["in_proj"]["weight"]
    assert not weight.flags.owndata and not weight.flags.writeable
    assert base.num_parameters() > 0
    assert "DebertaModel(layers=2" in repr(base)
