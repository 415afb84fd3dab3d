"""Stage: 20 x 200 log-magnitude spectrograms of the segments of a data dir, as Kaldi ark/scp.

One job (``--job J --nj N``) handles the J-th of N contiguous chunks of utterances and writes
``OUT/feats.J.ark`` + ``OUT/feats.J.scp``; ``--merge`` then joins the job scps into ``OUT/feats.scp``
(only when every job finished) and copies the label files. Without ``--job`` or ``--merge`` it
does both in one process.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import yaml

from speechgen.data.ark import ark_writer
from speechgen.bin import command
from speechgen.corpora.writer import PHONE_SEGMENTS
from speechgen.data.audio import load_wav
from speechgen.data.tables import check_finite, read_mapping
from speechgen.data.validate import parse_time, read_table
from speechgen.data.features import SegmentSpecConfig, analysis_starts, segment_log_spectrograms
from speechgen.data.jobs import check_job, gather_job_lines, job_share, write_lines_atomic
from speechgen.errors import DataError
from speechgen.progress import progress

LABEL_FILES = ("seg2phone", "seg2spk", PHONE_SEGMENTS)


def read_segments(data_dir: Path) -> Dict[str, List[Tuple[str, float, float]]]:
    """``phone_segments`` grouped by utterance: {utt: [(seg, start_s, end_s), ...]}."""
    by_utt: Dict[str, List[Tuple[str, float, float]]] = {}
    path = data_dir / PHONE_SEGMENTS
    for row in read_table(path, 3, 3):
        utt, start, end = row.fields
        by_utt.setdefault(utt, []).append((row.key, parse_time(path, row.lineno, start),
                                           parse_time(path, row.lineno, end)))
    return by_utt


def run_job(data_dir: Path, out_dir: Path, nj: int, job: int, conf: SegmentSpecConfig) -> int:
    """Extract one job's share; returns the number of segments written."""
    wavs = read_mapping(data_dir / "wav.scp")
    segments = read_segments(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ark, scp = out_dir / f"feats.{job}.ark", out_dir / f"feats.{job}.scp"
    scp_tmp = scp.with_name(scp.name + ".tmp")
    n = 0
    with ark_writer(ark, scp_tmp) as writer:
        for utt in progress(job_share(sorted(segments), nj, job), f"features, job {job}/{nj}", unit="utt"):
            if utt not in wavs:
                raise DataError(f"{data_dir / PHONE_SEGMENTS}: utterance {utt} is not in wav.scp")
            x = load_wav(wavs[utt], conf.sample_rate)
            segs = segments[utt]
            bounds = np.array([[s, e] for _, s, e in segs]) * conf.sample_rate
            if bounds.max() > len(x) + 1:
                raise DataError(f"{data_dir / PHONE_SEGMENTS}: a segment of {utt} ends at "
                                f"{bounds.max() / conf.sample_rate:.3f}s, past the audio's end "
                                f"({len(x) / conf.sample_rate:.3f}s in {wavs[utt]}); re-run data preparation")
            try:
                starts = analysis_starts(bounds, len(x), conf)
            except DataError as err:
                raise DataError(f"{wavs[utt]}: {err}") from None
            feats = segment_log_spectrograms(x, starts, conf)
            for (seg, _, _), mat in zip(segs, feats):
                writer(seg, check_finite(mat, seg, wavs[utt], "check that audio"))
                n += 1
    os.replace(scp_tmp, scp)  # the scp appears only once the ark is complete
    return n


def merge_jobs(data_dir: Path, out_dir: Path, nj: int) -> int:
    """Join ``feats.{1..nj}.scp`` into ``feats.scp`` (sorted) and copy the label files."""
    lines = gather_job_lines(out_dir, "feats", nj, log="feats")
    expected = sum(len(v) for v in read_segments(data_dir).values())
    if len(lines) != expected:
        raise DataError(f"{out_dir}: the jobs wrote {len(lines)} segments, {data_dir / PHONE_SEGMENTS} has {expected}")
    for name in LABEL_FILES:
        if (data_dir / name).is_file():
            shutil.copyfile(data_dir / name, out_dir / name)
    write_lines_atomic(out_dir / "feats.scp", lines)
    return len(lines)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-compute-feats",
        description="Compute fixed-size log-magnitude spectrograms of the segments of a Kaldi data dir "
                    "(needs wav.scp and phone_segments) into OUT_DIR/feats.scp + ark.")
    p.add_argument("data_dir", type=Path, help="Kaldi data dir with wav.scp, phone_segments (seg2phone, seg2spk)")
    p.add_argument("out_dir", type=Path, help="where feats.*.ark/scp are written")
    p.add_argument("--nj", type=int, default=1, help="number of jobs the utterances are split into")
    p.add_argument("--job", type=int, default=None, help="run only this job (1..nj)")
    p.add_argument("--merge", action="store_true", help="only merge the finished jobs into feats.scp")
    p.add_argument("--n-frames", type=int, default=20)
    p.add_argument("--win-length", type=int, default=400, help="window in samples (25 ms at 16 kHz)")
    p.add_argument("--hop-length", type=int, default=160, help="shift in samples (10 ms at 16 kHz)")
    p.add_argument("--n-fft", type=int, default=400)
    p.add_argument("--sample-rate", type=int, default=16000)
    return p


@command("speechgen-compute-feats")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    conf = SegmentSpecConfig(sample_rate=args.sample_rate, n_frames=args.n_frames, win_length=args.win_length,
                             hop_length=args.hop_length, n_fft=args.n_fft)
    if args.job is not None:
        check_job(args.nj, args.job)
        n = run_job(args.data_dir, args.out_dir, args.nj, args.job, conf)
        print(f"job {args.job}/{args.nj}: {n} segments -> {args.out_dir}/feats.{args.job}.scp")
        return 0
    if not args.merge:
        for job in range(1, args.nj + 1):
            run_job(args.data_dir, args.out_dir, args.nj, job, conf)
    n = merge_jobs(args.data_dir, args.out_dir, args.nj)
    (args.out_dir / "spec.yaml").write_text(yaml.safe_dump(dataclasses.asdict(conf), sort_keys=False))
    print(f"{n} segments of {conf.n_frames}x{conf.n_bins} -> {args.out_dir}/feats.scp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
