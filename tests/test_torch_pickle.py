"""deberta_np.torch_pickle: read torch.save zips without torch; refuse every malicious or malformed file.

The malicious corpus is written with raw pickle opcodes (no torch needed) and wrapped in otherwise
valid torch-style zips. Each payload tries to create a marker file; the tests assert it never appears.
"""

from __future__ import annotations

import collections
import pickle
import struct
import sys
import time
import zipfile

import numpy as np
import pytest

from deberta_np.errors import CheckpointError, UnsafeCheckpointError
from deberta_np.torch_pickle import read_torch_zip

# ------------------------------------------------------------------------------------ raw pickle builders


def glob(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def text(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def num(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


PROTO, STOP = b"\x80\x02", b"."
EMPTY_HOOKS = glob("collections", "OrderedDict") + b")R"


def tensor(kind: str, key: str, numel: int, offset: int, size, stride, *, bf16=False) -> bytes:
    """_rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()) as torch writes it."""
    pid = tup(text("storage"), glob("torch", kind), text(key), text("cpu"), num(numel)) + b"Q"
    args = tup(pid, num(offset), tup(*map(num, size)), tup(*map(num, stride)), b"\x89", EMPTY_HOOKS)
    return glob("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict(*items: tuple[str, bytes]) -> bytes:
    return PROTO + b"}(" + b"".join(text(k) + v for k, v in items) + b"u" + STOP


def torch_zip(
    path,
    pkl: bytes,
    storages: dict[str, bytes] | None = None,
    *,
    byteorder: str | None = "little",
    prefix: str = "archive",
    compress: set[str] = frozenset(),
    extra: dict[str, bytes] | None = None,
):
    """A zip laid out as torch.save lays it out (stored members unless named in ``compress``)."""
    members = {f"{prefix}/data.pkl": pkl}
    if byteorder is not None:
        members[f"{prefix}/byteorder"] = byteorder.encode()
    members.update({f"{prefix}/data/{k}": v for k, v in (storages or {}).items()})
    members[f"{prefix}/version"] = b"3\n"
    members.update(extra or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            method = zipfile.ZIP_DEFLATED if name in compress else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def f32(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


# ------------------------------------------------------------------------------------- valid hand-built files


def test_hand_built_state_dict(tmp_path):
    pkl = state_dict(
        ("w", tensor("FloatStorage", "0", 6, 0, (2, 3), (3, 1))),
        ("w_t", tensor("FloatStorage", "0", 6, 0, (3, 2), (1, 3))),  # transpose: shares storage 0
        ("tail", tensor("FloatStorage", "0", 6, 4, (2,), (1,))),  # offset view into storage 0
        ("ids", tensor("LongStorage", "1", 3, 0, (3,), (1,))),
        ("empty", tensor("FloatStorage", "2", 0, 0, (0, 4), (4, 1))),
        ("scalar", tensor("HalfStorage", "3", 1, 0, (), ())),
    )
    storages = {
        "0": f32(0, 1, 2, 3, 4, 5),
        "1": np.array([7, -1, 2**40], "<i8").tobytes(),
        "2": b"",
        "3": np.array([1.5], "<f2").tobytes(),
    }
    out = read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, storages))
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(out["w"], w)
    np.testing.assert_array_equal(out["w_t"], w.T)
    np.testing.assert_array_equal(out["tail"], [4, 5])
    np.testing.assert_array_equal(out["ids"], [7, -1, 2**40])
    assert out["empty"].shape == (0, 4) and out["empty"].dtype == np.float32
    assert out["scalar"].shape == () and out["scalar"].dtype == np.float16 and out["scalar"] == 1.5
    assert all(not a.flags.writeable and a.flags.c_contiguous for a in out.values())
    assert np.shares_memory(out["w"], out["tail"])  # zero-copy views of the same mapped storage


def test_big_endian_byteorder_record(tmp_path):
    pkl = state_dict(("w", tensor("FloatStorage", "0", 3, 0, (3,), (1,))))
    storages = {"0": np.array([1.0, -2.5, 3e38], ">f4").tobytes()}
    out = read_torch_zip(torch_zip(tmp_path / "be.bin", pkl, storages, byteorder="big"))
    np.testing.assert_array_equal(out["w"], np.array([1.0, -2.5, 3e38], np.float32))
    assert out["w"].dtype.isnative
    missing = read_torch_zip(torch_zip(tmp_path / "old.bin", pkl, {"0": f32(1, 2, 3)}, byteorder=None))
    np.testing.assert_array_equal(missing["w"], [1, 2, 3])  # no record: little-endian (older torch)
    with pytest.raises(CheckpointError, match="byteorder"):
        read_torch_zip(torch_zip(tmp_path / "odd.bin", pkl, {"0": f32(1, 2, 3)}, byteorder="middle"))


def test_bf16_storage_upcast(tmp_path):
    bits = np.array([0x3F80, 0xC040, 0x7F80, 0x8000], "<u2")
    pkl = state_dict(("b", tensor("BFloat16Storage", "0", 4, 0, (2, 2), (1, 2))))  # transposed
    out = read_torch_zip(torch_zip(tmp_path / "bf.bin", pkl, {"0": bits.tobytes()}))
    assert out["b"].dtype == np.float32
    np.testing.assert_array_equal(out["b"], np.array([[1.0, np.inf], [-3.0, -0.0]], np.float32))


def test_nested_dicts_are_flattened(tmp_path):
    inner = b"}(" + text("w") + tensor("FloatStorage", "0", 1, 0, (1,), (1,)) + b"u"
    pkl = PROTO + b"}(" + text("model") + inner + b"u" + STOP
    out = read_torch_zip(torch_zip(tmp_path / "n.bin", pkl, {"0": f32(1)}))
    assert list(out) == ["model.w"]


# ----------------------------------------------------------------------------------- real torch.save files


def _torch_state_dict(torch):
    lin = torch.nn.Linear(4, 3)
    lin.register_buffer("steps", torch.tensor([1, 2, 3], dtype=torch.int64))
    sd = lin.state_dict()  # an OrderedDict with a _metadata attribute
    assert hasattr(sd, "_metadata")
    base = torch.arange(12, dtype=torch.float32)
    sd["half"] = torch.randn(3, 5).half()
    sd["bf16"] = torch.randn(2, 6).to(torch.bfloat16)
    sd["bf16_t"] = sd["bf16"].t()
    sd["transposed"] = torch.randn(3, 4).t()
    sd["shared_a"] = base[:5]
    sd["shared_b"] = base[5:].view(7, 1)
    sd["empty"] = torch.zeros(0, 3)
    sd["scalar"] = torch.tensor(2.5, dtype=torch.float64)
    sd["flags"] = torch.tensor([True, False])
    sd["i8"] = torch.tensor([-3, 4], dtype=torch.int8)
    sd["position_ids"] = torch.arange(8).expand((1, -1))  # as HF registers position_ids
    sd["param"] = torch.nn.Parameter(torch.ones(2))
    with_attr = torch.full((2,), 3.0)
    with_attr.note = "x"  # pickled through torch._tensor._rebuild_from_type_v2
    sd["with_attr"] = with_attr
    param_with_attr = torch.nn.Parameter(torch.zeros(3))
    param_with_attr.note = 1  # pickled through torch._utils._rebuild_parameter_with_state
    sd["param_with_attr"] = param_with_attr
    return sd


def _as_numpy(torch, t):
    t = t.detach()
    return (t.float() if t.dtype == torch.bfloat16 else t).contiguous().numpy()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_torch_save_matches_torch_load_and_safetensors(tmp_path, protocol):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    from deberta_np.safetensors_io import read_safetensors

    sd = _torch_state_dict(torch)
    torch.save(sd, tmp_path / "pytorch_model.bin", pickle_protocol=protocol)
    ours = read_torch_zip(tmp_path / "pytorch_model.bin")
    # torch's own weights_only unpickler knows protocol 2 only (no FRAME); this file is ours, so trusted.
    theirs = torch.load(tmp_path / "pytorch_model.bin", weights_only=protocol == 2)
    assert list(ours) == list(theirs) == list(sd)
    for k, t in theirs.items():
        expected = _as_numpy(torch, t)
        assert ours[k].dtype == expected.dtype and ours[k].shape == expected.shape, k
        np.testing.assert_array_equal(ours[k], expected, err_msg=k)
        assert not ours[k].flags.writeable and ours[k].flags.c_contiguous
    st_torch.save_file(
        {k: v.detach().clone().contiguous() for k, v in sd.items()}, tmp_path / "m.safetensors"
    )
    from_st, _ = read_safetensors(tmp_path / "m.safetensors")
    assert from_st.keys() == ours.keys()
    for k in ours:
        assert from_st[k].dtype == ours[k].dtype, k
        np.testing.assert_array_equal(from_st[k], ours[k], err_msg=k)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside transformers/torch
def test_transformers_deberta_bin_equals_safetensors(tmp_path):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from deberta_np.checkpoint_files import read_state_dict

    config = transformers.DebertaConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        relative_attention=True,
        max_relative_positions=8,
        pos_att_type=["c2p", "p2c"],
    )
    model = transformers.DebertaModel(config)
    model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    model.save_pretrained(tmp_path / "st")
    assert (tmp_path / "bin" / "pytorch_model.bin").is_file()
    assert (tmp_path / "st" / "model.safetensors").is_file()
    from_bin = read_torch_zip(tmp_path / "bin" / "pytorch_model.bin")
    from_st = read_state_dict(tmp_path / "st")
    assert from_bin.keys() == from_st.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(from_bin[k], v.numpy(), err_msg=k)
        np.testing.assert_array_equal(from_st[k], from_bin[k], err_msg=k)


# --------------------------------------------------------------------------------------- malicious corpus


def _payloads(marker) -> dict[str, bytes]:
    """Pickles that try to create ``marker`` when unpickled by a permissive loader."""
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    good = text("w") + tensor("FloatStorage", "0", 1, 0, (1,), (1,))  # so the rest of the dict is plausible

    stack_exec = text("builtins") + text("exec") + b"\x93"

    def in_dict(evil: bytes) -> bytes:
        return PROTO + b"}(" + good + text("x") + evil + b"u" + STOP

    return {
        "bare_os_system": PROTO + glob("os", "system") + tup(text(cmd)) + b"R" + STOP,
        "bare_builtins_exec": PROTO + glob("builtins", "exec") + tup(text(code)) + b"R" + STOP,
        "bare_stack_global_exec": PROTO + stack_exec + tup(text(code)) + b"R" + STOP,
        "reduce_os_system": in_dict(glob("os", "system") + tup(text(cmd)) + b"R"),
        "reduce_posix_system": in_dict(glob("posix", "system") + tup(text(cmd)) + b"R"),
        "reduce_builtins_eval": in_dict(glob("builtins", "eval") + tup(text(code)) + b"R"),
        "reduce_builtins_exec": in_dict(glob("builtins", "exec") + tup(text(code)) + b"R"),
        "reduce_builtins_getattr": in_dict(
            glob("builtins", "getattr") + tup(glob("os", "system"), text("__call__")) + b"R"
        ),
        "reduce_builtins_import": in_dict(glob("builtins", "__import__") + tup(text("os")) + b"R"),
        "reduce_subprocess_popen": in_dict(
            glob("subprocess", "Popen") + tup(b"]" + b"(" + text("touch") + text(str(marker)) + b"e") + b"R"
        ),
        "inst_os_system": in_dict(b"(" + text(cmd) + b"i" + b"os\nsystem\n"),
        "inst_allowlisted": in_dict(b"(" + b"i" + b"collections\nOrderedDict\n"),
        "obj_os_system": in_dict(b"(" + glob("os", "system") + text(cmd) + b"o"),
        "obj_allowlisted": in_dict(b"(" + glob("collections", "OrderedDict") + b"o"),
        "newobj_popen": in_dict(glob("subprocess", "Popen") + tup(text(cmd)) + b"\x81"),
        "newobj_allowlisted": in_dict(glob("torch._utils", "_rebuild_tensor_v2") + b")\x81"),
        "stack_global_os_system": in_dict(text("os") + text("system") + b"\x93" + tup(text(cmd)) + b"R"),
        "stack_global_exec": in_dict(stack_exec + tup(text(code)) + b"R"),
        "stack_global_non_str": in_dict(num(1) + text("system") + b"\x93"),
        "torch_but_not_allowed": in_dict(glob("torch", "load") + tup(text("x")) + b"R"),
        "torch_serialization": in_dict(glob("torch.serialization", "_load") + tup() + b"R"),
        "reduce_storage_class": in_dict(glob("torch", "FloatStorage") + tup(num(10)) + b"R"),
        "reduce_type_marker": in_dict(glob("torch", "Tensor") + tup() + b"R"),
        "reduce_on_string": in_dict(text("os.system") + tup(text(cmd)) + b"R"),
        "reduce_non_tuple_args": in_dict(glob("collections", "OrderedDict") + b"]R"),
        "setitem_on_list": in_dict(b"]" + text("k") + text("v") + b"s"),
        "setitems_on_list": in_dict(b"](" + text("k") + text("v") + b"u"),
        "setitem_on_tuple": in_dict(b")" + text("k") + text("v") + b"s"),
        "setitem_on_tensor": in_dict(
            tensor("FloatStorage", "0", 1, 0, (1,), (1,)) + text("__class__") + text("v") + b"s"
        ),
        "append_on_dict": in_dict(b"}" + text("v") + b"a"),
        "appends_on_tuple": in_dict(b")(" + text("v") + b"e"),
        "build_on_plain_dict": in_dict(b"}}" + b"b"),
        "build_on_list": in_dict(b"]}" + b"b"),
        "build_on_tensor": in_dict(tensor("FloatStorage", "0", 1, 0, (1,), (1,)) + b"}b"),
        "build_on_global": in_dict(glob("torch", "Size") + b"}b"),
        "persid_not_storage": in_dict(tup(text("module"), text("os")) + b"Q"),
        "persid_storage_type_string": in_dict(
            tup(text("storage"), text("os.system"), text("0"), text("cpu"), num(1)) + b"Q"
        ),
        "text_persid": in_dict(b"P0\n"),
        "ext1_copyreg": in_dict(b"\x82\x01"),
        "protocol5_next_buffer": PROTO[:1] + b"\x05" + b"\x97" + STOP,
        "protocol5_bytearray8": PROTO[:1] + b"\x05" + b"\x96" + struct.pack("<Q", 3) + b"abc" + STOP,
        "rebuild_from_type_bad_type": in_dict(
            glob("torch._tensor", "_rebuild_from_type_v2")
            + tup(glob("torch._utils", "_rebuild_tensor_v2"), glob("torch", "FloatStorage"), b")", b"N")
            + b"R"
        ),
        "rebuild_from_type_bad_func": in_dict(
            glob("torch._tensor", "_rebuild_from_type_v2")
            + tup(glob("collections", "OrderedDict"), glob("torch", "Tensor"), b")", b"N")
            + b"R"
        ),
        "rebuild_tensor_on_list": in_dict(
            glob("torch._utils", "_rebuild_tensor_v2")
            + tup(b"]", num(0), tup(num(1)), tup(num(1)), b"\x89", EMPTY_HOOKS)
            + b"R"
        ),
    }


PAYLOAD_NAMES = list(_payloads("m"))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_malicious_pickles_are_refused_without_side_effects(tmp_path, name):
    marker = tmp_path / "pwned"
    path = torch_zip(tmp_path / "evil.bin", _payloads(marker)[name], {"0": f32(1)})
    with pytest.raises(UnsafeCheckpointError) as info:
        read_torch_zip(path)
    assert "data.pkl" in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("reduce_os_system", "os.system"),
        ("reduce_posix_system", "posix.system"),
        ("reduce_builtins_eval", "builtins.eval"),
        ("reduce_builtins_exec", "builtins.exec"),
        ("reduce_builtins_getattr", "builtins.getattr"),
        ("reduce_subprocess_popen", "subprocess.Popen"),
        ("inst_os_system", "os.system"),
        ("obj_os_system", "os.system"),
        ("obj_allowlisted", "OBJ of collections.OrderedDict"),
        ("inst_allowlisted", "INST of collections.OrderedDict"),
        ("newobj_allowlisted", "NEWOBJ of torch._utils._rebuild_tensor_v2"),
        ("newobj_popen", "subprocess.Popen"),
        ("stack_global_os_system", "os.system"),
        ("setitem_on_list", "SETITEM on a list"),
        ("append_on_dict", "APPEND on a dict"),
        ("build_on_plain_dict", "BUILD on dict"),
        ("protocol5_next_buffer", "not supported"),
    ],
)
def test_refusals_name_what_was_refused(tmp_path, name, needle):
    path = torch_zip(tmp_path / "evil.bin", _payloads(tmp_path / "pwned")[name], {"0": f32(1)})
    with pytest.raises(UnsafeCheckpointError, match=needle.replace(".", r"\.")):
        read_torch_zip(path)


@pytest.mark.parametrize("name", ["bare_os_system", "bare_builtins_exec", "bare_stack_global_exec"])
def test_control_payloads_really_run_under_plain_pickle(tmp_path, name):
    """The corpus is not toothless: plain pickle.loads does create the marker (the tests above show we don't)."""
    if sys.platform == "win32" and "os_system" in name:
        pytest.skip("touch is POSIX")
    marker = tmp_path / "pwned"
    pickle.loads(_payloads(marker)[name])  # deliberately unsafe: the control experiment
    assert marker.exists()


# ------------------------------------------------------------------------------------ malformed containers

GOOD = state_dict(("w", tensor("FloatStorage", "0", 3, 0, (3,), (1,))))


def test_storage_declaring_more_elements_than_member(tmp_path):
    pkl = state_dict(("w", tensor("FloatStorage", "3", 1000, 0, (1000,), (1,))))
    with pytest.raises(CheckpointError) as info:
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"3": f32(1, 2, 3)}))
    assert (
        "storage 3 declares 1000 float32 elements (4000 bytes) but member archive/data/3 holds 12 bytes"
        in str(info.value)
    )


