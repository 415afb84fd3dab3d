"""speechgen-decode-complex: time-domain reconstructions of held-out utterances.

    speechgen-decode-complex --exp-dir exp/M exp/J7 --feats-dir dump/test [--max-utts 20 --include UTT,...]
    speechgen-decode-complex --reference --feats-dir dump/test --out-dir exp/reference

With a model (``--exp-dir``) each utterance's posterior-mean code is decoded into an estimated
magnitude, combined with (a) the model's estimated phase (``estMag_estPha``), or uniform random phase
for a model without phase terms (``estMag_rdmPha``), and (b) the same followed by ``--gla-iters``
Griffin-Lim iterations initialised with that phase (``..._GLA100``); the model-free baseline on the same
estimated magnitude is PGHI's phase (``estMag_PGHI``) and Griffin-Lim from it (``estMag_PGHI_GLA100``).
With ``--reference`` the oracle magnitude is combined with the oracle phase (``orcMag_orcPha``), random
phase (``orcMag_rdmPha``), random-init Griffin-Lim (``orcMag_rdmPha_GLA100``), PGHI (``orcMag_PGHI``)
and Griffin-Lim from PGHI (``orcMag_PGHI_GLA100``), and the original waveform is copied as
``<utt>_true.wav``.

Writes ``OUT_DIR/audio/<utt>_<condition>.wav`` (16-bit) and ``OUT_DIR/decode.json`` (model, settings,
utterances, examples and one entry per file), which the scoring and page stages read; the output dir of
a model is its experiment dir (several ``--exp-dir`` are decoded in turn, in one process).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import kaldiio
import numpy as np
import torch

from speechgen.bin import command
from speechgen.data.audio import load_wav, save_wav
from speechgen.data.chime4 import DEMO_UTTERANCES
from speechgen.data.complex_feats import log_magnitude_phase, matrix_to_spec, read_num_samples, read_stft_config
from speechgen.data.tables import read_mapping
from speechgen.errors import ConfigError, DataError
from speechgen.models.abilities import model_name
from speechgen.models.complex_vae import GLA_MOMENTUM, ComplexSpectrogramVAE, random_phase
from speechgen.signal import griffin_lim, istft, pghi
from speechgen.signal.stft import STFTConfig
from speechgen.progress import progress


def select_utterances(keys: Sequence[str], max_utts: int, include: Sequence[str] = ()) -> List[str]:
    """At most ``max_utts`` of the sorted ``keys``, evenly spread (so over speakers), always with the
    ``include`` ones that exist; ``max_utts <= 0`` keeps all."""
    keys = sorted(keys)
    forced = [k for k in include if k in keys]
    if max_utts <= 0 or len(keys) <= max_utts:
        return keys
    rest = [k for k in keys if k not in forced]
    n = max(max_utts - len(forced), 0)
    picked = [rest[int(i)] for i in np.linspace(0, len(rest) - 1, n).round()] if n else []
    return sorted(set(picked) | set(forced))


def pick_examples(keys: Sequence[str], utt2spk: Dict[str, str], spk2gender: Dict[str, str],
                  n_examples: int, preferred: Sequence[str] = DEMO_UTTERANCES) -> List[str]:
    """The listening examples: the ``preferred`` utterances when present, else the first utterance of
    speakers taken alternately by gender (female first)."""
    chosen = [k for k in preferred if k in keys][:n_examples]
    by_gender: Dict[str, List[str]] = {}
    for key in sorted(keys):
        spk = utt2spk.get(key, "")
        first = by_gender.setdefault(spk2gender.get(spk, "?"), [])
        if all(utt2spk.get(k) != spk for k in first):
            first.append(key)
    queues = [by_gender[g] for g in sorted(by_gender)]
    while len(chosen) < min(n_examples, len(keys)) and any(queues):
        for queue in queues:
            while queue and queue[0] in chosen:
                queue.pop(0)
            if queue and len(chosen) < n_examples:
                chosen.append(queue.pop(0))
    return chosen


class TestSet:
    """The chosen utterances of a feature dir: complex spectrograms, lengths, original wav paths."""

    def __init__(self, feats_dir: Path, max_utts: int, include: Sequence[str], n_examples: int):
        self.feats_dir = feats_dir
        self.conf: STFTConfig = read_stft_config(feats_dir)
        scp = kaldiio.load_scp(str(feats_dir / "feats.scp"))
        self.num_samples = read_num_samples(feats_dir)
        self.wavs = read_mapping(feats_dir / "wav.scp")
        preferred = tuple(include) + DEMO_UTTERANCES  # the demo page's examples are always decoded
        self.utts = select_utterances(list(scp.keys()), max_utts, preferred)
        utt2spk = read_mapping(feats_dir / "utt2spk") if (feats_dir / "utt2spk").is_file() else {}
        spk2gender = read_mapping(feats_dir / "spk2gender") if (feats_dir / "spk2gender").is_file() else {}
        self.examples = pick_examples(self.utts, utt2spk, spk2gender, n_examples, preferred)
        self.mats = {utt: scp[utt] for utt in self.utts}

    def batch(self, mags: List[torch.Tensor]) -> torch.Tensor:
        """Zero-padded (B, F, N_max) stack of (F, N_b) tensors."""
        n_max = max(m.shape[-1] for m in mags)
        return torch.stack([torch.nn.functional.pad(m, (0, n_max - m.shape[-1])) for m in mags])

    def lengths(self) -> List[int]:
        return [self.num_samples[u] for u in self.utts]


def _write(out_dir: Path, entries: List[dict], utt: str, condition: str, x) -> None:
    name = f"{utt}_{condition}.wav"
    save_wav(out_dir / "audio" / name, np.asarray(x, dtype=np.float32), 16000)
    entries.append({"utt": utt, "condition": condition, "wav": f"audio/{name}"})


def gla_batch(mags: List[torch.Tensor], phases: List[torch.Tensor], test: TestSet, n_iter: int, momentum: float,
              nj: int) -> torch.Tensor:
    """Griffin-Lim of every utterance at once, each initialised with its phase: (B, T_max)."""
    return griffin_lim(test.batch(mags), n_iter=n_iter, momentum=momentum, init=test.batch(phases),
                       lengths=test.lengths(), n_jobs=nj, **test.conf.kwargs())


def write_phase_conditions(out_dir: Path, entries: List[dict], test: TestSet, mags: List[torch.Tensor],
                           phases: Dict[str, List[torch.Tensor]], n_iter: int, momentum: float, nj: int) -> None:
    """Each ``{condition: phases}`` with the magnitudes ``mags`` as it is, then (``n_iter`` > 0) Griffin-Lim
    started from it as ``<condition>_GLA<n_iter>``."""
    kwargs = test.conf.kwargs()
    for tag, phase in phases.items():
        for utt, mag, ph in zip(test.utts, mags, phase):
            x = istft(torch.polar(mag, ph), length=test.num_samples[utt], **kwargs)
            _write(out_dir, entries, utt, tag, x.numpy())
        if n_iter > 0:
            refined = gla_batch(mags, phase, test, n_iter, momentum, nj)
            for utt, x, n in zip(test.utts, refined, test.lengths()):
                _write(out_dir, entries, utt, f"{tag}_GLA{n_iter}", x[:n].numpy())


def pghi_phases(mags: List[torch.Tensor], test: TestSet, seed: int) -> List[torch.Tensor]:
    """PGHI's phase of each utterance's magnitude (the model-free phase of the same magnitude)."""
    return [pghi(mag, lengths=[test.num_samples[utt]], seed=seed + i, **test.conf.kwargs()).float()
            for i, (utt, mag) in enumerate(zip(test.utts, mags))]


def decode_model(exp_dir: Path, test: TestSet, out_dir: Path, n_iter: int, momentum: float, seed: int,
                 nj: int, checkpoint: str, oracle_conditioned: bool = False) -> List[dict]:
    """The two conditions of one model for every chosen utterance (and, with ``oracle_conditioned``, the
    oracle magnitude with the phase the model estimates when its phase decoder sees that magnitude)."""
    from speechgen.train.load import load_experiment

    torch.set_grad_enabled(False)
    model, info = load_experiment(exp_dir, checkpoint)
    if not isinstance(model, ComplexSpectrogramVAE):
        raise ConfigError(f"speechgen-decode-complex needs a complex_vae model; {exp_dir} holds model "
                          f"'{model_name(model)}'")
    cmvn = info["cmvn"]
    has_phase = bool(model.phase_terms)
    entries: List[dict] = []
    mags, phases = [], []
    for i, utt in enumerate(progress(test.utts, f"decoding {exp_dir.name}", unit="utt")):
        logmag, _ = log_magnitude_phase(test.mats[utt])
        log_mag, phase = model.decode_utterance(torch.from_numpy(cmvn.apply(logmag).astype(np.float32))[None], seed + i)
        mags.append(log_mag.exp().float())
        phases.append(phase.float())
        if oracle_conditioned and has_phase:
            true_log_mag = torch.from_numpy(logmag.T.copy())
            z = model.encode(torch.from_numpy(cmvn.apply(logmag).astype(np.float32))[None])
            heads = model.phase_heads(z, true_log_mag[None])
            est = model.estimate_phase(heads, true_log_mag)
            x = istft(torch.polar(true_log_mag.exp().float(), est), length=test.num_samples[utt], **test.conf.kwargs())
            _write(out_dir, entries, utt, "orcMag_estPha", x.numpy())
    write_phase_conditions(out_dir, entries, test, mags,
                           {model.decoded_condition: phases, "estMag_PGHI": pghi_phases(mags, test, seed)},
                           n_iter, momentum, nj)
    return entries


def decode_reference(test: TestSet, out_dir: Path, n_iter: int, momentum: float, seed: int, nj: int) -> List[dict]:
    """The oracle-magnitude conditions and the original audio of every chosen utterance."""
    entries: List[dict] = []
    mags, phases = [], []
    for i, utt in enumerate(test.utts):
        spec = matrix_to_spec(test.mats[utt])
        save_wav(out_dir / "audio" / f"{utt}_true.wav", load_wav(test.wavs[utt], test.conf.sample_rate))
        _write(out_dir, entries, utt, "orcMag_orcPha", istft(spec, length=test.num_samples[utt],
                                                             **test.conf.kwargs()).numpy())
        mags.append(spec.abs())
        phases.append(random_phase(spec.shape, seed + i))
    write_phase_conditions(out_dir, entries, test, mags, {"orcMag_rdmPha": phases,
                                                          "orcMag_PGHI": pghi_phases(mags, test, seed)},
                           n_iter, momentum, nj)
    return entries


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechgen-decode-complex",
                                description="Reconstruct held-out utterances with a trained complex-spectrogram "
                                            "model (or the oracle references) into OUT_DIR/audio + decode.json.")
    p.add_argument("--exp-dir", type=Path, nargs="+", default=None,
                   help="trained experiments, each decoded into itself (omit with --reference)")
    p.add_argument("--reference", action="store_true", help="decode the oracle-magnitude references instead")
    p.add_argument("--feats-dir", type=Path, required=True, help="complex STFT dir of the test set")
    p.add_argument("--out-dir", type=Path, default=None, help="output dir of --reference")
    p.add_argument("--max-utts", type=int, default=20, help="utterances decoded, evenly spread (0: all)")
    p.add_argument("--include", default="", help="comma-separated utterances always decoded (listening examples)")
    p.add_argument("--examples", type=int, default=2, help="listening examples named in decode.json")
    p.add_argument("--gla-iters", type=int, default=100)
    p.add_argument("--gla-momentum", type=float, default=GLA_MOMENTUM,
                   help="0: Griffin-Lim (the paper's); 0.99: fast Griffin-Lim")
    p.add_argument("--seed", type=int, default=0, help="seed of the random phases")
    p.add_argument("--nj", type=int, default=2, help="concurrent Griffin-Lim groups")
    p.add_argument("--checkpoint", default="best.pt")
    p.add_argument("--oracle-conditioned", action="store_true",
                   help="also decode orcMag_estPha: the oracle magnitude with the phase a joint model estimates "
                        "from it (phase retrieval by the phase decoder alone)")
    return p


def write_record(out_dir: Path, model: str, test: TestSet, args: argparse.Namespace, entries: List[dict],
                 seconds: float) -> None:
    """``OUT_DIR/decode.json``, written through a temp name."""
    record = {"model": model, "feats_dir": str(args.feats_dir.resolve()), "utts": test.utts,
              "examples": test.examples, "gla_iters": args.gla_iters, "gla_momentum": args.gla_momentum,
              "seed": args.seed, "seconds": round(seconds, 1), "files": entries}
    tmp = out_dir / "decode.json.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, out_dir / "decode.json")
    print(f"{len(entries)} files of {len(test.utts)} utterances -> {out_dir}/audio ({record['seconds']} s)")


@command("speechgen-decode-complex")
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.reference == bool(args.exp_dir):
        print("speechgen-decode-complex: error: give exactly one of --exp-dir and --reference", file=sys.stderr)
        return 2
    if args.reference and args.out_dir is None:
        print("speechgen-decode-complex: error: --reference needs --out-dir", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # Griffin-Lim runs --nj groups of one thread each
    if not (args.feats_dir / "feats.scp").is_file():
        raise DataError(f"{args.feats_dir}/feats.scp: missing; run the feature stage first")
    include = [u for u in args.include.split(",") if u]
    test = TestSet(args.feats_dir, args.max_utts, include, args.examples)
    if args.reference:
        began = time.time()
        entries = decode_reference(test, args.out_dir, args.gla_iters, args.gla_momentum, args.seed, args.nj)
        write_record(args.out_dir, "reference", test, args, entries, time.time() - began)
    for exp_dir in args.exp_dir or []:
        began = time.time()
        entries = decode_model(exp_dir, test, exp_dir, args.gla_iters, args.gla_momentum, args.seed,
                               args.nj, args.checkpoint, args.oracle_conditioned)
        write_record(exp_dir, exp_dir.name, test, args, entries, time.time() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
