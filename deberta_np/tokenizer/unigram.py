"""SentencePiece Unigram segmentation: the Viterbi best path over a model's pieces, with byte fallback.

The best segmentation of a normalised text maximises the sum of the pieces' log-probabilities (scores). Positions
are visited left to right; `best[j]` is the best score of a path ending at character j, and each piece that
matches at i offers `best[i] + score` to `best[i + len]`, replacing it only if strictly larger (so on a tie the
path whose last piece starts earliest wins). A position where no one-character piece matches also offers an
unknown-character node scored `min(score) - 10`. Backtracking from the end gives the pieces. This is
SentencePiece's `EncodeOptimized` and `tokenizers`' `encode_optimized`, which differ in three ways, all kept:

* arithmetic: SentencePiece adds and compares path scores in float32 (checked against `sentencepiece` on ties
  such as "yy"+"yyyyy" vs "yyyyy"+"yy", which the rounding of the running score decides); tokenizers uses
  float64 throughout;
* the unknown node: SentencePiece with `byte_fallback` writes an unknown character as its UTF-8 bytes (pieces
  `<0x..>`); tokenizers writes `[UNK]`, one for each run of unknown characters;
* the pieces that can match: SentencePiece matches NORMAL and USER_DEFINED pieces (the latter with a bonus that
  always selects them); tokenizers matches every piece of the vocabulary, control and byte pieces included.

Speed: no piece contains "▁" after its first character (checked at load), so every "▁" starts a new piece and
text splits into words that are segmented independently and cached. With float64 that is exact. With float32 the
rounding of the running score could, in principle, change a decision inside a word where two paths score within
a few float32 ulps of each other; each cached word therefore records its smallest decision margin (computed
exactly), and a word whose margin is below the rounding error the running score can have is re-segmented with
SentencePiece's float32 arithmetic from the actual running score.
"""

from __future__ import annotations

import math
import operator
import struct
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from deberta_np.errors import TokenizerError
from deberta_np.tokenizer.bpe import evict_older_half
from deberta_np.tokenizer.sentencepiece_model import BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED

SPACE_SYMBOL = "\u2581"
UNK_PENALTY = 10.0
DEFAULT_CACHE_SIZE = 200_000  # words; beyond it the older half is dropped
MAX_CACHED_WORD = 64  # characters; longer "words" (unspaced scripts) rarely repeat
FLT_MIN = 1.1754943508222875e-38  # SentencePiece's initial max_score_ (the smallest normal float32)

_F32 = struct.Struct("<f")
PREFIX = (-1, 0.0)  # marks a string that only starts pieces


def f32(x: float) -> float:
    """x rounded to float32 (round to nearest even), as a Python float."""
    return _F32.unpack(_F32.pack(x))[0]


class Word(NamedTuple):
    """The segmentation of one word: output ids with the first and last character (inclusive) of the word each
    comes from and token strings, plus what the float32 check needs (the Viterbi path's scores, its exact total,
    the smallest margin)."""

    ids: tuple[int, ...]  # tuples, not lists: a cache of tuples of atoms is untracked by the cyclic GC, whose
    starts: tuple[int, ...]  # full collections would otherwise rescan every cached word, many times per pass
    lasts: tuple[int, ...]
    tokens: tuple[str, ...]
    path_scores: tuple[float, ...]
    total: float
    margin: float
    safe: float  # margin / (characters + 2): the largest float32 ulp of the running score this word tolerates


_TOTAL = operator.itemgetter(5)
_SAFE = operator.itemgetter(7)


