"""deberta_np.safetensors_io: zero-copy reader, package-compatible writer, refusal of malformed files."""

from __future__ import annotations

import json
import mmap
import struct

import numpy as np
import pytest

from deberta_np.errors import CheckpointError
from deberta_np.safetensors_io import read_safetensors, read_safetensors_header, write_safetensors


def _sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "f64": rng.standard_normal((2, 3)),
        "f32": rng.standard_normal((4, 5)).astype(np.float32),
        "f16": rng.standard_normal(7).astype(np.float16),
        "i64": np.arange(-3, 3, dtype=np.int64),
        "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
        "i16": np.array([-(2**15), 2**15 - 1], dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "u16": np.array([1, 65535], dtype=np.uint16),
        "bool": np.array([True, False, True]),
        "scalar": np.array(1.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "b_same_dtype_sorted_by_name": np.ones(2, np.float32),
    }


def _raw(tmp_path, header: dict | bytes, buffer: bytes = b"", length: int | None = None, name="bad"):
    """Write a safetensors file by hand: header (dict -> JSON), then buffer."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(struct.pack("<Q", len(head) if length is None else length) + head + buffer)
    return path


def _entry(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


# ---------------------------------------------------------------------------------------------- round trips


def test_round_trip_own_writer_and_reader(tmp_path):
    tensors = _sample()
    path = tmp_path / "m.safetensors"
    write_safetensors(path, tensors, {"format": "np"})
    out, meta = read_safetensors(path)
    assert meta == {"format": "np"}
    assert out.keys() == tensors.keys()
    for k, v in tensors.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape
        np.testing.assert_array_equal(out[k], v)
    header, meta2 = read_safetensors_header(path)
    assert meta2 == meta and header["i32"] == ("I32", (2, 3))


def test_writer_accepts_noncontiguous_and_big_endian(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    tensors = {"t": a.T, "be": a.astype(">f4"), "step": a[:, ::2]}
    write_safetensors(tmp_path / "m.safetensors", tensors)
    out, _ = read_safetensors(tmp_path / "m.safetensors")
    for k, v in tensors.items():
        np.testing.assert_array_equal(out[k], v)
    assert out["be"].dtype == np.dtype("<f4")


def test_writer_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(CheckpointError, match="complex"):
        write_safetensors(tmp_path / "m.safetensors", {"c": np.zeros(2, np.complex64)})
    with pytest.raises(CheckpointError, match="metadata"):
        write_safetensors(tmp_path / "m.safetensors", {}, {"a": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("metadata", [None, {}, {"format": "pt"}])
def test_writer_is_byte_identical_to_package(tmp_path, metadata):
    st = pytest.importorskip("safetensors.numpy")
    tensors = _sample()
    write_safetensors(tmp_path / "ours.safetensors", tensors, metadata)
    st.save_file(tensors, tmp_path / "theirs.safetensors", metadata=metadata)
    assert (tmp_path / "ours.safetensors").read_bytes() == (tmp_path / "theirs.safetensors").read_bytes()


def test_package_reads_ours_and_we_read_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = _sample()
    meta = {"a": "1", "b": "é\n"}
    write_safetensors(tmp_path / "ours.safetensors", tensors, meta)
    theirs = st.load_file(tmp_path / "ours.safetensors")
    st.save_file(tensors, tmp_path / "theirs.safetensors", metadata=meta)
    ours, ours_meta = read_safetensors(tmp_path / "theirs.safetensors")
    assert ours_meta == meta
    for k, v in tensors.items():
        for got in (theirs[k], ours[k]):
            assert got.dtype == v.dtype and got.shape == v.shape
            np.testing.assert_array_equal(got, v)


# ------------------------------------------------------------------------------------------- dtypes, zero-copy


def test_f16_values_exact(tmp_path):
    values = np.array([0.0, -0.0, 1.0, 65504.0, 6.1e-05, 5.96e-08, np.inf, -np.inf], dtype=np.float16)
    path = _raw(tmp_path, {"h": _entry("F16", (8,), (0, 16))}, values.tobytes())
    out, _ = read_safetensors(path)
    assert out["h"].dtype == np.float16
    np.testing.assert_array_equal(out["h"].view(np.uint16), values.view(np.uint16))


def test_bf16_is_upcast_to_float32_by_bit_pattern(tmp_path):
    bits = np.array([0x0000, 0x8000, 0x3F80, 0xC040, 0x7F80, 0xFF80, 0x0001, 0x7F7F, 0x3EAB], np.uint16)
    path = _raw(tmp_path, {"b": _entry("BF16", (3, 3), (0, 18))}, bits.astype("<u2").tobytes())
    out, _ = read_safetensors(path)
    expected = np.array([0.0, -0.0, 1.0, -3.0, np.inf, -np.inf, 2.0**-133, 3.3895314e38, 0.333984375])
    assert out["b"].dtype == np.float32 and out["b"].shape == (3, 3)
    np.testing.assert_array_equal(out["b"].ravel(), expected.astype(np.float32))
    assert np.signbit(out["b"].ravel()[1])
    assert out["b"].flags.writeable is False


def test_bf16_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.randn(5, 7).to(torch.bfloat16)
    t[0, :3] = torch.tensor([float("nan"), float("inf"), -0.0])
    st_torch.save_file({"w": t}, tmp_path / "bf.safetensors")
    out, _ = read_safetensors(tmp_path / "bf.safetensors")
    np.testing.assert_array_equal(out["w"], t.float().numpy())


def test_zero_copy_views_of_a_read_only_mmap(tmp_path):
    tensors = _sample()
    write_safetensors(tmp_path / "m.safetensors", tensors)
    out, _ = read_safetensors(tmp_path / "m.safetensors")
    for name in ("f32", "i32", "f16", "scalar"):
        arr = out[name]
        assert arr.flags.writeable is False
        base = arr
        while isinstance(base, np.ndarray):
            base = base.base
        if isinstance(base, memoryview):  # NumPy 2 keeps the exporter's memoryview as the base
            base = base.obj
        assert isinstance(base, mmap.mmap), name
        with pytest.raises(ValueError):
            arr[...] = 0


def test_empty_file_of_tensors_and_zero_rank(tmp_path):
    path = _raw(tmp_path, {"s": _entry("I64", (), (0, 8)), "e": _entry("F32", (0, 5), (8, 8))}, bytes(8))
    out, meta = read_safetensors(path)
    assert out["s"].shape == () and out["s"] == 0 and out["e"].shape == (0, 5) and meta == {}
    out, _ = read_safetensors(_raw(tmp_path, b"{}      ", name="nothing"))
    assert out == {}


def test_padded_header_with_metadata(tmp_path):
    head = json.dumps({"__metadata__": {"k": "v"}, "x": _entry()}).encode() + b"   "
    out, meta = read_safetensors(_raw(tmp_path, head, np.float32(2).tobytes()))
    assert meta == {"k": "v"} and out["x"][0] == 2


# -------------------------------------------------------------------------------------------- malformed files

F4 = bytes(4)

MALFORMED = [
    # (id, header, buffer, length override, message fragment)
    ("header_too_long", {"x": _entry()}, F4, 100_000_001, "exceeds"),
    ("header_past_eof", {"x": _entry()}, F4, 10_000, "past the end"),
    ("not_utf8", b'{"x\xff":1}', b"", None, "UTF-8"),
    ("not_json", b"{nope", b"", None, "not valid JSON"),
    ("not_object_start", b"[1, 2]", b"", None, "does not start"),
    ("leading_space", b' {"x":1}', b"", None, "does not start"),
    ("duplicate_key", b'{"x":' + json.dumps(_entry()).encode() + b',"x":' + json.dumps(_entry()).encode() + b"}", F4, None, "duplicate key 'x'"),
    ("entry_not_object", {"x": [1]}, b"", None, "not a JSON object"),
    ("missing_dtype", {"x": {"shape": [1], "data_offsets": [0, 4]}}, F4, None, "lacks ['dtype']"),
    ("missing_shape", {"x": {"dtype": "F32", "data_offsets": [0, 4]}}, F4, None, "lacks ['shape']"),
    ("missing_offsets", {"x": {"dtype": "F32", "shape": [1]}}, F4, None, "lacks ['data_offsets']"),
    ("unknown_field", {"x": {**_entry(), "extra": 1}}, F4, None, "unknown fields"),
    ("dtype_not_str", {"x": _entry(dtype=4)}, F4, None, "dtype must be a string"),
    ("unknown_dtype", {"x": _entry(dtype="F8_E4M3")}, F4, None, "unknown dtype 'F8_E4M3'"),
    ("shape_not_list", {"x": {**_entry(), "shape": 4}}, F4, None, "shape must be a list"),
    ("shape_float", {"x": _entry(shape=(1.0,))}, F4, None, "shape must be a list of integers"),
    ("shape_bool", {"x": _entry(shape=(True,))}, F4, None, "shape must be a list of integers"),
    ("negative_dim", {"x": _entry(shape=(-1, -4))}, F4, None, "negative dimension"),
    ("offsets_three", {"x": _entry(offsets=(0, 4, 8))}, F4, None, "data_offsets must be"),
    ("offsets_str", {"x": _entry(offsets=("0", "4"))}, F4, None, "data_offsets must be"),
    ("offsets_negative", {"x": _entry(offsets=(-4, 0))}, F4, None, "outside"),
    ("offsets_reversed", {"x": _entry(offsets=(4, 0))}, F4 + F4, None, "outside"),
    ("offsets_past_buffer", {"x": _entry(offsets=(4, 8))}, F4, None, "outside"),
    ("size_mismatch", {"x": _entry(shape=(2,), offsets=(0, 4))}, F4, None, "needs 8 bytes"),
    ("overlap", {"x": _entry(shape=(2,), offsets=(0, 8)), "y": _entry(offsets=(4, 8))}, F4 + F4, None, "overlap"),
    ("hole", {"x": _entry(offsets=(0, 4)), "y": _entry(offsets=(8, 12))}, F4 * 3, None, "hole"),
    ("hole_at_start", {"x": _entry(offsets=(4, 8))}, F4 * 2, None, "hole"),
    ("trailing_bytes", {"x": _entry()}, F4 + F4, None, "belong to no tensor"),
    ("metadata_not_dict", {"__metadata__": ["a"], "x": _entry()}, F4, None, "__metadata__"),
    ("metadata_int_value", {"__metadata__": {"a": 1}, "x": _entry()}, F4, None, "__metadata__"),
    ("metadata_null", {"__metadata__": None, "x": _entry()}, F4, None, "__metadata__"),
    ("bool_not_0_1", {"x": _entry("BOOL", (2,), (0, 2))}, b"\x01\x02", None, "BOOL"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "buffer", "length", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_files_are_refused(tmp_path, header, buffer, length, message):
    path = _raw(tmp_path, header, buffer, length)
    with pytest.raises(CheckpointError, match="safetensors file") as info:
        read_safetensors(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    if isinstance(header, dict) and message not in ("exceeds", "past the end", "belong to no tensor"):
        if "__metadata__" not in header:  # a problem with one tensor names it
            assert "tensor 'x'" in str(info.value) or "tensor 'y'" in str(info.value)


@pytest.mark.parametrize("size", [0, 3, 7])
def test_file_shorter_than_eight_bytes(tmp_path, size):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x01" * size)
    with pytest.raises(CheckpointError, match="shorter than the 8-byte"):
        read_safetensors(path)


def test_header_reader_validates_too(tmp_path):
    path = _raw(tmp_path, {"x": _entry(shape=(3,))}, F4)
    with pytest.raises(CheckpointError, match="needs 12 bytes"):
        read_safetensors_header(path)


def test_package_agrees_on_hole_and_trailing_bytes(tmp_path):
    """Our "no holes" rule is the reference implementation's: it refuses these files too."""
    st = pytest.importorskip("safetensors.numpy")
    for header, buffer in [
        ({"x": _entry(offsets=(0, 4)), "y": _entry(offsets=(8, 12))}, F4 * 3),
        ({"x": _entry()}, F4 + F4),
    ]:
        path = _raw(tmp_path, header, buffer)
        with pytest.raises(Exception):  # noqa: B017  (safetensors_rust.SafetensorError)
            st.load_file(path)
        with pytest.raises(CheckpointError):
            read_safetensors(path)
