"""Keep the sampled path's block buffers in the process heap (glibc malloc settings).

A real-time block (1 s of 3P4W samples at 8 kHz) makes a few megabytes of numpy temporaries, a
few hundred kilobytes each: samples, spectra, the delay filter's transforms. By default glibc
serves each of these above its (adaptive) mmap threshold with a fresh mmap and returns freed heap
above its trim threshold to the kernel, so every block faults the same memory in again: measured
200-350 minor page faults per block on the project's VM, about 1 us each, a third of the block's
time (tools/bench-metrology). Fixed thresholds above the block's needs keep that memory mapped
once: the heap grows to the block's peak and stays there, which is what the meter uses anyway.

The engine sets them at its first realtime block (a fleet in fast mode leaves malloc alone). Only
glibc has mallopt; elsewhere (musl, macOS) nothing is changed and the engine is only slower.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc <malloc.h> parameter numbers.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Larger than any block temporary (mmap; ~0.4 MB at 8 kHz) and than a block's peak of them
#: (trim; ~3 MB), with room for higher sample rates; the heap only keeps what was used at a peak.
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 16 << 20

_applied: list[bool] = []


def keep_block_buffers() -> bool:
    """Set the thresholds once per process; True if the C library took them."""
    if not _applied:
        _applied.append(_set_thresholds())
    return _applied[0]


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: its C library's malloc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error (musl has the symbol but ignores it)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
