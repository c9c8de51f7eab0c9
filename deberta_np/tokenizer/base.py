"""What every deberta_np tokenizer shares, whatever turns text into tokens (byte-level BPE, SentencePiece).

`TokenizerBase` holds the transformers-compatible surface that depends only on a vocabulary, special tokens and
an `Encoding` per text: `__call__` (pairs, batches, truncation and overflow windows, padding, tensors), `encode`,
the id/token conversions, the special-token helpers, `decode`/`batch_decode`, and what reading and writing the
transformers files (tokenizer_config.json, special_tokens_map.json, added_tokens.json, tokenizer.json) has in
common. A subclass provides the vocabulary (`_vocab`, `_id_to_token`), the special tokens, and how one text becomes
an `Encoding` (`_encode_text`) and how tokens become text (`convert_tokens_to_string`).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from deberta_np.errors import ConfigError, TokenizerError
from deberta_np.jsonio import loads
from deberta_np.tokenizer.encoding import (
    PADDING_STRATEGIES,
    TRUNCATION_STRATEGIES,
    BatchEncoding,
    Encoding,
    Template,
    pad_batch,
    to_numpy,
    truncate_pair,
)
from deberta_np.tokenizer.normalizer import WHITE_SPACE

if TYPE_CHECKING:
    from typing_extensions import Self

VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)
SPECIAL_TOKEN_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
DEFAULT_SPECIAL_TOKENS = {
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
# transformers' wording, so that users (and their log filters) recognise it
LONG_SEQUENCE_WARNING = (
    "Token indices sequence length is longer than the specified maximum sequence length for this model "
    "({length} > {limit}). Running this sequence through the model will result in indexing errors"
)


@dataclass(frozen=True)
class AddedToken:
    """A token matched in the raw text before the model's segmentation, as `tokenizers.AddedToken`:
    `single_word`: only where it is not inside a word; `lstrip`/`rstrip`: also swallow the whitespace on that side;
    `normalized`: matched in the normalised text (v2/v3; by default the opposite of `special`, as in tokenizers);
    `special`: skipped by `decode(..., skip_special_tokens=True)`."""

    content: str
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False
    normalized: bool | None = None
    special: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise TypeError(f"AddedToken content must be a str, got {_describe(self.content)}")
        if self.normalized is None:
            object.__setattr__(self, "normalized", not self.special)


def as_added_token(value: Any, special: bool, what: str = "token") -> AddedToken:
    """Ours, transformers'/tokenizers' `AddedToken` (read by its attributes), or a str (flags as tokenizers gives a
    str: normalized unless special)."""
    if isinstance(value, AddedToken):
        return AddedToken(value.content, value.lstrip, value.rstrip, value.single_word, value.normalized,
                          value.special or special)  # fmt: skip
    if isinstance(value, str):
        return AddedToken(value, special=special)
    if isinstance(getattr(value, "content", None), str):  # tokenizers.AddedToken (a Rust object)
        return AddedToken(value.content, bool(value.lstrip), bool(value.rstrip), bool(value.single_word),
                          bool(value.normalized), bool(value.special) or special)  # fmt: skip
    raise TypeError(f"{what} must be a str or an AddedToken, got {_describe(value)}")


def added_token_entry(entry: Any, where: str) -> AddedToken:
    """An added token as a file writes it (transformers' `added_tokens_decoder` / tokenizer.json `added_tokens`
    entry, or a bare string); missing flags are those of a special token matched in the raw text."""
    if isinstance(entry, str):
        return AddedToken(entry, normalized=False, special=True)
    if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
        raise TokenizerError(f"{where}: added token {str(entry)[:80]!r} has no 'content' string")
    flags = {"lstrip": False, "rstrip": False, "single_word": False, "normalized": False, "special": True}
    flags.update({k: bool(entry[k]) for k in flags if k in entry})
    return AddedToken(entry["content"], **flags)


def added_token_json(token: AddedToken) -> dict[str, Any]:
    """transformers' `added_tokens_decoder` entry of a token."""
    return {"content": token.content, "lstrip": token.lstrip, "normalized": token.normalized,
            "rstrip": token.rstrip, "single_word": token.single_word, "special": token.special}  # fmt: skip


def read_json(path: Path) -> Any:
    """A tokenizer's JSON file; TokenizerError naming it for anything unreadable (deep nesting included)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerError(f"{path}: not UTF-8 ({e})") from None
    return loads(
        text,
        lambda reason: TokenizerError(f"{path}: {reason}"),
        lambda line, reason: TokenizerError(f"{path}:{line}: {reason}"),
    )


def max_length_option(value: Any) -> int:
    """A valid `model_max_length`: an int >= 1, or a float holding one (transformers writes 1e30 as an int,
    some files as a float)."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ConfigError(f"tokenizer option model_max_length must be a positive integer, got {shown}")
    return value


