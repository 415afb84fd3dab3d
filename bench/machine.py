"""The machine a benchmark ran on, for the first line of its output."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """CPU model, core count and torch version, e.g. ``AMD EPYC, 2 cores, torch 2.13.0+cpu``."""
    import torch

    cpu = platform.processor() or platform.machine() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"
