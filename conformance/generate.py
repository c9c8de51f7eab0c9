"""Write the conformance goldens with the reference implementation (needs the `oracle` extra).

    pip install torch==2.13.0 && pip install ".[oracle]"
    python -m conformance.generate            # models (and the other suites that have a generator)
    python -m conformance.generate --only models

For each case of `conformance/cases.py`: a transformers 4.57.6 model with seeded random weights (every parameter
drawn, biases and LayerNorms included, so no term can hide behind a zero), saved in the case's file format, and a
`golden.safetensors` with the inputs and transformers' outputs (every layer's hidden states, every attention
map, the head's logits) in float32 and float64, with the versions used in its metadata.

float64 goldens: transformers' DebertaLayerNorm computes in float32 (`hidden_states.float()`) even for float64
input, and `scaled_size_sqrt` computes the attention scale in float32. For a float64 reference these two
float32 round trips are replaced by the same formulas in float64 (see `deberta_np.oracle.float64_reference`); nothing else is
touched, and the float32 goldens come from the unpatched code.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases import CASES, TINY, Case
from conformance.check import OLD_MASKING_FILE
from deberta_np.oracle import float64_reference, hf_classes

GOLDEN = Path(__file__).resolve().parent / "golden" / "models"
PINNED_TRANSFORMERS = "4.57.6"
SEED = 20261126


def pinned_transformers() -> Any:
    """transformers, if it is the version every golden is pinned to (else SystemExit: goldens from another
    version would differ)."""
    import transformers

    if transformers.__version__ != PINNED_TRANSFORMERS:
        raise SystemExit(
            f"the goldens are pinned to transformers {PINNED_TRANSFORMERS}, found {transformers.__version__}"
        )
    return transformers


def generator_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line of the generator `python -m <module>`, described by its docstring's first line."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])


def random_model(
    config: dict[str, Any], head: str, seed: int, scale: float = 0.2, version: str = "v1"
) -> Any:
    """A transformers model with every parameter drawn from a seeded normal distribution N(0, scale)."""
    import torch
    import transformers

    torch.set_num_threads(1)  # reproducible float32 reductions
    torch.manual_seed(seed)
    config_class = transformers.DebertaV2Config if version == "v2" else transformers.DebertaConfig
    model = hf_classes(version)[head](config_class(**config)).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            values = torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * scale
            if name.endswith("LayerNorm.weight"):
                values = values + 1.0
            parameter.copy_(values.to(parameter.dtype))
    return model


def make_inputs(case: Case, config: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Batch 3: a full row, a right-padded row, a row whose first token is masked."""
    rng = np.random.default_rng(seed)
    batch, length = 3, case.length
    vocab = config.get("vocab_size", 96)
    input_ids = rng.integers(4, vocab, size=(batch, length), dtype=np.int64)
    attention_mask = np.ones((batch, length), dtype=np.int64)
    attention_mask[1, length - length // 3 :] = 0
    input_ids[1, length - length // 3 :] = 0  # [PAD]
    attention_mask[2, 0] = 0
    input_ids[2, 0] = 0
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    if config.get("type_vocab_size", 0) != 1:
        token_type_ids[:, length // 2 :] = 1  # a pair; ignored by models without token types
    if config.get("type_vocab_size", 0) > 2:
        token_type_ids[0, -2:] = 2
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if case.position_ids:
        inputs["position_ids"] = np.broadcast_to(
            np.arange(3, 3 + length, dtype=np.int64), (batch, length)
        ).copy()
    if case.head == "multiple_choice":  # one example with 3 choices
        inputs = {k: v[None] for k, v in inputs.items()}
    return inputs


def reference_outputs(model: Any, inputs: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Run transformers; return its outputs as float arrays named `<dtype>.<field>[.<index>]`."""
    import torch

    torch_dtype = getattr(torch, dtype)
    model = model.to(torch_dtype)
    context = float64_reference() if dtype == "float64" else contextlib.nullcontext()
    with torch.inference_mode(), context:
        out = model(
            **{k: torch.from_numpy(v) for k, v in inputs.items()},
            output_hidden_states=True,
            output_attentions=True,
        )
    model.to(torch.float32)
    result = {}
    for field in ("last_hidden_state", "logits", "start_logits", "end_logits"):
        if getattr(out, field, None) is not None:
            result[f"{dtype}.{field}"] = out[field].numpy().copy()
    for field in ("hidden_states", "attentions"):
        for index, value in enumerate(out[field]):
            result[f"{dtype}.{field}.{index}"] = value.numpy().copy()
    return result


def save_checkpoint(model: Any, directory: Path, case: Case) -> None:
    """Save as transformers does, in the case's file format and stored dtype."""
    import torch

    stored = getattr(torch, case.stored_dtype)
    model.to(stored)
    if case.file_format == "bin":
        model.save_pretrained(directory, safe_serialization=False)
    elif case.file_format == "sharded-safetensors":
        model.save_pretrained(directory, max_shard_size="60KB")
    else:
        model.save_pretrained(directory)
    model.to(torch.float32)


def golden_tensors(
    case: Case,
    config: dict[str, Any],
    seed: int,
    outputs: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """What golden.safetensors holds: the case's inputs (drawn from `seed`) as `inputs.<name>`, and `outputs`
    of them."""
    inputs = make_inputs(case, config, seed)
    return {**{f"inputs.{k}": v for k, v in inputs.items()}, **outputs(inputs)}


def versions(*modules: Any) -> dict[str, str]:
    """{module name: version}, for a golden's metadata."""
    return {module.__name__: module.__version__ for module in modules}


def case_metadata(case: Case, **more: str) -> dict[str, str]:
    """golden.safetensors' metadata: which case (name, head, version), then `more` in its order."""
    return {"case": case.name, "head": case.head, "version": case.version, **more}


def generate_case(case: Case, seed: int) -> dict[str, Any]:
    import safetensors.numpy
    import torch
    import transformers

    config = {**TINY, **case.config}
    model = random_model(config, case.head, seed, version=case.version)
    if case.stored_dtype != "float32":
        # The golden is computed from exactly the weights the file holds.
        model.to(getattr(torch, case.stored_dtype)).to(torch.float32)
    directory = GOLDEN / case.name
    if directory.exists():  # start clean, but keep the transformers 4.46 golden (made by --old-masking)
        for path in directory.iterdir():
            if path.name != OLD_MASKING_FILE:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    save_checkpoint(model, directory, case)
    tensors = golden_tensors(
        case,
        config,
        seed + 1,
        lambda inputs: (
            reference_outputs(model, inputs, "float32") | reference_outputs(model, inputs, "float64")
        ),
    )
    metadata = case_metadata(
        case,
        hf_class=type(model).__name__,
        covers=case.covers,
        file_format=case.file_format,
        stored_dtype=case.stored_dtype,
        seed=str(seed),
        **versions(torch, transformers, np),
        masking="transformers >= 4.47: padded query rows attend uniformly",
        float64="DebertaLayerNorm and scaled_size_sqrt evaluated in float64 (see conformance/generate.py)",
        generator="python -m conformance.generate",
    )
    safetensors.numpy.save_file(tensors, directory / "golden.safetensors", metadata=metadata)
    return metadata


def write_goldens(
    golden: Path,
    cases: list[Case],
    seed: int,
    generate_case: Callable[[Case, int], Any],
    only: list[str] | None,
    readme: str,
) -> None:
    """`generate_case(case, seed + 100 * index)` for each case (those named in `only`, if given) into its folder
    of `golden`, one line each, then the folder's README."""
    pinned_transformers()
    golden.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(cases):
        if only and case.name not in only:
            continue
        generate_case(case, seed + 100 * index)
        size = sum(f.stat().st_size for f in (golden / case.name).iterdir())
        print(f"{case.name:32s} {case.head:24s} {case.file_format:20s} {size / 1024:7.1f} KiB  {case.covers}")
    (golden / "README.md").write_text(readme)


def generate_models(only: list[str] | None = None) -> None:
    write_goldens(
        GOLDEN,
        CASES,
        SEED,
        generate_case,
        only,
        "Generated by `python -m conformance.generate`: do not edit by hand. One folder per case of "
        "`conformance/cases.py`: the checkpoint as transformers saved it and `golden.safetensors` (inputs and "
        "transformers' outputs, versions in its metadata).\n",
    )


def generate_old_masking() -> None:
    """Run transformers 4.46 (all-zero attention for padded queries) on the committed checkpoints and inputs.

    Needs a separate environment: `pip install torch==2.13.0 transformers==4.46.3 safetensors`. 4.46 has no
    Microsoft-layout MLM head, so those cases are skipped. float32 only: 4.46 computes the attention scale
    inline in float32, with no function to swap for a float64 one.
    """
    import safetensors.numpy
    import torch
    import transformers

    if not transformers.__version__.startswith("4.46."):
        raise SystemExit(f"--old-masking needs transformers 4.46.x, found {transformers.__version__}")
    torch.set_num_threads(1)
    for case in CASES:
        if case.config.get("legacy") is False or case.version != "v1":
            continue
        directory = GOLDEN / case.name
        golden = safetensors.numpy.load_file(directory / "golden.safetensors")
        inputs = {k.split(".", 1)[1]: v for k, v in golden.items() if k.startswith("inputs.")}
        model = hf_classes()[case.head].from_pretrained(directory, torch_dtype=torch.float32).eval()
        tensors = {f"inputs.{k}": v for k, v in inputs.items()}
        tensors.update(reference_outputs(model, inputs, "float32"))
        metadata = {
            "case": case.name,
            "head": case.head,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "masking": "transformers <= 4.46 (XSoftmax): padded query rows get all-zero attention",
            "generator": "python -m conformance.generate --old-masking",
        }
        safetensors.numpy.save_file(tensors, directory / OLD_MASKING_FILE, metadata=metadata)
        print(f"{case.name:32s} {case.head:24s} transformers {transformers.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = generator_parser("conformance.generate", __doc__)
    parser.add_argument(
        "--only", choices=["models", "tokenizer", "tokenizer_v2", "pipelines"], action="append"
    )
    parser.add_argument("--case", action="append", help="regenerate only these model cases")
    parser.add_argument(
        "--old-masking", action="store_true", help="with transformers 4.46.x: the zero-padded-rows goldens"
    )
    args = parser.parse_args(argv)
    if args.old_masking:
        generate_old_masking()
        return 0
    suites = args.only or ["models", "tokenizer", "tokenizer_v2", "pipelines"]
    if "models" in suites:
        generate_models(args.case)
    for suite in ("tokenizer", "tokenizer_v2", "pipelines"):
        if suite in suites:
            try:
                module = __import__(f"conformance.generate_{suite}", fromlist=["main"])
            except ModuleNotFoundError:
                print(f"(no generator for {suite} yet)", file=sys.stderr)
                continue
            module.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
