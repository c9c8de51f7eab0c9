"""What every task pipeline shares: finding and loading the checkpoint, parameters, batching, error isolation.

A pipeline turns each input *item* (a text, a pair, a question with its context) into one or more *features*
(model input rows: one per text, per candidate label, or per window of a long text), runs the model on all
features in length-sorted batches, and turns each item's rows of model output back into a result. The three
steps are the task's `preprocess`, `infer` and `postprocess`; this module does the rest.

Batching: features are sorted by length and cut into groups of `batch_size`, so that a batch pads its rows to
the length of its longest one and little compute is spent on padding; results come back in input order.
Padded positions never reach the postprocessing (per-token outputs are cut back to each row's real length).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import shim
from ..checkpoint_files import CHECKPOINT_NAMES, read_state_dict
from ..config import DebertaConfig
from ..errors import CheckpointError, ConfigError, InputError
from ..parameters import RTD, discriminator_explanation, heads_in  # noqa: F401  (the pipelines and cli.py read them here)

# ================================================================================================================
# Finding and loading a checkpoint
# ================================================================================================================

# "microsoft/deberta-base", "deberta-base": a name the Hugging Face hub could resolve (no path separators beyond
# the one between owner and repository, no leading dot).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """A local checkpoint directory; a hub id is downloaded into the usual cache when huggingface_hub is installed.

    deberta_np itself never downloads: the optional `huggingface_hub` client does, with its own cache and
    token handling (HF_HOME, HF_TOKEN, HF_HUB_OFFLINE).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{model}: not a directory; pass the checkpoint's directory, not a file in it")
    name = os.fspath(model)
    if not _HUB_ID.match(name):
        raise CheckpointError(f"{model}: no such checkpoint directory")
    if importlib.util.find_spec("huggingface_hub") is None:
        raise CheckpointError(
            f"{model}: no such directory. If it is a Hugging Face hub id, download it first (e.g. "
            f"`huggingface-cli download {name} --local-dir DIR`) or `pip install huggingface_hub` and deberta_np "
            "will fetch it into the hub cache"
        )
    return _download(name)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    # Configs, tokenizer files and safetensors weights; the .bin weights only when there are no safetensors, and
    # tf_model.h5 only when there is neither.
    path = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"]))
    for weights in ("pytorch_model*.bin", "tf_model.h5"):  # then .bin, then TensorFlow's file
        if any((path / name).exists() for name in CHECKPOINT_NAMES):
            break
        path = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.txt", "*.model", weights]))
    return path


def checkpoint_heads(path: str | os.PathLike[str]) -> list[str]:
    """The heads a checkpoint holds (parameters.heads_in), reading its tensor names only (arrays are views)."""
    return heads_in(read_state_dict(path))


HEAD_DESCRIPTIONS = {
    "base": "an encoder",
    "masked_lm": "a masked-language-model head (lm_predictions.lm_head.* or cls.predictions.*)",
    "sequence_classification": "a sequence-classification head (pooler.dense.* and classifier.*)",
    "token_classification": "a token-classification head (classifier.*, no pooler)",
    "question_answering": "a question-answering head (qa_outputs.*)",
    RTD: "a replaced-token-detection head (mask_predictions.*)",
}


def load_model(path: Path, head: str, device: str, dtype: str) -> Any:
    """The v1 or v2 model class for `head` (from config.json's model_type), loaded strictly."""
    from ..modeling import load_model as load

    return load(path, head=head, device=device, dtype=dtype)


def load_tokenizer(path: Path) -> Any:
    """The tokenizer saved with the checkpoint: byte-level BPE (v1: vocab.json + merges.txt or tokenizer.json) or
    SentencePiece (v2/v3: spm.model), with its tokenizer_config.json."""
    from .. import tokenizer as tokenizers

    has_bpe = (path / "vocab.json").exists() and (path / "merges.txt").exists()
    if (path / "spm.model").exists() and not has_bpe:
        v2 = getattr(tokenizers, "DebertaV2Tokenizer", None)
        if v2 is None:
            raise CheckpointError(
                f"{path} has a SentencePiece tokenizer (spm.model, DeBERTa v2/v3), which deberta_np cannot read "
                "yet; pass tokenizer= a compatible tokenizer object"
            )
        return v2.from_pretrained(path)
    if not has_bpe and not (path / "tokenizer.json").exists():
        raise CheckpointError(
            f"{path} holds no tokenizer (vocab.json + merges.txt, or tokenizer.json); pass tokenizer=DIR "
            "(e.g. the directory of microsoft/deberta-base, whose vocabulary every DeBERTa v1 model shares)"
        )
    return tokenizers.DebertaTokenizer.from_pretrained(path)


# ================================================================================================================
# Tokens back to text
# ================================================================================================================

SPACE_SYMBOL = "\u2581"  # "▁", SentencePiece's word-start mark
_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


def is_sentencepiece(tokenizer: Any) -> bool:
    from ..tokenizer import DebertaV2Tokenizer

    return isinstance(tokenizer, DebertaV2Tokenizer)


