"""deberta_np's tokenizers, on one model-agnostic encoding layer: byte-level BPE for DeBERTa v1
(`DebertaTokenizer`) and SentencePiece Unigram for DeBERTa v2/v3 (`DebertaV2Tokenizer`)."""

from deberta_np.tokenizer.deberta import AddedToken, DebertaTokenizer
from deberta_np.tokenizer.deberta_v2 import DebertaV2Tokenizer
from deberta_np.tokenizer.encoding import BatchEncoding, Encoding

__all__ = ["AddedToken", "BatchEncoding", "DebertaTokenizer", "DebertaV2Tokenizer", "Encoding"]
