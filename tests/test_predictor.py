"""deberta_np.Predictor on the batches that Ray Data and Dask pass: every row's result is the pipeline's own."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import pipeline_models
from deberta_np import InputError, Predictor, pipeline
from deberta_np.pipelines import Failure
from tests.conftest import assert_same_container

TEXTS = [
    "A short one.",
    "A much longer text about Berlin, Paris and New York City in the summer.",
    "Mid length text about [MASK] and more.",
]
# Rows that cannot be a text: the message each must give (from the pipeline's own checks).
BAD = {"": "text is empty", None: "text is missing", 7: "text must be a str, got int"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pipeline_models.build_all(
        tmp_path_factory.mktemp("predictor-models"), ["sentiment", "nli", "ner", "qa", "encoder", "mlm"]
    )


def batch_of(texts: list[Any], **extra: list[Any]) -> dict[str, np.ndarray]:
    column = np.empty(len(texts), dtype=object)
    column[:] = texts
    out = {"text": column, "id": np.arange(len(texts))}
    for name, values in extra.items():
        out[name] = np.empty(len(values), dtype=object)
        out[name][:] = values
    return out


CASES = [
    ("text-classification", "sentiment", {}),
    ("sentiment-analysis", "sentiment", {"top_k": None}),
    ("zero-shot-classification", "nli", {"candidate_labels": ["sports", "politics", "art"]}),
    ("ner", "ner", {"aggregation_strategy": "simple"}),
    ("token-classification", "ner", {}),
    ("feature-extraction", "encoder", {}),
    ("feature-extraction", "encoder", {"pooling": "cls"}),
    ("feature-extraction", "encoder", {"pooling": "none"}),
    ("fill-mask", "mlm", {"top_k": 3}),
]


def expected_columns(task: str, options: dict, result: Any) -> dict[str, Any]:
    """The result columns of one row, from the pipeline's result (the mapping the Predictor documents)."""
    if task in ("text-classification", "sentiment-analysis"):
        if "top_k" in options:
            return {"labels": [r["label"] for r in result], "scores": [r["score"] for r in result]}
        return {"label": result["label"], "score": result["score"]}
    if task == "zero-shot-classification":
        return {"labels": result["labels"], "scores": result["scores"]}
    if task in ("ner", "token-classification"):
        return {"entities": result}
    if task == "feature-extraction":
        return {
            "embedding": np.asarray(result)[0] if options.get("pooling") == "none" else np.asarray(result)
        }
    if task == "fill-mask":
        return {"predictions": result if isinstance(result[0], list) else [result]}
    raise AssertionError(task)


