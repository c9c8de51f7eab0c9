"""Byte-level BPE, as in GPT-2, RoBERTa and DeBERTa v1.

Text becomes ids in three steps:

1. *pre-tokenize*: GPT-2's regular expression cuts the text into pieces (a word with its leading space, a run of
   digits, of punctuation, of whitespace); pieces never merge with each other;
2. *byte-level*: each piece is encoded as UTF-8 and every byte is replaced by a printable stand-in character
   (`bytes_to_unicode`), so the vocabulary never needs an "unknown" entry;
3. *BPE*: the piece's characters are merged pairwise, always the pair ranked first in `merges.txt`, until no ranked
   pair is left; each resulting symbol is a vocabulary entry.

Pieces repeat a lot in real text, so the result of steps 2-3 is cached per piece, with offsets relative to the piece.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
import threading
from collections.abc import Iterable
from functools import lru_cache

import regex

from deberta_np.tokenizer import _unicode_tables

# GPT-2's pattern (`encoder.py` in openai/gpt-2), used unchanged by transformers' slow tokenizer and, compiled by
# Oniguruma, by the Rust `tokenizers` ByteLevel pre-tokenizer.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# How many distinct pieces the per-piece cache keeps (about 30 MB when full); beyond it the older half is dropped.
# 7.6 MB of text in ~40 languages holds ~100,000 distinct pieces.
DEFAULT_CACHE_SIZE = 131072
# Pieces longer than this (in characters) are not cached: they rarely repeat, and the cache's memory would
# otherwise grow with the length of the pieces rather than their number.
MAX_CACHED_PIECE = 256
# From this many symbols on, merging uses the O(n log n) heap (`_merge_long`); shorter words are faster with the
# C-level scans of `merge`, whose cost grows with the square of the length.
LONG_WORD = 64


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table.

    Printable Latin-1 bytes stand for themselves; the 68 others (controls, space, NBSP, soft hyphen) get the
    characters 256, 257, ... in increasing byte order, so that space (0x20) is 'Ġ' and newline is 'Ċ'.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return dict(sorted(table.items()))


BYTE_TO_UNICODE: dict[int, str] = bytes_to_unicode()
UNICODE_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_UNICODE.items()}

# Decoding UTF-8 bytes as Latin-1 gives one character per byte, with the byte's value as its code point: a single
# `str.translate` then performs step 2 for a whole piece at C speed.
_LATIN1_TO_STANDIN = {b: c for b, c in BYTE_TO_UNICODE.items()}
_STANDIN_TO_LATIN1 = {ord(c): chr(b) for b, c in BYTE_TO_UNICODE.items()}
# A token is byte-level only if every character is in the table (the Rust ByteLevel decoder's rule).
_NOT_BYTE_LEVEL = regex.compile("[^" + "".join(regex.escape(c) for c in BYTE_TO_UNICODE.values()) + "]")


def to_byte_level(text: str) -> str:
    """The byte-level form of `text` (one stand-in character per UTF-8 byte). Raises UnicodeEncodeError on lone
    surrogates, which have no UTF-8 form."""
    return text.encode("utf-8").decode("latin-1").translate(_LATIN1_TO_STANDIN)


def from_byte_level(tokens: Iterable[str]) -> bytes:
    """The bytes behind byte-level token strings. A token with a character outside the table (an added token such as
    '[MASK]' is inside it; a hand-made one may not be) contributes its own UTF-8, as the Rust ByteLevel decoder does."""
    out = []
    for token in tokens:
        if _NOT_BYTE_LEVEL.search(token):  # e.g. " Zürich": a plain space is not in the table
            out.append(token.encode("utf-8", "surrogatepass"))
        else:
            out.append(token.translate(_STANDIN_TO_LATIN1).encode("latin-1"))
    return b"".join(out)


# --- Unicode classes ---------------------------------------------------------------------------------------------
# The `regex` module knows a newer Unicode than the reference's Oniguruma (see _unicode_tables). Matching with the
# pinned ranges is exact but 10-20x slower in `regex`, so the fast path uses `\p{L}`/`\p{N}` and checks each *new*
# non-ASCII piece: if one of its characters is classified differently, the text is split again with the pinned
# pattern. Real text almost never contains such characters (they were assigned after Unicode 15.1).


def _parse_ranges(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for item in spec.split():
        lo, _, hi = item.partition("-")
        ranges.append((int(lo, 16), int(hi or lo, 16)))
    return ranges


_WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"


class _PinnedClasses:
    """Letter/number/space/other class of a character per the pinned (reference) tables."""

    def __init__(self) -> None:
        spans = [(lo, hi, "L") for lo, hi in _parse_ranges(_unicode_tables.LETTER_RANGES)]
        spans += [(lo, hi, "N") for lo, hi in _parse_ranges(_unicode_tables.NUMBER_RANGES)]
        spans += [(ord(c), ord(c), "S") for c in _WHITE_SPACE]
        spans.sort()
        self.starts = [s[0] for s in spans]
        self.spans = spans

    def kind(self, ch: str) -> str:
        cp = ord(ch)
        i = bisect.bisect_right(self.starts, cp) - 1
        if i >= 0 and cp <= self.spans[i][1]:
            return self.spans[i][2]
        return "O"

    def pattern(self) -> str:
        def cls(kind: str) -> str:
            return "".join(
                f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}"
                for lo, hi, k in self.spans
                if k == kind
            )

        letters, numbers = cls("L"), cls("N")
        return rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^\s{letters}{numbers}]+|\s+(?!\S)|\s+"""


