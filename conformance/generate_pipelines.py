"""Write the pipeline goldens: transformers 4.57.6's own `pipeline(...)` outputs on the random checkpoints of
`conformance/pipeline_models.py` (needs the `oracle` extra; reads data/tokenizers/deberta-v1 and
data/tokenizers/deberta-v3).

    python -m conformance.generate_pipelines          # rewrites conformance/golden/pipelines/goldens.json

Every case of CASES is one pipeline call: a task, a checkpoint, the pipeline's construction options and the
call's arguments. The golden holds the call and transformers' result (or the type of the error it raised),
plus the versions and the sha256 of every checkpoint's weights, so the checker can prove it rebuilt the same
bytes. Nothing here is written by hand: change a case and run this again.

Robustness: each case also runs with the model in float64. Labels, tokens, spans, offsets and orderings must
be the same as in float32, so that float noise (deberta_np vs torch, ~1e-6) cannot flip them; a case that fails
this is reported and must be changed (another text, another option) before goldens are written.

DeBERTa v2/v3 (SentencePiece). transformers' pipelines load `DebertaV2TokenizerFast`, while deberta_np's
`DebertaV2Tokenizer` gives sentencepiece's ids by default (those of transformers' slow tokenizer, which the
models were trained with); the two disagree on a few texts (byte fallback, some normalisations). Every text a
v2 case sends to the tokenizer is recorded and encoded with both transformers tokenizers: the golden says
whether they agree (`sentencepiece_ids_agree`). A case checked with deberta_np's default tokenizer must have
agreeing ids (the generator refuses otherwise); a case with `tokenizer: {"reference": "fast"}` is checked with
`DebertaV2Tokenizer(reference="fast")`, which reproduces the fast tokenizer, and is where the texts that the two
tokenizers split differently go.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.generate import generator_parser, pinned_transformers
from conformance.pipeline_models import (
    MODELS,
    TOKENIZER_DIR,
    TOKENIZER_V2_DIR,
    V2_TOKENIZER_CONFIG,
    build_all,
    weights_digest,
)

GOLDEN_FILE = Path(__file__).resolve().parent / "golden" / "pipelines" / "goldens.json"

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

# transformers' own QA pipeline test input: a context of 20 identical sentences (no space between them), so
# that overlapping windows hold the same text and the same answer text comes from many spans and windows.
REPEATED_QUESTION = "Where was HuggingFace founded ?"
REPEATED_CONTEXT = "HuggingFace was founded in Paris." * 20

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
    id: str,
    task: str,
    model: str,
    args: list | None = None,
    init: dict | None = None,
    tokenizer: dict | None = None,
    **kwargs: Any,
) -> dict:
    """`tokenizer`: options of deberta_np's tokenizer for the check ({"reference": "fast"}); transformers always
    uses its default (fast) tokenizer."""
    spec = {"id": id, "task": task, "model": model, "init": init or {}, "args": args or [], "kwargs": kwargs}
    if tokenizer:
        spec["tokenizer"] = tokenizer
    return spec


def maker(prefix: str, task: str, model: str) -> Callable[..., dict]:
    """`case` for one task: `make(name, args, **options)` is the case "<prefix>/<name>" on `model` (or on the
    checkpoint named by a `model=` option)."""

    def make(name: str, args: list | None = None, /, model: str = model, **options: Any) -> dict:
        return case(f"{prefix}/{name}", task, model, args, **options)

    return make


def ner_strategies(ner: Callable[..., dict], texts: list[str]) -> list[dict]:
    """Every aggregation strategy on a batch of texts, two texts per model call."""
    return [
        ner(strategy, [texts], aggregation_strategy=strategy, init={"batch_size": 2})
        for strategy in ("none", "simple", "first", "average", "max")
    ]


def ner_windows(ner: Callable[..., dict], model: str) -> list[dict]:
    """NER_LONG on a checkpoint with a 24-token model_max_length: `stride` makes overlapping windows."""
    return [
        ner(f"windows-{strategy}", [NER_LONG], model=model, aggregation_strategy=strategy, stride=6)
        for strategy in ("simple", "first", "max")
    ]


# The repeated context with transformers' defaults (one window of 384 tokens), and cut into several overlapping
# windows (all alike but the last): top_k=1 and top_k=3, with the call-time batch_size of transformers' test.
REPEATED_QA_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("", {}),
    ("-windows", {"max_seq_len": 48}),
    ("-windows-stride-top_k", {"max_seq_len": 64, "doc_stride": 20, "top_k": 3, "batch_size": 2}),
    ("-windows-impossible", {"max_seq_len": 40, "top_k": 2, "handle_impossible_answer": True}),
]


def repeated_context(qa: Callable[..., dict]) -> list[dict]:
    return [
        qa(f"repeated-context{suffix}", question=REPEATED_QUESTION, context=REPEATED_CONTEXT, **options)
        for suffix, options in REPEATED_QA_OPTIONS
    ]


TWO_PAIRS = [
    {"text": "A man is eating.", "text_pair": "Someone eats."},
    {"text": "It rains.", "text_pair": "The sun is shining brightly over the hills."},
]
URGENT = "I have a problem with my iphone that needs to be resolved asap!!"
URGENT_LABELS = ["urgent", "not urgent", "phone", "tablet", "computer"]
TWO_TOPICS = ["Who won the cup final?", "Preheat the oven to 200 degrees and add the flour slowly."]
TOO_LONG_QUESTION = (
    "Please tell me, after reading all of this very long text carefully, where exactly do I live now?"
)

# Each task's cases: their id prefix and the checkpoints they run on, v1 and v2 (a case may name another).
TASKS = {
    "fill-mask": ("fill-mask", "mlm", "mlm-v2"),
    "text-classification": ("text-classification", "sentiment", "nli-v3"),
    "zero-shot-classification": ("zero-shot", "nli", "nli-v3"),
    "token-classification": ("ner", "ner", "ner-v3"),
    "question-answering": ("qa", "qa", "qa-v3"),
    "feature-extraction": ("feature-extraction", "encoder", "v3-discriminator"),
}
fill_mask, classify, zero_shot, ner, qa, features = (
    maker(prefix, task, v1) for task, (prefix, v1, _) in TASKS.items()
)

CASES = [
    fill_mask("default", ["Paris is the [MASK] of France."]),
    fill_mask(
        "batch-top_k",
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
    fill_mask("two-masks", ["Paris is the [MASK] of [MASK]."], top_k=2),
    fill_mask(
        "targets", ["Paris is the [MASK] of France."], targets=[" capital", "Paris", "zzzqqq", "Ġcity"]
    ),
    fill_mask(
        "targets-top_k", ["Paris is the [MASK] of France."], targets=[" capital", " city", " heart"], top_k=2
    ),
    fill_mask("one-item-list", [["My [MASK] is John."]]),
    fill_mask("init-top_k", ["Berlin is a [MASK] city."], init={"top_k": 2}),
    fill_mask("error-no-mask", ["Paris is the capital of France."]),
    fill_mask("error-empty", [""]),
    classify("legacy-single", [SENTIMENT_TEXTS[0]]),
    classify("legacy-list", [SENTIMENT_TEXTS], init={"batch_size": 4}),
    classify("top_k-none", [SENTIMENT_TEXTS[1]], top_k=None),
    classify("top_k-2-list", [SENTIMENT_TEXTS], top_k=2, init={"batch_size": 3}),
    classify("pair", [{"text": "A man is eating a sandwich.", "text_pair": "Someone eats."}]),
    classify("pairs-top_k", [TWO_PAIRS], top_k=None, init={"batch_size": 2}),
    # text_pair= at the call: transformers hands it to the tokenizer with every input text
    classify("text_pair-keyword", ["A man is eating a sandwich."], text_pair="Someone eats."),
    classify(
        "text_pair-keyword-list",
        [["A man is eating.", "It rains.", {"text": "The sun is shining brightly over the hills."}]],
        text_pair="Someone eats.",
        top_k=None,
    ),
    classify("error-text_pair-twice", [TWO_PAIRS[0]], text_pair="Nobody eats."),
    classify("call-batch_size", [SENTIMENT_TEXTS], batch_size=4, top_k=2),
    classify("sigmoid", [SENTIMENT_TEXTS[2]], function_to_apply="sigmoid", top_k=None),
    classify("none", [SENTIMENT_TEXTS[3]], function_to_apply="none", top_k=None),
    classify("init-top_k-none", [SENTIMENT_TEXTS[4]], init={"top_k": None}),
    classify("multi-label", [SENTIMENT_TEXTS[:3]], model="sentiment-multilabel", top_k=None),
    classify("one-label", [SENTIMENT_TEXTS[:2]], model="score"),
    classify("regression", [SENTIMENT_TEXTS[:2]], model="regression", top_k=None),
    zero_shot("default", [URGENT], candidate_labels=URGENT_LABELS),
    zero_shot("multi-label", [URGENT], candidate_labels=URGENT_LABELS, multi_label=True),
    zero_shot("one-label", ["The match ended in a draw."], candidate_labels=["sports"]),
    zero_shot(
        "comma-labels-template",
        ["The parliament voted on the budget late last night."],
        candidate_labels="sports, politics ,  cooking",
        hypothesis_template="The topic of this text is {}.",
    ),
    zero_shot(
        "batch", [TWO_TOPICS], candidate_labels=["sports", "cooking", "travel"], init={"batch_size": 4}
    ),
    *[
        zero_shot(name, ["Apple just announced the newest iPhone X"], model="nli-cross-encoder", **options)
        for name, options in (
            ("cross-encoder-order", {"candidate_labels": ["technology", "sports", "politics"]}),
            (
                "cross-encoder-multi-label",
                {"candidate_labels": ["technology", "sports", "politics"], "multi_label": True},
            ),
        )
    ],
    zero_shot(
        "neutral-first-multi-label",
        ["The new bridge will open to traffic in May."],
        model="nli-neutral-first",
        candidate_labels=["infrastructure", "music", "health"],
        multi_label=True,
    ),
    zero_shot("error-no-labels", ["Some text."], candidate_labels=[]),
    # labels given to pipeline(): used by a call that leaves them out, replaced (and refused) by an explicit None
    zero_shot(
        "init-labels", ["The match ended in a draw."], init={"candidate_labels": ["sports", "politics"]}
    ),
    zero_shot(
        "error-call-labels-none",
        ["The match ended in a draw."],
        init={"candidate_labels": ["sports", "politics"]},
        candidate_labels=None,
    ),
    zero_shot("error-labels-none", ["Some text."]),
    zero_shot(
        "call-batch_size", [TWO_TOPICS], candidate_labels=["sports", "cooking", "travel"], batch_size=4
    ),
    zero_shot("error-template", ["Some text."], candidate_labels=["a"], hypothesis_template="No slot."),
    zero_shot("error-empty-text", [""], candidate_labels=["a", "b"]),
    *ner_strategies(ner, NER_TEXTS),
    ner("default-single", [NER_TEXTS[0]]),
    ner("ignore-nothing", [NER_TEXTS[1]], aggregation_strategy="simple", ignore_labels=[]),
    ner("ignore-org", [NER_TEXTS[1]], aggregation_strategy="first", ignore_labels=["O", "ORG"]),
    ner("init-strategy", [NER_TEXTS[2]], init={"aggregation_strategy": "average"}),
    ner(
        "split-words",
        [["Wolfgang", "Kowalczykowski", "lives", "in", "Berlin"]],
        model="ner-prefix-space",
        is_split_into_words=True,
        aggregation_strategy="simple",
    ),
    ner(
        "split-words-batch",
        [[["Ada", "Lovelace", "met", "Charles", "Babbage"], ["Zoë", "flew", "to", "São", "Paulo", "."]]],
        model="ner-prefix-space",
        is_split_into_words=True,
        aggregation_strategy="first",
        delimiter="  ",
    ),
    ner("prefix-space-text", [NER_TEXTS[0]], model="ner-prefix-space", aggregation_strategy="simple"),
    ner("error-split-words-no-prefix-space", [["Wolfgang", "lives", "here"]], is_split_into_words=True),
    *ner_windows(ner, "ner-windows"),
    ner("error-stride-none", [NER_LONG], model="ner-windows", aggregation_strategy="none", stride=6),
    qa("default", question="Where do I live?", context=SHORT_CONTEXT),
    qa("top_k", question="Where do I live?", context=SHORT_CONTEXT, top_k=3),
    qa("long-context", question="Who opened the pier?", context=LONG_CONTEXT, top_k=3),
    qa(
        "long-context-small-windows",
        question="When did the railway arrive?",
        context=LONG_CONTEXT,
        max_seq_len=64,
        doc_stride=16,
        top_k=2,
        init={"batch_size": 8},
    ),
    qa(
        "max_answer_len",
        question="What does the museum keep?",
        context=LONG_CONTEXT,
        max_answer_len=3,
        top_k=2,
    ),
    qa(
        "impossible",
        question="What colour is the sky?",
        context=SHORT_CONTEXT,
        handle_impossible_answer=True,
        top_k=2,
    ),
    qa(
        "impossible-short",
        question="Where?",
        context="Berlin is big.",
        handle_impossible_answer=True,
        top_k=3,
    ),
    qa("no-align", question="Where do I live?", context=SHORT_CONTEXT, align_to_words=False, top_k=2),
    qa(
        "max_question_len",
        question="Which city is my home city, the one with parks?",
        context=SHORT_CONTEXT,
        max_question_len=3,
    ),
    qa(
        "list-of-dicts",
        [
            [
                {"question": "Where do I live?", "context": SHORT_CONTEXT},
                {"question": "What is the record?", "context": LONG_CONTEXT},
            ]
        ],
        init={"batch_size": 4},
    ),
    qa(
        "questions-one-context",
        question=["Who owns the café?", "What was built in 1312?"],
        context=LONG_CONTEXT,
    ),
    qa(
        "error-question-too-long",
        question=TOO_LONG_QUESTION,
        context=LONG_CONTEXT,
        max_seq_len=24,
        doc_stride=4,
    ),
    *repeated_context(qa),
    qa("error-empty-context", question="Where?", context=""),
    qa("error-stride", question="Where?", context=SHORT_CONTEXT, doc_stride=100, max_seq_len=64),
    features("single", ["Hello world!"]),
    # batch_size 1: with larger batches transformers returns each text padded to its batch's longest (pad
    # positions included); deberta_np returns each text's own tokens whatever the batch size.
    features("list", [["A short one.", "A slightly longer second sentence."]]),
]

# --- DeBERTa v2/v3 (SentencePiece) ------------------------------------------------------------------------------

# "ɐ", "ʃ" and "☃" have pieces only without the "▁" prefix, so a lone "▁" token comes before each: entity words
# are decoded around it as by the fast tokenizer's Metaspace decoder (in the last text an entity ends with that
# "▁": "Jones sang " there, where sentencepiece's decoding would strip the space).
NER_TEXTS_V2 = [
    *NER_TEXTS[:2],
    "The ɐ sound and the ʃ sound were described by Daniel Jones ☃ in London.",
    "Daniel Jones sang ʃ per page.",
]
# Characters that sentencepiece writes as UTF-8 byte pieces (byte fallback) and the fast tokenizer as [UNK]: the
# ids differ, so these cases are checked with DebertaV2Tokenizer(reference="fast").
BYTE_FALLBACK_TEXT = "Ḱaren Ẅilson met ẞtefan in Łódź on Monday."
FAST = {"reference": "fast"}

fill_mask_v2, classify_v2, zero_shot_v2, ner_v2, qa_v2, features_v2 = (
    maker(f"v2/{prefix}", task, v2) for task, (prefix, _, v2) in TASKS.items()
)


def again(v1_id: str, id: str | None = None) -> dict:
    """The v1 case `v1_id`, the same call on its task's v2 checkpoint: id "v2/<v1_id>" unless given."""
    spec = copy.deepcopy(next(c for c in CASES if c["id"] == v1_id))
    return {**spec, "id": id or f"v2/{v1_id}", "model": TASKS[spec["task"]][2]}


