"""Stage: EXP_ROOT/RESULTS.md of the log-mel recipe: data sizes, and one score row per model.

Reads ``summary.json`` (training) and ``eval/scores.json`` (speechgen-eval-logmel) of every
experiment dir under EXP_ROOT, plus the phone classifier's reference scores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import kaldiio
import numpy as np

from speechgen.bin import command
from speechgen.data.frames import phone_run_centres
from speechgen.eval.report import exp_model_name, markdown_table, replace_block
from speechgen.yaml_io import load_yaml

SETS = ("train", "dev", "test")


def _read_json(path: Path) -> Dict:
    return json.loads(path.read_text()) if path.is_file() else {}


DATA_HEADER = ["set", "utterances", "speakers", "frames (= every_frame windows)", "phone_centres windows"]


def data_rows(dump_dir: Path) -> List[List[object]]:
    """Utterances, speakers, frames and non-silence phone runs of each feature dir: the windows each
    ``--windows`` mode makes."""
    rows = []
    for name in SETS:
        d = dump_dir / name
        if not (d / "ali.scp").is_file():
            continue
        labels = [ali for _, ali in kaldiio.load_scp_sequential(str(d / "ali.scp"))]
        runs = sum(len(phone_run_centres(ali, np.zeros(len(ali), dtype=np.int64))) for ali in labels)
        utt2spk = (d / "utt2spk").read_text().split("\n") if (d / "utt2spk").is_file() else []
        speakers = len({line.split()[1] for line in utt2spk if line.strip()}) or None
        rows.append([name, len([line for line in utt2spk if line.strip()]) or None, speakers,
                     sum(len(ali) for ali in labels), runs])
    return rows


def _link(path: Path, rel_to: Path, text: str) -> Optional[str]:
    return f"[{text}]({os.path.relpath(path, rel_to)})" if path.is_file() else None


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _latent_dim(exp_dir: Path) -> Optional[int]:
    """model_conf.latent_dim of the experiment's config.yaml, if it has one."""
    path = exp_dir / "config.yaml"
    conf = (load_yaml(path.read_text()) or {}) if path.is_file() else {}
    return (conf.get("model_conf") or {}).get("latent_dim")


def _baselines(exp_root: Path) -> Dict[str, Dict]:
    """The model-free baselines' scores ({name: scores}) that the classifier's evaluation wrote."""
    for p in sorted(exp_root.glob("*/eval/scores.json")):
        s = _read_json(p)
        if s.get("kind") == "classifier" and s.get("baselines"):
            return s["baselines"]
    return {}


def _marked(value, baseline, digits: int = 3) -> str:
    """``value`` formatted, with ° when the baseline's is lower (better)."""
    cell = _fmt(value, digits)
    return cell + " °" if value is not None and baseline is not None and baseline < value else cell


def _score_cells(s: Dict, base: Dict) -> List[str]:
    """recon MSE, recon acc, FD, FD cond, cond acc, phone JS of scores ``s``; ° where PCA ``base`` is better."""
    uncond = "n/a (unconditional)"
    return [_marked(s.get("recon_mse"), base.get("recon_mse")), _fmt(s.get("recon_acc")),
            _marked(s.get("fd"), base.get("fd"), 2), _fmt(s.get("fd_cond"), 2) if s.get("conditional") else uncond,
            _fmt(s.get("cond_acc")) if s.get("conditional") else uncond, _fmt(s.get("phone_js"))]


def model_rows(exp_root: Path, rel_to: Path, order: Sequence[str]) -> List[List[object]]:
    """One row per experiment dir with eval/scores.json of a generative model, in ``order`` first, then
    one per model-free baseline. A model's MSE or FD is marked ° where the PCA baseline with its code
    size (32 components where there is no PCA of that size) does better."""
    found = {p.parent.parent: _read_json(p) for p in exp_root.glob("*/eval/scores.json")}
    found = {d: s for d, s in found.items() if s.get("kind") == "generative"}
    baselines = _baselines(exp_root)
    rank = {name: i for i, name in enumerate(order)}
    rows = []
    for d in sorted(found, key=lambda d: (rank.get(exp_model_name(d), len(rank)), d.name)):
        s, summary = found[d], _read_json(d / "summary.json")
        figures = [_link(d / "loss.png", rel_to, "loss"), _link(d / "figures" / "epochs.gif", rel_to, "epochs gif"),
                   _link(d / "figures" / "samples.png", rel_to, "samples"),
                   _link(d / "figures" / "tsne.png", rel_to, "t-SNE")]
        base = baselines.get(f"pca{_latent_dim(d)}", baselines.get("pca32", {}))
        name = exp_model_name(d)
        rows.append([f"{name} ({s.get('model')})", f"`{os.path.relpath(d, rel_to)}`", summary.get("parameters"),
                     f"{summary.get('epochs')}/{summary.get('max_epochs')}", *_score_cells(s, base),
                     " ".join(f for f in figures if f)])
    for name, s in baselines.items():
        rows.append([f"{name} (no model: PCA, {s.get('explained', 0):.0%} of the variance)", "(stage 2)",
                     s.get("parameters"), "fitted", *_score_cells(s, {}), ""])
    return rows


