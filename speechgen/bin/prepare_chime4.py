"""speechgen-prepare-chime4: clean speech -> Kaldi data dirs DATA_DIR/{train,dev,test}.

    speechgen-prepare-chime4 DATA_DIR --chime4 /path/CHiME4 [--train-sets tr05_simu --dev-sets dt05_simu
                                      --test-sets et05_simu --channel 5]
    speechgen-prepare-chime4 DATA_DIR --corpus CORPUS [--dev-speakers 2 --test-speakers 4]

The first form reads CHiME-4's clean speech (see :mod:`speechgen.data.chime4`); the second a
TIMIT-layout corpus (the embedded synthetic one), split by speaker so no test speaker is trained on.
"""
from __future__ import annotations

import argparse
import logging
import sys

from speechgen.bin import command
from speechgen.data.chime4 import KNOWN_SETS, LAYOUT, prepare_splits, read_chime4, split_by_speaker, \
    timit_layout_utterances


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-prepare-chime4",
        description="Write Kaldi data dirs DATA_DIR/{train,dev,test} of clean speech from CHiME-4 (--chime4) "
                    "or from a TIMIT-layout corpus split by speaker (--corpus).",
        epilog=f"CHiME-4 layout: {LAYOUT}. Sets: {', '.join(KNOWN_SETS)}.")
    p.add_argument("data_dir", help="output folder, e.g. data")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--chime4", help="CHiME-4 root (the folder holding data/audio/16kHz)")
    src.add_argument("--corpus", help="TIMIT-layout corpus, e.g. the embedded synthetic one")
    p.add_argument("--train-sets", default="tr05_simu", help="space-separated CHiME-4 sets for training")
    p.add_argument("--dev-sets", default="dt05_simu", help="CHiME-4 sets for validation")
    p.add_argument("--test-sets", default="et05_simu", help="CHiME-4 sets for the evaluation")
    p.add_argument("--channel", type=int, default=5, help="channel of the simulated clean images (default 5)")
    p.add_argument("--dev-speakers", type=int, default=2, help="--corpus: held-out validation speakers")
    p.add_argument("--test-speakers", type=int, default=4, help="--corpus: held-out test speakers")
    return p


@command("speechgen-prepare-chime4")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.chime4:
        splits = {name: read_chime4(args.chime4, sets.split(), args.channel)
                  for name, sets in (("train", args.train_sets), ("dev", args.dev_sets), ("test", args.test_sets))}
    else:
        splits = split_by_speaker(timit_layout_utterances(args.corpus), args.dev_speakers, args.test_speakers)
    summary = prepare_splits(splits, args.data_dir)
    for name, counts in summary.items():
        print(f"{args.data_dir}/{name}: {counts['utterances']} utterances, {counts['speakers']} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
