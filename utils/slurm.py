#!/usr/bin/env python3
"""Slurm job launcher in the Kaldi style, with the calling convention of utils/run.py.

    utils/slurm.py [--config conf/slurm.conf] [--max-jobs-run N] [--KEY VALUE ...] \\
        JOB=1:4 LOG_DIR/name.JOB.log COMMAND ARGS...

Submits one Slurm job array (``sbatch --array=1-4``) whose task K runs COMMAND with every ``JOB``
replaced by K, through utils/run.py on the compute node, so each job's log (LOG_DIR/name.K.log)
starts with the command line and ends with its exit status, as with the local launcher. Waits
until every task has left the queue, then reads each log's exit status: exits 0 when all jobs
succeeded, otherwise 1 naming the log of every failed job (a task that Slurm killed, e.g. past its
time limit, has no exit status in its log; its state and Slurm's own output, LOG_DIR/q/, are
named instead). Interrupting the launcher cancels the array. The working directory, the log dir
and COMMAND's files must be on a file system that the compute nodes share.

Options (each line of the --config file is ``KEY = VALUE``; ``# comments``; an empty value leaves
the option to the cluster's default; ``--KEY VALUE`` on the command line overrides the file):

    partition       sbatch --partition
    time            sbatch --time (e.g. 4:00:00)
    mem             sbatch --mem (per node, e.g. 4G)
    cpus-per-task   sbatch --cpus-per-task
    gpus            GPUs per task: sbatch --gres=gpu:N (0: none)
    account, qos    sbatch --account, --qos
    extra           further sbatch options, as on its command line
    poll-interval   the most seconds between two looks at the queue (default 10)

--max-jobs-run N runs at most N tasks of the array at once (``--array=1-4%N``).
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import job_log, exit_status, parse_jobs, report_failures, usage  # noqa: E402  (beside this file)

#: config keys and the sbatch option each sets (None: the launcher's own, or handled apart)
OPTIONS: Dict[str, Optional[str]] = {
    "partition": "--partition", "time": "--time", "mem": "--mem", "cpus-per-task": "--cpus-per-task",
    "account": "--account", "qos": "--qos", "gpus": None, "extra": None, "poll-interval": None,
}
DEFAULTS = {"poll-interval": "10"}
RUN_PY = Path(__file__).resolve().with_name("run.py")


class LauncherError(Exception):
    """A problem with the launcher's options or with Slurm, reported in one line."""


