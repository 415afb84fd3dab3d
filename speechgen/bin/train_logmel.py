"""Stage: train a registered model on windows of log-mel frames; per-epoch figures; resumable with --resume.

Like ``speechgen-train``, with a :class:`~speechgen.data.frames.FrameWindowDataset` (windows of
``model_conf.n_frames`` frames around every centre frame, labelled by the centre frame's phone)
instead of fixed segments, and an epoch hook that draws the model on fixed test windows into
``EXP_DIR/figures/epoch<N>.png`` and ``EXP_DIR/figures/epochs.gif``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from speechgen.bin import command
from speechgen.bin.train import add_override_argument, check_shapes, write_data_info
from speechgen.data.dataset import Cmvn, read_symbol_table
from speechgen.data.frames import LOGMEL_PHONES, FrameWindowDataset
from speechgen.errors import ConfigError
from speechgen.eval.animation import EpochFigureHook
from speechgen.train.config import build_model, load_config
from speechgen.train.trainer import Trainer
from speechgen.yaml_io import load_yaml


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-train-logmel",
        description="Train the model a YAML config names on windows of frames of a log-mel feature dir "
                    "(feats.scp + ali.scp); writes config.yaml, checkpoints, train.log, loss.csv/png and "
                    "figures/epoch<N>.png + figures/epochs.gif into EXP_DIR.")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--train-dir", type=Path, required=True, help="feature dir (feats.scp, ali.scp)")
    p.add_argument("--valid-dir", type=Path, default=None, help="validation feature dir")
    p.add_argument("--figure-dir", type=Path, default=None,
                   help="feature dir whose first utterance gives the fixed windows of the per-epoch figures")
    p.add_argument("--cmvn", type=Path, default=None, help="cmvn.npz of the training set (default TRAIN_DIR/cmvn.npz)")
    p.add_argument("--lang-dir", type=Path, default=None, help="dir with phones.txt (names in the figures)")
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--edge", choices=("clamp", "drop"), default="clamp",
                   help="windows at utterance edges: repeat the edge frame, or skip those centres")
    p.add_argument("--windows-per-epoch", type=int, default=None,
                   help="train on a fresh seeded subset of this many windows each epoch (default: all)")
    p.add_argument("--valid-windows", type=int, default=None, help="validate on a fixed subset of this many windows")
    p.add_argument("--figure-windows", type=int, default=16, help="windows in the per-epoch figures (0: none)")
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoint.pt when it exists")
    add_override_argument(p)
    return p


def figure_hook(args: argparse.Namespace, cmvn: Cmvn, window: int, seed: int) -> EpochFigureHook:
    """The per-epoch figure hook on back-to-back windows of the figure dir's first utterances."""
    figure_set = FrameWindowDataset(args.figure_dir, cmvn, window, args.edge)
    centres = figure_set.strip_centres(args.figure_windows)
    labels = torch.from_numpy(figure_set.labels[centres])
    names = list(LOGMEL_PHONES)
    if args.lang_dir is not None and (args.lang_dir / "phones.txt").is_file():
        table = read_symbol_table(args.lang_dir / "phones.txt")
        names = [p for p, _ in sorted(table.items(), key=lambda item: item[1])]
    settings = args.train_dir / "logmel.yaml"
    n_mels = load_yaml(settings.read_text()).get("n_mels", 40) if settings.is_file() else 40
    return EpochFigureHook(figure_set.windows(centres), labels, names, cmvn, n_mels=n_mels, seed=seed)


@command("speechgen-train-logmel")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    exp = load_config(args.config, args.override)
    model = build_model(exp)
    window = getattr(model, "n_frames", None)
    if window is None:
        raise ConfigError(f"{args.config}: model {exp.model} has no n_frames, the window length to train on")
    cmvn_path = args.cmvn or args.train_dir / "cmvn.npz"
    cmvn = Cmvn.load(cmvn_path)
    seed = exp.trainer.seed
    load = exp.trainer.feats_loading
    train_set = FrameWindowDataset(args.train_dir, cmvn, window, args.edge, args.windows_per_epoch, seed,
                                   load=load)
    valid_set = (FrameWindowDataset(args.valid_dir, cmvn, window, args.edge, args.valid_windows, seed, load=load)
                 if args.valid_dir else None)
    check_shapes(model, train_set.shape, args.train_dir)
    write_data_info(args.exp_dir, args, cmvn_path, window=window, edge=args.edge)
    hooks = [figure_hook(args, cmvn, window, seed)] if args.figure_dir and args.figure_windows > 0 else []
    Trainer(exp, model, train_set, valid_set, args.exp_dir, epoch_hooks=hooks).fit(resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
