"""The random checkpoints behind the pipeline goldens, rebuilt bit for bit from a seed without torch.

Weights are never committed. Each checkpoint is a `PipelineModel` (a head, a config, a seed); `build` writes it
into a directory as `config.json` + `model.safetensors` + the real deberta-v1 tokenizer files (copied from
`../shared/tokenizers/deberta-v1/`, beside the repository). The generator builds them for transformers, the
checker builds them again in a temporary directory, and both get identical bytes, because every value comes
from exact integer arithmetic:

    value[i] = scale * (2 * (splitmix64(stream + i * golden_gamma) >> 40) + 1) / 2**24 - 1)

with `stream` the first 8 bytes of sha256(f"{seed}/{tensor name}") and uint64 arithmetic that wraps mod 2**64
(NumPy arrays never warn on it). The top 24 bits of the hash make a float64 that is exact, and the scaling and the
cast to float32 are single IEEE operations, so no library version can change a bit. NumPy's random generators are
not used: their streams are not promised to stay the same across NumPy versions.

The models are tiny (hidden 32, two layers) but use the full 50265-token vocabulary, so the real tokenizer runs on
real text. Their heads are scaled up, and a few biases set, so that the pipelines see varied, confident outputs
(several winning entity labels, multi-token entities, answers far into long contexts) instead of near-ties.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deberta_np.config import DebertaConfig
from deberta_np.model import encoder_parameter_shapes, head_parameter_shapes
from deberta_np.safetensors_io import write_safetensors

# The shared deberta-v1 tokenizer (vocab.json + merges.txt) lives next to the repository, never inside it.
TOKENIZER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "tokenizers" / "deberta-v1"
TOKENIZER_FILES = ("vocab.json", "merges.txt")

# deberta-base's architecture flags (relative attention, c2p|p2c, no absolute positions), at toy width.
TINY = {
    "vocab_size": 50265,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "relative_attention": True,
    "pos_att_type": ["c2p", "p2c"],
    "position_biased_input": False,
    "max_relative_positions": -1,
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-7,
    "pad_token_id": 0,
}

HF_CLASS = {
    "base": "DebertaModel",
    "masked_lm": "DebertaForMaskedLM",
    "sequence_classification": "DebertaForSequenceClassification",
    "token_classification": "DebertaForTokenClassification",
    "question_answering": "DebertaForQuestionAnswering",
}


@dataclass(frozen=True)
class PipelineModel:
    """A reproducible random checkpoint: `head`, config overrides on top of TINY, a seed.

    `head_gain` scales the task head's weights (bigger: more confident, better separated outputs); `bias_shifts`
    adds to chosen entries of a bias tensor ({tensor name: {index: shift}}), to make some labels win more often;
    `tokenizer_config` is written as tokenizer_config.json when given (e.g. a small model_max_length, to make
    windows).
    """

    name: str
    head: str
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    head_gain: float = 1.0
    bias_shifts: dict[str, dict[int, float]] = field(default_factory=dict)
    tokenizer_config: dict[str, Any] | None = None


NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}
SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}

MODELS = {
    m.name: m
    for m in (
        # Microsoft's MLM head layout (that of the official checkpoints); legacy=false makes transformers use it.
        PipelineModel(
            "mlm", "masked_lm", 101, {"legacy": False, "tie_word_embeddings": False}, head_gain=2.0
        ),
        PipelineModel("encoder", "base", 102),
        # Absolute positions and token types: a pipeline that drops token_type_ids or pads badly is caught.
        PipelineModel(
            "sentiment",
            "sequence_classification",
            103,
            {"id2label": SENTIMENT_LABELS, "type_vocab_size": 2, "position_biased_input": True},
            head_gain=3.0,
            bias_shifts={"classifier.bias": {0: -1.2, 2: 1.3}},
        ),
        # The same weights, declared multi-label: the default score function becomes sigmoid.
        PipelineModel(
            "sentiment-multilabel",
            "sequence_classification",
            103,
            {
                "id2label": SENTIMENT_LABELS,
                "type_vocab_size": 2,
                "position_biased_input": True,
                "problem_type": "multi_label_classification",
            },
            head_gain=3.0,
            bias_shifts={"classifier.bias": {0: -1.2, 2: 1.3}},
        ),
        # One output: sigmoid by default; the same weights declared as regression: no function.
        PipelineModel("score", "sequence_classification", 104, {"num_labels": 1}, head_gain=3.0),
        PipelineModel(
            "regression",
            "sequence_classification",
            104,
            {"num_labels": 1, "problem_type": "regression"},
            head_gain=3.0,
        ),
        # NLI label orders: entailment first (transformers then takes the last label as contradiction), and the
        # cross-encoder/nli-deberta-v3 order (contradiction 0, entailment 1), lower case.
        PipelineModel(
            "nli",
            "sequence_classification",
            105,
            {"id2label": {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}, "type_vocab_size": 2},
            head_gain=3.0,
        ),
        PipelineModel(
            "nli-cross-encoder",
            "sequence_classification",
            106,
            {"id2label": {0: "contradiction", 1: "entailment", 2: "neutral"}},
            head_gain=3.0,
        ),
        # Neutral at 0: transformers' multi-label score compares entailment with label 0 whatever it is.
        PipelineModel(
            "nli-neutral-first",
            "sequence_classification",
            107,
            {"id2label": {0: "NEUTRAL", 1: "CONTRADICTION", 2: "ENTAILMENT"}},
            head_gain=3.0,
        ),
        # "O" gets a head start so that entities and non-entities alternate.
        PipelineModel(
            "ner",
            "token_classification",
            108,
            {"id2label": NER_LABELS},
            head_gain=3.0,
            bias_shifts={"classifier.bias": {0: 1.5}},
        ),
        # The same weights with a 24-token model_max_length: `stride` makes overlapping windows.
        PipelineModel(
            "ner-windows",
            "token_classification",
            108,
            {"id2label": NER_LABELS},
            head_gain=3.0,
            bias_shifts={"classifier.bias": {0: 1.5}},
            tokenizer_config={"model_max_length": 24},
        ),
        # The same weights with add_prefix_space=True: what pre-split words need (transformers refuses them
        # otherwise, as deberta_np does).
        PipelineModel(
            "ner-prefix-space",
            "token_classification",
            108,
            {"id2label": NER_LABELS},
            head_gain=3.0,
            bias_shifts={"classifier.bias": {0: 1.5}},
            tokenizer_config={"add_prefix_space": True},
        ),
        PipelineModel("qa", "question_answering", 109, {"type_vocab_size": 2}, head_gain=4.0),
    )
}


# ---------------------------------------------------------------------------------------------------------------
# Exact pseudo-random values
# ---------------------------------------------------------------------------------------------------------------

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def uniform(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """float64 values in (-1, 1), a pure function of (seed, name, index): SplitMix64 of a counter."""
    stream = np.uint64(int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little"))
    z = np.arange(math.prod(shape), dtype=np.uint64) * _GAMMA + stream
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    top = (z >> np.uint64(40)).astype(np.float64)  # 24 bits: exact in float64
    return ((2.0 * top + 1.0) / 2.0**24 - 1.0).reshape(shape)


def _scale(name: str, shape: tuple[int, ...], head_gain: float) -> tuple[float, float]:
    """(offset, half-width) of the uniform distribution of a tensor, from its role."""
    is_head = name.startswith(("classifier.", "qa_outputs."))
    if name.endswith("LayerNorm.weight"):
        return 1.0, 0.2
    if len(shape) == 1:  # biases
        return 0.0, 0.5 if is_head else 0.1
    if name.endswith(
        ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight")
    ):
        return 0.0, 1.0
    if name.endswith("rel_embeddings.weight"):
        return 0.0, 1.0
    # Dense weights: variance-preserving (std 1/sqrt(fan_in)) and, for the task head, `head_gain` times that.
    half_width = math.sqrt(3.0 / shape[-1])
    return 0.0, half_width * (head_gain if is_head else 1.0)


def state_dict(model: PipelineModel) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint, named as transformers saves the model (float32)."""
    config = DebertaConfig.from_dict({**TINY, **model.config})
    prefix = "" if model.head == "base" else "deberta."
    shapes = {prefix + name: shape for name, shape in encoder_parameter_shapes(config).items()}
    shapes.update(head_parameter_shapes(config, model.head))
    tensors = {}
    for name, shape in shapes.items():
        offset, half_width = _scale(name, shape, model.head_gain)
        values = offset + half_width * uniform(model.seed, name, shape)
        for index, shift in model.bias_shifts.get(name, {}).items():
            values[index] += shift
        tensors[name] = values.astype(np.float32)
    return tensors


def config_dict(model: PipelineModel) -> dict[str, Any]:
    config = DebertaConfig.from_dict({**TINY, **model.config}).to_dict()
    config["architectures"] = [HF_CLASS[model.head]]
    return config


def build(model: PipelineModel, directory: Path, tokenizer_dir: Path = TOKENIZER_DIR) -> Path:
    """Write the checkpoint directory (config, weights, tokenizer files) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config_dict(model), indent=2, sort_keys=True) + "\n")
    write_safetensors(directory / "model.safetensors", state_dict(model), metadata={"format": "pt"})
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, directory / name)
    if model.tokenizer_config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(model.tokenizer_config, indent=2) + "\n")
    return directory


def build_all(
    root: Path, names: list[str] | None = None, tokenizer_dir: Path = TOKENIZER_DIR
) -> dict[str, Path]:
    """Build the named models (all by default) under `root`; {name: directory}."""
    return {name: build(MODELS[name], root / name, tokenizer_dir) for name in names or list(MODELS)}


def weights_digest(directory: Path) -> str:
    """sha256 of model.safetensors: the generator records it, the checker compares (bit-identical weights)."""
    return hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
