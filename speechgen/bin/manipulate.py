"""Stage: mean-shift manipulation of phone and speaker in a model's latent space, scored by MLP posteriors."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from speechgen.data.dataset import SegmentDataset, read_symbol_table
from speechgen.errors import DataError, SpeechgenError
from speechgen.eval.manipulation import FACTORS, manipulate_and_score
from speechgen.train.load import load_experiment


def load_set(feats_dir: Path, cmvn, lang_dir: Path):
    data = SegmentDataset(feats_dir, cmvn, lang_dir)
    missing = [f for f in FACTORS if f not in data.labels]
    if missing:
        raise DataError(f"{feats_dir}: no {', '.join('seg2' + m for m in missing)}; the manipulation needs "
                        "phone and speaker labels")
    return data, torch.from_numpy(data.feats), {f: torch.from_numpy(data.labels[f]) for f in FACTORS}


def run(args: argparse.Namespace) -> dict:
    model, info = load_experiment(args.exp_dir, args.checkpoint)
    lang_dir = Path(info["lang_dir"])
    n_classes = {"phone": len(read_symbol_table(lang_dir / "phones.txt")),
                 "spk": len(read_symbol_table(lang_dir / "speakers.txt"))}
    classifiers = {}
    for factor, clf_dir in (("phone", args.phone_classifier), ("spk", args.spk_classifier)):
        clf, _ = load_experiment(clf_dir, "best.pt")
        if getattr(clf, "label", None) != factor:
            raise DataError(f"{clf_dir}: not a {factor} classifier (label={getattr(clf, 'label', None)})")
        classifiers[factor] = clf
    torch.manual_seed(args.seed)
    _, train_x, train_y = load_set(args.train_dir, info["cmvn"], lang_dir)
    test_set, test_x, test_y = load_set(args.test_dir, info["cmvn"], lang_dir)
    results = {"model": info["config"]["model"], "exp_dir": str(args.exp_dir), "per_segment": args.per_segment,
               "seed": args.seed}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for factor in FACTORS:
        result, details = manipulate_and_score(model, classifiers, train_x, train_y, test_x, test_y, n_classes,
                                               factor, args.per_segment, args.seed)
        results[factor] = result.to_dict()
        torch.save({"keys": [test_set.keys[i] for i in details["rows"]], "targets": details["targets"],
                    "x_new": details["x_new"][: args.keep_examples]}, args.out_dir / f"{factor}_examples.pt")
    tmp = args.out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(args.out_dir / "results.json")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-manipulate",
        description="Move the phone, then the speaker, of each test segment to other classes by a mean shift "
                    "in the latent space of EXP_DIR's model, and score p(target|x), p(target|x') and the "
                    "other factor's posterior with two MLP classifiers. Writes OUT_DIR/results.json.")
    p.add_argument("--exp-dir", type=Path, required=True, help="trained model with encode/decode")
    p.add_argument("--train-dir", type=Path, required=True, help="features whose codes give the class means")
    p.add_argument("--test-dir", type=Path, required=True, help="features of the segments manipulated")
    p.add_argument("--phone-classifier", type=Path, required=True, help="exp dir of the phone MLP")
    p.add_argument("--spk-classifier", type=Path, required=True, help="exp dir of the speaker MLP")
    p.add_argument("--out-dir", type=Path, default=None, help="default EXP_DIR/manipulation")
    p.add_argument("--per-segment", type=int, default=2, help="target classes drawn per test segment")
    p.add_argument("--keep-examples", type=int, default=64, help="manipulated segments saved for figures/audio")
    p.add_argument("--checkpoint", default="best.pt")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out_dir = args.out_dir or args.exp_dir / "manipulation"
    try:
        results = run(args)
    except SpeechgenError as err:
        print(f"speechgen-manipulate: error: {err}", file=sys.stderr)
        return 1
    for factor in FACTORS:
        r = results[factor]
        print(f"{results['model']} {factor} manipulation ({r['pairs']} pairs): "
              f"p(target|x) {r['moved_before'][0]:.3f} -> {r['moved_after'][0]:.3f}, "
              f"other factor {r['other_before'][0]:.3f} -> {r['other_after'][0]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
