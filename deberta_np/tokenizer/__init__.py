"""deberta_np's tokenizers: byte-level BPE for DeBERTa v1 (`DebertaTokenizer`), on a model-agnostic encoding layer."""

from deberta_np.tokenizer.deberta import AddedToken, DebertaTokenizer
from deberta_np.tokenizer.encoding import BatchEncoding, Encoding

__all__ = ["AddedToken", "BatchEncoding", "DebertaTokenizer", "Encoding"]

from deberta_np.tokenizer.deberta_v2 import DebertaV2Tokenizer  # v2/v3: SentencePiece Unigram

__all__ += ["DebertaV2Tokenizer"]
