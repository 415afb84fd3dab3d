"""utils/slurm.py against a real single-node Slurm cluster started on loopback for these tests.

The fixture writes a slurm.conf into a temp dir (no authentication daemon: auth/none; no
accounting; free ports) and starts slurmctld and slurmd in the foreground, stopping both
afterwards. Where Slurm is missing it is installed with apt-get when the tests run as root in CI
(CI=true) or with SPEECHGEN_INSTALL_SYSTEM_PACKAGES=1 (conftest.apt_install); otherwise, or when the
daemons do not come up, the tests that need the cluster are skipped, saying why.
"""
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, apt_install
from test_distributed import free_port

SLURM_PY = ROOT / "utils" / "slurm.py"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PACKAGES = ["slurmctld", "slurmd", "slurm-client"]


def load_launcher():
    spec = importlib.util.spec_from_file_location("slurm_launcher", SLURM_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def which(tool):
    return shutil.which(tool, path=SBIN_PATH)


def write_cluster_conf(root, node):
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 ** 20
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=speechgen-test",
        f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
        "AuthType=auth/none", "CredType=cred/none",
        "SlurmUser=root", "SlurmdUser=root",
        f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}", f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/pgid", "TaskPlugin=task/none", "MpiDefault=none",
        "SchedulerType=sched/builtin", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none", "ReturnToService=2",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={max(mem_mb // 2, 100)} State=UNKNOWN",
        f"PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP", ""]))
    for d in ("state", "spool"):
        (root / d).mkdir()
    return conf


def tail(path, n=5):
    return " | ".join(path.read_text(errors="replace").splitlines()[-n:]) if path.is_file() else "(no log)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The environment under which the Slurm commands talk to a fresh one-node cluster."""
    if which("slurmctld") is None or which("slurmd") is None or which("sbatch") is None:
        why = apt_install(PACKAGES, timeout=600, recommends=False)
        if why:
            pytest.skip(f"Slurm is not installed: {why}")
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to start the jobs of other users' ids")
    root = tmp_path_factory.mktemp("slurm")
    node = socket.gethostname().split(".")[0]
    conf = write_cluster_conf(root, node)
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=SBIN_PATH)
    daemons = []
    try:
        for cmd, log in (([which("slurmctld"), "-D", "-i", "-f", str(conf)], "slurmctld.out"),
                         ([which("slurmd"), "-D", "-f", str(conf), "-N", node], "slurmd.out")):
            with open(root / log, "w") as out:
                daemons.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
            time.sleep(1)
        deadline = time.monotonic() + 30
        state = ""
        while time.monotonic() < deadline and state not in ("idle", "mixed", "allocated"):
            out = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True, env=env,
                                 timeout=10)
            state = out.stdout.strip()
            if any(d.poll() is not None for d in daemons):
                break
            time.sleep(0.5)
        if state not in ("idle", "mixed", "allocated"):
            pytest.skip(f"the test cluster did not come up (node state {state!r}); slurmctld: "
                        f"{tail(root / 'slurmctld.log')}; slurmd: {tail(root / 'slurmd.log')}")
        yield env
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def launch(env, cwd, *args):
    (cwd / "slurm.conf").write_text("# the test cluster's only partition is the default\npoll-interval = 0.5\n")
    return subprocess.run([sys.executable, str(SLURM_PY), "--config", "slurm.conf", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)


def test_job_array_runs_every_task_with_its_log(cluster, tmp_path):
    out = launch(cluster, tmp_path, "JOB=1:3", "log/echo.JOB.log", "bash", "-c", "echo task JOB of $SLURM_ARRAY_TASK_COUNT")
    assert out.returncode == 0, out.stderr
    for task in (1, 2, 3):
        lines = (tmp_path / "log" / f"echo.{task}.log").read_text().splitlines()
        assert lines[0].startswith("# bash -c") and lines[2] == f"task {task} of 3"  # run under Slurm
        assert lines[-1].startswith("# exit status 0,")
    assert (tmp_path / "log" / "q" / "echo.sh").is_file()


def test_a_failed_task_fails_the_stage_naming_its_log(cluster, tmp_path):
    out = launch(cluster, tmp_path, "JOB=1:3", "log/check.JOB.log", "bash", "-c",
                 "[ JOB != 2 ] || { echo 'task JOB broke' >&2; exit 3; }")
    assert out.returncode == 1
    assert "1/3 jobs failed; see log/check.2.log" in out.stderr
    assert "task 2 broke" in out.stderr and "check.1.log" not in out.stderr and "check.3.log" not in out.stderr
    assert (tmp_path / "log" / "check.2.log").read_text().splitlines()[-1].startswith("# exit status 3,")


# ---------------------------------------------------------------- without a cluster
def test_help_and_options(tmp_path):
    out = subprocess.run([sys.executable, str(SLURM_PY), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "sbatch --array" in out.stdout and "partition" in out.stdout
    launcher = load_launcher()
    conf = tmp_path / "slurm.conf"
    conf.write_text("partition = gpu  # the GPU nodes\ntime = 1:00:00\nmem =\ngpus = 2\nextra = --exclusive\n")
    options = launcher.sbatch_options(launcher.read_config(conf))
    assert options == ["--partition=gpu", "--time=1:00:00", "--gres=gpu:2", "--exclusive"]
    conf.write_text("time = 1:00:00\nmemory = 4G\n")
    with pytest.raises(launcher.LauncherError, match=r"slurm\.conf:2: expected KEY = VALUE with KEY one of partition"):
        launcher.read_config(conf)
    assert launcher.job_name("exp/log/feats.JOB.log") == "feats"


@pytest.mark.parametrize("recipe", ["timit_fdnf", "timit_logmel", "chime_complex"])
def test_recipe_slurm_conf_is_valid(recipe):
    launcher = load_launcher()
    conf = launcher.read_config(ROOT / "egs" / recipe / "conf" / "slurm.conf")
    assert "--time=4:00:00" in launcher.sbatch_options(conf)


def test_without_sbatch_the_error_says_what_to_do(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    out = subprocess.run([sys.executable, str(SLURM_PY), "JOB=1:2", "log/x.JOB.log", "true"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1 and "sbatch not found" in out.stderr and "cmd_backend=local" in out.stderr
