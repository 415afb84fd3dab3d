"""speechgen-compute-stft: complex STFT of every utterance of a data dir as Kaldi ark/scp.

One job (``--job J --nj N``) writes ``OUT/feats.J.{ark,scp}``; ``--merge`` joins them into
``OUT/feats.scp`` with ``utt2num_samples`` and ``stft.yaml`` (and, with ``--stats``, the per-bin
log-magnitude statistics ``cmvn.npz``: use it on the training set only). Without ``--job`` or
``--merge`` it does everything in one process. Each matrix is ``frames x 2F`` (real parts, then
imaginary parts), which rebuilds the exact complex spectrogram.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.data.complex_feats import compute_job, compute_log_magnitude_stats, merge_jobs
from speechgen.data.jobs import check_job
from speechgen.signal.stft import STFTConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechgen-compute-stft",
                                description="Complex STFT (frames x 2F: real | imag) of DATA_DIR/wav.scp -> "
                                            "OUT_DIR/feats.scp + ark, utt2num_samples, stft.yaml.")
    p.add_argument("data_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--job", type=int, default=None, help="run only this job (1..nj)")
    p.add_argument("--merge", action="store_true", help="only merge the finished jobs")
    p.add_argument("--stats", action="store_true", help="also write OUT_DIR/cmvn.npz (training set only)")
    p.add_argument("--n-fft", type=int, default=512)
    p.add_argument("--hop-length", type=int, default=128)
    p.add_argument("--win-length", type=int, default=None, help="default: n_fft")
    p.add_argument("--window", default="hann")
    p.add_argument("--sample-rate", type=int, default=16000)
    return p


@command("speechgen-compute-stft")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    conf = STFTConfig(n_fft=args.n_fft, hop_length=args.hop_length, win_length=args.win_length,
                      window=args.window, sample_rate=args.sample_rate)
    if args.job is not None:
        check_job(args.nj, args.job)
        n = compute_job(args.data_dir, args.out_dir, conf, args.nj, args.job)
        print(f"job {args.job}/{args.nj}: {n} utterances -> {args.out_dir}/feats.{args.job}.scp")
        return 0
    if not args.merge:
        for job in range(1, args.nj + 1):
            compute_job(args.data_dir, args.out_dir, conf, args.nj, job)
    n = merge_jobs(args.data_dir, args.out_dir, conf, args.nj)
    if args.stats:
        compute_log_magnitude_stats(args.out_dir)
    print(f"{n} utterances of {conf.n_freqs} bins -> {args.out_dir}/feats.scp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