@pytest.mark.parametrize("delta", [-1, 1])
def test_storage_off_by_one_element(tmp_path, delta):
    pkl = state_dict(("w", tensor("FloatStorage", "0", 3 + delta, 0, (2,), (1,))))
    with pytest.raises(CheckpointError, match="declares"):
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))


@pytest.mark.parametrize(
    ("offset", "size", "stride"),
    [(0, (4,), (1,)), (3, (1,), (1,)), (0, (2, 2), (2, 1)), (1, (3,), (1,)), (0, (2,), (3,))],
)
def test_tensor_outside_its_storage(tmp_path, offset, size, stride):
    pkl = state_dict(("w", tensor("FloatStorage", "0", 3, offset, size, stride)))
    with pytest.raises(CheckpointError, match="of storage 0, which holds 3"):
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))


def test_negative_sizes_and_strides(tmp_path):
    for size, stride in [((-1,), (1,)), ((2,), (-1,))]:
        pkl = state_dict(("w", tensor("FloatStorage", "0", 3, 2, size, stride)))
        with pytest.raises(CheckpointError, match="bad offset/size/stride"):
            read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))


def test_overlapping_view_amplification_is_bounded(tmp_path):
    """A stride-0 view of one element as 2**30 elements would need 4 GiB: refused before allocating."""
    pkl = state_dict(("w", tensor("FloatStorage", "0", 1, 0, (2**15, 2**15), (0, 0))))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="expand"):
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1)}))
    assert time.perf_counter() - start < 2


