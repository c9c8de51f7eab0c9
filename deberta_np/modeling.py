"""The public model classes, named and called as in transformers: `DebertaModel` and the four task heads.

Each class holds a config and the parameters (nested dicts of backend arrays, see model.py), checks its inputs
before computing anything, and returns an output object with transformers' field names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy

from . import losses, model, shim
from .checkpoint_files import find_checkpoint_files, read_state_dict
from .config import DebertaConfig, write_config_json
from .errors import CheckpointError, ConfigError, InputError
from .family import V1, V2, Family, family_named
from .fast import FastDeberta, Inputs
from .parameters import PREFIX, canonical_names, flatten, leaves, masked_lm_head, nest, select_parameters

Array = Any
ModelT = TypeVar("ModelT", bound="DebertaPreTrainedModel")

# ================================================================================================================
# Outputs
# ================================================================================================================


@dataclass
class ModelOutput:
    """Fields by name (`out.logits`, `out["logits"]`) or, like transformers' tuples, by position (`out[0]`)."""

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: Array = None
    hidden_states: tuple[Array, ...] | None = None
    attentions: tuple[Array, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """`loss` (with labels=) comes first, as in transformers' outputs and tuples."""

    loss: Array | None = None
    logits: Array = None
    hidden_states: tuple[Array, ...] | None = None
    attentions: tuple[Array, ...] | None = None


@dataclass
class SequenceClassifierOutput(MaskedLMOutput):
    pass


@dataclass
class TokenClassifierOutput(MaskedLMOutput):
    pass


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Array | None = None
    start_logits: Array = None
    end_logits: Array = None
    hidden_states: tuple[Array, ...] | None = None
    attentions: tuple[Array, ...] | None = None


# ================================================================================================================
# Models
# ================================================================================================================


class DebertaPreTrainedModel:
    """Loading, input checking and the encoder call shared by the model classes of v1 and v2/v3."""

    head: str = "base"  # the class's head; for DebertaForMaskedLM, the layout found in the checkpoint
    family: Family = V1  # v1 or v2/v3 (family.py): the config class, the readable and the fast encoder
    output_class: type[ModelOutput] = BaseModelOutput
    targets: tuple[str, ...] = ()  # the keyword arguments that ask for the loss (labels=, ...)

    def __init__(
        self,
        config: DebertaConfig,
        state_dict: dict[str, Any],
        device: str = "cpu",
        dtype: str = "float32",
        source: str = "state dict",
        fast: bool = True,
    ) -> None:
        """Build from a config and a state dict (names as in any checkpoint; checked strictly, cast to dtype).

        fast: run the encoder through deberta_np.fast / fast_v2 (load-time caches, tested equal to the spec) in
        float32 and float64; False runs the readable spec itself (model.py, or model_v2.py for v2/v3).
        """
        if not isinstance(config, self.family.config_class):
            raise ConfigError(
                f"{type(self).__name__} needs a {self.family.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.device = shim.device_name(device)
        self.dtype = shim.check_dtype(dtype)
        self.xp: ModuleType = shim.backend(device)
        self.source = source
        if (
            self.head in ("sequence_classification", "multiple_choice")
            and config.pooler_hidden_size != config.hidden_size
        ):
            raise ConfigError(
                f"config field pooler_hidden_size ({config.pooler_hidden_size}) must equal hidden_size "
                f"({config.hidden_size}): the pooler reads the first token's hidden state"
            )
        state = canonical_names(state_dict, source)
        if self.head == "masked_lm":
            self.head = masked_lm_head(state, config, source)  # the layout the checkpoint holds
        selected = select_parameters(state, config, self.head, source)
        self.params = nest({name: self._to_backend(array, name) for name, array in selected.items()})
        self.fast = fast
        self._fast_encoder: FastDeberta | None = None
        if fast:
            self._fast_path()  # its caches are built at load, not on the first call

    @classmethod
    def from_pretrained(
        cls: type[ModelT],
        path: str | os.PathLike[str],
        device: str = "cpu",
        dtype: str = "float32",
        fast: bool = True,
        mmap: bool = True,
        torch_dtype: Any = None,
        **config_overrides: Any,
    ) -> ModelT:
        """Load `config.json` and the weights (safetensors, sharded or not, or pytorch_model.bin) from a directory.

        dtype (or transformers' name for it, torch_dtype): "float32", "float64", "float16", a torch or NumPy
        dtype, or "auto" (the config's torch_dtype where deberta_np computes in it, else float32). device: "cpu",
        "cuda", or transformers' index (-1: cpu, 0: the first GPU).

        mmap: float32 weights stay zero-copy views of the memory-mapped files, which must then not be replaced
        in place or truncated while the model lives (a write through a temporary file and a rename, as
        `deberta-np convert` does, is safe). mmap=False reads the files into private memory instead, for
        services whose checkpoint files may be rewritten under them; it costs the weights' size in memory.
        `config_overrides` replace config.json values (config fields only, e.g. `zero_fully_masked_rows=True`,
        `num_labels=3`); any other keyword is refused with the list of accepted ones.
        """
        unknown = sorted(
            set(config_overrides) - {f.name for f in fields(cls.family.config_class)} - {"extra"}
        )
        if unknown:
            known = sorted(f.name for f in fields(cls.family.config_class) if f.name != "extra")
            raise TypeError(
                f"{cls.__name__}.from_pretrained got unexpected keyword argument(s) {', '.join(unknown)}; it takes "
                f"device, dtype (or torch_dtype), fast, mmap, and config fields: {', '.join(known)}"
            )
        if torch_dtype is not None:
            if dtype != "float32":
                raise TypeError("give dtype or torch_dtype (transformers' name for it), not both")
            dtype = torch_dtype
        path = Path(path)
        if dtype == "auto":
            stored = DebertaConfig.from_pretrained(path).extra.get("torch_dtype", "float32")
            dtype = stored if stored in shim.DTYPES else "float32"
        dtype = shim.check_dtype(dtype)
        device = shim.device_name(device)
        shim.backend(device)  # fail before reading gigabytes
        config = cls.family.config_class.from_pretrained(path, **config_overrides)
        expected = cls.family.config_class.__dataclass_fields__["model_type"].default
        if config.model_type != expected:
            family = family_named(config.model_type).class_prefix
            raise ConfigError(
                f"{path}: config.json says model_type={config.model_type!r}, but {cls.__name__} reads "
                f"{expected!r} checkpoints: use the {family}* classes (or deberta_np.load_model)"
            )
        files = find_checkpoint_files(path)
        source = str(files[0]) if len(files) == 1 else f"{path} ({len(files)} shards)"
        state = read_state_dict(path, mmap=mmap)
        return cls(config, state, device=device, dtype=dtype, source=source, fast=fast)

    def _to_backend(self, array: numpy.ndarray, name: str) -> Array:
        dtype = getattr(self.xp, self.dtype)
        if self.dtype == "float16" and array.dtype.kind == "f" and array.dtype.itemsize > 2:
            # Beyond float16's range a weight becomes inf and every output NaN: refuse, as `convert` does.
            with numpy.errstate(over="ignore"):
                overflow = numpy.isfinite(array) & ~numpy.isfinite(array.astype(numpy.float16))
            if overflow.any():
                peak = float(numpy.abs(array[overflow]).max())
                raise CheckpointError(
                    f"{self.source}: tensor {name!r} holds {peak:g}, beyond float16's range (65504); "
                    "load it in float32"
                )
        if self.xp is numpy:  # float32 stays a zero-copy view of the mapped file
            return array if array.dtype == dtype else array.astype(dtype)
        return self.xp.asarray(numpy.asarray(array), dtype=dtype)

    # ------------------------------------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """config.json and model.safetensors (checkpoint names, the model's dtype) that transformers'
        from_pretrained and ours load: the weights as loaded, tied decoder copies left out as transformers does."""
        from .safetensors_io import write_safetensors

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]  # transformers' class of the same name
        config["torch_dtype"] = self.dtype
        # transformers picks the MLM head by config.legacy: False reads Microsoft's lm_predictions.* layout
        if self.head in ("masked_lm", "masked_lm_legacy"):
            config["legacy"] = self.head == "masked_lm_legacy"
        tensors = {name: shim.to_numpy(array) for name, array in flatten(self.params).items()}
        write_safetensors(out / "model.safetensors", tensors, metadata={"format": "pt"})
        write_config_json(out, config)

    def num_parameters(self) -> int:
        return sum(int(numpy.prod(array.shape)) for array in leaves(self.params))

    def prepare_inputs(self, inputs: tuple[Any, Any, Any, Any]) -> Inputs:
        """Check and convert (input_ids, attention_mask, token_type_ids, position_ids), nested lists or arrays,
        None for the optional ones, before any computation; raise InputError."""
        input_ids, attention_mask, token_type_ids, position_ids = inputs
        c = self.config
        ids = self._integer_array("input_ids", input_ids)
        if ids.ndim != 2:
            raise InputError(f"input_ids must be 2-D [batch, length], got shape {list(ids.shape)}")
        batch, length = ids.shape
        if batch == 0 or length == 0:
            raise InputError(f"input_ids is empty (shape {list(ids.shape)})")
        self._check_range("input_ids", ids, c.vocab_size, "vocab_size")
        if c.position_biased_input and length > c.max_position_embeddings:
            raise InputError(
                f"sequence length {length} exceeds max_position_embeddings={c.max_position_embeddings} "
                "(this model adds absolute position embeddings); truncate the input"
            )
        if attention_mask is None:
            mask = numpy.ones((batch, length), dtype=numpy.int64)
        else:
            mask = self._host_array("attention_mask", attention_mask)
            self._check_shape("attention_mask", mask, ids.shape)
            if mask.dtype != numpy.bool_ and not numpy.isin(mask, (0, 1)).all():
                raise InputError("attention_mask must hold only 0 and 1 (1 = real token, 0 = padding)")
            mask = mask.astype(numpy.int64)
        if token_type_ids is None:
            types = numpy.zeros((batch, length), dtype=numpy.int64)
        else:
            types = self._integer_array("token_type_ids", token_type_ids)
            self._check_shape("token_type_ids", types, ids.shape)
            if (
                c.type_vocab_size > 0
            ):  # with no token-type embedding (v1 checkpoints) they are ignored, as in HF
                self._check_range("token_type_ids", types, c.type_vocab_size, "type_vocab_size")
        if position_ids is None:
            positions = numpy.arange(length, dtype=numpy.int64)[None, :]
        else:
            positions = self._integer_array("position_ids", position_ids)
            if positions.ndim == 1:
                positions = positions[None, :]
            if positions.shape not in ((1, length), (batch, length)):
                raise InputError(
                    f"position_ids has shape {list(positions.shape)}; expected [{batch}, {length}] or [1, {length}]"
                )
            if c.position_biased_input:
                self._check_range(
                    "position_ids", positions, c.max_position_embeddings, "max_position_embeddings"
                )
        xp = self.xp
        return tuple(xp.asarray(a) for a in (ids, mask, types, positions))  # type: ignore[return-value]

    def _host_array(self, name: str, value: Any) -> numpy.ndarray:
        try:
            return numpy.asarray(shim.to_numpy(value) if not isinstance(value, (list, tuple)) else value)
        except ValueError as error:
            raise InputError(
                f"{name}: not a rectangular array ({error}); pad the sequences to one length "
                "(the tokenizer does with padding=True)"
            ) from error

    def _integer_array(self, name: str, value: Any) -> numpy.ndarray:
        array = self._host_array(name, value)
        if array.size == 0 and array.dtype == numpy.float64:
            array = array.astype(numpy.int64)  # [] and [[]] parse as float
        if array.dtype == numpy.bool_ or not numpy.issubdtype(array.dtype, numpy.integer):
            raise InputError(f"{name} must hold integers, got dtype {array.dtype}")
        return array.astype(numpy.int64)

    @staticmethod
    def _check_shape(name: str, array: numpy.ndarray, shape: tuple[int, ...]) -> None:
        if array.shape != shape:
            raise InputError(f"{name} has shape {list(array.shape)} but input_ids has shape {list(shape)}")

    @staticmethod
    def _check_range(name: str, array: numpy.ndarray, limit: int, limit_name: str) -> None:
        bad = (array < 0) | (array >= limit)
        if bad.any():
            where = tuple(int(i) for i in numpy.argwhere(bad)[0])
            raise InputError(
                f"{name}[{', '.join(map(str, where))}] = {int(array[where])} is outside [0, {limit}) ({limit_name})"
            )

    def encode(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None) -> Array:
        """The encoder alone: the last hidden state [B, L, H] (what pipelines read beneath any head)."""
        h, _, _ = self.encoder_outputs((input_ids, attention_mask, token_type_ids, None), False, False)
        return h

    def encoder_outputs(
        self, inputs: tuple[Any, Any, Any, Any], output_hidden_states: bool, output_attentions: bool
    ) -> tuple[Array, tuple[Array, ...] | None, tuple[Array, ...] | None]:
        """Check the inputs and run the encoder: (last hidden state [B, L, H], hidden states or None, attentions
        or None)."""
        inputs = self.prepare_inputs(inputs)
        encoder = self._fast_path() if self.fast else None
        if encoder is not None:
            h, hidden, attentions = encoder(inputs, output_hidden_states, output_attentions)
        else:
            h, hidden, attentions = self.family.spec.deberta(
                *inputs, self.params[PREFIX[:-1]], self.config, output_hidden_states, output_attentions
            )
        return (
            h,
            tuple(hidden) if output_hidden_states else None,
            tuple(attentions) if output_attentions else None,
        )

    def __call__(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        position_ids: Any = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        **targets: Any,
    ) -> Any:
        """The encoder, then the head; with the class's targets (labels=, or start_positions= and
        end_positions=), also transformers' training loss as `loss`."""
        unknown = sorted(set(targets) - set(self.targets))
        if unknown:
            accepted = ["input_ids", "attention_mask", "token_type_ids", "position_ids", "output_hidden_states",
                        "output_attentions", *self.targets]  # fmt: skip
            raise TypeError(f"{type(self).__name__} got unexpected argument(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(accepted)}")  # fmt: skip
        given = {name: value for name, value in targets.items() if value is not None}
        if given and len(given) != len(self.targets):
            raise InputError(f"the loss needs {' and '.join(self.targets)}, got only {', '.join(given)}")
        inputs = (input_ids, attention_mask, token_type_ids, position_ids)
        outputs, hidden, attentions = self.run(inputs, output_hidden_states, output_attentions)
        if given:
            host = {name: shim.to_numpy(value) for name, value in outputs.items()}
            targets_np = {name: self._integer_or_float(name, value) for name, value in given.items()}
            outputs = {"loss": self.xp.asarray(self.loss(host, **targets_np)), **outputs}
        return self.output_class(**outputs, hidden_states=hidden, attentions=attentions)

    def run(
        self, inputs: tuple[Any, Any, Any, Any], output_hidden_states: bool, output_attentions: bool
    ) -> tuple[dict[str, Array], tuple[Array, ...] | None, tuple[Array, ...] | None]:
        """(the head's outputs by field name, hidden states, attentions)."""
        h, hidden, attentions = self.encoder_outputs(inputs, output_hidden_states, output_attentions)
        return self.head_outputs(h), hidden, attentions

    def head_outputs(self, h: Array) -> dict[str, Array]:
        raise NotImplementedError

    def loss(self, outputs: dict[str, numpy.ndarray], **targets: numpy.ndarray) -> numpy.ndarray:
        raise NotImplementedError

    def _integer_or_float(self, name: str, value: Any) -> numpy.ndarray:
        array = self._host_array(name, value)
        if not (
            numpy.issubdtype(array.dtype, numpy.integer) or numpy.issubdtype(array.dtype, numpy.floating)
        ):
            raise InputError(f"{name} must hold numbers, got dtype {array.dtype}")
        return array

    def _fast_path(self) -> FastDeberta | None:
        """The fast encoder (built once), or None where it does not apply (float16): the readable spec runs."""
        if not self.family.fast.applies(self.config, self.dtype):
            return None
        if self._fast_encoder is None:
            self._fast_encoder = self.family.fast(self.params[PREFIX[:-1]], self.config)
        return self._fast_encoder

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{type(self).__name__}(layers={c.num_hidden_layers}, hidden={c.hidden_size}, heads={c.num_attention_heads}, "
            f"head={self.head!r}, device={self.device!r}, dtype={self.dtype!r})"
        )


class DebertaModel(DebertaPreTrainedModel):
    """The bare encoder: `last_hidden_state` [B, L, H]."""

    head = "base"

    def head_outputs(self, h: Array) -> dict[str, Array]:
        return {"last_hidden_state": h}


class DebertaForMaskedLM(DebertaPreTrainedModel):
    """Masked-token prediction: `logits` [B, L, V], with the MLM head the checkpoint holds; labels= [B, L] gives
    the cross-entropy loss over the tokens whose label is not -100."""

    head = "masked_lm"
    output_class = MaskedLMOutput
    targets = ("labels",)

    def head_outputs(self, h: Array) -> dict[str, Array]:
        return {"logits": self.masked_lm_logits(h)}

    def masked_lm_logits(self, h: Array) -> Array:
        """The MLM head alone on hidden states h [B, N, H] (any N rows, e.g. only the masked ones) -> [B, N, V]."""
        word_embeddings = self.params["deberta"]["embeddings"]["word_embeddings"]["weight"]  # [V, E]
        if self.head == "masked_lm":
            return model.masked_lm_head(
                h, self.params["lm_predictions"]["lm_head"], word_embeddings, self.config
            )
        predictions = self.params["cls"]["predictions"]
        decoder = predictions.get("decoder", {}).get(
            "weight", word_embeddings
        )  # untied only if config says so
        return model.legacy_masked_lm_head(h, predictions, decoder, self.config)

    def loss(self, outputs: dict[str, numpy.ndarray], labels: numpy.ndarray) -> numpy.ndarray:
        logits = outputs["logits"]
        return losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


class DebertaForSequenceClassification(DebertaPreTrainedModel):
    """Sequence classification or regression: `logits` [B, num_labels]; labels= [B] (or [B, T]) gives
    transformers' loss for the config's problem_type."""

    head = "sequence_classification"
    output_class = SequenceClassifierOutput
    targets = ("labels",)

    def head_outputs(self, h: Array) -> dict[str, Array]:
        return {"logits": model.sequence_classification_head(h, self.params, self.config)}

    def loss(self, outputs: dict[str, numpy.ndarray], labels: numpy.ndarray) -> numpy.ndarray:
        return losses.sequence_classification(
            outputs["logits"], labels, self.config.extra.get("problem_type")
        )


class DebertaForTokenClassification(DebertaPreTrainedModel):
    """Per-token classification (NER, ...): `logits` [B, L, num_labels]; labels= [B, L] (-100: ignored)."""

    head = "token_classification"
    output_class = TokenClassifierOutput
    targets = ("labels",)

    def head_outputs(self, h: Array) -> dict[str, Array]:
        return {"logits": model.token_classification_head(h, self.params)}

    def loss(self, outputs: dict[str, numpy.ndarray], labels: numpy.ndarray) -> numpy.ndarray:
        logits = outputs["logits"]
        return losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


class DebertaForQuestionAnswering(DebertaPreTrainedModel):
    """Extractive question answering: `start_logits`, `end_logits` [B, L]; start_positions= and end_positions=
    [B] give transformers' span loss."""

    head = "question_answering"
    output_class = QuestionAnsweringModelOutput
    targets = ("start_positions", "end_positions")

    def head_outputs(self, h: Array) -> dict[str, Array]:
        start, end = model.question_answering_head(h, self.params)
        return {"start_logits": start, "end_logits": end}

    def loss(
        self, outputs: dict[str, numpy.ndarray], start_positions: numpy.ndarray, end_positions: numpy.ndarray
    ) -> numpy.ndarray:
        return losses.question_answering(
            outputs["start_logits"], outputs["end_logits"], start_positions, end_positions
        )


# ================================================================================================================
# DeBERTa-v2 and v3: the same classes over model_v2's encoder, plus multiple choice
# ================================================================================================================


class DebertaV2Model(DebertaModel):
    family = V2


class DebertaV2ForMaskedLM(DebertaForMaskedLM):
    """Masked-token prediction (v2-xlarge/xxlarge; v3 checkpoints are discriminators and are refused)."""

    family = V2


class DebertaV2ForSequenceClassification(DebertaForSequenceClassification):
    family = V2


class DebertaV2ForTokenClassification(DebertaForTokenClassification):
    family = V2


class DebertaV2ForQuestionAnswering(DebertaForQuestionAnswering):
    family = V2


@dataclass
class MultipleChoiceModelOutput(MaskedLMOutput):
    pass


class DebertaV2ForMultipleChoice(DebertaPreTrainedModel):
    """One score per choice: input_ids [B, C, L] -> `logits` [B, C] (hidden states are per flattened row);
    labels= [B] (the right choice) gives the cross-entropy loss."""

    head = "multiple_choice"
    family = V2
    output_class = MultipleChoiceModelOutput
    targets = ("labels",)

    def choice_rows(self, inputs: tuple[Any, Any, Any, Any]) -> tuple[tuple[Any, Any, Any, Any], int]:
        """[B, C, L] inputs as the [B*C, L] rows the encoder reads, and C; InputError for other shapes."""
        input_ids, attention_mask, token_type_ids, position_ids = inputs
        ids = self._integer_array("input_ids", input_ids)
        if ids.ndim != 3:
            raise InputError(f"input_ids must be 3-D [batch, choices, length], got shape {list(ids.shape)}")
        batch, choices, length = ids.shape

        def flat(name: str, value: Any) -> Any:
            if value is None:
                return None
            array = self._host_array(name, value)
            self._check_shape(name, array, ids.shape)
            return array.reshape(batch * choices, length)

        rows = (
            ids.reshape(batch * choices, length),
            flat("attention_mask", attention_mask),
            flat("token_type_ids", token_type_ids),
            flat("position_ids", position_ids),
        )
        return rows, choices

    def run(
        self, inputs: tuple[Any, Any, Any, Any], output_hidden_states: bool, output_attentions: bool
    ) -> tuple[dict[str, Array], tuple[Array, ...] | None, tuple[Array, ...] | None]:
        rows, choices = self.choice_rows(inputs)
        h, hidden, attentions = self.encoder_outputs(rows, output_hidden_states, output_attentions)
        return (
            {"logits": self.family.spec.multiple_choice_head(h, self.params, self.config, choices)},
            hidden,
            attentions,
        )

    def loss(self, outputs: dict[str, numpy.ndarray], labels: numpy.ndarray) -> numpy.ndarray:
        return losses.cross_entropy(outputs["logits"], labels.reshape(-1))


ALL_CLASSES = (
    DebertaModel,
    DebertaForMaskedLM,
    DebertaForSequenceClassification,
    DebertaForTokenClassification,
    DebertaForQuestionAnswering,
    DebertaV2Model,
    DebertaV2ForMaskedLM,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2ForQuestionAnswering,
    DebertaV2ForMultipleChoice,
)
CLASSES = {  # model_type -> head -> class
    family.model_type: {cls.head: cls for cls in ALL_CLASSES if cls.family is family} for family in (V1, V2)
}
MODEL_CLASSES, V2_MODEL_CLASSES = CLASSES[V1.model_type], CLASSES[V2.model_type]


def load_model(
    path: str | os.PathLike[str],
    head: str = "base",
    device: str = "cpu",
    dtype: str = "float32",
    mmap: bool = True,
    **config_overrides: Any,
) -> DebertaPreTrainedModel:
    """Load a checkpoint directory with the v1 or v2 class its config.json names (model_type), for `head`.

    head: "base", "masked_lm", "sequence_classification", "token_classification", "question_answering" or,
    for v2/v3, "multiple_choice". mmap: see DebertaPreTrainedModel.from_pretrained.
    """
    config = DebertaConfig.from_pretrained(path)
    classes = CLASSES[family_named(config.model_type).model_type]
    if head not in classes:
        raise ValueError(
            f"unknown head {head!r} for a {config.model_type} checkpoint; expected one of {', '.join(classes)}"
        )
    return classes[head].from_pretrained(path, device=device, dtype=dtype, mmap=mmap, **config_overrides)
