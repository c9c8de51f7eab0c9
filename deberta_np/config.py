"""`DebertaConfig`: the fields of a Hugging Face DeBERTa (v1) `config.json`, with the defaults of the code.

The defaults are those of `transformers.DebertaConfig.__init__` (identical from 4.45 to 5.24), not the ones its
docstring states: vocab_size 50265 (not 30522), type_vocab_size 0 (not 2), layer_norm_eps 1e-7 (not 1e-12),
max_relative_positions -1 (meaning "use max_position_embeddings", not 1), as in transformers'
`models/deberta/configuration_deberta.py`. Every field is declared, including those transformers' model reads
with `getattr` (embedding_size, talking_head). Some are kept only so that config.json round-trips: the dropouts
(identity at inference), initializer_range, and cls_dropout, which no code reads (transformers' DeBERTa heads
take their dropout from it when it is set). Unknown keys are kept in `extra` (and written back by `to_dict`)
but never read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .jsonio import loads

# Activations the model implements (see model.ACTIVATIONS): the names transformers' ACT2FN gives them.
ACTIVATION_NAMES = (
    "gelu",
    "gelu_python",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "quick_gelu",
    "relu",
    "tanh",
    "silu",
    "swish",
    "sigmoid",
    "linear",
)

# "none" is what `pos_att_type="None"` becomes in transformers; it adds no term but counts in v1's scale factor
# (`scale_factor = 1 + len(self.pos_att_type)` in transformers' DebertaDisentangledSelfAttention). "p2p" exists only in Microsoft's code, and transformers does not implement it: refused.
POS_ATT_TYPES = ("c2p", "p2c", "none")

# num_labels without id2label makes the labels LABEL_0, LABEL_1, ...: past this many, a config.json of a few
# bytes would make a table of any size. A head with more labels names them in id2label (the file pays for them).
MAX_IMPLICIT_LABELS = 65536


@dataclass
class DebertaConfig:
    vocab_size: int = 50265
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-7
    relative_attention: bool = False
    max_relative_positions: int = -1
    pad_token_id: int | None = 0
    position_biased_input: bool = True
    pos_att_type: list[str] = field(default_factory=list)
    pooler_dropout: float = 0.0
    pooler_hidden_act: str = "gelu"
    pooler_hidden_size: int | None = None  # None: hidden_size
    legacy: bool = True
    embedding_size: int | None = None  # None: hidden_size
    talking_head: bool = False
    cls_dropout: float | None = None  # read by nothing: kept for the round trip (a dropout, identity here)
    num_labels: int = 2
    id2label: dict[int, str] | None = None  # None: {i: f"LABEL_{i}"}
    label2id: dict[str, int] | None = None
    problem_type: str | None = None
    model_type: str = "deberta"
    architectures: list[str] | None = None
    # deberta_np's own option, not a transformers field: the attention of a padded *query* position. False gives
    # transformers >= 4.47 (uniform weights over all keys); True gives transformers <= 4.46, TF and Microsoft's
    # code (all-zero weights). Valid positions are identical either way (model.masked_softmax).
    zero_fully_masked_rows: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.pos_att_type, str):
            self.pos_att_type = [part.strip() for part in self.pos_att_type.lower().split("|")]
        elif self.pos_att_type is None:
            self.pos_att_type = []
        elif isinstance(self.pos_att_type, (list, tuple)) and all(
            isinstance(p, str) for p in self.pos_att_type
        ):
            self.pos_att_type = [part.strip().lower() for part in self.pos_att_type]
        else:
            raise ConfigError(
                f"config field pos_att_type must be a string such as 'c2p|p2c' or a list of strings, "
                f"got {_short(self.pos_att_type)}"
            )
        if self.pooler_hidden_size is None:
            self.pooler_hidden_size = self.hidden_size
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size
        if self.id2label is not None:
            self.id2label = {
                _label_id(k, "id2label", "key"): _label_name(v, "id2label")
                for k, v in _object(self.id2label, "id2label").items()
            }
            self.num_labels = len(self.id2label)
        elif _is_int(self.num_labels) and self.num_labels > MAX_IMPLICIT_LABELS:
            raise ConfigError(
                f"config field num_labels is {_short(self.num_labels)} with no id2label: more than {MAX_IMPLICIT_LABELS} "
                "labels must be named in id2label"
            )
        else:
            self.id2label = (
                {i: f"LABEL_{i}" for i in range(self.num_labels)} if _is_int(self.num_labels) else {}
            )
        if self.label2id is None:
            self.label2id = {label: i for i, label in self.id2label.items()}
        else:
            self.label2id = {
                _label_name(k, "label2id"): _label_id(v, "label2id", "value")
                for k, v in _object(self.label2id, "label2id").items()
            }
        self.validate()

    # ------------------------------------------------------------------------------------------------------------
    # Derived values
    # ------------------------------------------------------------------------------------------------------------

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def scale_factor(self) -> int:
        """1 + len(pos_att_type): transformers counts every entry, "none" included."""
        return 1 + len(self.pos_att_type)

    @property
    def max_relative(self) -> int:
        """P: the relative distance beyond which positions are clamped (< 1 means max_position_embeddings)."""
        if self.max_relative_positions < 1:
            return self.max_position_embeddings
        return self.max_relative_positions

    # ------------------------------------------------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming the first invalid field."""
        positive = (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
        )
        positive += ("max_position_embeddings", "embedding_size", "pooler_hidden_size", "num_labels")
        for name in positive:
            value = getattr(self, name)
            if not _is_int(value) or not 0 < value < 2**31:
                raise ConfigError(
                    f"config field {name} must be a positive integer below 2**31, got {_short(value)}"
                )
        for name in ("type_vocab_size",):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ConfigError(f"config field {name} must be a non-negative integer, got {_short(value)}")
        if not _is_int(self.max_relative_positions):
            raise ConfigError(
                f"config field max_relative_positions must be an integer, got {_short(self.max_relative_positions)}"
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ConfigError(
                f"config field hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if not isinstance(self.layer_norm_eps, (int, float)) or isinstance(self.layer_norm_eps, bool):
            raise ConfigError(
                f"config field layer_norm_eps must be a number, got {_short(self.layer_norm_eps)}"
            )
        if not 0 < self.layer_norm_eps < 1:
            # eps is added to the variance of hidden states that LayerNorm scales to about 1: it must be
            # negligible there. At 1e300 (or Infinity, which JSON allows) every hidden state comes out 0.
            raise ConfigError(
                f"config field layer_norm_eps must be a small positive number (0 < eps < 1), got {_short(self.layer_norm_eps)}"
            )
        for name in (
            "relative_attention",
            "position_biased_input",
            "legacy",
            "talking_head",
            "zero_fully_masked_rows",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"config field {name} must be true or false, got {_short(getattr(self, name))}"
                )
        for name in ("hidden_act", "pooler_hidden_act"):
            value = getattr(self, name)
            if value not in ACTIVATION_NAMES:
                raise ConfigError(
                    f"config field {name}: unknown activation {_short(value)} (supported: {', '.join(ACTIVATION_NAMES)})"
                )
        for part in self.pos_att_type:
            if part not in POS_ATT_TYPES:
                hint = " (Microsoft's p2p term is not implemented by transformers)" if part == "p2p" else ""
                raise ConfigError(
                    f"config field pos_att_type: unknown attention type {_short(part)}{hint}; use c2p and/or p2c, e.g. 'c2p|p2c'"
                )
        if self.pad_token_id is not None and (not _is_int(self.pad_token_id) or self.pad_token_id < 0):
            raise ConfigError(
                f"config field pad_token_id must be a non-negative integer or null, got {_short(self.pad_token_id)}"
            )
        if len(self.id2label) != self.num_labels:
            raise ConfigError(
                f"config field id2label has {len(self.id2label)} labels but num_labels is {self.num_labels}"
            )
        if sorted(self.id2label) != list(range(self.num_labels)):
            raise ConfigError(
                f"config field id2label must map 0..{self.num_labels - 1}, got keys {sorted(self.id2label)}"
            )

    # ------------------------------------------------------------------------------------------------------------
    # Reading and writing
    # ------------------------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any], **overrides: Any) -> DebertaConfig:
        """Build from a config.json dict; unknown keys go to `extra`, `overrides` win over `values`."""
        if not isinstance(values, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(values).__name__}")
        merged = {**values, **overrides}
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in merged.items() if k in known}
        # As in transformers, id2label wins over a num_labels that disagrees with it (see __post_init__).
        extra = {k: v for k, v in merged.items() if k not in known}
        return cls(**kwargs, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str], **overrides: Any) -> DebertaConfig:
        path = Path(path)
        values = read_config_json(path)
        try:
            return cls.from_dict(values, **overrides)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from error

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **overrides: Any) -> DebertaConfig:
        """Read `config.json` from a checkpoint directory (or a path to the JSON file itself)."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
            if not path.exists():
                raise ConfigError(f"no config.json in checkpoint directory {path.parent}")
        return cls.from_json_file(path, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The config.json dict, in transformers' spelling (pos_att_type as a list, label maps with str keys)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        values["id2label"] = {str(k): v for k, v in self.id2label.items()}
        if not self.zero_fully_masked_rows:
            values.pop("zero_fully_masked_rows")
        for name in ("architectures", "problem_type", "cls_dropout"):
            if values[name] is None:
                values.pop(name)
        return {**self.extra, **values}

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        write_config_json(directory, self.to_dict())


def read_config_json(path: str | os.PathLike[str]) -> Any:
    """A config.json's JSON value as stored (every failure a ConfigError naming the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from error
    return loads(text, lambda reason: ConfigError(f"{path}: not valid JSON: {reason}"))


