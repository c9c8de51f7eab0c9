"""The array shim's non-standard helpers against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deberta_np import shim
from deberta_np.errors import BackendError


def dense_grid() -> np.ndarray:
    tiny = np.geomspace(1e-300, 1e-3, 500)
    return np.concatenate([np.linspace(-7.0, 7.0, 400_001), tiny, -tiny, [0.0, 0.84375, 1.25, 1 / 0.35, 6.0]])


def test_erf_float64_within_one_ulp_of_math_erf() -> None:
    x = dense_grid()
    expected = np.array([math.erf(v) for v in x])
    got = shim.erf(x)
    assert got.dtype == np.float64
    ulps = np.abs(got - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 1.0


def test_erf_float32_correctly_rounded() -> None:
    x = dense_grid().astype(np.float32)
    x = x[np.abs(x) > 1e-30]  # normal float32 results (subnormal spacing is not what is tested here)
    expected = np.array([math.erf(float(v)) for v in x])  # float64 truth
    got = shim.erf(x)
    assert got.dtype == np.float32
    # within half a float32 ulp of the true value: the nearest float32
    assert (np.abs(got - expected) <= 0.5 * np.spacing(np.abs(expected).astype(np.float32)) * 1.0001).all()


def test_erf_special_values() -> None:
    got = shim.erf(np.array([np.inf, -np.inf, np.nan, -0.0, 40.0, -40.0]))
    assert got[0] == 1.0 and got[1] == -1.0 and np.isnan(got[2])
    assert got[3] == 0.0 and np.signbit(got[3])
    assert got[4] == 1.0 and got[5] == -1.0


def test_erf_is_odd() -> None:
    x = np.linspace(0, 6, 10001)
    assert np.array_equal(shim.erf(-x), -shim.erf(x))


def test_softmax_closed_form() -> None:
    x = np.array([[1.0, 2.0, 3.0], [-1000.0, 0.0, 1000.0]])
    got = shim.softmax(x)
    row = [math.exp(v) for v in (1.0, 2.0, 3.0)]
    assert np.allclose(got[0], [v / sum(row) for v in row], rtol=1e-15)
    assert np.array_equal(got[1], [0.0, 0.0, 1.0])


def test_softmax_of_fully_masked_row_is_uniform() -> None:
    minimum = float(np.finfo(np.float32).min)
    got = shim.softmax(np.full((2, 5), minimum, dtype=np.float32))
    assert got.dtype == np.float32
    assert np.array_equal(got, np.full((2, 5), 0.2, dtype=np.float32))


def test_take_rows_is_embedding_lookup() -> None:
    table = np.arange(20.0).reshape(5, 4)
    ids = np.array([[4, 0, 2], [1, 1, 3]])
    got = shim.take_rows(table, ids)
    assert got.shape == (2, 3, 4)
    for b in range(2):
        for i in range(3):
            assert np.array_equal(got[b, i], table[ids[b, i]])


def test_take_along_last_broadcasts_index_over_leading_axes() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 6))
    index = rng.integers(0, 6, size=(4, 5))
    got = shim.take_along_last(x, index)
    assert got.shape == (2, 3, 4, 5)
    for b in range(2):
        for h in range(3):
            for i in range(4):
                for j in range(5):
                    assert got[b, h, i, j] == x[b, h, i, index[i, j]]


def test_finfo_min_is_a_python_float() -> None:
    value = shim.finfo_min(np, np.float32)
    assert type(value) is float and value == float(np.finfo(np.float32).min)


def test_unknown_device_and_dtype_are_clear_errors() -> None:
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        shim.backend("tpu")
    with pytest.raises(BackendError, match="unsupported dtype 'int8'"):
        shim.check_dtype("int8")
    assert shim.check_dtype("float64") == "float64"


def test_cuda_without_cupy_or_gpu_is_a_clear_error() -> None:
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("a GPU is present")
    except Exception:
        pass
    with pytest.raises(BackendError, match="cuda"):
        shim.backend("cuda")


def test_namespace_of_numpy_and_foreign_arrays() -> None:
    assert shim.namespace(np.zeros(2)) is np
    with pytest.raises(TypeError):
        shim.namespace([1, 2])
