"""speechgen-perturb-speed: a Kaldi data dir with speed-perturbed copies of its utterances.

Kaldi's 3-way speed perturbation (``--factors "0.9 1.0 1.1"``): each factor other than 1 adds every
utterance played that many times as fast, as utterance ``sp<f>-<utt>`` of speaker ``sp<f>-<spk>``, its
audio resampled into a wav under ``--wav-dir`` and its phone alignment stretched to match
(:mod:`speechgen.corpora.speed`). Used on training sets only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.corpora.speed import parse_factors, perturb_data_dir
from speechgen.data.validate import validate_data_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechgen-perturb-speed",
                                description="Speed-perturbed copies of a data dir's utterances (Kaldi's "
                                            "perturb_data_dir_speed_3way.sh) -> a new data dir.")
    p.add_argument("src_dir", type=Path, help="the data dir to perturb (e.g. data/train)")
    p.add_argument("dst_dir", type=Path, help="the data dir written (e.g. data/train_sp), replaced as a whole")
    p.add_argument("--factors", default="0.9 1.0 1.1",
                   help="speed factors, spaces or commas; 1 keeps the utterances as they are (default: %(default)s)")
    p.add_argument("--wav-dir", type=Path, default=None,
                   help="where the perturbed audio is written (default: DST_DIR_wav beside DST_DIR)")
    return p


@command("speechgen-perturb-speed")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    factors = parse_factors(args.factors)
    wav_dir = args.wav_dir or args.dst_dir.with_name(args.dst_dir.name + "_wav")
    n = perturb_data_dir(args.src_dir, args.dst_dir, factors, wav_dir)
    counts = validate_data_dir(args.dst_dir)
    print(f"{args.dst_dir}: {n} utterances, {counts['speakers']} speakers at speeds "
          f"{' '.join(f'{f:g}' for f in factors)} (audio in {wav_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
