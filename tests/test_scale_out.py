"""Predictor on real engines: a local Ray instance (2 actors) and a Dask LocalCluster (2 workers), over a JSONL
corpus of 3000 real paragraphs (tokenizer corpus sources) plus bad rows; every result is the single-process
pipeline's. Skipped without the `ray` / `dask` extras."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import pipeline_models
from conformance.tokenizer_corpus import short_documents
from deberta_np import Predictor, pipeline
from deberta_np.pipelines import Failure
from tests.tolerance import encoder_terms, reordering_tolerance

DOCUMENTS = 3000
BAD_ROWS = {17: "", 1234: None}  # row id -> text: an empty text, a JSON null


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any], dict[str, Path]]:
    root = tmp_path_factory.mktemp("scale-out")
    texts: list[Any] = list(short_documents(DOCUMENTS))
    for row, text in BAD_ROWS.items():
        texts[row] = text
    path = root / "corpus.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
    )
    models = pipeline_models.build_all(root / "models", ["sentiment", "encoder"])
    return path, texts, models


def reference(model: Path, task: str, texts: list[Any], **options: Any) -> list[Any]:
    """The single-process pipeline over the whole corpus (a Failure for a bad row)."""
    pipe = pipeline(task, model, batch_size=8)
    good = [i for i, t in enumerate(texts) if isinstance(t, str) and t]
    results: list[Any] = [None] * len(texts)
    for i, result in zip(good, pipe.run([texts[i] for i in good], errors="collect", **options)):
        results[i] = result
    return results


def tolerance(model: Path, magnitude: float) -> float:
    """Rows batched with other rows (other padding, other BLAS blocking) round differently: the bound of the
    computation (tests/tolerance.py), far below what a wrong row or a mixed-up order gives."""
    from deberta_np.config import config_from_pretrained

    return reordering_tolerance(np.float32, encoder_terms(config_from_pretrained(model), 512), magnitude)


def missing(value: Any) -> bool:
    """No value, as the formats write it: None, pandas' NA, or NaN (Parquet's null read back)."""
    return value is None or str(value) in ("<NA>", "nan")


def check_classification(
    ids: list[int], labels: list[Any], scores: list[float], errors: list[Any], texts, models
):
    expected = reference(models["sentiment"], "text-classification", texts)
    tol = tolerance(models["sentiment"], 1.0)
    assert sorted(ids) == list(range(len(texts)))  # every row once
    worst = 0.0
    for i, label, score, error in zip(ids, labels, scores, errors):
        if i in BAD_ROWS:
            assert error == ("text is empty" if BAD_ROWS[i] == "" else "text is missing")
            assert missing(label)
            continue
        # a real paragraph too long for the absolute positions: the same error as in one process
        if isinstance(expected[i], Failure):
            assert error == str(expected[i].error) and missing(label)
            continue
        assert missing(error), (i, error)
        assert label == expected[i]["label"], i
        worst = max(worst, abs(score - expected[i]["score"]))
    assert worst <= tol, (worst, tol)


def test_ray_data_two_actors_parquet_round_trip(corpus, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    pytest.importorskip("pyarrow")
    path, texts, models = corpus
    # 4 logical CPUs on this 2-core machine: 2 for the actors, and room for the read and write tasks, which would
    # otherwise wait for a CPU that the actors hold (each actor runs one single-threaded forward).
    # A short private session directory: Ray's socket paths must fit 107 bytes, and /tmp/ray may be another user's.
    session = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, _temp_dir=session)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        out = tmp_path / "out"
        (
            ray.data.read_json(str(path))
            .map_batches(
                Predictor,
                fn_constructor_kwargs={"model_dir": str(models["sentiment"]), "task": "text-classification"},
                batch_size=256,
                batch_format="pandas",
                concurrency=2,
            )
            .write_parquet(str(out))
        )
        assert len(list(out.glob("*.parquet"))) >= 2  # more than one block: the actors shared the work
        rows = ray.data.read_parquet(str(out)).to_pandas()
    finally:
        ray.shutdown()
        shutil.rmtree(session, ignore_errors=True)
    assert len(rows) == DOCUMENTS
    check_classification(
        list(rows["id"]), list(rows["label"]), list(rows["score"]), list(rows["error"]), texts, models
    )


def test_dask_local_cluster_two_workers(corpus) -> None:
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    pd = pytest.importorskip("pandas")
    path, texts, models = corpus
    frame = pd.read_json(path, lines=True, dtype={"text": object})
    predictor = Predictor(models["encoder"], "feature-extraction")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        ddf = dd.from_pandas(frame, npartitions=8)
        rows = ddf.map_partitions(predictor, meta=predictor.meta(ddf)).compute()
    assert not predictor.loaded  # the client never loaded the model: the workers did
    expected = reference(models["encoder"], "feature-extraction", texts, pooling="mean", return_tensors=True)
    assert sorted(rows["id"]) == list(range(DOCUMENTS))
    worst = 0.0
    for i, vector, error in zip(rows["id"], rows["embedding"], rows["error"]):
        if i in BAD_ROWS:
            assert isinstance(error, str) and np.isnan(vector).all()
            continue
        assert missing(error), (i, error)
        assert not isinstance(expected[i], Failure)
        worst = max(worst, float(np.abs(vector - expected[i]).max()))
    magnitude = max(float(np.abs(e).max()) for e in expected if e is not None)
    assert worst <= tolerance(models["encoder"], magnitude), worst
