"""Reading and writing waveforms with clear errors for the files users bring."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from speechgen.errors import DataError


def load_wav(path: str | os.PathLike, sample_rate: int | None = 16000) -> np.ndarray:
    """Read a mono wav (RIFF or NIST SPHERE) as float32 in [-1, 1].

    Args:
        path: the audio file.
        sample_rate: the rate the caller expects; ``None`` accepts any rate.

    Returns:
        x: (T,) float32 samples.

    Raises:
        DataError: naming the file when it is missing, unreadable, multi-channel or at another rate.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file (check wav.scp or the corpus path)")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(
            f"{path}: cannot read audio ({err}); the file is corrupt or not RIFF/NIST wav — "
            "re-copy it from the corpus or remove the utterance from the data dir"
        ) from None
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
