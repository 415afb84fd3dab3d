"""Phase derivatives of an STFT: group delay and instantaneous frequency, with principal values.

Both derivatives are finite differences of the phase of :func:`speechgen.signal.stft` output,
taken as the angle of ``X[k+1] * conj(X[k])`` so no explicit unwrapping is needed, and returned
as principal values in ``[-pi, pi)`` (radians per bin or per hop) or converted to physical units.

Phase conventions (see :mod:`speechgen.signal.stft`): the DFT of frame ``n`` is referenced to the
frame's first sample, so a stationary component at ``f`` Hz advances by ``2 pi f hop / sr`` per
hop, and an impulse ``d`` samples after the frame *centre* has a phase slope of
``-2 pi (d + n_fft / 2) / n_fft`` per bin. ``reference='centre'`` removes the ``n_fft / 2`` term.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = ["principal_value", "group_delay", "instantaneous_frequency", "bin_frequencies"]


def principal_value(phase: Tensor) -> Tensor:
    """Wrap angles to the principal interval ``[-pi, pi)``, element-wise (any shape)."""
    two_pi = 2.0 * math.pi
    return phase - two_pi * torch.floor((phase + math.pi) / two_pi)


def bin_frequencies(n_fft: int, sample_rate: Optional[float] = None, *, dtype=torch.float32,
                    device=None) -> Tensor:
    """Centre frequencies of the ``F = n_fft // 2 + 1`` bins: in Hz, or in cycles/sample without a rate."""
    k = torch.arange(n_fft // 2 + 1, dtype=dtype, device=device) / n_fft
    return k * sample_rate if sample_rate is not None else k


def _check_spec(spec: Tensor, name: str) -> Tensor:
    if not torch.is_tensor(spec) or not spec.is_complex():
        raise ValueError(f"{name} expects a complex spectrogram spec: (B, F, N) from stft()")
    if spec.dim() < 2:
        raise ValueError(f"{name} expects spec: (B, F, N) or (F, N), got shape {tuple(spec.shape)}")
    return spec


def group_delay(
    spec: Tensor,
    *,
    unit: str = "rad",
    n_fft: Optional[int] = None,
    sample_rate: Optional[float] = None,
    reference: str = "start",
) -> Tensor:
    """Group delay: the negative phase difference along frequency.

    ``gd[m, n] = -princ(angle(X[m + 1, n]) - angle(X[m, n]))`` for ``m < F - 1``; the last bin repeats
    the value of the one below so the shape is kept.

    Args:
        spec: (B, F, N) complex STFT (or (F, N)).
        unit: ``'rad'`` (radians per bin, in ``[-pi, pi)``), ``'samples'`` or ``'seconds'``
            (delay = ``gd * n_fft / (2 pi)``; needs ``n_fft``, and ``sample_rate`` for seconds).
        n_fft: FFT size (default ``2 * (F - 1)``).
        reference: ``'start'`` measures delays from each frame's first sample (the raw DFT phase),
            ``'centre'`` from the frame centre (adds ``pi`` per bin, i.e. ``-n_fft / 2`` samples),
            which makes the delay of events inside the window unambiguous in ``(-n_fft/2, n_fft/2]``.

    Returns:
        gd: (B, F, N) real.
    """
    spec = _check_spec(spec, "group_delay")
    if reference not in ("start", "centre", "center"):
        raise ValueError(f"reference must be 'start' or 'centre', got {reference!r}")
    if unit not in ("rad", "samples", "seconds"):
        raise ValueError(f"unit must be 'rad', 'samples' or 'seconds', got {unit!r}")
    n_fft = 2 * (spec.shape[-2] - 1) if n_fft is None else n_fft
    cross = spec[..., 1:, :] * spec[..., :-1, :].conj()
    if reference != "start":
        cross = -cross  # multiplying X[m] by (-1)^m moves the phase reference to the frame centre
    gd = -torch.angle(cross)
    gd = torch.cat([gd, gd[..., -1:, :]], dim=-2)
    if unit == "rad":
        return gd
    delay = gd * (n_fft / (2.0 * math.pi))
    if unit == "samples":
        return delay
    if sample_rate is None:
        raise ValueError("group_delay(unit='seconds') needs sample_rate")
    return delay / sample_rate


def instantaneous_frequency(
    spec: Tensor,
    hop_length: int,
    *,
    n_fft: Optional[int] = None,
    relative: bool = False,
    unit: str = "rad",
    sample_rate: Optional[float] = None,
) -> Tensor:
    """Instantaneous frequency: the phase difference along time.

    ``d[m, n] = angle(X[m, n] * conj(X[m, n - 1]))`` (the first frame repeats the second).

    Args:
        spec: (B, F, N) complex STFT.
        hop_length: frame shift in samples.
        n_fft: FFT size (default ``2 * (F - 1)``).
        relative: subtract the advance of the bin's centre frequency, ``2 pi m hop / n_fft``, before
            wrapping, giving the deviation from the bin centre (the phase-vocoder quantity).
        unit: ``'rad'``: radians per hop, principal value in ``[-pi, pi)``;
            ``'hz'``: with ``relative=False`` the absolute frequency estimate
            ``m sr / n_fft + dev sr / (2 pi hop)`` (unambiguous within ``sr / (2 hop)`` of the bin
            centre), with ``relative=True`` the deviation in Hz; ``'cycles'``: as ``'hz'`` in
            cycles per sample (no ``sample_rate`` needed).

    Returns:
        ifreq: (B, F, N) real.
    """
    spec = _check_spec(spec, "instantaneous_frequency")
    if unit not in ("rad", "hz", "cycles"):
        raise ValueError(f"unit must be 'rad', 'hz' or 'cycles', got {unit!r}")
    if unit == "hz" and sample_rate is None:
        raise ValueError("instantaneous_frequency(unit='hz') needs sample_rate")
    n_freqs = spec.shape[-2]
    n_fft = 2 * (n_freqs - 1) if n_fft is None else n_fft
    if spec.shape[-1] < 2:
        raise ValueError("instantaneous_frequency needs at least two frames")
    real_dtype = spec.real.dtype
    d = torch.angle(spec[..., 1:] * spec[..., :-1].conj())
    d = torch.cat([d[..., :1], d], dim=-1)
    centre_adv = (2.0 * math.pi * hop_length / n_fft) * torch.arange(
        n_freqs, dtype=real_dtype, device=spec.device).unsqueeze(-1)
    if unit == "rad":
        return principal_value(d - centre_adv) if relative else principal_value(d)
    dev = principal_value(d - centre_adv)
    scale = 1.0 / (2.0 * math.pi * hop_length)  # radians per hop -> cycles per sample
    cycles = dev * scale if relative else (centre_adv + dev) * scale
    return cycles * sample_rate if unit == "hz" else cycles
