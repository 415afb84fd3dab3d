"""Stage: frame-level log-mel + delta features and frame-aligned phone ids of a data dir (Kaldi ark/scp).

One job (``--job J --nj N``) handles the J-th of N contiguous chunks of utterances and writes
``OUT/feats.J.{ark,scp}`` ((N_u, 120) float32 per utterance) and ``OUT/ali.J.{ark,scp}`` ((N_u,)
int32 phone ids of ``data/lang/phones.txt``); ``--merge`` joins them into ``OUT/feats.scp`` and
``OUT/ali.scp`` once every job has finished, and writes ``OUT/logmel.yaml`` (the feature settings).
Without ``--job`` or ``--merge`` it does both in one process.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

from speechgen.data.ark import ark_writer
from speechgen.bin import command
from speechgen.data.audio import load_wav
from speechgen.data.tables import check_finite
from speechgen.data.frames import LogMelConfig, frame_labels, log_mel_deltas, num_feature_frames
from speechgen.data.jobs import check_job, gather_job_lines, job_share, write_lines_atomic
from speechgen.data.timit import read_data_dir
from speechgen.errors import DataError
from speechgen.signal.mel import mel_filterbank
from speechgen.progress import progress


def run_job(data_dir: Path, out_dir: Path, nj: int, job: int, conf: LogMelConfig) -> int:
    """Extract one job's share of utterances; returns the number of frames written."""
    tables = read_data_dir(data_dir)
    if "phones" not in tables:
        raise DataError(f"{data_dir / 'phones'}: missing; frame labels need phone alignments (re-run data preparation)")
    wavs, phones = tables["wav.scp"], tables["phones"]
    fb = mel_filterbank(conf.sample_rate, conf.n_fft, conf.n_mels, conf.fmin, conf.fmax, scale="kaldi", norm=None)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_scps = [out_dir / f"{name}.{job}.scp.tmp" for name in ("feats", "ali")]
    frames = 0
    with ark_writer(out_dir / f'feats.{job}.ark', tmp_scps[0]) as feat_writer, \
            ark_writer(out_dir / f'ali.{job}.ark', tmp_scps[1]) as ali_writer:
        for utt in progress(job_share(sorted(wavs), nj, job), f"log-mel, job {job}/{nj}", unit="utt"):
            x = load_wav(wavs[utt], conf.sample_rate)
            if num_feature_frames(len(x), conf) == 0:
                raise DataError(f"{wavs[utt]}: {len(x)} samples, shorter than one {conf.n_fft}-sample frame; "
                                f"remove {utt} from {data_dir}")
            feats = log_mel_deltas(x, conf, fb)
            try:
                labels = frame_labels(phones[utt], len(feats), conf)
            except DataError as err:
                raise DataError(f"{data_dir / 'phones'}: {utt}: {err}") from None
            feat_writer(utt, check_finite(feats, utt, wavs[utt], "check that audio"))
            ali_writer(utt, labels)
            frames += len(feats)
    for tmp in tmp_scps:  # the scps appear only once their arks are complete
        os.replace(tmp, tmp.with_name(tmp.name[:-len(".tmp")]))
    return frames


def merge_jobs(data_dir: Path, out_dir: Path, nj: int, conf: LogMelConfig) -> int:
    """Join the jobs' scps into ``feats.scp`` and ``ali.scp``; returns the number of utterances."""
    expected = len(read_data_dir(data_dir)["wav.scp"])
    merged = {name: gather_job_lines(out_dir, name, nj, log="feats") for name in ("feats", "ali")}
    for name, lines in merged.items():
        if len(lines) != expected:
            raise DataError(f"{out_dir}: the jobs wrote {len(lines)} {name} entries, {data_dir}/wav.scp has {expected}")
    (out_dir / "logmel.yaml").write_text(yaml.safe_dump(conf.to_dict(), sort_keys=False))
    for table in ("utt2spk", "spk2utt", "text"):
        if (data_dir / table).is_file():
            shutil.copyfile(data_dir / table, out_dir / table)
    # feats.scp last: its presence says the dir is complete
    for name in ("ali", "feats"):
        write_lines_atomic(out_dir / f"{name}.scp", merged[name])
    return expected


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-compute-logmel",
        description="Compute log-mel filterbank + delta + delta-delta features (Kaldi-style, 25 ms / 10 ms) of the "
                    "utterances of a data dir, with the phone id of every frame, into OUT_DIR/feats.scp + ali.scp.")
    p.add_argument("data_dir", type=Path, help="Kaldi data dir with wav.scp and phones")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--nj", type=int, default=1, help="number of jobs the utterances are split into")
    p.add_argument("--job", type=int, default=None, help="run only this job (1..nj)")
    p.add_argument("--merge", action="store_true", help="only merge the finished jobs")
    p.add_argument("--n-mels", type=int, default=40)
    p.add_argument("--delta-order", type=int, default=2, help="2: static + delta + delta-delta")
    p.add_argument("--win-length", type=int, default=400, help="window in samples (25 ms at 16 kHz)")
    p.add_argument("--hop-length", type=int, default=160, help="shift in samples (10 ms at 16 kHz)")
    p.add_argument("--n-fft", type=int, default=512)
    p.add_argument("--sample-rate", type=int, default=16000)
    return p


@command("speechgen-compute-logmel")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    conf = LogMelConfig(sample_rate=args.sample_rate, win_length=args.win_length, hop_length=args.hop_length,
                        n_fft=args.n_fft, n_mels=args.n_mels, delta_order=args.delta_order)
    if args.job is not None:
        check_job(args.nj, args.job)
        n = run_job(args.data_dir, args.out_dir, args.nj, args.job, conf)
        print(f"job {args.job}/{args.nj}: {n} frames -> {args.out_dir}/feats.{args.job}.scp")
        return 0
    if not args.merge:
        for job in range(1, args.nj + 1):
            run_job(args.data_dir, args.out_dir, args.nj, job, conf)
    n = merge_jobs(args.data_dir, args.out_dir, args.nj, conf)
    print(f"{n} utterances of {conf.dims}-dim log-mel features -> {args.out_dir}/feats.scp, ali.scp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
