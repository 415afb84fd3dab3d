"""Reading and writing waveforms with clear errors for the files users bring."""
from __future__ import annotations

import os
import re
from pathlib import Path

import kaldiio
import numpy as np
import soundfile as sf

from speechgen.errors import DataError


def is_kaldi_entry(spec: str | os.PathLike) -> bool:
    """True for a Kaldi pipe (``cmd |``) or extended filename (``file.ark:123``), not a plain file."""
    spec = str(spec).strip()
    return spec.endswith("|") or (not Path(spec).exists() and re.fullmatch(r".+:\d+(\[[^]]*\])?", spec) is not None)


def _read_kaldi_entry(spec: str) -> tuple[np.ndarray, int]:
    """``(samples (T, C) float32, rate)`` of a pipe or extended filename, read through kaldiio as Kaldi does."""
    try:
        loaded = kaldiio.load_mat(spec)
    except Exception as err:  # kaldiio raises whatever its reader or the command raised
        raise DataError(f"{spec!r}: cannot read this wav.scp entry ({type(err).__name__}: {err}); run the command "
                        "by hand to see why, or fix the entry") from None
    if not isinstance(loaded, tuple):
        raise DataError(f"{spec!r}: this entry holds a feature matrix, not audio; point wav.scp at a wav")
    sr, x = loaded
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    x = x.astype(np.float32)
    return (x[:, None] if x.ndim == 1 else x), int(sr)


def read_audio(spec: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(samples (T, C) float32 in [-1, 1], rate)`` of a file (wav, flac, SPHERE) or a Kaldi wav.scp entry."""
    if is_kaldi_entry(spec):
        return _read_kaldi_entry(str(spec).strip())
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file (check wav.scp or the corpus path)")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(
            f"{path}: cannot read audio ({err}); the file is corrupt or not RIFF/NIST wav — "
            "re-copy it from the corpus or remove the utterance from the data dir"
        ) from None
    return x, sr


def audio_duration(spec: str | os.PathLike) -> float:
    """Seconds of audio: from the header of a file, by reading a Kaldi pipe or extended filename."""
    if is_kaldi_entry(spec):
        x, sr = read_audio(spec)
        return x.shape[0] / sr
    try:
        info = sf.info(str(spec))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(f"{spec}: cannot read the audio header ({err}); re-copy the file") from None
    return info.frames / info.samplerate


def load_wav(path: str | os.PathLike, sample_rate: int | None = 16000) -> np.ndarray:
    """Read mono audio (wav, flac, NIST SPHERE, or a Kaldi pipe / extended filename) as float32 in [-1, 1].

    Args:
        path: the audio file or wav.scp entry.
        sample_rate: the rate the caller expects; ``None`` accepts any rate.

    Returns:
        x: (T,) float32 samples.

    Raises:
        DataError: naming the file when it is missing, unreadable, multi-channel or at another rate.
    """
    x, sr = read_audio(path)
    if sample_rate is not None and sr != sample_rate:
        raise DataError(
            f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz; resample it "
            f"(e.g. `sox in.wav -r {sample_rate} out.wav`) or set the recipe's sample rate"
        )
    if x.shape[1] != 1:
        raise DataError(f"{path}: {x.shape[1]} channels, expected mono; pick one channel first")
    if x.shape[0] == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: the audio holds inf/NaN samples; re-export it (e.g. as 16-bit PCM) or remove "
                        "the utterance from the data dir")
    return x[:, 0]


def save_wav(path: str | os.PathLike, x: np.ndarray, sample_rate: int = 16000) -> None:
    """Write ``x`` (T,) as 16-bit PCM, peak-limited to [-1, 1], through a temp name then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0), sample_rate,
             subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
