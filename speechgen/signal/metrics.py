"""Objective speech-quality metrics of a degraded signal against its reference.

* :func:`pesq` — ITU-T P.862 (narrow-band, 8/16 kHz) and P.862.2 (wide-band, 16 kHz), package ``pesq``;
* :func:`stoi` / :func:`estoi` — (extended) short-time objective intelligibility, package ``pystoi``;
* :func:`si_sdr` — scale-invariant signal-to-distortion ratio (Le Roux et al. 2019), dB;
* :func:`log_spectral_distance` — RMS over frequency of the dB difference of power spectra, mean
  over frames, dB;
* :func:`spectral_convergence` — ``|| |S_deg| - |S_ref| ||_F / || |S_ref| ||_F`` of the STFT magnitudes.

Every function takes one utterance as 1-D numpy arrays or torch tensors, plus the ``utt_id`` the
caller knows it by. An input a metric cannot score — wrong sample rate, too short, silent,
non-finite, lengths that do not match — raises :class:`speechgen.errors.DataError` whose message
starts with the utterance id and says what to change, instead of returning NaN or a sentinel.
Lengths that differ by at most ``MAX_LENGTH_MISMATCH`` samples (STFT rounding) are trimmed to the
shorter one.
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, Iterable, Optional

import numpy as np
import torch
from torch import Tensor

from speechgen.errors import DataError

__all__ = [
    "METRICS",
    "MAX_LENGTH_MISMATCH",
    "pesq",
    "stoi",
    "estoi",
    "si_sdr",
    "log_spectral_distance",
    "spectral_convergence",
    "spectral_convergence_mag",
    "evaluate",
]

#: names accepted by :func:`evaluate`
METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "lsd", "sc")
#: largest length difference (samples) that is trimmed instead of rejected
MAX_LENGTH_MISMATCH = 1024
#: RMS below this (about -100 dBFS) counts as silence
SILENCE_RMS = 1e-5
PESQ_MIN_SECONDS = 0.25
STOI_MIN_FRAMES = 30  # pystoi's intermediate-intelligibility window, after silence removal


def _to_numpy(x, role: str, utt_id: str) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise DataError(f"{utt_id}: the {role} signal has shape {x.shape}; metrics take one mono "
                        "utterance (T,) at a time")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64) / (32768.0 if np.issubdtype(x.dtype, np.integer) else 1.0)
    x = x.astype(np.float64, copy=False)
    if x.size == 0:
        raise DataError(f"{utt_id}: the {role} signal is empty")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{utt_id}: the {role} signal contains NaN or Inf samples "
                        "(check the model output or the vocoder)")
    return x


def _pair(ref, deg, utt_id: str, sample_rate: Optional[int] = None,
          min_seconds: float = 0.0, check_silence: bool = True):
    ref = _to_numpy(ref, "reference", utt_id)
    deg = _to_numpy(deg, "degraded", utt_id)
    if ref.size != deg.size:
        diff = abs(ref.size - deg.size)
        if diff > MAX_LENGTH_MISMATCH:
            raise DataError(f"{utt_id}: reference has {ref.size} samples but the degraded signal "
                            f"{deg.size}; align or trim them first (at most {MAX_LENGTH_MISMATCH} "
                            "samples are trimmed automatically)")
        n = min(ref.size, deg.size)
        ref, deg = ref[:n], deg[:n]
    if sample_rate is not None and min_seconds > 0 and ref.size < min_seconds * sample_rate:
        raise DataError(f"{utt_id}: {ref.size} samples ({ref.size / sample_rate:.3f} s) is too short; "
                        f"this metric needs at least {min_seconds:g} s")
    if check_silence:
        for role, x in (("reference", ref), ("degraded", deg)):
            rms = float(np.sqrt(np.mean(x * x)))
            if rms < SILENCE_RMS:
                raise DataError(f"{utt_id}: the {role} signal is silent (RMS {rms:.2e}); "
                                "this metric cannot score silence — drop the utterance or check it")
    return ref, deg


def pesq(ref, deg, sample_rate: int = 16000, mode: str = "wb", *, utt_id: str = "<utterance>") -> float:
    """PESQ MOS-LQO of ``deg`` against ``ref``.

    Args:
        ref, deg: (T,) waveforms at ``sample_rate``.
        sample_rate: 16000 for ``'wb'``; 8000 or 16000 for ``'nb'``.
        mode: ``'wb'`` (P.862.2, range about 1.04-4.64) or ``'nb'`` (P.862, about 1.02-4.55).

    Raises:
        DataError: wrong rate, shorter than 0.25 s, silent, or no speech PESQ can detect.
    """
    if mode not in ("wb", "nb"):
        raise ValueError(f"PESQ mode must be 'wb' or 'nb', got {mode!r}")
    allowed = (16000,) if mode == "wb" else (8000, 16000)
    if sample_rate not in allowed:
        raise DataError(f"{utt_id}: PESQ-{mode.upper()} needs a sample rate of "
                        f"{' or '.join(map(str, allowed))} Hz, got {sample_rate} Hz; resample first")
    ref, deg = _pair(ref, deg, utt_id, sample_rate, PESQ_MIN_SECONDS)
    import pesq as pesq_pkg

    try:
        return float(pesq_pkg.pesq(sample_rate, ref, deg, mode))
    except pesq_pkg.PesqError as err:
        raise DataError(f"{utt_id}: PESQ-{mode.upper()} cannot score this pair ({type(err).__name__}: "
                        f"{err}); the reference must contain speech") from None


def stoi(ref, deg, sample_rate: int = 16000, extended: bool = False, *,
         utt_id: str = "<utterance>") -> float:
    """STOI (or extended STOI with ``extended=True``) of ``deg`` against ``ref``, in [0, 1]
    (ESTOI can go slightly below 0).

    Raises:
        DataError: silent input, or fewer than 30 analysis frames (about 0.4 s of speech at
            10 kHz) left after pystoi's silent-frame removal.
    """
    name = "ESTOI" if extended else "STOI"
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
        raise DataError(f"{utt_id}: {name} needs a sample rate in Hz, got {sample_rate!r}")
    ref, deg = _pair(ref, deg, utt_id, sample_rate)
    from pystoi import stoi as pystoi_stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi_stoi(ref, deg, int(sample_rate), extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise DataError(f"{utt_id}: too little speech for {name}: fewer than {STOI_MIN_FRAMES} frames "
                        "remain after removing silent frames (need roughly 0.4 s of speech)")
    if not math.isfinite(value):
        raise DataError(f"{utt_id}: {name} is not finite for this pair (near-silent input?)")
    return value


def estoi(ref, deg, sample_rate: int = 16000, *, utt_id: str = "<utterance>") -> float:
    """Extended STOI (Jensen & Taal 2016); see :func:`stoi`."""
    return stoi(ref, deg, sample_rate, extended=True, utt_id=utt_id)


def si_sdr(ref, deg, *, utt_id: str = "<utterance>", zero_mean: bool = True) -> float:
    """Scale-invariant SDR in dB: ``10 log10(|a ref|^2 / |a ref - deg|^2)`` with the optimal ``a``.

    Identical signals give a large finite value (capped at 300 dB).

    Raises:
        DataError: silent reference (the target is undefined) or lengths that do not match.
    """
    ref, deg = _pair(ref, deg, utt_id, check_silence=False)
    if zero_mean:
        ref = ref - ref.mean()
        deg = deg - deg.mean()
    energy = float(ref @ ref)
    if math.sqrt(energy / ref.size) < SILENCE_RMS:
        raise DataError(f"{utt_id}: SI-SDR is undefined for a silent reference")
    alpha = float(ref @ deg) / energy
    target = alpha * ref
    noise = deg - target
    signal_energy = float(target @ target)
    noise_energy = max(float(noise @ noise), 1e-30 * signal_energy, np.finfo(np.float64).tiny)
    return float(10.0 * np.log10(max(signal_energy, np.finfo(np.float64).tiny) / noise_energy))


def _power_spectra(ref, deg, n_fft: int, hop_length: int):
    from speechgen.signal.stft import stft

    x = torch.from_numpy(np.stack([ref, deg]))
    spec = stft(x, n_fft, hop_length)
    return spec.abs().square().numpy()


def log_spectral_distance(ref, deg, *, n_fft: int = 512, hop_length: int = 128,
                          floor: float = 1e-10, utt_id: str = "<utterance>") -> float:
    """Log-spectral distance in dB: ``mean_n sqrt(mean_f (10 log10(P_ref / P_deg))^2)``, with
    power spectra floored at ``floor``. 0 for identical signals."""
    ref, deg = _pair(ref, deg, utt_id)
    if ref.size < n_fft // 2 + 1:
        raise DataError(f"{utt_id}: {ref.size} samples is shorter than half an FFT frame ({n_fft})")
    p = _power_spectra(ref, deg, n_fft, hop_length)
    diff = 10.0 * (np.log10(np.maximum(p[0], floor)) - np.log10(np.maximum(p[1], floor)))
    return float(np.mean(np.sqrt(np.mean(diff * diff, axis=0))))


def spectral_convergence(ref, deg, *, n_fft: int = 512, hop_length: int = 128,
                         utt_id: str = "<utterance>") -> float:
    """Spectral convergence ``|| |S_deg| - |S_ref| ||_F / || |S_ref| ||_F`` of the STFT magnitudes
    (0 for identical signals; about 1 or more for unrelated ones)."""
    ref, deg = _pair(ref, deg, utt_id, check_silence=False)
    if float(np.sqrt(np.mean(ref * ref))) < SILENCE_RMS:
        raise DataError(f"{utt_id}: spectral convergence is undefined for a silent reference")
    if ref.size < n_fft // 2 + 1:
        raise DataError(f"{utt_id}: {ref.size} samples is shorter than half an FFT frame ({n_fft})")
    mag = np.sqrt(_power_spectra(ref, deg, n_fft, hop_length))
    return float(np.linalg.norm(mag[1] - mag[0]) / np.linalg.norm(mag[0]))


def spectral_convergence_mag(est_mag: Tensor, ref_mag: Tensor) -> Tensor:
    """Batched spectral convergence of magnitudes ``(B, F, N)`` -> (B,) (scalar for (F, N)).

    Raises:
        ValueError: on a shape mismatch or an all-zero reference item.
    """
    if est_mag.shape != ref_mag.shape:
        raise ValueError(f"shape mismatch: {tuple(est_mag.shape)} vs {tuple(ref_mag.shape)}")
    num = torch.linalg.vector_norm(est_mag - ref_mag, dim=(-2, -1))
    den = torch.linalg.vector_norm(ref_mag, dim=(-2, -1))
    if bool((den == 0).any()):
        raise ValueError("spectral convergence is undefined for an all-zero reference magnitude")
    return num / den


def evaluate(ref, deg, sample_rate: int = 16000, *, utt_id: str = "<utterance>",
             metrics: Iterable[str] = ("pesq_wb", "stoi", "estoi", "si_sdr", "lsd", "sc"),
             n_fft: int = 512, hop_length: int = 128) -> Dict[str, float]:
    """Several metrics of one utterance as ``{name: value}``; names from :data:`METRICS`.
    The first metric that cannot run raises its :class:`DataError` (naming ``utt_id``)."""
    out: Dict[str, float] = {}
    for name in metrics:
        if name == "pesq_wb":
            out[name] = pesq(ref, deg, sample_rate, "wb", utt_id=utt_id)
        elif name == "pesq_nb":
            out[name] = pesq(ref, deg, sample_rate, "nb", utt_id=utt_id)
        elif name == "stoi":
            out[name] = stoi(ref, deg, sample_rate, utt_id=utt_id)
        elif name == "estoi":
            out[name] = estoi(ref, deg, sample_rate, utt_id=utt_id)
        elif name == "si_sdr":
            out[name] = si_sdr(ref, deg, utt_id=utt_id)
        elif name == "lsd":
            out[name] = log_spectral_distance(ref, deg, n_fft=n_fft, hop_length=hop_length, utt_id=utt_id)
        elif name == "sc":
            out[name] = spectral_convergence(ref, deg, n_fft=n_fft, hop_length=hop_length, utt_id=utt_id)
        else:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return out