class Unigram:
    """A Unigram model over `pieces` [(piece, score, type)].

    `sentencepiece=True`: SentencePiece's semantics (float32 path scores, byte fallback when `byte_fallback`,
    only NORMAL/USER_DEFINED pieces match). `sentencepiece=False`: tokenizers' (float64, `[UNK]` for runs of
    unknown characters, every piece matches)."""

    def __init__(
        self,
        pieces: Sequence[tuple[str, float, int]],
        unk_id: int,
        *,
        sentencepiece: bool = True,
        byte_fallback: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not 0 <= unk_id < len(pieces):
            raise TokenizerError(f"unk_id {unk_id} is not a piece id (0..{len(pieces) - 1})")
        self.sentencepiece = sentencepiece
        self.unk_id = unk_id
        self.cache_size = cache_size
        self.cache: dict[str, Word] = {}
        self._cache_lock = threading.Lock()  # eviction by two threads at once deleted a key twice
        normal_scores = [s for _, s, t in pieces if t == NORMAL]
        if sentencepiece:
            # model_interface.cc / unigram_model.cc: min and max over NORMAL pieces; max starts at FLT_MIN.
            min_score = min(normal_scores, default=0.0)
            self.max_score = max([FLT_MIN, *normal_scores])
            self.unk_score = f32(min_score - UNK_PENALTY)
            matchable = (NORMAL, USER_DEFINED)
        else:
            # tokenizers: min over the whole vocabulary, in float64.
            self.unk_score = min((s for _, s, _ in pieces), default=0.0) - UNK_PENALTY
            matchable = (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE)
        self.byte_fallback = sentencepiece and byte_fallback
        # piece string -> (id, score), the first id winning for duplicates; plus every proper prefix of a piece
        # that is not itself one, mapped to PREFIX, so that a scan can stop at the first string no piece extends.
        self.pieces: dict[str, tuple[int, float]] = {}
        for i, (piece, score, kind) in enumerate(pieces):
            if kind not in matchable or not piece or piece in self.pieces:
                continue
            if sentencepiece and kind == USER_DEFINED:
                # "User defined symbol receives extra bonus to always be selected" (length in UTF-8 bytes)
                score = len(piece.encode("utf-8")) * self.max_score - 0.1
            if SPACE_SYMBOL in piece[1:]:
                raise TokenizerError(
                    f"piece {i} ({piece!r}) has '\u2581' after its first character; deberta_np's word-by-word "
                    "segmentation needs every '\u2581' to start a piece"
                )
            self.pieces[piece] = (i, score)
        for piece in list(self.pieces):
            for k in range(len(piece) - 1, 0, -1):
                if piece[:k] in self.pieces:
                    break  # a piece (or a prefix already added), and so are all shorter prefixes
                self.pieces[piece[:k]] = PREFIX
        self.byte_ids: list[int] = []
        if self.byte_fallback:
            # SentencePiece's PieceToId("<0xXX>"), unknown id if the model lacks the byte piece
            index = {p: i for i, (p, _, t) in enumerate(pieces) if t == BYTE}
            self.byte_ids = [index.get(f"<0x{b:02X}>", unk_id) for b in range(256)]
        self.byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
        # score of each id as the Viterbi uses it (the unknown node's for the unknown id), for path scores
        self.scores = [0.0] * len(pieces)
        for piece_id, score in self.pieces.values():
            if piece_id >= 0:
                self.scores[piece_id] = score
        self.scores[unk_id] = self.unk_score

    # --- words -----------------------------------------------------------------------------------------------

    def word(self, word: str) -> Word:
        """The segmentation of `word` from a zero running score (cached)."""
        entry = self.cache.get(word)
        if entry is None:
            entry = self._segment(word, None)
            if len(word) <= MAX_CACHED_WORD:
                with self._cache_lock:
                    evict_older_half(self.cache, self.cache_size)
                    self.cache[word] = entry
        return entry

    def words(self, words: Sequence[str]) -> list[Word]:
        """Segment consecutive words of one normalised text, as one Viterbi pass over the whole text would."""
        get = self.cache.get
        if not self.sentencepiece:
            return [get(w) or self.word(w) for w in words]
        # A long word (unspaced text) is segmented once, in float32 from its running score, below: its exact
        # segmentation would almost surely be redone, since one near-tie among its many positions suffices.
        entries: list[Word | None] = [
            get(w) or (self.word(w) if len(w) <= MAX_CACHED_WORD else None) for w in words
        ]
        if not entries:
            return []
        # Float32 check. Scores are negative and every position can be reached at a cost of at most -unk_score
        # per character, so no path score (best score at a position) exceeds, in magnitude, the words' totals
        # plus that cost over the longest word. A float32 score of that magnitude is off by at most half an ulp
        # per stored addition (one per character at most), so a word whose every decision margin exceeds the
        # error of the two scores compared (plus slack: `safe` = margin / (characters + 2)) is decided as
        # float32 SentencePiece decides it.
        # (A long word's total is at least unk_score per character: every character alone is a path.)
        totals = sum(e.total if e is not None else self.unk_score * len(w) for w, e in zip(words, entries))
        magnitude = -totals - self.unk_score * (max(map(len, words)) + 2) + 1.0
        ulp = math.ldexp(1.0, math.frexp(magnitude)[1] - 24)
        if None not in entries and min(map(_SAFE, entries)) > ulp:  # type: ignore[arg-type]
            return entries  # type: ignore[return-value]
        # Re-segment the doubtful words from the running score SentencePiece has there: the float32 sum, in
        # order, of the path scores before them (np.add.accumulate adds sequentially in float32).
        entries = list(entries)
        running = np.float32(0.0)
        done = 0
        for k, e in enumerate(entries):
            if e is not None and e.safe > ulp:
                continue
            scores = [s for previous in entries[done:k] for s in previous.path_scores]  # type: ignore[union-attr]
            if scores:
                running = np.add.accumulate(np.array([running, *scores], dtype=np.float32))[-1]
            entries[k] = self._segment(words[k], float(running))
            done = k
        return entries  # type: ignore[return-value]

    # --- Viterbi ---------------------------------------------------------------------------------------------

    def _segment(self, word: str, running: float | None) -> Word:
        """Viterbi over `word`. running=None: exact arithmetic from 0 (sums of float32 scores of these
        magnitudes fit a double exactly), recording the smallest margin between the winner and the runner-up at
        any position. Otherwise SentencePiece's float32 arithmetic from the running score `running`."""
        n = len(word)
        exact = running is None
        # best[j]: best score of a path ending at j; -inf makes the first candidate win, as "unset" does.
        best = [0.0 if exact else running] + [-math.inf] * n
        second = [-math.inf] * (n + 1)  # runner-up at j (exact mode)
        start_of = [0] * (n + 1)
        id_of = [0] * (n + 1)
        get = self.pieces.get
        unk_id, unk_score = self.unk_id, self.unk_score
        pack, unpack = _F32.pack, _F32.unpack  # f32() inlined: a call per winner costs 20% of a long word
        for i in range(n):
            here = best[i]
            has_single = False
            j = i + 1
            found = get(word[i])
            while found is not None:
                piece_id, score = found
                if piece_id >= 0:
                    if j == i + 1:
                        has_single = True
                    # float32: rounding is monotonic and best[j] is a float32, so a sum that does not beat
                    # it in double cannot once rounded; only a possible winner pays for the rounding.
                    candidate = here + score
                    if candidate > best[j] and (exact or (candidate := unpack(pack(candidate))[0]) > best[j]):
                        second[j] = best[j]  # the old winner (never below the runner-up)
                        best[j] = candidate
                        start_of[j] = i
                        id_of[j] = piece_id
                    elif candidate > second[j]:
                        second[j] = candidate
                if j == n:
                    break
                j += 1
                found = get(word[i:j])
            if not has_single:
                j = i + 1
                # SentencePiece adds the float32 unknown score in float32; tokenizers in float64.
                candidate = here + unk_score
                if candidate > best[j] and (exact or (candidate := unpack(pack(candidate))[0]) > best[j]):
                    second[j] = best[j]
                    best[j] = candidate
                    start_of[j] = i
                    id_of[j] = unk_id
                elif candidate > second[j]:
                    second[j] = candidate
        # backtrack
        spans = []
        j = n
        while j > 0:
            i = start_of[j]
            spans.append((i, j, id_of[j]))
            j = i
        spans.reverse()
        margin = min(map(operator.sub, best[1:], second[1:]), default=math.inf) if exact else math.inf
        return self._output(word, spans, best[n] if n else 0.0, margin)

    def _output(self, word: str, spans: list, total: float, margin: float) -> Word:
        ids: list[int] = []
        starts: list[int] = []
        lasts: list[int] = []
        tokens: list[str] = []
        unk_id = self.unk_id
        safe = margin / (len(word) + 2)
        span_starts, span_ends, span_ids = zip(*spans) if spans else ((), (), ())
        path_scores = tuple(map(self.scores.__getitem__, span_ids))
        if unk_id not in span_ids:  # the usual case, without per-piece Python work
            tokens = tuple(map(word.__getitem__, map(slice, span_starts, span_ends)))
            lasts = tuple(map((-1).__add__, span_ends))
            return Word(span_ids, span_starts, lasts, tokens, path_scores, total, margin, safe)
        k = 0
        while k < len(spans):
            i, j, piece_id = spans[k]
            if piece_id != unk_id:
                ids.append(piece_id)
                starts.append(i)
                lasts.append(j - 1)
                tokens.append(word[i:j])
            elif self.byte_fallback:
                for b in word[i:j].encode("utf-8"):  # each byte piece covers the character it comes from
                    ids.append(self.byte_ids[b])
                    starts.append(i)
                    lasts.append(j - 1)
                    tokens.append(self.byte_tokens[b])
            else:
                if not self.sentencepiece:  # tokenizers fuses a run of unknown characters into one token
                    while k + 1 < len(spans) and spans[k + 1][2] == unk_id:
                        k += 1
                        j = spans[k][1]
                ids.append(unk_id)
                starts.append(i)
                lasts.append(j - 1)
                tokens.append(word[i:j])
            k += 1
        return Word(tuple(ids), tuple(starts), tuple(lasts), tuple(tokens), path_scores, total, margin, safe)
