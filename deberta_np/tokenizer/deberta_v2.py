"""`DebertaV2Tokenizer`: the SentencePiece Unigram tokenizer of DeBERTa v2/v3 (`spm.model`), transformers 4.x API.

Pipeline: special tokens are cut out of the text; each remaining segment is (optionally lowercased and split at
punctuation,) normalised with the model's precompiled charsmap (normalizer.py), cut into "▁"-words and segmented
with the Unigram model (unigram.py); then `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`, truncation, padding and
tensors, shared with the v1 tokenizer (encoding.py).

transformers has two DeBERTa-v2 tokenizers that disagree on about 2% of multilingual texts. The default here,
`reference="sentencepiece"`, gives the ids of `sentencepiece` -- transformers' slow `DebertaV2Tokenizer` and
Microsoft's code, which the models were trained with. `reference="fast"` reproduces `DebertaV2TokenizerFast`
(ids, tokens, offsets, word ids). The differences (each reproduced in its mode):

* byte fallback: a character missing from the vocabulary becomes its UTF-8 bytes (`<0xE1><0xBA><0x9E>`) in
  sentencepiece; the fast tokenizer, which has no byte fallback, writes one `[UNK]` for a run of them;
* normalisation: sentencepiece applies the longest charsmap rule at each position; the fast tokenizer works on
  grapheme clusters and replaces a short cluster whole by its shortest rule (dropping combining marks after a
  mapped character: "ｅ\u0301" -> "e" rather than "é"); it strips only White_Space at the ends, so characters that
  normalise to a space (U+200B) can leave a trailing "▁" token, and it keeps U+0085 at the ends out of the text;
* `[UNK]` written in the text: both split it out, but the fast tokenizer does so after normalising, so a space
  before it becomes a "▁" token (and with `do_lower_case` it matches "[unk]" instead);
* `split_by_punct`: sentencepiece splits the raw text at punctuation and normalises each part (dropping the space
  before a punctuation mark); the fast tokenizer normalises first (so "…" becomes three "." marks) and keeps
  that space as a "▁" token;
* arithmetic: sentencepiece scores paths in float32, tokenizers in float64; equal-scoring segmentations (such as
  "yy"+"yyyyy" and "yyyyy"+"yy") are then decided by rounding in sentencepiece and by position in tokenizers;
* pieces that match text: the fast tokenizer also matches control and byte pieces ("<0x41>" written in the text
  is id 69 there; sentencepiece spells it out).

Offsets (`return_offsets_mapping`) are the fast tokenizer's wherever the two agree on the ids, quirks included (a
"▁word" token covers the space before it; characters removed by normalisation at the very start of a text shift
the offsets after them, as in tokenizers); each byte piece covers the character it comes from.
"""

from __future__ import annotations

import base64
import itertools
import operator
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import regex

from deberta_np.errors import TokenizerError
from deberta_np.tokenizer.base import (
    AddedToken,
    TokenizerBase,
    TokenizerOptions,
    _surrogate_error,
    read_tokenizer_json,
    split_added,
)
from deberta_np.tokenizer.encoding import Encoding, Template
from deberta_np.tokenizer.normalizer import (
    SPACE_SYMBOL,
    Charsmap,
    metaspace,
    normalize_fast,
    normalize_spm,
)
from deberta_np.tokenizer.sentencepiece_model import (
    BYTE,
    CONTROL,
    NORMAL,
    UNKNOWN,
    ModelProto,
    NormalizerSpec,
    Piece,
    TrainerSpec,
    check_model,
    parse_model,
)
from deberta_np.tokenizer.unigram import Unigram

REFERENCES = ("sentencepiece", "fast")
# "▁"-words (Metaspace's split); stdlib `re` scans this twice as fast as `regex`
_WORD = re.compile(f"{SPACE_SYMBOL}[^{SPACE_SYMBOL}]*|[^{SPACE_SYMBOL}]+")

if TYPE_CHECKING:
    from typing_extensions import Unpack


