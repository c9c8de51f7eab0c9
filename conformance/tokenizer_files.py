"""Where the real tokenizer files live: `data/tokenizers/` in this repository (provenance and sha256 in its README).

The tests, the goldens, their generators and the benchmarks read them from here, so that a clone of the repository
alone runs every check. A missing file is a failure, never a skip.
"""

from __future__ import annotations

from pathlib import Path

TOKENIZERS = Path(__file__).resolve().parents[1] / "data" / "tokenizers"
DEBERTA_V1 = TOKENIZERS / "deberta-v1"  # microsoft/deberta-base: vocab.json, merges.txt
DEBERTA_V3 = TOKENIZERS / "deberta-v3"  # microsoft/deberta-v3-base: spm.model
GPT2_FAIRSEQ = (
    TOKENIZERS / "gpt2-fairseq"
)  # encoder.json, vocab.bpe, dict.txt (what deberta-v1 is rebuilt from)