CASES_V2 = [
    # fill-mask: deberta-v2-xlarge's layout (the v3 discriminator is refused: tests/test_pipelines.py)
    again("fill-mask/default"),
    fill_mask_v2(
        "batch-top_k",
        [["The [MASK] sat on the mat.", "I would like a cup of [MASK], please.", "[MASK] world!"]],
        init={"batch_size": 2},
        top_k=3,
    ),
    again("fill-mask/two-masks"),
    fill_mask_v2(
        "targets", ["Paris is the [MASK] of France."], targets=["▁capital", " city", "heart", "zzzqqq"]
    ),
    # The lone "▁" token filled in at an end of the text: the fast tokenizer decodes it as a space there.
    fill_mask_v2(
        "targets-lone-space", [["[MASK] world!", "Paris is the [MASK]"]], targets=["▁", "▁Hello", "▁capital"]
    ),
    fill_mask_v2(
        "fast-tokenizer",
        [["Zoë met [MASK] in Zürich.", "Ḱaren met [MASK] in Łódź."]],
        tokenizer=FAST,
        top_k=2,
    ),
    again("fill-mask/error-no-mask"),
    # text-classification: an NLI cross-encoder's labels, on texts and on pairs
    again("text-classification/legacy-single", "v2/text-classification/single"),
    classify_v2("list-top_k-none", [SENTIMENT_TEXTS], top_k=None, init={"batch_size": 4}),
    again("text-classification/pair"),
    classify_v2("pairs-top_k", [TWO_PAIRS], top_k=2, init={"batch_size": 2}),
    again("text-classification/sigmoid"),
    # zero-shot-classification: entailment is label 1, contradiction label 0
    again("zero-shot/default"),
    again("zero-shot/multi-label"),
    again("zero-shot/one-label"),
    zero_shot_v2(
        "batch-template",
        [TWO_TOPICS],
        candidate_labels="sports, cooking ,travel",
        hypothesis_template="The topic of this text is {}.",
        init={"batch_size": 4},
    ),
    # token-classification
    *ner_strategies(ner_v2, NER_TEXTS_V2),
    ner_v2("ignore-nothing", [NER_TEXTS_V2[2]], aggregation_strategy="simple", ignore_labels=[]),
    # SentencePiece tokenizers need no add_prefix_space for pre-split words: every word gets its "▁".
    ner_v2(
        "split-words",
        [
            [
                ["Wolfgang", "Kowalczykowski", "lives", "in", "Berlin"],
                ["Zoë", "flew", "to", "São", "Paulo", "."],
            ]
        ],
        is_split_into_words=True,
        aggregation_strategy="simple",
    ),
    *ner_windows(ner_v2, "ner-v3-windows"),
    *[
        ner_v2(
            f"fast-tokenizer-{strategy}",
            [BYTE_FALLBACK_TEXT],
            tokenizer=FAST,
            aggregation_strategy=strategy,
            ignore_labels=[],
        )
        for strategy in ("none", "simple", "average")
    ],
    ner_v2("fast-tokenizer-same-ids", [NER_TEXTS_V2], tokenizer=FAST, aggregation_strategy="first"),
    # question-answering: the long context needs windows, and distances beyond 128 use the log buckets
    again("qa/default"),
    again("qa/long-context"),
    again("qa/long-context-small-windows"),
    qa_v2(
        "max_answer_len-no-align",
        question="What does the museum keep?",
        context=LONG_CONTEXT,
        max_answer_len=3,
        align_to_words=False,
        top_k=2,
    ),
    again("qa/impossible"),
    qa_v2(
        "fast-tokenizer",
        tokenizer=FAST,
        question="Who met Ẅilson?",
        context=BYTE_FALLBACK_TEXT + " " + SHORT_CONTEXT,
        top_k=3,
    ),
    *repeated_context(qa_v2),
    again("qa/error-question-too-long"),
    # feature-extraction: a v3 discriminator is a fine encoder
    again("feature-extraction/single"),
    features_v2("list", [["A short one.", "Zoë flew to São Paulo."]]),
]

