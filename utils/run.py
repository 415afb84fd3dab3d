#!/usr/bin/env python3
"""Local job launcher in the Kaldi style.

    utils/run.py [--max-jobs-run N] JOB=1:4 LOG_DIR/name.JOB.log COMMAND ARGS...

Runs COMMAND once per job index, with every ``JOB`` in the log path and arguments replaced by the
index, at most N at once (default: the number of CPUs). Each job's output goes to its own log,
which starts with the command line and ends with its exit status and run time. Exits 1 naming the
logs of the failed jobs when any job fails. ``utils/slurm.py`` takes the same arguments and runs the
jobs as a Slurm job array (each of its tasks runs this script for its own index).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

#: the last line of a finished job's log: ``# exit status RC, SECONDSs, ended DATE``
EXIT_LINE = re.compile(r"^# exit status (-?\d+),")


def usage(doc: str = __doc__) -> int:
    print(doc.strip(), file=sys.stderr)
    return 2


def parse_jobs(argv: List[str]) -> Optional[Tuple[int, int, str, List[str]]]:
    """``JOB=a:b LOG CMD...`` (or Kaldi's single-job form ``LOG CMD...``, a log path without JOB)
    -> ``(first, last, log template, command)``; None when the arguments are not of that form."""
    if len(argv) < 2:
        return None
    match = re.fullmatch(r"JOB=(\d+):(\d+)", argv[0])
    if match is None:
        if "JOB" in argv[0]:
            return None
        first, last, argv = 1, 1, ["JOB=1:1"] + argv
    else:
        first, last = int(match.group(1)), int(match.group(2))
    if last < first or len(argv) < 3:
        return None
    return first, last, argv[1], argv[2:]


def job_log(log_template: str, job: int) -> Path:
    return Path(log_template.replace("JOB", str(job)))


def exit_status(log: Path) -> Optional[int]:
    """The exit status a finished job wrote at the end of its log; None when there is none."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    match = EXIT_LINE.match(lines[-1]) if lines else None
    return int(match.group(1)) if match else None


def report_failures(prog: str, failed: List[str], total: int) -> int:
    """Name the logs of the failed jobs (and show the end of the first) on stderr; returns 1."""
    print(f"{prog}: {len(failed)}/{total} jobs failed; see {', '.join(failed)}", file=sys.stderr)
    for log in failed[:1]:
        path = Path(log)
        tail = path.read_text(errors="replace").splitlines()[-6:] if path.is_file() else ["(no log written)"]
        print("\n".join(f"  {line}" for line in tail), file=sys.stderr)
    return 1


def run_jobs(first: int, last: int, log_template: str, command: list, max_jobs: int) -> int:
    pending = list(range(first, last + 1))
    running = {}
    failed = []
    while pending or running:
        while pending and len(running) < max_jobs:
            job = pending.pop(0)
            argv = [arg.replace("JOB", str(job)) for arg in command]
            log = job_log(log_template, job)
            log.parent.mkdir(parents=True, exist_ok=True)
            handle = open(log, "w")
            handle.write(f"# {shlex.join(argv)}\n# started at {time.ctime()}\n")
            handle.flush()
            proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)
            running[job] = (proc, handle, log, time.time())
        time.sleep(0.05)
        for job, (proc, handle, log, start) in list(running.items()):
            if proc.poll() is None:
                continue
            handle.write(f"# exit status {proc.returncode}, {time.time() - start:.1f}s, ended {time.ctime()}\n")
            handle.close()
            if proc.returncode != 0:
                failed.append(str(log))
            del running[job]
    if failed:
        return report_failures("run.py", failed, last - first + 1)
    return 0


def main(argv: list) -> int:
    max_jobs = os.cpu_count() or 1
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__.strip())
        return 0
    if argv[:1] == ["--max-jobs-run"] and len(argv) > 1:
        max_jobs, argv = int(argv[1]), argv[2:]
    jobs = parse_jobs(argv)
    if jobs is None:
        return usage()
    return run_jobs(*jobs, max_jobs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
