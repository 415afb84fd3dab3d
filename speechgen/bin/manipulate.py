"""Stage: mean-shift manipulation of phone and speaker in a model's latent space, scored by MLP posteriors."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from speechgen.bin import command
from speechgen.bin.compute_feats import read_segments
from speechgen.data.audio import load_wav, save_wav
from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import FACTORS, lang_class_counts, read_mapping, read_symbol_table
from speechgen.errors import DataError
from speechgen.data.features import SegmentSpecConfig, analysis_starts
from speechgen.eval.examples import plot_examples, segment_phase, segments_to_audio
from speechgen.eval.conversion import factor_class_means, save_class_means
from speechgen.eval.manipulation import batched, manipulate_and_score
from speechgen.models.abilities import Decoder, Encoder, Factorised, model_name, require
from speechgen.models.classifier import MLPClassifier
from speechgen.train.load import load_experiment
from speechgen.progress import progress


def load_set(feats_dir: Path, cmvn, lang_dir: Path):
    data = SegmentDataset(feats_dir, cmvn, lang_dir)
    missing = [f for f in FACTORS if f not in data.labels]
    if missing:
        raise DataError(f"{feats_dir}: no {', '.join('seg2' + m for m in missing)}; the manipulation needs "
                        "phone and speaker labels")
    return data, torch.from_numpy(data.feats), {f: torch.from_numpy(data.labels[f]) for f in FACTORS}


def original_phases(data_dir: Path, segments: list, conf: SegmentSpecConfig) -> torch.Tensor:
    """Phases (B, F, T) of the segments' own analysis spans, read from DATA_DIR's wav.scp and segments."""
    wavs = read_mapping(data_dir / "wav.scp")
    bounds = {seg: (utt, start, end) for utt, segs in read_segments(data_dir).items() for seg, start, end in segs}
    phases = []
    for seg in segments:
        if seg not in bounds:
            raise DataError(f"{data_dir}/segments: no segment {seg}; pass the data dir of the test features")
        utt, start, end = bounds[seg]
        x = load_wav(wavs[utt], conf.sample_rate)
        first = analysis_starts(np.array([[start, end]]) * conf.sample_rate, len(x), conf)[0]
        phases.append(segment_phase(x, int(first), conf))
    return torch.stack(phases)


def write_examples(args: argparse.Namespace, test_set: SegmentDataset, cmvn, lang_dir: Path,
                   converted: dict) -> list:
    """Spectrogram figure and wavs of a few seeded test segments: original, phone- and speaker-converted."""
    conf = SegmentSpecConfig()
    names = {f: {i: s for s, i in read_symbol_table(lang_dir / t).items()}
             for f, t in (("phone", "phones.txt"), ("spk", "speakers.txt"))}
    rng = np.random.default_rng(args.seed)
    picks = np.sort(rng.choice(len(test_set), size=min(args.examples, len(test_set)), replace=False))
    rows, titles, examples = {"orig": [], "phone": [], "spk": []}, {"orig": [], "phone": [], "spk": []}, []
    for idx in picks:
        key = test_set.keys[idx]
        own = {f: names[f][int(test_set.labels[f][idx])] for f in FACTORS}
        rows["orig"].append(cmvn.invert(test_set.feats[idx]))
        titles["orig"].append(f"{key}\n/{own['phone']}/ {own['spk']}")
        entry = {"segment": key, "phone": own["phone"], "spk": own["spk"]}
        for f in FACTORS:
            pair = int(np.flatnonzero(converted[f]["rows"] == idx)[0])
            target = names[f][int(converted[f]["targets"][pair])]
            rows[f].append(cmvn.invert(converted[f]["x_new"][pair].numpy()))
            titles[f].append(f"/{target}/ {own['spk']}" if f == "phone" else f"/{own['phone']}/ {target}")
            entry[f"{f}_target"] = target
        examples.append(entry)
    arrays = {k: np.stack(v) for k, v in rows.items()}
    plot_examples([arrays["orig"], arrays["phone"], arrays["spk"]], ["original", "phone-converted",
                  "speaker-converted"], [titles["orig"], titles["phone"], titles["spk"]],
                  args.out_dir / "examples.png", conf)
    phase = original_phases(args.data_dir, [e["segment"] for e in examples], conf) if args.data_dir else None
    audio = {k: segments_to_audio(v, conf, n_iter=args.gla_iters, phase=phase, seed=args.seed)
             for k, v in arrays.items()}
    for i, entry in enumerate(examples):
        stems = {"orig": "original", "phone": f"phone-{entry['phone']}-to-{entry['phone_target']}",
                 "spk": f"speaker-{entry['spk']}-to-{entry['spk_target']}"}
        for kind, stem in stems.items():
            wav = np.tile(audio[kind][i], args.audio_repeat)
            path = args.out_dir / "audio" / f"{entry['segment']}_{stem}.wav"
            save_wav(path, 0.9 * wav / max(1e-6, float(np.abs(wav).max())), conf.sample_rate)
            entry[f"{kind}_wav"] = str(path.relative_to(args.out_dir))
    return examples


def load_classifiers(args: argparse.Namespace) -> dict:
    """The phone and speaker MLPs of ``--phone-classifier`` / ``--spk-classifier``, checked."""
    classifiers = {}
    for factor, clf_dir in (("phone", args.phone_classifier), ("spk", args.spk_classifier)):
        clf, _ = load_experiment(clf_dir, "best.pt")
        if not (isinstance(clf, MLPClassifier) and clf.label == factor):
            what = f"label={clf.label}" if isinstance(clf, MLPClassifier) else f"model '{model_name(clf)}'"
            raise DataError(f"{clf_dir}: not a {factor} classifier ({what})")
        classifiers[factor] = clf
    return classifiers


def run(args: argparse.Namespace) -> dict:
    """Both manipulations of one model -> OUT_DIR/results.json; a factorial model also gets them with its
    whole code moved (``results["whole_code"]``), the other reading of the paper's mean shift."""
    model, info = load_experiment(args.exp_dir, args.checkpoint)
    for ability in (Encoder, Decoder):
        require(model, ability, f"speechgen-manipulate ({args.exp_dir})")
    lang_dir = Path(info["lang_dir"])
    n_classes = lang_class_counts(lang_dir)
    classifiers = load_classifiers(args)
    torch.manual_seed(args.seed)
    _, train_x, train_y = load_set(args.train_dir, info["cmvn"], lang_dir)
    test_set, test_x, test_y = load_set(args.test_dir, info["cmvn"], lang_dir)
    results = {"model": info["config"]["model"], "exp_dir": str(args.exp_dir), "per_segment": args.per_segment,
               "seed": args.seed}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    converted = {}
    train_codes = batched(model.encode, train_x)
    if Path(args.train_dir).resolve() == Path(info["train_dir"]).resolve():  # kept for speechgen-convert / -pack
        save_class_means(args.exp_dir, factor_class_means(train_codes, train_y, n_classes))
    variants = (False, True) if isinstance(model, Factorised) else (False,)
    shifts = [(whole_code, factor) for whole_code in variants for factor in FACTORS]
    for whole_code, factor in progress(shifts, f"manipulating with {args.exp_dir.name}", unit="shift"):
        scores = results.setdefault("whole_code", {}) if whole_code else results
        result, details = manipulate_and_score(model, classifiers, train_codes, train_y, test_x, test_y,
                                               n_classes, factor, args.per_segment, args.seed, whole_code=whole_code)
        scores[factor] = result.to_dict()
        converted.setdefault(factor, details)
    if args.examples > 0:
        results["examples"] = write_examples(args, test_set, info["cmvn"], lang_dir, converted)
    tmp = args.out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(args.out_dir / "results.json")
    return results


@command("speechgen-manipulate")
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
    p.add_argument("--examples", type=int, default=4,
                   help="test segments drawn for OUT_DIR/examples.png and OUT_DIR/audio/*.wav (0: none)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data dir of the test set (wav.scp, segments): the example audio then keeps each "
                        "segment's original phase instead of Griffin-Lim's")
    p.add_argument("--gla-iters", type=int, default=100, help="fast Griffin-Lim iterations of the example audio")
    p.add_argument("--audio-repeat", type=int, default=10,
                   help="each 215 ms example wav repeats the segment this many times (as the paper's demo)")
    p.add_argument("--checkpoint", default="best.pt")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out_dir = args.out_dir or args.exp_dir / "manipulation"
    results = run(args)
    for factor in FACTORS:
        r = results[factor]
        print(f"{results['model']} {factor} manipulation ({r['pairs']} pairs): "
              f"p(target|x) {r['moved_before'][0]:.3f} -> {r['moved_after'][0]:.3f}, "
              f"other factor {r['other_before'][0]:.3f} -> {r['other_after'][0]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
