"""Check a checkpoint against the reference: `deberta-np verify --model DIR` (installed with the package).

Two references, each used only where it applies:

* transformers run now (when the `oracle` extra is installed): the encoder and every head the checkpoint holds, on
  the same inputs, in float32 and float64 (transformers' two float32 round trips removed for float64, as for the
  goldens: `float64_reference`). Limits: TOLERANCE of the output's own magnitude (at least 1), at valid positions.
* a published slice (the values transformers' integration tests assert, tests/models/deberta*/test_modeling_*.py): only for the published model
  itself, when the user names it (`published=`, `--published`) or the checkpoint does (it sits in the Hugging Face
  cache under that model's name, or its config.json's `_name_or_path` is that name and it holds no task head).
  A fine-tune has the same shapes and other weights: compared with the slice it would "fail" for no fault of ours.

Nothing here imports from the working directory; the repository's committed goldens are `python -m conformance`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import shim
from .config import DebertaConfig, config_from_pretrained, read_config_json
from .errors import CheckpointError, ConfigError
from .modeling import load_model

# max |ours - transformers| at valid positions: the goldens' absolute limits (values of magnitude ~1)
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
POOLED_HEADS = ("sequence_classification", "multiple_choice")  # logits [B, T] / [B, C]: compared whole


class VerifyError(ValueError):
    """Nothing could be checked: a usage error (a published name that does not fit the checkpoint, ...)."""


def row(suite: str, case: str, what: str, value: float, limit: float) -> dict[str, Any]:
    """One check: passes when `value` is finite and at most `limit`."""
    ok = bool(np.isfinite(value) and value <= limit)
    return {
        "suite": suite,
        "case": case,
        "what": what,
        "value": f"{value:.2e}",
        "limit": f"{limit:.0e}",
        "ok": ok,
    }


def summary(rows: list[dict[str, Any]]) -> str:
    """ "N passed, N failed" and, where a check could not run here (an optional reader missing), ", N skipped"."""
    failed = sum(not r["ok"] for r in rows)
    skipped = sum(bool(r.get("skipped")) for r in rows)
    return f"{len(rows) - failed - skipped} passed, {failed} failed" + (
        f", {skipped} skipped" if skipped else ""
    )


def valid_diff(ours: np.ndarray, reference: np.ndarray, valid: np.ndarray | None) -> float:
    """Max |ours - reference|; with `valid` [B, L], only over real tokens (query rows, for attentions)."""
    if ours.shape != reference.shape:
        return float("inf")
    difference = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    if valid is not None and difference.ndim == 4 and difference.shape[2] == valid.shape[1]:
        difference = np.moveaxis(difference, 1, 2)[valid]  # attentions [B, n, L, L] -> valid query rows
    elif valid is not None:
        difference = difference[valid]  # [B, L, ...]
    return float(difference.max()) if difference.size else 0.0


# --- the published slices (transformers' integration tests) ---------------------------------------------------------

# transformers' test_inference_no_head: these ids, the first token masked; last_hidden_state[0, 1:4, 1:4]
INTEGRATION_IDS = [[0, 31414, 232, 328, 740, 1140, 12695, 69, 46078, 1588, 2]]
INTEGRATION_MASK = [[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]


@dataclass(frozen=True)
class Published:
    """A published model: its shape (to refuse a name that cannot be this checkpoint) and its asserted slices."""

    model_type: str
    shape: tuple[int, int, int, int, int]  # vocab, hidden, layers, heads, intermediate
    slices: tuple[tuple[str, tuple[tuple[float, ...], ...], float], ...]  # (source, values, atol)
    extra: dict[str, Any] = field(default_factory=dict)  # other config values that must match

    def fits(self, config: DebertaConfig) -> bool:
        c = config
        shape = (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size)
        return (
            c.model_type == self.model_type
            and shape == self.shape
            and all(getattr(c, k, None) == v for k, v in self.extra.items())
        )


PUBLISHED = {
    "microsoft/deberta-base": Published(  # transformers' PyTorch test (4 digits) and its TF port's (8 digits)
        "deberta",
        (50265, 768, 12, 12, 3072),
        (
            (
                "PyTorch test (4 digits)",
                ((-0.5986, -0.8055, -0.8462), (1.4484, -0.9348, -0.8059), (0.3123, 0.0032, -1.4131)),
                1e-4,
            ),
            (
                "TF test (8 digits)",
                (
                    (-0.59855896, -0.80552566, -0.8462135),
                    (1.4484025, -0.93483794, -0.80593085),
                    (0.3122741, 0.00316059, -1.4131377),
                ),
                1e-5,
            ),
        ),
        {"relative_attention": True, "position_biased_input": False},
    ),
    "microsoft/deberta-v2-xlarge": Published(  # transformers' test: assert_close(rtol=1e-4, atol=1e-4)
        "deberta-v2",
        (128100, 1536, 24, 24, 6144),
        (
            (
                "PyTorch test (4 digits)",
                ((0.2356, 0.1948, 0.0369), (-0.1063, 0.3586, -0.5152), (-0.6399, -0.0259, -0.2525)),
                1e-4,
            ),
        ),
        {"conv_kernel_size": 3, "position_buckets": 256},
    ),
}


def slice_rows(name: str, values: np.ndarray, how: str) -> list[dict[str, Any]]:
    """last_hidden_state[0, 1:4, 1:4] against `name`'s published slices."""
    return [
        row("checkpoint", f"{name} published slice ({how})", f"[0,1:4,1:4] vs {source}",
            float(np.abs(values - np.array(expected)).max()), atol)
        for source, expected, atol in PUBLISHED[name].slices
    ]  # fmt: skip