class DebertaV2Tokenizer(TokenizerBase):
    """SentencePiece Unigram tokenizer for DeBERTa v2/v3 (`microsoft/deberta-v3-base`, `mdeberta-v3-base`, ...).

    >>> tok = DebertaV2Tokenizer.from_pretrained("path/to/deberta-v3-base")   # spm.model (or tokenizer.json)
    >>> tok("Hello world")["input_ids"]
    [1, 5365, 447, 2]

    `reference`: "sentencepiece" (default; ids of sentencepiece, the slow tokenizer and Microsoft's code) or
    "fast" (transformers' DebertaV2TokenizerFast exactly, `[UNK]` instead of byte fallback included); see the
    module docstring for what differs."""

    config_options = (*("do_lower_case", "split_by_punct"), *TokenizerBase.config_options)

    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    vocab_files_names: ClassVar[dict[str, str]] = {"vocab_file": "spm.model"}

    def __init__(
        self,
        model: ModelProto | str | os.PathLike,
        *,
        reference: str = "sentencepiece",
        do_lower_case: bool = False,
        split_by_punct: bool = False,
        **options: Unpack[TokenizerOptions],
    ) -> None:
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
        added_tokens, template, cache_options = self._set_options(**options)
        if not isinstance(model, (ModelProto, str, os.PathLike)):
            raise TypeError(
                f"model must be a path to an spm.model file or a ModelProto, got {type(model).__name__}"
            )
        self._model_bytes: bytes | None = None
        if not isinstance(model, ModelProto):
            path = Path(model)
            self._model_bytes = path.read_bytes()
            model = parse_model(self._model_bytes, str(path))
        self.model = model
        trainer = model.trainer_spec
        if trainer.model_type != 1:
            kind = {2: "BPE", 3: "WORD", 4: "CHAR"}.get(trainer.model_type, str(trainer.model_type))
            raise TokenizerError(
                f"model_type is {kind}; DebertaV2Tokenizer reads Unigram SentencePiece models"
            )
        if trainer.treat_whitespace_as_suffix:
            raise TokenizerError(
                "treat_whitespace_as_suffix models are not supported (no DeBERTa model uses one)"
            )
        if self._model_bytes is not None:
            check_model(model, str(path))
        self.reference = reference
        self.do_lower_case = bool(do_lower_case)
        self.split_by_punct = bool(split_by_punct)

        spec = model.normalizer_spec
        self.charsmap = (
            Charsmap(spec.precompiled_charsmap, "normalizer_spec") if spec.precompiled_charsmap else None
        )
        self._spm_flags = {
            "add_dummy_prefix": spec.add_dummy_prefix,
            "remove_extra_whitespaces": spec.remove_extra_whitespaces,
            "escape_whitespaces": spec.escape_whitespaces,
        }
        self.unigram = Unigram(
            model.pieces,
            trainer.unk_id,
            sentencepiece=reference == "sentencepiece",
            byte_fallback=trainer.byte_fallback,
            **cache_options,
        )
        self._pieces = model.pieces
        self._base_vocab: dict[str, int] = {}
        for i, piece in enumerate(model.pieces):
            self._base_vocab.setdefault(piece.piece, i)
        self._vocab = dict(self._base_vocab)
        # Added tokens: given ones, then the special tokens; a token missing from the pieces gets the next id
        # ([MASK] = 128000 for deberta-v3). Control pieces are special; [UNK] is matched on normalised text by
        # the fast tokenizer (transformers creates it with normalized=True).
        self._add_tokens_and_specials(
            added_tokens,
            lambda attr, content: AddedToken(content, normalized=attr == "unk_token", special=True),
        )
        self._id_to_token: list[str | None] = [None] * (max(self._vocab.values(), default=-1) + 1)
        for token, token_id in self._vocab.items():
            if self._id_to_token[token_id] is None:
                self._id_to_token[token_id] = token
        self._special_ids = frozenset(i for i, t in self._added.items() if t.special)
        self._build_matchers()
        self.template = template or self._default_template()

    def _build_matchers(self) -> None:
        """Regexes for the added tokens: longest first, so that the alternation picks the longest token at the
        leftmost position (as transformers' trie and tokenizers' leftmost-longest automaton do).

        The fast tokenizer cuts tokens with normalized=False out of the raw text, normalises the rest and then
        finds the others ([UNK]) in it, by their own normalised content. The slow tokenizer cuts them all out of
        the raw text: here in two steps (first the normalized=False ones, then the others in what remains),
        which is the same for tokens that do not overlap, so that both modes share the first step."""

        def matcher(tokens: list[tuple[str, int, AddedToken]]) -> _Matcher | None:
            if not tokens:
                return None
            tokens = sorted(tokens, key=lambda t: -len(t[0]))
            pattern = regex.compile("|".join(regex.escape(text) for text, _, _ in tokens))
            by_content = {text: (i, t) for text, i, t in reversed(tokens)}
            return _Matcher(pattern, by_content)

        everything = [(t.content, i, t) for i, t in self._added.items() if t.content]
        self._raw_matcher = matcher([e for e in everything if not e[2].normalized])
        self._raw_normalized_matcher = matcher([e for e in everything if e[2].normalized])
        normalized = []
        for content, i, t in everything:
            if t.normalized:
                text = normalize_fast(
                    self._lower(content)[0] if self.do_lower_case else content, self.charsmap
                )[0]
                if text:
                    normalized.append((text, i, t))
        self._normalized_matcher = matcher(normalized)

    # --- loading and saving ---------------------------------------------------------------------------------

    @classmethod
    def _read_vocabulary(
        cls, directory: Path, config: dict
    ) -> tuple[Callable[..., DebertaV2Tokenizer], list[tuple[int, AddedToken]]]:
        """`spm.model` (or the file tokenizer_config.json's vocab_file names), or an HF `tokenizer.json` alone
        (Unigram model). Options: `reference="fast"`, `do_lower_case=True`, `model_max_length=512`, ..."""
        added: list[tuple[int, AddedToken]] = []
        template = None
        vocab_file = config.get("vocab_file") if isinstance(config.get("vocab_file"), str) else None
        spm_path = directory / (Path(vocab_file).name if vocab_file else "spm.model")
        if not spm_path.exists():
            spm_path = directory / "spm.model"
        if spm_path.exists():
            model: ModelProto | Path = spm_path
        elif (directory / "tokenizer.json").exists():
            model, added, template, options = _read_tokenizer_json(directory / "tokenizer.json")
            for key, value in options.items():
                config.setdefault(key, value)
        else:
            raise FileNotFoundError(f"{directory}: needs spm.model (SentencePiece model) or tokenizer.json")
        return (lambda **options: cls(model, template=template, **options)), added

    def save_vocabulary(
        self, save_directory: str | os.PathLike, filename_prefix: str | None = None
    ) -> tuple[str]:
        """Write the SentencePiece model (`spm.model`, optionally `{prefix}-spm.model`)."""
        directory = Path(save_directory)
        if not directory.is_dir():
            raise NotADirectoryError(f"{directory}: not a directory")
        if self._model_bytes is None:
            raise ValueError("this tokenizer was not read from an spm.model file, so there is none to save")
        path = directory / f"{filename_prefix + '-' if filename_prefix else ''}spm.model"
        path.write_bytes(self._model_bytes)
        return (str(path),)

    def _tokenizer_json_model(self) -> tuple[dict[str, Any], Any, Any, Any]:
        # transformers' DebertaV2Converter (byte_fallback off, as it writes it: the fast tokenizer's [UNK])
        model = {"type": "Unigram", "unk_id": self.model.trainer_spec.unk_id,
                 "vocab": [[p.piece, p.score] for p in self._pieces], "byte_fallback": False}  # fmt: skip
        normalizers: list[dict[str, Any]] = [{"type": "Lowercase"}] if self.do_lower_case else []
        normalizers.append({"type": "Strip", "strip_left": True, "strip_right": True})
        charsmap = self.model.normalizer_spec.precompiled_charsmap
        if charsmap:
            normalizers.append(
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")}
            )
        normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
        metaspace = {
            "type": "Metaspace",
            "replacement": SPACE_SYMBOL,
            "prepend_scheme": "always",
            "split": True,
        }
        pre = [{"type": "Punctuation", "behavior": "Isolated"}] if self.split_by_punct else []
        return (
            model,
            {"type": "Sequence", "normalizers": normalizers},
            {"type": "Sequence", "pretokenizers": [*pre, metaspace]},
            metaspace,
        )

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write a directory that both `from_pretrained` and transformers' `AutoTokenizer` can load: spm.model (when
        this tokenizer was read from one), tokenizer.json, tokenizer_config.json, special_tokens_map.json."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        files: tuple[str, ...] = self.save_vocabulary(directory) if self._model_bytes is not None else ()
        files += (self.save_tokenizer_json(directory / "tokenizer.json"),)
        own = {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": self.do_lower_case,
               "split_by_punct": self.split_by_punct, "vocab_type": "spm"}  # fmt: skip
        return (*files, *self._save_configs(directory, own, {}))

    # --- vocabulary (shared with the v1 tokenizer) ----------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of SentencePiece pieces (128000 for deberta-v3), as transformers reports it."""
        return len(self._pieces)

    # The transformers-style API around the segmentation (vocabulary look-ups, special tokens, the [CLS]/[SEP]
    # template, batching, pairs, truncation with stride and overflow, padding, tensors, argument checks) comes from
    # TokenizerBase, shared with the v1 tokenizer: this class provides the attributes it reads (`_vocab`,
    # `_id_to_token`, `special_tokens`, `_special_ids`, `template`, ...) and its own `_encode_text`.

    # --- text -> tokens -----------------------------------------------------------------------------------------

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any
    ) -> list[str]:
        """Token strings of `text`: pieces ("▁Hello", "<0xE1>", "[MASK]"); an unknown character without byte
        fallback shows its own text (as both transformers tokenizers do)."""
        enc = self(text, pair, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                   return_token_type_ids=False, return_attention_mask=False, **kwargs)  # fmt: skip
        return enc.tokens()

    def _split_added(self, text: str, matcher: _Matcher | None) -> list[tuple[int, int, int | None]]:
        """Cut `text` into (start, end, added_token_id or None) segments, None for ordinary text."""
        out: list[tuple[int, int, int | None]] = []
        if matcher is None or not any(map(text.__contains__, matcher.by_content)):
            out.append(
                (0, len(text), None)
            )  # (str.__contains__ is a C-speed scan; the regex only runs on a hit)
        else:
            split_added(text, 0, len(text), matcher.pattern, matcher.by_content, out)
        return out

    def _encode_text(self, text: str, details: bool) -> Encoding:
        """One text (no special tokens): ids and, with `details`, tokens, character offsets and word indices."""
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise _surrogate_error(text) from None
        out = _Output(details)
        for start, end, added_id in self._split_added(text, self._raw_matcher):
            if added_id is not None:
                out.add_token(added_id, text[start:end], start, end)
            elif self.reference == "sentencepiece":
                self._segment_spm(text[start:end], start, out)
            else:
                self._segment_fast(text[start:end], start, out)
        return Encoding.from_sequence(out.ids, out.tokens, out.offsets, out.words) if details else (
            Encoding.from_sequence(out.ids, None, None, None)
        )  # fmt: skip

    # Pre-split input (TokenizerBase._encode_words): each word is encoded on its own, with its own "▁" (both
    # references do: the slow tokenizer puts a space before each word).

    def _lower(self, text: str) -> tuple[str, list[int] | None]:
        """Lowercase character by character (both transformers tokenizers do: no final-sigma rule), with the
        original index of each character when the length changes ("İ" -> "i̇")."""
        lowered = text.lower()
        if "\u03a3" in text:  # str.lower() writes a word-final capital sigma as "ς"; per character it is "σ"
            lowered = "".join(c.lower() for c in text)
        if len(lowered) == len(text):
            return lowered, None
        align: list[int] = []
        for i, c in enumerate(text):
            align += [i] * len(c.lower())
        return lowered, align

    def _segment_spm(self, segment: str, base: int, out: _Output) -> None:
        """A text segment (between tokens with normalized=False) as the slow tokenizer and sentencepiece
        segment it: the remaining added tokens cut out, then each part lowercased, split at punctuation and
        normalised on its own."""
        # (start, end, added id), or (start, end, None, normalized, part start, part end, text, lowering)
        items: list[tuple] = []
        for a, b, added_id in self._split_added(segment, self._raw_normalized_matcher):
            if added_id is not None:
                items.append((a, b, added_id))
                continue
            text, lower_align = self._lower(segment[a:b]) if self.do_lower_case else (segment[a:b], None)
            for pa, pb in _punctuation_runs(text) if self.split_by_punct else [(0, len(text))]:
                normalized, _ = normalize_spm(text[pa:pb], self.charsmap, **self._spm_flags)
                if normalized:
                    items.append((a, b, None, normalized, pa, pb, text, lower_align))
        if not out.details:
            for item in items:
                if item[2] is not None:
                    out.ids.append(item[2])
                    continue
                for e in self.unigram.words(_WORD.findall(item[3])):
                    out.ids += e.ids
            return
        alignments = self._spm_alignments(segment, items)
        for item, align in zip(items, alignments):
            if item[2] is not None:
                out.add_token(item[2], segment[item[0] : item[1]], base + item[0], base + item[1])
                continue
            words = _WORD.findall(item[3])
            out.add_words(words, self.unigram.words(words), align, base)

    def _spm_alignments(self, segment: str, items: list[tuple]) -> list[list[int] | None]:
        """For each normalised part of `items` (see _segment_spm), the index in `segment` of each character: the
        fast tokenizer's alignment when its pipeline gives the same parts (so that offsets agree with it), else
        SentencePiece's own."""
        fast = self._fast_pieces(segment)
        if len(fast) == len(items) and all(
            (f[2] == i[2]) if i[2] is not None else (f[2] is None and f[3] == i[3])
            for f, i in zip(fast, items)
        ):
            return [f[4] if f[2] is None else None for f in fast]
        out: list[list[int] | None] = []
        for item in items:
            if item[2] is not None:
                out.append(None)
                continue
            a, _, _, _, pa, pb, text, lower_align = item
            align = normalize_spm(text[pa:pb], self.charsmap, **self._spm_flags, with_alignment=True)[1]
            out.append([a + (lower_align[pa + k] if lower_align else pa + k) for k in align])
        return out

    def _fast_pieces(self, segment: str) -> list[tuple]:
        """The fast tokenizer's pipeline on a segment between tokens with normalized=False: lowercase, Strip,
        Precompiled, Replace; the normalized=True tokens found in the result; then Punctuation and Metaspace on
        each piece. Items: (start, end, added id, matched text) or (0, 0, None, text, alignment into `segment`)."""
        text, lower_align = self._lower(segment) if self.do_lower_case else (segment, None)
        normalized, align = normalize_fast(text, self.charsmap)
        if lower_align is not None:
            align = [lower_align[k] for k in align]
        out: list[tuple] = []
        for start, end, added_id in self._split_added(normalized, self._normalized_matcher):
            if added_id is not None:  # the token shows the normalised text it matched
                out.append((align[start], align[end - 1] + 1, added_id, normalized[start:end]))
                continue
            piece, piece_align = normalized[start:end], align[start:end]
            for a, b in _punctuation_runs(piece) if self.split_by_punct else [(0, len(piece))]:
                words, words_align = metaspace(piece[a:b], piece_align[a:b])
                if words:
                    out.append((0, 0, None, words, words_align))
        return out

    def _segment_fast(self, segment: str, base: int, out: _Output) -> None:
        """A text segment (between tokens with normalized=False) as the fast tokenizer segments it."""
        for item in self._fast_pieces(segment):
            if item[2] is not None:
                out.add_token(item[2], item[3], base + item[0], base + item[1])
                continue
            words = _WORD.findall(item[3])
            entries = [self.unigram.word(w) for w in words]
            if out.details:
                out.add_words(words, entries, item[4], base)
            else:
                for e in entries:
                    out.ids += e.ids

    # --- ids -> text --------------------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: Iterable[str]) -> str:
        """Text of pieces as sentencepiece decodes them: "▁" is a space (the first one dropped), byte pieces
        are UTF-8 (invalid bytes become U+FFFD), control pieces are empty; special tokens are kept as text."""
        if self.reference == "fast":
            text = "".join(tokens).replace(SPACE_SYMBOL, " ")
            return text[1:] if text.startswith(" ") else text
        out: list[str] = []
        pending: list[str] = []
        prev_special = False
        for token in tokens:
            if token in self._special_contents:
                if not prev_special:
                    out.append(" ")
                out.append(self._decode_pieces(pending) + token)
                pending = []
                prev_special = True
            else:
                pending.append(token)
                prev_special = False
        out.append(self._decode_pieces(pending))
        return "".join(out).strip()

    @property
    def _special_contents(self) -> frozenset[str]:
        return frozenset(self.all_special_tokens)

    def _decode_pieces(self, pieces: list[str]) -> str:
        """sentencepiece's DecodePieces."""
        out: list[str] = []
        data = bytearray()
        at_start = self._spm_flags["add_dummy_prefix"] or self._spm_flags["remove_extra_whitespaces"]
        unk_surface = self.model.trainer_spec.unk_surface
        for piece in pieces:
            token_id = self._base_vocab.get(piece)
            kind = self._pieces[token_id].type if token_id is not None else UNKNOWN
            if kind == BYTE:
                data.append(int(piece[3:5], 16))
                continue
            if data:
                out.append(data.decode("utf-8", "replace"))
                data = bytearray()
                at_start = False
            if kind == CONTROL:
                continue
            if kind == UNKNOWN:
                out.append(unk_surface if token_id is not None else piece)
                at_start = False
                continue
            if at_start and piece.startswith(SPACE_SYMBOL):
                piece = piece[1:]
            text = piece.replace(SPACE_SYMBOL, " ")
            if text:
                at_start = False
            out.append(text)
        if data:
            out.append(data.decode("utf-8", "replace"))
        return "".join(out)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, reference={self.reference!r}, "
            f"do_lower_case={self.do_lower_case}, split_by_punct={self.split_by_punct}, "
            f"model_max_length={self.model_max_length})"
        )


