"""float16 (any device) and the CuPy backend (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.check import GOLDEN, check_case
from conformance.half import half_rows, psnr
from deberta_np import DebertaModel
from tests.conftest import golden_case

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "golden.safetensors").exists())


def test_psnr() -> None:
    a = np.array([1.0, -2.0, 0.5])
    assert psnr(a, a) == float("inf")
    assert abs(psnr(a, a + 0.002) - 10 * np.log10(4 / 0.002**2)) < 1e-9


@pytest.mark.parametrize("case", ["base-c2p-p2c", "v2-xlarge-like-conv-mlm", "mlm-microsoft-layout"])
def test_float16_is_finite_and_close_to_float32(case: str) -> None:
    rows = half_rows(GOLDEN / case, "cpu")
    assert rows and all(r["ok"] for r in rows), rows


def test_float16_softmax_and_layer_norm_survive_large_activations() -> None:
    model = DebertaModel.from_pretrained(golden_case("base-c2p-p2c"), dtype="float16")
    out = model([[1, 5, 9, 2] * 16], attention_mask=[[1] * 60 + [0] * 4])
    assert out.last_hidden_state.dtype == np.float16 and np.isfinite(out.last_hidden_state).all()


def gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


gpu = pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU")


@gpu
@pytest.mark.parametrize("case", CASES)
def test_goldens_on_the_gpu(case: str) -> None:
    rows = [r for r in check_case(GOLDEN / case, device="cuda", dtypes=("float32",))]
    assert rows and all(r["ok"] for r in rows), rows


@gpu
@pytest.mark.parametrize("case", CASES)
def test_float16_on_the_gpu(case: str) -> None:
    rows = half_rows(GOLDEN / case, "cuda")
    assert rows and all(r["ok"] for r in rows), rows