def test_deflated_member_is_refused(tmp_path):
    path = torch_zip(tmp_path / "m.bin", GOOD, {"0": f32(1, 2, 3)}, compress={"archive/data/0"})
    with pytest.raises(CheckpointError, match="compressed"):
        read_torch_zip(path)
    path = torch_zip(tmp_path / "p.bin", GOOD, {"0": f32(1, 2, 3)}, compress={"archive/data.pkl"})
    with pytest.raises(CheckpointError, match="compressed"):
        read_torch_zip(path)


def test_zip_bomb_is_refused_without_inflating(tmp_path):
    """200 MB of zeros deflated to a few hundred KB, declared consistently: refused as compressed."""
    numel = 50 * 2**20  # float32 elements: 200 MiB
    pkl = state_dict(("w", tensor("FloatStorage", "0", numel, 0, (numel,), (1,))))
    path = tmp_path / "bomb.bin"
    with zipfile.ZipFile(path, "w", compresslevel=1) as zf:
        zf.writestr(zipfile.ZipInfo("archive/data.pkl"), pkl)
        zf.writestr(zipfile.ZipInfo("archive/byteorder"), b"little")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(2**20)
        with zf.open(info, "w", force_zip64=True) as member:
            for _ in range(200):
                member.write(chunk)
    assert path.stat().st_size < 2**20
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="compressed") as excinfo:
        read_torch_zip(path)
    assert time.perf_counter() - start < 0.5
    assert "archive/data/0" in str(excinfo.value)


