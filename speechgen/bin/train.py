"""Stage: train a registered model on a feature dir; resumable with --resume.

The one training command of every recipe. What it reads is the config's ``data`` kind
(:mod:`speechgen.train.data_kinds`): fixed segments (timit_fdnf), windows of log-mel frames with
per-epoch figures (timit_logmel) or crops of complex STFTs (chime_complex). A model's own set-up
(feature statistics, weights taken from another experiment with --init-from) is its
``setup_training`` hook.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from speechgen.bin import command
from speechgen.data.tables import Cmvn, lang_class_counts
from speechgen.train.config import build_data_kind, build_model, load_config, set_class_counts
from speechgen.train.distributed import is_main_process
from speechgen.train.files import load_checkpoint
from speechgen.train.trainer import Trainer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-train",
        description="Train the model a YAML config names on a feature dir, read as the config's data kind "
                    "(data: segments | frame_windows | complex_crops, options in data_conf); writes "
                    "config.yaml, data.yaml, checkpoints, train.log, loss.csv/png (and per-epoch figures for "
                    "frame windows) into EXP_DIR.")
    p.add_argument("--config", type=Path, required=True, help="YAML config (model, model_conf, optim, trainer, data)")
    p.add_argument("--train-dir", type=Path, required=True,
                   help="feature dir with feats.scp (+ seg2phone/seg2spk, ali.scp or stft.yaml by data kind)")
    p.add_argument("--valid-dir", type=Path, default=None, help="validation feature dir")
    p.add_argument("--cmvn", type=Path, default=None, help="cmvn.npz from the training set (default TRAIN_DIR/cmvn.npz)")
    p.add_argument("--lang-dir", type=Path, default=None,
                   help="dir with phones.txt / speakers.txt: the labels, and the model's numbers of classes")
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--figure-dir", type=Path, default=None,
                   help="frame windows: feature dir whose first utterances give the per-epoch figures")
    p.add_argument("--init-from", type=Path, default=None,
                   help="experiment dir whose weights start a fresh run, as far as the model takes them "
                        "(complex_vae: encoder and magnitude decoder of a model M)")
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoint.pt when it exists")
    add_override_argument(p)
    return p


def add_override_argument(p: argparse.ArgumentParser) -> None:
    """``--override KEY=VALUE ...``; given several times, the lists add up (the recipes add the device)."""
    p.add_argument("--override", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. trainer.max_epochs=5 model_conf.latent_dim=64 trainer.device=cuda "
                        "trainer.amp=bf16 trainer.num_workers=2 trainer.feats_loading=lazy "
                        "data_conf.windows_per_epoch=20000. Several processes: "
                        "run this script under torchrun --nproc_per_node N (trainer.batch_size is the global batch)")


def write_data_info(exp_dir: Path, args: argparse.Namespace, cmvn_path: Path, settings_file: str, **extra) -> None:
    """Record what the model was trained on (and ``extra`` keys) and copy what turns audio into its input
    into EXP_DIR: the normalisation (cmvn.npz), the feature settings (``settings_file`` of the training
    features) and the label tables (lang/), so later stages and users need only EXP_DIR. With several
    processes only rank 0 writes."""
    if not is_main_process():
        return
    exp_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cmvn_path, exp_dir / "cmvn.npz")
    settings = args.train_dir / settings_file if settings_file else None
    if settings is not None and settings.is_file():
        shutil.copyfile(settings, exp_dir / settings_file)
    if args.lang_dir:
        shutil.copytree(args.lang_dir, exp_dir / "lang", dirs_exist_ok=True)
    info = {"train_dir": str(args.train_dir.resolve()),
            "valid_dir": str(args.valid_dir.resolve()) if args.valid_dir else None,
            "lang_dir": str(args.lang_dir.resolve()) if args.lang_dir else None,
            "cmvn": "cmvn.npz",
            "features": settings_file if settings is not None and settings.is_file() else None,
            "lang": "lang" if args.lang_dir else None, **extra}
    (exp_dir / "data.yaml").write_text(yaml.safe_dump(info, sort_keys=False))


def init_state(args: argparse.Namespace, fresh: bool):
    """The weights of ``--init-from`` for a fresh run (a resumed one keeps its own), else None."""
    if args.init_from is None or not fresh:
        return None
    return load_checkpoint(args.init_from / "best.pt")


@command("speechgen-train")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    exp = load_config(args.config, args.override)
    if args.lang_dir:
        set_class_counts(exp, lang_class_counts(args.lang_dir), str(args.lang_dir))
    cmvn_path = args.cmvn or args.train_dir / "cmvn.npz"
    cmvn = Cmvn.load(cmvn_path)
    kind = build_data_kind(exp)
    model = build_model(exp)
    train_set, valid_set = kind.datasets(args.train_dir, args.valid_dir, cmvn, args.lang_dir, model,
                                         exp.trainer.feats_loading, exp.trainer.seed)
    kind.check(model, train_set, args.train_dir)
    fresh = not (args.exp_dir / "checkpoint.pt").exists()
    model.setup_training(cmvn, fresh, init_state(args, fresh), str(args.init_from))
    write_data_info(args.exp_dir, args, cmvn_path, kind.settings_file, **kind.data_info(model, args.train_dir),
                    init_from=str(args.init_from.resolve()) if args.init_from else None)
    hooks = kind.epoch_hooks(model, cmvn, args.figure_dir, args.lang_dir, args.train_dir, exp.trainer.seed)
    Trainer(exp, model, train_set, valid_set, args.exp_dir, epoch_hooks=hooks).fit(resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
