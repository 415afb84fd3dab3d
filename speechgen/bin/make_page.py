"""speechgen-make-page: EXP_ROOT/index.html, a listening page like the seed paper's demo page.

    speechgen-make-page --exp-root exp --models "PCA M J1 J2 J3 J4 J5 J6 J7" [--examples UTT,UTT]

Per example utterance: one row per model (without / with Griffin-Lim), the oracle-magnitude
references and the true utterance, each with an audio player and a spectrogram; then the score table
of ``EXP_ROOT/results.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.eval.listening_page import write_page


@command("speechgen-make-page")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-make-page",
                                description="Write EXP_ROOT/index.html with audio players, spectrograms and scores.")
    p.add_argument("--exp-root", type=Path, required=True)
    p.add_argument("--models", default="PCA M J1 J2 J3 J4 J5 J6 J7")
    p.add_argument("--examples", default="", help="comma-separated utterances (default: those of the decoding)")
    p.add_argument("--title", default="")
    p.add_argument("--note", action="append", default=[], help="an extra line of the notes (repeatable)")
    args = p.parse_args(argv)
    out = write_page(args.exp_root, args.models.split(), title=args.title, notes=args.note,
                     examples=[u for u in args.examples.split(",") if u] or None)
    print(f"listening page: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
