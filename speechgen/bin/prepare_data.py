"""speechgen-prepare-data: any corpus -> the Kaldi data dirs of a recipe.

    speechgen-prepare-data DATA_DIR --corpus KIND --corpus-path PATH --recipe RECIPE [--split SPEC] [options]

Reads the corpus (:mod:`speechgen.corpora`), splits it into train/dev/test by ``--split`` and writes
DATA_DIR/{train,dev,test} (timit_fdnf also DATA_DIR/all with its phone segments), DATA_DIR/lang
(the phone and speaker classes the models are built for) and DATA_DIR/split.txt (the split made).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from speechgen.bin import command
from speechgen.corpora import KINDS, Corpus, Utterance, open_corpus
from speechgen.corpora.chime4 import KNOWN_SETS
from speechgen.corpora.writer import write_data_dirs
from speechgen.data.phones import write_phone_table
from speechgen.data.timit import SPLITS, split_utterances, write_fdnf_dirs
from speechgen.data.timit_split import speaker_split
from speechgen.errors import ConfigError, DataError

RECIPES = ("timit_fdnf", "timit_logmel", "chime_complex")
SPLIT_HELP = ("train/dev/test split, the first that applies of alternatives joined by '|': 'corpus' (the corpus's "
              "own: TIMIT's standard split when its TEST subset is there, CHiME-4's sets), 'speakers:D,T' (D dev "
              "and T test speakers of each gender, the rest train: no speaker in two splits), 'utterances:A,B,C' "
              "(each speaker's utterances split A:B:C: every split has the same speakers)")
ALIGNED_KINDS = "timit, timit-nltk, synth, or wavdir/librispeech/kaldi/lhotse with alignments"


def parse_split(text: str) -> List[Tuple[str, Tuple[float, ...]]]:
    """``"corpus|speakers:2,2"`` -> ``[("corpus", ()), ("speakers", (2.0, 2.0))]``; a ConfigError otherwise."""
    sizes = {"corpus": 0, "speakers": 2, "utterances": 3}
    alternatives = []
    for part in text.split("|"):
        kind, _, numbers = part.strip().partition(":")
        try:
            values = tuple(float(v) for v in numbers.split(",")) if numbers else ()
        except ValueError:
            values = ()
        if kind not in sizes or len(values) != sizes[kind] or any(v < 0 for v in values):
            raise ConfigError(f"--split {text!r}: {part!r} is not one of corpus, speakers:D,T, utterances:A,B,C "
                              "(e.g. --split 'corpus|speakers:2,2' or --split utterances:8,1,1)")
        alternatives.append((kind, values))
    return alternatives


def make_split(text: str, corpus: Corpus, utts: List[Utterance], seed: int) -> Tuple[Dict[str, List[Utterance]], str]:
    """The split ``text`` asks for and a line saying which one was made."""
    for kind, values in parse_split(text):
        if kind == "corpus":
            own = corpus.own_split(utts)
            if own is not None:
                return own, f"the corpus's own split (--corpus {corpus.kind})"
        elif kind == "speakers":
            n_dev, n_test = (int(v) for v in values)
            return speaker_split(utts, n_dev, n_test, seed), f"speakers:{n_dev},{n_test} per gender, seed {seed}"
        else:
            return split_utterances(utts, values, seed), f"utterances:{','.join(f'{v:g}' for v in values)}, seed {seed}"
    raise DataError(f"--split {text!r}: --corpus {corpus.kind} has no split of its own; add an alternative, "
                    "e.g. --split 'corpus|speakers:2,2'")


def check_needs(utts: Sequence[Utterance], args: argparse.Namespace) -> None:
    """Stop when the recipe needs what the corpus lacks: phone alignments (timit_fdnf, timit_logmel) and
    speakers' genders (timit_fdnf picks --n-female + --n-male speakers)."""
    corpus = f"--corpus {args.corpus} --corpus-path {args.corpus_path}"
    unaligned = [u for u in utts if not u.phones]
    if unaligned:
        raise DataError(f"{corpus}: {len(unaligned)} of {len(utts)} utterances have no phone alignment (e.g. "
                        f"{unaligned[0].utt_id}), which {args.recipe} needs; use a corpus with alignments ({ALIGNED_KINDS})")
    unknown = sorted({u.spk for u in utts if not u.gender})
    if args.recipe == "timit_fdnf" and unknown:
        raise DataError(f"{corpus}: the gender of {len(unknown)} speakers (e.g. {unknown[0]}) is unknown, and timit_fdnf "
                        "picks --n-female + --n-male speakers; give it (spk2gender for wavdir and kaldi, SPEAKERS.TXT "
                        "for librispeech)")


