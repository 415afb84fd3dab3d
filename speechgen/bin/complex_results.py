"""speechgen-complex-results: EXP_ROOT/RESULTS.md (+ results.json) of the complex-spectrogram recipe.

    speechgen-complex-results --exp-root exp --models "PCA M J1 J2 J3 J4 J5 J6 J7" [--title T] [--notes TEXT]

Tables: the scores (mean ± standard error) of ``exp/reference`` and of each model under each
condition, the targets checked on them, and the training summary of each model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from speechgen.bin import command
from speechgen.eval.report import markdown_table, replace_block
from speechgen.eval.speech_scores import (HEADERS, METRICS, condition_label, read_scores, results_rows,
                                          training_rows, write_results)


def _paired(exp_root: Path, model_a: str, cond_a: str, model_b: str, cond_b: str) -> Optional[Tuple[float, float, int]]:
    """Mean ± standard error over utterances of PESQ-WB(model_a, cond_a) - PESQ-WB(model_b, cond_b)."""
    try:
        a = {r["utt"]: float(r["pesq_wb"]) for r in read_scores(exp_root / model_a / "scores.csv")
             if r["condition"] == cond_a}
        b = {r["utt"]: float(r["pesq_wb"]) for r in read_scores(exp_root / model_b / "scores.csv")
             if r["condition"] == cond_b}
    except OSError:
        return None
    diff = np.array([a[u] - b[u] for u in a if u in b])
    if diff.size < 2:
        return None
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size)), int(diff.size)


#: the reproduction targets on PESQ-WB: (text, with GLA, the model judged (None: the best J, estimated phase)
#: and its condition, the baseline model (None: the judged model itself) and its condition, the margin the
#: paired difference must pass: a number, or "2se")
TARGETS = (
    ("M + GLA vs PCA + GLA: the magnitude model beats the linear code of its size (> 2 standard errors)", True,
     "M", "estMag_rdmPha", "PCA", "estMag_rdmPha", "2se"),
    ("best J, estimated phase vs M, random phase (>= +0.5)", False, None, "estMag_estPha", "M", "estMag_rdmPha",
     0.5),
    ("best J, estimated phase vs PGHI phase of its estimated magnitude (>= 0)", False, None, "estMag_estPha", None,
     "estMag_PGHI", 0.0),
    ("best J + GLA vs M + GLA (> 2 standard errors)", True, None, "estMag_estPha", "M", "estMag_rdmPha", "2se"),
    ("best J + GLA vs PGHI + GLA on its estimated magnitude (> 2 standard errors)", True, None, "estMag_estPha",
     None, "estMag_PGHI", "2se"),
)


def target_section(exp_root: Path, summaries: Dict[str, dict], models: List[str]) -> List[str]:
    """The reproduction targets (``TARGETS``): M against the PCA baseline, the best J against M and against the
    model-free PGHI phase of the same estimated magnitude, as paired differences over the test utterances."""
    def condition(model: str, prefix: str, gla: bool) -> Optional[str]:
        for name in summaries.get(model, {}):
            if name.startswith(prefix) and ("_GLA" in name) == gla:
                return name
        return None

    def pesq(model: str, prefix: str, gla: bool) -> Optional[float]:
        name = condition(model, prefix, gla)
        return summaries[model][name]["pesq_wb"][0] if name else None

    rows = []
    for text, gla, model, prefix, base_model, base_prefix, need in TARGETS:
        candidates = [model] if model else [m for m in models if m.startswith("J")]
        candidates = [m for m in candidates if m in models and pesq(m, prefix, gla) is not None]
        if not candidates:
            continue
        best = max(candidates, key=lambda m: pesq(m, prefix, gla))
        other = base_model or best
        value, b_value = pesq(best, prefix, gla), pesq(other, base_prefix, gla) if other in models else None
        if b_value is None:
            continue
        paired = _paired(exp_root, best, condition(best, prefix, gla), other, condition(other, base_prefix, gla))
        diff = f"{paired[0]:+.3f} ± {paired[1]:.3f}" if paired else f"{value - b_value:+.3f}"
        met = (paired is not None and paired[0] > 2 * paired[1]) if need == "2se" else value - b_value >= need
        rows.append([text, f"{best} {condition_label(condition(best, prefix, gla))}: {value:.3f}",
                     f"{other} {condition_label(condition(other, base_prefix, gla))}: {b_value:.3f}", diff,
                     "met" if met else "not met"])
    if not rows:
        return []
    return ["## Targets (PESQ-WB)", "",
            "The difference is paired: mean ± standard error over the test utterances of the model minus the "
            "baseline. PCA is the linear code of M's size (no training); PGHI is the model-free phase of the same "
            "estimated magnitude.", "",
            markdown_table(["target", "model", "baseline", "model - baseline", ""], rows), ""]


@command("speechgen-complex-results")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-complex-results",
                                description="Write EXP_ROOT/RESULTS.md and results.json from the scores.csv of "
                                            "EXP_ROOT/reference and EXP_ROOT/<model>.")
    p.add_argument("--exp-root", type=Path, required=True)
    p.add_argument("--models", default="PCA M J1 J2 J3 J4 J5 J6 J7")
    p.add_argument("--title", default="chime_complex results")
    p.add_argument("--notes", default="")
    p.add_argument("--readme", type=Path, default=None,
                   help="also write the score table and the targets into this file, between its lines "
                        "'<!-- results: BLOCK -->' and '<!-- /results: BLOCK -->'")
    p.add_argument("--block", default="chime_complex", help="the name of that block in --readme")
    args = p.parse_args(argv)
    models = args.models.split()
    summaries = write_results(args.exp_root, models, title=args.title, notes=args.notes)
    training = training_rows(args.exp_root, models)
    extra = target_section(args.exp_root, summaries, models)
    if training:
        extra += ["## Training", "", "Validation NLLs in nats per bin (log(2 pi) = 1.838 is a uniform phase "
                  "guess); time is the sum of the epoch times.", "",
                  markdown_table(["model", "exp dir", "phase terms", "params", "epochs", "best epoch",
                                  "valid mag NLL", "valid phase NLL", "valid GD NLL", "valid IF NLL",
                                  "train s"], training), ""]
    write_results(args.exp_root, models, title=args.title, notes=args.notes, extra_sections=extra)
    print(f"{args.exp_root}/RESULTS.md: {len(summaries)} scored dirs")
    if args.readme:
        table = markdown_table(["model", "condition", *[HEADERS[m] for m in METRICS], "n"], results_rows(summaries))
        replace_block(args.readme, args.block, "\n".join([table, "", *target_section(args.exp_root, summaries,
                                                                                       models)[4:]]))
        print(f"wrote the block '{args.block}' of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
