"""Pipelines: the transformers goldens (one test per golden case), batching, bad input, loading, hub ids.

Checkpoints are the conformance suite's random ones (conformance/pipeline_models.py), built once per module with
the repository's tokenizers (data/tokenizers: deberta-v1's BPE for v1 models, deberta-v3's spm.model for v2/v3
ones).
"""

from __future__ import annotations

import importlib.machinery
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import pipeline_models, pipelines_suite
from conformance.check import GOLDEN as GOLDEN_DIR
from conformance.pipeline_models import PipelineModel
from deberta_np import (
    CheckpointError,
    ConfigError,
    DebertaForMaskedLM,
    DebertaModel,
    InputError,
    load_model,
    pipeline,
)
from deberta_np.pipelines import Failure, checkpoint_heads
from deberta_np.pipelines.base import (
    Feature,
    decode,
    length_batches,
    pad_batch,
    resolve_model_path,
    tokens_to_string,
)
from deberta_np.pipelines.question_answering import to_examples
from deberta_np.pipelines.token_classification import split_words
from deberta_np.tokenizer import DebertaV2Tokenizer
from tests.conftest import assert_same_container
from tests.tolerance import reordering_tolerance

GOLDEN = json.loads(pipelines_suite.GOLDEN_FILE.read_text(encoding="utf-8"))
CASE_IDS = [case["id"] for case in GOLDEN["cases"]]
V2_CASES = [case for case in GOLDEN["cases"] if pipeline_models.MODELS[case["model"]].family == "v2"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{name: checkpoint directory} for every pipeline model."""
    return pipeline_models.build_all(tmp_path_factory.mktemp("pipeline-models"))


@pytest.fixture(scope="module")
def golden_rows() -> dict[str, dict]:
    return {row["case"]: row for row in pipelines_suite.run_checks()}


# --- the goldens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_golden_case(golden_rows: dict[str, dict], case_id: str) -> None:
    row = golden_rows[case_id]
    assert row["ok"], f"{row['what']}: {row['value']} (limit {row['limit']})"


def test_golden_models_rebuild_bit_identically(golden_rows: dict[str, dict]) -> None:
    checked = [name for name in GOLDEN["metadata"]["models"] if f"model {name}" in golden_rows]
    assert checked
    for name in checked:
        assert golden_rows[f"model {name}"]["ok"], name


def test_golden_metadata_pins_versions() -> None:
    metadata = GOLDEN["metadata"]
    assert metadata["transformers"] == "4.57.6"
    assert metadata["generator"] == "python -m conformance.generate_pipelines"
    assert pipelines_suite.GOLDEN_FILE.stat().st_size < 1_000_000


def test_golden_cases_cover_every_option() -> None:
    used = {(case["task"], key) for case in GOLDEN["cases"] for key in {**case["kwargs"], **case["init"]}}
    for task, option in [
        ("fill-mask", "top_k"),
        ("fill-mask", "targets"),
        ("text-classification", "top_k"),
        ("text-classification", "function_to_apply"),
        ("text-classification", "text_pair"),
        ("text-classification", "batch_size"),
        ("zero-shot-classification", "batch_size"),
        ("question-answering", "batch_size"),
        ("zero-shot-classification", "candidate_labels"),
        ("zero-shot-classification", "hypothesis_template"),
        ("zero-shot-classification", "multi_label"),
        ("token-classification", "aggregation_strategy"),
        ("token-classification", "ignore_labels"),
        ("token-classification", "stride"),
        ("question-answering", "top_k"),
        ("question-answering", "doc_stride"),
        ("question-answering", "max_answer_len"),
        ("question-answering", "max_seq_len"),
        ("question-answering", "max_question_len"),
        ("question-answering", "handle_impossible_answer"),
        ("question-answering", "align_to_words"),
    ]:
        assert (task, option) in used, (task, option)


def test_golden_cases_hold_the_repeated_qa_context_and_labels_none() -> None:
    """transformers' own QA test input (20 identical sentences, several windows), for v1 and v2 models, and the
    zero-shot call that replaces the pipeline's labels by None (transformers raises)."""
    repeated = [c for c in GOLDEN["cases"] if c["task"] == "question-answering" and "repeated" in c["id"]]
    assert {pipeline_models.MODELS[c["model"]].family for c in repeated} == {"v1", "v2"}
    assert any(c["kwargs"].get("max_seq_len") for c in repeated) and all("output" in c for c in repeated)
    none = [c for c in GOLDEN["cases"] if c["kwargs"].get("candidate_labels", "") is None]
    assert none and all(c["init"].get("candidate_labels") and c["error"] == "TypeError" for c in none)


def test_golden_v2_cases_cover_every_task_and_both_tokenizers() -> None:
    tasks = {case["task"] for case in V2_CASES}
    assert tasks == {
        "fill-mask",
        "text-classification",
        "zero-shot-classification",
        "token-classification",
        "question-answering",
        "feature-extraction",
    }
    strategies = {
        c["kwargs"].get("aggregation_strategy") for c in V2_CASES if c["task"] == "token-classification"
    }
    assert {"none", "simple", "first", "average", "max"} <= strategies
    assert any(c["kwargs"].get("stride") for c in V2_CASES)  # NER windows
    assert any(isinstance(c["args"][0], dict) or "text_pair" in json.dumps(c["args"]) for c in V2_CASES)
    fast = [c for c in V2_CASES if c.get("tokenizer") == {"reference": "fast"}]
    # deberta_np's default tokenizer only where sentencepiece and the fast tokenizer agree on the ids; the
    # reference="fast" cases include texts on which they do not (and one on which they do).
    assert all(c["sentencepiece_ids_agree"] for c in V2_CASES if c not in fast)
    assert {c["sentencepiece_ids_agree"] for c in fast} == {True, False}
    assert {c["task"] for c in fast if not c["sentencepiece_ids_agree"]} >= {
        "fill-mask",
        "token-classification",
        "question-answering",
    }


def test_golden_size() -> None:
    folder = pipelines_suite.GOLDEN_FILE.parent
    assert sum(f.stat().st_size for f in folder.iterdir()) < 300_000


def test_uniform_is_exact_and_stable() -> None:
    values = pipeline_models.uniform(7, "w", (2, 3))
    assert values.dtype == np.float64 and values.shape == (2, 3)
    grid = (values + 1.0) * 2.0**23 - 0.5  # (2k + 1) / 2**24 - 1  ->  k
    assert np.array_equal(grid, np.round(grid)) and np.all(np.abs(values) < 1)
    assert np.array_equal(values, pipeline_models.uniform(7, "w", (2, 3)))
    assert not np.array_equal(values, pipeline_models.uniform(8, "w", (2, 3)))
    # A snapshot: these must never change, or the committed goldens' checkpoints would change with them.
    assert values.ravel()[:3].tolist() == pytest.approx(pipeline_models.uniform(7, "w", (3,)).tolist(), abs=0)
    assert f"{values[0, 0]:.12f}" == f"{float(pipeline_models.uniform(7, 'w', (1,))[0]):.12f}"


# --- batching ---------------------------------------------------------------------------------------------------


def test_length_batches_groups_similar_lengths() -> None:
    batches = length_batches([5, 1, 9, 2, 5, 1], 2)
    assert batches == [[1, 5], [3, 0], [4, 2]]
    assert sorted(i for b in batches for i in b) == list(range(6))


def test_pad_batch_pads_each_row_to_the_longest() -> None:
    ids, mask, types = pad_batch([Feature([1, 2, 3], [0, 1, 1]), Feature([4], [1])], pad_id=9)
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert types.tolist() == [[0, 1, 1], [1, 0, 0]] and ids.dtype == mask.dtype == types.dtype == np.int64


BUCKET_MODEL = DebertaModel.from_pretrained(GOLDEN_DIR / "gelu-both-long", dtype="float64")


@settings(max_examples=30, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(1, 95), min_size=1, max_size=20), min_size=1, max_size=9),
    batch_size=st.integers(1, 4),
)
def test_length_batches_change_no_result(sequences: list[list[int]], batch_size: int) -> None:
    """A row of a length-sorted, padded batch gives what the sequence gives alone (the pipelines' batching)."""
    features = [Feature(s, [0] * len(s)) for s in sequences]
    batches = length_batches([len(f) for f in features], batch_size)
    assert sorted(i for b in batches for i in b) == list(range(len(sequences)))
    for batch in batches:
        ids, mask, _ = pad_batch([features[i] for i in batch], pad_id=0)
        assert ids.shape[1] == max(len(sequences[i]) for i in batch) and len(batch) <= batch_size
        hidden = BUCKET_MODEL(ids, attention_mask=mask).last_hidden_state
        for row, i in enumerate(batch):
            alone = BUCKET_MODEL([sequences[i]]).last_hidden_state[0]
            assert np.abs(hidden[row, : len(sequences[i])] - alone).max() < 1e-12


