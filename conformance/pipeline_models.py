"""The random checkpoints behind the pipeline goldens, rebuilt bit for bit from a seed without torch.

Weights are never committed. Each checkpoint is a `PipelineModel` (a family, a head, a config, a seed); `build`
writes it into a directory as `config.json` + `model.safetensors` + the family's real tokenizer files, copied from
the repository's data/tokenizers: DeBERTa v1's byte-level BPE (`deberta-v1/`: vocab.json, merges.txt)
or DeBERTa v2/v3's SentencePiece model (`deberta-v3/spm.model`, with the
tokenizer_config.json that transformers saves for it). The generator builds them for transformers, the
checker builds them again in a temporary directory, and both get identical bytes, because every value comes
from exact integer arithmetic:

    value[i] = scale * (2 * (splitmix64(stream + i * golden_gamma) >> 40) + 1) / 2**24 - 1)

with `stream` the first 8 bytes of sha256(f"{seed}/{tensor name}") and uint64 arithmetic that wraps mod 2**64
(NumPy arrays never warn on it). The top 24 bits of the hash make a float64 that is exact, and the scaling and the
cast to float32 are single IEEE operations, so no library version can change a bit. NumPy's random generators are
not used: their streams are not promised to stay the same across NumPy versions.

The models are tiny (hidden 32, two layers) but use the full vocabulary (50265 tokens for v1, 128100 for v2/v3),
so the real tokenizer runs on real text. The v2/v3 ones have deberta-v3's layout (log position buckets, a
LayerNorm on the relative embeddings, shared position projections, p2c|c2p, no token types); the MLM one adds
deberta-v2-xlarge's ConvLayer, and the discriminator holds the replaced-token-detection head `mask_predictions.*`
beside an MLM head, as the published deberta-v3 checkpoints do. Their heads are scaled up, and a few biases set, so that the pipelines see varied, confident outputs
(several winning entity labels, multi-token entities, answers far into long contexts) instead of near-ties.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from conformance.tokenizer_files import DEBERTA_V1, DEBERTA_V3
from deberta_np import model_v2
from deberta_np.config import DebertaConfig, DebertaV2Config
from deberta_np.model import encoder_parameter_shapes, head_parameter_shapes
from deberta_np.safetensors_io import write_safetensors

TOKENIZER_DIR = DEBERTA_V1  # vocab.json + merges.txt
TOKENIZER_FILES = ("vocab.json", "merges.txt")
TOKENIZER_V2_DIR = DEBERTA_V3  # spm.model (microsoft/deberta-v3-base's)
TOKENIZER_V2_FILES = ("spm.model",)
FAMILIES = ("v1", "v2")

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

# deberta-v3-base's architecture flags at the same toy width. position_buckets 256 as published: distances
# beyond 128 tokens (the long question-answering windows) fall into log buckets.
TINY_V2 = {
    **TINY,
    "model_type": "deberta-v2",
    "vocab_size": 128100,
    "position_buckets": 256,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": "p2c|c2p",
}
# What deberta-v2-xlarge adds: a ConvLayer after the first layer.
V2_XLARGE = {"conv_kernel_size": 3, "conv_act": "gelu"}

# tokenizer_config.json as transformers 4.57.6 saves the deberta-v3 tokenizer (DebertaV2Tokenizer.save_pretrained
# on spm.model; the generator checks that it still does). [MASK] is not a piece of spm.model: it is added as
# id 128000, which the models' 128100-row embedding holds.
V2_TOKENIZER_CONFIG: dict[str, Any] = {
    "added_tokens_decoder": {
        str(index): {
            "content": content,
            "lstrip": False,
            "normalized": content == "[UNK]",
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for index, content in ((0, "[PAD]"), (1, "[CLS]"), (2, "[SEP]"), (3, "[UNK]"), (128000, "[MASK]"))
    },
    "bos_token": "[CLS]",
    "clean_up_tokenization_spaces": False,
    "cls_token": "[CLS]",
    "do_lower_case": False,
    "eos_token": "[SEP]",
    "extra_special_tokens": {},
    "mask_token": "[MASK]",
    "model_max_length": 1000000000000000019884624838656,
    "pad_token": "[PAD]",
    "sep_token": "[SEP]",
    "sp_model_kwargs": {},
    "split_by_punct": False,
    "tokenizer_class": "DebertaV2Tokenizer",
    "unk_token": "[UNK]",
}

HF_CLASS = {
    "base": "DebertaModel",
    "masked_lm": "DebertaForMaskedLM",
    "sequence_classification": "DebertaForSequenceClassification",
    "token_classification": "DebertaForTokenClassification",
    "question_answering": "DebertaForQuestionAnswering",
}

# DeBERTa-v3's replaced-token-detection head (Microsoft's ReplacedTokenDetectionHead): dense, LayerNorm and a
# one-logit classifier ("was this token replaced?"). transformers has no class for it and ignores it.
RTD_HEAD = "replaced_token_detection"


@dataclass(frozen=True)
class PipelineModel:
    """A reproducible random checkpoint: `head`, config overrides on top of TINY (v1) or TINY_V2 (v2), a seed.

    `extra_heads` adds the tensors of other heads beside `head` (the v3 discriminator: the RTD head and an MLM
    head). `head_gain` scales the task head's weights (bigger: more confident, better separated outputs); `bias_shifts`
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
    family: str = "v1"
    extra_heads: tuple[str, ...] = ()
    architectures: bool = True  # False: config.json without "architectures" (as deberta-v3-base's)


NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}
SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}

# A few checkpoints share another's seed, head and so weights, and differ only in config.json or the tokenizer
# files: `replace(model, name=..., ...)` says so.
SENTIMENT = PipelineModel(
    "sentiment",
    "sequence_classification",
    103,
    {"id2label": SENTIMENT_LABELS, "type_vocab_size": 2, "position_biased_input": True},
    head_gain=3.0,
    bias_shifts={"classifier.bias": {0: -1.2, 2: 1.3}},
)
SCORE = PipelineModel("score", "sequence_classification", 104, {"num_labels": 1}, head_gain=3.0)
# "O" gets a head start so that entities and non-entities alternate.
NER = PipelineModel(
    "ner",
    "token_classification",
    108,
    {"id2label": NER_LABELS},
    head_gain=3.0,
    bias_shifts={"classifier.bias": {0: 1.5}},
)
NER_V3 = replace(NER, name="ner-v3", seed=204, family="v2")
NLI_HEAD = {"head": "sequence_classification", "head_gain": 3.0}


def windows(model: PipelineModel) -> PipelineModel:
    """The same weights with a 24-token model_max_length: `stride` makes overlapping windows."""
    return replace(model, name=f"{model.name}-windows", tokenizer_config={"model_max_length": 24})


MODELS = {
    m.name: m
    for m in (
        # Microsoft's MLM head layout (that of the official checkpoints); legacy=false makes transformers use it.
        PipelineModel(
            "mlm", "masked_lm", 101, {"legacy": False, "tie_word_embeddings": False}, head_gain=2.0
        ),
        PipelineModel("encoder", "base", 102),
        # Absolute positions and token types: a pipeline that drops token_type_ids or pads badly is caught.
        SENTIMENT,
        # The same weights, declared multi-label: the default score function becomes sigmoid.
        replace(
            SENTIMENT,
            name="sentiment-multilabel",
            config={**SENTIMENT.config, "problem_type": "multi_label_classification"},
        ),
        # One output: sigmoid by default; the same weights declared as regression: no function.
        SCORE,
        replace(SCORE, name="regression", config={**SCORE.config, "problem_type": "regression"}),
        # NLI label orders: entailment first (transformers then takes the last label as contradiction), and the
        # cross-encoder/nli-deberta-v3 order (contradiction 0, entailment 1), lower case.
        PipelineModel(
            "nli",
            seed=105,
            config={"id2label": {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}, "type_vocab_size": 2},
            **NLI_HEAD,
        ),
        PipelineModel(
            "nli-cross-encoder",
            seed=106,
            config={"id2label": {0: "contradiction", 1: "entailment", 2: "neutral"}},
            **NLI_HEAD,
        ),
        # Neutral at 0: transformers' multi-label score compares entailment with label 0 whatever it is.
        PipelineModel(
            "nli-neutral-first",
            seed=107,
            config={"id2label": {0: "NEUTRAL", 1: "CONTRADICTION", 2: "ENTAILMENT"}},
            **NLI_HEAD,
        ),
        NER,
        windows(NER),
        # The same weights with add_prefix_space=True: what pre-split words need (transformers refuses them
        # otherwise, as deberta_np does).
        replace(NER, name="ner-prefix-space", tokenizer_config={"add_prefix_space": True}),
        PipelineModel("qa", "question_answering", 109, {"type_vocab_size": 2}, head_gain=4.0),
        # --- DeBERTa v2/v3 (SentencePiece tokenizer) ---
        # deberta-v2-xlarge's layout: Microsoft's MLM head (lm_predictions.lm_head.*) and the ConvLayer.
        PipelineModel(
            "mlm-v2",
            "masked_lm",
            201,
            {**V2_XLARGE, "legacy": False, "tie_word_embeddings": False},
            head_gain=2.0,
            family="v2",
        ),
        # A deberta-v3 discriminator as published: encoder, RTD head and an MLM head that was never trained to
        # predict masked tokens. fill-mask must refuse it; as an encoder (feature-extraction) it is fine.
        PipelineModel(
            "v3-discriminator",
            "base",
            202,
            family="v2",
            extra_heads=(RTD_HEAD, "masked_lm"),
            architectures=False,
        ),
        # cross-encoder/nli-deberta-v3-*'s label order (contradiction, entailment, neutral): zero-shot must find
        # entailment at 1 and take label 0 as contradiction; also the text-classification checkpoint (pairs).
        PipelineModel(
            "nli-v3",
            seed=203,
            config={"id2label": {0: "contradiction", 1: "entailment", 2: "neutral"}},
            bias_shifts={"classifier.bias": {1: 0.4}},
            family="v2",
            **NLI_HEAD,
        ),
        # The v1 NER checkpoint's labels and head on deberta-v3's layout, its own seed.
        NER_V3,
        windows(NER_V3),
        PipelineModel("qa-v3", "question_answering", 205, head_gain=4.0, family="v2"),
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
    # Dense weights: variance-preserving (std 1/sqrt(fan_in)) and, for the task head, `head_gain` times that. A
    # convolution [out, in/groups, kernel] sees in/groups * kernel inputs.
    half_width = math.sqrt(3.0 / math.prod(shape[1:]))
    return 0.0, half_width * (head_gain if is_head else 1.0)


def model_config(model: PipelineModel) -> DebertaConfig:
    """The checkpoint's config: TINY or TINY_V2 with the model's overrides."""
    if model.family == "v2":
        return DebertaV2Config.from_dict({**TINY_V2, **model.config})
    return DebertaConfig.from_dict({**TINY, **model.config})


def parameter_shapes(model: PipelineModel) -> dict[str, tuple[int, ...]]:
    """Every tensor name of the checkpoint (as transformers or Microsoft save it) with its shape."""
    config = model_config(model)
    encoder = model_v2.encoder_parameter_shapes if model.family == "v2" else encoder_parameter_shapes
    # Bare-model checkpoints have no prefix; a checkpoint with any head names the encoder `deberta.*`.
    prefix = "" if model.head == "base" and not model.extra_heads else "deberta."
    shapes = {prefix + name: shape for name, shape in encoder(config).items()}
    for head in (model.head, *model.extra_heads):
        if head == RTD_HEAD:
            h = config.hidden_size
            shapes.update(
                {
                    "mask_predictions.dense.weight": (h, h),
                    "mask_predictions.dense.bias": (h,),
                    "mask_predictions.LayerNorm.weight": (h,),
                    "mask_predictions.LayerNorm.bias": (h,),
                    "mask_predictions.classifier.weight": (1, h),
                    "mask_predictions.classifier.bias": (1,),
                }
            )
        else:
            shapes.update(head_parameter_shapes(config, head))
    return shapes


def state_dict(model: PipelineModel) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint (float32)."""
    tensors = {}
    for name, shape in parameter_shapes(model).items():
        offset, half_width = _scale(name, shape, model.head_gain)
        values = offset + half_width * uniform(model.seed, name, shape)
        for index, shift in model.bias_shifts.get(name, {}).items():
            values[index] += shift
        tensors[name] = values.astype(np.float32)
    return tensors


def config_dict(model: PipelineModel) -> dict[str, Any]:
    config = model_config(model).to_dict()
    if model.architectures:
        hf_class = HF_CLASS[model.head]
        config["architectures"] = [
            hf_class.replace("Deberta", "DebertaV2") if model.family == "v2" else hf_class
        ]
    return config


def tokenizer_source(family: str) -> tuple[Path, tuple[str, ...]]:
    """(directory, files) of a family's tokenizer in data/tokenizers."""
    return (TOKENIZER_V2_DIR, TOKENIZER_V2_FILES) if family == "v2" else (TOKENIZER_DIR, TOKENIZER_FILES)


def available(family: str) -> bool:
    """Whether the family's tokenizer files are there (its checkpoints can be built)."""
    directory, files = tokenizer_source(family)
    return all((directory / name).is_file() for name in files)


def build(model: PipelineModel, directory: Path, tokenizer_dir: Path | None = None) -> Path:
    """Write the checkpoint directory (config, weights, tokenizer files) and return it."""
    source, files = tokenizer_source(model.family)
    source = tokenizer_dir or source
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config_dict(model), indent=2, sort_keys=True) + "\n")
    write_safetensors(directory / "model.safetensors", state_dict(model), metadata={"format": "pt"})
    for name in files:
        shutil.copyfile(source / name, directory / name)
    tokenizer_config = model.tokenizer_config
    if model.family == "v2":
        tokenizer_config = {**V2_TOKENIZER_CONFIG, **(tokenizer_config or {})}
    if tokenizer_config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    return directory


def build_all(
    root: Path, names: list[str] | None = None, tokenizer_dir: Path | None = None
) -> dict[str, Path]:
    """Build the named models (by default all of them) under `root`; {name: directory}."""
    if names is None:
        names = list(MODELS)
    return {name: build(MODELS[name], root / name, tokenizer_dir) for name in names}


def weights_digest(directory: Path) -> str:
    """sha256 of model.safetensors: the generator records it, the checker compares (bit-identical weights)."""
    return hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