def prepare(args: argparse.Namespace) -> Dict[str, Dict[str, int]]:
    """Read, check, split and write; returns the validator's counts per data dir."""
    corpus = open_corpus(args.corpus, args.corpus_path, speaker_pattern=args.speaker_pattern,
                         phone_map=args.phone_map, exclude_sa=args.recipe == "timit_logmel",
                         train_sets=args.chime4_train_sets, dev_sets=args.chime4_dev_sets,
                         test_sets=args.chime4_test_sets, channel=args.chime4_channel)
    utts = corpus.utterances()
    data_dir = Path(args.data_dir)
    if args.recipe != "chime_complex":
        check_needs(utts, args)
    if args.recipe == "timit_fdnf":
        (kind, ratios), = parse_split(args.split)[:1]
        if kind != "utterances":
            raise ConfigError(f"--split {args.split!r}: timit_fdnf classifies speakers, so every split needs the "
                              "same speakers; use --split utterances:A,B,C (e.g. 8,1,1)")
        summary = write_fdnf_dirs(utts, data_dir, args.n_female, args.n_male, ratios, args.seg_dur, args.seed)
        how = f"utterances:{','.join(f'{v:g}' for v in ratios)} of {args.n_female}+{args.n_male} speakers"
    else:
        splits, how = make_split(args.split, corpus, utts, args.seed)
        summary = write_data_dirs({name: splits[name] for name in SPLITS}, data_dir,
                                  check_audio=args.recipe == "timit_logmel")
        if args.recipe == "timit_logmel":
            (data_dir / "lang").mkdir(parents=True, exist_ok=True)
            write_phone_table(data_dir / "lang" / "phones.txt")
    (data_dir / "split.txt").write_text(how + "\n")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-prepare-data",
        description="Write a recipe's Kaldi data dirs DATA_DIR/{train,dev,test} (and lang) from a corpus of any kind.",
        epilog="Corpus kinds:\n" + "\n".join(f"  {k:12s} {c.layout}" for k, c in KINDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dir", metavar="DATA_DIR", help="output folder, e.g. data")
    p.add_argument("--corpus", required=True, help=f"corpus kind: {', '.join(KINDS)} (see below)")
    p.add_argument("--corpus-path", default="", help="the corpus root (for kaldi: the data dir)")
    p.add_argument("--recipe", required=True, choices=RECIPES,
                   help="timit_fdnf and timit_logmel need a phone alignment of every utterance")
    p.add_argument("--split", default="corpus|speakers:2,2", help=SPLIT_HELP + " (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits' shuffles (default 0)")
    p.add_argument("--n-female", type=int, default=20, help="timit_fdnf: female speakers selected (default 20)")
    p.add_argument("--n-male", type=int, default=20, help="timit_fdnf: male speakers selected (default 20)")
    p.add_argument("--seg-dur", type=float, default=0.2, help="timit_fdnf: phone segment length in s (default 0.2)")
    p.add_argument("--speaker-pattern", default="", help="wavdir: regex on the relative path; group 'spk' is the speaker")
    p.add_argument("--phone-map", default="", help="alignments: file of 'label timit61' lines for other labels")
    for name, default in (("train", "tr05_simu"), ("dev", "dt05_simu"), ("test", "et05_simu")):
        p.add_argument(f"--chime4-{name}-sets", default=default, help=f"chime4: {name} sets ({', '.join(KNOWN_SETS)})")
    p.add_argument("--chime4-channel", type=int, default=5, help="chime4: channel of the simulated clean images")
    return p


@command("speechgen-prepare-data")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = prepare(args)
    print(f"{args.data_dir}/split.txt: {(Path(args.data_dir) / 'split.txt').read_text().strip()}")
    for name, counts in summary.items():
        print(f"{args.data_dir}/{name}: {counts['utterances']} utterances, {counts['speakers']} speakers"
              + (f", {counts['segments']} segments" if counts["segments"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
