"""deberta_np's tokenizers, on one model-agnostic encoding layer: byte-level BPE for DeBERTa v1
(`DebertaTokenizer`) and SentencePiece Unigram for DeBERTa v2/v3 (`DebertaV2Tokenizer`)."""

from deberta_np.tokenizer.base import AddedToken
from deberta_np.tokenizer.deberta import DebertaTokenizer
from deberta_np.tokenizer.deberta_v2 import DebertaV2Tokenizer
from deberta_np.tokenizer.encoding import BatchEncoding, CharSpan, Encoding, TokenSpan

__all__ = [
    "AddedToken",
    "BatchEncoding",
    "CharSpan",
    "DebertaTokenizer",
    "DebertaV2Tokenizer",
    "Encoding",
    "TokenSpan",
]