def published_model(
    directory: Path, config: DebertaConfig, heads: list[str], given: str | None
) -> tuple[str, str]:
    """(published name, how it was identified) for this checkpoint, or ("", why none applies)."""
    if given is not None:
        if given not in PUBLISHED:
            raise VerifyError(f"--published {given!r}: published slices are known for {', '.join(PUBLISHED)}")
        if not PUBLISHED[given].fits(config):
            raise VerifyError(
                f"{directory}: config.json is not shaped like {given}, so it cannot be that model"
            )
        return given, "named by the user"
    for name, published in PUBLISHED.items():
        if not published.fits(config):
            continue
        if f"models--{name.replace('/', '--')}" in Path(os.path.abspath(directory)).parts:
            return name, "its Hugging Face cache folder names it"
        raw = read_config_json(directory / "config.json")
        # transformers < 4.37 saved `_name_or_path` as the model a fine-tune started from: a task head says
        # that this is such a fine-tune, not the published model.
        if raw.get("_name_or_path") == name and set(heads) <= {"base", "masked_lm"}:
            return name, "config.json _name_or_path names it"
        return "", (
            f"shaped like {name}, but nothing says it is that model (a fine-tune has other weights): "
            f"pass --published {name} to compare with its published slice"
        )
    return "", "no published reference applies to this checkpoint"


def published_slice(directory: Path, name: str, how: str, device: str) -> list[dict[str, Any]]:
    model = load_model(directory, "base", device=device)
    values = shim.to_numpy(model(INTEGRATION_IDS, INTEGRATION_MASK).last_hidden_state)[0, 1:4, 1:4]
    return slice_rows(name, values, how)


# --- transformers, run now -------------------------------------------------------------------------------------------


def hf_classes(version: str = "v1", tensorflow: bool = False) -> dict[str, Any]:
    """transformers' class for each of our heads (its TF class with `tensorflow`: TFDebertaModel, ...)."""
    import transformers

    prefix = ("TF" if tensorflow else "") + ("DebertaV2" if version == "v2" else "Deberta")
    heads = {"base": "Model", "masked_lm": "ForMaskedLM", "sequence_classification": "ForSequenceClassification",
             "token_classification": "ForTokenClassification", "question_answering": "ForQuestionAnswering"}  # fmt: skip
    if version == "v2":
        heads["multiple_choice"] = "ForMultipleChoice"
    return {head: getattr(transformers, prefix + suffix) for head, suffix in heads.items()}


