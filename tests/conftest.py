import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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


def _debug_recipe_command(recipe: str, root, args) -> Tuple[List[str], Dict[str, str]]:
    env = dict(os.environ, SPEECHGEN_USE_CURRENT_ENV="1")
    dirs = ["--corpus-dir", root / "corpus", "--data", root / "data", "--dump", root / "dump", "--exp", root / "exp"]
    return ["bash", str(ROOT / "egs" / recipe / "run.sh"), "--debug", "true", *map(str, dirs), *map(str, args)], env


def run_debug_recipe(recipe: str, root, *args, timeout: int = 1500) -> subprocess.CompletedProcess:
    """``egs/<recipe>/run.sh --debug true`` with every output dir under ``root`` (the stage scripts are
    the installed ``speechgen-*`` console scripts beside the interpreter)."""
    cmd, env = _debug_recipe_command(recipe, root, args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def _fake_chime4(root: Path) -> None:
    from chime_complex_helpers import make_fake_chime4  # it imports this module

    make_fake_chime4(root / "CHiME4")


#: the debug runs that tests share, one per recipe (or corpus path) and test session: the fixture that
#: gives one -> (recipe, run.sh options with ``{root}`` for the run's root, timeout in s, what to write
#: into its root first). A session that selects a test needing one starts it in the background as soon
#: as the tests are collected, so that the runs (each a chain of short commands that keeps one to two
#: cores busy) and the other tests share the cores.
CHIME_DEBUG_MODELS = "PCA M J3 J7"  # the unit tests build every config
SHARED_DEBUG_RUNS = {  # shortest first: the tests of each run go last in this order
    # the CHiME-4 data path on a fake tree: one feature job, no speed perturbation (chime_debug_run has both)
    "chime4_features_run": ("chime_complex", ("--chime4", "{root}/CHiME4", "--stop-stage", "1", "--nj", "1",
                                              "--speed-perturb", ""), 600, _fake_chime4),
    "chime_debug_run": ("chime_complex", ("--models", CHIME_DEBUG_MODELS), 600, None),
    "logmel_debug_run": ("timit_logmel", (), 900, None),
    "fdnf_debug_run": ("timit_fdnf", (), 1500, None),
}


#: how much lower the shared runs' scheduling priority is than the test process's (see BackgroundRun)
BACKGROUND_NICENESS = 10


class BackgroundRun:
    """One shared debug run, started in the background; ``result()`` waits for it like ``subprocess.run``."""

    def __init__(self, config, fixture: str):
        recipe, args, self.timeout, setup = SHARED_DEBUG_RUNS[fixture]
        self.root = config._tmp_path_factory.mktemp(recipe)  # what the tmp_path_factory fixture uses
        if setup is not None:
            setup(self.root)
        self.cmd, env = _debug_recipe_command(recipe, self.root, [a.format(root=self.root) for a in args])
        self._out, self._err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.started = time.monotonic()
        # at a lower priority: the tests that run meanwhile, one at a time, keep a core, and the runs (two
        # jobs at a time each) take what is left, then both cores once those tests are done
        self.proc = subprocess.Popen(["nice", "-n", str(BACKGROUND_NICENESS), *self.cmd], stdout=self._out,
                                     stderr=self._err, text=True, env=env)
        self._result: Optional[subprocess.CompletedProcess] = None

    def result(self) -> subprocess.CompletedProcess:
        if self._result is None:
            try:
                self.proc.wait(timeout=max(1.0, self.timeout - (time.monotonic() - self.started)))
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            self._out.seek(0)
            self._err.seek(0)
            self._result = subprocess.CompletedProcess(self.cmd, self.proc.returncode, self._out.read(),
                                                       self._err.read())
        return self._result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_BACKGROUND_RUNS: Dict[str, BackgroundRun] = {}


def _background_run(config, fixture: str) -> BackgroundRun:
    """The shared debug run of ``fixture``, started now unless it was already."""
    if fixture not in _BACKGROUND_RUNS:
        _BACKGROUND_RUNS[fixture] = BackgroundRun(config, fixture)
    return _BACKGROUND_RUNS[fixture]


def _shared_run_order(item) -> int:
    """-1 for a test that needs no shared debug run, else the place of the first it needs."""
    names = set(getattr(item, "fixturenames", ()))
    return next((i for i, name in enumerate(SHARED_DEBUG_RUNS) if name in names), -1)


def pytest_collection_modifyitems(session, config, items):
    """The tests that wait for a shared debug run go last (those of the shortest run first), so that
    the others run while the runs do."""
    items.sort(key=_shared_run_order)  # stable: each group keeps its order


def pytest_collection_finish(session):
    """Start the shared debug runs that the selected tests need (see SHARED_DEBUG_RUNS)."""
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for fixture in SHARED_DEBUG_RUNS:
        if fixture in needed:
            _background_run(session.config, fixture)


def pytest_sessionfinish(session):
    for run in _BACKGROUND_RUNS.values():
        run.stop()


def shared_debug_run(request) -> Tuple[Path, subprocess.CompletedProcess]:
    """(root, result) of the shared debug run of the fixture asking (started now if it was not yet)."""
    run = _background_run(request.config, request.fixturename)
    return run.root, run.result()


@pytest.fixture(scope="session")
def fdnf_debug_run(request):
    return shared_debug_run(request)


@pytest.fixture(scope="session")
def logmel_debug_run(request):
    return shared_debug_run(request)


@pytest.fixture(scope="session")
def chime_debug_run(request):
    return shared_debug_run(request)


@pytest.fixture(scope="session")
def chime4_features_run(request):
    return shared_debug_run(request)


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
