"""Assemble the tokenizer conformance corpus (~6 MB, many languages and scripts) from text on a stock Debian machine.

Sources, all read-only and listed with their sha256 in the goldens so a missing or changed file is reported:

* English prose: every licence in /usr/share/common-licenses, and a fixed list of man pages (groff source: prose
  mixed with markup, escapes, tables) from /usr/share/man;
* translations: message catalogues (`.mo`) of fixed GNU/Debian programs in ~40 languages (Cyrillic, Greek, CJK,
  Hangul, Arabic, Hebrew, Persian, Thai, Georgian, Armenian, Devanagari and other Indic scripts, Ethiopic, Khmer,
  Myanmar, Sinhala, Latin with diacritics...), read with a small parser of the GNU `.mo` format; each catalogue
  contributes its translated strings (`msgstr`), which are real text in that language (with format specifiers,
  newlines, tabs and punctuation kept).

Each source becomes a list of *documents*: paragraphs grouped into chunks of at most CHUNK_CHARS characters, cut at
line ends. The corpus is deterministic for given source files (sorted names, no randomness).

Run `python -m conformance.tokenizer_corpus` to write conformance/corpus/tokenizer/*.txt (gitignored) and print a
summary; the golden generator and the checker call `load_corpus()` directly.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

CHUNK_CHARS = 2000
COMMON_LICENSES = Path("/usr/share/common-licenses")
MAN_PAGES = [
    "man1/bash.1.gz", "man1/git.1.gz", "man1/git-rebase.1.gz", "man1/git-log.1.gz", "man1/dpkg.1.gz",
    "man8/apt-get.8.gz", "man1/grep.1.gz", "man1/ls.1.gz", "man1/tar.1.gz", "man1/find.1.gz", "man1/perl.1.gz",
    "man1/ssh.1.gz", "man7/regex.7.gz", "man7/unicode.7.gz", "man7/utf-8.7.gz", "man1/psql.1.gz", "man1/make.1.gz",
    "man1/cmake.1.gz", "man1/gpg.1.gz", "man1/man.1.gz", "de/man1/man.1.gz", "fr/man1/man.1.gz",
    "ja/man1/man.1.gz", "ru/man1/man.1.gz", "pl/man1/man.1.gz", "zh_CN/man1/man.1.gz", "ko/man1/man.1.gz",
    "uk/man1/passwd.1.gz", "de/man1/dpkg.1.gz", "fr/man1/dpkg.1.gz",
]  # fmt: skip
# (language, catalogue) pairs; budget per language keeps the corpus balanced.
MO_LANGUAGES = [
    "ru", "uk", "ja", "zh_CN", "zh_TW", "ko", "el", "he", "ar", "fa", "th", "ka", "hy", "hi", "bn", "ta", "te",
    "ml", "mr", "pa", "gu", "am", "km", "my", "si", "ne", "vi", "de", "fr", "es", "pl", "tr", "bg", "sr", "be",
    "eo", "lt", "cs", "pt_BR", "ga",
]  # fmt: skip
MO_DOMAINS = ["coreutils", "git", "bash", "grep", "glib20", "gtk20", "Linux-PAM", "dpkg", "apt", "gdk-pixbuf",
              "at-spi2-core", "findutils", "diffutils", "iso_3166-1", "iso_639-3"]  # fmt: skip
MO_BUDGET_CHARS = 90_000  # per language


@dataclass(frozen=True)
class Source:
    path: str
    sha256: str
    documents: tuple[str, ...]


def read_mo(path: Path) -> list[str]:
    """Translated strings of a GNU gettext `.mo` catalogue (plural forms split on NUL; the header entry skipped)."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    if struct.unpack(endian + "I", data[:4])[0] != 0x950412DE:
        raise ValueError(f"{path}: not a .mo file")
    count, _orig_table, trans_table = struct.unpack(endian + "3I", data[8:20])
    out = []
    for i in range(count):
        length, offset = struct.unpack(endian + "2I", data[trans_table + 8 * i : trans_table + 8 * i + 8])
        text = data[offset : offset + length].decode("utf-8", errors="replace")
        if (i == 0 and text.startswith("Project-Id-Version")) or "Content-Type:" in text[:300]:
            continue
        out += [t for t in text.split("\x00") if t.strip()]
    return out


