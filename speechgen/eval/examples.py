"""Listenable audio and spectrogram figures of original and manipulated segments."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from speechgen.data.features import SegmentSpecConfig


def log_spec_to_magnitude(log_spec: np.ndarray, conf: SegmentSpecConfig) -> torch.Tensor:
    """(B, T, F') log-magnitude (DC dropped) -> (B, n_fft // 2 + 1, T) linear magnitude, DC set to 0."""
    mag = torch.from_numpy(np.exp(np.asarray(log_spec, dtype=np.float32))).transpose(1, 2)
    if conf.drop_dc:
        mag = torch.cat([torch.zeros_like(mag[:, :1]), mag], dim=1)
    return mag


def segments_to_audio(log_spec: np.ndarray, conf: SegmentSpecConfig, n_iter: int = 100,
                      phase: Optional[torch.Tensor] = None, seed: int = 0) -> np.ndarray:
    """Waveforms of log-magnitude segments: (B, T, F') -> (B, conf.span).

    The phase is found by fast Griffin-Lim from random phase, or taken from ``phase`` (B, F, T)
    (e.g. the original segment's) without iterations.
    """
    from speechgen.signal import griffin_lim

    mag = log_spec_to_magnitude(log_spec, conf)
    kwargs = dict(n_fft=conf.n_fft, hop_length=conf.hop_length, win_length=conf.win_length,
                  window=conf.window, center=False, length=conf.span, seed=seed)
    if phase is not None:
        wav = griffin_lim(mag, n_iter=0, init=phase, **kwargs)
    else:
        wav = griffin_lim(mag, n_iter=n_iter, momentum=0.99, init="random", **kwargs)
    return wav.numpy()


def segment_phase(x: np.ndarray, start: int, conf: SegmentSpecConfig) -> torch.Tensor:
    """Phase (F, T) of the analysis span of a segment starting at sample ``start`` of waveform ``x``."""
    from speechgen.signal import stft

    span = torch.from_numpy(np.ascontiguousarray(x[start:start + conf.span]))
    spec = stft(span, n_fft=conf.n_fft, hop_length=conf.hop_length, win_length=conf.win_length,
                window=conf.window, center=False)
    return torch.angle(spec)


def plot_examples(rows: Sequence[np.ndarray], row_titles: Sequence[str], col_titles: Sequence[Sequence[str]],
                  out_png: str | Path, conf: SegmentSpecConfig) -> None:
    """Grid of log-magnitude spectrograms: rows (e.g. original / phone- / speaker-converted), one column per
    example. Each row array is (N, T, F'); ``col_titles[r][c]`` labels each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from speechgen.eval.plots import save_figure

    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.4 * n_rows), squeeze=False)
    vmin = min(float(r.min()) for r in rows)
    vmax = max(float(r.max()) for r in rows)
    khz = conf.sample_rate / 2000
    ms = conf.n_frames * conf.hop_length * 1000 / conf.sample_rate
    for r, (row, title) in enumerate(zip(rows, row_titles)):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.imshow(row[c].T, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                      extent=(0, ms, khz / conf.n_bins, khz))
            ax.set_title(col_titles[r][c], fontsize=8)
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel(f"{title}\nkHz", fontsize=8)
            if r == n_rows - 1:
                ax.set_xlabel("ms", fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=110)