def _close(a: object, b: object) -> None:
    """Equal structure and strings/ints; floats within float32 noise."""
    if isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-6)
    else:
        assert_same_container(a, b, _close)


TEXTS = [
    "A short one.",
    "A much longer text about Berlin, Paris and New York City in the summer.",
    "Mid length text.",
]


@pytest.mark.parametrize(
    ("task", "model", "inputs", "params"),
    [
        (
            "fill-mask",
            "mlm",
            [t.replace("text", "[MASK]").replace("one", "[MASK]") for t in TEXTS],
            {"top_k": 3},
        ),
        ("text-classification", "sentiment", TEXTS, {"top_k": None}),
        ("zero-shot-classification", "nli", TEXTS, {"candidate_labels": ["a", "b", "c"]}),
        ("token-classification", "ner", TEXTS, {"aggregation_strategy": "simple"}),
        ("feature-extraction", "encoder", TEXTS, {"pooling": "mean"}),
        ("fill-mask", "mlm-v2", [t.replace("text", "[MASK]").replace("one", "[MASK]") for t in TEXTS], {}),
        ("token-classification", "ner-v3", TEXTS, {"aggregation_strategy": "first"}),
    ],
)
def test_batch_size_does_not_change_results(
    models: dict, task: str, model: str, inputs: list, params: dict
) -> None:
    one = pipeline(task, models[model], batch_size=1)(inputs, **params)
    many = pipeline(task, models[model], batch_size=3)(inputs, **params)
    _close(one, many)
    # and each input alone gives its own result: the order is restored after sorting by length
    single = pipeline(task, models[model])
    _close([single.run([text], **params)[0] for text in inputs], one)


