"""Stage: encode a feature dir with a trained model into latent codes (Kaldi ark/scp) + test stats."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict

import torch
from torch.utils.data import DataLoader

from speechgen.api import load_model
from speechgen.bin import command
from speechgen.data.ark import ark_writer
from speechgen.data.audio import load_wav
from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import read_mapping
from speechgen.errors import ConfigError
from speechgen.models.abilities import Encoder, Factorised, require
from speechgen.progress import progress
from speechgen.train.load import load_experiment
from speechgen.train.trainer import seed_everything


def encode_dir(exp_dir: Path, feats_dir: Path, out_dir: Path, checkpoint: str = "best.pt",
               batch_size: int = 256, seed: int = 0) -> dict:
    """Write ``out_dir/codes.{ark,scp}`` and ``out_dir/stats.json`` (mean loss stats on the set), and for a
    factorised model ``out_dir/factor_slices.json``. The model must be an Encoder."""
    model, info = load_experiment(exp_dir, checkpoint)
    require(model, Encoder, f"speechgen-encode ({exp_dir})")
    dataset = SegmentDataset(feats_dir, info["cmvn"], info.get("lang_dir"))
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    totals = defaultdict(float)
    scp_tmp = out_dir / "codes.scp.tmp"
    with torch.no_grad(), ark_writer(out_dir / 'codes.ark', scp_tmp) as writer:
        for batch in progress(DataLoader(dataset, batch_size=batch_size, shuffle=False), f"encoding {feats_dir}",
                              unit="batch"):
            codes = model.encode(batch["feats"])
            for idx, code in zip(batch["idx"].tolist(), codes.numpy()):
                writer(dataset.keys[idx], code)
            _, stats = model(batch)
            for key, value in stats.items():
                totals[key] += value * len(batch["idx"])
    stats = {key: value / len(dataset) for key, value in totals.items()}
    stats["segments"] = len(dataset)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    if isinstance(model, Factorised):  # factorial codes: which dims belong to which factor
        slices = {name: [s.start, s.stop] for name, s in model.factor_slices().items()}
        (out_dir / "factor_slices.json").write_text(json.dumps(slices) + "\n")
    for name in ("seg2phone", "seg2spk"):
        if (feats_dir / name).is_file():
            shutil.copyfile(feats_dir / name, out_dir / name)
    os.replace(scp_tmp, out_dir / "codes.scp")
    return stats


def encode_wavs(model_path: Path, wavs: Dict[str, str], out_dir: Path, hop: int, checkpoint: str) -> int:
    """The codes of every wav of ``wavs`` ({key: path}) -> ``out_dir/codes.{ark,scp}``, one (N, D) matrix per
    key (see :meth:`speechgen.api.TrainedModel.encode_wav`); returns the number of utterances."""
    trained = load_model(model_path, checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    scp_tmp = out_dir / "codes.scp.tmp"
    with ark_writer(out_dir / "codes.ark", scp_tmp) as writer:
        for key in progress(sorted(wavs), "encoding", unit="utt"):
            writer(key, trained.encode_wav(load_wav(wavs[key], trained.sample_rate), trained.sample_rate, hop).numpy())
    os.replace(scp_tmp, out_dir / "codes.scp")
    return len(wavs)


def wav_table(args: argparse.Namespace) -> Dict[str, str]:
    """{key: wav} of --wav-scp (Kaldi ``key path`` lines) or of the wav arguments (keyed by file name)."""
    wavs = dict(read_mapping(args.wav_scp)) if args.wav_scp else {}
    for wav in args.wavs:
        wavs[wav.stem] = str(wav)
    return wavs


@command("speechgen-encode")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-encode",
                                description="Encode FEATS_DIR with the model of EXP_DIR into OUT_DIR/codes.scp "
                                            "(posterior means / latent codes) and score the model's loss there; "
                                            "or encode wavs (--wav-scp, or wav files) with any trained model "
                                            "(exp dir or packed file) into OUT_DIR/codes.scp, one matrix of "
                                            "codes per utterance.")
    p.add_argument("--exp-dir", type=Path, required=True, help="exp dir (or, for wavs, a packed model)")
    p.add_argument("--feats-dir", type=Path, default=None, help="prepared features (a recipe's dump/<set>)")
    p.add_argument("--wav-scp", type=Path, default=None, help="wavs to encode: Kaldi wav.scp (key path)")
    p.add_argument("wavs", type=Path, nargs="*", help="wav files to encode (keys: their names)")
    p.add_argument("--hop", type=int, default=1, help="frames between the windows of a wav (segment models)")
    p.add_argument("--out-dir", type=Path, default=None, help="default EXP_DIR/encode_<name of FEATS_DIR>")
    p.add_argument("--checkpoint", default="best.pt", help="weights file in EXP_DIR (best.pt, latest.pt, epochN.pt)")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args(argv)
    if (args.feats_dir is None) == (not args.wav_scp and not args.wavs):
        raise ConfigError("give either --feats-dir or wavs (--wav-scp FILE, or wav files)")
    if args.feats_dir is None:
        if args.out_dir is None or args.hop < 1:
            raise ConfigError("encoding wavs needs --out-dir and a --hop of at least 1")
        n = encode_wavs(args.exp_dir, wav_table(args), args.out_dir, args.hop, args.checkpoint)
        print(f"{n} utterances -> {args.out_dir}/codes.scp")
        return 0
    out_dir = args.out_dir or args.exp_dir / f"encode_{args.feats_dir.name}"
    stats = encode_dir(args.exp_dir, args.feats_dir, out_dir, args.checkpoint, args.batch_size)
    print(f"{stats['segments']} codes -> {out_dir}/codes.scp; loss {stats.get('loss', float('nan')):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
