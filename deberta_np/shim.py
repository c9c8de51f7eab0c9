"""The array backend shim: the one module that knows about NumPy and CuPy (imported as `shim` everywhere).

Model code asks this module for the array namespace (`namespace(x)`) and uses only array-API standard names
on it (`xp.matmul`, `xp.permute_dims`, `xp.take_along_axis`, ...). NumPy >= 2 *is* such a namespace; CuPy is
wrapped by `array_api_compat.cupy`, which adds the standard names CuPy lacks. The few things the standard does
not have live here, written once in standard operations so they run unchanged on every backend:
`erf`, `softmax`, `take_rows` (embedding lookup) and `take_along_last` (the relative-position gathers).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy

from .errors import BackendError

DTYPES = ("float32", "float64", "float16")


# ----------------------------------------------------------------------------------------------------------------
# Namespaces and devices
# ----------------------------------------------------------------------------------------------------------------


def namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of `arrays` (NumPy itself for NumPy arrays)."""
    for array in arrays:
        if isinstance(array, numpy.ndarray):
            return numpy
        if type(array).__module__.startswith("cupy"):
            return _cupy_namespace()
        if hasattr(array, "__array_namespace__"):
            return array.__array_namespace__()
    raise TypeError(f"not an array of a supported backend: {type(arrays[0]).__name__ if arrays else None}")


def _cupy_namespace() -> ModuleType:
    try:
        from array_api_compat import cupy as compat_cupy
    except ImportError as error:  # pragma: no cover - only without the gpu extra
        raise BackendError(
            "device='cuda' needs CuPy and array-api-compat: pip install 'deberta_np[gpu]'"
        ) from error
    return compat_cupy


def device_name(device: Any) -> str:
    """transformers' spellings of a device as ours: -1 is "cpu", an index N >= 0 is "cuda:N"; torch.device
    objects and "cuda:0"-style strings pass through their text."""
    if isinstance(device, bool) or (not isinstance(device, (int, str)) and not hasattr(device, "type")):
        raise BackendError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N', or an index (-1: cpu)")
    if isinstance(device, int):
        return "cpu" if device < 0 else f"cuda:{device}"
    return str(device)


def backend(device: str) -> ModuleType:
    """The namespace that creates arrays on `device` ("cpu" or "cuda"), or a clear BackendError."""
    device = device_name(device)
    if device == "cpu":
        return numpy
    if device in ("cuda", "gpu") or device.startswith("cuda:"):
        try:
            import cupy
        except ImportError as error:
            raise BackendError(
                f"device={device!r} needs CuPy, which is not installed: pip install 'deberta_np[gpu]'"
            ) from error
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # CUDA driver missing or broken
            raise BackendError(
                f"device={device!r}: CuPy is installed but CUDA is unusable ({error})"
            ) from error
        if count < 1:
            raise BackendError(f"device={device!r}: CuPy found no CUDA GPU on this machine")
        if ":" in device:
            cupy.cuda.Device(int(device.split(":", 1)[1])).use()
        return _cupy_namespace()
    raise BackendError(f"unknown device {device!r}: use 'cpu' or 'cuda'")


def check_dtype(dtype: Any) -> str:
    """A compute dtype's name from a name, a NumPy dtype or type, or a torch dtype (transformers' torch_dtype)."""
    name = str(getattr(dtype, "__name__", dtype)).removeprefix("torch.")
    if name not in DTYPES:
        raise BackendError(f"unsupported dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return name


def to_numpy(x: Any) -> numpy.ndarray:
    """A host (NumPy) copy or view of a backend array."""
    if isinstance(x, numpy.ndarray):
        return x
    if hasattr(x, "get"):  # cupy.ndarray
        return x.get()
    return numpy.asarray(x)


def is_numpy(xp: ModuleType) -> bool:
    return xp is numpy


# ----------------------------------------------------------------------------------------------------------------
# Non-standard numerical helpers
# ----------------------------------------------------------------------------------------------------------------

# erf, from FreeBSD msun s_erf.c (Sun Microsystems fdlibm):
#   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
#   Developed at SunPro, a Sun Microsystems, Inc. business.
#   Permission to use, copy, modify, and distribute this software is freely granted,
#   provided that this notice is preserved.
# The coefficients are fdlibm's, as carried by @stdlib/math-base-special-erf (Apache-2.0). Every branch is
# evaluated on the whole array and the right one selected with `where`: branch-free code that runs the same on
# NumPy and CuPy. Accuracy: < 1 ulp in float64 (tested against math.erf on a dense grid).
_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.250421072470015e-01, -2.848174957559851e-02, -5.770270296489442e-03,
       -2.3763016656650163e-05)  # fmt: skip
_QQ = (1.0, 3.9791722395915535e-01, 6.50222499887673e-02, 5.081306281875766e-03, 1.3249473800432164e-04,
       -3.960228278775368e-06)  # fmt: skip
_PA = (-2.36211856075265944077e-03, 4.1485611868374833e-01, -3.722078760357013e-01, 3.1834661990116175e-01,
       -1.1089469428239668e-01, 3.5478304325618236e-02, -2.166375594868791e-03)  # fmt: skip