def test_question_answering_batches_windows(models: dict) -> None:
    from conformance.generate_pipelines import LONG_CONTEXT

    examples = [
        {"question": "Who opened the pier?", "context": LONG_CONTEXT},
        {"question": "Where?", "context": "Here."},
    ]
    options = {"max_seq_len": 64, "doc_stride": 16, "top_k": 2}
    one = pipeline("question-answering", models["qa"])(examples, **options)
    many = pipeline("question-answering", models["qa"], batch_size=16)(examples, **options)
    _close(one, many)


@pytest.mark.parametrize(("name", "mask"), [("mlm", 50264), ("mlm-v2", 128000)])
def test_fill_mask_head_on_gathered_rows_equals_the_model(models: dict, name: str, mask: int) -> None:
    model = load_model(models[name], head="masked_lm")  # v2: with deberta-v2-xlarge's ConvLayer
    ids = np.array([[1, 713, mask, 16, mask, 2]])
    h = model.encode(ids)
    full = model(ids).logits
    gathered = model.masked_lm_logits(h[:, [2, 4]])  # what fill-mask runs: the head on the masked rows only
    # Three reductions of `hidden` terms each (dense, LayerNorm, decoder), computed with other BLAS blockings (2
    # rows against 6). The decoder's sums: |LayerNorm output| . |embedding row| <= ||x||_2 ||E_v||_2, where
    # ||x||_2 <= max|weight| sqrt(hidden) + ||bias||_2 (the normalised vector has norm sqrt(hidden)).
    head = model.params["lm_predictions"]["lm_head"]
    embeddings = model.params["deberta"]["embeddings"]["word_embeddings"]["weight"]
    hidden = model.config.hidden_size
    norm = head["LayerNorm"]
    x_norm = np.abs(norm["weight"]).max() * math.sqrt(hidden) + np.linalg.norm(norm["bias"])
    magnitude = float(x_norm * np.linalg.norm(embeddings, axis=1).max() + np.abs(head["bias"]).max())
    limit = reordering_tolerance(np.float32, 3 * hidden, magnitude)
    difference = float(np.abs(gathered - full[:, [2, 4]]).max())
    assert difference <= limit, f"{difference:.2e} > {limit:.2e}"