def chunk(paragraphs: list[str], limit: int = CHUNK_CHARS) -> list[str]:
    """Group paragraphs into documents of at most `limit` characters (a longer paragraph is cut at line ends)."""
    docs, current = [], ""
    for para in paragraphs:
        pieces = [para]
        if len(para) > limit:
            pieces, cur = [], ""
            for line in para.splitlines(keepends=True):
                if cur and len(cur) + len(line) > limit:
                    pieces.append(cur)
                    cur = ""
                cur += line
            pieces.append(cur)
        for piece in pieces:
            if current and len(current) + len(piece) + 2 > limit:
                docs.append(current)
                current = ""
            current = piece if not current else current + "\n\n" + piece
    if current:
        docs.append(current)
    return docs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_paths() -> list[tuple[str, Path]]:
    """(kind, path) of every source file the corpus wants, present or not, in corpus order."""
    out = [("text", p) for p in sorted(COMMON_LICENSES.iterdir()) if p.is_file() and not p.is_symlink()] if (
        COMMON_LICENSES.is_dir()
    ) else []  # fmt: skip
    out += [("man", Path("/usr/share/man") / name) for name in MAN_PAGES]
    for lang in MO_LANGUAGES:
        out += [("mo", Path("/usr/share/locale") / lang / "LC_MESSAGES" / f"{d}.mo") for d in MO_DOMAINS]
    return out


def load_corpus() -> tuple[list[Source], list[str]]:
    """The corpus as (sources, missing): each present source with its documents; `missing` lists absent files.

    The .mo budget is applied per language in MO_DOMAINS order, so the set of documents depends only on which files
    exist and their bytes (both recorded by the generator)."""
    sources, missing = [], []
    budget: dict[str, int] = {}
    for kind, path in source_paths():
        if not path.is_file():
            if kind != "mo":  # catalogues are optional fillers: only the ones used are recorded
                missing.append(str(path))
            continue
        if kind == "text":
            text = path.read_text(encoding="utf-8", errors="replace")
            docs = chunk(text.split("\n\n"))
        elif kind == "man":
            text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
            docs = chunk(text.split("\n.PP\n"))
        else:
            lang = path.parent.parent.name
            left = MO_BUDGET_CHARS - budget.get(lang, 0)
            if left <= 0:
                continue
            messages, taken = [], 0
            for m in read_mo(path):
                if taken >= left:
                    break
                messages.append(m)
                taken += len(m)
            budget[lang] = budget.get(lang, 0) + taken
            docs = chunk(messages)
        docs = [d for d in docs if d]
        if docs:  # a catalogue beyond its language's budget contributes nothing and is not recorded
            sources.append(Source(str(path), _sha256(path), tuple(docs)))
    return sources, missing


def short_documents(limit: int, min_chars: int = 20, max_chars: int = 400) -> list[str]:
    """`limit` distinct real paragraphs of the corpus (whitespace collapsed, min_chars..max_chars characters),
    spread evenly over it in corpus order (English licences and man pages, then ~40 languages): the documents of
    the batch-inference tests and benchmarks (tests/test_scale_out.py, benchmarks/scale_out.py)."""
    sources, _ = load_corpus()
    seen: dict[str, None] = {}
    for source in sources:
        for document in source.documents:
            for paragraph in document.split("\n\n"):
                text = " ".join(paragraph.split())
                if min_chars <= len(text) <= max_chars:
                    seen.setdefault(text)
    paragraphs = list(seen)
    if len(paragraphs) < limit:
        raise ValueError(
            f"the corpus has {len(paragraphs)} paragraphs of {min_chars}..{max_chars} characters"
        )
    step = len(paragraphs) / limit
    return [paragraphs[int(i * step)] for i in range(limit)]


def main(argv: list[str] | None = None) -> int:
    sources, missing = load_corpus()
    out_dir = Path(__file__).resolve().parent / "corpus" / "tokenizer"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for n, source in enumerate(sources):
        text = "\n\f\n".join(source.documents)
        (out_dir / f"{n:03d}.txt").write_text(text, encoding="utf-8", errors="surrogatepass")
        total += len(text.encode("utf-8", errors="surrogatepass"))
    docs = sum(len(s.documents) for s in sources)
    print(f"{len(sources)} sources, {docs} documents, {total / 1e6:.2f} MB -> {out_dir}")
    for m in missing:
        print(f"missing: {m}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
