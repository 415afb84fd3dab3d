"""Stage: t-SNE figure of latent codes, coloured by phone (top row) and speaker (bottom row)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.errors import SpeechgenError
from speechgen.eval.tsne import load_codes, plot_tsne_grid


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-plot-tsne",
        description="t-SNE grid of latent codes: one column per NAME=ENCODE_DIR (dirs written by "
                    "speechgen-encode on the same set), rows coloured by phone and by speaker.")
    p.add_argument("codes", nargs="+", metavar="NAME=ENCODE_DIR[:PART]",
                   help="PART (phone or spk) keeps that factor's dims of a factorial code")
    p.add_argument("--out", type=Path, required=True, help="output PNG")
    p.add_argument("--max-points", type=int, default=2000, help="segments plotted (a seeded subsample)")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        sets = []
        for item in args.codes:
            name, sep, path = item.partition("=")
            if not sep:
                name, path = Path(item).parent.name, item
            path, _, part = path.partition(":")
            sets.append(load_codes(name, path, part or None))
        plot_tsne_grid(sets, args.out, max_points=args.max_points, seed=args.seed, perplexity=args.perplexity)
    except SpeechgenError as err:
        print(f"speechgen-plot-tsne: error: {err}", file=sys.stderr)
        return 1
    print(f"t-SNE of {', '.join(s.name for s in sets)} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