def test_float64_pipeline_gives_the_same_answers(models: dict) -> None:
    ner32 = pipeline("ner", models["ner"], aggregation_strategy="first")
    ner64 = pipeline("ner", models["ner"], dtype="float64", aggregation_strategy="first")
    _close(ner32(TEXTS[1]), ner64(TEXTS[1]))


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "model", "message"),
    [
        ("fill-mask", "encoder", "needs a masked-language-model head.*bare encoder"),
        ("fill-mask", "ner", "needs a masked-language-model head.*token-classification head"),
        ("text-classification", "encoder", "needs a sequence-classification head.*bare encoder"),
        (
            "zero-shot-classification",
            "mlm",
            "needs a sequence-classification head.*masked-language-model head",
        ),
        (
            "token-classification",
            "sentiment",
            "needs a token-classification head.*sequence-classification head",
        ),
        ("question-answering", "ner", "needs a question-answering head"),
    ],
)
def test_missing_head_is_refused_with_what_is_there(
    models: dict, task: str, model: str, message: str
) -> None:
    with pytest.raises(CheckpointError, match=message):
        pipeline(task, models[model])


def test_checkpoint_heads(models: dict) -> None:
    assert checkpoint_heads(models["mlm"]) == ["base", "masked_lm"]
    assert checkpoint_heads(models["sentiment"]) == ["base", "sequence_classification"]
    assert checkpoint_heads(models["ner"]) == ["base", "token_classification"]
    assert checkpoint_heads(models["qa"]) == ["base", "question_answering"]
    # every checkpoint serves as an encoder
    assert len(pipeline("feature-extraction", models["qa"])("hi")[0]) == 3


@pytest.mark.parametrize(
    ("task", "model", "call"),
    [
        ("fill-mask", "mlm", lambda p: p("")),
        ("text-classification", "sentiment", lambda p: p("")),
        ("text-classification", "sentiment", lambda p: p({"text": "a", "text_pair": ""})),
        ("zero-shot-classification", "nli", lambda p: p("", candidate_labels=["a"])),
        ("token-classification", "ner", lambda p: p("")),
        ("question-answering", "qa", lambda p: p(question="", context="Some context.")),
        ("question-answering", "qa", lambda p: p(question="Where?", context="")),
        ("feature-extraction", "encoder", lambda p: p("")),
    ],
)
def test_empty_text_is_refused(models: dict, task: str, model: str, call: object) -> None:
    with pytest.raises(InputError, match="empty"):
        call(pipeline(task, models[model]))  # type: ignore[operator]


@pytest.mark.parametrize("labels", [[], "", " , ,"])
def test_zero_shot_empty_candidate_labels(models: dict, labels: object) -> None:
    with pytest.raises(InputError, match="candidate_labels is empty"):
        pipeline("zero-shot-classification", models["nli"])("Some text.", candidate_labels=labels)


def test_zero_shot_needs_labels_and_a_template_slot(models: dict) -> None:
    zs = pipeline("zero-shot-classification", models["nli"])
    with pytest.raises(TypeError, match="candidate_labels is required"):  # transformers: TypeError too
        zs("Some text.")
    for template in ("no slot", "{} and {}", "{label}", "{", "{:{}}"):  # str.format: 4 different bare errors
        with pytest.raises(InputError, match="has no single"):
            zs("Some text.", ["a"], hypothesis_template=template)


def test_zero_shot_call_none_replaces_the_pipeline_labels(models: dict) -> None:
    """transformers: labels given to pipeline() serve calls that leave candidate_labels out, but an explicit
    candidate_labels=None at the call replaces them and fails (TypeError); it never falls back silently."""
    zs = pipeline("zero-shot-classification", models["nli"], candidate_labels=["urgent", "phone"])
    assert sorted(zs("Call me back.")["labels"]) == ["phone", "urgent"]
    for call in (lambda: zs("Call me back.", candidate_labels=None), lambda: zs("Call me back.", None)):
        with pytest.raises(TypeError, match="candidate_labels is required, got None"):
            call()