def read_config(path: Path) -> Dict[str, str]:
    """``KEY = VALUE`` lines of a slurm.conf; an unknown key is an error naming the file and line."""
    if not path.is_file():
        raise LauncherError(f"{path}: no such config file (see utils/slurm.py --help for its keys)")
    conf: Dict[str, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or key not in OPTIONS:
            raise LauncherError(f"{path}:{lineno}: expected KEY = VALUE with KEY one of {', '.join(OPTIONS)}; "
                                f"got {line!r}")
        conf[key] = value
    return conf


def sbatch_options(conf: Dict[str, str]) -> List[str]:
    """The sbatch command-line options of a config."""
    args = [f"{flag}={conf[key]}" for key, flag in OPTIONS.items() if flag and conf.get(key)]
    gpus = conf.get("gpus") or "0"
    if not gpus.isdigit():
        raise LauncherError(f"gpus = {gpus}: expected a number of GPUs per task")
    if int(gpus) > 0:
        args.append(f"--gres=gpu:{gpus}")
    return args + shlex.split(conf.get("extra") or "")


def batch_script(log_template: str, command: Sequence[str]) -> str:
    """The script of every task: utils/run.py runs the command of the task's index and writes its log."""
    run = [sys.executable, str(RUN_PY)]
    return ("#!/bin/bash\n"
            "# one task of a job array submitted by utils/slurm.py\n"
            f'exec {shlex.join(run)} "JOB=$SLURM_ARRAY_TASK_ID:$SLURM_ARRAY_TASK_ID" '
            f"{shlex.join([log_template, *command])}\n")


def slurm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    tool = args[0]
    if shutil.which(tool) is None:
        raise LauncherError(f"{tool} not found: install the Slurm client commands, or set cmd_backend=local in "
                            "cmd.sh to run the jobs on this machine")
    out = subprocess.run(list(args), capture_output=True, text=True)
    if check and out.returncode != 0:
        raise LauncherError(f"{shlex.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def job_name(log_template: str) -> str:
    """The array's name: the log's name without JOB and .log (``feats.JOB.log`` -> ``feats``)."""
    return Path(log_template).name.replace(".JOB", "").replace("JOB", "").removesuffix(".log") or "job"


def queue_dir(log_template: str) -> Path:
    """Where the batch script and Slurm's own output of each task go: LOG_DIR/q."""
    return Path(log_template).parent / "q"


def submit(first: int, last: int, log_template: str, command: Sequence[str], conf: Dict[str, str],
           max_jobs: Optional[int]) -> str:
    """Submit the array; returns its job id."""
    name, qdir = job_name(log_template), queue_dir(log_template)
    qdir.mkdir(parents=True, exist_ok=True)
    script = qdir / f"{name}.sh"
    script.write_text(batch_script(log_template, command))
    array = f"{first}-{last}" + (f"%{max_jobs}" if max_jobs else "")
    out = slurm("sbatch", "--parsable", f"--array={array}", f"--job-name={name}", f"--chdir={Path.cwd()}",
                f"--output={qdir / name}.%a.out", *sbatch_options(conf), str(script))
    return out.stdout.strip().split(";")[0]


def wait_for(job_id: str, poll: float) -> None:
    """Return once no task of the array is pending or running (looking after 1, 2, 4 ... s, then every
    ``poll`` s)."""
    misses = 0
    delay = min(1.0, poll)
    while True:
        out = slurm("squeue", "--noheader", "--array", f"--jobs={job_id}", "--format=%i %T", check=False)
        if out.returncode == 0:
            misses = 0
            if not out.stdout.strip():
                return
        elif "Invalid job id" in out.stderr:  # already purged from the controller: finished
            return
        else:
            misses += 1
            if misses >= 6:
                raise LauncherError(f"squeue cannot tell the state of job {job_id}: {out.stderr.strip()}")
        time.sleep(delay)
        delay = min(2 * delay, poll)


def task_state(job_id: str, task: int) -> str:
    out = slurm("scontrol", "show", "job", "--oneliner", f"{job_id}_{task}", check=False)
    for field in out.stdout.split():
        if field.startswith("JobState="):
            return field.split("=", 1)[1]
    return "unknown"


def gather(job_id: str, first: int, last: int, log_template: str) -> List[str]:
    """The logs of the failed jobs; a job that wrote no exit status (killed by Slurm, or never
    started) is reported on stderr with its Slurm state and Slurm's output file."""
    failed = []
    for task in range(first, last + 1):
        log = job_log(log_template, task)
        status = exit_status(log)
        if status is None:
            out = queue_dir(log_template) / f"{job_name(log_template)}.{task}.out"
            print(f"slurm.py: {log}: no exit status (Slurm state of {job_id}_{task}: {task_state(job_id, task)}); "
                  f"see also {out}", file=sys.stderr)
        if status != 0:
            failed.append(str(log))
    return failed


def parse_args(argv: List[str]):
    """Leading ``--config FILE``, ``--max-jobs-run N`` and ``--KEY VALUE`` options, then the jobs."""
    config: Optional[Path] = None
    overrides: Dict[str, str] = {}
    max_jobs: Optional[int] = None
    while argv and argv[0].startswith("--"):
        if len(argv) < 2:
            raise LauncherError(f"option {argv[0]} needs a value")
        key, value, argv = argv[0][2:], argv[1], argv[2:]
        if key == "config":
            config = Path(value)
        elif key == "max-jobs-run":
            max_jobs = int(value)
        elif key in OPTIONS:
            overrides[key] = value
        else:
            raise LauncherError(f"unknown option --{key}; known: --config, --max-jobs-run, "
                                f"{', '.join('--' + k for k in OPTIONS)}")
    conf = {**DEFAULTS, **(read_config(config) if config else {}), **overrides}
    return conf, max_jobs, parse_jobs(argv)


def main(argv: List[str]) -> int:
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__.strip())
        return 0
    try:
        conf, max_jobs, jobs = parse_args(argv)
        if jobs is None:
            return usage(__doc__)
        first, last, log_template, command = jobs
        job_id = submit(first, last, log_template, command, conf, max_jobs)
        print(f"slurm.py: job array {job_id} ({last - first + 1} tasks), logs {log_template}", file=sys.stderr)
        try:
            wait_for(job_id, float(conf["poll-interval"]))
        except KeyboardInterrupt:
            slurm("scancel", job_id, check=False)
            print(f"slurm.py: interrupted; cancelled job array {job_id}", file=sys.stderr)
            return 130
        failed = gather(job_id, first, last, log_template)
    except LauncherError as err:
        print(f"slurm.py: error: {err}", file=sys.stderr)
        return 1
    if failed:
        return report_failures("slurm.py", failed, last - first + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