CASES += CASES_V2

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


def run_case(
    pipelines: dict, directories: dict[str, Path], spec: dict, torch_dtype: Any, record: list | None = None
) -> dict:
    """transformers' result for a case; `record` collects every input its tokenizer is given."""
    from transformers import pipeline

    init = dict(spec["init"])
    key = (spec["task"], spec["model"], json.dumps(init, sort_keys=True), str(torch_dtype))
    if key not in pipelines:
        with warnings.catch_warnings():
            # converting spm.model to a fast tokenizer warns that it has no byte fallback (the very difference
            # sentencepiece_ids_agree detects)
            warnings.simplefilter("ignore")
            pipelines[key] = pipeline(
                spec["task"], model=str(directories[spec["model"]]), torch_dtype=torch_dtype, **init
            )
    tokenizer = pipelines[key].tokenizer
    if record is not None:
        # Every call of a fast tokenizer (__call__, encode, batches, pairs) ends in _batch_encode_plus.
        original = type(tokenizer)._batch_encode_plus.__get__(tokenizer)

        def recording(*args: Any, **kwargs: Any) -> Any:
            batch = args[0] if args else kwargs["batch_text_or_text_pairs"]
            record.append((list(batch), bool(kwargs.get("is_split_into_words", False))))
            return original(*args, **kwargs)

        tokenizer._batch_encode_plus = recording
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = pipelines[key](*spec["args"], **spec["kwargs"])
    except BaseException as error:  # the tokenizers library panics (PanicException is a BaseException)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return {"error": type(error).__name__, "message": str(error)[:300]}
    finally:
        tokenizer.__dict__.pop("_batch_encode_plus", None)
    return {"output": plain(output)}