def assert_equal(a: Any, b: Any) -> None:
    """The same value: one pipeline, the same rows in the same batches, so the same floats bit for bit."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        assert_same_container(a, b, assert_equal)


@pytest.mark.parametrize(("task", "model", "options"), CASES)
def test_dict_batch_matches_the_pipeline_and_isolates_bad_rows(
    models: dict, task: str, model: str, options: dict
) -> None:
    texts = [TEXTS[0], "", TEXTS[1], None, TEXTS[2], 7]
    predictor = Predictor(models[model], task, **options)
    out = predictor(batch_of(texts))
    np.testing.assert_array_equal(out["id"], np.arange(len(texts)))  # input columns kept
    pipe = pipeline(task, models[model], batch_size=8)
    call = {**options, "return_tensors": True} if task == "feature-extraction" else options
    if task == "feature-extraction":
        call.setdefault("pooling", "mean")
    good = [t for t in texts if isinstance(t, str) and t]
    expected = iter(pipe.run(good, errors="collect", **call))
    for row, text in enumerate(texts):
        if text in BAD or text is None:
            assert out["error"][row] == BAD[text]
            continue
        result = next(expected)
        if isinstance(result, Failure):  # fill-mask on a text without [MASK]: the pipeline's own message
            assert out["error"][row] == str(result.error) and out["predictions"][row] is None
            continue
        assert out["error"][row] is None
        for name, value in expected_columns(task, options, result).items():
            assert_equal(out[name][row], value)


def test_dict_batch_embeddings_are_one_array_and_nan_for_a_failed_row(models: dict) -> None:
    out = Predictor(models["encoder"], "feature-extraction")(batch_of(["One text.", "", "Two texts."]))
    assert out["embedding"].shape == (3, 32) and out["embedding"].dtype == np.float32
    assert np.isnan(out["embedding"][1]).all() and np.isfinite(out["embedding"][[0, 2]]).all()


def test_text_pairs_and_question_answering(models: dict) -> None:
    pairs = batch_of(["A man eats.", "A man eats.", "Alone."], text_pair=["Someone eats.", "", None])
    out = Predictor(models["sentiment"], "text-classification")(pairs)
    pipe = pipeline("text-classification", models["sentiment"], batch_size=8)
    # the same items in the same batch as the predictor's: the same floats
    expected = pipe.run(
        [{"text": "A man eats.", "text_pair": "Someone eats."}, "Alone."]
    )  # a null pair: none
    assert [out["label"][0], out["score"][0]] == [expected[0]["label"], expected[0]["score"]]
    assert out["error"][1] == "text_pair is empty"
    assert [out["label"][2], out["score"][2]] == [expected[1]["label"], expected[1]["score"]]
    questions = {
        "q": np.array(["Who opened the pier?", "Where?", ""], dtype=object),
        "c": np.array(["The mayor opened the pier in 1901.", "Here and there.", "Context."], dtype=object),
    }
    out = Predictor(models["qa"], "question-answering", question_column="q", context_column="c")(questions)
    qa = pipeline("question-answering", models["qa"], batch_size=8)
    results = qa.run([{"question": q, "context": c} for q, c in zip(questions["q"][:2], questions["c"][:2])])
    for row, result in enumerate(results):
        assert [out[k][row] for k in ("answer", "score", "start", "end")] == [
            result[k] for k in ("answer", "score", "start", "end")
        ]
    assert out["error"][2] == "q is empty" and out["start"][2] == -1 and np.isnan(out["score"][2])


def test_dataframe_batch_and_meta_without_loading(models: dict) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"body": ["A short one.", None, "Mid length text."], "id": [10, 11, 12]})
    predictor = Predictor(
        models["sentiment"], "text-classification", text_column="body", output_prefix="pred_"
    )
    meta = predictor.meta(frame)
    assert not predictor.loaded  # Dask's meta= must not load the model on the client
    assert list(meta.columns) == ["body", "id", "pred_label", "pred_score", "pred_error"] and meta.empty
    out = predictor(frame)
    assert list(out.columns) == list(meta.columns) and list(out.dtypes) == list(meta.dtypes)
    expected = pipeline("text-classification", models["sentiment"], batch_size=8).run(
        list(frame["body"][0::2])
    )
    assert out["pred_label"].tolist()[0::2] == [r["label"] for r in expected]
    assert out["pred_score"].tolist()[0::2] == [r["score"] for r in expected]
    assert out["pred_error"].isna().tolist() == [True, False, True]
    assert out["pred_error"][1] == "body is missing"


def test_pickles_without_the_model_and_loads_once_per_process(models: dict) -> None:
    predictor = Predictor(models["sentiment"], "text-classification", top_k=2)
    assert len(pickle.dumps(predictor)) < 1000  # only the path and the options travel
    predictor(batch_of(["A text."]))
    assert predictor.loaded
    assert len(pickle.dumps(predictor)) < 1000  # still not the model after loading
    copy = pickle.loads(pickle.dumps(predictor))
    assert not copy.loaded
    copy(batch_of(["Another text."]))
    assert copy.pipeline() is predictor.pipeline()  # the worker's copy found the loaded pipeline


def test_refusals_name_the_problem(models: dict) -> None:
    with pytest.raises(TypeError, match="aggregation_strategy"):
        Predictor(models["sentiment"], "text-classification", aggregation_strategy="simple")
    with pytest.raises(ValueError, match="unknown task"):
        Predictor(models["sentiment"], "summarization")
    predictor = Predictor(models["sentiment"], "text-classification")
    with pytest.raises(InputError, match=r"no column 'text'.*'body'.*text_column="):
        predictor({"body": np.array(["x"], dtype=object)})
    with pytest.raises(InputError, match=r"'label'.*output_prefix="):
        predictor({"text": np.array(["x"], dtype=object), "label": np.array([1])})
    with pytest.raises(TypeError, match="dict of arrays"):
        predictor(["a list"])
    with pytest.raises((TypeError, ValueError), match="candidate_labels is required"):  # the pipeline's check
        Predictor(models["nli"], "zero-shot-classification")(batch_of(["A text."]))


def test_a_failure_in_the_model_stays_in_its_row(models: dict) -> None:
    # The sentiment model adds absolute positions (512): a longer text fails alone, its batch-mates run.
    long = " ".join(["word"] * 600)
    out = Predictor(models["sentiment"], "text-classification")(batch_of(["Fine.", long, "Also fine."]))
    assert out["error"][0] is None and out["error"][2] is None
    expected = pipeline("text-classification", models["sentiment"]).run([long], errors="collect")[0]
    assert isinstance(expected, Failure) and out["error"][1] == str(expected.error)
