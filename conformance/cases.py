"""The model conformance cases: tiny seeded random checkpoints that together cover every flag of the v1 model.

Pure data, no torch: `generate.py` turns each case into a checkpoint directory and goldens with transformers;
`check.py` runs deberta_np on them. Every case has batch 3 with a full row, a right-padded row and a row whose
first token is masked (as in transformers' integration test); lengths lie below or above max_relative_positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# deberta-base's architecture (relative c2p|p2c attention, no absolute positions, no token types), whatever the
# sizes: also that of live.py's deberta-base-shaped model.
DEBERTA_BASE_FLAGS = {
    "relative_attention": True,
    "pos_att_type": "c2p|p2c",
    "max_relative_positions": -1,
    "position_biased_input": False,
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-7,
}

# A tiny v1 model; each case changes what it covers.
TINY = {
    "vocab_size": 96,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 40,
    "max_position_embeddings": 64,
    **DEBERTA_BASE_FLAGS,
}

# DeBERTa-v3's relative attention, scaled down: log buckets (8, beyond 4 positions), a LayerNorm on the table,
# position projections shared with the content ones.
V3_LIKE = {
    "position_buckets": 8,
    "max_relative_positions": 32,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": "p2c|c2p",
}
# The other v2 layout: no buckets, clamped at 5, its own position projections; with token types, embed_proj and a
# head size of its own.
OWN_POSITION_PROJECTIONS = {
    "position_buckets": -1,
    "max_relative_positions": 5,
    "share_att_key": False,
    "pos_att_type": "c2p|p2c",
    "type_vocab_size": 2,
    "embedding_size": 24,
    "attention_head_size": 8,
}
MULTIPLE_CHOICE = {
    "position_buckets": 4,
    "max_relative_positions": 16,
    "share_att_key": True,
    "pos_att_type": "c2p|p2c",
    "norm_rel_ebd": "layer_norm",
}
CONV = {"conv_kernel_size": 3, "conv_act": "gelu"}  # v2-xlarge's ConvLayer


@dataclass(frozen=True)
class Case:
    name: str
    head: str  # a key of deberta_np.modeling.MODEL_CLASSES
    config: dict[str, Any]
    length: int
    covers: str
    file_format: str = "safetensors"  # "safetensors", "sharded-safetensors" or "bin"
    stored_dtype: str = "float32"  # dtype of the tensors in the checkpoint file
    position_ids: bool = False  # pass explicit position_ids (offset by 3)
    version: str = "v1"  # "v1" (DebertaModel...) or "v2" (DebertaV2Model..., also DeBERTa-v3)
    hf_kwargs: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "base-c2p-p2c",
        "base",
        {},
        length=11,
        covers="the official v1 layout: relative c2p|p2c, no absolute positions, no token types, L < P",
    ),
    Case(
        "c2p-clamped-abs-types-embproj",
        "sequence_classification",
        {
            "pos_att_type": "c2p",
            "max_relative_positions": 4,
            "position_biased_input": True,
            "type_vocab_size": 2,
            "embedding_size": 24,
            "num_labels": 3,
        },
        length=12,
        covers="c2p only clamped (L=12 > P=4), absolute positions, token types, embed_proj (E=24), pooler+classifier",
        file_format="bin",
    ),
    Case(
        "p2c-clamped-talking-head",
        "token_classification",
        {
            "pos_att_type": "p2c",
            "max_relative_positions": 5,
            "talking_head": True,
            "hidden_act": "gelu_new",
            "num_labels": 5,
        },
        length=13,
        covers="p2c only clamped (L=13 > P=5), talking_head, gelu_new, token classifier",
    ),
    Case(
        "no-relative-abs-positions",
        "question_answering",
        {
            "relative_attention": False,
            "pos_att_type": None,
            "position_biased_input": True,
            "hidden_act": "relu",
        },
        length=10,
        covers="no relative attention (plain BERT-style attention), absolute positions, relu, QA head, .bin file",
        file_format="bin",
        position_ids=True,
    ),
    Case(
        "mlm-legacy-embproj",
        "masked_lm",
        {"embedding_size": 24, "hidden_act": "tanh", "legacy": True, "max_relative_positions": 8},
        length=9,
        covers="legacy MLM head cls.predictions.* (tied decoder, E=24 != H), tanh, L=9 > P=8",
    ),
    Case(
        "mlm-microsoft-layout",
        "masked_lm",
        {"legacy": False, "tie_word_embeddings": False, "hidden_act": "silu"},
        length=10,
        covers="Microsoft's MLM head lm_predictions.lm_head.* (legacy=False), silu, .bin like the official files",
        file_format="bin",
    ),
    Case(
        "pos-att-none-types-f16",
        "base",
        {"pos_att_type": "None", "type_vocab_size": 3, "position_biased_input": True, "hidden_act": "swish"},
        length=8,
        covers='pos_att_type "None" (no terms, scale factor 2 as in transformers), 3 token types, swish, F16 file',
        stored_dtype="float16",
        position_ids=True,
    ),
    Case(
        "regression-bf16",
        "sequence_classification",
        {"num_labels": 1, "pooler_hidden_act": "tanh", "max_relative_positions": 6},
        length=14,
        covers="one-label regression head, tanh pooler, L=14 > P=6, BF16 file",
        stored_dtype="bfloat16",
    ),
    Case(
        "sharded-deep",
        "masked_lm",
        {"num_hidden_layers": 4, "legacy": False, "tie_word_embeddings": False, "max_relative_positions": 16},
        length=20,
        covers="sharded model.safetensors.index.json, 4 layers, L=20 > P=16, Microsoft MLM head",
        file_format="sharded-safetensors",
    ),
    Case(
        "gelu-both-long",
        "token_classification",
        {"num_attention_heads": 2, "intermediate_size": 64, "max_relative_positions": 3, "num_labels": 2},
        length=16,
        covers="2 heads of 16, L=16 much longer than P=3 (most pairs clamped), exact gelu",
    ),
]

V2_CASES = [
    Case(
        "v2-v3-like-buckets-shared-key",
        "sequence_classification",
        {**V3_LIKE, "num_labels": 3},
        length=24,
        covers="DeBERTa-v3's layout: log buckets (mid 4 < L=24), LayerNorm on the table, share_att_key, NLI-like head",
        version="v2",
    ),
    Case(
        "v2-xlarge-like-conv-mlm",
        "masked_lm",
        {**CONV, **V3_LIKE, "legacy": False, "tie_word_embeddings": False},
        length=18,
        covers="v2-xlarge's layout: ConvLayer (k=3, gelu) after layer 0, buckets, Microsoft MLM head, .bin",
        file_format="bin",
        version="v2",
    ),
    Case(
        "v2-own-pos-proj-clamped-abs",
        "token_classification",
        {**OWN_POSITION_PROJECTIONS, "position_biased_input": True, "num_labels": 4},
        length=12,
        covers="no buckets, clamped (L=12 > P=5), pos_key_proj/pos_query_proj, absolute positions, token types, embed_proj",
        version="v2",
        position_ids=True,
    ),
    Case(
        "v2-p2c-conv-groups-f16",
        "question_answering",
        {
            "pos_att_type": "p2c",
            "conv_kernel_size": 5,
            "conv_groups": 2,
            "conv_act": "tanh",
            "position_buckets": 6,
            "max_relative_positions": 20,
            "hidden_act": "gelu_new",
        },
        length=15,
        covers="p2c only with its own projection, ConvLayer k=5 in 2 groups, buckets 6, QA head, F16 file",
        stored_dtype="float16",
        version="v2",
    ),
    Case(
        "v2-multiple-choice",
        "multiple_choice",
        MULTIPLE_CHOICE,
        length=14,
        covers="the multiple-choice head (1 example x 3 choices), buckets 4",
        version="v2",
    ),
    Case(
        "v2-legacy-mlm-c2p-bf16-sharded",
        "masked_lm",
        {
            "pos_att_type": "c2p",
            "embedding_size": 24,
            "legacy": True,
            "max_relative_positions": 6,
            "hidden_act": "silu",
        },
        length=10,
        covers="legacy MLM head cls.* (E=24), c2p only, no buckets, BF16 sharded safetensors",
        file_format="sharded-safetensors",
        stored_dtype="bfloat16",
        version="v2",
    ),
]
CASES = CASES + V2_CASES

# TensorFlow checkpoints (tf_model.h5) written by transformers 4.57.6's TF classes, with TF's outputs
# (conformance/generate_tf.py, conformance/tf_suite.py). Every TF head class transformers has: v1 has no
# TFDebertaForMultipleChoice; the TF MLM heads exist only in the legacy `cls.predictions.*` layout; the TF v2
# ConvLayer has no groups (transformers comments `conv_groups` out), so no case sets it; and TFDeberta* with
# talking_head=True cannot be built in 4.57.6 (head_logits_proj.build(None): "The last dimension of the inputs to
# a Dense layer should be defined"), so talking_head has no TF case.
TF_CASES = [
    Case(
        "tf-v1-base",
        "base",
        {},
        length=11,
        covers="TFDebertaModel: relative c2p|p2c, absolute positions (TF default), no token types, L < P",
        file_format="tf_model.h5",
    ),
    Case(
        "tf-v1-mlm-embproj",
        "masked_lm",
        {
            "embedding_size": 24,
            "hidden_act": "tanh",
            "max_relative_positions": 8,
            "position_biased_input": False,
        },
        length=9,
        covers="TFDebertaForMaskedLM: cls.predictions.* tied to the word embeddings, embed_proj (E=24), L=9 > P=8",
        file_format="tf_model.h5",
    ),
    Case(
        "tf-v1-seqcls-c2p-types",
        "sequence_classification",
        {
            "pos_att_type": "c2p",
            "max_relative_positions": 4,
            "type_vocab_size": 2,
            "num_labels": 3,
        },
        length=12,
        covers="TFDebertaForSequenceClassification: c2p clamped (L=12 > P=4), token types, pooler",
        file_format="tf_model.h5",
    ),
    Case(
        "tf-v1-tokcls-p2c",
        "token_classification",
        {"pos_att_type": "p2c", "max_relative_positions": 5, "hidden_act": "gelu_new", "num_labels": 5},
        length=13,
        covers="TFDebertaForTokenClassification: p2c clamped (L=13 > P=5), gelu_new",
        file_format="tf_model.h5",
    ),
    Case(
        "tf-v1-qa-no-relative",
        "question_answering",
        {"relative_attention": False, "pos_att_type": None, "hidden_act": "relu"},
        length=10,
        covers="TFDebertaForQuestionAnswering: no relative attention, relu, qa_outputs",
        file_format="tf_model.h5",
        position_ids=True,
    ),
    Case(
        "tf-v2-base-v3-like",
        "base",
        {**V3_LIKE, "position_biased_input": False},
        length=24,
        covers="TFDebertaV2Model: DeBERTa-v3's layout (log buckets, LayerNorm on the table, share_att_key)",
        file_format="tf_model.h5",
        version="v2",
    ),
    Case(
        "tf-v2-mlm-conv",
        "masked_lm",
        {**CONV, **V3_LIKE, "position_biased_input": False},
        length=18,
        covers="TFDebertaV2ForMaskedLM: ConvLayer (k=3, gelu; kernel [k, in, out]), buckets, cls.predictions.*",
        file_format="tf_model.h5",
        version="v2",
    ),
    Case(
        "tf-v2-seqcls-own-pos-proj",
        "sequence_classification",
        {**OWN_POSITION_PROJECTIONS, "num_labels": 3},
        length=12,
        covers="TFDebertaV2ForSequenceClassification: TF's pos_proj/pos_q_proj (PT pos_key_proj/pos_query_proj), "
        "clamped, absolute positions, token types, embed_proj",
        file_format="tf_model.h5",
        version="v2",
        position_ids=True,
    ),
    Case(
        "tf-v2-tokcls-c2p",
        "token_classification",
        {
            "pos_att_type": "c2p",
            "position_buckets": 6,
            "max_relative_positions": 20,
            "share_att_key": False,
            "hidden_act": "gelu_new",
            "position_biased_input": False,
            "num_labels": 4,
        },
        length=15,
        covers="TFDebertaV2ForTokenClassification: c2p only with its own projection, buckets 6, gelu_new",
        file_format="tf_model.h5",
        version="v2",
    ),
    Case(
        "tf-v2-qa-p2c-conv",
        "question_answering",
        {
            "pos_att_type": "p2c",
            "conv_kernel_size": 5,
            "conv_act": "tanh",
            "max_relative_positions": 6,
            "share_att_key": True,
            "position_biased_input": False,
        },
        length=10,
        covers="TFDebertaV2ForQuestionAnswering: p2c only, ConvLayer k=5 (tanh), no buckets, L=10 > P=6",
        file_format="tf_model.h5",
        version="v2",
    ),
    Case(
        "tf-v2-multiple-choice",
        "multiple_choice",
        {**MULTIPLE_CHOICE, "position_biased_input": False},
        length=14,
        covers="TFDebertaV2ForMultipleChoice: 1 example x 3 choices, pooler + 1-unit classifier, buckets 4",
        file_format="tf_model.h5",
        version="v2",
    ),
]
