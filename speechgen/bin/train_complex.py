"""speechgen-train-complex: train a complex-spectrogram model on crops of complex STFT features.

    speechgen-train-complex --config conf/J7.yaml --train-dir dump/train --valid-dir dump/dev \
        --exp-dir exp/J7 [--init-from exp/M] [--segment-frames 64] [--resume] [--override k=v ...]

The feature dirs are those of speechgen-compute-stft (the training one with ``cmvn.npz``). With
``--init-from`` a fresh run starts from the encoder and magnitude decoder of another experiment
(e.g. model M); a resumed run continues from its own checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from speechgen.bin import command
from speechgen.bin.train import add_override_argument, write_data_info
from speechgen.data.complex_feats import ComplexSpecDataset, read_stft_config
from speechgen.data.dataset import Cmvn
from speechgen.errors import ConfigError, DataError
from speechgen.train.config import build_model, load_config
from speechgen.train.files import load_checkpoint
from speechgen.train.trainer import Trainer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechgen-train-complex",
                                description="Train a complex-spectrogram model (e.g. complex_vae) on crops of "
                                            "complex STFT features; writes config.yaml, checkpoints, train.log, "
                                            "loss.csv/png into EXP_DIR.")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--train-dir", type=Path, required=True, help="complex STFT dir with feats.scp and cmvn.npz")
    p.add_argument("--valid-dir", type=Path, default=None)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--segment-frames", type=int, default=64, help="frames per training crop")
    p.add_argument("--crops-per-utt", type=int, default=4, help="random crops of each utterance per epoch")
    p.add_argument("--init-from", type=Path, default=None,
                   help="experiment dir whose encoder and magnitude decoder start a fresh run")
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoint.pt when it exists")
    add_override_argument(p)
    return p


def check_stft(model, train_dir: Path) -> None:
    """The model's STFT settings must be those of the features."""
    conf = read_stft_config(train_dir)
    model_stft = (getattr(model, "n_fft", conf.n_fft), getattr(model, "hop_length", conf.hop_length))
    if model_stft != (conf.n_fft, conf.hop_length):
        raise ConfigError(f"the features in {train_dir} have n_fft={conf.n_fft}, hop_length={conf.hop_length} but "
                          f"the model has n_fft={model.n_fft}, hop_length={model.hop_length}; set model_conf to match")


def init_from(model: torch.nn.Module, exp_dir: Path) -> int:
    """Copy the encoder and magnitude decoder weights of ``exp_dir/best.pt``; returns tensors copied."""
    path = exp_dir / "best.pt"
    if not path.is_file():
        raise DataError(f"{path}: missing; train the model of --init-from {exp_dir} first")
    source = load_checkpoint(path)
    own = model.state_dict()
    taken = {k: v for k, v in source.items() if k.startswith(("encoder.", "magnitude_decoder."))}
    bad = [k for k, v in taken.items() if k not in own or own[k].shape != v.shape]
    if not taken or bad:
        raise ConfigError(f"--init-from {exp_dir}: its encoder/magnitude decoder do not fit this model "
                          f"({bad[0] if bad else 'no such weights'}); give both models the same sizes")
    model.load_state_dict(taken, strict=False)
    return len(taken)


@command("speechgen-train-complex")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    args.lang_dir = None
    exp = load_config(args.config, args.override)
    cmvn_path = args.train_dir / "cmvn.npz"
    cmvn = Cmvn.load(cmvn_path)
    load = exp.trainer.feats_loading
    train_set = ComplexSpecDataset(args.train_dir, cmvn, args.segment_frames, random_crop=True,
                                   crops_per_utt=args.crops_per_utt, load=load)
    valid_set = (ComplexSpecDataset(args.valid_dir, cmvn, args.segment_frames, random_crop=False, load=load)
                 if args.valid_dir else None)
    model = build_model(exp)
    check_stft(model, args.train_dir)
    if getattr(model, "n_bins", train_set.n_bins) != train_set.n_bins:
        raise ConfigError(f"the features have {train_set.n_bins} bins, the model n_bins={model.n_bins}")
    fresh = not (args.exp_dir / "checkpoint.pt").exists()
    if args.init_from is not None and fresh:
        n = init_from(model, args.init_from)
        print(f"initialised {n} tensors of the encoder and magnitude decoder from {args.init_from}")
    elif getattr(model, "freeze_magnitude", False) and fresh:
        raise ConfigError(f"{args.config}: freeze_magnitude needs --init-from (a trained model M); "
                          "otherwise the magnitude networks stay random")
    model.set_feature_stats(cmvn.mean, cmvn.std)
    write_data_info(args.exp_dir, args, cmvn_path, segment_frames=args.segment_frames,
                    crops_per_utt=args.crops_per_utt,
                    init_from=str(args.init_from.resolve()) if args.init_from else None,
                    stft=read_stft_config(args.train_dir).to_dict())
    Trainer(exp, model, train_set, valid_set, args.exp_dir).fit(resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
