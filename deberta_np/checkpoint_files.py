"""Find the checkpoint files of a model directory and read them into one state dict of NumPy arrays.

Supported: ``model.safetensors``, a sharded ``model.safetensors.index.json``, ``pytorch_model.bin`` (torch
zip format), a sharded ``pytorch_model.bin.index.json`` and TensorFlow's ``tf_model.h5`` (with h5py), tried in
that order. Keys are returned as stored, except in ``tf_model.h5``, whose Keras variable names and layouts are
turned into transformers' PyTorch ones (deberta_np/tf_h5.py); renaming them to the model's names happens
elsewhere (parameters.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from deberta_np.errors import CheckpointError
from deberta_np.jsonio import loads
from deberta_np.safetensors_io import read_safetensors, read_safetensors_header
from deberta_np.tf_h5 import HDF5_MAGIC, TF_CHECKPOINT_NAME, read_tf_h5
from deberta_np.torch_pickle import read_torch_zip

__all__ = ["CHECKPOINT_NAMES", "find_checkpoint_files", "read_state_dict"]

CHECKPOINT_NAMES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    TF_CHECKPOINT_NAME,  # last: as in transformers, a PyTorch file in the same folder is preferred
)
_TORCH_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_HDF5_SUFFIXES = (".h5", ".hdf5")
_MAX_INDEX_BYTES = 64 * 2**20


def _kind(file: Path) -> Literal["index", "torch", "safetensors", "tf"]:
    if file.name.endswith(".index.json"):
        return "index"
    with open(file, "rb") as f:
        magic = f.read(len(HDF5_MAGIC))
    if magic == HDF5_MAGIC or file.suffix in _HDF5_SUFFIXES:
        return "tf"
    if magic.startswith(b"PK\x03\x04") or file.suffix in _TORCH_SUFFIXES:
        return "torch"  # read_torch_zip explains what is wrong with a legacy (non-zip) .bin
    return "safetensors"


def _read_index(index: Path) -> dict[str, str]:
    """Return the validated ``weight_map`` {key: shard file name} of a sharded checkpoint's index."""
    if index.stat().st_size > _MAX_INDEX_BYTES:
        raise CheckpointError(f"{index}: index file larger than {_MAX_INDEX_BYTES} bytes")
    try:
        text = index.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{index}: not a JSON index file ({e})") from None
    obj = loads(text, lambda reason: CheckpointError(f"{index}: not a JSON index file: {reason}"))
    weight_map = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{index}: no 'weight_map' object mapping keys to shard files")
    for key, shard in weight_map.items():
        if not isinstance(shard, str) or shard in ("", ".", "..") or "/" in shard or "\\" in shard:
            raise CheckpointError(
                f"{index}: key {key!r} names shard {shard!r}, not a file name in its folder"
            )
    return weight_map


def _resolve(path: str | os.PathLike) -> tuple[list[Path], Path | None, dict[str, str] | None]:
    """Return (files, index file or None, weight map or None) for a checkpoint file or directory."""
    path = Path(path)
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise CheckpointError(f"{path}: no checkpoint found; looked for {', '.join(CHECKPOINT_NAMES)}")
    elif not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or directory")
    if _kind(path) != "index":
        return [path], None, None
    weight_map = _read_index(path)
    shards = [path.parent / name for name in dict.fromkeys(weight_map.values())]
    for shard in shards:
        if not shard.is_file():
            raise CheckpointError(f"{path}: names shard {shard.name}, which does not exist in {shard.parent}")
        if _kind(shard) == "index":
            raise CheckpointError(f"{path}: names another index, {shard.name}, as a shard")
    return shards, path, weight_map


def _check_shard(index: Path, weight_map: dict[str, str], shard: Path, keys: set[str]) -> None:
    """Every key the index assigns to ``shard`` is in it, and it holds nothing the index puts elsewhere."""
    listed = {k for k, v in weight_map.items() if v == shard.name}
    missing = sorted(listed - keys)
    if missing:
        raise CheckpointError(
            f"{index}: key {missing[0]!r} is assigned to shard {shard.name}, which does not contain it"
            + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else "")
        )
    extra = sorted(keys - listed)
    if extra:
        where = weight_map.get(extra[0])
        listed_as = f"the index assigns it to {where}" if where else "the index does not list it"
        raise CheckpointError(f"{index}: shard {shard.name} holds key {extra[0]!r} but {listed_as}")


def _shard_keys(shard: Path) -> set[str]:
    kind = _kind(shard)
    if kind == "safetensors":
        return set(read_safetensors_header(shard)[0])  # the header alone
    if kind == "tf":
        return set(read_tf_h5(shard))
    return set(read_torch_zip(shard))  # views of a memory map: cheap


def find_checkpoint_files(path: str | os.PathLike) -> list[Path]:
    """The checkpoint file(s) at ``path``, a file or a model directory (shards for a sharded checkpoint).

    In a directory: model.safetensors, then model.safetensors.index.json, then pytorch_model.bin, then
    pytorch_model.bin.index.json, then tf_model.h5. A shard index is checked against its shards: each must exist and hold
    exactly the keys the index assigns to it. Raises CheckpointError otherwise.
    """
    files, index, weight_map = _resolve(path)
    if index is not None and weight_map is not None:
        for shard in files:
            _check_shard(index, weight_map, shard, _shard_keys(shard))
    return files


def _read_file(file: Path, mmap: bool) -> dict[str, np.ndarray]:
    kind = _kind(file)
    if kind == "safetensors":
        return read_safetensors(file, mmap=mmap)[0]
    if kind == "tf":
        return read_tf_h5(file)  # read into memory either way (HDF5 datasets are not one mapped range)
    return read_torch_zip(file, mmap=mmap)


def read_state_dict(path: str | os.PathLike, mmap: bool = True) -> dict[str, np.ndarray]:
    """Read the state dict at ``path`` (file, directory or shard index) as ``{key as stored: array}``.

    Arrays are read-only and, where the format allows, zero-copy views of memory-mapped files: the files
    must then stay as they are while the arrays live (truncating one gives SIGBUS on access, rewriting it
    in place changes the arrays). mmap=False reads each file into private memory instead. Shards are
    merged; a key in two shards, or anywhere the index does not put it, raises CheckpointError.
    """
    files, index, weight_map = _resolve(path)
    merged: dict[str, np.ndarray] = {}
    seen_in: dict[str, Path] = {}
    for file in files:
        tensors = _read_file(file, mmap)
        for key in tensors:
            if key in seen_in:
                raise CheckpointError(f"key {key!r} appears in two shards: {seen_in[key]} and {file}")
            seen_in[key] = file
        if index is not None and weight_map is not None:
            _check_shard(index, weight_map, file, set(tensors))
        merged.update(tensors)
    return merged