# --- output assembly -----------------------------------------------------------------------------------------------


class _Output:
    """Parallel lists of one text's tokens; word indices count "▁"-words and added tokens, as tokenizers does."""

    __slots__ = ("details", "ids", "offsets", "tokens", "word", "words")

    def __init__(self, details: bool) -> None:
        self.details = details
        self.ids: list[int] = []
        self.tokens: list[str] = []
        self.offsets: list[tuple[int, int]] = []
        self.words: list[int | None] = []
        self.word = 0

    def add_token(self, token_id: int, token: str, start: int, end: int) -> None:
        self.ids.append(token_id)
        if self.details:
            self.tokens.append(token)
            self.offsets.append((start, end))
            self.words.append(self.word)
        self.word += 1

    def add_words(self, words: list[str], entries: list, align: list[int], base: int) -> None:
        """Tokens of consecutive words of one normalised string, whose characters come from the characters
        `align` of the segment at `base`: a token spans its first character's start to its last one's end.
        (Assembled with NumPy and C-level iterators: per-token Python work is what costs most here.)"""
        counts = np.fromiter(map(len, map(_IDS, entries)), np.int64, len(entries))
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        at = np.repeat(np.cumsum(lengths) - lengths, counts)  # start of each token's word
        n = len(at)
        starts = np.fromiter(itertools.chain.from_iterable(map(_STARTS, entries)), np.int64, n)
        lasts = np.fromiter(itertools.chain.from_iterable(map(_LASTS, entries)), np.int64, n)
        align_array = np.asarray(align, dtype=np.int64)
        self.offsets += zip(
            (align_array[at + starts] + base).tolist(), (align_array[at + lasts] + base + 1).tolist()
        )
        self.ids += itertools.chain.from_iterable(map(_IDS, entries))
        self.tokens += itertools.chain.from_iterable(map(_TOKENS, entries))
        self.words += np.repeat(np.arange(self.word, self.word + len(words)), counts).tolist()
        self.word += len(words)