def test_zero_shot_entailment_id_is_a_property(models: dict) -> None:
    assert isinstance(
        vars(type(pipeline("zero-shot-classification", models["nli"])))["entailment_id"], property
    )
    assert pipeline("zero-shot-classification", models["nli"]).entailment_id == 0  # ENTAILMENT first
    assert pipeline("zero-shot-classification", models["nli-cross-encoder"]).entailment_id == 1
    assert pipeline("zero-shot-classification", models["sentiment"]).entailment_id == -1  # no such label


def test_zero_shot_entailment_id_matches_transformers(models: dict) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    assert isinstance(vars(transformers.ZeroShotClassificationPipeline)["entailment_id"], property)
    for name in ("nli", "nli-cross-encoder", "nli-neutral-first", "sentiment"):
        theirs = transformers.pipeline("zero-shot-classification", model=str(models[name]))
        assert pipeline("zero-shot-classification", models[name]).entailment_id == theirs.entailment_id, name


def test_call_time_batch_size(models: dict) -> None:
    classify = pipeline("text-classification", models["sentiment"])
    _close(classify(TEXTS, batch_size=3, top_k=None), classify(TEXTS, top_k=None))
    assert classify.batch_size == 1  # the call's batch size is for that call only
    for bad in (0, -1, "2", 1.5, True):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            classify(TEXTS, batch_size=bad)
    qa = pipeline("question-answering", models["qa"])
    context = "HuggingFace was founded in Paris." * 20
    options = {"max_seq_len": 48, "top_k": 3}
    _close(
        qa(question="Where?", context=context, batch_size=4, **options),
        qa(question="Where?", context=context, **options),
    )


def test_text_pair_keyword(models: dict) -> None:
    classify = pipeline("text-classification", models["sentiment"])
    pair = {"text": "A man is eating.", "text_pair": "Someone eats."}
    _close(classify(pair["text"], text_pair=pair["text_pair"]), [classify(pair)])  # a str: one-item list
    _close(classify({"text": pair["text"]}, text_pair=pair["text_pair"]), classify(pair))
    _close(
        classify(["A man is eating.", "It rains."], text_pair="Someone eats.", top_k=None),
        classify([pair, {"text": "It rains.", "text_pair": "Someone eats."}], top_k=None),
    )
    assert classify("A man is eating.", text_pair=None) == classify("A man is eating.")
    with pytest.raises(TypeError, match="text_pair given twice"):
        classify(pair, text_pair="Other.")
    with pytest.raises(TypeError, match="text_pair must be a str"):
        classify("A man is eating.", text_pair=["a", "b"])
    with pytest.raises(InputError, match="text_pair is empty"):  # transformers reads "" as no pair
        classify("A man is eating.", text_pair="")
    made = pipeline("text-classification", models["sentiment"], text_pair=pair["text_pair"])
    _close(made(pair["text"]), [classify(pair)])


def test_question_longer_than_max_seq_len(models: dict) -> None:
    qa = pipeline("question-answering", models["qa"])
    question = "Where exactly do I live, after everything that happened in all of these long years?"
    with pytest.raises(InputError, match=r"question is \d+ tokens long.*max_seq_len=16"):
        qa(
            question=question,
            context="My name is Wolfgang and I live in Berlin. " * 3,
            max_seq_len=16,
            doc_stride=2,
        )


def test_doc_stride_must_leave_room(models: dict) -> None:
    qa = pipeline("question-answering", models["qa"])
    with pytest.raises(InputError, match="doc_stride"):
        qa(
            question="Where?",
            context="My name is Wolfgang and I live in Berlin. " * 10,
            max_seq_len=32,
            doc_stride=28,
        )
    with pytest.raises(ValueError, match="larger than max_seq_len"):
        qa(question="Where?", context="Berlin.", max_seq_len=32, doc_stride=33)


