"""Batched STFT / inverse STFT on torch tensors, and (log-)magnitudes.

Conventions (shared by every module of :mod:`speechgen.signal`):

* waveforms are ``x: (B, T)`` (a single ``(T,)`` signal is accepted and gives unbatched output);
* spectrograms are complex ``spec: (B, F, N)`` with ``F = n_fft // 2 + 1`` bins and ``N`` frames;
* with ``center=True`` frame ``n`` is centred on sample ``n * hop_length`` (the signal is
  zero-padded by ``n_fft // 2`` on both sides, as in librosa >= 0.10), so ``N = 1 + T // hop``;
* the window of ``win_length <= n_fft`` samples sits in the middle of the FFT frame and the DFT
  phase is referenced to the frame's first sample (the torch.stft / librosa convention).

The inverse is the least-squares (Griffin & Lim 1984) overlap-add: frames are windowed again and
divided by the summed squared window, which reconstructs the signal exactly wherever that sum is
non-zero (the NOLA condition), whatever the window, hop and FFT size.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional, Union

import torch
from torch import Tensor

from speechgen.errors import ConfigError

__all__ = [
    "WINDOWS",
    "STFTConfig",
    "get_window",
    "num_frames",
    "stft",
    "istft",
    "magnitude",
    "log_magnitude",
    "power_to_db",
]

#: window names understood by :func:`get_window` (periodic, i.e. DFT-even, except Kaldi's Povey window,
#: which is symmetric as Kaldi defines it).
WINDOWS = ("hann", "sqrt_hann", "hamming", "blackman", "povey", "rect")

WindowSpec = Union[str, Tensor]


def _window_values(name: str, length: int, dtype: torch.dtype, device) -> Tensor:
    if name == "hann":
        return torch.hann_window(length, periodic=True, dtype=dtype, device=device)
    if name == "sqrt_hann":
        return torch.hann_window(length, periodic=True, dtype=dtype, device=device).sqrt()
    if name == "hamming":
        return torch.hamming_window(length, periodic=True, dtype=dtype, device=device)
    if name == "blackman":
        return torch.blackman_window(length, periodic=True, dtype=dtype, device=device)
    if name == "povey":  # Kaldi's default: a symmetric Hann window raised to the power 0.85
        return torch.hann_window(length, periodic=False, dtype=dtype, device=device).pow(0.85)
    if name in ("rect", "boxcar", "ones"):
        return torch.ones(length, dtype=dtype, device=device)
    raise ConfigError(f"unknown window {name!r}; use one of {', '.join(WINDOWS)} or pass a tensor")


def get_window(
    window: WindowSpec,
    win_length: int,
    n_fft: Optional[int] = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: Optional[Union[str, torch.device]] = None,
) -> Tensor:
    """The analysis window, zero-padded symmetrically to ``n_fft`` samples.

    Args:
        window: a name from :data:`WINDOWS` or a 1-D tensor of ``win_length`` values.
        win_length: window length in samples (``<= n_fft``).
        n_fft: FFT size; defaults to ``win_length``.

    Returns:
        w: (n_fft,) real tensor, the window centred in the frame (torch.stft's layout).
    """
    n_fft = win_length if n_fft is None else n_fft
    if win_length > n_fft or win_length < 1:
        raise ConfigError(f"win_length={win_length} must be in [1, n_fft={n_fft}]")
    if isinstance(window, Tensor):
        if window.dim() != 1 or window.numel() != win_length:
            raise ConfigError(
                f"window tensor has shape {tuple(window.shape)}, expected ({win_length},)")
        w = window.to(dtype=dtype, device=device)
    else:
        w = _window_values(str(window).lower(), win_length, dtype, device)
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        w = torch.nn.functional.pad(w, (left, n_fft - win_length - left))
    return w


@dataclass(frozen=True)
class STFTConfig:
    """STFT settings as they appear in a recipe config (``stft: {n_fft: 512, hop_length: 128}``).

    ``win_length`` defaults to ``n_fft``. ``sample_rate`` is carried along for the metrics and mel
    filterbanks; it does not change the transform.
    """

    n_fft: int = 512
    hop_length: int = 128
    win_length: Optional[int] = None
    window: str = "hann"
    center: bool = True
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        for key in ("n_fft", "hop_length", "sample_rate"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"stft.{key} must be a positive integer, got {value!r}")
        if self.win_length is not None and (
            not isinstance(self.win_length, int) or not 1 <= self.win_length <= self.n_fft
        ):
            raise ConfigError(
                f"stft.win_length must be an integer in [1, n_fft={self.n_fft}], got {self.win_length!r}")
        if self.hop_length > self.win_size:
            raise ConfigError(
                f"stft.hop_length={self.hop_length} exceeds the window ({self.win_size} samples): "
                "the frames would leave gaps and the inverse STFT is undefined")
        if str(self.window).lower() not in WINDOWS:
            raise ConfigError(f"stft.window={self.window!r}; use one of {', '.join(WINDOWS)}")

    @property
    def win_size(self) -> int:
        """``win_length`` with its default (``n_fft``) applied."""
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def n_freqs(self) -> int:
        """Number of frequency bins ``F = n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @classmethod
    def from_dict(cls, cfg: Optional[Mapping[str, Any]]) -> "STFTConfig":
        """Build from a config mapping; unknown keys raise :class:`ConfigError` naming them."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ConfigError(
                f"unknown stft key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        return cls(**cfg)

    def to_dict(self) -> dict:
        return asdict(self)

    def kwargs(self) -> dict:
        """Keyword arguments for :func:`stft`, :func:`istft` and the phase-reconstruction functions."""
        return dict(n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_size,
                    window=self.window, center=self.center)

    def stft(self, x: Tensor) -> Tensor:
        """``x: (B, T)`` -> ``spec: (B, F, N)``."""
        return stft(x, **self.kwargs())

    def istft(self, spec: Tensor, length: Optional[int] = None) -> Tensor:
        """``spec: (B, F, N)`` -> ``x: (B, T)``."""
        return istft(spec, length=length, **self.kwargs())


def num_frames(num_samples: int, n_fft: int, hop_length: int, center: bool = True) -> int:
    """Frames of :func:`stft` for a signal of ``num_samples`` samples."""
    if center:
        return 1 + num_samples // hop_length
    if num_samples < n_fft:
        return 0
    return 1 + (num_samples - n_fft) // hop_length


def _check_params(n_fft: int, hop_length: int, win_length: Optional[int]) -> int:
    win_length = n_fft if win_length is None else int(win_length)
    if n_fft < 1 or hop_length < 1:
        raise ConfigError(f"n_fft={n_fft} and hop_length={hop_length} must be positive")
    if not 1 <= win_length <= n_fft:
        raise ConfigError(f"win_length={win_length} must be in [1, n_fft={n_fft}]")
    return win_length


def stft(
    x: Tensor,
    n_fft: int = 512,
    hop_length: int = 128,
    win_length: Optional[int] = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: str = "constant",
) -> Tensor:
    """Short-time Fourier transform.

    Args:
        x: (B, T) or (T,) real waveform (any float dtype, any device).
        n_fft: FFT size; ``F = n_fft // 2 + 1`` bins.
        hop_length: frame shift in samples.
        win_length: window length (``<= n_fft``), default ``n_fft``.
        window: window name (see :data:`WINDOWS`) or a (win_length,) tensor.
        center: pad ``n_fft // 2`` samples on both sides so frame ``n`` is centred on ``n * hop``.
        pad_mode: padding for ``center`` (``'constant'`` = zeros, or ``'reflect'``).

    Returns:
        spec: (B, F, N) complex (or (F, N) for a 1-D input).
    """
    win_length = _check_params(n_fft, hop_length, win_length)
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.float()
    if x.dim() not in (1, 2):
        raise ValueError(f"stft expects x: (B, T) or (T,), got shape {tuple(x.shape)}")
    if not center and x.shape[-1] < n_fft:
        raise ValueError(f"signal of {x.shape[-1]} samples is shorter than n_fft={n_fft} (center=False)")
    w = get_window(window, win_length, n_fft, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop_length, win_length=n_fft, window=w, center=center,
                      pad_mode=pad_mode, normalized=False, onesided=True, return_complex=True)
    return spec


def istft(
    spec: Tensor,
    n_fft: int = 512,
    hop_length: int = 128,
    win_length: Optional[int] = None,
    window: WindowSpec = "hann",
    center: bool = True,
    length: Optional[int] = None,
) -> Tensor:
    """Inverse of :func:`stft` (least-squares weighted overlap-add).

    Args:
        spec: (B, F, N) or (F, N) complex, ``F = n_fft // 2 + 1``.
        length: output length in samples; default ``(N - 1) * hop`` with ``center=True``.

    Returns:
        x: (B, T) real (or (T,) for a 2-D input).

    Raises:
        ValueError: when the window/hop pair leaves samples uncovered (NOLA violated).
    """
    win_length = _check_params(n_fft, hop_length, win_length)
    if not spec.is_complex():
        raise ValueError("istft expects a complex spectrogram; combine magnitude and phase first "
                         "(e.g. torch.polar(mag, phase))")
    if spec.dim() not in (2, 3) or spec.shape[-2] != n_fft // 2 + 1:
        raise ValueError(
            f"istft expects spec: (B, {n_fft // 2 + 1}, N) for n_fft={n_fft}, got {tuple(spec.shape)}")
    real_dtype = spec.real.dtype
    w = get_window(window, win_length, n_fft, dtype=real_dtype, device=spec.device)
    try:
        return torch.istft(spec, n_fft, hop_length=hop_length, win_length=n_fft, window=w,
                           center=center, normalized=False, onesided=True, length=length)
    except RuntimeError as err:
        if "window overlap add" not in str(err) and "NOLA" not in str(err):
            raise
    # torch refuses any zero of the window envelope; zeros confined to the outer frame (e.g. the
    # first sample under a Hann window with center=False) only lose those samples, so invert with
    # an explicit overlap-add that leaves them at 0. Zeros inside the signal are a real NOLA failure.
    return _istft_edges(spec, n_fft, hop_length, w, center, length, window, win_length)


def _istft_edges(spec, n_fft, hop, w, center, length, window, win_length) -> Tensor:
    squeeze = spec.dim() == 2
    spec3 = spec.unsqueeze(0) if squeeze else spec
    n = spec3.shape[-1]
    total = (n - 1) * hop + n_fft
    frames = torch.fft.irfft(spec3, n=n_fft, dim=-2) * w[:, None]  # (B, n_fft, N)
    fold = dict(output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
    y = torch.nn.functional.fold(frames, **fold).reshape(spec3.shape[0], total)
    env = torch.nn.functional.fold((w * w)[None, :, None].expand(1, n_fft, n).contiguous(),
                                   **fold).reshape(total)
    tiny = 1e-11 * float(env.max())
    bad = torch.nonzero(env <= tiny).flatten()
    if bad.numel():
        interior = bad[(bad >= n_fft) & (bad < total - n_fft)]
        if interior.numel():
            raise ValueError(
                f"cannot invert this STFT: window {window!r} of {win_length} samples with hop "
                f"{hop} leaves samples with zero window weight (NOLA condition violated); "
                "use a smaller hop or another window")
    y = torch.where(env > tiny, y / env.clamp_min(tiny if tiny > 0 else 1e-30), torch.zeros_like(y))
    start = n_fft // 2 if center else 0
    end = total - n_fft // 2 if center else total
    if length is not None:
        end = start + length
        if end > total:
            y = torch.nn.functional.pad(y, (0, end - total))
    y = y[:, start:end]
    return y[0] if squeeze else y


def magnitude(spec: Tensor, power: float = 1.0) -> Tensor:
    """``|spec| ** power`` for a complex ``spec: (B, F, N)``; returns real (B, F, N)."""
    mag = spec.abs()
    return mag if power == 1.0 else mag.pow(power)


def log_magnitude(spec: Tensor, floor: float = 1e-5, power: float = 1.0) -> Tensor:
    """Natural log of ``max(|spec| ** power, floor)``.

    Args:
        spec: (B, F, N), complex (a spectrogram) or real non-negative (a magnitude).
        floor: lower bound before the log (``log(1e-5) = -11.5``), so silence stays finite.

    Returns:
        (B, F, N) real. Invert with ``torch.exp`` (values at the floor stay at the floor).
    """
    mag = spec.abs() if spec.is_complex() else spec
    if power != 1.0:
        mag = mag.pow(power)
    return torch.log(torch.clamp(mag, min=floor))


def power_to_db(power: Tensor, floor: float = 1e-10) -> Tensor:
    """``10 log10(max(power, floor))``, element-wise."""
    return 10.0 * torch.log10(torch.clamp(power, min=floor))

