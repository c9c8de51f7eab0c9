"""Hostile and broken files, as an attacker (or a bad disk) would hand them to deberta_np (issue 12).

Each ``make_*`` function writes one case under a directory and returns the path to load; the tests in
tests/test_hostile.py load each and expect one of our typed errors, naming the file and the field or
tensor, within about a second. Run as a script to write every case for manual poking:

    python tests/hostile_files.py /tmp/hostile

Nothing here needs torch: pickles are written opcode by opcode (the builders of tests/test_torch_pickle.py).
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from test_torch_pickle import EMPTY_HOOKS, PROTO, STOP, f32, glob, num, tensor, text, torch_zip, tup

from deberta_np.safetensors_io import read_safetensors, write_safetensors

TINY = Path(__file__).resolve().parents[1] / "conformance" / "golden" / "models" / "base-c2p-p2c"
SECRET = b"SECRET-CONTENT: this file is not a checkpoint\n"

# ------------------------------------------------------------------------------------------ pytorch_model.bin


def make_deep_tuple_key(directory: Path, depth: int = 10**6) -> Path:
    """A dict whose key is a tuple nested `depth` deep: hashing it recursed in C (SIGSEGV at 10^6)."""
    key = b"K\x00" + b"\x85" * depth  # BININT1 0, then TUPLE1 `depth` times
    pkl = PROTO + b"}" + key + tensor("FloatStorage", "0", 1, 0, (1,), (1,)) + b"s" + STOP
    return torch_zip(directory / "deep_tuple_key.bin", pkl, {"0": f32(1.0)})


def make_memoized_long_key(directory: Path, key_bytes: int = 4 * 2**20, leaves: int = 4100) -> Path:
    """{K: {"0": t, "1": t, ...}} with a 4 MiB K: the joined names "K.0", "K.1", ... would total 16 GiB."""
    value = tensor("FloatStorage", "0", 1, 0, (1,), (1,)) + b"q\x01"  # memoized as 1 ...
    reused = b"".join(text(str(i)) + b"h\x01" for i in range(1, leaves))  # ... and fetched again (BINGET 1)
    inner = b"}(" + text("0") + value + reused + b"u"
    pkl = PROTO + b"}" + text("k" * key_bytes) + inner + b"s" + STOP
    return torch_zip(directory / "memoized_long_key.bin", pkl, {"0": f32(1.0)})


def make_complex_tensor(directory: Path) -> Path:
    """A complex64 tensor (torch writes ComplexFloatStorage through _rebuild_tensor_v2)."""
    pkl = (
        PROTO + b"}" + text("encoder.w") + tensor("ComplexFloatStorage", "0", 1, 0, (1,), (1,)) + b"s" + STOP
    )
    return torch_zip(directory / "complex.bin", pkl, {"0": f32(1.0, 2.0)})


def make_float8_tensor(directory: Path, dtype: str = "float8_e4m3fn") -> Path:
    """A float8 (or uint16, ...) tensor: torch >= 2.1 writes _rebuild_tensor_v3 over an UntypedStorage."""
    pid = tup(text("storage"), glob("torch.storage", "UntypedStorage"), text("0"), text("cpu"), num(2)) + b"Q"
    args = tup(pid, num(0), tup(num(2)), tup(num(1)), b"\x89", EMPTY_HOOKS, glob("torch", dtype))
    rebuild = glob("torch._utils", "_rebuild_tensor_v3") + args + b"R"
    pkl = PROTO + b"}" + text("encoder.w8") + rebuild + b"s" + STOP
    return torch_zip(directory / f"{dtype}.bin", pkl, {"0": b"\x01\x02"})


# ------------------------------------------------------------------------- checkpoint directories and safetensors


def tiny_checkpoint(directory: Path, **config: object) -> Path:
    """The committed 2-layer test model (config.json + model.safetensors), with `config` changed."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TINY / "model.safetensors", directory / "model.safetensors")
    values = json.loads((TINY / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**values, **config}))
    return directory


def make_config_layers(directory: Path) -> Path:
    """config.json says 10^9 layers; the checkpoint holds 2 (building the table of 10^9 layers ran out of memory)."""
    return tiny_checkpoint(directory / "layers", num_hidden_layers=10**9)


