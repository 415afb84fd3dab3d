"""Speaker (or phone) conversion of whole utterances with a trained segment model.

The paper's mean shift ``x' = f(f^-1(x) + mu_c2 - mu_c1)`` moves one segment; an utterance is cut
into overlapping windows of the model's segment length, each window is shifted, and the converted
log-magnitudes are overlap-added (a Hann weight over each window's frames) back into one
spectrogram, which is turned into audio with the original phase or by fast Griffin-Lim.

The source class of a user's audio is unknown, so by default ``mu_c1`` is the mean code of the
utterance's own windows (for a speaker: its speaker mean, the phones averaged out); a known source
class of the training set can be named instead. The class means of the training codes are computed
once per exp dir (:func:`code_class_means`, ``class_means.npz``) and travel with a packed model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import FACTORS, lang_class_counts
from speechgen.eval.examples import segment_phase, segments_to_audio
from speechgen.eval.manipulation import batched, class_means, factor_slice
from speechgen.errors import DataError
from speechgen.models.abilities import Encoder, require
from speechgen.train.load import load_experiment

MEANS_FILE = "class_means.npz"


def factor_class_means(codes: torch.Tensor, labels: Dict[str, torch.Tensor],
                       n_classes: Dict[str, int]) -> Dict[str, np.ndarray]:
    """{factor: (n_classes, D)} mean code of each class of every factor that ``labels`` has."""
    return {f: class_means(codes, labels[f], n_classes[f]).numpy() for f in FACTORS if f in labels}


def code_class_means(model, train_dir: Path, cmvn, lang_dir: Path) -> Dict[str, np.ndarray]:
    """{factor: (n_classes, D)} mean code of each phone and speaker class over the training segments."""
    data = SegmentDataset(train_dir, cmvn, lang_dir)
    codes = batched(model.encode, torch.from_numpy(data.feats))
    labels = {f: torch.from_numpy(ids) for f, ids in data.labels.items()}
    return factor_class_means(codes, labels, lang_class_counts(lang_dir))


def ensure_class_means(exp_dir: Path) -> Path:
    """EXP_DIR/class_means.npz, computed from the training features named in its data.yaml if missing."""
    path = Path(exp_dir) / MEANS_FILE
    if path.is_file():
        return path
    model, info = load_experiment(exp_dir)
    require(model, Encoder, "class means of the codes")
    train_dir = Path(info.get("train_dir") or "")
    if not (train_dir / "feats.scp").is_file():
        raise DataError(f"{exp_dir}: no {MEANS_FILE} and its training features ({train_dir}) are gone; convert (or "
                        "pack the model) once on the machine that trained it")
    return save_class_means(exp_dir, code_class_means(model, train_dir, info["cmvn"], Path(info["lang_dir"])))


def save_class_means(exp_dir: Path, means: Dict[str, np.ndarray]) -> Path:
    """Write ``{factor: (n_classes, D)}`` to EXP_DIR/class_means.npz (through a temp name)."""
    path = Path(exp_dir) / MEANS_FILE
    tmp = path.with_name("class_means.tmp.npz")
    np.savez(tmp, **means)
    tmp.replace(path)
    return path


def window_starts(n_frames: int, size: int, hop: int) -> List[int]:
    """First frame of each window: every ``hop`` frames, plus one flush with the end."""
    if n_frames < size:
        raise DataError(f"the utterance has {n_frames} frames, fewer than the model's {size}-frame window")
    starts = list(range(0, n_frames - size + 1, hop))
    return starts if starts[-1] == n_frames - size else starts + [n_frames - size]


def windows_at(feats: torch.Tensor, starts: List[int], size: int) -> torch.Tensor:
    """The ``size``-frame windows of (T, F) features at ``starts``: (N, size, F); :func:`overlap_add` inverts it."""
    return torch.stack([feats[s:s + size] for s in starts])


def overlap_add(windows: torch.Tensor, starts: List[int], n_frames: int) -> torch.Tensor:
    """(N, W, F) windows at ``starts`` -> (n_frames, F), each frame the Hann-weighted mean of its windows."""
    size = windows.shape[1]
    weight = torch.hann_window(size + 2, periodic=False, dtype=windows.dtype)[1:-1]
    total = torch.zeros(n_frames, windows.shape[2], dtype=windows.dtype)
    norm = torch.zeros(n_frames, 1, dtype=windows.dtype)
    for start, window in zip(starts, windows):
        total[start:start + size] += weight[:, None] * window
        norm[start:start + size] += weight[:, None]
    return total / norm


@dataclasses.dataclass
class Conversion:
    factor: str  # "spk" or "phone"
    target: int  # class id of the target
    source: Optional[int] = None  # class id of the source; None: the utterance's own mean code
    hop: int = 5  # frames between windows
    whole_code: bool = False  # a factorial model moves its whole code, not only the factor's part


@torch.no_grad()
def convert_log_spectrogram(trained, feats: torch.Tensor, conv: Conversion) -> torch.Tensor:
    """Normalised features (T, F) of an utterance -> converted natural log-magnitude (T, F)."""
    model = trained.model
    means = torch.from_numpy(trained.class_means[conv.factor])
    size = int(model.n_frames)
    starts = window_starts(len(feats), size, conv.hop)
    codes = batched(model.encode, windows_at(feats, starts, size))
    source = means[conv.source] if conv.source is not None else codes.mean(0)
    part = slice(None) if conv.whole_code else factor_slice(model, conv.factor)
    shift = torch.zeros_like(codes[0])
    shift[part] = (means[conv.target] - source)[part]
    converted = overlap_add(batched(model.decode, codes + shift), starts, len(feats))
    return converted * torch.from_numpy(trained.cmvn.std) + torch.from_numpy(trained.cmvn.mean)


def convert_waveform(trained, wav: np.ndarray, sample_rate: int, conv: Conversion, phase: str = "original",
                     n_iter: int = 100) -> np.ndarray:
    """The converted waveform, as long as ``wav``; the phase is the original one or fast Griffin-Lim's."""
    x = trained.audio(wav, sample_rate)
    feats = trained.features(x, sample_rate)
    log_spec = convert_log_spectrogram(trained, feats, conv).numpy()
    conf = dataclasses.replace(trained.settings, n_frames=len(feats))
    orig_phase = segment_phase(x, 0, conf)[None] if phase == "original" else None
    y = segments_to_audio(log_spec[None], conf, n_iter=n_iter, phase=orig_phase)[0]
    out = np.zeros(len(x), dtype=np.float32)
    out[:len(y)] = y[:len(x)]
    return out
