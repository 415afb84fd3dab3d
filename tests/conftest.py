import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread(monkeypatch):
    """Keep tests deterministic and light on the 2-core machines."""
    import torch

    torch.set_num_threads(1)
    yield


def pytest_configure(config):
    os.environ.setdefault("PYTHONHASHSEED", "0")
    # the recipe's console scripts live beside the interpreter running the tests
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
