"""Write the TensorFlow goldens: transformers 4.57.6's TF classes save `tf_model.h5` and run it.

    pip install tensorflow==2.21.0 tf-keras==2.21.0      # in addition to the oracle extra and h5py
    TF_NUM_INTRAOP_THREADS=1 python -m conformance.generate_tf

For each case of `conformance.cases.TF_CASES`: a `TFDeberta*` / `TFDebertaV2*` model with every variable drawn
from a seeded normal distribution (biases, LayerNorms, q_bias/v_bias included, so that no weight can hide behind
a zero or a one), saved by its own `save_pretrained` (config.json + tf_model.h5), and `golden.safetensors` with
the inputs and TF's float32 outputs (every hidden state, every attention map, the head's outputs), the versions
in its metadata. TF only, float32 only: TF's DeBERTa classes are not run in float64 here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from conformance.cases import TF_CASES, TINY, Case
from conformance.generate import PINNED_TRANSFORMERS, make_inputs
from deberta_np.oracle import hf_classes

GOLDEN = Path(__file__).resolve().parent / "golden" / "tf"
SEED = 20261205
MAX_FILE_BYTES = 200 * 1024  # committed files stay small


def random_tf_model(config: dict[str, Any], head: str, version: str, seed: int, scale: float = 0.2) -> Any:
    """A TF model, built, with every variable drawn from N(0, scale) (LayerNorm gammas from N(1, scale))."""
    import transformers

    config_class = transformers.DebertaV2Config if version == "v2" else transformers.DebertaConfig
    model = hf_classes(version, tensorflow=True)[head](config_class(**config))
    model(model.dummy_inputs, training=False)  # creates the variables
    rng = np.random.default_rng(seed)
    for variable in sorted(model.weights, key=lambda v: v.name):
        values = rng.standard_normal(variable.shape) * scale
        if variable.name.endswith(("gamma:0", "gamma")):
            values = values + 1.0
        variable.assign(values.astype(np.float32))
    return model


def tf_outputs(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    out = model(
        {k: tf.constant(v) for k, v in inputs.items()},
        output_hidden_states=True,
        output_attentions=True,
        training=False,
    )
    result = {}
    for field in ("last_hidden_state", "logits", "start_logits", "end_logits"):
        if getattr(out, field, None) is not None:
            result[f"float32.{field}"] = np.asarray(out[field].numpy(), dtype=np.float32)
    for field in ("hidden_states", "attentions"):
        for index, value in enumerate(out[field]):
            result[f"float32.{field}.{index}"] = np.asarray(value.numpy(), dtype=np.float32)
    return result


def generate_case(case: Case, seed: int) -> dict[str, Any]:
    import safetensors.numpy
    import tensorflow as tf
    import transformers

    config = {**TINY, **case.config}
    model = random_tf_model(config, case.head, case.version, seed)
    directory = GOLDEN / case.name
    if directory.exists():
        shutil.rmtree(directory)
    model.save_pretrained(directory)
    inputs = make_inputs(case, config, seed + 1)
    tensors = {f"inputs.{k}": v for k, v in inputs.items()}
    tensors.update(tf_outputs(model, inputs))
    metadata = {
        "case": case.name,
        "head": case.head,
        "version": case.version,
        "tf_class": type(model).__name__,
        "covers": case.covers,
        "seed": str(seed),
        "tensorflow": tf.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "generator": "python -m conformance.generate_tf",
    }
    safetensors.numpy.save_file(tensors, directory / "golden.safetensors", metadata=metadata)
    for file in directory.iterdir():
        if file.stat().st_size > MAX_FILE_BYTES:
            raise SystemExit(
                f"{file}: {file.stat().st_size} bytes, over {MAX_FILE_BYTES}: make the case smaller"
            )
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.generate_tf", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--case", action="append", help="regenerate only these cases")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # reproducible float32 reductions
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import transformers

    if transformers.__version__ != PINNED_TRANSFORMERS:
        raise SystemExit(
            f"the goldens are pinned to transformers {PINNED_TRANSFORMERS}, found {transformers.__version__}"
        )
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(TF_CASES):
        if args.case and case.name not in args.case:
            continue
        generate_case(case, SEED + 100 * index)
        size = sum(f.stat().st_size for f in (GOLDEN / case.name).iterdir())
        print(f"{case.name:32s} {case.head:24s} {size / 1024:7.1f} KiB  {case.covers}")
    (GOLDEN / "README.md").write_text(
        "Generated by `python -m conformance.generate_tf`: do not edit by hand. One folder per case of "
        "`conformance.cases.TF_CASES`: config.json and tf_model.h5 as transformers' TF class saved them, and "
        "`golden.safetensors` (inputs and TF's float32 outputs, versions in its metadata).\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
