"""Pack a trained model into one file that ``speechgen.load_model`` reads anywhere.

``speechgen-pack EXP_DIR OUT.tar.gz`` writes ``model/`` with the config, the chosen checkpoint, the
normalisation, the feature settings, the label tables and ``manifest.yaml`` (speechgen version, the
model, what it was trained on, its training summary and its rows of the recipe's RESULTS.md). Nothing of the recipe's folders is needed to
load it. ``speechgen-pack EXP_DIR... --out-dir DIR`` packs several models in one process, each to
``DIR/<name>.tar.gz`` (the exp dir's name without ``train_``).
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import sys
import tarfile
from pathlib import Path

import yaml

import speechgen
from speechgen.bin import command
from speechgen.errors import DataError, SpeechgenError
from speechgen.eval.conversion import ensure_class_means
from speechgen.eval.report import exp_model_name
from speechgen.yaml_io import load_yaml

#: the files of an exp dir that a packed model carries (when present), besides the checkpoint
PACKED_FILES = ("config.yaml", "data.yaml", "cmvn.npz", "spec.yaml", "logmel.yaml", "stft.yaml", "summary.json",
                "class_means.npz")


def manifest(exp_dir: Path, checkpoint: str) -> dict:
    """What a packed model says about itself."""
    data = load_yaml((exp_dir / "data.yaml").read_text())
    summary = load_yaml((exp_dir / "summary.json").read_text()) if (exp_dir / "summary.json").is_file() else {}
    return {"speechgen_version": speechgen.__version__,
            "packed": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": load_yaml((exp_dir / "config.yaml").read_text()).get("model"),
            "checkpoint": checkpoint, "exp_dir": str(exp_dir.resolve()),
            "trained_on": {key: data.get(key) for key in ("train_dir", "valid_dir", "lang_dir")},
            "training": {key: summary.get(key) for key in ("epochs", "best_epoch", "best_loss", "parameters")
                         if key in summary},
            "results": results_rows(exp_dir)}


def results_rows(exp_dir: Path) -> list:
    """The rows of the recipe's RESULTS.md (beside the exp dir) that name this exp dir, as they stand."""
    results = exp_dir.parent / "RESULTS.md"
    if not results.is_file():
        return []
    short = exp_model_name(exp_dir)  # the latent-structure rows name the model without train_
    names = (f"`{exp_dir.name}`", f"| {exp_dir.name} |", f"| {short} |", f"| {short} z_")
    return [line for line in results.read_text().splitlines() if line.startswith("|") and any(n in line for n in names)]


def pack(exp_dir: Path, out: Path, checkpoint: str = "best.pt") -> Path:
    """Write ``out`` (.tar.gz) from ``exp_dir``; the model loads from it with ``speechgen.load_model``."""
    for name in ("config.yaml", "data.yaml", "cmvn.npz", checkpoint):
        if not (exp_dir / name).is_file():
            raise DataError(f"{exp_dir / name}: missing; pack a trained exp dir (or pick another --checkpoint)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in (*PACKED_FILES, checkpoint):
            if (exp_dir / name).is_file():
                tar.add(exp_dir / name, arcname=f"model/{name}")
        if (exp_dir / "lang").is_dir():
            tar.add(exp_dir / "lang", arcname="model/lang")
        text = yaml.safe_dump(manifest(exp_dir, checkpoint), sort_keys=False, allow_unicode=True, width=1000).encode()
        info = tarfile.TarInfo("model/manifest.yaml")
        info.size, info.mtime = len(text), int(datetime.datetime.now().timestamp())
        tar.addfile(info, io.BytesIO(text))
    os.replace(tmp, out)
    return out


def pack_name(exp_dir: Path) -> str:
    """The packed file's name for an exp dir: ``exp/train_fdnf`` -> ``fdnf.tar.gz``."""
    return exp_model_name(exp_dir.resolve()) + ".tar.gz"


def pack_one(exp_dir: Path, out: Path, checkpoint: str) -> None:
    """Pack one exp dir, first computing the class means that speechgen-convert needs of a segment model."""
    config = exp_dir / "config.yaml"
    if config.is_file() and load_yaml(config.read_text()).get("data", "segments") == "segments":
        try:  # what speechgen-convert needs of a segment model
            ensure_class_means(exp_dir)
        except SpeechgenError as err:
            print(f"packing without the class means of the codes: {err}", file=sys.stderr)
    out = pack(exp_dir, out, checkpoint)
    print(f"packed {exp_dir} -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


@command("speechgen-pack")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-pack",
        usage="speechgen-pack EXP_DIR OUT [--checkpoint NAME]\n       speechgen-pack EXP_DIR... --out-dir DIR "
              "[--checkpoint NAME]",
        description="Pack a trained model (weights, config, normalisation, feature settings, label tables and a "
                    "manifest) into OUT (.tar.gz), loadable anywhere with speechgen.load_model(OUT); with --out-dir, "
                    "pack each EXP_DIR into DIR/<name>.tar.gz (the dir's name without train_).")
    p.add_argument("paths", nargs="+", type=Path, metavar="EXP_DIR",
                   help="the model's exp dir (written by speechgen-train), then OUT, the packed file (e.g. "
                        "fdnf.tar.gz); with --out-dir, exp dirs only")
    p.add_argument("--out-dir", type=Path, help="pack every EXP_DIR into this folder, as <name>.tar.gz")
    p.add_argument("--checkpoint", default="best.pt", help="the weights packed (a file of each EXP_DIR)")
    args = p.parse_args(argv)
    if args.out_dir is not None:
        jobs = [(d, args.out_dir / pack_name(d)) for d in args.paths]
    elif len(args.paths) == 2:
        jobs = [tuple(args.paths)]
    else:
        p.error("give EXP_DIR OUT, or EXP_DIR... --out-dir DIR")
    for exp_dir, out in jobs:
        pack_one(exp_dir, out, args.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
