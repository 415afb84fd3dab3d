"""Mel filterbanks, (log-)mel spectrograms and their approximate inverse.

The filterbank is a matrix ``fb: (n_mels, F)`` of triangles whose corners are equally spaced on the
mel scale (``'htk'``/Kaldi: ``2595 log10(1 + f / 700)``; ``'slaney'``: linear below 1 kHz, logarithmic
above, as in the Auditory Toolbox and librosa's default); the triangles are linear in Hz. With
``norm='slaney'`` each triangle has unit area (so its output is a mean magnitude).

``mel = fb @ mag`` maps a magnitude ``(B, F, N)`` to ``(B, n_mels, N)``. Going back is
under-determined (``n_mels < F``): :func:`mel_to_linear` returns the non-negative least-squares
solution (projected gradient, warm-started from the pseudo-inverse) or the clipped pseudo-inverse,
both of which recover spectra that are smooth at the filterbank's resolution.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from speechgen.errors import ConfigError

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "mel_spectrogram",
    "log_mel",
    "mel_to_linear",
    "log_mel_to_linear",
]

_SLANEY_F_SP = 200.0 / 3  # Hz per mel below the break
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(freq: Tensor, scale: str = "slaney") -> Tensor:
    """Hz -> mel, element-wise (``scale``: ``'slaney'``, ``'htk'`` or its alias ``'kaldi'``)."""
    freq = torch.as_tensor(freq, dtype=torch.float64)
    if scale in ("htk", "kaldi"):
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    if scale != "slaney":
        raise ConfigError(f"mel scale must be 'slaney', 'htk' or 'kaldi', got {scale!r}")
    lin = freq / _SLANEY_F_SP
    brk = _SLANEY_BREAK_HZ / _SLANEY_F_SP
    log = brk + torch.log(torch.clamp(freq, min=1e-10) / _SLANEY_BREAK_HZ) / _SLANEY_LOGSTEP
    return torch.where(freq >= _SLANEY_BREAK_HZ, log, lin)


def mel_to_hz(mel: Tensor, scale: str = "slaney") -> Tensor:
    """mel -> Hz, the inverse of :func:`hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    if scale in ("htk", "kaldi"):
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if scale != "slaney":
        raise ConfigError(f"mel scale must be 'slaney', 'htk' or 'kaldi', got {scale!r}")
    brk = _SLANEY_BREAK_HZ / _SLANEY_F_SP
    return torch.where(mel >= brk, _SLANEY_BREAK_HZ * torch.exp(_SLANEY_LOGSTEP * (mel - brk)),
                       _SLANEY_F_SP * mel)


def mel_filterbank(
    sample_rate: int = 16000,
    n_fft: int = 512,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: Optional[float] = None,
    *,
    scale: str = "slaney",
    norm: Optional[str] = "slaney",
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Tensor:
    """Triangular mel filterbank.

    Args:
        sample_rate: Hz.
        n_fft: FFT size; the bank acts on ``F = n_fft // 2 + 1`` bins.
        n_mels: number of filters.
        fmin, fmax: band edges in Hz (``fmax`` defaults to ``sample_rate / 2``).
        scale: ``'slaney'``, ``'htk'`` (triangles linear in Hz between mel-spaced edges, as librosa's
            ``htk=True``) or ``'kaldi'`` (Kaldi's MelBanks: the HTK mel scale, triangles linear in mel,
            zero at their edges and at the Nyquist bin).
        norm: ``'slaney'`` (unit-area triangles) or ``None`` (unit peaks).

    Returns:
        fb: (n_mels, F).
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0 + 1e-9:
        raise ConfigError(f"need 0 <= fmin < fmax <= sample_rate/2; got fmin={fmin}, fmax={fmax}, "
                          f"sample_rate={sample_rate}")
    if n_mels < 1:
        raise ConfigError(f"n_mels must be positive, got {n_mels}")
    if norm not in (None, "slaney"):
        raise ConfigError(f"norm must be 'slaney' or None, got {norm!r}")
    n_freqs = n_fft // 2 + 1
    fft_hz = torch.linspace(0.0, sample_rate / 2.0, n_freqs, dtype=torch.float64)
    lo, hi = hz_to_mel(torch.tensor(fmin), scale), hz_to_mel(torch.tensor(fmax), scale)
    edges = mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2, dtype=torch.float64), scale)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    if scale == "kaldi":
        fb = _kaldi_triangles(hz_to_mel(fft_hz, scale), *(hz_to_mel(e, scale) for e in (left, centre, right)))
    else:
        up = (fft_hz[None, :] - left) / (centre - left)
        down = (right - fft_hz[None, :]) / (right - centre)
        fb = torch.clamp(torch.minimum(up, down), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (right - left))
    return fb.to(dtype=dtype, device=device)


def _kaldi_triangles(mel: Tensor, left: Tensor, centre: Tensor, right: Tensor) -> Tensor:
    """Kaldi's weights of bins at ``mel`` (F,) for triangles (n, 1): linear in mel, zero outside the open
    interval (left, right) and at the last (Nyquist) bin, which Kaldi's banks leave out."""
    up = (mel[None, :] - left) / (centre - left)
    down = (right - mel[None, :]) / (right - centre)
    inside = (mel[None, :] > left) & (mel[None, :] < right)
    fb = torch.where(inside, torch.where(mel[None, :] <= centre, up, down), torch.zeros((), dtype=mel.dtype))
    fb[:, -1] = 0.0
    return fb


def _apply(fb: Tensor, x: Tensor) -> Tensor:
    if x.shape[-2] != fb.shape[-1]:
        raise ValueError(f"spectrogram has {x.shape[-2]} bins, filterbank expects {fb.shape[-1]}")
    return torch.matmul(fb.to(dtype=x.dtype, device=x.device), x)


def mel_spectrogram(mag: Tensor, fb: Tensor) -> Tensor:
    """``fb @ mag``: ``mag: (B, F, N)`` (magnitude or power) -> (B, n_mels, N)."""
    if mag.is_complex():
        mag = mag.abs()
    return _apply(fb, mag)


def log_mel(mag: Tensor, fb: Tensor, floor: float = 1e-5) -> Tensor:
    """``log(max(fb @ mag, floor))``: ``mag: (B, F, N)`` -> (B, n_mels, N) (natural log)."""
    return torch.log(torch.clamp(mel_spectrogram(mag, fb), min=floor))


def mel_to_linear(
    mel: Tensor,
    fb: Tensor,
    *,
    method: str = "nnls",
    n_iter: int = 200,
    tol: float = 1e-6,
) -> Tensor:
    """Approximate inverse of ``fb @ mag``: the linear-frequency spectrum from a mel spectrum.

    Args:
        mel: (B, n_mels, N) non-negative mel spectrogram (same ``power`` as the magnitude wanted).
        fb: (n_mels, F) filterbank.
        method: ``'nnls'``: minimise ``||fb @ S - mel||`` over ``S >= 0`` by projected gradient with
            Nesterov momentum, started from the clipped pseudo-inverse; ``'pinv'``: minimum-norm
            least squares clipped at 0 (one matrix product).
        n_iter: maximum NNLS iterations; stops early when the relative update falls below ``tol``.

    Returns:
        mag: (B, F, N) non-negative.
    """
    if method not in ("nnls", "pinv"):
        raise ValueError(f"method must be 'nnls' or 'pinv', got {method!r}")
    if mel.shape[-2] != fb.shape[0]:
        raise ValueError(f"mel has {mel.shape[-2]} channels, filterbank has {fb.shape[0]}")
    work = torch.float64 if mel.dtype == torch.float64 else torch.float32
    A = fb.to(dtype=torch.float64, device=mel.device)
    pinv = torch.linalg.pinv(A).to(work)
    A = A.to(work)
    y = mel.to(work)
    x = torch.clamp(torch.matmul(pinv, y), min=0.0)
    if method == "nnls" and n_iter > 0:
        gram = A.T @ A
        aty = torch.matmul(A.T, y)
        step = 1.0 / float(torch.linalg.matrix_norm(gram, ord=2))
        z, x_prev, t = x.clone(), x, 1.0
        scale = float(x.abs().max()) + 1e-30
        for _ in range(n_iter):
            grad = torch.matmul(gram, z) - aty
            x_new = torch.clamp(z - step * grad, min=0.0)
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            z = x_new + ((t - 1.0) / t_new) * (x_new - x_prev)
            done = float((x_new - x_prev).abs().max()) <= tol * scale
            x_prev, t = x_new, t_new
            if done:
                break
        x = x_prev
    return x.to(mel.dtype)


def log_mel_to_linear(logmel: Tensor, fb: Tensor, **kwargs) -> Tensor:
    """Inverse of :func:`log_mel` up to the floor: ``mel_to_linear(exp(logmel), fb)``."""
    return mel_to_linear(torch.exp(logmel), fb, **kwargs)