def is_byte_piece(tokenizer: Any, token: str) -> bool:
    """A SentencePiece byte-fallback piece ("<0xE1>": one UTF-8 byte of a character the vocabulary lacks). Only
    sentencepiece writes them; the fast tokenizer, which transformers' pipelines use, writes one [UNK] instead
    for a run of such characters (and spells out a "<0xE1>" found in the text)."""
    return (
        is_sentencepiece(tokenizer)
        and tokenizer.reference == "sentencepiece"
        and _BYTE_PIECE.fullmatch(token) is not None
    )


def tokens_to_string(tokenizer: Any, tokens: Sequence[str]) -> str:
    """The text of tokens as transformers' pipelines print it (NER words).

    v1: the tokenizer's own convert_tokens_to_string (byte-level BPE, the same in the slow and fast tokenizers).
    SentencePiece: transformers' pipelines hold DebertaV2TokenizerFast, whose Metaspace decoder writes every "▁"
    as a space except in the first token, where it drops it, and keeps everything else, trailing spaces and
    special tokens included. sentencepiece's decoding (the slow tokenizer's, deberta_np's default) strips the
    ends and joins special tokens differently ("Berlin▁" -> "Berlin" there, "Berlin " here). Byte pieces, which
    only sentencepiece writes, are decoded as UTF-8.
    """
    if not is_sentencepiece(tokenizer):
        return tokenizer.convert_tokens_to_string(list(tokens))
    parts: list[str] = []
    pending = bytearray()
    for index, token in enumerate(tokens):
        if is_byte_piece(tokenizer, token):
            pending.append(int(token[3:5], 16))
            continue
        if pending:
            parts.append(pending.decode("utf-8", "replace"))
            pending.clear()
        parts.append(token.replace(SPACE_SYMBOL, "" if index == 0 else " "))
    if pending:
        parts.append(pending.decode("utf-8", "replace"))
    return "".join(parts)


def decode(tokenizer: Any, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
    """Text of token ids as transformers' pipelines decode them (fill-mask's token_str and sequence): the
    tokenizer's decode for v1; for SentencePiece, the fast tokenizer's (tokens_to_string, then the clean-up of
    tokenization spaces when the tokenizer asks for it)."""
    if not is_sentencepiece(tokenizer):
        return tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
    from ..tokenizer.base import clean_up_tokenization

    text = tokens_to_string(
        tokenizer, tokenizer.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)
    )
    return clean_up_tokenization(text) if tokenizer.clean_up_tokenization_spaces else text


# ================================================================================================================
# Features and batches
# ================================================================================================================


@dataclass
class Feature:
    """One model input row, and what the postprocessing needs to know about it (offsets, masks, ...)."""

    input_ids: list[int]
    token_type_ids: list[int]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length: sorted by length (stably), then cut every batch_size."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def pad_batch(features: Sequence[Feature], pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """input_ids, attention_mask, token_type_ids [B, L] (int64), right-padded to the longest row."""
    length = max(len(f) for f in features)
    ids = np.full((len(features), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(features), length), dtype=np.int64)
    types = np.zeros((len(features), length), dtype=np.int64)
    for row, f in enumerate(features):
        ids[row, : len(f)] = f.input_ids
        mask[row, : len(f)] = 1
        types[row, : len(f)] = f.token_type_ids
    return ids, mask, types


def host(array: Any) -> np.ndarray:
    """A model output on the host; float16 is widened to float32 for the postprocessing, as transformers does."""
    out = shim.to_numpy(array)
    return out.astype(np.float32) if out.dtype == np.float16 else out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Max-subtracted softmax in x's dtype (transformers' pipelines compute it the same way, in NumPy)."""
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


# ================================================================================================================
# The pipeline
# ================================================================================================================


