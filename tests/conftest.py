import os
import shutil
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
    config.addinivalue_line("markers", "slow: a whole recipe or several processes end to end; `make test` "
                            "leaves these out, `make test-all` and CI (CI=true) run them")
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


def apt_install(packages, timeout: int = 900, recommends: bool = True):
    """Install Debian packages a test needs; returns why it did not (None once installed).

    Only where the tests may change the system: as root with apt-get, and in CI (``CI=true``) or with
    ``SPEECHGEN_INSTALL_SYSTEM_PACKAGES=1``."""
    if os.environ.get("CI") != "true" and os.environ.get("SPEECHGEN_INSTALL_SYSTEM_PACKAGES") != "1":
        return (f"install {' '.join(packages)} (apt-get), or set SPEECHGEN_INSTALL_SYSTEM_PACKAGES=1 "
                "to let the tests install it as root")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"installing {' '.join(packages)} needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", *([] if recommends else ["--no-install-recommends"]), *packages]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` took over {timeout} s"
        if out.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {out.stderr.strip()[-300:]}"
    return None
