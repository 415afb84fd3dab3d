import os
import subprocess
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


def run_debug_recipe(recipe: str, root, *args, timeout: int = 1500) -> subprocess.CompletedProcess:
    """``egs/<recipe>/run.sh --debug true`` with every output dir under ``root`` (the stage scripts are
    the installed ``speechgen-*`` console scripts beside the interpreter)."""
    env = dict(os.environ, SPEECHGEN_USE_CURRENT_ENV="1")
    dirs = ["--corpus-dir", root / "corpus", "--data", root / "data", "--dump", root / "dump", "--exp", root / "exp"]
    return subprocess.run(["bash", str(ROOT / "egs" / recipe / "run.sh"), "--debug", "true", *map(str, dirs),
                           *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