def make_config_labels(directory: Path) -> Path:
    """num_labels 10^9 and no id2label: the default LABEL_i table ran out of memory."""
    return tiny_checkpoint(directory / "labels", num_labels=10**9)


def make_float16_overflow(directory: Path) -> Path:
    """A weight of 1e5, beyond float16's 65504: loaded in float16 it is inf and every output NaN."""
    target = tiny_checkpoint(directory / "f16_overflow")
    tensors = {k: np.array(v) for k, v in read_safetensors(TINY / "model.safetensors")[0].items()}
    tensors["encoder.layer.1.output.dense.weight"][0, 0] = 1e5
    write_safetensors(target / "model.safetensors", tensors)
    return target


def safetensors_with_header(path: Path, header: object, buffer: bytes = b"") -> Path:
    head = (header if isinstance(header, str) else json.dumps(header)).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + buffer)
    return path


def make_shape_65_dims(directory: Path) -> Path:
    entry = {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}
    return safetensors_with_header(directory / "dims65.safetensors", {"w": entry}, bytes(4))


def make_shape_2_63(directory: Path) -> Path:
    entry = {"dtype": "F32", "shape": [0, 2**63], "data_offsets": [0, 0]}
    return safetensors_with_header(directory / "huge_shape.safetensors", {"w": entry})


def make_symlinked_shard(directory: Path) -> Path:
    """A sharded checkpoint whose second shard is a link to a text file (the error echoed its first 8 bytes)."""
    target = tiny_checkpoint(directory / "symlinked_shard")
    tensors = read_safetensors(target / "model.safetensors")[0]
    names = sorted(tensors)
    first = {k: tensors[k] for k in names[: len(names) // 2]}
    write_safetensors(target / "model-00001-of-00002.safetensors", first)
    (directory / "secret.txt").write_bytes(SECRET)
    (target / "model-00002-of-00002.safetensors").symlink_to(directory / "secret.txt")
    weight_map = {k: f"model-0000{1 if k in first else 2}-of-00002.safetensors" for k in names}
    (target / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (target / "model.safetensors").unlink()
    return target


# ----------------------------------------------------------------------------------------------------- JSON


def deep_json(depth: int = 100_000) -> str:
    """An array nested `depth` deep: json's decoder raises RecursionError (not a ValueError) on it."""
    return "[" * depth + "]" * depth


def make_deep_json_header(directory: Path) -> Path:
    return safetensors_with_header(directory / "deep_header.safetensors", '{"a":' + deep_json() + "}")


def make_deep_json_index(directory: Path) -> Path:
    target = tiny_checkpoint(directory / "deep_index")
    (target / "model.safetensors").unlink()
    (target / "model.safetensors.index.json").write_text('{"weight_map":' + deep_json() + "}")
    return target


def make_deep_json_config(directory: Path) -> Path:
    target = tiny_checkpoint(directory / "deep_config")
    (target / "config.json").write_text('{"id2label":' + deep_json() + "}")
    return target


def make_long_integer_config(directory: Path) -> Path:
    """A 5000-digit integer (int() refuses more than 4300 digits with a bare ValueError)."""
    target = tiny_checkpoint(directory / "long_integer")
    text = (target / "config.json").read_text().replace('"hidden_size": 32', '"hidden_size": 1' + "0" * 4999)
    (target / "config.json").write_text(text)
    return target


CASES: dict[str, Callable[[Path], Path]] = {
    "deep_tuple_key": make_deep_tuple_key,
    "memoized_long_key": make_memoized_long_key,
    "complex_tensor": make_complex_tensor,
    "float8_tensor": make_float8_tensor,
    "config_layers": make_config_layers,
    "config_labels": make_config_labels,
    "float16_overflow": make_float16_overflow,
    "shape_65_dims": make_shape_65_dims,
    "shape_2_63": make_shape_2_63,
    "symlinked_shard": make_symlinked_shard,
    "deep_json_header": make_deep_json_header,
    "deep_json_index": make_deep_json_index,
    "deep_json_config": make_deep_json_config,
    "long_integer_config": make_long_integer_config,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-3].strip(), file=sys.stderr)
        return 2
    root = Path(argv[1])
    for name, make in CASES.items():
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        print(f"{name}: {make(directory)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
