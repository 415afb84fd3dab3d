#!/usr/bin/env python3
"""Local job launcher in the Kaldi style.

    utils/run.py [--max-jobs-run N] JOB=1:4 LOG_DIR/name.JOB.log COMMAND ARGS...

Runs COMMAND once per job index, with every ``JOB`` in the log path and arguments replaced by the
index, at most N at once (default: the number of CPUs). Each job's output goes to its own log,
which starts with the command line and ends with its exit status and run time. Exits 1 naming the
logs of the failed jobs when any job fails.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path


def usage() -> int:
    print(__doc__.strip(), file=sys.stderr)
    return 2


def run_jobs(first: int, last: int, log_template: str, command: list, max_jobs: int) -> int:
    pending = list(range(first, last + 1))
    running = {}
    failed = []
    while pending or running:
        while pending and len(running) < max_jobs:
            job = pending.pop(0)
            argv = [arg.replace("JOB", str(job)) for arg in command]
            log = Path(log_template.replace("JOB", str(job)))
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
        print(f"run.py: {len(failed)}/{last - first + 1} jobs failed; see {', '.join(failed)}", file=sys.stderr)
        for log in failed[:1]:
            tail = Path(log).read_text().splitlines()[-6:]
            print("\n".join(f"  {line}" for line in tail), file=sys.stderr)
        return 1
    return 0


def main(argv: list) -> int:
    max_jobs = os.cpu_count() or 1
    if argv[:1] == ["--max-jobs-run"] and len(argv) > 1:
        max_jobs, argv = int(argv[1]), argv[2:]
    if len(argv) < 3:
        return usage()
    match = re.fullmatch(r"JOB=(\d+):(\d+)", argv[0])
    if match is None:  # Kaldi's single-job form: no JOB=a:b, a log path without JOB
        if "JOB" in argv[0]:
            return usage()
        first, last, argv = 1, 1, ["JOB=1:1"] + argv
    else:
        first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        return usage()
    return run_jobs(first, last, argv[1], argv[2:], max_jobs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
