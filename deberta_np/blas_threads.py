"""NumPy's OpenBLAS thread count, read and lowered at run time (what threadpoolctl does, for one library).

The fast path (fast.py, trick 8) has two ways to use several cores: one Python thread calling a multi-threaded
BLAS, or its own worker threads each calling a single-threaded BLAS. Which is faster depends on the shape, so it
chooses per call; the second needs BLAS at one thread for the duration of the call. `controller()` finds the
OpenBLAS that NumPy loaded (bundled scipy-openblas or a system libopenblas) and its
`openblas_get_num_threads`/`openblas_set_num_threads` symbols (any of the "", "scipy_" prefixes and "", "64_",
"_64" suffixes), through ctypes, without loading anything new. It returns None, and the fast path keeps NumPy's
BLAS as it is, when there is no such library (Accelerate, MKL, another backend), when the symbols are missing, or
when OpenBLAS is built on OpenMP (whose thread count is per calling thread, so a limit set here would not reach
the worker threads).

`single_threaded()` lowers the count to 1 for a `with` block and restores it when the last of the overlapping
blocks (several threads may run forwards) ends; the count is process-wide, so other threads' NumPy products run
single-threaded meanwhile (slower, never wrong).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_AFFIXES = [(prefix, suffix) for prefix in ("", "scipy_") for suffix in ("", "64_", "_64")]
_PTHREADS = 1  # openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP


class OpenBlasThreads:
    """get() and single_threaded() for one loaded OpenBLAS."""

    def __init__(self, path: str, get: Any, set_: Any, core: str = "") -> None:
        self.path = path
        self.core = core  # openblas_get_corename(): the kernels chosen for this CPU ("SkylakeX", "Haswell")
        self._get, self._set = get, set_
        self._lock = threading.Lock()
        self._users = 0  # overlapping single_threaded() blocks
        self._saved = 1  # the count before the first of them

    def get(self) -> int:
        return int(self._get())

    def budget(self) -> int:
        """The count outside single_threaded() blocks (what the caller or the environment set)."""
        with self._lock:
            return self._saved if self._users else self.get()

    @contextmanager
    def single_threaded(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self.get()
                if self._saved != 1:
                    self._set(1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._saved != 1:
                    self._set(self._saved)


def _candidates() -> list[str]:
    """Paths of loaded (Linux: /proc/self/maps) or bundled OpenBLAS libraries, NumPy's own first."""
    import numpy

    numpy_root = str(Path(numpy.__file__).resolve().parent)
    found: list[str] = []
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
            if "openblas" in Path(path).name.lower() and path not in found:
                found.append(path)
    except OSError:
        for folder in (Path(numpy_root + ".libs"), Path(numpy_root) / ".dylibs"):
            if folder.is_dir():
                found += [str(f) for f in sorted(folder.iterdir()) if "openblas" in f.name.lower()]
    return sorted(found, key=lambda path: not path.startswith(numpy_root))  # numpy.libs/ sorts first too


def _open(path: str) -> OpenBlasThreads | None:
    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_LOCAL", 0)  # never load a library NumPy did not
    try:
        library = ctypes.CDLL(path, mode=mode)
    except OSError:
        return None
    for prefix, suffix in _AFFIXES:
        get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
        set_ = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
        parallel = getattr(library, f"{prefix}openblas_get_parallel{suffix}", None)
        if get is None or set_ is None or parallel is None:
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        parallel.restype, parallel.argtypes = ctypes.c_int, []
        if parallel() != _PTHREADS:
            return None
        corename = getattr(library, f"{prefix}openblas_get_corename{suffix}", None)
        core = ""
        if corename is not None:
            corename.restype, corename.argtypes = ctypes.c_char_p, []
            core = (corename() or b"").decode("ascii", "replace")
        return OpenBlasThreads(path, get, set_, core)
    return None


_FOUND: list[OpenBlasThreads | None] = []
_FOUND_LOCK = threading.Lock()


def controller() -> OpenBlasThreads | None:
    """NumPy's pthreads OpenBLAS, or None (searched once per process)."""
    with _FOUND_LOCK:
        if not _FOUND:
            found = None
            if sys.platform.startswith("linux"):  # elsewhere: NumPy's BLAS as it is
                try:
                    found = next((c for c in map(_open, _candidates()) if c is not None), None)
                except Exception:  # any surprise: no control, the fast path still works
                    found = None
            _FOUND.append(found)
        return _FOUND[0]


def cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
