"""SentencePiece text normalisation: the precompiled charsmap (a Darts double-array trie of replacement rules), in
the two flavours DeBERTa v2/v3 users meet, each with the alignment of normalised characters to original ones.

* `normalize_spm`: SentencePiece's own `Normalizer::Normalize` (normalizer.cc), what `sentencepiece`, transformers'
  slow `DebertaV2Tokenizer` and Microsoft's code run: at each position the *longest* rule that matches the UTF-8
  bytes, else one character copied; then spaces: leading and trailing ones dropped, runs collapsed to one, each
  written as "▁", and a "▁" (dummy prefix) put in front.
* `normalize_fast`: the chain transformers' `DebertaV2TokenizerFast` runs (`tokenizers`' normalizers Strip,
  Precompiled, Replace(" {2,}", " "), then the Metaspace pre-tokenizer). Its Precompiled step differs from
  SentencePiece: it walks extended grapheme clusters, and a cluster shorter than 6 bytes whose first character(s)
  match a rule is replaced *whole* by the *shortest* matching rule (so "ｅ\u0301" loses its accent); longer
  clusters are mapped character by character. Its alignments follow `NormalizedString::transform`, quirks
  included (characters removed at the start of a text shift the alignment of everything after them).

Alignments are lists with, for each normalised character, the index of the original character it comes from;
offsets of a token covering normalised characters [a, b) are (align[a], align[b - 1] + 1), as in `tokenizers`.

The trie is not expanded into a Python dict (~225k rules, seconds to build): rules are looked up by walking the
double array, and only where a rule can match. Which positions those are is computed once per charsmap with NumPy
from the trie's first two levels of characters: a rule can only start at a character that is a one-character rule
or the first character of a longer rule followed by a possible second character (a combining mark, a Hangul vowel
...). Everywhere else text is copied, at regex (C) speed.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import regex

from deberta_np.errors import TokenizerError

SPACE_SYMBOL = "\u2581"  # "▁", SentencePiece's visible space
# Unicode White_Space: what Rust's char::is_whitespace (tokenizers' Strip normalizer) removes.
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# Extended grapheme clusters (UAX #29), for the fast tokenizer's Precompiled step.
_GRAPHEME = regex.compile(r"\X")
# A character with this Grapheme_Cluster_Break joins the cluster of the character before it ...
_JOINS_PREVIOUS = regex.compile(r"[\p{GCB=Extend}\p{GCB=SpacingMark}\p{GCB=ZWJ}]")
# ... and one with these may pull the next character into its cluster (Prepend), or sit inside a longer cluster
# through rules that look further back (Extend/ZWJ before an Indic consonant or a pictograph).
_JOINS_NEXT = regex.compile(r"[\p{GCB=Prepend}\p{GCB=Extend}\p{GCB=ZWJ}]")
_ALONE = regex.compile(r"[\p{GCB=Control}\p{GCB=LF}]")  # always a cluster of its own (GB4, GB5)
_PREPEND = regex.compile(r"\p{GCB=Prepend}")
_OTHER = regex.compile(r"\p{GCB=Other}")
_RUN_OF_SPACES = re.compile(" {2,}")  # stdlib re: faster on simple patterns


class DoubleArray:
    """A Darts-clone double-array trie (the format of SentencePiece's `precompiled_charsmap`).

    Each 32-bit unit holds a label (bits 0-7, bit 31 set on leaf units), a has-leaf flag (bit 8) and the offset
    to the children (bits 10-31, shifted left by 8 when bit 9 is set); a leaf unit holds a value (bits 0-30).
    Walking byte c from a node at base b leads to the unit at b ^ c, valid if its label is c."""

    def __init__(self, units: list[int], source: str = "precompiled_charsmap") -> None:
        self.units = units
        self.source = source

    def prefix_values(self, text: str, start: int, first_only: bool) -> list[tuple[int, int]]:
        """(characters, value) of each key that is a prefix of text[start:] (whole characters), shortest first;
        with `first_only` stop at the first (`commonPrefixSearch` over the UTF-8 bytes)."""
        units = self.units
        n = len(units)
        unit = units[0]
        node = (unit >> 10) << ((unit & 0x200) >> 6)
        found = []
        for j in range(start, len(text)):
            for b in text[j].encode("utf-8"):
                node ^= b
                if node >= n:
                    return found
                unit = units[node]
                if unit & 0x800000FF != b:
                    return found
                node ^= (unit >> 10) << ((unit & 0x200) >> 6)
            if unit & 0x100:  # has a leaf: a key ends after this character
                if node >= n:
                    raise TokenizerError(f"{self.source}: precompiled_charsmap trie points past its end")
                found.append((j + 1 - start, units[node] & 0x7FFFFFFF))
                if first_only:
                    return found
        return found


class Charsmap:
    """A `precompiled_charsmap`: `<uint32 trie size><trie units><NUL-terminated replacement strings>`."""

    def __init__(self, blob: bytes, source: str = "precompiled_charsmap") -> None:
        self.blob = bytes(blob)
        self.source = source
        if len(blob) < 4:
            raise TokenizerError(f"{source}: precompiled_charsmap shorter than its 4-byte header")
        (size,) = struct.unpack_from("<I", blob, 0)
        if size % 4 or size == 0 or 4 + size > len(blob):
            raise TokenizerError(
                f"{source}: precompiled_charsmap trie size {size} does not fit its {len(blob)} bytes"
            )
        self.trie = DoubleArray(list(struct.unpack_from(f"<{size // 4}I", blob, 4)), source)
        self.strings = blob[4 + size :]
        self._values: dict[int, str] = {}  # string offset -> replacement (at most one per offset in the blob)
        try:
            self._first_level()
        except (IndexError, ValueError, OverflowError) as error:  # a corrupt trie points anywhere
            if isinstance(error, TokenizerError):
                raise
            raise TokenizerError(
                f"{source}: precompiled_charsmap is corrupt ({type(error).__name__}: {error})"
            ) from None

    # --- rules ----------------------------------------------------------------------------------------------------

    def _value(self, offset: int) -> str:
        text = self._values.get(offset)
        if text is None:
            end = self.strings.find(b"\0", offset)
            if offset >= len(self.strings) or end < 0:
                raise TokenizerError(
                    f"{self.source}: precompiled_charsmap rule points outside its strings ({offset})"
                )
            text = self.strings[offset:end].decode("utf-8", "replace")
            self._values[offset] = text
        return text

    def longest(self, text: str, i: int) -> tuple[int, str] | None:
        """SentencePiece: the longest rule matching text[i:], as (characters matched, replacement)."""
        found = self.trie.prefix_values(text, i, first_only=False)
        return (found[-1][0], self._value(found[-1][1])) if found else None

    def shortest(self, text: str) -> str | None:
        """tokenizers' `Precompiled::transform`: the replacement of the *shortest* rule that is a prefix of `text`."""
        found = self.trie.prefix_values(text, 0, first_only=True)
        return self._value(found[0][1]) if found else None

    def positions(self, text: str) -> list[int]:
        """Ascending positions where a rule may match: a one-character rule's character, or the first character
        of a longer rule before a possible second character."""
        single = self.single
        out = [m.start() for m in self._scan_single.finditer(text)] if self._scan_single else []
        out = [i for i in out if text[i] in single]  # drop the superset's astral extras
        if self._scan_second is not None:
            firsts = self.firsts
            extra = [m.start() - 1 for m in self._scan_second.finditer(text, 1)]
            extra = [i for i in extra if text[i] in firsts and text[i + 1] in self.seconds]
            if extra:
                out = sorted(set(out).union(extra))
        return out

    # --- where rules can start --------------------------------------------------------------------------------------

    def _first_level(self) -> None:
        """Enumerate the characters of the trie's first level (and the second characters of longer rules) with
        vectorised walks over all byte labels, then build the candidate-position regex."""
        units = np.asarray(self.trie.units, dtype=np.int64)
        n = len(units)

        def children(nodes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            base = nodes ^ ((units[nodes] >> 10) << ((units[nodes] & 0x200) >> 6))
            cand = base[:, None] ^ labels[None, :]
            inside = cand < n
            ok = inside & ((units[np.where(inside, cand, 0)] & 0x800000FF) == labels[None, :])
            rows, cols = np.nonzero(ok)
            return rows, labels[cols], cand[rows, cols]

        lead = np.array([*range(1, 0x80), *range(0xC2, 0xF5)], dtype=np.int64)
        cont = np.arange(0x80, 0xC0, dtype=np.int64)

        def one_char(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """All (source index, code point, node) reached from `nodes` by one whole UTF-8 character."""
            rows, bytes_, reached = children(nodes, lead)
            need = np.where(bytes_ < 0x80, 0, np.where(bytes_ < 0xE0, 1, np.where(bytes_ < 0xF0, 2, 3)))
            cps = np.where(
                need == 0, bytes_, bytes_ & np.where(need == 1, 0x1F, np.where(need == 2, 0x0F, 0x07))
            )
            done_src, done_cp, done_node = [rows[need == 0]], [cps[need == 0]], [reached[need == 0]]
            src, cp, node, need = rows[need > 0], cps[need > 0], reached[need > 0], need[need > 0]
            while len(node):
                r, b, reached = children(node, cont)
                src, cp, node, need = src[r], (cp[r] << 6) | (b & 0x3F), reached, need[r] - 1
                done_src.append(src[need == 0])
                done_cp.append(cp[need == 0])
                done_node.append(node[need == 0])
                src, cp, node, need = src[need > 0], cp[need > 0], node[need > 0], need[need > 0]
            return np.concatenate(done_src), np.concatenate(done_cp), np.concatenate(done_node)

        # Nodes are positions of units; the root's is 0.
        _, first_cp, first_node = one_char(np.array([0], dtype=np.int64))
        unit = units[first_node]
        has_leaf = (unit & 0x100) != 0
        values = units[first_node ^ ((unit >> 10) << ((unit & 0x200) >> 6))] & 0x7FFFFFFF
        self.single: dict[str, str] = {
            chr(int(c)): self._value(int(v)) for c, v, leaf in zip(first_cp, values, has_leaf) if leaf
        }
        src, second_cp, _ = one_char(first_node)
        firsts = {chr(int(c)) for c in first_cp[np.unique(src)]}
        seconds = {chr(int(c)) for c in np.unique(second_cp)}
        self.firsts = frozenset(firsts)
        self.seconds = frozenset(seconds)
        # Scanning regexes (stdlib `re`, which is several times faster than `regex` on big classes). Astral
        # characters share one range: `re` tests astral ranges one by one, and such characters are rare, so the
        # class is a superset and `positions` filters.
        self._scan_single = re.compile(_bmp_class(self.single)) if self.single else None
        self._scan_second = re.compile(_bmp_class(seconds)) if seconds else None
        # Whether a candidate can be handled as a one-character cluster from its own class (see normalize_fast).
        self._alone = {c for c in (*self.single, *firsts) if _ALONE.match(c)}
        self._other = {c for c in (*self.single, *firsts) if _OTHER.match(c)}
        # SentencePiece keeps spaces inside one replacement ("a  b" stays); with no such rule the whole-string
        # collapse in normalize_spm is exact.
        self.collapse_is_exact = (
            not any("  " in v for v in self.single.values()) and b"  " not in self.strings
        )


def _bmp_class(chars: object) -> str:
    """A character class of `chars`' BMP members as ranges, plus every astral character."""
    ranges: list[list[int]] = []
    for cp in sorted(ord(c) for c in chars if ord(c) < 0x10000):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\u{a:04X}" if a == b else f"\\u{a:04X}-\\u{b:04X}" for a, b in ranges)
    return f"[{body}\\U00010000-\\U0010FFFF]"


# --- SentencePiece ---------------------------------------------------------------------------------------------------


def charsmap_chunks(text: str, charsmap: Charsmap | None) -> list[tuple[int, int, str]]:
    """SentencePiece's rule matches in `text`, left to right, longest first: (start, end, replacement)."""
    if charsmap is None:
        return []
    out = []
    pos = 0
    single, firsts, seconds = charsmap.single, charsmap.firsts, charsmap.seconds
    n = len(text)
    for i in charsmap.positions(text):
        if i < pos:
            continue  # inside the previous (multi-character) match
        c = text[i]
        if c not in firsts or i + 1 >= n or text[i + 1] not in seconds:
            out.append((i, i + 1, single[c]))
            pos = i + 1
            continue
        found = charsmap.longest(text, i)
        if found is not None:
            out.append((i, i + found[0], found[1]))
            pos = i + found[0]
    return out


def normalize_spm(
    text: str,
    charsmap: Charsmap | None,
    *,
    add_dummy_prefix: bool = True,
    remove_extra_whitespaces: bool = True,
    escape_whitespaces: bool = True,
    with_alignment: bool = False,
) -> tuple[str, list[int] | None]:
    """SentencePiece's normalisation of `text`; with `with_alignment`, the original index of each character.

    The alignment follows the fast tokenizer's conventions (a replacement's characters map to the replaced ones in
    order, extra ones to the last; of a collapsed run of spaces the last one is kept; the dummy prefix maps to the
    first character); the tokenizer uses it only where the fast normalisation gives another string."""
    chunks = charsmap_chunks(text, charsmap)
    space = SPACE_SYMBOL if escape_whitespaces else " "
    if not with_alignment and remove_extra_whitespaces and (charsmap is None or charsmap.collapse_is_exact):
        if chunks:
            parts, pos = [], 0
            for a, b, r in chunks:
                parts.append(text[pos:a])
                parts.append(r)
                pos = b
            parts.append(text[pos:])
            text = "".join(parts)
        words = text.split(" ")
        if "" in words:
            words = [w for w in words if w]
        if not words:
            return "", None
        body = space.join(words)
        return (space + body if add_dummy_prefix else body), None
    return _normalize_spm_general(
        text, chunks, add_dummy_prefix, remove_extra_whitespaces, space, with_alignment
    )


def _normalize_spm_general(
    text: str,
    chunks: list[tuple[int, int, str]],
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    space: str,
    with_alignment: bool,
) -> tuple[str, list[int] | None]:
    """normalizer.cc's loop, step by step (a rule match, or one copied character)."""
    steps: list[tuple[int, int, str]] = []
    pos = 0
    for a, b, r in chunks:
        steps += [(k, k + 1, text[k]) for k in range(pos, a)]
        steps.append((a, b, r))
        pos = b
    steps += [(k, k + 1, text[k]) for k in range(pos, len(text))]
    k = 0
    if remove_extra_whitespaces:  # leading steps that normalise to exactly one space
        while k < len(steps) and steps[k][2] == " ":
            k += 1
    if k == len(steps):
        return "", [] if with_alignment else None
    out: list[str] = []
    align: list[int] = []
    is_prev_space = remove_extra_whitespaces
    for a, b, r in steps[k:]:
        if is_prev_space:
            r = r.lstrip(" ")
        if r:
            for j, ch in enumerate(r):
                out.append(space if ch == " " else ch)
                align.append(a + min(j, b - a - 1))
            is_prev_space = r.endswith(" ")
        if not remove_extra_whitespaces:
            is_prev_space = False
    if add_dummy_prefix and out:
        out.insert(0, space)
        align.insert(0, align[0])
    if remove_extra_whitespaces:
        while out and out[-1] == space:
            out.pop()
            align.pop()
    return "".join(out), (align if with_alignment else None)


# --- tokenizers (the fast tokenizer) -------------------------------------------------------------------------------


def strip_white_space(text: str) -> tuple[int, int]:
    """tokenizers' Strip normalizer: the span of `text` without leading and trailing White_Space."""
    a, b = 0, len(text)
    while a < b and text[a] in WHITE_SPACE:
        a += 1
    while b > a and text[b - 1] in WHITE_SPACE:
        b -= 1
    return a, b


def precompiled_fast(text: str, align: list[int], charsmap: Charsmap | None) -> tuple[str, list[int]]:
    """tokenizers' Precompiled normalizer on `text` (whose characters come from `align`)."""
    if charsmap is None:
        return text, align
    ops = _grapheme_ops(text, charsmap)
    if not ops:
        return text, align
    if all(end - start == 1 and len(new) == 1 for start, end, new in ops):
        # The usual case (newlines, tabs, full-width forms): one character for one, alignment unchanged.
        chars = list(text)
        for start, _, new in ops:
            chars[start] = new
        return "".join(chars), align
    # Build tokenizers' transformation list -- (character, change): 0 replaces the next original character,
    # 1 is inserted (sharing the alignment of the character before), -n replaces one and removes n more -- with
    # runs of unchanged characters kept as counts. As in `Precompiled::normalize`'s `replace`, a replacement
    # writes its characters with change 0, then marks the surplus at its end as inserted, or adds the shortfall
    # to the *last* transformation, whichever replacement wrote it (so removing the character after a
    # one-to-two replacement turns that replacement's inserted character into one that replaces it). With no
    # transformation yet (characters removed at the very start) the shortfall is lost.
    entries: list = []  # (i, j): text[i:j] unchanged; [character, change]: one transformation
    pos = 0
    for start, end, new in ops:
        if start > pos:
            if start - pos > 1:
                entries.append((pos, start - 1))
            entries.append([text[start - 1], 0])
        diff = len(new) - (end - start)
        entries += [[c, 0] for c in new]
        if diff > 0:
            for e in entries[-diff:]:
                e[1] = 1
        elif diff < 0 and entries:
            entries[-1][1] += diff  # a run of unchanged characters always ends with a single entry
        pos = end
    if pos < len(text):
        if len(text) - pos > 1:
            entries.append((pos, len(text) - 1))
        entries.append([text[-1], 0])
    # Replay `NormalizedString::transform_range` over the entries.
    out: list[str] = []
    new_align: list[int] = []
    offset = 0  # index of the next original character a transformation consumes
    for e in entries:
        if isinstance(e, tuple):
            n = e[1] - e[0]
            out.append(text[e[0] : e[1]])
            new_align += align[offset : offset + n]
            offset += n
            continue
        ch, change = e
        out.append(ch)
        if change > 0:
            new_align.append(align[offset - 1] if offset > 0 else 0)
        else:
            new_align.append(align[min(offset, len(align) - 1)])
            offset += 1 - change
    normalized = "".join(out)
    return normalized, new_align


def _grapheme_ops(text: str, charsmap: Charsmap) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every change the fast tokenizer's Precompiled step makes, in order."""
    ops: list[tuple[int, int, str]] = []
    single, alone, other = charsmap.single, charsmap._alone, charsmap._other
    n = len(text)
    pos = 0  # end of the last handled cluster: a known cluster boundary
    for i in charsmap.positions(text):
        if i < pos:
            continue
        c = text[i]
        if c == "\r" and i + 1 < n and text[i + 1] == "\n":
            start, end = i, i + 2
        elif c in alone or (
            c in other
            and not (i + 1 < n and _JOINS_PREVIOUS.match(text, i + 1))
            and not (i > 0 and _JOINS_NEXT.match(text, i - 1))
        ):
            start, end = i, i + 1
        else:
            start, end = _cluster_at(text, i, pos)
        cluster = text[start:end]
        if end - start == 1:
            if c in single:
                ops.append((i, i + 1, single[c]))
            pos = end
            continue
        if len(cluster.encode("utf-8")) < 6:
            new = charsmap.shortest(cluster)
            if new is not None:
                ops.append((start, end, new))
                pos = end
                continue
        ops.extend((k, k + 1, single[text[k]]) for k in range(max(start, pos), end) if text[k] in single)
        pos = end
    return ops


def _cluster_at(text: str, i: int, known: int) -> tuple[int, int]:
    """The extended grapheme cluster containing text[i]: step back to a position that is surely a cluster
    boundary (or to `known`, one), then let `\\X` cut clusters forward."""
    start = i
    while start > known:
        prev, cur = text[start - 1], text[start]
        if prev == "\r":
            if cur != "\n":
                break  # GB4
        elif _ALONE.match(prev) or _ALONE.match(cur):
            break  # GB4, GB5
        # Nothing joins an ASCII character to what follows it except Extend/SpacingMark/ZWJ after it (GB9,
        # GB9a), nor joins one to what precedes it except a Prepend character before it (GB9b).
        elif (prev.isascii() and not _JOINS_PREVIOUS.match(cur)) or (
            cur.isascii() and not _PREPEND.match(prev)
        ):
            break
        start -= 1
    while True:
        m = _GRAPHEME.match(text, start)
        if m.end() > i:
            return start, m.end()
        start = m.end()


def collapse_spaces(text: str, align: list[int]) -> tuple[str, list[int]]:
    """tokenizers' Replace(" {2,}", " "): the kept space takes the alignment of the run's last space."""
    if "  " not in text:
        return text, align
    out: list[str] = []
    new_align: list[int] = []
    pos = 0
    for m in _RUN_OF_SPACES.finditer(text):
        a, b = m.span()
        out.append(text[pos:a])
        new_align += align[pos:a]
        out.append(" ")
        new_align.append(align[b - 1])
        pos = b
    out.append(text[pos:])
    new_align += align[pos:]
    return "".join(out), new_align


def metaspace(text: str, align: list[int] | None, prepend: bool = True) -> tuple[str, list[int] | None]:
    """tokenizers' Metaspace pre-tokenizer (prepend_scheme "always"): spaces become "▁", and a "▁" sharing the
    first character's alignment goes in front unless the text already starts with one."""
    text = text.replace(" ", SPACE_SYMBOL)
    if prepend and text and not text.startswith(SPACE_SYMBOL):
        text = SPACE_SYMBOL + text
        if align is not None:
            align = [align[0], *align]
    return text, align


def normalize_fast(text: str, charsmap: Charsmap | None) -> tuple[str, list[int]]:
    """Strip, Precompiled and Replace, as the fast tokenizer runs them on one text segment (before Metaspace)."""
    a, b = strip_white_space(text)
    stripped, align = text[a:b], list(range(a, b))
    stripped, align = precompiled_fast(stripped, align, charsmap)
    return collapse_spaces(stripped, align)
