"""deberta_np: a framework-free, readable, exact reference implementation of DeBERTa."""

__version__ = "0.1.0"