@contextlib.contextmanager
def float64_reference() -> Iterator[None]:
    """Remove transformers' two float32 round trips for a float64 run: DebertaLayerNorm computes in float32
    (`hidden_states.float()`) and `scaled_size_sqrt` the attention scale in float32, even for float64 input; the
    same formulas in float64 replace them, nothing else is touched."""
    import torch
    from transformers.models.deberta import modeling_deberta as md
    from transformers.models.deberta_v2 import modeling_deberta_v2 as md2

    def layer_norm_in_input_dtype(self: Any, hidden_states: Any) -> Any:
        mean = hidden_states.mean(-1, keepdim=True)
        variance = (hidden_states - mean).pow(2).mean(-1, keepdim=True)
        hidden_states = (hidden_states - mean) / torch.sqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states + self.bias

    def scale_in_float64(query_layer: Any, scale_factor: int) -> Any:
        return torch.sqrt(torch.tensor(query_layer.size(-1), dtype=torch.float64) * scale_factor)

    saved = md.DebertaLayerNorm.forward, md.scaled_size_sqrt, md2.scaled_size_sqrt
    md.DebertaLayerNorm.forward, md.scaled_size_sqrt = layer_norm_in_input_dtype, scale_in_float64
    md2.scaled_size_sqrt = scale_in_float64  # v2's LayerNorm is torch's own: no float32 round trip to remove
    try:
        yield
    finally:
        md.DebertaLayerNorm.forward, md.scaled_size_sqrt, md2.scaled_size_sqrt = saved


def reference_inputs(config: DebertaConfig) -> dict[str, np.ndarray]:
    """The integration-test row (first token masked) and a full row; random ids for small vocabularies."""
    mask = np.array([INTEGRATION_MASK[0], [1] * 11])
    if config.vocab_size >= 50265:
        return {"input_ids": np.array(INTEGRATION_IDS * 2), "attention_mask": mask}
    return {
        "input_ids": np.random.default_rng(0).integers(0, config.vocab_size, size=(2, 11)),
        "attention_mask": mask,
    }