def test_truncated_zip(tmp_path):
    path = torch_zip(tmp_path / "m.bin", GOOD, {"0": f32(1, 2, 3)})
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated"):
            read_torch_zip(path)


def test_member_data_past_end_of_file(tmp_path):
    """A central directory that points a member past the end of the file (hand-edited header offset)."""
    path = torch_zip(tmp_path / "m.bin", GOOD, {"0": f32(1, 2, 3)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("archive/data/0")
    # Find the central record of archive/data/0 and rewrite its local-header offset to the end of the file.
    pos = data.index(b"PK\x01\x02")
    while data[pos + 46 : pos + 46 + len(b"archive/data/0")] != b"archive/data/0":
        pos = data.index(b"PK\x01\x02", pos + 4)
    assert struct.unpack_from("<L", data, pos + 42)[0] == info.header_offset
    struct.pack_into("<L", data, pos + 42, len(data) - 20)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="archive/data/0"):
        read_torch_zip(path)


@pytest.mark.parametrize(
    "bad_name", ["archive/../evil", "../archive/data/1", "/etc/passwd", "archive/data/..", "archive\\x"]
)
def test_member_names_escaping_the_archive(tmp_path, bad_name):
    path = torch_zip(tmp_path / "m.bin", GOOD, {"0": f32(1, 2, 3)}, extra={bad_name: b"x"})
    with zipfile.ZipFile(path) as zf:
        assert bad_name.lstrip("/") in zf.namelist() or bad_name in zf.namelist()
    with pytest.raises(CheckpointError, match="escapes the archive"):
        read_torch_zip(path)


def test_storage_key_escaping(tmp_path):
    pkl = state_dict(("w", tensor("FloatStorage", "../0", 3, 0, (3,), (1,))))
    with pytest.raises(CheckpointError, match="not a plain name"):
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))