_QA = (1.0, 1.0642088040084423e-01, 5.40397917702171e-01, 7.182865441419627e-02, 1.2617121980876164e-01,
       1.363708391202905e-02, 1.1984499846799107e-02)  # fmt: skip
_RA = (-9.86494403484714822705e-03, -6.938585727071818e-01, -1.0558626225323291e01, -6.2375332450326006e01,
       -1.6239666946257347e02, -1.8460509290671104e02, -8.12874355063066e01, -9.814329344169145e00)  # fmt: skip
_SA = (1.0, 1.9651271667439257e01, 1.3765775414351904e02, 4.3456587747522923e02, 6.453872717332679e02,
       4.2900814002756783e02, 1.0863500554177944e02, 6.570249770319282e00, -6.04244152148581e-02)  # fmt: skip
_RB = (-9.86494292470009928597e-03, -7.99283237680523e-01, -1.7757954917754752e01, -1.6063638485582192e02,
       -6.375664433683896e02, -1.0250951316110772e03, -4.835191916086514e02)  # fmt: skip
_SB = (1.0, 3.033806074348246e01, 3.257925129965739e02, 1.536729586084437e03, 3.1998582195085955e03,
       2.5530504064331644e03, 4.7452854120695537e02, -2.244095244658582e01)  # fmt: skip


def _polyval(coefficients: tuple[float, ...], x: Any) -> Any:
    """c0 + c1 x + c2 x^2 + ... by Horner's rule."""
    result = namespace(x).full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        result = result * x + c
    return result


def erf(x: Any) -> Any:
    """The error function, elementwise, to full float32/float64 accuracy (float32/16 computed via float64)."""
    xp = namespace(x)
    dtype = x.dtype
    x64 = xp.astype(x, xp.float64)
    ax = xp.abs(x64)
    negative = x64 < 0.0
    # Each branch sees its argument clamped into its own interval, so no branch overflows on another's input.
    # |x| < 0.84375: erf(x) = x + x * P(x^2)/Q(x^2)
    xs = xp.clip(x64, -0.84375, 0.84375)
    z = xs * xs
    small = xs + xs * (_polyval(_PP, z) / _polyval(_QQ, z))
    # 0.84375 <= |x| < 1.25: erf(|x|) = erx + P(s)/Q(s), s = |x| - 1
    s = xp.clip(ax, 0.84375, 1.25) - 1.0
    middle = _ERX + _polyval(_PA, s) / _polyval(_QA, s)
    # 1.25 <= |x| < 6: erf(|x|) = 1 - exp(-z^2 - 0.5625 + (z - x)(z + x) + R/S) / x, with z = x rounded to
    # float32 so that z*z is exact (fdlibm clears the low word; float32 has fewer mantissa bits: as good).
    xl = xp.clip(ax, 1.25, 6.0)
    t = 1.0 / (xl * xl)
    ratio = xp.where(
        xl < 1.0 / 0.35, _polyval(_RA, t) / _polyval(_SA, t), _polyval(_RB, t) / _polyval(_SB, t)
    )
    zf = xp.astype(xp.astype(xl, xp.float32), xp.float64)
    large = 1.0 - xp.exp(-zf * zf - 0.5625) * xp.exp((zf - xl) * (zf + xl) + ratio) / xl
    # |x| >= 6: erf(|x|) = 1 to double precision
    positive = xp.where(ax < 1.25, middle, xp.where(ax < 6.0, large, 1.0))
    result = xp.where(ax < 0.84375, small, xp.where(negative, -positive, positive))
    result = xp.where(xp.isnan(x64), x64, result)
    return xp.astype(result, dtype)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x - max) / sum(exp(x - max)) along `axis`: never overflows, even for rows of finfo.min."""
    xp = namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=axis, keepdims=True)


def take_rows(table: Any, ids: Any) -> Any:
    """Embedding lookup: table[ids] for integer `ids` of any shape -> ids.shape + table.shape[1:]."""
    xp = namespace(table)
    flat = xp.take(table, xp.reshape(ids, (-1,)), axis=0)
    return xp.reshape(flat, (*ids.shape, *table.shape[1:]))


def take_along_last(x: Any, index: Any) -> Any:
    """out[..., i, j] = x[..., i, index[..., i, j]], with `index` broadcast over the leading axes of `x`."""
    xp = namespace(x)
    index = xp.broadcast_to(index, (*x.shape[:-1], index.shape[-1]))
    return xp.take_along_axis(x, index, axis=-1)


def is_half(x: Any) -> bool:
    """float16 (an extension dtype: the standard namespace need not have it)."""
    half = getattr(namespace(x), "float16", None)
    return half is not None and x.dtype == half


def finfo_min(xp: ModuleType, dtype: Any) -> float:
    """The most negative finite value of a float dtype, as a Python float (no NumPy scalar promotion)."""
    return float(xp.finfo(dtype).min)


__all__ = [
    "backend",
    "check_dtype",
    "erf",
    "finfo_min",
    "is_half",
    "namespace",
    "softmax",
    "take_along_last",
    "take_rows",
    "to_numpy",
]
