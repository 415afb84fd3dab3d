"""Stage: train a registered model on segment features; resumable with --resume."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

from speechgen.bin import command
from speechgen.data.dataset import Cmvn, SegmentDataset, lang_class_counts
from speechgen.errors import ConfigError
from speechgen.train.config import build_model, load_config, set_class_counts
from speechgen.train.distributed import is_main_process
from speechgen.train.trainer import Trainer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="speechgen-train",
        description="Train the model a YAML config names on a feature dir; writes config.yaml, "
                    "checkpoints, train.log and loss.csv/png into EXP_DIR.")
    p.add_argument("--config", type=Path, required=True, help="YAML config (model, model_conf, optim, trainer)")
    p.add_argument("--train-dir", type=Path, required=True, help="feature dir with feats.scp (+ seg2phone, seg2spk)")
    p.add_argument("--valid-dir", type=Path, default=None, help="validation feature dir")
    p.add_argument("--cmvn", type=Path, default=None, help="cmvn.npz from the training set (default TRAIN_DIR/cmvn.npz)")
    p.add_argument("--lang-dir", type=Path, default=None, help="dir with phones.txt / speakers.txt label tables")
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoint.pt when it exists")
    add_override_argument(p)
    return p


def add_override_argument(p: argparse.ArgumentParser) -> None:
    """``--override KEY=VALUE ...``; given several times, the lists add up (the recipes add the device)."""
    p.add_argument("--override", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. trainer.max_epochs=5 model_conf.latent_dim=64 trainer.device=cuda "
                        "trainer.amp=bf16 trainer.num_workers=2 trainer.feats_loading=lazy. Several processes: "
                        "run this script under torchrun --nproc_per_node N (trainer.batch_size is the global batch)")


def write_data_info(exp_dir: Path, args: argparse.Namespace, cmvn_path: Path, **extra) -> None:
    """Record what the model was trained on (and ``extra`` keys), so later stages need only EXP_DIR.
    With several processes only rank 0 writes."""
    if not is_main_process():
        return
    exp_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cmvn_path, exp_dir / "cmvn.npz")
    info = {"train_dir": str(args.train_dir.resolve()),
            "valid_dir": str(args.valid_dir.resolve()) if args.valid_dir else None,
            "lang_dir": str(args.lang_dir.resolve()) if args.lang_dir else None,
            "cmvn": "cmvn.npz", **extra}
    (exp_dir / "data.yaml").write_text(yaml.safe_dump(info, sort_keys=False))


def check_shapes(model, shape, where: Path) -> None:
    expected = tuple(getattr(model, name, None) for name in ("n_frames", "n_bins"))
    if None not in expected and tuple(shape) != expected:
        raise ConfigError(f"the features in {where} are {shape[0]}x{shape[1]} (frames x bins) but the model "
                          f"expects {expected[0]}x{expected[1]}; set model_conf.n_frames / n_bins")


@command("speechgen-train")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    exp = load_config(args.config, args.override)
    if args.lang_dir:
        set_class_counts(exp, lang_class_counts(args.lang_dir), str(args.lang_dir))
    cmvn_path = args.cmvn or args.train_dir / "cmvn.npz"
    cmvn = Cmvn.load(cmvn_path)
    load = exp.trainer.feats_loading
    train_set = SegmentDataset(args.train_dir, cmvn, args.lang_dir, load=load)
    valid_set = SegmentDataset(args.valid_dir, cmvn, args.lang_dir, load=load) if args.valid_dir else None
    model = build_model(exp)
    check_shapes(model, train_set.shape, args.train_dir)
    write_data_info(args.exp_dir, args, cmvn_path)
    trainer = Trainer(exp, model, train_set, valid_set, args.exp_dir)
    trainer.fit(resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
