"""deberta_np: a framework-free, readable, exact reference implementation of DeBERTa.

from deberta_np import DebertaModel
model = DebertaModel.from_pretrained("path/to/microsoft-deberta-base")
out = model([[1, 31414, 232, 2]])
out.last_hidden_state.shape  # (1, 4, 768)
"""

from typing import Any

from .config import DebertaConfig, DebertaV2Config
from .errors import BackendError, CheckpointError, ConfigError, InputError, UnsafeCheckpointError
from .modeling import (
    BaseModelOutput,
    DebertaForMaskedLM,
    DebertaForQuestionAnswering,
    DebertaForSequenceClassification,
    DebertaForTokenClassification,
    DebertaModel,
    DebertaV2ForMaskedLM,
    DebertaV2ForMultipleChoice,
    DebertaV2ForQuestionAnswering,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2Model,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
    load_model,
)
from .trace import load_trace, save_trace, trace, trace_metadata

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The tokenizer (and its `regex` import) loads on first use: `import deberta_np` stays fast.
    if name in ("DebertaTokenizer", "DebertaV2Tokenizer"):
        from . import tokenizer

        return getattr(tokenizer, name)
    if name == "compare_traces":  # the porter's oracle kit: deberta-np compare
        from .compare import compare_traces

        return compare_traces
    if name == "Predictor":  # batch inference for Ray Data / Dask
        from .predictor import Predictor

        return Predictor
    if name == "pipeline":
        from .pipelines import pipeline

        return pipeline
    raise AttributeError(f"module 'deberta_np' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "BaseModelOutput",
    "CheckpointError",
    "ConfigError",
    "DebertaConfig",
    "DebertaForMaskedLM",
    "DebertaForQuestionAnswering",
    "DebertaForSequenceClassification",
    "DebertaForTokenClassification",
    "DebertaModel",
    "DebertaTokenizer",
    "DebertaV2Config",
    "DebertaV2ForMaskedLM",
    "DebertaV2ForMultipleChoice",
    "DebertaV2ForQuestionAnswering",
    "DebertaV2ForSequenceClassification",
    "DebertaV2ForTokenClassification",
    "DebertaV2Model",
    "DebertaV2Tokenizer",
    "InputError",
    "MaskedLMOutput",
    "MultipleChoiceModelOutput",
    "Predictor",
    "QuestionAnsweringModelOutput",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
    "UnsafeCheckpointError",
    "compare_traces",
    "load_model",
    "load_trace",
    "pipeline",
    "save_trace",
    "trace",
    "trace_metadata",
]
