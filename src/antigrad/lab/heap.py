"""Freed memory kept in the process's heap while batches of replicas train.

Every step of a batch of replicas allocates and frees the same large tensors (its
activations, their gradients, the products' outputs: megabytes each for 64 replicas).
glibc's ``malloc`` serves blocks above its *mmap threshold* with fresh pages from the
kernel and gives the heap's free top back to the kernel above its *trim threshold*, both
adjusted on the fly; with a batch's pattern of frees, it returned the step's memory to the
kernel at every step, so the next step faulted all of it in again: 64 replicas of
``mnist1d-mlp`` took 860-1,900 page faults a step (~5 µs each on the virtual machine
measured), 64 of ``mnist1d-cnn`` 4,800-5,600, and a step took 16-21% longer than with the
memory kept (``benchmarks/replicas_profile.py``, benchmarks/RESULTS.md, "Page faults of a
batch's step").

:func:`keep_freed_memory` raises both thresholds (glibc's ``mallopt``) once per process:
blocks up to :data:`MMAP_THRESHOLD` come from the heap, and the heap keeps up to
:data:`TRIM_THRESHOLD` of free memory at its top for the next allocation instead of
returning it. The process's memory then stays near its peak rather than shrinking
between steps; nothing is allocated in advance. It is process-wide and not undone (glibc
has no way to read the settings back, and setting its defaults again would not restore
its adaptive thresholds). It does nothing where the C library is not glibc (macOS,
Windows, musl). Sequential runs are not affected: their tensors are small enough that
glibc's heap already keeps them (0-17 faults a step measured).
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Blocks up to this size come from the heap (glibc's maximum for the setting on 64-bit).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory the heap keeps at its top before it gives memory back to the kernel.
TRIM_THRESHOLD = 512 * 1024 * 1024

# glibc's <malloc.h> parameter numbers
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Keep freed memory in the heap from now on (see the module doc); returns whether
    the settings are in force (``False`` where the C library is not glibc)."""
    global _kept
    if _kept is None:
        _kept = _set_thresholds()
    return _kept


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # another C library: its malloc has other (or no) such settings
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
