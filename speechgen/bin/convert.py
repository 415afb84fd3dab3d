"""speechgen-convert: speaker (or phone) conversion of whole utterances with a trained segment model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.api import load_model
from speechgen.bin import command
from speechgen.data.audio import load_wav, save_wav
from speechgen.data.features import SegmentSpecConfig
from speechgen.errors import ConfigError, DataError
from speechgen.eval.conversion import Conversion, convert_waveform, ensure_class_means
from speechgen.models.abilities import Decoder, Encoder, require
from speechgen.progress import progress


def class_id(trained, factor: str, name: str, option: str) -> int:
    names = trained.labels.get(factor, [])
    if name not in names:
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise ConfigError(f"{option} {name}: not a class of {trained.source} (its {factor} classes: {shown or 'none'})")
    return names.index(name)


def conversion_of(args: argparse.Namespace, trained) -> Conversion:
    factor = "spk" if args.to_speaker else "phone"
    target = class_id(trained, factor, args.to_speaker or args.to_phone, "--to-speaker" if args.to_speaker else "--to-phone")
    source_name = args.from_speaker if factor == "spk" else args.from_phone
    source = class_id(trained, factor, source_name, "--from-" + ("speaker" if factor == "spk" else "phone")) \
        if source_name else None
    if factor == "phone" and source is None:
        raise ConfigError("--to-phone needs --from-phone (an utterance holds many phones)")
    return Conversion(factor=factor, target=target, source=source, hop=args.hop, whole_code=args.whole_code)


def load_converter(path: Path):
    """The model of PATH (exp dir or packed file) with its class means, checked for what conversion needs."""
    if path.is_dir():
        ensure_class_means(path)
    trained = load_model(path)
    for ability in (Encoder, Decoder):
        require(trained.model, ability, f"speechgen-convert ({path})")
    if not isinstance(trained.settings, SegmentSpecConfig) or not trained.class_means:
        raise DataError(f"{path}: not a segment model with saved class means (a timit_fdnf model: f-DNF, DNF, NF, "
                        "VAE or identity)")
    return trained


@command("speechgen-convert")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-convert",
        description="Convert the speaker (or the phone) of whole utterances with a trained timit_fdnf model: the "
                    "paper's mean shift in the latent space applied to overlapping windows of the model's segment "
                    "length, overlap-added, then the original phase (or fast Griffin-Lim). The source speaker is "
                    "the utterance's own mean code unless --from-speaker names a training speaker.")
    p.add_argument("--model", type=Path, required=True, help="exp dir (e.g. egs/timit_fdnf/exp/train_fdnf) or packed file")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-speaker", help="target speaker id (a training speaker of the model)")
    target.add_argument("--to-phone", help="target phone (with --from-phone)")
    p.add_argument("--from-speaker", help="source speaker id (default: the utterance's own mean code)")
    p.add_argument("--from-phone", help="source phone of a --to-phone conversion")
    p.add_argument("--hop", type=int, default=5, help="frames between windows (10 ms each; default 5)")
    p.add_argument("--whole-code", action="store_true", help="a factorial model moves its whole code, not one part")
    p.add_argument("--phase", choices=("original", "gla"), default="original",
                   help="phase of the output: the input's, or fast Griffin-Lim's (100 iterations)")
    p.add_argument("inputs", type=Path, nargs="+", metavar="IN.wav ... OUT",
                   help="one input wav and the output wav, or several input wavs and an output dir")
    args = p.parse_args(argv)
    if args.hop < 1:
        raise ConfigError(f"--hop {args.hop}: must be at least 1")
    if len(args.inputs) < 2:
        raise ConfigError("give an input wav and an output wav (or input wavs and an output dir)")
    *wavs, out = args.inputs
    trained = load_converter(args.model)
    conv = conversion_of(args, trained)
    sr = trained.sample_rate
    for wav in progress(wavs, "converting", unit="utt"):
        y = convert_waveform(trained, load_wav(wav, sr), sr, conv, phase=args.phase)
        dest = out / wav.name if len(wavs) > 1 else out
        save_wav(dest, y, sr)
        print(f"{wav} -> {dest} ({len(y) / sr:.2f} s, {conv.factor} -> "
              f"{trained.labels[conv.factor][conv.target]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
