"""DeBERTa's two families, v1 ("deberta") and v2/v3 ("deberta-v2"): the one table that says, for each, which
config class reads its config.json, which readable module computes it and holds its checkpoint schema, which fast
encoder computes it faster, and what transformers calls its classes. Everything that differs between v1 and v2
dispatches through here: modeling.py, the loader (parameters.py) and config.config_from_pretrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import model, model_v2
from .config import DebertaConfig, DebertaV2Config
from .fast import FastDeberta
from .fast_v2 import FastDebertaV2


@dataclass(frozen=True)
class Family:
    model_type: str  # config.json's model_type
    config_class: type[DebertaConfig]
    spec: ModuleType  # the readable forward pass and checkpoint schema: model.py or model_v2.py
    fast: type[FastDeberta]  # the fast encoder; fast.applies(config, dtype) says where it runs
    class_prefix: str  # transformers' class names: "Deberta" + "ForMaskedLM", ...


V1 = Family("deberta", DebertaConfig, model, FastDeberta, "Deberta")
V2 = Family("deberta-v2", DebertaV2Config, model_v2, FastDebertaV2, "DebertaV2")
FAMILIES = {family.model_type: family for family in (V1, V2)}


def family_named(model_type: str) -> Family:
    """The family of a config.json's model_type (v1's for any other: DebertaConfig reads it, as before)."""
    return FAMILIES.get(model_type, V1)


def family_of(config: DebertaConfig) -> Family:
    """The family of a config object: its class decides (v2's for a DebertaV2Config)."""
    return V2 if isinstance(config, DebertaV2Config) else V1