def parse_token_id(value: Any, what: str) -> int:
    """An added token's id as a file gives it: an int, or (as JSON object keys are) its decimal string."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise TokenizerError(f"{what} {shown} is not a token id (an integer >= 0)")
    return value


def read_added_tokens(path: Path) -> list[tuple[int, AddedToken]]:
    """`added_tokens.json` ({token: id}), as (id, token) pairs; none if the file does not exist."""
    if not path.exists():
        return []
    table = read_json(path)
    if not isinstance(table, dict):
        raise TokenizerError(f"{path}: expected an object mapping token strings to integer ids")
    return [
        (parse_token_id(i, f"{path}: token {t[:80]!r}: id"), AddedToken(t, special=False, normalized=True))
        for t, i in table.items()
    ]


def read_tokenizer_json(path: Path, model_type: str, what: str) -> tuple[dict, dict, list, Template | None]:
    """What every HF `tokenizer.json` holds, whatever its model: the file, its `model` section (whose type must
    be `model_type`; `what` names it in the error), the added tokens as (id, token) pairs and the
    TemplateProcessing post-processor as a `Template` (None without one)."""
    data = read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != model_type:
        raise ValueError(f"{path}: expected {what} ('model': {{'type': '{model_type}', ...}})")
    added = [
        (
            parse_token_id(t.get("id") if isinstance(t, dict) else t, f"{path}: added_tokens id"),
            added_token_entry(t, str(path)),
        )
        for t in data.get("added_tokens") or []
    ]
    template = None
    post = data.get("post_processor") or {}
    if post.get("type") == "TemplateProcessing":
        specials = post.get("special_tokens", {})

        def items(spec: list) -> tuple:
            out = []
            for piece in spec:
                if "Sequence" in piece:
                    out.append((piece["Sequence"]["id"], piece["Sequence"]["type_id"]))
                else:
                    name = piece["SpecialToken"]["id"]
                    out.append(
                        (
                            specials[name]["ids"][0],
                            specials[name]["tokens"][0],
                            piece["SpecialToken"]["type_id"],
                        )
                    )
            return tuple(out)

        try:
            template = Template(single=items(post["single"]), pair=items(post["pair"]))
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{path}: post_processor is not a valid TemplateProcessing") from None
    return data, model, added, template


def clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization`: remove the space before punctuation and English contractions."""
    for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):  # fmt: skip
        text = text.replace(old, new)
    return text


def split_added(text: str, start: int, end: int, pattern: Any, by_content: Mapping, out: list) -> None:
    """Append to `out` the (start, end, added_token_id or None) segments of `text[start:end]`, None for ordinary
    text, cutting out the added tokens `pattern` finds (`by_content`: matched text -> (id, AddedToken)) as the
    reference does: a single_word token only between non-word characters, lstrip/rstrip absorbing the Unicode
    White_Space next to it."""
    pos = start
    for m in pattern.finditer(text, start, end):
        a, b = m.span()
        token_id, token = by_content[m.group()]
        if token.single_word and (
            (a > 0 and _is_word_char(text[a - 1])) or (b < len(text) and _is_word_char(text[b]))
        ):
            continue
        if token.lstrip:
            while a > pos and text[a - 1] in WHITE_SPACE:
                a -= 1
        if token.rstrip:
            while b < end and text[b] in WHITE_SPACE:
                b += 1
        if a > pos:
            out.append((pos, a, None))
        out.append((a, b, token_id))
        pos = b
    if pos < end:
        out.append((pos, end, None))


class TokenizerOptions(TypedDict, total=False):
    """The keyword options every tokenizer's constructor takes besides its family's own.

    added_tokens: (id, AddedToken) pairs registered before the special tokens; special_tokens: {attribute:
    content} over the defaults ([CLS], [SEP], [UNK], [PAD], [MASK]); model_max_length (default: no limit);
    padding_side and truncation_side: "right" (default) or "left"; clean_up_tokenization_spaces (default False);
    template: the special-token template (default: [CLS] A [SEP] and [CLS] A [SEP] B [SEP]); cache_size: the
    number of words the word cache holds (default: the family's)."""

    added_tokens: Iterable[tuple[int, AddedToken]]
    special_tokens: dict[str, str] | None
    model_max_length: int
    padding_side: str
    truncation_side: str
    clean_up_tokenization_spaces: bool
    template: Template | None
    cache_size: int | None


