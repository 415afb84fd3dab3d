"""speechgen-make-synth: generate the embedded synthetic corpus (TIMIT layout) with eSpeak NG."""
from __future__ import annotations

import argparse
import sys
import time

from speechgen.bin import command
from speechgen.data.synth import generate_corpus


def build_parser() -> argparse.ArgumentParser:
    """The command line of speechgen-make-synth."""
    parser = argparse.ArgumentParser(
        prog="speechgen-make-synth",
        description=(
            "Generate a synthetic, phone-aligned, multi-speaker English corpus in the TIMIT layout "
            "(<root>/TRAIN/DR<k>/<F|M>SYN<j>/SX<n>.WAV|.PHN|.WRD|.TXT, 16 kHz 16-bit mono, TIMIT-61 "
            "phone labels) with eSpeak NG, as a stand-in for the licensed TIMIT corpus. The same options "
            "always give byte-identical files; an existing corpus made with the same options is kept."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("root", help="corpus directory to create (e.g. data/local/synth_timit)")
    parser.add_argument("--n-female", type=int, default=20, help="number of female speakers")
    parser.add_argument("--n-male", type=int, default=20, help="number of male speakers")
    parser.add_argument("--n-sentences", type=int, default=12, help="sentences read by each speaker (1-60)")
    parser.add_argument("--seed", type=int, default=0, help="seed for voice parameters and sentence choice")
    parser.add_argument("--nj", type=int, default=2,
                        help="parallel worker processes (the output does not depend on it)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace ROOT if it holds something other than a corpus made with these options")
    return parser


@command("speechgen-make-synth")
def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and generate the corpus."""
    args = build_parser().parse_args(argv)
    began = time.monotonic()
    root = generate_corpus(args.root, n_female=args.n_female, n_male=args.n_male,
                           n_sentences=args.n_sentences, seed=args.seed, nj=args.nj, overwrite=args.overwrite)
    print(f"speechgen-make-synth: corpus ready in {root} ({time.monotonic() - began:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