class Failure:
    """The error of one input item, in place of its result (`Pipeline.run(..., errors="collect")`)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Failure({self.error!r})"


class Pipeline:
    """Base class of the task pipelines. Subclasses set `task`, `head`, `defaults` and implement the hooks.

    Parameters (top_k, aggregation_strategy, ...) can be given when the pipeline is made, as defaults, or to each
    call; an unknown name is a TypeError, so a typo is never silently ignored.
    """

    task: ClassVar[str] = ""
    head: ClassVar[str] = "base"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 1, **parameters: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = check_positive_int(batch_size, "batch_size")  # transformers refuses 0 and "2" too
        self._check_names(parameters)
        self.parameters = dict(parameters)

    @property
    def config(self) -> DebertaConfig:
        return self.model.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, batch_size={self.batch_size})"

    # --- parameters ---------------------------------------------------------------------------------------------

    def _check_names(self, parameters: dict[str, Any]) -> None:
        unknown = sorted(set(parameters) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.task} got unexpected parameter(s) {', '.join(unknown)}; it accepts "
                f"{', '.join(sorted(self.defaults)) or 'none'}"
            )

    def _parameters(self, call: dict[str, Any]) -> dict[str, Any]:
        """defaults < the pipeline's parameters < the call's; then the task's own checks."""
        self._check_names(call)
        return self.check_parameters({**self.defaults, **self.parameters, **call})

    def check_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate (and normalise) the merged parameters; raise ValueError/TypeError."""
        return params

    # --- the three steps ----------------------------------------------------------------------------------------

    def preprocess(self, item: Any, params: dict[str, Any]) -> list[Feature]:
        raise NotImplementedError

    def infer(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, rows: list[Feature]) -> list[dict]:
        """Run the model on one padded batch; return each row's outputs, cut to the row's real length."""
        raise NotImplementedError

    def postprocess(
        self, item: Any, features: list[Feature], outputs: list[dict], params: dict[str, Any]
    ) -> Any:
        raise NotImplementedError

    # --- running ------------------------------------------------------------------------------------------------

    def __call__(self, inputs: Any, **params: Any) -> Any:
        """The result of one item, or the list of results of a list of items (transformers' convention)."""
        items = inputs if isinstance(inputs, list) else [inputs]
        results = self.run(items, **params)
        return results if isinstance(inputs, list) else results[0]

    def run(
        self, items: Sequence[Any], errors: str = "raise", batch_size: int | None = None, **call: Any
    ) -> list[Any]:
        """Results for `items` in order. errors="raise": the first bad item raises; errors="collect": a bad item
        gives a `Failure` in its place and the others are still computed (what the command line uses).
        `batch_size`: this call's batch size (as transformers' `pipe(inputs, batch_size=8)`); None: the
        pipeline's."""
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        batch_size = self.batch_size if batch_size is None else check_positive_int(batch_size, "batch_size")
        params = self._parameters(call)
        results: list[Any] = [None] * len(items)
        features: list[list[Feature]] = [[] for _ in items]
        for index, item in enumerate(items):
            try:
                features[index] = self.preprocess(item, params)
            except (ValueError, TypeError) as error:
                if errors == "raise":
                    raise
                results[index] = Failure(error)
        flat = [(index, f) for index, fs in enumerate(features) for f in fs]
        outputs = self._forward([f for _, f in flat], errors, batch_size)
        per_item: list[list[dict]] = [[] for _ in items]
        for (index, _), output in zip(flat, outputs):
            if isinstance(output, Failure):
                results[index] = output
            per_item[index].append(output)
        for index, item in enumerate(items):
            if isinstance(results[index], Failure):
                continue
            try:
                results[index] = self.postprocess(item, features[index], per_item[index], params)
            except (ValueError, TypeError) as error:
                if errors == "raise":
                    raise
                results[index] = Failure(error)
        return results

    def _forward(self, features: list[Feature], errors: str, batch_size: int) -> list[Any]:
        outputs: list[Any] = [None] * len(features)
        for batch in length_batches([len(f) for f in features], batch_size):
            try:
                self._forward_batch(features, batch, outputs)
            except InputError:
                if errors == "raise":
                    raise
                # One bad row (say, too long for absolute positions) must not sink its batch-mates.
                for index in batch:
                    try:
                        self._forward_batch(features, [index], outputs)
                    except InputError as error:
                        outputs[index] = Failure(error)
        return outputs

    def _forward_batch(self, features: list[Feature], batch: list[int], outputs: list[Any]) -> None:
        rows = [features[i] for i in batch]
        ids, mask, types = pad_batch(rows, self._pad_id())
        for index, output in zip(batch, self.infer(ids, mask, types, rows)):
            outputs[index] = output

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return 0 if pad is None else int(pad)

    # --- helpers for subclasses ---------------------------------------------------------------------------------

    @staticmethod
    def check_text(value: Any, name: str = "text") -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        if not value:
            raise InputError(f"{name} is empty")
        return value

    def label(self, index: int) -> str:
        return self.config.id2label[int(index)]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()  # a call option left out, where None is a value of its own (top_k, candidate_labels)


# What text-classification and feature-extraction pass on to their tokenizer at call time (fill-mask takes the same
# as tokenizer_kwargs), left to the tokenizer's defaults when not given.
TOKENIZER_OPTIONS: dict[str, Any] = {"truncation": None, "max_length": None}


def tokenizer_options(params: dict[str, Any]) -> dict[str, Any]:
    """The TOKENIZER_OPTIONS a call gave, for the tokenizer."""
    return {name: params[name] for name in TOKENIZER_OPTIONS if params.get(name) is not None}


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def set_labels(config: DebertaConfig, id2label: dict[Any, str]) -> None:
    """Replace the config's labels (the command line's --id2label): {index: name}, indices 0..num_labels-1."""
    try:
        labels = {int(k): str(v) for k, v in dict(id2label).items()}
    except (TypeError, ValueError) as error:
        raise ConfigError(f"id2label must map label indices to names, got {id2label!r}") from error
    if sorted(labels) != list(range(config.num_labels)):
        raise ConfigError(
            f"id2label must name the {config.num_labels} labels of this model, indices 0..{config.num_labels - 1}; "
            f"got indices {sorted(labels)}"
        )
    config.id2label = labels
    config.label2id = {name: index for index, name in labels.items()}