def test_other_bad_inputs(models: dict) -> None:
    fill = pipeline("fill-mask", models["mlm"])
    with pytest.raises(InputError, match="no mask token"):
        fill("No mask here.")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fill("a [MASK]", topk=3)
    with pytest.raises(TypeError, match="unexpected parameter"):
        pipeline("fill-mask", models["mlm"], top_n=3)
    with pytest.raises(ValueError, match="top_k"):
        fill("a [MASK]", top_k=0)
    with pytest.raises(ValueError, match="unknown task"):
        pipeline("translation", models["mlm"])
    classify = pipeline("text-classification", models["sentiment"])
    with pytest.raises(TypeError, match="as a dict"):
        classify([["a", "b"]])
    with pytest.raises(TypeError, match="must be a str"):
        classify(3)
    with pytest.raises(ValueError, match="function_to_apply"):
        classify("a", function_to_apply="softplus")
    ner = pipeline("ner", models["ner-windows"])
    with pytest.raises(ValueError, match="aggregation_strategy"):
        ner("a b c", stride=4)
    with pytest.raises(ValueError, match="aggregation_strategy must be one of"):
        ner("a b c", aggregation_strategy="longest")
    with pytest.raises(InputError, match="add_prefix_space"):
        pipeline("ner", models["ner"])(["Two", "words"], is_split_into_words=True)
    with pytest.raises(InputError, match="2 questions but 3 contexts"):
        to_examples((), ["q1", "q2"], ["c1", "c2", "c3"])


def test_collect_errors_keeps_the_good_items(models: dict) -> None:
    classify = pipeline("text-classification", models["sentiment"], batch_size=4)
    results = classify.run(["good", "", 3, "also good"], errors="collect", top_k=1)
    assert isinstance(results[1], Failure) and isinstance(results[1].error, InputError)
    assert isinstance(results[2], Failure) and isinstance(results[2].error, TypeError)
    _close([results[0], results[3]], classify(["good", "also good"], top_k=1))


def test_a_row_too_long_for_the_model_fails_alone(models: dict) -> None:
    # sentiment adds absolute positions (max 512): a longer input fails in the model, its batch-mates do not
    classify = pipeline("text-classification", models["sentiment"], batch_size=4)
    results = classify.run(["short", "word " * 600, "fine"], errors="collect")
    assert isinstance(results[1], Failure) and "max_position_embeddings" in str(results[1].error)
    assert not isinstance(results[0], Failure) and not isinstance(results[2], Failure)


# --- API details --------------------------------------------------------------------------------------------------


def test_model_object_and_tokenizer_directory(models: dict) -> None:
    model = DebertaForMaskedLM.from_pretrained(models["mlm"])
    fill = pipeline("fill-mask", model, tokenizer=models["mlm"])
    assert fill("Paris is the [MASK] of France.") == pipeline("fill-mask", models["mlm"])(
        "Paris is the [MASK] of France."
    )
    with pytest.raises(TypeError, match="tokenizer="):
        pipeline("fill-mask", model)
    with pytest.raises(CheckpointError, match="question-answering head"):
        pipeline("question-answering", model, tokenizer=models["mlm"])


def test_id2label_override(models: dict) -> None:
    classify = pipeline(
        "text-classification", models["sentiment"], id2label={"0": "neg", "1": "mid", "2": "pos"}
    )
    assert {r["label"] for r in classify("Fine.", top_k=None)} == {"neg", "mid", "pos"}
    with pytest.raises(ConfigError, match="3 labels"):
        pipeline("text-classification", models["sentiment"], id2label={0: "neg", 1: "pos"})


def test_aliases_and_pipeline_level_defaults(models: dict) -> None:
    ner = pipeline("ner", models["ner"], aggregation_strategy="simple")
    assert all("entity_group" in e for e in ner(TEXTS[1]))
    assert all("entity" in e for e in ner(TEXTS[1], aggregation_strategy="none"))  # the call wins
    assert pipeline("sentiment-analysis", models["sentiment"]).task == "text-classification"


def test_feature_extraction_poolings(models: dict) -> None:
    embed = pipeline("feature-extraction", models["encoder"], return_tensors=True)
    hidden = embed("Hello world!")
    assert hidden.shape == (1, 5, 32)
    mean = embed("Hello world!", pooling="mean")
    assert np.abs(mean - hidden[0].mean(axis=0)).max() <= reordering_tolerance(
        np.float32, 5, np.abs(hidden).max()
    )
    np.testing.assert_array_equal(embed("Hello world!", pooling="cls"), hidden[0, 0])