def sentencepiece_ids_agree(directory: Path, record: list, slow_tokenizers: dict) -> bool:
    """Whether transformers' slow DebertaV2Tokenizer (sentencepiece) and the fast one give the same ids for every
    recorded tokenizer input (a text, a pair, or pre-split words)."""
    import transformers

    if directory not in slow_tokenizers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the conversion's byte-fallback warning
            slow_tokenizers[directory] = (
                transformers.DebertaV2Tokenizer.from_pretrained(directory),
                transformers.DebertaV2TokenizerFast.from_pretrained(directory),
            )
    slow, fast = slow_tokenizers[directory]
    for batch, split in record:
        for item in batch:
            pair = (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and (not split or isinstance(item[0], list))
            )
            args = tuple(item) if pair else (item,)
            if (
                slow(*args, is_split_into_words=split)["input_ids"]
                != fast(*args, is_split_into_words=split)["input_ids"]
            ):
                return False
    return True


def check_v2_tokenizer_config() -> None:
    """pipeline_models.V2_TOKENIZER_CONFIG must be what transformers saves for the deberta-v3 tokenizer."""
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        transformers.DebertaV2Tokenizer.from_pretrained(TOKENIZER_V2_DIR).save_pretrained(tmp)
        saved = json.loads((Path(tmp) / "tokenizer_config.json").read_text())
    if saved != V2_TOKENIZER_CONFIG:
        raise SystemExit(
            "pipeline_models.V2_TOKENIZER_CONFIG differs from the tokenizer_config.json transformers "
            f"{transformers.__version__} saves: {json.dumps(saved, sort_keys=True)}"
        )


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
    parser = generator_parser("conformance.generate_pipelines", __doc__)
    parser.add_argument("--only", action="append", help="run only these case ids (prints, writes nothing)")
    args = parser.parse_args(argv)

    import tokenizers
    import torch

    transformers = pinned_transformers()
    if not TOKENIZER_DIR.is_dir():
        raise SystemExit(
            f"{TOKENIZER_DIR} not found: the pipeline goldens need the shared deberta-v1 tokenizer"
        )
    if not (TOKENIZER_V2_DIR / "spm.model").is_file():
        raise SystemExit(
            f"{TOKENIZER_V2_DIR}/spm.model not found: the v2 pipeline goldens need the shared deberta-v3 tokenizer"
        )
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    check_v2_tokenizer_config()
    cases = [c for c in CASES if not args.only or c["id"] in args.only]
    unstable, disagreeing = [], []
    slow_tokenizers: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        directories = build_all(Path(tmp), sorted({c["model"] for c in cases}))
        pipelines: dict = {}
        results = []
        for spec in cases:
            v2 = MODELS[spec["model"]].family == "v2"
            record: list | None = [] if v2 else None
            golden = run_case(pipelines, directories, spec, torch.float32, record)
            check = run_case(pipelines, directories, spec, torch.float64)
            if ("error" in golden) != ("error" in check) or structure(golden.get("output")) != structure(
                check.get("output")
            ):
                unstable.append(spec["id"])
            if v2:
                agree = sentencepiece_ids_agree(directories[spec["model"]], record or [], slow_tokenizers)
                golden = {"sentencepiece_ids_agree": agree, **golden}
                if not agree and spec.get("tokenizer", {}).get("reference") != "fast":
                    disagreeing.append(spec["id"])
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
    if disagreeing:
        print(
            "sentencepiece and the fast tokenizer give different ids (check these with "
            f'tokenizer={{"reference": "fast"}}, or change the text) in: {", ".join(disagreeing)}',
            file=sys.stderr,
        )
    if unstable or disagreeing:
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
        "tokenizer": "data/tokenizers/deberta-v1 (vocab.json, merges.txt); v2 models: "
        "data/tokenizers/deberta-v3 (spm.model) with pipeline_models.V2_TOKENIZER_CONFIG",
        "v2_tokenizer": "transformers' pipelines use DebertaV2TokenizerFast; sentencepiece_ids_agree: whether "
        "sentencepiece (the slow tokenizer, deberta_np's default) gives the same ids for every tokenizer input",
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
