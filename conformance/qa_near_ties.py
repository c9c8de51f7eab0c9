"""Why question answering can differ from transformers on an untrained model: near-ties decided by rounding.

    python -m conformance.qa_near_ties            # ~3 minutes; needs torch and transformers

transformers' own pipeline test asks "Where was HuggingFace founded ?" of "HuggingFace was founded in Paris." x 20
(no spaces between the sentences). On a freshly initialised model (transformers' default init, std 0.02) the
start and end logits are nearly flat, so in every window dozens of candidate spans have scores equal to 7
significant digits. The pipeline keeps each window's best 2 * top_k + 10 candidates and merges those with the same
text (ignoring case) by summing their scores, reporting the first one's span. Which of the near-equal candidates
make the cut is then decided by float32 rounding: an answer's score is the sum of, say, 6 or 7 equal candidates
(a 6:7 ratio between two implementations), and its span is whichever equal-text span came first.

This script builds such models (v1 and v2, seeds 0-2, relative attention with and without absolute positions, 16
token types, as transformers' DebertaModelTester), runs four QA settings on each, and counts disagreements:
deberta_np (float32) against transformers (float32), and transformers against itself in float64. The second
count shows that the answer is not a property of the model but of its rounding; the pipeline goldens
(generate_pipelines.py, "repeated-context" cases) use models whose heads are scaled up so that spans do not tie,
and there deberta_np and transformers agree exactly.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from conformance import pipeline_models

QUESTION = "Where was HuggingFace founded ?"
CONTEXT = "HuggingFace was founded in Paris." * 20
SETTINGS: list[dict[str, Any]] = [
    {},
    {"max_seq_len": 48},
    {"max_seq_len": 64, "doc_stride": 20},
    {"top_k": 3, "max_seq_len": 40},
]


def build(directory: Path, family: str, seed: int, relative: bool) -> Path:
    """A transformers-initialised DeBERTa QA model of DebertaModelTester's size, with the family's tokenizer."""
    import torch
    import transformers

    torch.manual_seed(seed)
    options = {
        "vocab_size": 50265 if family == "v1" else 128100,
        "hidden_size": 32,
        "num_hidden_layers": 5,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "type_vocab_size": 16,
        "relative_attention": relative,
        "position_biased_input": not relative,
        "pos_att_type": ["c2p", "p2c"] if relative else None,
    }
    if family == "v1":
        model = transformers.DebertaForQuestionAnswering(transformers.DebertaConfig(**options))
    else:
        model = transformers.DebertaV2ForQuestionAnswering(transformers.DebertaV2Config(**options))
    model.save_pretrained(directory)
    source, files = pipeline_models.tokenizer_source(family)
    for name in files:
        shutil.copyfile(source / name, directory / name)
    if family == "v2":
        (directory / "tokenizer_config.json").write_text(json.dumps(pipeline_models.V2_TOKENIZER_CONFIG))
    return directory


def answers(result: Any) -> list[tuple[int, int, float]]:
    return [(a["start"], a["end"], a["score"]) for a in (result if isinstance(result, list) else [result])]


def same(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    """Same spans, and scores within 1e-4 relative (far above float32 noise, far below a 6:7 ratio)."""
    return [x[:2] for x in a] == [x[:2] for x in b] and all(
        abs(x[2] - y[2]) <= 1e-4 * abs(y[2]) for x, y in zip(a, b)
    )


def main() -> int:
    import torch
    import transformers

    import deberta_np

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    counts: dict[
        str, list[int]
    ] = {}  # kind of model -> [cases, deberta_np differs, transformers float64 differs]
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("v1", "v2"):
            for seed in range(3):
                for relative in (False, True):
                    path = build(Path(tmp) / f"{family}-{seed}-{relative}", family, seed, relative)
                    ours = deberta_np.pipeline("question-answering", model=str(path))
                    theirs = transformers.pipeline("question-answering", model=str(path), device="cpu")
                    theirs64 = transformers.pipeline(
                        "question-answering", model=str(path), device="cpu", dtype=torch.float64
                    )
                    kind = "relative attention" if relative else "absolute positions only"
                    count = counts.setdefault(kind, [0, 0, 0])
                    for setting in SETTINGS:
                        count[0] += 1
                        reference = answers(theirs(question=QUESTION, context=CONTEXT, **setting))
                        mine = answers(ours(question=QUESTION, context=CONTEXT, **setting))
                        wide = answers(theirs64(question=QUESTION, context=CONTEXT, **setting))
                        count[1] += not same(mine, reference)
                        count[2] += not same(wide, reference)
                        print(f"{path.name:>12} {json.dumps(setting):40} transformers {reference[0]}  "
                              f"deberta_np {mine[0]}  transformers float64 {wide[0]}", flush=True)  # fmt: skip
    for kind, (cases, ours_differ, float64_differs) in counts.items():
        print(f"{kind}: {cases} cases: deberta_np differs from transformers (float32) in {ours_differ}; "
              f"transformers float64 differs from transformers float32 in {float64_differs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