_STD_CLASS = regex.compile(r"(\p{L})|(\p{N})|(\s)")


@lru_cache(maxsize=1)
def _pinned() -> _PinnedClasses:
    return _PinnedClasses()


@lru_cache(maxsize=1)
def pinned_pattern() -> regex.Pattern:
    """GPT-2's pattern with the reference's letter/number classes spelled out (slow; used only when needed)."""
    return regex.compile(_pinned().pattern())


@lru_cache(maxsize=8192)
def classes_agree(ch: str) -> bool:
    """Whether `regex` puts `ch` in the same class (letter, number, space, other) as the reference."""
    m = _STD_CLASS.match(ch)
    std = "O" if m is None else "LNS"[m.lastindex - 1]
    return std == _pinned().kind(ch)


class NeedsPinnedSplit(Exception):
    """Internal signal: the text holds a character on which `regex` and the reference disagree."""


# --- BPE model ---------------------------------------------------------------------------------------------------


def evict_older_half(cache: dict, size: int) -> None:
    """Bound `cache` (call it holding the cache's lock): when it holds `size` entries, drop the older half
    (dicts keep insertion order), keeping what the recent text used."""
    if len(cache) >= size:
        for old in list(itertools.islice(cache, len(cache) // 2 + 1)):
            del cache[old]


class SpannedIds(tuple):
    """Token ids of a piece with a symbol missing from the vocabulary (toy vocabularies only), with each token's
    (start, end) byte span in the piece, since the token strings no longer tell the byte lengths."""

    spans: tuple[tuple[int, int], ...]


# A cache entry is just the piece's token ids (small: the cache holds ~100,000 of them), or a SpannedIds.
Entry = tuple[int, ...]


class ByteLevelBPE:
    """A byte-level BPE model: vocabulary (token -> id), merge ranks, and a bounded per-piece cache."""

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        unk_id: int | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.vocab = vocab
        self.ranks: dict[tuple[str, str], int] = {pair: rank for rank, pair in enumerate(merges)}
        self.unk_id = unk_id
        self.cache_size = cache_size
        self.cache: dict[str, Entry] = {}
        self._cache_lock = threading.Lock()  # eviction by two threads at once deleted a key twice
        self._pair_table: tuple[dict[str, int], dict[int, int], list[str], int] | None = None
        self.has_spanned = False  # whether any piece needed SpannedIds (then offsets check for them)
        self._id_to_token = {i: t for t, i in vocab.items()}
        # For character offsets without per-byte work: for each token id, how many characters start inside the
        # token's bytes, and 1 if its first byte continues a character begun in an earlier token (see offsets()).
        size = max(vocab.values(), default=-1) + 1
        self.char_starts = [0] * size
        self.begins_inside_char = [0] * size
        for token, token_id in vocab.items():
            raw = from_byte_level([token])
            self.char_starts[token_id] = sum(not 0x80 <= b < 0xC0 for b in raw)
            self.begins_inside_char[token_id] = int(bool(raw) and 0x80 <= raw[0] < 0xC0)

    def merge(self, word: str) -> list[str]:
        """BPE on one byte-level word: repeatedly merge every occurrence (left to right, not overlapping) of the
        best-ranked adjacent pair, until no adjacent pair is ranked. This is GPT-2's algorithm; the scans are done
        by C-level builtins (`map`, `min`, `list.index`) because long words (CJK runs are hundreds of bytes) make
        the Python-level loop of the original the bottleneck. Each round costs O(n), so from LONG_WORD symbols
        on `_merge_long` does the same merges with a heap."""
        return self._merge_long(word) if len(word) >= LONG_WORD else self._merge_rounds(word)

    def _merge_rounds(self, word: str) -> list[str]:
        """`merge` for short words: rounds of C-level scans, each O(n)."""
        symbols = list(word)
        get, unranked = self.ranks.get, len(self.ranks)
        while len(symbols) > 1:
            # rank of each adjacent pair (`unranked` if it is not a merge); ranks are unique, so a rank names a pair
            ranks = list(map(get, itertools.pairwise(symbols), itertools.repeat(unranked)))
            best = min(ranks)
            if best == unranked:
                break
            merged, done, at = [], 0, ranks.index(best)
            while True:
                merged += symbols[done:at]
                merged.append(symbols[at] + symbols[at + 1])
                done = at + 2
                try:
                    at = ranks.index(best, done)  # next occurrence that does not overlap this one
                except ValueError:
                    break
            merged += symbols[done:]
            symbols = merged
        return symbols

    def _merge_long(self, word: str) -> list[str]:
        """`merge` in O(n log n), as the reference implementations do it, over symbols as a linked list.

        Symbols are numbered (`_pair_table`) so that a pair is one int and its lookup gives rank and merged
        symbol at once. Pending merges wait in one list per rank, with a heap of the ranks. A round takes the
        lowest rank's list and merges, left to right, the positions still holding that pair: that is
        `merge`'s round, since occurrences overlapping an earlier one of the round are gone by then, and no
        merge creates another occurrence of its own pair (A+B is neither A nor B). A merge queues the pairs
        it creates; stale entries fail the check when their round comes."""
        table = self._pair_table or self._build_pair_table()
        index, pairs, names, shift = table
        get = index.get
        symbols = [get(c, -1) for c in word]  # -1: a character no merge involves (stays itself)
        n = len(symbols)
        if n < 2:
            return list(word)
        after = list(range(1, n + 1))
        after[-1] = -1
        before = list(range(-1, n - 1))
        lookup = pairs.get
        mask = (1 << shift) - 1
        queues: dict[int, list[int]] = {}
        for i, v in enumerate(
            map(lookup, map(operator.or_, [s << shift for s in symbols[:-1]], symbols[1:]))
        ):
            if v is not None:
                queue = queues.get(v >> shift)
                if queue is None:
                    queues[v >> shift] = [i]
                else:
                    queue.append(i)
        ranks = list(queues)
        heapq.heapify(ranks)
        pop, push = heapq.heappop, heapq.heappush

        def queue_pair(v: int, pos: int) -> None:  # wait for the pair's round (its rank: v >> shift)
            queue = queues.get(v >> shift)
            if queue is None:
                queues[v >> shift] = [pos]
                push(ranks, v >> shift)
            else:
                queue.append(pos)

        while ranks:
            rank = pop(ranks)
            batch = queues.pop(rank)
            batch.sort()
            for i in batch:
                left, j = symbols[i], after[i]
                if left < 0 or j < 0:
                    continue  # merged away, or now the last symbol
                v = lookup(left << shift | symbols[j])
                if v is None or v >> shift != rank:
                    continue  # the pair at i changed since it was queued
                merged = symbols[i] = v & mask
                symbols[j] = -2  # removed
                k = after[i] = after[j]
                if k >= 0:
                    before[k] = i
                    v = lookup(merged << shift | symbols[k])
                    if v is not None:
                        queue_pair(v, i)
                h = before[i]
                if h >= 0:
                    v = lookup(symbols[h] << shift | merged)
                    if v is not None:
                        queue_pair(v, h)
        return [names[s] if s >= 0 else word[i] for i, s in enumerate(symbols) if s != -2]

    def _build_pair_table(self) -> tuple[dict[str, int], dict[int, int], list[str], int]:
        """Symbol numbers for `_merge_long`: {symbol: number}, {a << shift | b: rank << shift | merged}, the
        symbols by number, and shift (bits per number). Built on the first long word."""
        index: dict[str, int] = {}
        for a, b in self.ranks:
            for symbol in (a, b, a + b):
                index.setdefault(symbol, len(index))
        shift = max(len(index).bit_length(), 1)
        pairs = {
            index[a] << shift | index[b]: rank << shift | index[a + b] for (a, b), rank in self.ranks.items()
        }
        self._pair_table = (index, pairs, list(index), shift)
        return self._pair_table

    def encode_piece(self, piece: str) -> Entry:
        """Ids and token strings of one pre-token (cached)."""
        entry = self.cache.get(piece)
        if entry is not None:
            return entry
        if not piece.isascii() and not all(map(classes_agree, piece)):
            raise NeedsPinnedSplit
        entry = self._encode_uncached(piece)
        if len(piece) <= MAX_CACHED_PIECE:
            with self._cache_lock:
                evict_older_half(self.cache, self.cache_size)
                self.cache[piece] = entry
        return entry

    def _encode_uncached(self, piece: str) -> Entry:
        symbols = self.merge(to_byte_level(piece))
        ids = tuple(map(self.vocab.get, symbols))
        if None not in ids:
            return ids
        # A symbol missing from the vocabulary becomes the unknown token, as in the slow tokenizer and GPT-2;
        # without an unknown token it is dropped, as in the fast one.
        kept, spans, byte_pos = [], [], 0
        for symbol, token_id in zip(symbols, ids):
            token_id = self.unk_id if token_id is None else token_id
            if token_id is not None:
                kept.append(token_id)
                spans.append((byte_pos, byte_pos + len(symbol)))
            byte_pos += len(symbol)
        entry = SpannedIds(kept)
        entry.spans = tuple(spans)
        self.has_spanned = True
        return entry

    def offsets(
        self, pieces: list[str], entries: list[Entry], ids: list[int], base: int
    ) -> list[tuple[int, int]]:
        """Character offsets (plus `base`) of the tokens `ids` of consecutive pieces (one text segment).

        A token holding part of a multi-byte character spans that whole character, as in the reference (two tokens
        may then share it). Counting S = characters that start in the tokens so far: a token ends at S (after its
        last started character, or after the character it continues) and starts at the previous S, minus one if
        its first byte continues a character. Only C-level loops: this is the hot path of return_offsets_mapping."""
        if self.has_spanned and any(isinstance(e, SpannedIds) for e in entries):
            return self._offsets_with_spans(pieces, entries, base)
        bounds = list(itertools.accumulate(map(self.char_starts.__getitem__, ids), initial=base))
        starts = map(operator.sub, bounds, map(self.begins_inside_char.__getitem__, ids))
        return list(zip(starts, itertools.islice(bounds, 1, None)))

    def _offsets_with_spans(
        self, pieces: list[str], entries: list[Entry], base: int
    ) -> list[tuple[int, int]]:
        # Pieces with out-of-vocabulary symbols (toy vocabularies only): walk the bytes.
        out = []
        for piece, entry in zip(pieces, entries):
            char_at = [i for i, ch in enumerate(piece) for _ in ch.encode("utf-8")]
            spans = getattr(entry, "spans", None)
            if spans is None:
                ends = list(itertools.accumulate(len(self._id_to_token[i]) for i in entry))
                spans = tuple(zip([0, *ends[:-1]], ends))
            out += [(base + char_at[a], base + char_at[b - 1] + 1) for a, b in spans]
            base += len(piece)
        return out