def test_qa_input_forms(models: dict) -> None:
    qa = pipeline("question-answering", models["qa"])
    context = "My name is Wolfgang and I live in Berlin."
    expected = qa(question="Where?", context=context)
    assert qa("Where?", context) == expected
    assert qa({"question": "Where?", "context": context}) == expected
    assert qa([{"question": "Where?", "context": context}]) == expected  # a one-item list: unwrapped
    assert qa(question=["Where?", "Who?"], context=context)[0] == expected
    answer = expected["answer"]
    assert context[expected["start"] : expected["end"]] == answer


def test_tokens_to_string_follows_the_rust_decoder(models: dict) -> None:
    tokenizer = pipeline("ner", models["ner"]).tokenizer
    assert tokenizer.convert_tokens_to_string(["ĠZ", "Ã¼", "rich"]) == " Zürich"
    assert tokens_to_string(tokenizer, ["ĠZ", "Ã¼", "rich"]) == " Zürich"  # what the pipelines use for v1
    assert (
        tokenizer.convert_tokens_to_string([" Zürich", "Ġis"]) == " Zürich is"
    )  # a decoded word: kept as UTF-8
    assert (
        tokenizer.convert_tokens_to_string(["Zürich"]) == "Z\ufffdrich"
    )  # all in the byte table: decoded (as HF)


# --- finding checkpoints ----------------------------------------------------------------------------------------


