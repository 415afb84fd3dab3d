"""Tiny audio files for the corpus tests (written under each test's tmp_path)."""
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000


def write_tone(path: Path, seconds: float = 0.5, freq: float = 220.0, fmt: str = "WAV") -> Path:
    """A mono 16 kHz tone (16-bit) at ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), RATE, subtype="PCM_16", format=fmt)
    return path


def write_textgrid(path: Path, phones, words=(), duration: float = 0.5) -> Path:
    """A TextGrid with a ``words`` and a ``phones`` tier (as the Montreal Forced Aligner writes) at ``path``."""
    from praatio import textgrid
    from praatio.data_classes.interval_tier import IntervalTier

    grid = textgrid.Textgrid()
    for name, entries in (("words", words), ("phones", phones)):
        grid.addTier(IntervalTier(name, list(entries), 0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path
