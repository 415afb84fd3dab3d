"""speechgen-prepare-logmel: TIMIT (or the embedded corpus) -> Kaldi data dirs for the log-mel recipe.

    speechgen-prepare-logmel CORPUS_ROOT DATA_DIR [--n-dev-speakers 2 --n-test-speakers 2 --seed 0]

Writes DATA_DIR/{train,dev,test} (wav.scp utt2spk spk2utt spk2gender text phones), DATA_DIR/lang/phones.txt
(the 49 phone ids of the seed's table) and DATA_DIR/split.txt (which split was used).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.data.frames import write_phone_table
from speechgen.data.timit import LDC_LAYOUT, NLTK_LAYOUT, SPLITS, write_data_dir
from speechgen.data.timit_split import split_corpus
from speechgen.data.validate import validate_data_dir


def prepare(corpus_root: str, data_dir: Path, n_dev: int, n_test: int, seed: int) -> dict:
    """Split the corpus, write and validate the data dirs; returns ``{split: counts}``."""
    splits, how = split_corpus(corpus_root, n_dev, n_test, seed)
    for name in SPLITS:
        write_data_dir(splits[name], data_dir / name)
    (data_dir / "lang").mkdir(parents=True, exist_ok=True)
    write_phone_table(data_dir / "lang" / "phones.txt")
    (data_dir / "split.txt").write_text(how + "\n")
    return {name: validate_data_dir(data_dir / name, check_audio=True) for name in SPLITS}


@command("speechgen-prepare-logmel")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-prepare-logmel",
        description="Kaldi data dirs train/dev/test for frame-level models: the standard TIMIT split (462 train, "
                    "50 dev, 24 core-test speakers; SA sentences excluded) when the corpus has a TEST subset, "
                    "otherwise a speaker split with both genders in every set.",
        epilog=f"Corpus layouts accepted:\n  {LDC_LAYOUT}\n  {NLTK_LAYOUT}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus_root", metavar="CORPUS_ROOT")
    p.add_argument("data_dir", metavar="DATA_DIR", type=Path)
    p.add_argument("--n-dev-speakers", type=int, default=2, help="dev speakers per gender (speaker split only)")
    p.add_argument("--n-test-speakers", type=int, default=2, help="test speakers per gender (speaker split only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker split")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = prepare(args.corpus_root, args.data_dir, args.n_dev_speakers, args.n_test_speakers, args.seed)
    print((args.data_dir / "split.txt").read_text().strip())
    for name, counts in summary.items():
        print(f"{args.data_dir}/{name}: {counts['utterances']} utterances, {counts['speakers']} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
