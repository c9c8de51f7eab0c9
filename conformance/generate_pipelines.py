"""Write the pipeline goldens: transformers 4.57.6's own `pipeline(...)` outputs on the random checkpoints of
`conformance/pipeline_models.py` (needs the `oracle` extra and ../shared/tokenizers/deberta-v1).

    python -m conformance.generate_pipelines          # rewrites conformance/golden/pipelines/goldens.json

Every case of CASES is one pipeline call: a task, a checkpoint, the pipeline's construction options and the
call's arguments. The golden holds the call and transformers' result (or the type of the error it raised),
plus the versions and the sha256 of every checkpoint's weights, so the checker can prove it rebuilt the same
bytes. Nothing here is written by hand: change a case and run this again.

Robustness: each case also runs with the model in float64. Labels, tokens, spans, offsets and orderings must
be the same as in float32, so that float noise (deberta_np vs torch, ~1e-6) cannot flip them; a case that fails
this is reported and must be changed (another text, another option) before goldens are written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from conformance.pipeline_models import MODELS, TOKENIZER_DIR, build_all, weights_digest

GOLDEN_FILE = Path(__file__).resolve().parent / "golden" / "pipelines" / "goldens.json"
PINNED_TRANSFORMERS = "4.57.6"

# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------

LONG_CONTEXT = (
    "The town of Eastbridge sits where the river Calder meets the sea, and for most of its history it lived from "
    "fishing, salt and the small trade of a harbour that froze in hard winters. The first stone bridge was built in "
    "1312 by the monks of Saint Aldric, who charged a penny for every cart and a farthing for every pedestrian. "
    "When the abbey was dissolved, the tolls passed to the town council, which spent them on a market hall, a "
    "grammar school and, much later, a lighthouse painted in red and white bands. In the eighteenth century the "
    "harbour was deepened twice, and ships from Norway, Portugal and the Baltic brought timber, wine and iron. The "
    "merchants who grew rich on that trade built the tall houses of Quay Street, whose gables still lean over the "
    "water. A great fire in 1791 destroyed the market hall and forty houses; it started in a bakery on Cooper Lane "
    "and burned for two days because the wells were frozen. The council rebuilt the hall in brick and ordered that "
    "every new roof be covered with slate instead of thatch. The railway arrived in 1864, and with it came visitors "
    "from the inland cities, who wanted sea air, bathing machines and a promenade. Hotels appeared along the "
    "northern beach, and a pier of iron and oak was opened by the mayor, Margaret Holloway, in the summer of 1881. "
    "The pier was damaged by storms three times and finally closed in 1953. During both world wars the harbour "
    "served as a base for minesweepers, and a small museum near the lighthouse keeps their logbooks, flags and "
    "photographs. Today about nine thousand people live in Eastbridge. The fishing fleet has shrunk to a dozen "
    "boats, but the salt works were reopened in 2009 by a cooperative that sells flaky sea salt to restaurants "
    "across the country. The grammar school became a college of marine engineering, and its students maintain the "
    "lighthouse lamp as part of their training. Every August the town holds the Calder Regatta, a race of rowing "
    "boats from the old bridge to the harbour mouth, followed by a night market on Quay Street. The record for the "
    "course, eleven minutes and four seconds, was set in 1997 by a crew from the college. Visitors who climb the "
    "two hundred and twelve steps of the lighthouse can see, on clear days, the hills of the far shore and the "
    "wind farm that now supplies most of the town's electricity. The old toll house at the southern end of the "
    "bridge is a café, and its owner, Tomasz Wiśniewski, says that he still charges a penny for advice."
)

SHORT_CONTEXT = (
    "My name is Wolfgang and I live in Berlin. It is a big city in Germany with many parks and lakes."
)

NER_TEXTS = [
    "My name is Wolfgang Kowalczykowski and I live in Berlin, Germany.",
    "Hugging Face Inc. is a company based in New York City; its headquarters are in DUMBO.",
    "Zoë Saldaña flew from Zürich to São Paulo with 3 colleagues 🙂 on 12/05/2023.",
]

NER_LONG = (
    "Ada Lovelace worked with Charles Babbage in London on the Analytical Engine, while Mary Somerville introduced "
    "them at a dinner in Chelsea; later, the Royal Society in Burlington House and the University of Cambridge "
    "honoured both of them, and Lady Byron kept their letters in Kirkby Mallory."
)

SENTIMENT_TEXTS = [
    "I love this movie.",
    "Terrible, awful service!",
    "It was fine I guess",
    "The weather today is mild and grey.",
    "Absolutely wonderful: the best dinner we have had in years.",
    "ok",
]

# ---------------------------------------------------------------------------------------------------------------
# Cases: (id, task, model, init options, positional args, keyword args)
# ---------------------------------------------------------------------------------------------------------------


def case(
    id: str, task: str, model: str, args: list | None = None, init: dict | None = None, **kwargs: Any
) -> dict:
    return {"id": id, "task": task, "model": model, "init": init or {}, "args": args or [], "kwargs": kwargs}


CASES = [
    # fill-mask
    case("fill-mask/default", "fill-mask", "mlm", ["Paris is the [MASK] of France."]),
    case(
        "fill-mask/batch-top_k",
        "fill-mask",
        "mlm",
        [
            [
                "The [MASK] sat on the mat.",
                "I would like a cup of [MASK], please, with a little milk.",
                "Hello [MASK]!",
            ]
        ],
        init={"batch_size": 2},
        top_k=3,
    ),
    case("fill-mask/two-masks", "fill-mask", "mlm", ["Paris is the [MASK] of [MASK]."], top_k=2),
    case(
        "fill-mask/targets",
        "fill-mask",
        "mlm",
        ["Paris is the [MASK] of France."],
        targets=[" capital", "Paris", "zzzqqq", "Ġcity"],
    ),
    case(
        "fill-mask/targets-top_k",
        "fill-mask",
        "mlm",
        ["Paris is the [MASK] of France."],
        targets=[" capital", " city", " heart"],
        top_k=2,
    ),
    case("fill-mask/one-item-list", "fill-mask", "mlm", [["My [MASK] is John."]]),
    case("fill-mask/init-top_k", "fill-mask", "mlm", ["Berlin is a [MASK] city."], init={"top_k": 2}),
    case("fill-mask/error-no-mask", "fill-mask", "mlm", ["Paris is the capital of France."]),
    case("fill-mask/error-empty", "fill-mask", "mlm", [""]),
    # text-classification
    case("text-classification/legacy-single", "text-classification", "sentiment", [SENTIMENT_TEXTS[0]]),
    case(
        "text-classification/legacy-list",
        "text-classification",
        "sentiment",
        [SENTIMENT_TEXTS],
        init={"batch_size": 4},
    ),
    case(
        "text-classification/top_k-none", "text-classification", "sentiment", [SENTIMENT_TEXTS[1]], top_k=None
    ),
    case(
        "text-classification/top_k-2-list",
        "text-classification",
        "sentiment",
        [SENTIMENT_TEXTS],
        top_k=2,
        init={"batch_size": 3},
    ),
    case(
        "text-classification/pair",
        "text-classification",
        "sentiment",
        [{"text": "A man is eating a sandwich.", "text_pair": "Someone eats."}],
    ),
    case(
        "text-classification/pairs-top_k",
        "text-classification",
        "sentiment",
        [
            [
                {"text": "A man is eating.", "text_pair": "Someone eats."},
                {"text": "It rains.", "text_pair": "The sun is shining brightly over the hills."},
            ]
        ],
        top_k=None,
        init={"batch_size": 2},
    ),
    case(
        "text-classification/sigmoid",
        "text-classification",
        "sentiment",
        [SENTIMENT_TEXTS[2]],
        function_to_apply="sigmoid",
        top_k=None,
    ),
    case(
        "text-classification/none",
        "text-classification",
        "sentiment",
        [SENTIMENT_TEXTS[3]],
        function_to_apply="none",
        top_k=None,
    ),
    case(
        "text-classification/init-top_k-none",
        "text-classification",
        "sentiment",
        [SENTIMENT_TEXTS[4]],
        init={"top_k": None},
    ),
    case(
        "text-classification/multi-label",
        "text-classification",
        "sentiment-multilabel",
        [SENTIMENT_TEXTS[:3]],
        top_k=None,
    ),
    case("text-classification/one-label", "text-classification", "score", [SENTIMENT_TEXTS[:2]]),
    case(
        "text-classification/regression",
        "text-classification",
        "regression",
        [SENTIMENT_TEXTS[:2]],
        top_k=None,
    ),
    # zero-shot-classification
    case(
        "zero-shot/default",
        "zero-shot-classification",
        "nli",
        ["I have a problem with my iphone that needs to be resolved asap!!"],
        candidate_labels=["urgent", "not urgent", "phone", "tablet", "computer"],
    ),
    case(
        "zero-shot/multi-label",
        "zero-shot-classification",
        "nli",
        ["I have a problem with my iphone that needs to be resolved asap!!"],
        candidate_labels=["urgent", "not urgent", "phone", "tablet", "computer"],
        multi_label=True,
    ),
    case(
        "zero-shot/one-label",
        "zero-shot-classification",
        "nli",
        ["The match ended in a draw."],
        candidate_labels=["sports"],
    ),
    case(
        "zero-shot/comma-labels-template",
        "zero-shot-classification",
        "nli",
        ["The parliament voted on the budget late last night."],
        candidate_labels="sports, politics ,  cooking",
        hypothesis_template="The topic of this text is {}.",
    ),
    case(
        "zero-shot/batch",
        "zero-shot-classification",
        "nli",
        [["Who won the cup final?", "Preheat the oven to 200 degrees and add the flour slowly."]],
        candidate_labels=["sports", "cooking", "travel"],
        init={"batch_size": 4},
    ),
    case(
        "zero-shot/cross-encoder-order",
        "zero-shot-classification",
        "nli-cross-encoder",
        ["Apple just announced the newest iPhone X"],
        candidate_labels=["technology", "sports", "politics"],
    ),
    case(
        "zero-shot/cross-encoder-multi-label",
        "zero-shot-classification",
        "nli-cross-encoder",
        ["Apple just announced the newest iPhone X"],
        candidate_labels=["technology", "sports", "politics"],
        multi_label=True,
    ),
    case(
        "zero-shot/neutral-first-multi-label",
        "zero-shot-classification",
        "nli-neutral-first",
        ["The new bridge will open to traffic in May."],
        candidate_labels=["infrastructure", "music", "health"],
        multi_label=True,
    ),
    case("zero-shot/error-no-labels", "zero-shot-classification", "nli", ["Some text."], candidate_labels=[]),
    case(
        "zero-shot/error-template",
        "zero-shot-classification",
        "nli",
        ["Some text."],
        candidate_labels=["a"],
        hypothesis_template="No slot.",
    ),
    case("zero-shot/error-empty-text", "zero-shot-classification", "nli", [""], candidate_labels=["a", "b"]),
    # token-classification
    *[
        case(
            f"ner/{strategy}",
            "token-classification",
            "ner",
            [NER_TEXTS],
            aggregation_strategy=strategy,
            init={"batch_size": 2},
        )
        for strategy in ("none", "simple", "first", "average", "max")
    ],
    case("ner/default-single", "token-classification", "ner", [NER_TEXTS[0]]),
    case(
        "ner/ignore-nothing",
        "token-classification",
        "ner",
        [NER_TEXTS[1]],
        aggregation_strategy="simple",
        ignore_labels=[],
    ),
    case(
        "ner/ignore-org",
        "token-classification",
        "ner",
        [NER_TEXTS[1]],
        aggregation_strategy="first",
        ignore_labels=["O", "ORG"],
    ),
    case(
        "ner/init-strategy",
        "token-classification",
        "ner",
        [NER_TEXTS[2]],
        init={"aggregation_strategy": "average"},
    ),
    case(
        "ner/split-words",
        "token-classification",
        "ner-prefix-space",
        [["Wolfgang", "Kowalczykowski", "lives", "in", "Berlin"]],
        is_split_into_words=True,
        aggregation_strategy="simple",
    ),
    case(
        "ner/split-words-batch",
        "token-classification",
        "ner-prefix-space",
        [[["Ada", "Lovelace", "met", "Charles", "Babbage"], ["Zoë", "flew", "to", "São", "Paulo", "."]]],
        is_split_into_words=True,
        aggregation_strategy="first",
        delimiter="  ",
    ),
    case(
        "ner/prefix-space-text",
        "token-classification",
        "ner-prefix-space",
        [NER_TEXTS[0]],
        aggregation_strategy="simple",
    ),
    case(
        "ner/error-split-words-no-prefix-space",
        "token-classification",
        "ner",
        [["Wolfgang", "lives", "here"]],
        is_split_into_words=True,
    ),
    *[
        case(
            f"ner/windows-{strategy}",
            "token-classification",
            "ner-windows",
            [NER_LONG],
            aggregation_strategy=strategy,
            stride=6,
        )
        for strategy in ("simple", "first", "max")
    ],
    case(
        "ner/error-stride-none",
        "token-classification",
        "ner-windows",
        [NER_LONG],
        aggregation_strategy="none",
        stride=6,
    ),
    # question-answering
    case("qa/default", "question-answering", "qa", question="Where do I live?", context=SHORT_CONTEXT),
    case("qa/top_k", "question-answering", "qa", question="Where do I live?", context=SHORT_CONTEXT, top_k=3),
    case(
        "qa/long-context",
        "question-answering",
        "qa",
        question="Who opened the pier?",
        context=LONG_CONTEXT,
        top_k=3,
    ),
    case(
        "qa/long-context-small-windows",
        "question-answering",
        "qa",
        question="When did the railway arrive?",
        context=LONG_CONTEXT,
        max_seq_len=64,
        doc_stride=16,
        top_k=2,
        init={"batch_size": 8},
    ),
    case(
        "qa/max_answer_len",
        "question-answering",
        "qa",
        question="What does the museum keep?",
        context=LONG_CONTEXT,
        max_answer_len=3,
        top_k=2,
    ),
    case(
        "qa/impossible",
        "question-answering",
        "qa",
        question="What colour is the sky?",
        context=SHORT_CONTEXT,
        handle_impossible_answer=True,
        top_k=2,
    ),
    case(
        "qa/impossible-short",
        "question-answering",
        "qa",
        question="Where?",
        context="Berlin is big.",
        handle_impossible_answer=True,
        top_k=3,
    ),
    case(
        "qa/no-align",
        "question-answering",
        "qa",
        question="Where do I live?",
        context=SHORT_CONTEXT,
        align_to_words=False,
        top_k=2,
    ),
    case(
        "qa/max_question_len",
        "question-answering",
        "qa",
        question="Which city is my home city, the one with parks?",
        context=SHORT_CONTEXT,
        max_question_len=3,
    ),
    case(
        "qa/list-of-dicts",
        "question-answering",
        "qa",
        [
            [
                {"question": "Where do I live?", "context": SHORT_CONTEXT},
                {"question": "What is the record?", "context": LONG_CONTEXT},
            ]
        ],
        init={"batch_size": 4},
    ),
    case(
        "qa/questions-one-context",
        "question-answering",
        "qa",
        question=["Who owns the café?", "What was built in 1312?"],
        context=LONG_CONTEXT,
    ),
    case(
        "qa/error-question-too-long",
        "question-answering",
        "qa",
        question="Please tell me, after reading all of this very long text carefully, where exactly do I live now?",
        context=LONG_CONTEXT,
        max_seq_len=24,
        doc_stride=4,
    ),
    case("qa/error-empty-context", "question-answering", "qa", question="Where?", context=""),
    case(
        "qa/error-stride",
        "question-answering",
        "qa",
        question="Where?",
        context=SHORT_CONTEXT,
        doc_stride=100,
        max_seq_len=64,
    ),
    # feature-extraction
    case("feature-extraction/single", "feature-extraction", "encoder", ["Hello world!"]),
    # batch_size 1: with larger batches transformers returns each text padded to its batch's longest (pad
    # positions included); deberta_np returns each text's own tokens whatever the batch size.
    case(
        "feature-extraction/list",
        "feature-extraction",
        "encoder",
        [["A short one.", "A slightly longer second sentence."]],
    ),
]

# ---------------------------------------------------------------------------------------------------------------
# Running transformers
# ---------------------------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Pipeline output -> JSON values (NumPy and torch scalars become Python numbers)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def run_case(pipelines: dict, directories: dict[str, Path], spec: dict, torch_dtype: Any) -> dict:
    from transformers import pipeline

    init = dict(spec["init"])
    key = (spec["task"], spec["model"], json.dumps(init, sort_keys=True), str(torch_dtype))
    if key not in pipelines:
        pipelines[key] = pipeline(
            spec["task"], model=str(directories[spec["model"]]), torch_dtype=torch_dtype, **init
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = pipelines[key](*spec["args"], **spec["kwargs"])
    except BaseException as error:  # the tokenizers library panics (PanicException is a BaseException)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return {"error": type(error).__name__, "message": str(error)[:300]}
    return {"output": plain(output)}


def structure(value: Any) -> Any:
    """Everything but the scores (and hidden-state values): what float noise must not change."""
    if isinstance(value, dict):
        return {k: structure(v) for k, v in value.items() if k not in ("score", "scores")}
    if isinstance(value, list):
        return [structure(v) for v in value]
    if isinstance(value, float):
        return "float"
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.generate_pipelines", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", action="append", help="run only these case ids (prints, writes nothing)")
    args = parser.parse_args(argv)

    import tokenizers
    import torch
    import transformers

    if transformers.__version__ != PINNED_TRANSFORMERS:
        raise SystemExit(
            f"the goldens are pinned to transformers {PINNED_TRANSFORMERS}, found {transformers.__version__}"
        )
    if not TOKENIZER_DIR.is_dir():
        raise SystemExit(
            f"{TOKENIZER_DIR} not found: the pipeline goldens need the shared deberta-v1 tokenizer"
        )
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    cases = [c for c in CASES if not args.only or c["id"] in args.only]
    unstable = []
    with tempfile.TemporaryDirectory() as tmp:
        directories = build_all(Path(tmp), sorted({c["model"] for c in cases}))
        pipelines: dict = {}
        results = []
        for spec in cases:
            golden = run_case(pipelines, directories, spec, torch.float32)
            check = run_case(pipelines, directories, spec, torch.float64)
            if ("error" in golden) != ("error" in check) or structure(golden.get("output")) != structure(
                check.get("output")
            ):
                unstable.append(spec["id"])
            results.append({**spec, **golden})
            print(
                f"{spec['id']:45s} {'ERROR ' + golden['error'] if 'error' in golden else 'ok'}",
                file=sys.stderr,
            )
        digests = {name: weights_digest(directory) for name, directory in directories.items()}
    if args.only:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    if unstable:
        print(
            f"float32 and float64 disagree beyond the scores (near-ties) in: {', '.join(unstable)}",
            file=sys.stderr,
        )
        return 1
    if args.only:
        return 0
    metadata = {
        "generator": "python -m conformance.generate_pipelines",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "models": {
            name: {"head": MODELS[name].head, "seed": MODELS[name].seed, "sha256": digest}
            for name, digest in digests.items()
        },
        "tokenizer": "../shared/tokenizers/deberta-v1 (vocab.json, merges.txt)",
        "robustness": "every case gives the same labels, tokens, spans and orderings with the model in float64",
    }
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_FILE.write_text(
        json.dumps({"metadata": metadata, "cases": results}, indent=1, ensure_ascii=False) + "\n"
    )
    print(
        f"wrote {len(results)} cases to {GOLDEN_FILE} ({GOLDEN_FILE.stat().st_size / 1024:.0f} KiB)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
