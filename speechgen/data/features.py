"""Fixed-size log-magnitude spectrogram segments, computed for all segments of an utterance at once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from speechgen.errors import DataError


@dataclass(frozen=True)
class SegmentSpecConfig:
    """20 x 200 log-magnitude spectrogram: 25 ms window, 10 ms shift, 400-point FFT, DC dropped."""

    sample_rate: int = 16000
    n_frames: int = 20
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 400
    window: str = "hann"
    drop_dc: bool = True
    floor: float = 1e-5  # magnitude floor before the log

    @property
    def span(self) -> int:
        """Samples one segment's frames read: the window plus (n_frames - 1) hops."""
        return self.win_length + (self.n_frames - 1) * self.hop_length

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1 - int(self.drop_dc)


@lru_cache(maxsize=8)
def _window(name: str, length: int) -> np.ndarray:
    # imported here: scipy.signal takes ~1 s to import, which every process that only reads features
    # (training, encoding, manipulation) would otherwise pay
    from scipy.signal import get_window
    return get_window(name, length, fftbins=True).astype(np.float32)


def analysis_starts(seg_bounds: np.ndarray, n_samples: int, conf: SegmentSpecConfig) -> np.ndarray:
    """First sample read for each segment: the frames are centred on the segment and shifted
    inside the utterance where they would run past an edge (no zero padding).

    Args:
        seg_bounds: (S, 2) segment start and end in samples.
        n_samples: utterance length in samples.
    Returns:
        starts: (S,) int64.
    """
    if n_samples < conf.span:
        raise DataError(f"utterance of {n_samples} samples is shorter than one segment's "
                        f"analysis span ({conf.span} samples)")
    centres = seg_bounds.mean(axis=1)
    starts = np.round(centres - conf.span / 2).astype(np.int64)
    return np.clip(starts, 0, n_samples - conf.span)


def segment_log_spectrograms(x: np.ndarray, starts: np.ndarray, conf: SegmentSpecConfig) -> np.ndarray:
    """Log-magnitude spectrograms of the segments of one waveform.

    Args:
        x: (N,) waveform.
        starts: (S,) first sample of each segment's analysis span.
    Returns:
        feats: (S, n_frames, n_bins) float32.
    """
    offsets = np.arange(conf.n_frames)[:, None] * conf.hop_length + np.arange(conf.win_length)[None, :]
    frames = x[starts[:, None, None] + offsets[None]]  # (S, T, win)
    frames = frames * _window(conf.window, conf.win_length)
    spec = np.abs(np.fft.rfft(frames, n=conf.n_fft, axis=-1))
    if conf.drop_dc:
        spec = spec[..., 1:]
    return np.log(np.maximum(spec, conf.floor)).astype(np.float32)
