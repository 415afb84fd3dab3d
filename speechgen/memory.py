"""How the process's C allocator treats freed memory (glibc's malloc on Linux).

glibc returns a freed block to the kernel when it was mapped on its own (blocks above the mmap
threshold, which grows only up to the largest block freed so far) or when the free space at the top
of the heap exceeds the trim threshold (twice the mmap threshold). A training step on the CPU makes
feature maps of some MiB (a batch of J7's phase decoder: 16 maps of 257 x 64 x 16, 17 MB each) and
frees them at its end, so every step asked the kernel for the same pages again and zeroed them in
page faults: a fifth to a third of the complex VAE's and the posterior MLP's step on a 2-core VM
(``bench/training.py --malloc glibc kept``). :func:`keep_freed_memory` raises both thresholds, so the
process keeps what it freed and reuses it; the arithmetic, and so every result, is the same.

Every ``speechgen-*`` command calls it at start; ``SPEECHGEN_MALLOC=glibc`` keeps glibc's defaults.
Elsewhere than glibc (macOS, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import os

from speechgen.errors import ConfigError

#: mallopt(3) parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: blocks below this come from the heap and are reused; 32 MiB is the largest glibc accepts on 64-bit
MMAP_THRESHOLD = 32 << 20
#: free memory at the top of the heap kept, not handed back to the kernel
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when both were set."""
    mode = os.environ.get("SPEECHGEN_MALLOC", "kept")
    if mode not in ("kept", "glibc"):
        raise ConfigError(f"SPEECHGEN_MALLOC={mode}: expected kept (the default) or glibc")
    if mode == "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