def test_missing_directory_and_hub_ids_without_a_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(CheckpointError, match="pip install huggingface_hub"):
        resolve_model_path("microsoft/deberta-base")
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        resolve_model_path(str(tmp_path / "not" / "there"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        resolve_model_path(tmp_path / "file.txt")


def test_hub_ids_use_snapshot_download(monkeypatch: pytest.MonkeyPatch, models: dict) -> None:
    calls = []

    def snapshot_download(repo_id: str, allow_patterns: list[str]) -> str:
        calls.append((repo_id, allow_patterns))
        return str(models["mlm"])  # never the network: a local directory stands in for the cache

    fake = types.ModuleType("huggingface_hub")
    fake.__spec__ = importlib.machinery.ModuleSpec("huggingface_hub", None)
    fake.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    fill = pipeline("fill-mask", "someone/deberta-tiny")
    assert calls[0][0] == "someone/deberta-tiny" and "*.safetensors" in calls[0][1]
    assert len(fill("Paris is the [MASK] of France.")) == 5


# --- DeBERTa v2/v3 --------------------------------------------------------------------------------------------------


def _build(tmp_path: Path, model: PipelineModel) -> Path:
    return pipeline_models.build(model, tmp_path / model.name)


def test_v2_checkpoint_heads(models: dict) -> None:
    assert checkpoint_heads(models["mlm-v2"]) == ["base", "masked_lm"]
    assert checkpoint_heads(models["qa-v3"]) == ["base", "question_answering"]
    assert checkpoint_heads(models["v3-discriminator"]) == ["base", "masked_lm", "replaced_token_detection"]


@pytest.mark.parametrize("with_mlm_tensors", [True, False])
def test_fill_mask_refuses_a_v3_discriminator_before_loading(
    models: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_mlm_tensors: bool
) -> None:
    # As published, deberta-v3 checkpoints hold an MLM head beside the RTD head; without one it is refused too.
    directory = models["v3-discriminator"]
    if not with_mlm_tensors:
        heads = (pipeline_models.RTD_HEAD,)
        directory = _build(tmp_path, PipelineModel("rtd-only", "base", 202, family="v2", extra_heads=heads))

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the refusal must come before the weights are loaded")

    monkeypatch.setattr("deberta_np.pipelines.load_model", no_loading)
    with pytest.raises(CheckpointError, match="replaced-token-detection discriminator") as refused:
        pipeline("fill-mask", directory)
    message = str(refused.value)
    assert "fill-mask refuses it" in message and "mask_predictions" in message and "no usable" in message


def test_a_v3_discriminator_loaded_as_a_model_object_is_refused_by_the_loader(models: dict) -> None:
    with pytest.raises(CheckpointError, match="replaced-token-detection discriminator"):
        load_model(models["v3-discriminator"], head="masked_lm")
    encoder = load_model(models["v3-discriminator"])  # as an encoder it serves
    embed = pipeline("feature-extraction", encoder, tokenizer=models["v3-discriminator"])
    assert len(embed("Hello world!", pooling="mean")) == 32


def test_v2_pipelines_load_the_sentencepiece_tokenizer(models: dict) -> None:
    tokenizer = pipeline("ner", models["ner-v3"]).tokenizer
    assert isinstance(tokenizer, DebertaV2Tokenizer) and tokenizer.reference == "sentencepiece"
    assert tokenizer.mask_token_id == 128000 and tokenizer.model_max_length > 10**20
    assert pipeline("ner", models["ner-v3-windows"]).tokenizer.model_max_length == 24  # tokenizer_config.json


def test_sentencepiece_tokens_to_string_follows_the_fast_decoder(models: dict) -> None:
    slow = pipeline("ner", models["ner-v3"]).tokenizer
    fast = DebertaV2Tokenizer.from_pretrained(models["ner-v3"], reference="fast")
    for tokenizer in (slow, fast):
        # Metaspace: "▁" is a space, dropped in the first token; trailing spaces and special tokens stay.
        assert tokens_to_string(tokenizer, ["▁Jones", "▁sang", "▁"]) == "Jones sang "
        assert tokens_to_string(tokenizer, ["▁", "▁x"]) == " x"
        assert tokens_to_string(tokenizer, ["[MASK]", "▁."]) == "[MASK] ."
        ids = [
            tokenizer.cls_token_id,
            *tokenizer.convert_tokens_to_ids(["▁", "▁world"]),
            tokenizer.sep_token_id,
        ]
        assert decode(tokenizer, ids, skip_special_tokens=True) == " world"  # a filled-in "▁" at the start
    assert slow.convert_tokens_to_string(["▁Jones", "▁sang", "▁"]) == "Jones sang"  # the slow tokenizer's
    # byte pieces: UTF-8 where sentencepiece writes them; the fast tokenizer never does and spells them out
    assert tokens_to_string(slow, ["▁", "<0xE1>", "<0xB8>", "<0xB0>", "aren"]) == "Ḱaren"
    assert tokens_to_string(fast, ["<0xE1>"]) == "<0xE1>"


def test_byte_pieces_make_the_words_of_the_fast_tokenizers_unk(models: dict) -> None:
    # sentencepiece writes "Ḱ" as three byte pieces where the fast tokenizer writes one [UNK]: the words (and
    # their characters) must come out the same, so that first/average/max group the same tokens.
    from conformance.generate_pipelines import BYTE_FALLBACK_TEXT

    def words(tokenizer: DebertaV2Tokenizer) -> list[tuple[str, int, int]]:
        ner = pipeline("ner", models["ner-v3"], tokenizer=tokenizer)
        (feature,) = ner.preprocess(BYTE_FALLBACK_TEXT, ner._parameters({}))
        tokens = ner.pre_entities(feature, np.zeros((len(feature), 7)))
        return [
            (tokens_to_string(tokenizer, [t["word"] for t in w]), w[0]["start"], w[-1]["end"])
            for w in split_words(tokens)
        ]

    slow = DebertaV2Tokenizer.from_pretrained(models["ner-v3"])
    fast = DebertaV2Tokenizer.from_pretrained(models["ner-v3"], reference="fast")
    assert slow(BYTE_FALLBACK_TEXT)["input_ids"] != fast(BYTE_FALLBACK_TEXT)["input_ids"]
    assert words(slow) == words(fast)
    assert ("Ḱaren", 0, 5) in words(slow) and ("Ẅilson", 6, 12) in words(slow)


def test_v2_pipelines_with_pre_split_words_need_no_prefix_space(models: dict) -> None:
    # Each word gets its "▁" anyway (no add_prefix_space option to set, unlike v1's BPE). ("simple": "first"
    # would join the decoded words of a group without spaces, "toBerlin", as transformers does.)
    ner = pipeline("ner", models["ner-v3"], aggregation_strategy="simple")
    [entities] = ner(["Zoë", "flew", "to", "Berlin"], is_split_into_words=True, ignore_labels=[])
    assert [e["word"] for e in entities] == [
        "Zoë flew to Berlin"[e["start"] : e["end"]].strip() for e in entities
    ]


def test_qa_on_a_long_context_gives_no_length_warning(models: dict) -> None:
    import warnings

    qa = pipeline("question-answering", models["qa"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # transformers' QA pipeline windows long contexts without a warning
        qa(question="Where?", context="HuggingFace was founded in Paris. " * 200)
