"""The ``--nj N --job J`` / ``--merge`` convention of the feature stages.

A job handles the J-th of N contiguous chunks of the sorted utterance list and writes its own
``NAME.J.scp`` (renamed into place only once its ark is complete); the merge gathers every job's
lines, sorted by key in C (byte) order as Kaldi expects, and writes the merged file atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

import numpy as np

from speechgen.errors import DataError


def check_job(nj: int, job: int) -> None:
    if not 1 <= job <= nj:
        raise DataError(f"--job {job} is outside 1..{nj}")


def job_share(keys: Sequence[str], nj: int, job: int) -> List[str]:
    """The job-th (1-based) of nj contiguous, near-equal chunks of ``keys``."""
    bounds = np.linspace(0, len(keys), nj + 1).round().astype(int)
    return list(keys[bounds[job - 1]:bounds[job]])


def by_key(line: str) -> bytes:
    """Sort key of a Kaldi table line: its first field in C order."""
    return line.split(maxsplit=1)[0].encode()


def gather_job_lines(out_dir: Path, name: str, nj: int, log: str, suffix: str = ".scp") -> List[str]:
    """The lines of ``out_dir/NAME.{1..nj}SUFFIX``, sorted by key; a missing file is a DataError
    naming the job and its log ``out_dir/log/LOG.J.log``."""
    lines: List[str] = []
    for job in range(1, nj + 1):
        path = out_dir / f"{name}.{job}{suffix}"
        if not path.is_file():
            raise DataError(f"{path}: missing, job {job} did not finish (see {out_dir}/log/{log}.{job}.log)")
        lines += path.read_text().splitlines()
    return sorted(lines, key=by_key)


def write_lines_atomic(path: Path, lines: Sequence[str]) -> None:
    """``path`` with one line each, through a temporary file: it never exists half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    os.replace(tmp, path)