class TokenizerBase:
    """The tokenizer API shared by DebertaTokenizer (v1) and DebertaV2Tokenizer (v2/v3)."""

    # --- construction (what both constructors and both from_pretrained share) ---------------------------------

    def _set_options(
        self,
        *,
        added_tokens: Iterable[tuple[int, AddedToken]] = (),
        special_tokens: dict[str, str] | None = None,
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
        template: Template | None = None,
        cache_size: int | None = None,
        **unknown: Any,
    ) -> tuple[Iterable[tuple[int, AddedToken]], Template | None, dict[str, int]]:
        """Check and set the options every tokenizer takes (`TokenizerOptions`); return those the family's
        constructor uses itself: (the added tokens, the template or None for the family's default, the keyword
        options of its word cache)."""
        if unknown:
            own = [
                name
                for name, parameter in inspect.signature(type(self).__init__).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            ]
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {', '.join(sorted(unknown))}; it takes "
                f"{', '.join([*own, *TokenizerOptions.__annotations__])}"
            )
        for name, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("right", "left"):
                raise ValueError(f"{name} must be 'right' or 'left', got {value!r}")
        if cache_size is not None and (
            not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 1
        ):
            raise ValueError(f"cache_size must be a positive int (words) or None, got {cache_size!r}")
        self.model_max_length = max_length_option(model_max_length)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.special_tokens = {**DEFAULT_SPECIAL_TOKENS, **(special_tokens or {})}
        return added_tokens, template, ({} if cache_size is None else {"cache_size": cache_size})

    def _add_tokens_and_specials(
        self, added_tokens: Iterable[tuple[int, AddedToken]], special: Callable[[str, str], AddedToken]
    ) -> None:
        """Register the given added tokens, then each special token not among them (`special(attr, content)`
        makes its AddedToken: the flags transformers creates it with); a token not in the vocabulary gets the
        next free id. Then refuse ids the table could not hold (`_check_ids`)."""
        self._added: dict[int, AddedToken] = {}
        for token_id, token in added_tokens:
            self._add_token(token, token_id)
        for attr in SPECIAL_TOKEN_ATTRIBUTES:
            content = self.special_tokens[attr]
            if content is not None and content not in {t.content for t in self._added.values()}:
                self._add_token(special(attr, content))
        self._check_ids()

    def _default_template(self) -> Template:
        """`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, the second text's tokens with type id 1."""
        cls, sep = (self.cls_token_id, self.cls_token, 0), (self.sep_token_id, self.sep_token, 0)
        return Template(single=(cls, ("A", 0), sep), pair=(cls, ("A", 0), sep, ("B", 1), (*sep[:2], 1)))

    # tokenizer_config.json keys the constructor takes as options (besides special and added tokens)
    config_options: ClassVar[tuple[str, ...]] = (
        "model_max_length",
        "padding_side",
        "truncation_side",
        "clean_up_tokenization_spaces",
    )

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **overrides: Any) -> Self:
        """Load from a directory as transformers saves one: the family's vocabulary files (or only an HF
        `tokenizer.json`), and optionally `tokenizer_config.json`, `special_tokens_map.json`, `added_tokens.json`.
        Keyword arguments override the files' options (`model_max_length=512`, and the family's own: see the
        class)."""
        directory, config, special_map = cls._read_configs(directory)
        make, added = cls._read_vocabulary(directory, config)
        return cls._from_configs(directory, config, special_map, added, overrides, make)

    @classmethod
    def _read_vocabulary(
        cls, directory: Path, config: dict
    ) -> tuple[Callable[..., Self], list[tuple[int, AddedToken]]]:
        """The family's vocabulary files in `directory`: (a constructor call taking the options, the added tokens
        the files hold). May set defaults in `config` (what a tokenizer.json says)."""
        raise NotImplementedError

    @staticmethod
    def _read_configs(directory: str | os.PathLike) -> tuple[Path, dict, dict]:
        """`from_pretrained`'s start: the directory, its tokenizer_config.json and special_tokens_map.json (empty
        objects for missing files)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: not a directory")
        configs = []
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            path = directory / name
            content = read_json(path) if path.exists() else {}
            if not isinstance(content, dict):
                raise ValueError(f"{path}: expected a JSON object")
            configs.append(content)
        return directory, configs[0], configs[1]

    @classmethod
    def _from_configs(
        cls,
        directory: Path,
        config: dict,
        special_map: dict,
        added: list[tuple[int, AddedToken]],
        overrides: dict[str, Any],
        make: Callable[..., Any],
    ) -> Any:
        """`from_pretrained`'s end: the added tokens of the files (`added` from the vocabulary files, then
        added_tokens.json, then tokenizer_config.json's added_tokens_decoder), the special tokens (the config, then
        special_tokens_map.json, then `overrides`) and the options `config_options` (the config, then `overrides`),
        given to `make`; an error of the constructor names the directory."""
        config_path = directory / "tokenizer_config.json"
        added = added + read_added_tokens(directory / "added_tokens.json")
        decoder = config.get("added_tokens_decoder") or {}
        if not isinstance(decoder, dict):
            raise TokenizerError(f"{config_path}: added_tokens_decoder must be an object")
        for key, entry in decoder.items():
            index = parse_token_id(key, f"{config_path}: added_tokens_decoder key")
            added.append((index, added_token_entry(entry, str(config_path))))
        specials = {}
        for source in (config, special_map):
            for attr in SPECIAL_TOKEN_ATTRIBUTES:
                value = source.get(attr)
                if value is not None:
                    specials[attr] = value["content"] if isinstance(value, dict) else value
        for attr in SPECIAL_TOKEN_ATTRIBUTES:
            if attr in overrides:
                specials[attr] = overrides.pop(attr)
        options = {key: config[key] for key in cls.config_options if config.get(key) is not None}
        options.update(overrides)
        try:
            return make(added_tokens=added, special_tokens=specials, **options)
        except (ConfigError, TokenizerError) as error:  # name the files where the constructor could not
            if str(directory) in str(error):
                raise
            raise type(error)(f"{directory}: {error}") from None

    def _save_configs(
        self, directory: Path, config: dict[str, Any], extra: dict[str, Any]
    ) -> tuple[str, ...]:
        """Write tokenizer_config.json (`config` plus the added tokens, options and special tokens every tokenizer
        saves), special_tokens_map.json and the JSON files `extra`; their paths."""
        config = {
            **config,
            "added_tokens_decoder": {str(i): added_token_json(t) for i, t in sorted(self._added.items())},
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            **self.special_tokens_map,
        }
        if self.model_max_length <= LARGE_INTEGER:
            config["model_max_length"] = self.model_max_length
        paths = {"tokenizer_config.json": config, "special_tokens_map.json": self.special_tokens_map, **extra}
        for name, content in paths.items():
            (directory / name).write_text(
                json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        return tuple(str(directory / name) for name in paths)

    def _check_ids(self) -> None:
        """Refuse ids beyond what the vocabulary and the added tokens can number: the id table is as long as
        the largest id, so an id of 10^10 in a small file would otherwise allocate 80 GB."""
        limit = len(self._base_vocab) + len(self._added)
        if max(self._vocab.values(), default=-1) >= limit:
            # the first offender in file order (the tokens added after it take ids above it)
            token, token_id = next((t, i) for t, i in self._vocab.items() if i >= limit)
            origin = "an added token" if self._base_vocab.get(token) != token_id else "a vocabulary entry"
            raise TokenizerError(
                f"token {token[:80]!r} ({origin}) has id {token_id}, beyond the {len(self._base_vocab)} "
                f"vocabulary entries plus {len(self._added)} added tokens"
            )

    # --- added tokens ---------------------------------------------------------------------------------------

    def _add_token(self, token: AddedToken, token_id: int | None = None) -> None:
        """Register `token` at `token_id`, or its vocabulary id, or the next free id."""
        if token_id is None:
            token_id = self._vocab.get(token.content)
        if token_id is None:
            token_id = max(self._vocab.values(), default=-1) + 1
        self._vocab[token.content] = token_id
        self._added[token_id] = token

    def add_tokens(self, new_tokens: str | Any | Sequence[str | Any], special_tokens: bool = False) -> int:
        """Add tokens matched in the text before segmentation (a str, an `AddedToken` -- ours or transformers' --,
        or a list of them), as transformers' fast tokenizer does: a string already in the vocabulary keeps its
        id but is now matched whole; a new one gets the next id; one already added with other flags takes these.
        Returns how many were registered (as transformers: all but empty strings and tokens already added
        with the same flags -- not only those that took a new id)."""
        if isinstance(new_tokens, str) or not isinstance(new_tokens, Iterable):
            new_tokens = [new_tokens]
        tokens = [as_added_token(t, bool(special_tokens), "new_tokens item") for t in new_tokens]
        added = 0
        for token in tokens:
            if not token.content or token in self._added.values():
                continue  # (as tokenizers: empty strings and tokens already added with these flags are ignored)
            self._add_token(token)
            added += 1
        self._check_ids()
        self._id_to_token += [None] * (max(self._vocab.values()) + 1 - len(self._id_to_token))
        for token_id, token in self._added.items():
            self._id_to_token[token_id] = token.content
        self._special_ids = frozenset(i for i, t in self._added.items() if t.special)
        self._build_matchers()
        return added

    def add_special_tokens(
        self, special_tokens_dict: dict[str, Any], replace_additional_special_tokens: bool = True
    ) -> int:
        """Set special tokens (`{"pad_token": "<pad>", "additional_special_tokens": ["<x>"]}`) and add them to the
        vocabulary as special tokens (raw-text matches skipped by `skip_special_tokens`), as transformers does.
        Returns what `add_tokens` returns for them."""
        if not isinstance(special_tokens_dict, dict):
            raise TypeError(f"special_tokens_dict must be a dict, got {_describe(special_tokens_dict)}")
        tokens: list[Any] = []
        for key, value in special_tokens_dict.items():
            if key == "additional_special_tokens":
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise TypeError(f"additional_special_tokens must be a list, got {_describe(value)}")
                value = list(value)
                names = [self._special_token_value(key, v) for v in value]
                if not replace_additional_special_tokens:
                    names = list(dict.fromkeys([*self.additional_special_tokens, *names]))
                self.additional_special_tokens = names
                tokens += value
            elif key in SPECIAL_TOKEN_ATTRIBUTES:
                setattr(self, key, value)
                tokens.append(value)
            else:
                raise ValueError(
                    f"special_tokens_dict key {key!r} is not one of {[*SPECIAL_TOKEN_ATTRIBUTES, 'additional_special_tokens']}"
                )
        # a str becomes a special token matched in the raw text (transformers: normalized=False, special=True)
        return self.add_tokens([as_added_token(t, special=True) for t in tokens], special_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """The added tokens by id (special tokens included), as transformers lists them."""
        return dict(sorted(self._added.items()))

    def get_added_vocab(self) -> dict[str, int]:
        """Added token strings and their ids."""
        return {t.content: i for i, t in sorted(self._added.items())}

    # --- tokenizer.json ---------------------------------------------------------------------------------------

    def _tokenizer_json_model(self) -> tuple[dict[str, Any], Any, Any, Any]:
        """The model, normalizer, pre-tokenizer and decoder sections of tokenizer.json (per tokenizer kind)."""
        raise NotImplementedError

    def save_tokenizer_json(self, path: str | os.PathLike) -> str:
        """Write an HF `tokenizer.json`: what transformers' converter makes of this tokenizer's files, so that
        `PreTrainedTokenizerFast(tokenizer_file=path)` (and AutoTokenizer on the directory) gives the fast
        tokenizer's ids -- ours exactly for v1 and for v2 with reference="fast" (see the v2 module docstring for
        where sentencepiece's ids differ)."""
        model, normalizer, pre_tokenizer, decoder = self._tokenizer_json_model()

        def items(template: tuple[tuple, ...]) -> list[dict[str, Any]]:
            return [
                {"Sequence": {"id": item[0], "type_id": item[1]}}
                if len(item) == 2
                else {"SpecialToken": {"id": item[1], "type_id": item[2]}}
                for item in template
            ]

        specials = {
            item[1]: item[0] for item in (*self.template.single, *self.template.pair) if len(item) == 3
        }
        content = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [{"id": i, **added_token_json(t)} for i, t in sorted(self._added.items())],
            "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": items(self.template.single),
                "pair": items(self.template.pair),
                "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in specials.items()},
            },
            "decoder": decoder,
            "model": model,
        }
        Path(path).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return str(path)

    def __len__(self) -> int:
        return len(self._vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        """Vocabulary ids; unknown strings give the unknown token's id."""
        if isinstance(tokens, str):
            return self._vocab.get(tokens, self.unk_token_id)
        return [self._vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Iterable[int], skip_special_tokens: bool = False) -> Any:
        """Token strings (None for an id with no token, as in transformers)."""
        if _is_int(ids):
            return self._token_of(int(ids))
        ids = [int(i) for i in ids]
        return [self._token_of(i) for i in ids if not (skip_special_tokens and i in self._special_ids)]

    def _token_of(self, token_id: int) -> str | None:
        return self._id_to_token[token_id] if 0 <= token_id < len(self._id_to_token) else None

    def __getattr__(self, name: str) -> Any:
        # cls_token, sep_token, ... and their *_id twins, read from self.special_tokens; an id is the token's
        # vocabulary id, or the unknown token's for a token outside the vocabulary (transformers'
        # convert_tokens_to_ids), so that `tok.pad_token = "[UNK]"` moves pad_token_id and padding with it.
        specials = self.__dict__.get("special_tokens")
        if specials is not None:
            if name in specials:
                return specials[name]
            if name == "additional_special_tokens":
                return []
            if name.endswith("_id") and name[:-3] in specials:
                token = specials[name[:-3]]
                if token is None:
                    return None
                vocab = self.__dict__["_vocab"]
                return vocab.get(token, vocab.get(specials["unk_token"]))
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        # As transformers: setting a special token (str or AddedToken) only renames it (nothing is added to the
        # vocabulary, the [CLS]/[SEP] template keeps its ids); setting its *_id sets the token of that id.
        if name in SPECIAL_TOKEN_ATTRIBUTES:
            self.special_tokens[name] = self._special_token_value(name, value)
        elif name.endswith("_id") and name[:-3] in SPECIAL_TOKEN_ATTRIBUTES:
            if value is not None and not _is_int(value):
                raise TypeError(f"{name} must be an int token id or None, got {_describe(value)}")
            self.special_tokens[name[:-3]] = None if value is None else self._token_of(int(value))
        elif name == "additional_special_tokens":
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise TypeError(f"additional_special_tokens must be a list of str, got {_describe(value)}")
            object.__setattr__(self, name, [self._special_token_value(name, v) for v in value])
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _special_token_value(name: str, value: Any) -> str | None:
        if value is None and name != "additional_special_tokens":
            return None
        return as_added_token(value, special=True, what=name).content

    @property
    def special_tokens_map(self) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {k: v for k, v in self.special_tokens.items() if v is not None}
        if self.__dict__.get("additional_special_tokens"):
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        named = [v for v in self.special_tokens.values() if v is not None]
        return list(dict.fromkeys([*named, *self.__dict__.get("additional_special_tokens", ())]))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

    # --- lengths ----------------------------------------------------------------------------------------------

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many tokens the template adds to one text (`[CLS] A [SEP]`: 2) or to a pair (3)."""
        return self.template.num_special_tokens(bool(pair))

    @property
    def max_len_single_sentence(self) -> int:
        """The most tokens one text may have so that with its special tokens it fits `model_max_length`."""
        return self.model_max_length - self.num_special_tokens_to_add(False)

    @property
    def max_len_sentences_pair(self) -> int:
        """The most tokens the two texts of a pair may have together, special tokens apart."""
        return self.model_max_length - self.num_special_tokens_to_add(True)

    def _warn_if_too_long(self, rows: list[Encoding], max_length: int | None, verbose: bool) -> None:
        """transformers' warning for a sequence longer than model_max_length that nothing truncates: once per
        tokenizer (it is about the tokenizer's settings, not each text)."""
        if max_length is not None or not verbose or self.__dict__.get("_warned_long"):
            return
        limit = self.model_max_length
        length = next((len(e.ids) for e in rows if len(e.ids) > limit), None)  # the first, as transformers
        if length is not None:
            self.__dict__["_warned_long"] = True
            # stacklevel 3: the caller of __call__ (encode/tokenize callers see their own line)
            warnings.warn(LONG_SEQUENCE_WARNING.format(length=length, limit=limit), UserWarning, 3)

    @property
    def pad_token_type_id(self) -> int:
        return 0

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """`[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`."""
        return self._template_lists(token_ids_0, token_ids_1)[0]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for `[CLS] A [SEP]`, 1 for `B [SEP]`."""
        return self._template_lists(token_ids_0, token_ids_1)[1]

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where the template puts a special token (or, for ids that already have them, where one is)."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when already_has_special_tokens=True")
            special = set(self.all_special_ids)
            return [1 if i in special else 0 for i in token_ids_0]
        return self._template_lists(token_ids_0, token_ids_1)[2]

    def _template_lists(
        self, ids0: list[int], ids1: list[int] | None
    ) -> tuple[list[int], list[int], list[int]]:
        ids, types, mask = [], [], []
        for item in self.template.pair if ids1 is not None else self.template.single:
            if len(item) == 2:
                part = list(ids0 if item[0] == "A" else ids1)
                ids += part
                types += [item[1]] * len(part)
                mask += [0] * len(part)
            else:
                ids.append(item[0])
                types.append(item[2])
                mask.append(1)
        return ids, types, mask

    def encode(
        self,
        text: str | list[str],
        text_pair: str | list[str] | None = None,
        add_special_tokens: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Just the input ids (`__call__(...)["input_ids"]`)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, return_token_type_ids=False,
                    return_attention_mask=False, **kwargs)["input_ids"]  # fmt: skip

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Encode one text, a pair, or a batch of either, as transformers' fast tokenizer does.

        A single input gives flat lists; a batch (a list of texts) gives one list per sequence. With
        `return_overflowing_tokens` each input may yield several windows (`overflow_to_sample_mapping` says whose)."""
        batched, inputs = self._check_inputs(text, text_pair, is_split_into_words)
        padding, truncation, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of
        )
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
            raise ValueError(f"stride must be a non-negative int, got {stride!r}")
        if padding_side not in (None, "right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        if return_tensors not in (None, "np"):
            raise ValueError(
                f"return_tensors must be None or 'np' (deberta_np is NumPy-only), got {return_tensors!r}"
            )
        if truncation != "do_not_truncate":
            self._check_truncation(inputs, truncation, max_length, stride, add_special_tokens)
        details = bool(return_offsets_mapping)

        def encode_all(details: bool) -> list[Encoding]:
            encodings = [
                self._encode_one(
                    a, b, add_special_tokens, truncation, max_length, stride, is_split_into_words, details
                )
                for a, b in inputs
            ]
            if padding != "do_not_pad":
                length = max_length if padding == "max_length" else None
                pad_batch(encodings, length, pad_to_multiple_of, self.pad_token_id, self.pad_token_type_id,
                          self.pad_token, padding_side or self.padding_side)  # fmt: skip
            return encodings

        encodings = encode_all(details)
        rows: list[Encoding] = []
        sample_of_row: list[int] = []
        for i, e in enumerate(encodings):
            windows = [e, *e.overflowing] if return_overflowing_tokens else [e]
            rows += windows
            sample_of_row += [i] * len(windows)
        self._warn_if_too_long(rows, max_length, verbose)
        # As transformers, the defaults follow model_input_names (a user may drop "token_type_ids" from it).
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        data: dict[str, Any] = {"input_ids": [e.ids for e in rows]}
        if return_token_type_ids:
            data["token_type_ids"] = [e.type_ids for e in rows]
        if return_attention_mask:
            data["attention_mask"] = [e.attention_mask for e in rows]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = [e.offsets for e in rows]
        if return_length:
            data["length"] = [len(e.ids) for e in rows]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        if return_tensors == "np":
            data = to_numpy(data)
        elif not batched and not return_overflowing_tokens:
            # As transformers: drop the batch axis of per-token lists only (`length` stays a one-item list).
            data = {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}

        def detailed_rows() -> list[Encoding]:
            full = encode_all(True)
            return [w for e in full for w in ([e, *e.overflowing] if return_overflowing_tokens else [e])]

        return BatchEncoding(data, rows, None if details else detailed_rows)

    def _encode_one(
        self,
        first: Any,
        second: Any,
        add_special_tokens: bool,
        truncation: str,
        max_length: int | None,
        stride: int,
        is_split_into_words: bool,
        details: bool,
    ) -> Encoding:
        encode = self._encode_words if is_split_into_words else self._encode_text
        a = encode(first, details)
        b = None if second is None else encode(second, details)
        if truncation != "do_not_truncate":
            n_special = self.template.num_special_tokens(b is not None) if add_special_tokens else 0
            a, b = truncate_pair(a, b, max_length - n_special, truncation, stride, self.truncation_side)
        return self.template.apply(a, b, add_special_tokens)

    def _check_inputs(self, text: Any, text_pair: Any, is_split_into_words: bool) -> tuple[bool, list[tuple]]:
        if text is None:
            if text_pair is not None:
                raise ValueError("text_pair was given without text")
            raise ValueError(
                "text is required (a str, a list of str, or with is_split_into_words a list of words)"
            )

        def check_one(value: Any, name: str) -> Any:
            if is_split_into_words:
                if not isinstance(value, (list, tuple)) or not all(isinstance(w, str) for w in value):
                    raise TypeError(f"{name}: with is_split_into_words=True each input must be a list of str words, "
                                    f"got {_describe(value)}")  # fmt: skip
                return list(value)
            if not isinstance(value, str):
                raise TypeError(
                    f"{name} must be a str (or a list of str for a batch), got {_describe(value)}"
                )
            return value

        if is_split_into_words:
            batched = isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple))
        else:
            batched = isinstance(text, (list, tuple))
        if not batched:
            pair = None if text_pair is None else check_one(text_pair, "text_pair")
            # transformers encodes a single input with an empty text_pair ("" or []) as no pair at all.
            return False, [(check_one(text, "text"), pair or None)]
        texts = list(text)
        if text_pair is None:
            # transformers also accepts a batch of (text, text_pair) tuples.
            if not is_split_into_words and texts and all(isinstance(t, (list, tuple)) for t in texts):
                if not all(len(t) == 2 for t in texts):
                    raise ValueError("a batch of pairs must hold (text, text_pair) 2-tuples")
                return True, [(check_one(a, "text"), check_one(b, "text_pair")) for a, b in texts]
            return True, [(check_one(t, "text"), None) for t in texts]
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(texts):
            raise ValueError(
                f"a batch of {len(texts)} texts needs a text_pair list of the same length, got {_describe(text_pair)}"
            )
        return True, [(check_one(a, "text"), check_one(b, "text_pair")) for a, b in zip(texts, text_pair)]

    def _strategies(
        self, padding: Any, truncation: Any, max_length: Any, pad_to_multiple_of: Any
    ) -> tuple[str, str, int | None]:
        """transformers' `_get_padding_truncation_strategies`, with strict checks."""
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 0
        ):
            raise ValueError(f"max_length must be a non-negative int or None, got {max_length!r}")
        if pad_to_multiple_of is not None and (
            not isinstance(pad_to_multiple_of, int)
            or isinstance(pad_to_multiple_of, bool)
            or pad_to_multiple_of < 0
        ):
            raise ValueError(
                f"pad_to_multiple_of must be a non-negative int or None, got {pad_to_multiple_of!r}"
            )
        padding_given = padding
        if padding not in (False, None, "do_not_pad") and self.pad_token is None:
            raise ValueError(
                "padding needs a pad token, and this tokenizer has none (set tokenizer.pad_token)"
            )
        if padding is True:
            padding = "longest"
        elif padding is False or padding is None:
            padding = "do_not_pad"
        elif padding not in PADDING_STRATEGIES:
            raise ValueError(f"padding must be True, False or one of {PADDING_STRATEGIES}, got {padding!r}")
        if truncation is None:
            # transformers: a max_length without padding switches truncation on.
            truncation = "longest_first" if max_length is not None and padding_given is False else False
        if truncation is True:
            truncation = "longest_first"
        elif truncation is False:
            truncation = "do_not_truncate"
        elif truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(
                f"truncation must be True, False or one of {TRUNCATION_STRATEGIES}, got {truncation!r}"
            )
        if max_length is None:
            limit = self.model_max_length if self.model_max_length <= LARGE_INTEGER else None
            if padding == "max_length":
                if limit is None:
                    padding = "do_not_pad"  # transformers warns and does not pad
            if truncation != "do_not_truncate":
                if limit is None:
                    truncation = "do_not_truncate"  # transformers warns and does not truncate
            max_length = limit if padding == "max_length" or truncation != "do_not_truncate" else None
        if (
            padding != "do_not_pad"
            and truncation != "do_not_truncate"
            and pad_to_multiple_of
            and max_length is not None
            and max_length % pad_to_multiple_of
        ):
            raise ValueError(
                f"truncation and padding are both on but max_length ({max_length}) is not a multiple of "
                f"pad_to_multiple_of ({pad_to_multiple_of})"
            )
        return padding, truncation, max_length

    def _check_truncation(
        self, inputs: list[tuple], truncation: str, max_length: int, stride: int, add_special_tokens: bool
    ) -> None:
        for is_pair in sorted({b is not None for _, b in inputs}):
            n_special = self.template.num_special_tokens(is_pair) if add_special_tokens else 0
            room = max_length - n_special
            what = "a pair" if is_pair else "a single text"
            if room < 0:
                raise ValueError(
                    f"max_length={max_length} is smaller than the {n_special} special tokens {what} needs"
                )
            if stride and stride >= room:
                raise ValueError(
                    f"stride ({stride}) must be smaller than max_length minus the special tokens of {what} "
                    f"({max_length} - {n_special} = {room})"
                )

    def pad(
        self,
        encoded_inputs: BatchEncoding | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad encodings made without padding (a BatchEncoding, a dict of lists, or a list of dicts such as a data
        collator receives), as transformers' `tokenizer.pad`: `input_ids` with the pad token's id, `token_type_ids`
        with 0, `special_tokens_mask` with 1, `attention_mask` (created if missing) with 0; other keys are left
        as they are. A single example (flat lists) stays a single example."""
        if (
            isinstance(encoded_inputs, (list, tuple))
            and encoded_inputs
            and isinstance(encoded_inputs[0], Mapping)
        ):
            for n, example in enumerate(encoded_inputs):
                if not isinstance(example, Mapping) or example.keys() != encoded_inputs[0].keys():
                    raise ValueError(f"encoded_inputs[{n}] has other keys than encoded_inputs[0]")
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
            shown = list(encoded_inputs) if isinstance(encoded_inputs, Mapping) else _describe(encoded_inputs)
            raise ValueError(f"pad needs an encoding or a list of encodings with input_ids, got {shown}")
        if padding_side not in (None, "right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        if return_tensors not in (None, "np"):
            raise ValueError(
                f"return_tensors must be None or 'np' (deberta_np is NumPy-only), got {return_tensors!r}"
            )
        # arrays (what return_tensors="np" gave) become lists, and the result arrays again, as transformers does
        if any(hasattr(v, "tolist") for v in encoded_inputs.values()) and return_tensors is None:
            return_tensors = "np"
        data = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in encoded_inputs.items()}
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        ids = data["input_ids"]
        if not isinstance(ids, list) or not ids:
            if return_attention_mask:
                data["attention_mask"] = []
            return BatchEncoding(data, [])
        padding, _, max_length = self._strategies(padding, False, max_length, pad_to_multiple_of)
        batched = isinstance(ids[0], (list, tuple))
        rows = [dict(zip(data, values)) for values in zip(*data.values())] if batched else [data]
        if batched and any(len(v) != len(ids) for v in data.values()):
            raise ValueError(f"the keys of encoded_inputs hold different numbers of rows: "
                             f"{ {k: len(v) for k, v in data.items()} }")  # fmt: skip
        if padding == "longest":
            max_length = max(len(row["input_ids"]) for row in rows)
        if max_length is not None and pad_to_multiple_of and max_length % pad_to_multiple_of:
            max_length += pad_to_multiple_of - max_length % pad_to_multiple_of
        side = padding_side or self.padding_side
        fill = {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id,
                "special_tokens_mask": 1}  # fmt: skip
        if return_attention_mask:
            fill["attention_mask"] = 0
        out: dict[str, list] = {key: [] for key in [*data, *fill] if key in data or key == "attention_mask"}
        for row in rows:
            row = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in row.items()}
            length = len(row["input_ids"])
            if return_attention_mask and "attention_mask" not in row:
                row["attention_mask"] = [1] * length
            n = 0 if padding == "do_not_pad" or max_length is None else max_length - length
            if n > 0:
                for key, value in fill.items():
                    if key in row:
                        row[key] = row[key] + [value] * n if side == "right" else [value] * n + row[key]
            for key in out:
                out[key].append(row[key])
        result = out if batched else {k: v[0] for k, v in out.items()}
        return BatchEncoding(to_numpy(result) if return_tensors == "np" else result, [])

    def _encode_words(self, words: Sequence[str], details: bool) -> Encoding:
        """Pre-split input: each word is encoded on its own (`_encode_word`), offsets relative to the word, its
        index as the word id."""
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        word_ids: list[int | None] = []
        for index, word in enumerate(words):
            e = self._encode_word(word, details)
            ids += e.ids
            if details:
                tokens += e.tokens
                offsets += e.offsets
                word_ids += [index] * len(e.ids)
        if not details:
            return Encoding.from_sequence(ids, None, None, None)
        return Encoding.from_sequence(ids, tokens, offsets, word_ids)

    def _encode_word(self, word: str, details: bool) -> Encoding:
        return self._encode_text(word, details)

    # --- ids -> text ------------------------------------------------------------------------------------------

    def decode(
        self,
        token_ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Text of `token_ids`, as the reference tokenizer decodes them (`convert_tokens_to_string`); an id outside
        the vocabulary raises ValueError."""
        ids = _as_id_list(token_ids, "token_ids")
        n = len(self._id_to_token)
        tokens = []
        for i in ids:
            if not 0 <= i < n or self._id_to_token[i] is None:
                raise ValueError(f"token_ids: {i} is not an id of this vocabulary (0..{n - 1})")
            if skip_special_tokens and i in self._special_ids:
                continue
            tokens.append(self._id_to_token[i])
        text = self.convert_tokens_to_string(tokens)
        cleanup = (
            self.clean_up_tokenization_spaces
            if clean_up_tokenization_spaces is None
            else clean_up_tokenization_spaces
        )
        return clean_up_tokenization(text) if cleanup else text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]


def _is_int(value: Any) -> bool:
    # Python ints and NumPy integer scalars, not bools.
    return (isinstance(value, int) and not isinstance(value, bool)) or type(value).__name__.startswith(
        ("int", "uint")
    )


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _as_id_list(token_ids: Any, name: str) -> list[int]:
    if _is_int(token_ids):
        return [int(token_ids)]
    if hasattr(token_ids, "tolist"):  # NumPy/CuPy arrays
        token_ids = token_ids.tolist()
        if isinstance(token_ids, int):
            return [token_ids]
    if isinstance(token_ids, (str, bytes)) or not isinstance(token_ids, Iterable):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {_describe(token_ids)}")
    ids = list(token_ids)
    for i in ids:
        if not _is_int(i):
            raise TypeError(f"{name} must hold ints, got {_describe(i)}")
    return [int(i) for i in ids]


def _surrogate_error(text: str) -> ValueError:
    """The error for a text with a lone surrogate (it has no UTF-8 form, so no tokens)."""
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return ValueError(
                f"text contains a lone surrogate U+{ord(ch):04X} at index {i}; it has no UTF-8 form "
                "(decode with errors='replace'?)"
            )
    return ValueError("text is not encodable as UTF-8")
