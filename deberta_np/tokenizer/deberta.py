"""`DebertaTokenizer`: DeBERTa v1's byte-level BPE tokenizer with the transformers 4.x API.

Behaviour follows transformers 4.57's `DebertaTokenizerFast` (ids, tokens, offsets, word ids, truncation windows,
padding), whose ids agree with the slow `DebertaTokenizer` and Microsoft's code on real text. Where the two
transformers tokenizers disagree we follow the fast one, except where it loses text or breaks a round trip:

* characters assigned after Unicode 15.1: classified as the fast tokenizer does (pinned tables), so results do not
  depend on the installed `regex` (the slow tokenizer's do);
* whitespace absorbed by `[MASK]` (lstrip): Unicode White_Space, as fast; slow also strips U+001C..U+001F and drops
  them from the text;
* `add_prefix_space`: a space is added to every text segment between added tokens that does not begin with U+0020,
  as fast does; slow adds it once per text unless the text begins with any whitespace;
* a byte-level symbol missing from the vocabulary (toy vocabularies only): `[UNK]`, as slow, GPT-2 and Microsoft do;
  the fast tokenizer silently drops it;
* `tokenize()` returns vocabulary strings (`'[MASK]'`), as slow does, so that `convert_tokens_to_ids(tokenize(t))`
  works; `BatchEncoding.tokens()` shows the matched text (`' [MASK]'`), as fast does;
* a single text with an empty `text_pair` ("") is encoded without a pair, as fast does (slow adds `[SEP]`);
* pre-split words (`is_split_into_words=True`) each get a prefix space whatever `add_prefix_space` says: slow always
  adds it, fast refuses pre-split words unless `add_prefix_space=True`;
* truncation overflow (`return_overflowing_tokens`) follows fast's windows (every strategy, pairs included, all
  window combinations); slow raises ValueError for `longest_first` overflow of pairs and returns the overflow as
  `overflowing_tokens` instead of extra rows;
* invalid input that makes the fast tokenizer panic or silently skip truncation (stride too large, max_length below
  the special tokens), lone surrogates (slow raises UnicodeEncodeError, fast a TypeError) and ids outside the
  vocabulary in `decode` (fast skips them, slow fails) raise ValueError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Any, ClassVar

import regex

from deberta_np.errors import ConfigError, TokenizerError
from deberta_np.tokenizer.base import (
    DEFAULT_SPECIAL_TOKENS,
    LARGE_INTEGER,
    SPECIAL_TOKEN_ATTRIBUTES,
    VERY_LARGE_INTEGER,
    AddedToken,
    TokenizerBase,
    _describe,
    _is_int,
    added_token_entry,
    added_token_json,
    max_length_option,
    parse_token_id,
)
from deberta_np.tokenizer.base import read_json as _read_json
from deberta_np.tokenizer.bpe import (
    GPT2_PATTERN,
    ByteLevelBPE,
    NeedsPinnedSplit,
    classes_agree,
    from_byte_level,
    pinned_pattern,
)
from deberta_np.tokenizer.encoding import (
    Encoding,
    Template,
)

# transformers' "no limit" model_max_length (int(1e30)), and the threshold above which it means "unset".

# tokenizer_config.json keys that become constructor options.
CONFIG_OPTIONS = (
    "add_prefix_space",
    "model_max_length",
    "padding_side",
    "truncation_side",
    "clean_up_tokenization_spaces",
)
# Unicode White_Space: what Rust's char::is_whitespace (used for lstrip/rstrip by the reference) accepts.
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class DebertaTokenizer(TokenizerBase):
    """Byte-level BPE tokenizer for DeBERTa v1 (`microsoft/deberta-base`, `-large`, ...).

    >>> tok = DebertaTokenizer.from_pretrained("path/to/deberta-base")   # vocab.json + merges.txt
    >>> tok("Hello world")["input_ids"]
    [1, 31414, 232, 2]
    """

    # transformers' DebertaTokenizer order
    model_input_names: ClassVar[list[str]] = ["input_ids", "attention_mask", "token_type_ids"]
    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        added_tokens: Iterable[tuple[int, AddedToken]] = (),
        special_tokens: dict[str, str] | None = None,
        add_prefix_space: bool = False,
        model_max_length: int = VERY_LARGE_INTEGER,
        padding_side: str = "right",
        truncation_side: str = "right",
        clean_up_tokenization_spaces: bool = False,
        template: Template | None = None,
        cache_size: int | None = None,
    ) -> None:
        for name, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("right", "left"):
                raise ValueError(f"{name} must be 'right' or 'left', got {value!r}")
        self.add_prefix_space = bool(add_prefix_space)
        self.model_max_length = max_length_option(model_max_length)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.special_tokens = {**DEFAULT_SPECIAL_TOKENS, **(special_tokens or {})}

        self._base_vocab = dict(vocab)
        self._merges = list(merges)
        self._vocab = dict(vocab)
        # Added tokens: given ones first, then each special token, with the mask token absorbing the space on its
        # left (HF: AddedToken("[MASK]", lstrip=True)); a token not in the vocabulary gets the next free id.
        self._added: dict[int, AddedToken] = {}
        for token_id, token in added_tokens:
            self._add_token(token, token_id)
        for attr in SPECIAL_TOKEN_ATTRIBUTES:
            content = self.special_tokens[attr]
            if content is not None and content not in {t.content for t in self._added.values()}:
                mask = attr == "mask_token"  # as transformers creates it: lstrip and normalized
                self._add_token(AddedToken(content, lstrip=mask, normalized=mask, special=True))
        self._check_ids()
        self._id_to_token: list[str | None] = [None] * (max(self._vocab.values(), default=-1) + 1)
        for token, token_id in self._vocab.items():
            self._id_to_token[token_id] = token

        unk = self.special_tokens["unk_token"]
        kwargs = {} if cache_size is None else {"cache_size": cache_size}
        self.bpe = ByteLevelBPE(self._base_vocab, self._merges, unk_id=self._vocab.get(unk), **kwargs)
        self._pattern = regex.compile(GPT2_PATTERN)
        self._build_matchers()
        self.template = template or Template(
            single=((self.cls_token_id, self.cls_token, 0), ("A", 0), (self.sep_token_id, self.sep_token, 0)),
            pair=(
                (self.cls_token_id, self.cls_token, 0),
                ("A", 0),
                (self.sep_token_id, self.sep_token, 0),
                ("B", 1),
                (self.sep_token_id, self.sep_token, 1),
            ),
        )

    # --- construction -------------------------------------------------------------------------------------------

    def _build_matchers(self) -> None:
        # Like the reference, tokens that are not "normalized" are matched first, then the others in what remains.
        # Longest first, so that the regex alternation picks the longest token at the leftmost position.
        self._matchers = []
        for normalized in (False, True):
            tokens = sorted(
                (t for t in self._added.values() if t.normalized == normalized), key=lambda t: -len(t.content)
            )
            if tokens:
                pattern = regex.compile("|".join(regex.escape(t.content) for t in tokens))
                by_content = {t.content: (self._vocab[t.content], t) for t in tokens}
                self._matchers.append((pattern, by_content))
        self._added_first_chars = {t.content[0] for t in self._added.values() if t.content}
        self._special_ids = frozenset(i for i, t in self._added.items() if t.special)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **overrides: Any) -> DebertaTokenizer:
        """Load from a directory with `vocab.json` + `merges.txt` (and optionally `tokenizer_config.json`,
        `special_tokens_map.json`, `added_tokens.json`), or with only an HF `tokenizer.json`.
        Keyword arguments override the files (`add_prefix_space=True`, `model_max_length=512`, ...)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: not a directory")
        config = (
            _read_json(directory / "tokenizer_config.json")
            if (directory / "tokenizer_config.json").exists()
            else {}
        )
        special_map = (
            _read_json(directory / "special_tokens_map.json")
            if (directory / "special_tokens_map.json").exists()
            else {}
        )
        added: list[tuple[int, AddedToken]] = []
        template = None
        if (directory / "vocab.json").exists() and (directory / "merges.txt").exists():
            vocab = read_vocab(directory / "vocab.json")
            merges = read_merges(directory / "merges.txt")
        elif (directory / "tokenizer.json").exists():
            vocab, merges, added, template, pre_tokenizer_prefix = _read_tokenizer_json(
                directory / "tokenizer.json"
            )
            config.setdefault("add_prefix_space", pre_tokenizer_prefix)
        else:
            raise FileNotFoundError(f"{directory}: needs vocab.json and merges.txt, or tokenizer.json")
        added += read_added_tokens(directory / "added_tokens.json")
        config_path = directory / "tokenizer_config.json"
        decoder = config.get("added_tokens_decoder") or {}
        if not isinstance(decoder, dict):
            raise TokenizerError(f"{config_path}: added_tokens_decoder must be an object")
        for key, entry in decoder.items():
            added.append(
                (
                    parse_token_id(key, f"{config_path}: added_tokens_decoder key"),
                    added_token_entry(entry, str(config_path)),
                )
            )
        specials = {}
        for source in (config, special_map):
            for attr in SPECIAL_TOKEN_ATTRIBUTES:
                if source.get(attr) is not None:
                    value = source[attr]
                    specials[attr] = value["content"] if isinstance(value, dict) else value
        for attr in SPECIAL_TOKEN_ATTRIBUTES:
            if attr in overrides:
                specials[attr] = overrides.pop(attr)
        options = {key: config[key] for key in CONFIG_OPTIONS if config.get(key) is not None}
        options.update(overrides)
        try:
            return cls(
                vocab, merges, added_tokens=added, special_tokens=specials, template=template, **options
            )
        except (ConfigError, TokenizerError) as error:  # name the files where the constructor could not
            if str(directory) in str(error):
                raise
            raise type(error)(f"{directory}: {error}") from None

    @classmethod
    def from_gpt2_files(
        cls,
        encoder_json: str | os.PathLike,
        vocab_bpe: str | os.PathLike,
        dict_txt: str | os.PathLike,
        **kwargs: Any,
    ) -> DebertaTokenizer:
        """Build the DeBERTa vocabulary as Microsoft's `GPT2Tokenizer` does: `[PAD]`, `[CLS]`, `[SEP]`, `[UNK]`
        (ids 0-3), then the fairseq `dict.txt` entries in file order (each a GPT-2 id, mapped to its BPE string
        through `encoder.json`, or a literal symbol such as `madeupword0000`), then `[MASK]`."""
        encoder = _read_json(Path(encoder_json))
        if not isinstance(encoder, dict):
            raise ValueError(f"{encoder_json}: expected an object mapping BPE strings to GPT-2 ids")
        gpt2_token = {str(i): t for t, i in encoder.items()}
        vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3}
        path = Path(dict_txt)
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.rstrip("\n").split(" ")
                if len(parts) < 2 or not parts[1].lstrip("-").isdigit():
                    raise ValueError(f"{path}:{line_no}: expected '<symbol> <count>', got {line.rstrip()!r}")
                token = gpt2_token.get(parts[0], parts[0])
                if token in vocab:
                    raise ValueError(f"{path}:{line_no}: duplicate symbol {parts[0]!r}")
                vocab[token] = len(vocab)
        vocab["[MASK]"] = len(vocab)
        return cls(vocab, read_merges(Path(vocab_bpe)), **kwargs)

    # --- vocabulary ---------------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (vocab.json), as transformers reports it."""
        return len(self._base_vocab)

    def convert_tokens_to_string(self, tokens: Iterable[str]) -> str:
        return from_byte_level(tokens).decode("utf-8", errors="replace")

    # --- special tokens -----------------------------------------------------------------------------------------

    # --- text -> tokens -----------------------------------------------------------------------------------------

    def _split_added(self, text: str) -> list[tuple[int, int, int | None]]:
        """Cut `text` into (start, end, added_token_id or None) segments, None for ordinary text."""
        segments = [(0, len(text), None)]
        if not any(c in text for c in self._added_first_chars):
            return segments
        for pattern, by_content in self._matchers:
            out = []
            for start, end, token_id in segments:
                if token_id is not None:
                    out.append((start, end, token_id))
                    continue
                pos = start
                for m in pattern.finditer(text, start, end):
                    a, b = m.span()
                    added_id, token = by_content[m.group()]
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
                    out.append((a, b, added_id))
                    pos = b
                if pos < end:
                    out.append((pos, end, None))
            segments = out
        return segments

    def _encode_text(self, text: str, details: bool, add_prefix_space: bool | None = None) -> Encoding:
        """One text (no special tokens): ids and, with `details`, tokens, character offsets and word indices."""
        add_prefix_space = self.add_prefix_space if add_prefix_space is None else add_prefix_space
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        words: list[int | None] = []
        word = 0  # the reference numbers words across added tokens and pre-tokenizer pieces alike
        for start, end, added_id in self._split_added(text):
            if added_id is not None:
                ids.append(added_id)
                if details:
                    # as the reference: the token shows the matched text, absorbed space included
                    tokens.append(text[start:end])
                    offsets.append((start, end))
                    words.append(word)
                word += 1
                continue
            segment = text[start:end]
            # Like the reference's ByteLevel pre-tokenizer, the prefix space goes on every text segment that does not
            # begin with U+0020; it shares the offsets of the segment's first character.
            prefixed = add_prefix_space and segment[:1] not in ("", " ")
            if prefixed:
                segment = " " + segment
            try:
                pieces, entries = self._pieces(segment)
            except UnicodeEncodeError:
                raise _surrogate_error(text) from None
            # Flatten the per-piece entries with C-level iterators: per-piece Python work dominates otherwise.
            ids += chain.from_iterable(entries)
            if not details:
                continue
            first = len(tokens)
            tokens += map(self._id_to_token.__getitem__, islice(ids, first, None))
            words += chain.from_iterable(map(repeat, range(word, word + len(pieces)), map(len, entries)))
            word += len(pieces)
            offsets += self.bpe.offsets(pieces, entries, ids[first:], start - prefixed)
            if prefixed:
                # the prefix space (position start - 1) belongs to the segment's first character
                offsets[first:] = [(max(a, start), max(b, start + 1)) for a, b in offsets[first:]]
        if not details:
            return Encoding.from_sequence(ids, None, None, None)
        return Encoding.from_sequence(ids, tokens, offsets, words)

    def _pieces(self, segment: str) -> tuple[list[str], list[tuple]]:
        """Pre-tokenize and BPE one text segment: the pieces and their cached entries (see ByteLevelBPE)."""
        pieces = self._pattern.findall(segment)
        entries = list(map(self.bpe.cache.get, pieces))  # one C-level pass; misses are None
        if None not in entries:
            return pieces, entries
        encode = self.bpe.encode_piece
        try:
            return pieces, [e or encode(p) for p, e in zip(pieces, entries)]
        except NeedsPinnedSplit:
            # A character `regex` classifies differently from the reference: split with the pinned classes and
            # keep such pieces out of the cache (see bpe.py).
            pieces = pinned_pattern().findall(segment)
            entries = [
                encode(p) if p.isascii() or all(map(classes_agree, p)) else self.bpe._encode_uncached(p)
                for p in pieces
            ]
            return pieces, entries

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any
    ) -> list[str]:
        """Vocabulary token strings of `text` (`'[MASK]'` for the mask token; see the module docstring)."""
        ids = self(text, pair, add_special_tokens=add_special_tokens, return_token_type_ids=False,
                   return_attention_mask=False, **kwargs)["input_ids"]  # fmt: skip
        return [self._id_to_token[i] for i in ids]

    # --- __call__ -----------------------------------------------------------------------------------------------

    def _encode_words(self, words: Sequence[str], details: bool) -> Encoding:
        """Pre-split input: each word is encoded on its own (offsets relative to the word, word id = its index)."""
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        word_ids: list[int | None] = []
        for index, word in enumerate(words):
            # Every word gets the prefix space: slow always adds it to pre-split words, and fast requires
            # add_prefix_space=True for them.
            e = self._encode_text(word, details, add_prefix_space=True)
            ids += e.ids
            if details:
                tokens += e.tokens
                offsets += e.offsets
                word_ids += [index] * len(e.ids)
        if not details:
            return Encoding.from_sequence(ids, None, None, None)
        return Encoding.from_sequence(ids, tokens, offsets, word_ids)

    # --- argument checks ----------------------------------------------------------------------------------------

    # --- ids -> text --------------------------------------------------------------------------------------------

    def decode(
        self,
        token_ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Text of `token_ids` (bytes that are not valid UTF-8 become U+FFFD). Special tokens are written without
        spaces around them (`'[CLS]Hello world[SEP]'`) unless skipped."""
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

    # --- saving -------------------------------------------------------------------------------------------------

    def save_vocabulary(
        self, save_directory: str | os.PathLike, filename_prefix: str | None = None
    ) -> tuple[str, str]:
        """Write `vocab.json` and `merges.txt` (HF formats; optional `{prefix}-` in the names)."""
        directory = Path(save_directory)
        if not directory.is_dir():
            raise NotADirectoryError(f"{directory}: not a directory")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        vocab_file = directory / f"{prefix}vocab.json"
        merges_file = directory / f"{prefix}merges.txt"
        vocab_file.write_text(json.dumps(self._base_vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                              encoding="utf-8")  # fmt: skip
        merges_file.write_text(
            "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self._merges), encoding="utf-8"
        )
        return str(vocab_file), str(merges_file)

    def _tokenizer_json_model(self) -> tuple[dict[str, Any], Any, Any, Any]:
        # transformers' DebertaConverter: byte-level BPE without an unk token (see the module docstring)
        model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                 "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                 "vocab": self._base_vocab, "merges": [list(m) for m in self._merges]}  # fmt: skip
        byte_level = {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": True,
                      "use_regex": True}  # fmt: skip
        return model, None, byte_level, {**byte_level, "add_prefix_space": True}

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write a directory that both `from_pretrained` and transformers' `AutoTokenizer` can load (vocab.json,
        merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json)."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = (*self.save_vocabulary(directory), self.save_tokenizer_json(directory / "tokenizer.json"))
        decoder = {str(i): added_token_json(t) for i, t in sorted(self._added.items())}
        config: dict[str, Any] = {
            "tokenizer_class": "DebertaTokenizer",
            "add_prefix_space": self.add_prefix_space,
            "added_tokens_decoder": decoder,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "errors": "replace",
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            **self.special_tokens_map,
        }
        if self.model_max_length <= LARGE_INTEGER:
            config["model_max_length"] = self.model_max_length
        paths = {"tokenizer_config.json": config, "special_tokens_map.json": self.special_tokens_map}
        extra = {t.content: i for i, t in self._added.items() if t.content not in self._base_vocab}
        if extra:
            paths["added_tokens.json"] = extra
        for name, content in paths.items():
            (directory / name).write_text(
                json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        return (*files, *(str(directory / name) for name in paths))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, added={len(self._added)}, "
            f"add_prefix_space={self.add_prefix_space}, model_max_length={self.model_max_length})"
        )


# --- helpers -----------------------------------------------------------------------------------------------------


def clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization`: remove the space before punctuation and English contractions."""
    for old, new in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                     (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):  # fmt: skip
        text = text.replace(old, new)
    return text


def read_vocab(path: Path) -> dict[str, int]:
    """`vocab.json`: an object mapping token strings to distinct non-negative int ids."""
    vocab = _read_json(path)
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: expected a JSON object mapping tokens to ids, got {type(vocab).__name__}")
    seen: dict[int, str] = {}
    for token, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise ValueError(f"{path}: token {token!r} has id {token_id!r}; ids must be non-negative ints")
        if token_id in seen:
            raise ValueError(f"{path}: id {token_id} is used by both {seen[token_id]!r} and {token!r}")
        seen[token_id] = token
    return vocab


def read_merges(path: Path) -> list[tuple[str, str]]:
    """`merges.txt` / GPT-2 `vocab.bpe`: an optional `#version` line, then one `left right` pair per line."""
    merges = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e})") from None
    for line_no, line in enumerate(lines, 1):
        if line_no == 1 and line.startswith("#version"):
            continue
        if not line:
            if line_no != len(lines):
                raise ValueError(f"{path}:{line_no}: empty line inside the merges")
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{line_no}: expected two symbols separated by one space, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