def write_config_json(directory: str | os.PathLike[str], values: dict[str, Any]) -> None:
    """`directory`/config.json as transformers writes it (indented, sorted keys)."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    text = json.dumps(values, indent=2, sort_keys=True)
    (Path(directory) / "config.json").write_text(text + "\n", encoding="utf-8")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    """repr for a message: bounded, and never int -> str on a huge int (which raises past 4300 digits)."""
    if _is_int(value) and abs(value) >= 10**30:
        return f"<an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _object(value: Any, name: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"config field {name} must be a JSON object, got {_short(value)}")
    return value


def _label_id(value: Any, name: str, part: str) -> int:
    """A label id: an int, or (as JSON object keys are) its decimal string."""
    if type(value) is str and value.strip().lstrip("-").isdigit() and len(value) <= 18:
        value = int(value)
    if not _is_int(value) or not 0 <= value < 2**31:
        raise ConfigError(f"config field {name}: {part} {_short(value)} is not a label id (an integer >= 0)")
    return value


def _label_name(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if (_is_int(value) and abs(value) < 10**18) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)  # a number used as a label name, as transformers allows
    raise ConfigError(f"config field {name}: label {_short(value)} is not a string")


NORM_REL_EBD = ("none", "layer_norm")


@dataclass
class DebertaV2Config(DebertaConfig):
    """A DeBERTa-v2/v3 `config.json` (transformers' `DebertaV2Config`, code defaults: deberta-v2-xlarge's shape).

    Adds the v2 fields (model_v2.py): position_buckets (log buckets), norm_rel_ebd, share_att_key, the ConvLayer
    (conv_kernel_size, conv_groups, conv_act) and attention_head_size.
    """

    vocab_size: int = 128100
    hidden_size: int = 1536
    num_hidden_layers: int = 24
    num_attention_heads: int = 24
    intermediate_size: int = 6144
    position_buckets: int = -1
    norm_rel_ebd: list[str] = field(default_factory=lambda: ["none"])
    share_att_key: bool = False
    conv_kernel_size: int = 0
    conv_groups: int = 1
    conv_act: str = "tanh"
    attention_head_size: int | None = None  # None: hidden_size // num_attention_heads
    model_type: str = "deberta-v2"

    def __post_init__(self) -> None:
        if isinstance(self.norm_rel_ebd, str):
            self.norm_rel_ebd = [part.strip() for part in self.norm_rel_ebd.lower().split("|")]
        elif self.norm_rel_ebd is None:
            self.norm_rel_ebd = ["none"]
        elif not (isinstance(self.norm_rel_ebd, list) and all(isinstance(p, str) for p in self.norm_rel_ebd)):
            raise ConfigError(
                f"config field norm_rel_ebd must be a string such as 'layer_norm', got {_short(self.norm_rel_ebd)}"
            )
        if (
            self.attention_head_size is None
            and _is_int(self.hidden_size)
            and _is_int(self.num_attention_heads)
        ):
            self.attention_head_size = self.hidden_size // max(self.num_attention_heads, 1)
        super().__post_init__()

    @property
    def head_dim(self) -> int:
        return self.attention_head_size  # type: ignore[return-value]

    @property
    def scale_factor(self) -> int:
        """1 + one for each of c2p and p2c (v2 counts only these two, unlike v1)."""
        return 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)

    @property
    def position_span(self) -> int:
        """att_span: the number of relative positions on each side, position_buckets if set, else P."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative

    def validate(self) -> None:
        super().validate()
        for name in ("position_buckets",):
            if not _is_int(getattr(self, name)):
                raise ConfigError(
                    f"config field {name} must be an integer, got {_short(getattr(self, name))}"
                )
        if (
            not _is_int(self.conv_kernel_size)
            or self.conv_kernel_size < 0
            or (self.conv_kernel_size > 0 and self.conv_kernel_size % 2 == 0)
        ):
            raise ConfigError(
                f"config field conv_kernel_size must be 0 (no ConvLayer) or odd, got {_short(self.conv_kernel_size)} "
                "(an even kernel changes the sequence length in transformers' Conv1d)"
            )
        if not _is_int(self.conv_groups) or self.conv_groups <= 0 or self.hidden_size % self.conv_groups:
            raise ConfigError(
                f"config field conv_groups must divide hidden_size, got {_short(self.conv_groups)}"
            )
        if self.conv_act not in ACTIVATION_NAMES:
            raise ConfigError(f"config field conv_act: unknown activation {_short(self.conv_act)}")
        if not isinstance(self.share_att_key, bool):
            raise ConfigError(
                f"config field share_att_key must be true or false, got {_short(self.share_att_key)}"
            )
        for part in self.norm_rel_ebd:
            if part not in NORM_REL_EBD:
                raise ConfigError(
                    f"config field norm_rel_ebd: unknown value {_short(part)}; use 'layer_norm' or 'none'"
                )
        if not _is_int(self.attention_head_size) or not 0 < self.attention_head_size < 2**31:
            raise ConfigError(
                f"config field attention_head_size must be a positive integer, got {_short(self.attention_head_size)}"
            )
        if self.attention_head_size * self.num_attention_heads != self.hidden_size:
            raise ConfigError(
                f"config field attention_head_size ({self.attention_head_size}) times num_attention_heads "
                f"({self.num_attention_heads}) must equal hidden_size ({self.hidden_size}): the attention output "
                "projection is hidden_size x hidden_size"
            )
        if (
            self.relative_attention
            and self.position_buckets > 0
            and self.max_relative - 1 == self.position_buckets // 2
        ):
            raise ConfigError(
                "config field max_relative_positions - 1 must differ from position_buckets // 2: the log buckets "
                "divide by log((max_relative_positions - 1) / (position_buckets // 2))"
            )

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        values["norm_rel_ebd"] = "|".join(self.norm_rel_ebd)
        return values


def config_from_pretrained(path: str | os.PathLike[str], **overrides: Any) -> DebertaConfig:
    """Read config.json with the config class of the family its model_type names (family.py): a DebertaV2Config
    for "deberta-v2", else a DebertaConfig."""
    from .family import family_named  # family.py imports this module

    config = DebertaConfig.from_pretrained(path)
    config_class = family_named(config.model_type).config_class
    if config_class is DebertaConfig and not overrides:
        return config
    return config_class.from_pretrained(path, **overrides)
