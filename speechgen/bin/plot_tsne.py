"""Stage: t-SNE figure of latent codes, coloured by phone (top row) and speaker (bottom row), and the
codes' class structure as numbers (k-NN accuracy, t-SNE silhouette) in ENCODE_DIR/structure_*.json."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.eval.latent import write_latent_structure
from speechgen.eval.tsne import load_codes, plot_tsne_grid


@command("speechgen-plot-tsne")
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
    p.add_argument("--seed", type=int, default=0, help="seed of the subsample, the t-SNE and the k-NN folds")
    p.add_argument("--named-classes", type=int, default=10, metavar="N",
                   help="classes of each factor drawn in colour, the most frequent, with a legend; the others "
                        "grey (0: every class its own colour)")
    p.add_argument("--knn-k", type=int, default=10, help="neighbours of the k-NN accuracy of each factor")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the k-NN accuracy")
    args = p.parse_args(argv)
    sets = []
    for item in args.codes:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).parent.name, item
        path, _, part = path.partition(":")
        sets.append(load_codes(name, path, part or None))
    embeddings = plot_tsne_grid(sets, args.out, max_points=args.max_points, seed=args.seed,
                                perplexity=args.perplexity, n_named=args.named_classes)
    structure = write_latent_structure(sets, embeddings, args.max_points, args.seed, args.knn_k, args.folds)
    print(f"t-SNE of {', '.join(s.name for s in sets)} -> {args.out}")
    for name, stats in structure.items():
        shown = ", ".join(f"{key} {stats[key]:.3f}" for key in stats if key.startswith(("knn_", "silhouette_")))
        print(f"  {name}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
