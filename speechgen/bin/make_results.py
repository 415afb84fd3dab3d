"""Stage: write EXP_ROOT/RESULTS.md from what the recipe has produced so far."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.eval.report import replace_block, summary_tables, write_results


@command("speechgen-make-results")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-make-results",
                                description="Collect data sizes, losses and figures of every experiment "
                                            "dir under EXP_ROOT into EXP_ROOT/RESULTS.md.")
    p.add_argument("--exp-root", type=Path, default=Path("exp"))
    p.add_argument("--dump-dir", type=Path, default=Path("dump"))
    p.add_argument("--title", default="Results")
    p.add_argument("--order", default="", help="model names (exp dirs train_<name>) in table order")
    p.add_argument("--notes", default="", help="a paragraph placed under the title (corpus, options)")
    p.add_argument("--eval-set", default="test", choices=("test", "dev"),
                   help="tables of the test set (EXP_ROOT/RESULTS.md) or of the dev set (RESULTS_dev.md)")
    p.add_argument("--readme", type=Path, default=None,
                   help="instead of RESULTS.md, write the latent-structure and manipulation tables of the "
                        "--order models in short form into this file, between its lines "
                        "'<!-- results: BLOCK -->' and '<!-- /results: BLOCK -->'")
    p.add_argument("--block", default="results", help="the name of that block in --readme")
    args = p.parse_args(argv)
    if args.readme:
        replace_block(args.readme, args.block, summary_tables(args.exp_root, args.order.split(), args.eval_set))
        print(f"wrote the block '{args.block}' of {args.readme}")
        return 0
    out = write_results(args.exp_root, args.dump_dir, title=args.title, notes=args.notes,
                        order=args.order.split(), eval_set=args.eval_set)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