def reference_rows(exp_root: Path, rel_to: Path) -> List[List[object]]:
    rows = []
    for p in sorted(exp_root.glob("*/eval/scores.json")):
        s = _read_json(p)
        if s.get("kind") != "classifier":
            continue
        where = f"`{os.path.relpath(p.parent.parent, rel_to)}`"
        rows += [[f"phone classifier {where}: accuracy on all real test windows", _fmt(s["test_acc"])],
                 ["Fréchet distance of real *training* windows (a floor)", _fmt(s["fd_train_windows"], 2)],
                 ["Fréchet distance of N(0, I) noise in the normalised feature space (a ceiling)",
                  _fmt(s["fd_noise"], 2)]]
    return rows


def write_results(exp_root: Path, dump_dir: Path, title: str, notes: str, order: Sequence[str]) -> Path:
    out = exp_root / "RESULTS.md"
    parts = [f"# {title}", ""]
    if notes:
        parts += [notes, ""]
    data = data_rows(dump_dir)
    if data:
        parts += ["## Data", "", markdown_table(DATA_HEADER, data), ""]
    parts += ["## Scores on the test set", "",
              "`recon MSE`: mean squared error of reconstructed test windows (normalised features, all test "
              "windows). The other columns use one phone classifier (MLP on real training windows): `recon acc` "
              "its accuracy on reconstructed test windows; `FD` the Fréchet distance between its penultimate-layer "
              "features of real test windows and of as many unconditional samples, the same protocol for every "
              "model (prior draws; for a phone-conditional model, phones drawn from the training windows' phone "
              "frequencies); conditional models only (an unconditional model has no class to generate): `FD "
              "cond` the same distance for samples drawn with the real windows' phones, `cond acc` the "
              "classifier's accuracy on class-conditional samples; `phone JS` the Jensen-Shannon divergence (nats, max 0.693) between its phone histograms "
              "of samples and of real test windows (phone coverage of unconditional samples). Lower is better "
              "for MSE, FD, JS; higher for accuracies. n/a: not defined for the model. The `pca<D>` rows are the "
              "model-free baseline: the top D principal components of the training windows (reconstruction by "
              "projection; samples decoded from a Gaussian code with the components' variances, like a VAE's "
              "decoder means); a model's MSE or FD is marked ° where the PCA with its code size (else 32) does "
              "better.", ""]
    rows = model_rows(exp_root, out.parent, order)
    if rows:
        parts += [markdown_table(["model (class)", "exp dir", "params", "epochs", "recon MSE", "recon acc", "FD",
                                  "FD cond", "cond acc", "phone JS", "figures"], rows), ""]
    else:
        parts += ["No evaluated model yet.", ""]
    refs = reference_rows(exp_root, out.parent)
    if refs:
        parts += ["### References", "", markdown_table(["reference", "value"], refs), ""]
    tmp = out.with_name("RESULTS.md.tmp")
    tmp.write_text("\n".join(parts))
    os.replace(tmp, out)
    return out


def readme_tables(exp_root: Path, dump_dir: Path, order: Sequence[str]) -> str:
    """The data sizes, the score table (without the exp dirs and figures) and the references, for a README."""
    parts = []
    data = data_rows(dump_dir)
    if data:
        parts += [markdown_table(DATA_HEADER, data), ""]
    rows = [[r[0], *r[2:10]] for r in model_rows(exp_root, exp_root, order)]
    parts += [markdown_table(["model (class)", "params", "epochs", "recon MSE ↓", "recon acc ↑", "FD ↓", "FD cond ↓",
                              "cond acc ↑", "phone JS ↓"], rows), ""]
    refs = reference_rows(exp_root, exp_root)
    if refs:
        parts += [markdown_table(["reference", "value"], refs)]
    return "\n".join(parts)


@command("speechgen-make-logmel-results")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-make-logmel-results",
                                description="Collect the data sizes and the eval scores of every experiment dir "
                                            "under EXP_ROOT into EXP_ROOT/RESULTS.md.")
    p.add_argument("--exp-root", type=Path, default=Path("exp"))
    p.add_argument("--dump-dir", type=Path, default=Path("dump"))
    p.add_argument("--title", default="Results")
    p.add_argument("--order", default="", help="model names (exp dirs train_<name>) in table order")
    p.add_argument("--notes", default="", help="a paragraph under the title (corpus, split, wall time)")
    p.add_argument("--readme", type=Path, default=None,
                   help="also write the tables between the lines '<!-- results: BLOCK -->' and "
                        "'<!-- /results: BLOCK -->' of this file (e.g. the recipe's README)")
    p.add_argument("--block", default="timit_logmel", help="the name of that block in --readme")
    args = p.parse_args(argv)
    out = write_results(args.exp_root, args.dump_dir, args.title, args.notes, args.order.split())
    print(f"wrote {out}")
    if args.readme:
        replace_block(args.readme, args.block, readme_tables(args.exp_root, args.dump_dir, args.order.split()))
        print(f"wrote the block '{args.block}' of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
