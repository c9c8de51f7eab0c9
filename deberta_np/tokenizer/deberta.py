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
from collections.abc import Callable, Iterable
from itertools import chain, islice, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import regex

from deberta_np.tokenizer.base import (
    AddedToken,
    TokenizerBase,
    TokenizerOptions,
    _surrogate_error,
    read_tokenizer_json,
    split_added,
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

if TYPE_CHECKING:
    from typing_extensions import Unpack


class DebertaTokenizer(TokenizerBase):
    """Byte-level BPE tokenizer for DeBERTa v1 (`microsoft/deberta-base`, `-large`, ...).

    >>> tok = DebertaTokenizer.from_pretrained("path/to/deberta-base")   # vocab.json + merges.txt
    >>> tok("Hello world")["input_ids"]
    [1, 31414, 232, 2]
    """

    config_options = (*("add_prefix_space",), *TokenizerBase.config_options)

    # transformers' DebertaTokenizer order
    model_input_names: ClassVar[list[str]] = ["input_ids", "attention_mask", "token_type_ids"]
    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        add_prefix_space: bool = False,
        **options: Unpack[TokenizerOptions],
    ) -> None:
        added_tokens, template, cache_options = self._set_options(**options)
        self.add_prefix_space = bool(add_prefix_space)

        self._base_vocab = dict(vocab)
        self._merges = list(merges)
        self._vocab = dict(vocab)
        # Added tokens: given ones first, then each special token, with the mask token absorbing the space on its
        # left (as transformers creates it: AddedToken("[MASK]", lstrip=True, normalized=True)).
        self._add_tokens_and_specials(
            added_tokens,
            lambda attr, content: AddedToken(
                content, lstrip=attr == "mask_token", normalized=attr == "mask_token", special=True
            ),
        )
        self._id_to_token: list[str | None] = [None] * (max(self._vocab.values(), default=-1) + 1)
        for token, token_id in self._vocab.items():
            self._id_to_token[token_id] = token

        unk = self.special_tokens["unk_token"]
        self.bpe = ByteLevelBPE(self._base_vocab, self._merges, unk_id=self._vocab.get(unk), **cache_options)
        self._pattern = regex.compile(GPT2_PATTERN)
        self._build_matchers()
        self.template = template or self._default_template()

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
    def _read_vocabulary(
        cls, directory: Path, config: dict
    ) -> tuple[Callable[..., DebertaTokenizer], list[tuple[int, AddedToken]]]:
        """`vocab.json` + `merges.txt`, or an HF `tokenizer.json` alone (its pre-tokenizer's add_prefix_space as
        the default). Options: `add_prefix_space=True`, `model_max_length=512`, ..."""
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
        return (lambda **options: cls(vocab, merges, template=template, **options)), added

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
            out: list[tuple[int, int, int | None]] = []
            for start, end, token_id in segments:
                if token_id is None:
                    split_added(text, start, end, pattern, by_content, out)
                else:
                    out.append((start, end, token_id))
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

    def _encode_word(self, word: str, details: bool) -> Encoding:
        # Every pre-split word gets the prefix space: slow always adds it to pre-split words, and fast requires
        # add_prefix_space=True for them.
        return self._encode_text(word, details, add_prefix_space=True)

    # --- argument checks ----------------------------------------------------------------------------------------

    # --- ids -> text --------------------------------------------------------------------------------------------

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
        extra = {t.content: i for i, t in self._added.items() if t.content not in self._base_vocab}
        own = {
            "tokenizer_class": "DebertaTokenizer",
            "add_prefix_space": self.add_prefix_space,
            "errors": "replace",
        }
        return (*files, *self._save_configs(directory, own, {"added_tokens.json": extra} if extra else {}))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, added={len(self._added)}, "
            f"add_prefix_space={self.add_prefix_space}, model_max_length={self.model_max_length})"
        )


# --- helpers -----------------------------------------------------------------------------------------------------


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


def _read_tokenizer_json(path: Path) -> tuple[dict, list, list, Template | None, bool]:
    """An HF `tokenizer.json` with a BPE model (the DeBERTa v1 fast tokenizer's format)."""
    data, model, added, template = read_tokenizer_json(path, "BPE", "a byte-level BPE model")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: model.vocab must be an object")
    merges = []
    for n, m in enumerate(model.get("merges") or []):
        pair = m.split(" ") if isinstance(m, str) else m
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(s, str) and s for s in pair):
            raise ValueError(f"{path}: model.merges[{n}] is not a pair of symbols: {m!r}")
        merges.append((pair[0], pair[1]))
    pre = data.get("pre_tokenizer") or {}
    return vocab, merges, added, template, bool(pre.get("add_prefix_space", False))