_IDS, _STARTS, _LASTS, _TOKENS = (operator.itemgetter(k) for k in range(4))


class _Matcher(NamedTuple):
    pattern: Any
    by_content: dict[str, tuple[int, AddedToken]]


def _is_punctuation(ch: str) -> bool:
    """transformers' `_is_punctuation` (slow) and tokenizers' `is_punc` (fast): ASCII symbols and Unicode P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _punctuation_runs(text: str) -> list[tuple[int, int]]:
    """Spans of `text` with every punctuation character on its own (`_run_split_on_punc`, Punctuation(isolated))."""
    out: list[tuple[int, int]] = []
    start = 0
    for i, ch in enumerate(text):
        if _is_punctuation(ch):
            if i > start:
                out.append((start, i))
            out.append((i, i + 1))
            start = i + 1
    if start < len(text):
        out.append((start, len(text)))
    return out


# --- files -----------------------------------------------------------------------------------------------------------


def _read_tokenizer_json(path: Path) -> tuple[ModelProto, list, Template | None, dict]:
    """An HF `tokenizer.json` with a Unigram model (what DebertaV2TokenizerFast saves). Piece types are not in
    the file: added special tokens count as control pieces, the unk id as the unknown piece, "<0x00>".."<0xFF>"
    as byte pieces (whose presence means the SentencePiece model had byte_fallback), the rest as normal."""
    data, model, added, template = read_tokenizer_json(path, "Unigram", "a Unigram model")
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not vocab:
        raise ValueError(f"{path}: model.vocab must be a non-empty list of [piece, score] pairs")
    unk_id = model.get("unk_id")
    if not isinstance(unk_id, int) or isinstance(unk_id, bool) or not 0 <= unk_id < len(vocab):
        raise ValueError(f"{path}: model.unk_id must be an id of model.vocab, got {unk_id!r}")
    special_ids = {i for i, t in added if t.special}
    byte_pieces = {f"<0x{b:02X}>" for b in range(256)}
    pieces = []
    for n, entry in enumerate(vocab):
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], (int, float))
        ):
            raise ValueError(f"{path}: model.vocab[{n}] is not a [piece, score] pair: {entry!r}")
        kind = (
            UNKNOWN
            if n == unk_id
            else CONTROL
            if n in special_ids
            else BYTE
            if entry[0] in byte_pieces
            else NORMAL
        )
        pieces.append(Piece(entry[0], float(entry[1]), kind))
    byte_fallback = sum(p.type == BYTE for p in pieces) == 256
    charsmap = b""
    options: dict[str, Any] = {}
    normalizers = (data.get("normalizer") or {}).get("normalizers") or [data.get("normalizer") or {}]
    for entry in normalizers:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "Precompiled"
            and entry.get("precompiled_charsmap")
        ):
            try:
                charsmap = base64.b64decode(entry["precompiled_charsmap"], validate=True)
            except ValueError:
                raise ValueError(f"{path}: normalizer.precompiled_charsmap is not base64") from None
        if isinstance(entry, dict) and entry.get("type") == "Lowercase":
            options["do_lower_case"] = True
    pre = data.get("pre_tokenizer") or {}
    for entry in pre.get("pretokenizers") or [pre]:
        if isinstance(entry, dict) and entry.get("type") == "Punctuation":
            options["split_by_punct"] = True
    trainer = TrainerSpec(vocab_size=len(pieces), byte_fallback=byte_fallback, unk_id=unk_id,
                          unk_piece=pieces[unk_id].piece)  # fmt: skip
    return (
        ModelProto(tuple(pieces), trainer, NormalizerSpec(precompiled_charsmap=charsmap)),
        added,
        template,
        options,
    )
