"""speechgen-prepare-timit: TIMIT -> Kaldi data dirs for the f-DNF setup.

    speechgen-prepare-timit CORPUS_ROOT DATA_DIR [--n-female 20 --n-male 20 --split 8,1,1 --seg-dur 0.2 --seed 0]
"""
from __future__ import annotations

import argparse
import logging
import sys

from speechgen.bin import command
from speechgen.data.timit import LDC_LAYOUT, NLTK_LAYOUT, prepare_fdnf


def parse_split(text: str) -> tuple[float, ...]:
    """``"8,1,1"`` -> ``(8.0, 1.0, 1.0)``; an argparse error for anything else."""
    try:
        ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three numbers train,dev,test such as 8,1,1") from None
    if len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three numbers train,dev,test >= 0 with train > 0")
    return ratios


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="speechgen-prepare-timit",
        description=(
            "Prepare TIMIT for the f-DNF setup: pick speakers, split each speaker's utterances\n"
            "into train/dev/test, cut one fixed-length segment per non-silence phone, and write\n"
            "Kaldi data dirs DATA_DIR/{all,train,dev,test} and DATA_DIR/lang/{phones,speakers}.txt."
        ),
        epilog=f"Corpus layouts accepted:\n  {LDC_LAYOUT}\n  {NLTK_LAYOUT}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus_root", metavar="CORPUS_ROOT", help="TIMIT root (LDC or NLTK-sample layout)")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="output folder, e.g. data")
    parser.add_argument("--n-female", type=int, default=20, help="female speakers to select (default 20)")
    parser.add_argument("--n-male", type=int, default=20, help="male speakers to select (default 20)")
    parser.add_argument("--split", type=parse_split, default=(8.0, 1.0, 1.0), metavar="TRAIN,DEV,TEST",
                        help="per-speaker utterance split ratios (default 8,1,1)")
    parser.add_argument("--seg-dur", type=float, default=0.2, help="segment length in seconds (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-speaker shuffle (default 0)")
    return parser


@command("speechgen-prepare-timit")
def main(argv: list[str] | None = None) -> int:
    """Run the preparation; 0 on success, 1 with the error on stderr."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = prepare_fdnf(args.corpus_root, args.data_dir, n_female=args.n_female, n_male=args.n_male,
                           ratios=args.split, seg_dur=args.seg_dur, seed=args.seed)
    for name, counts in summary.items():
        print(f"{args.data_dir}/{name}: {counts['utterances']} utterances, {counts['speakers']} speakers, "
              f"{counts['segments']} segments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
