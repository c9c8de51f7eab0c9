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
from test_tokenizer_v2 import TOY_VALID, _field, _model
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


# ----------------------------------------------------------------------------------------------------- tokenizers


def v1_tokenizer(directory: Path, vocab: object = None, **files: str) -> Path:
    """A toy DeBERTa (v1) tokenizer directory: vocab.json, merges.txt and any `files` (name with _ for .)."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = vocab if vocab is not None else {"a": 0, "b": 1, "ab": 2}
    (directory / "vocab.json").write_text(vocab if isinstance(vocab, str) else json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\na b\n")
    for name, content in files.items():
        (directory / name.replace("_json", ".json")).write_text(content)
    return directory


def v2_tokenizer(directory: Path, model: bytes | None = None, **files: str) -> Path:
    """A toy SentencePiece (v2/v3) tokenizer directory: spm.model and any `files`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spm.model").write_bytes(model if model is not None else _model(TOY_VALID, _field(40, 0)))
    for name, content in files.items():
        (directory / name.replace("_json", ".json")).write_text(content)
    return directory


def make_vocab_huge_id(directory: Path) -> Path:
    """An id of 10^10 in vocab.json: the id table (as long as the largest id) would take 80 GB."""
    return v1_tokenizer(directory / "vocab_huge_id", {"a": 0, "b": 1, "ab": 10**10})


def make_added_token_huge_id(directory: Path) -> Path:
    return v1_tokenizer(directory / "added_huge_id", added_tokens_json=json.dumps({"<x>": 10**10}))


def make_decoder_huge_id(directory: Path) -> Path:
    decoder = {"added_tokens_decoder": {str(10**10): {"content": "<x>", "special": True}}}
    return v2_tokenizer(directory / "decoder_huge_id", tokenizer_config_json=json.dumps(decoder))


def make_truncated_spm(directory: Path) -> Path:
    """An spm.model cut after its pieces: it parses, but without trainer_spec it mapped unknowns to id 0."""
    pieces_only = _model(TOY_VALID)[: -len(_field(2, b"") + _field(3, b""))]
    return v2_tokenizer(directory / "truncated_spm", pieces_only)


def make_spm_without_byte_pieces(directory: Path) -> Path:
    """byte_fallback on, but no <0x..> pieces: sentencepiece refuses to load it."""
    return v2_tokenizer(directory / "spm_no_bytes", _model(TOY_VALID, _field(40, 0) + _field(35, 1)))


def make_bad_model_max_length(directory: Path) -> Path:
    return v1_tokenizer(directory / "max_length", tokenizer_config_json='{"model_max_length": "512 tokens"}')


def make_deep_json_vocab(directory: Path) -> Path:
    return v1_tokenizer(directory / "deep_vocab", '{"a":' + deep_json() + "}")


def make_deep_json_tokenizer_json(directory: Path) -> Path:
    directory = directory / "deep_tokenizer_json"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text('{"model":' + deep_json() + "}")
    return directory


def make_deep_json_tokenizer_config(directory: Path) -> Path:
    return v2_tokenizer(directory / "deep_tokenizer_config", tokenizer_config_json=deep_json())


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
    "vocab_huge_id": make_vocab_huge_id,
    "added_token_huge_id": make_added_token_huge_id,
    "decoder_huge_id": make_decoder_huge_id,
    "truncated_spm": make_truncated_spm,
    "spm_without_byte_pieces": make_spm_without_byte_pieces,
    "bad_model_max_length": make_bad_model_max_length,
    "deep_json_vocab": make_deep_json_vocab,
    "deep_json_tokenizer_json": make_deep_json_tokenizer_json,
    "deep_json_tokenizer_config": make_deep_json_tokenizer_config,
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