def test_not_a_zip_is_legacy_message(tmp_path):
    path = tmp_path / "legacy.bin"
    path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=2))
    with pytest.raises(CheckpointError, match=r"legacy \(pre-1.6\).*convert to safetensors"):
        read_torch_zip(path)


def test_missing_data_pkl_and_missing_storage(tmp_path):
    path = tmp_path / "nopkl.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data/0", f32(1))
    with pytest.raises(CheckpointError, match=r"data\.pkl"):
        read_torch_zip(path)
    with pytest.raises(CheckpointError, match="no zip member archive/data/0"):
        read_torch_zip(torch_zip(tmp_path / "nostorage.bin", GOOD, {}))


def test_duplicate_member_names(tmp_path):
    path = torch_zip(tmp_path / "m.bin", GOOD, {"0": f32(1, 2, 3)})
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo("archive/data/0"), f32(9, 9, 9))
    with pytest.raises(CheckpointError, match="appears twice"):
        read_torch_zip(path)


@pytest.mark.parametrize(
    ("pkl", "needle"),
    [
        (b"\x80\x06}.", "protocol 6"),
        (b"}.", "does not start with PROTO"),
        (PROTO + b"}r\xff\xff\xff\xff.", "memo index 4294967295"),
        (PROTO + b"}h\x07.", "memo index 7 was never set"),
        (PROTO + b"}", "truncated"),
        (PROTO + b"}X\xff\xff\x00\x00ab.", "truncated"),
        (PROTO + b"}}.", "unbalanced"),
        (PROTO + b"}.extra", "trailing bytes"),
        (PROTO + b"t.", "MARK that was never set"),
        (PROTO + b"s.", "malformed pickle"),
        (PROTO + b"}]" + text("v") + b"s.", "malformed pickle"),  # unhashable key
        (PROTO + b"]" + STOP, "holds a list, not a state dict"),
        (PROTO + b"}" + text("epoch") + num(3) + b"s" + STOP, "value of 'epoch' is a int, not a tensor"),
        (PROTO + b"}" + num(3) + text("x") + b"s" + STOP, "key 3 is a int, not a string"),
        (PROTO + b"(" * 300, "too many nested MARKs"),
        (PROTO + b"c" + b"a" * 400 + b"\n", "over-long name"),
    ],
)
def test_malformed_pickles(tmp_path, pkl, needle):
    with pytest.raises(CheckpointError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))


def test_ordered_dict_with_metadata_build(tmp_path):
    """The exact shape nn.Module.state_dict() pickles: OrderedDict, SETITEMS, then BUILD of _metadata."""
    od = glob("collections", "OrderedDict") + b")R"
    meta = b"}" + text("_metadata") + od + text("") + b"}" + text("version") + num(1) + b"sss"
    items = b"(" + text("w") + tensor("FloatStorage", "0", 3, 0, (3,), (1,)) + b"u"
    pkl = PROTO + od + items + meta + b"b" + STOP
    out = read_torch_zip(torch_zip(tmp_path / "m.bin", pkl, {"0": f32(1, 2, 3)}))
    assert list(out) == ["w"]
    assert isinstance(out, dict) and not isinstance(out, collections.OrderedDict)
