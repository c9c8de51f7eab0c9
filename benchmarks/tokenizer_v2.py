"""DeBERTa-v2/v3 tokenizer throughput: deberta_np vs transformers' slow (sentencepiece) and fast (tokenizers)
DebertaV2 tokenizers, on the shared deberta-v3 spm.model.

    python benchmarks/tokenizer_v2.py [--repeat 3] [--limit-mb 0]

As benchmarks/tokenizer.py (the same corpus, passes and table: its `compare` runs them), with deberta_np in both
modes: the default (sentencepiece's ids) and reference="fast", each with its own "cold" row.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# first: it sets the single-thread environment and re-executes as users run it, before numpy loads
from benchmarks.tokenizer import FAST, compare
from conformance.tokenizer_files import DEBERTA_V3
from deberta_np.tokenizer import DebertaV2Tokenizer

V3 = DEBERTA_V3
MODES = (("deberta_np", {}), ('deberta_np reference="fast"', {"reference": "fast"}))


def main(argv: list[str] | None = None) -> int:
    if not (V3 / "spm.model").exists():
        print(f"{V3.resolve()}/spm.model not found", file=sys.stderr)
        return 1

    def contenders(transformers: Any) -> list[tuple[str, Any]]:
        return [
            *((name, DebertaV2Tokenizer.from_pretrained(V3, **options)) for name, options in MODES),
            (FAST, transformers.DebertaV2TokenizerFast.from_pretrained(V3)),
            ("slow (sentencepiece)", transformers.DebertaV2Tokenizer.from_pretrained(V3)),
        ]

    cold = [
        (name, lambda options=options: DebertaV2Tokenizer.from_pretrained(V3, **options))
        for name, options in MODES
    ]
    return compare(argv, __doc__.split("\n\n")[0], contenders, cold)


if __name__ == "__main__":
    raise SystemExit(main())
