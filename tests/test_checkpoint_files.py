"""deberta_np.checkpoint_files: finding checkpoint files (single, sharded) and merging them into one state dict."""

from __future__ import annotations

import json
import re
import struct
import zipfile

import numpy as np
import pytest

from deberta_np.checkpoint_files import find_checkpoint_files, read_state_dict
from deberta_np.errors import CheckpointError
from deberta_np.safetensors_io import write_safetensors


def _torch_zip(path, tensors: dict[str, np.ndarray]) -> None:
    """A minimal torch.save-style zip of float32 1-D tensors, written without torch."""

    def text(s: str) -> bytes:
        return b"X" + struct.pack("<I", len(s.encode())) + s.encode()

    def num(n: int) -> bytes:
        return b"J" + struct.pack("<i", n)

    body = b""
    for i, (key, value) in enumerate(tensors.items()):
        pid = (
            b"(" + text("storage") + b"ctorch\nFloatStorage\n" + text(str(i)) + text("cpu") + num(value.size)
        )
        body += text(key) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"tQ" + num(0)
        body += b"(" + num(value.size) + b"t(" + num(1) + b"t\x89ccollections\nOrderedDict\n)RtR"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}(" + body + b"u.")
        zf.writestr("archive/byteorder", b"little")
        for i, value in enumerate(tensors.values()):
            zf.writestr(f"archive/data/{i}", np.asarray(value, "<f4").tobytes())


A = {"a.weight": np.arange(4, dtype=np.float32), "a.bias": np.ones(2, np.float32)}
B = {"b.weight": np.full(3, 7, np.float32)}


def _index(directory, name: str, weight_map: dict[str, str]) -> None:
    (directory / name).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))


def _sharded(directory, stem="model", suffix=".safetensors", write=write_safetensors):
    """A and B in two shards `<stem>-0000k-of-00002<suffix>` written by `write`, and their index; the weight map."""
    weight_map = {}
    for k, part in enumerate((A, B), 1):
        shard = f"{stem}-0000{k}-of-00002{suffix}"
        write(directory / shard, part)
        weight_map.update(dict.fromkeys(part, shard))
    _index(directory, f"{stem}{suffix}.index.json", weight_map)
    return weight_map


def _assert_state(out, *parts):
    expected = {k: v for part in parts for k, v in part.items()}
    assert out.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_array_equal(out[k], v)


def test_single_safetensors_file_and_directory(tmp_path):
    write_safetensors(tmp_path / "model.safetensors", A)
    assert find_checkpoint_files(tmp_path) == [tmp_path / "model.safetensors"]
    assert find_checkpoint_files(tmp_path / "model.safetensors") == [tmp_path / "model.safetensors"]
    _assert_state(read_state_dict(tmp_path), A)
    _assert_state(read_state_dict(str(tmp_path / "model.safetensors")), A)


def test_preference_order(tmp_path):
    _torch_zip(tmp_path / "pytorch_model.bin", B)
    assert find_checkpoint_files(tmp_path) == [tmp_path / "pytorch_model.bin"]
    _assert_state(read_state_dict(tmp_path), B)
    _index(tmp_path, "pytorch_model.bin.index.json", {"b.weight": "pytorch_model.bin"})
    assert find_checkpoint_files(tmp_path) == [tmp_path / "pytorch_model.bin"]  # .bin beats its index
    _sharded(tmp_path)
    assert [p.name for p in find_checkpoint_files(tmp_path)] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    write_safetensors(tmp_path / "model.safetensors", A)
    assert find_checkpoint_files(tmp_path) == [tmp_path / "model.safetensors"]
    _assert_state(read_state_dict(tmp_path), A)


def test_sharded_safetensors(tmp_path):
    _sharded(tmp_path)
    assert len(find_checkpoint_files(tmp_path)) == 2
    _assert_state(read_state_dict(tmp_path), A, B)
    _assert_state(read_state_dict(tmp_path / "model.safetensors.index.json"), A, B)


def test_sharded_torch_bins(tmp_path):
    weight_map = _sharded(tmp_path, "pytorch_model", ".bin", _torch_zip)
    assert [p.name for p in find_checkpoint_files(tmp_path)] == sorted(set(weight_map.values()))
    _assert_state(read_state_dict(tmp_path), A, B)


BOTH_READERS = (find_checkpoint_files, read_state_dict)


# An index that does not match its shards: the change to its weight map (None: the key is dropped), what the error
# names, and which readers refuse it.
@pytest.mark.parametrize(
    ("change", "message", "readers"),
    [
        pytest.param(
            {"c.weight": "model-00003-of-00003.safetensors"},
            "model-00003-of-00003.safetensors, which does not exist",
            BOTH_READERS,
            id="names-a-missing-shard",
        ),
        pytest.param(
            {"ghost": "model-00001-of-00002.safetensors"},
            "'ghost' is assigned to shard model-00001-of-00002",
            BOTH_READERS,
            id="key-absent-from-its-shard",
        ),
        pytest.param(
            {"b.weight": "model-00001-of-00002.safetensors"},
            "'b.weight' is assigned to shard model-00001",
            (find_checkpoint_files,),
            id="assigns-key-to-the-wrong-shard",
        ),
        pytest.param(
            {"a.bias": None},
            "holds key 'a.bias' but the index does not list it",
            BOTH_READERS,
            id="shard-holds-a-key-the-index-omits",
        ),
    ],
)
def test_index_that_disagrees_with_its_shards(tmp_path, change, message, readers):
    weight_map = _sharded(tmp_path)
    for key, shard in change.items():
        if shard is None:
            del weight_map[key]
        else:
            weight_map[key] = shard
    _index(tmp_path, "model.safetensors.index.json", weight_map)
    for reader in readers:
        with pytest.raises(CheckpointError, match=re.escape(message)):
            reader(tmp_path)


def test_key_in_two_shards(tmp_path):
    _sharded(tmp_path)
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {**B, "a.bias": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match=re.escape("'a.bias' appears in two shards")):
        read_state_dict(tmp_path)
    with pytest.raises(CheckpointError, match=re.escape("a.bias")):
        find_checkpoint_files(tmp_path)


@pytest.mark.parametrize(
    "index",
    [
        "not json",
        json.dumps([1]),
        json.dumps({"metadata": {}}),
        json.dumps({"weight_map": {}}),
        json.dumps({"weight_map": {"a": "../model.safetensors"}}),
        json.dumps({"weight_map": {"a": "/etc/passwd"}}),
        json.dumps({"weight_map": {"a": 3}}),
    ],
)
def test_malformed_index(tmp_path, index):
    (tmp_path / "model.safetensors.index.json").write_text(index)
    with pytest.raises(CheckpointError, match=re.escape("model.safetensors.index.json")):
        find_checkpoint_files(tmp_path)


def test_nothing_found(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError) as info:
        find_checkpoint_files(tmp_path)
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        assert name in str(info.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_state_dict(tmp_path / "missing")


def test_legacy_bin_is_explained(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match="legacy"):
        read_state_dict(tmp_path)


def test_keys_are_returned_as_stored(tmp_path):
    odd = {
        "deberta.embeddings.word_embeddings.weight": np.zeros(1, np.float32),
        "lm_predictions.x": B["b.weight"],
    }
    write_safetensors(tmp_path / "model.safetensors", odd)
    assert set(read_state_dict(tmp_path)) == set(odd)
