"""Speed perturbation of a Kaldi data dir, as Kaldi's ``utils/data/perturb_data_dir_speed_3way.sh`` does it.

Each factor ``f`` other than 1 adds a copy of every utterance played ``f`` times as fast (pitch and tempo
together, sox's ``speed`` effect): utterance ``sp0.9-<utt>`` of speaker ``sp0.9-<spk>`` (a new speaker, as
in Kaldi), its audio resampled to ``1 / f`` of its length and written to a wav of its own, its phone
alignment stretched by ``1 / f``. A factor of 1 keeps the utterances as they are.

The resampling is scipy's polyphase filter (``scipy.signal.resample_poly``), the same operation as sox's
``speed`` (whose binary a fresh machine lacks) and lhotse's ``perturb_speed`` (an optional extra here, not
worth a dependency for one resampler).
"""
from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import List, Sequence

import numpy as np

from speechgen.corpora.kaldi import KaldiCorpus
from speechgen.corpora.base import Phone, Utterance
from speechgen.corpora.writer import PHONE_SEGMENTS, write_data_dir
from speechgen.data.audio import read_audio, save_wav
from speechgen.errors import ConfigError, DataError


def parse_factors(text: str) -> List[float]:
    """``"0.9 1.0 1.1"`` (spaces or commas) -> the factors; a ConfigError for anything else."""
    words = text.replace(",", " ").split()
    try:
        factors = [float(w) for w in words]
    except ValueError:
        factors = []
    if not factors or any(not 0.5 <= f <= 2.0 for f in factors) or len(set(factors)) != len(factors):
        raise ConfigError(f"speed factors {text!r} (--factors; the recipes' --speed-perturb): expected distinct "
                          "numbers between 0.5 and 2, e.g. '0.9 1.0 1.1'")
    return factors


def factor_tag(factor: float) -> str:
    """The id prefix of a factor's copies: ``sp0.9-`` (Kaldi's)."""
    return f"sp{factor:g}-"


def speed_change(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` (T, C) played ``factor`` times as fast at the same rate: ``ceil(T / factor)`` samples."""
    # imported here: scipy.signal takes ~1 s to import, and every command imports this module (through
    # speechgen.corpora's list of kinds) while only the speed perturbation resamples
    from scipy.signal import resample_poly

    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(x, ratio.denominator, ratio.numerator, axis=0).astype(np.float32)


def _stretched(spans: List[Phone], factor: float) -> List[Phone]:
    """``(start, end, label)`` spans of the audio at ``factor`` times the speed."""
    return [(start / factor, end / factor, label) for start, end, label in spans]


def _perturbed(utt: Utterance, factor: float, wav_dir: Path) -> Utterance:
    """The copy of ``utt`` at ``factor``: its wav written under ``wav_dir``, ids and alignment changed."""
    tag = factor_tag(factor)
    x, sr = read_audio(utt.wav)
    wav = wav_dir / tag.rstrip("-") / f"{utt.utt_id}.wav"
    y = speed_change(x, factor)
    save_wav(wav, y[:, 0] if y.shape[1] == 1 else y, sr)
    phones = None if utt.phones is None else _stretched(utt.phones, factor)
    return replace(utt, utt_id=tag + utt.utt_id, spk=tag + utt.spk, wav=str(wav.absolute()), phones=phones,
                   words=_stretched(utt.words, factor), duration=None)


def read_utterances(src: Path) -> List[Utterance]:
    """The utterances of data dir ``src``, read as ``--corpus kaldi`` reads one (Kaldi ``segments`` too)."""
    if (src / PHONE_SEGMENTS).is_file():
        raise DataError(f"{src / PHONE_SEGMENTS}: a data dir of phone segments cannot be speed-perturbed; "
                        "perturb the utterances' data dir before its segments are made")
    return KaldiCorpus(src).utterances()


def perturb_data_dir(src: str | os.PathLike, dst: str | os.PathLike, factors: Sequence[float],
                     wav_dir: str | os.PathLike) -> int:
    """Write data dir ``dst``: the utterances of ``src`` at each speed factor (1: unchanged).

    The perturbed audio goes to ``wav_dir/sp<f>/<utt>.wav``; ``dst`` is replaced as a whole once every
    wav is written. Returns the number of utterances in ``dst``.
    """
    src, dst, wav_dir = Path(src), Path(dst), Path(wav_dir)
    if wav_dir.resolve() == dst.resolve() or dst.resolve() in wav_dir.resolve().parents:
        raise ConfigError(f"--wav-dir {wav_dir}: must lie outside the data dir {dst}, which is replaced as a whole")
    utts = read_utterances(src)
    out: List[Utterance] = []
    for factor in factors:
        out += utts if factor == 1.0 else [_perturbed(u, factor, wav_dir) for u in utts]
    write_data_dir(out, dst)
    return len(out)