def reference_targets(
    config: DebertaConfig, head: str, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Seeded labels for `head`, so that the training loss is compared too (-100 leaves an MLM token out)."""
    rng = np.random.default_rng(1)
    batch, length = inputs["input_ids"].shape[0], inputs["input_ids"].shape[-1]
    if head == "masked_lm":
        labels = rng.integers(0, config.vocab_size, size=(batch, length))
        return {"labels": np.where(rng.random((batch, length)) < 0.5, labels, -100)}
    if head == "sequence_classification":
        if config.num_labels == 1:
            return {"labels": rng.standard_normal(batch).astype(np.float32)}
        return {"labels": rng.integers(0, config.num_labels, size=batch)}
    if head == "token_classification":
        return {"labels": rng.integers(0, config.num_labels, size=(batch, length))}
    if head == "multiple_choice":
        return {"labels": rng.integers(0, inputs["input_ids"].shape[1], size=batch)}
    if head == "question_answering":
        starts, ends = rng.integers(0, length, size=batch), rng.integers(0, length, size=batch)
        return {"start_positions": starts, "end_positions": ends}
    return {}


def against_transformers(
    directory: Path, config: DebertaConfig, head: str, device: str
) -> list[dict[str, Any]]:
    import torch

    inputs = reference_inputs(config)
    valid = inputs["attention_mask"].astype(bool)
    if head == "multiple_choice":  # the two rows as two choices of one example: [1, 2, L]
        inputs = {name: value[None] for name, value in inputs.items()}
    inputs = {**inputs, **reference_targets(config, head, inputs)}  # the loss is compared too
    overrides = {}
    if head == "masked_lm" and load_model(directory, head, device=device).head == "masked_lm":
        overrides = {"legacy": False, "tie_word_embeddings": False}  # Microsoft's MLM layout
    version = "v2" if config.model_type == "deberta-v2" else "v1"
    reference = hf_classes(version)[head].from_pretrained(directory, **overrides).eval()
    rows = []
    for dtype in ("float32", "float64"):
        ours = load_model(directory, head, device=device, dtype=dtype)
        reference.to(getattr(torch, dtype))
        # regression labels in the compute dtype: transformers casts the logits to the labels' dtype
        run = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in inputs.items()}
        with torch.inference_mode(), float64_reference() if dtype == "float64" else contextlib.nullcontext():
            expected = reference(**{k: torch.from_numpy(v) for k, v in run.items()})
        got = ours(**run)
        for name in got.keys():
            wanted = expected[name].numpy()
            if name == "logits" and wanted.shape != got[name].shape and wanted.size == got[name].size:
                wanted = wanted.reshape(
                    got[name].shape
                )  # transformers flattens a regression's logits with labels
            per_token = head not in POOLED_HEADS and name != "loss"
            diff = valid_diff(shim.to_numpy(got[name]), wanted, valid if per_token else None)
            # real checkpoints reach |x| ~ 10-20: the limit is relative to the output's own magnitude
            limit = TOLERANCE[dtype] * max(1.0, float(np.abs(wanted).max(initial=0.0)))
            rows.append(row("checkpoint", f"{directory.name} [{ours.head}]", f"{dtype} {name} vs transformers",
                            diff, limit))  # fmt: skip
    return rows


# --- the whole check ---------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """The rows of the checks that ran, and notes on those that could not (each says why)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """0: every check passed; 1: a check failed; 2: nothing could be checked."""
        if not self.rows:
            return 2
        return 0 if all(r["ok"] for r in self.rows) else 1


def checkable_heads(directory: Path) -> list[str]:
    """The heads to compare: those the checkpoint holds, except a v3 discriminator's MLM head (never trained to
    predict masked tokens; transformers' DebertaV2ForMaskedLM would not load it either)."""
    from .pipelines.base import RTD, checkpoint_heads

    heads = checkpoint_heads(directory)
    if RTD in heads:
        heads = [h for h in heads if h not in (RTD, "masked_lm")]
    architectures = DebertaConfig.from_pretrained(directory).architectures or []
    if any(name.endswith("ForMultipleChoice") for name in architectures):  # pooler + a one-output classifier
        heads = ["multiple_choice" if h == "sequence_classification" else h for h in heads]
    return heads


def run_checks(
    directory: str | os.PathLike[str],
    device: str = "cpu",
    published: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Check the checkpoint in `directory` against every reference that applies (see the module docstring)."""
    path = Path(directory)
    if not path.is_dir():
        raise VerifyError(f"{directory}: no such checkpoint directory")
    try:
        config = config_from_pretrained(path)
        heads = checkable_heads(path)
    except (CheckpointError, ConfigError, OSError) as error:
        raise VerifyError(f"{directory}: cannot be read: {error}") from error
    say = progress or (lambda message: None)
    report = Report()
    name, how = published_model(path, config, heads, published)
    if name:
        say(f"{name} published slice ({how})")
        report.rows += published_slice(path, name, how, device)
    else:
        report.notes.append(f"published slice: {how}")
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        report.notes.append(
            "transformers: not installed, so no side-by-side comparison (pip install 'deberta_np[oracle]')"
        )
        return report
    for head in heads:
        say(f"{head} against transformers")
        try:
            report.rows += against_transformers(path, config, head, device)
        except Exception as error:  # either side failing to load or run is that head's failure, reported
            report.rows.append({"suite": "checkpoint", "case": f"{path.name} [{head}]", "what": "load and run",
                                "value": f"{type(error).__name__}: {error}", "limit": "-", "ok": False})  # fmt: skip
    return report