def read_added_tokens(path: Path) -> list[tuple[int, AddedToken]]:
    """`added_tokens.json` ({token: id}), as (id, token) pairs; none if the file does not exist."""
    if not path.exists():
        return []
    table = _read_json(path)
    if not isinstance(table, dict):
        raise TokenizerError(f"{path}: expected an object mapping token strings to integer ids")
    return [
        (parse_token_id(i, f"{path}: token {t[:80]!r}: id"), AddedToken(t, special=False, normalized=True))
        for t, i in table.items()
    ]


def _read_tokenizer_json(path: Path) -> tuple[dict, list, list, Template | None, bool]:
    """An HF `tokenizer.json` with a BPE model (the DeBERTa v1 fast tokenizer's format)."""
    data = _read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise ValueError(f"{path}: expected a byte-level BPE model ('model': {{'type': 'BPE', ...}})")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: model.vocab must be an object")
    merges = []
    for n, m in enumerate(model.get("merges") or []):
        pair = m.split(" ") if isinstance(m, str) else m
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(s, str) and s for s in pair):
            raise ValueError(f"{path}: model.merges[{n}] is not a pair of symbols: {m!r}")
        merges.append((pair[0], pair[1]))
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

        template = Template(single=items(post["single"]), pair=items(post["pair"]))
    pre = data.get("pre_tokenizer") or {}
    return vocab, merges, added, template, bool(pre.get("add_prefix_space", False))


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


_SURROGATE = regex.compile(r"[\ud800-\udfff]")


def _surrogate_error(text: str) -> ValueError:
    m = _SURROGATE.search(text)
    where = f" U+{ord(m.group()):04X} at index {m.start()}" if m else ""
    return ValueError(
        f"text contains a lone surrogate{where}; it has no UTF-8 form (decode with errors='replace'?)"
    )
