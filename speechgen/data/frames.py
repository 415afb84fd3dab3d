"""Frame-level log-mel features with frame-aligned phone labels, and windows of frames around a centre.

Features: 40 log-mel filterbank energies of 25 ms frames every 10 ms, computed as Kaldi's
``compute-fbank-feats`` computes them with ``--dither=0`` (and as ``kaldi-native-fbank``, which the
tests compare against): the waveform at 16-bit scale, frames of ``win_length`` samples without
padding at the edges ("snip edges"), each frame's DC removed, then pre-emphasis within the frame,
the symmetric Povey window, a 512-point FFT of the zero-padded frame, the power spectrum, Kaldi's
mel banks (triangles linear in mel from 20 Hz to Nyquist) and the log with Kaldi's floor; plus
deltas and delta-deltas (Kaldi's regression window), 120 dims per frame. Frame ``n`` covers samples
``[n * hop, n * hop + win_length)``, its centre sample is ``n * hop + win_length // 2``, and it is
labelled by the phone covering that centre sample.

Labels: the 48-phone set of ``speechgen.data.phones`` plus the glottal stop ``q``, with the ids of
the seed's table (:data:`speechgen.data.phones.LOGMEL_PHONES`, 49 ids; ``sil`` = 37, ``q`` = 33).

Feature dirs hold ``feats.scp`` (each utterance ``(N, 120)`` float32) and ``ali.scp`` (each
utterance ``(N,)`` int32 phone ids), Kaldi ark/scp keyed by utterance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import kaldiio
import numpy as np
import torch
from torch.utils.data import Dataset

from speechgen.data.phones import LOGMEL_PHONES, SILENCE_ID, phone61_to_id
from speechgen.data.tables import Cmvn, open_feats_scp, read_matrix, resolve_loading
from speechgen.errors import ConfigError, DataError
from speechgen.signal.deltas import add_deltas
from speechgen.signal.mel import mel_filterbank
from speechgen.signal.stft import get_window

WINDOW_CENTRES = ("frames", "phone_runs")  # FrameWindowDataset's centres
WINDOW_EDGES = ("clamp", "zero", "drop")  # and what its windows do at utterance edges


# ----------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogMelConfig:
    """Log-mel filterbank + deltas, Kaldi-style. ``dims = n_mels * (delta_order + 1)``."""

    sample_rate: int = 16000
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_fft: int = 512
    window: str = "povey"
    preemphasis: float = 0.97
    n_mels: int = 40
    fmin: float = 20.0
    fmax: Optional[float] = None
    floor: float = 1.1920928955078125e-07  # on the mel power, before the log (Kaldi's: FLT_EPSILON)
    delta_order: int = 2
    delta_window: int = 2
    framing: str = "kaldi"  # Kaldi's frames (module doc); written so that older settings files can be told apart

    def __post_init__(self) -> None:
        if self.framing != "kaldi":
            raise ConfigError(f"framing={self.framing!r}: only 'kaldi' is known")
        if not 0 < self.hop_length <= self.win_length <= self.n_fft:
            raise ConfigError(f"need 0 < hop_length <= win_length <= n_fft, got {self.hop_length}, "
                              f"{self.win_length}, {self.n_fft}")
        if self.n_mels < 1 or self.delta_order < 0:
            raise ConfigError(f"n_mels={self.n_mels} must be >= 1 and delta_order={self.delta_order} >= 0")

    @property
    def dims(self) -> int:
        return self.n_mels * (self.delta_order + 1)

    def to_dict(self) -> dict:
        return asdict(self)


#: Kaldi reads a wav as 16-bit integers: the features see the waveform at this scale
WAV_SCALE = 32768.0


def num_feature_frames(num_samples: int, conf: LogMelConfig) -> int:
    """Frames of an utterance of ``num_samples`` samples (0 when shorter than one frame)."""
    if num_samples < conf.win_length:
        return 0
    return 1 + (num_samples - conf.win_length) // conf.hop_length


def frame_centres(n_frames: int, conf: LogMelConfig) -> np.ndarray:
    """Centre sample of each frame: ``(n_frames,)`` int64, ``n * hop + win_length // 2``."""
    return np.arange(n_frames, dtype=np.int64) * conf.hop_length + conf.win_length // 2


def kaldi_power_frames(x: np.ndarray, conf: LogMelConfig) -> torch.Tensor:
    """The power spectra of Kaldi's frames of a waveform in [-1, 1]: ``(N, n_fft // 2 + 1)`` float64.

    At 16-bit scale, each ``win_length`` frame loses its mean, is pre-emphasised within itself
    (``y[i] = x[i] - p x[i - 1]``, ``y[0] = x[0] - p x[0]``), windowed and zero-padded to ``n_fft``."""
    wav = torch.as_tensor(np.asarray(x, dtype=np.float64)) * WAV_SCALE
    n = num_feature_frames(len(wav), conf)
    frames = wav.unfold(0, conf.win_length, conf.hop_length)[:n]
    frames = frames - frames.mean(dim=1, keepdim=True)
    if conf.preemphasis:
        frames = torch.cat([frames[:, :1] * (1.0 - conf.preemphasis),
                            frames[:, 1:] - conf.preemphasis * frames[:, :-1]], dim=1)
    frames = frames * get_window(conf.window, conf.win_length, dtype=torch.float64)
    return torch.fft.rfft(frames, n=conf.n_fft, dim=1).abs().pow(2)


def log_mel_deltas(x: np.ndarray, conf: LogMelConfig, fb: Optional[torch.Tensor] = None) -> np.ndarray:
    """Log-mel energies with deltas of one waveform (the module doc says how, as Kaldi does).

    Args:
        x: (T,) waveform in [-1, 1], T >= conf.win_length.
        fb: (n_mels, n_fft // 2 + 1) mel filterbank; built from ``conf`` when not given.

    Returns:
        (N, dims) float32 with N = :func:`num_feature_frames`; columns are [static, delta, delta-delta].
    """
    if len(x) < conf.win_length:
        raise DataError(f"{len(x)} samples are fewer than one {conf.win_length}-sample frame")
    if fb is None:
        fb = mel_filterbank(conf.sample_rate, conf.n_fft, conf.n_mels, conf.fmin, conf.fmax, scale="kaldi",
                            norm=None)
    mel = fb.to(torch.float64) @ kaldi_power_frames(x, conf).T  # (n_mels, N)
    logmel = torch.log(torch.clamp(mel, min=conf.floor))
    feats = add_deltas(logmel.unsqueeze(0), conf.delta_order, conf.delta_window)[0]  # (dims, N)
    return feats.T.to(torch.float32).numpy()


def frame_labels(phones: Sequence[Tuple[float, float, str]], n_frames: int, conf: LogMelConfig) -> np.ndarray:
    """Phone id of each frame: the phone covering the frame's centre sample.

    Args:
        phones: ``[(start_s, end_s, phone61), ...]`` in time order (an utterance's alignment).
        n_frames: frames of the utterance.

    Returns:
        (n_frames,) int32 ids of :data:`LOGMEL_PHONES`. A centre in a gap between phones, or past
        the last phone (audio often runs a little past TIMIT's final ``h#``), takes the nearest phone.
    """
    if not phones:
        raise DataError("an utterance without phones cannot be labelled")
    sr = conf.sample_rate
    starts = np.array([round(s * sr) for s, _, _ in phones], dtype=np.int64)
    ends = np.array([round(e * sr) for _, e, _ in phones], dtype=np.int64)
    ids = np.array([phone61_to_id(p) for _, _, p in phones], dtype=np.int32)
    centres = frame_centres(n_frames, conf)
    before = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(phones) - 1)
    after = np.minimum(before + 1, len(phones) - 1)
    inside = (centres >= starts[before]) & (centres < ends[before])
    # outside every phone: the closer of the phone before and the one after
    gap_to_before = np.abs(centres - (ends[before] - 1))
    gap_to_after = np.abs(starts[after] - centres)
    nearest = np.where(gap_to_after < gap_to_before, after, before)
    return ids[np.where(inside, before, nearest)]


# ----------------------------------------------------------------------------------------------
# Feature dirs
# ----------------------------------------------------------------------------------------------


def open_feature_dir(feats_dir: str | Path, max_utts: Optional[int] = None):
    """Open ``feats.scp`` and read the phone labels of ``ali.scp`` (small) of a feature dir.

    Returns:
        ``(scp, reader, keys, labels)``: the feats.scp path, kaldiio's lazy reader of it (no feature
        read yet), the sorted utterance keys and their ``(N_u,)`` int64 phone ids.

    Raises:
        DataError: naming the file for a missing or damaged archive, missing or out-of-range labels.
    """
    feats_dir = Path(feats_dir)
    ali = feats_dir / "ali.scp"
    for path in (feats_dir / "feats.scp", ali):
        if not path.is_file():
            raise DataError(f"{path}: missing; run the log-mel feature stage for {feats_dir} first")
    scp, reader = open_feats_scp(feats_dir)
    ali_reader = kaldiio.load_scp(str(ali))
    keys = sorted(reader.keys())[: max_utts or None]
    if not keys:
        raise DataError(f"{scp}: holds no features")
    missing = [k for k in keys if k not in ali_reader]
    if missing:
        raise DataError(f"{ali}: no phone labels for {missing[0]} (and {len(missing) - 1} more); "
                        "re-run the feature stage")
    labels = [np.asarray(read_matrix(ali_reader, k, ali), dtype=np.int64) for k in keys]
    for key, lab in zip(keys, labels):
        if lab.ndim != 1 or lab.size == 0 or lab.min() < 0 or lab.max() >= len(LOGMEL_PHONES):
            raise DataError(f"{ali}: {key} holds no phone ids or ids outside 0..{len(LOGMEL_PHONES) - 1}")
    return scp, reader, keys, labels


def check_frames(mat: np.ndarray, key: str, n_labels: int, ali: Path) -> np.ndarray:
    """An utterance's (N, D) matrix, as float32, with one label per frame."""
    if mat.ndim != 2 or mat.shape[0] != n_labels:
        raise DataError(f"{ali}: {key} has {n_labels} labels for {mat.shape[0]} frames; re-run the "
                        "feature stage")
    return np.asarray(mat, dtype=np.float32)


def read_feature_dir(feats_dir: str | Path, max_utts: Optional[int] = None
                     ) -> Tuple[List[str], List[np.ndarray], List[np.ndarray]]:
    """Read ``feats.scp`` and ``ali.scp`` of a feature dir, checked against each other.

    Returns:
        ``(keys, feats, labels)``: sorted utterance keys, their ``(N_u, D)`` float32 matrices and
        ``(N_u,)`` int64 phone ids.

    Raises:
        DataError: naming the file for a missing or damaged archive, missing labels or a length mismatch.
    """
    scp, reader, keys, labels = open_feature_dir(feats_dir, max_utts)
    ali = Path(feats_dir) / "ali.scp"
    feats = [check_frames(read_matrix(reader, k, scp), k, len(lab), ali) for k, lab in zip(keys, labels)]
    return keys, feats, labels


def phone_run_centres(labels: np.ndarray, utt_start: np.ndarray, silence: int = SILENCE_ID) -> np.ndarray:
    """The seed's window centres: the middle frame ``start + length // 2`` of every run of equal labels
    within an utterance, silence runs left out. ``labels`` (N,) are the frame labels of the utterances
    end to end, ``utt_start`` (N,) each frame's utterance start; returns global frame indices."""
    labels, utt_start = np.asarray(labels), np.asarray(utt_start)
    n = len(labels)
    changes = np.ones(n, dtype=bool)
    changes[1:] = labels[1:] != labels[:-1]
    starts = np.flatnonzero(changes | (np.arange(n) == utt_start))
    ends = np.append(starts[1:], n)
    middles = starts + (ends - starts) // 2
    return middles[labels[starts] != silence].astype(np.int64)


class FrameWindowDataset(Dataset):
    """Windows of ``window`` consecutive frames around centre frames, labelled by the centre frame.

    Items are dicts ``feats: (window, D)`` float32 (normalised with ``cmvn``), ``phone`` (long scalar,
    the centre frame's id) and ``idx`` (the centre's global frame index). The centres are every frame
    (``centres="frames"``) or, as the seed's data preparation makes them, the middle frame of each
    non-silence phone run (``"phone_runs"``, :func:`phone_run_centres`). At utterance edges the window
    repeats the edge frame (``edge="clamp"``, Kaldi's splicing), is filled with zero (normalised) frames
    (``edge="zero"``, the seed's padding) or the centre is skipped (``edge="drop"``). ``windows_per_epoch`` draws a seeded subset of the centres, a new one for each
    epoch given to :meth:`set_epoch` (the trainer calls it before each epoch). ``load="eager"`` reads
    every frame into one (N, D) array ``feats``; ``"lazy"`` keeps only the labels and reads a window's
    utterance from the archive when the window is asked for; ``"auto"`` picks by size
    (:func:`speechgen.data.tables.resolve_loading`).
    """

    def __init__(self, feats_dir: str | Path, cmvn: Optional[Cmvn] = None, window: int = 9,
                 edge: str = "clamp", windows_per_epoch: Optional[int] = None, seed: int = 0,
                 max_utts: Optional[int] = None, load: str = "eager", centres: str = "frames"):
        if window < 1 or window % 2 == 0:
            raise ConfigError(f"window={window}: must be a positive odd number of frames (e.g. 9)")
        if edge not in WINDOW_EDGES:
            raise ConfigError(f"edge={edge!r}: expected one of {', '.join(WINDOW_EDGES)}")
        if centres not in WINDOW_CENTRES:
            raise ConfigError(f"centres={centres!r}: expected one of {', '.join(WINDOW_CENTRES)}")
        self.feats_dir = Path(feats_dir)
        self.window, self.half, self.edge, self.centre_mode = window, window // 2, edge, centres
        self.scp, self.reader, self.keys, labels = open_feature_dir(self.feats_dir, max_utts)
        self.cmvn, self.load = cmvn, resolve_loading(load, self.scp)
        lengths = np.array([len(lab) for lab in labels], dtype=np.int64)
        self.utt_offsets, self.utt_lengths = np.cumsum(lengths) - lengths, lengths  # (U,), (U,)
        self.dims: Optional[int] = None
        self.dims = self._utterance_frames(0).shape[1]
        if self.load == "eager":
            self.feats = np.concatenate([self._utterance_frames(u) for u in range(len(self.keys))])
            if cmvn is not None:
                cmvn.apply_in_place(self.feats)  # the corpus is held once
        self.labels = np.concatenate(labels)
        self.utt_start = np.repeat(np.cumsum(lengths) - lengths, lengths)  # (N,) first frame of the utterance
        self.utt_end = np.repeat(np.cumsum(lengths), lengths)  # (N,) one past its last frame
        if centres == "phone_runs":
            frames = phone_run_centres(self.labels, self.utt_start)
        else:
            frames = np.arange(len(self.labels), dtype=np.int64)
        if edge == "drop":
            keep = (frames - self.half >= self.utt_start) & (frames + self.half < self.utt_end)
            frames = frames[keep]
        if len(frames) == 0:
            raise DataError(f"{self.feats_dir}: no utterance is long enough for {window}-frame windows")
        self.centres = frames
        self.windows_per_epoch, self.seed = windows_per_epoch, seed
        self.set_epoch(0)

    @property
    def shape(self) -> Tuple[int, int]:
        """(window, D) of one item."""
        return (self.window, self.dims)

    def set_epoch(self, epoch: int) -> None:
        """Select this epoch's centres: all of them, or a seeded subset of ``windows_per_epoch``."""
        n = self.windows_per_epoch
        if n is None or n >= len(self.centres):
            self.active = self.centres
        else:
            rng = np.random.default_rng([self.seed, epoch])
            self.active = np.sort(rng.choice(self.centres, size=n, replace=False))

    def window_indices(self, centres: np.ndarray) -> np.ndarray:
        """Frame indices of the windows around ``centres`` (B,) -> (B, window), clamped to each utterance."""
        centres = np.asarray(centres, dtype=np.int64)
        idx = centres[:, None] + np.arange(-self.half, self.half + 1)[None, :]
        return np.clip(idx, self.utt_start[centres][:, None], self.utt_end[centres][:, None] - 1)

    def _utterance_frames(self, u: int) -> np.ndarray:
        """The (N_u, D) float32 frames of utterance ``u``, read from the archive (not normalised)."""
        key = self.keys[u]
        mat = check_frames(read_matrix(self.reader, key, self.scp), key, int(self.utt_lengths[u]),
                           self.feats_dir / "ali.scp")
        if self.dims is not None and mat.shape[1] != self.dims:
            raise DataError(f"{self.scp}: utterances of different dims: {key} has {mat.shape[1]}, "
                            f"{self.keys[0]} {self.dims}; re-run the feature stage")
        return mat

    def frames(self, idx: np.ndarray) -> np.ndarray:
        """Normalised frames at global frame indices ``idx`` (B, W) -> (B, W, D) float32; each row of
        ``idx`` must lie in one utterance (as windows do)."""
        if self.load == "eager":
            return self.feats[idx]
        out = np.empty((*idx.shape, self.dims), dtype=np.float32)
        for b, row in enumerate(idx):
            u = int(np.searchsorted(self.utt_offsets, row[0], side="right")) - 1
            out[b] = self._utterance_frames(u)[row - self.utt_offsets[u]]
        return self.cmvn.apply(out) if self.cmvn is not None else out

    def windows(self, centres: np.ndarray) -> torch.Tensor:
        """Normalised windows around global frame indices ``centres`` (B,) -> (B, window, D)."""
        centres = np.asarray(centres, dtype=np.int64)
        out = self.frames(self.window_indices(centres))
        if self.edge == "zero":
            offsets = centres[:, None] + np.arange(-self.half, self.half + 1)[None, :]
            outside = (offsets < self.utt_start[centres][:, None]) | (offsets >= self.utt_end[centres][:, None])
            out[outside] = 0.0
        return torch.from_numpy(out)

    def strip_centres(self, n: int, utt: int = 0) -> np.ndarray:
        """``n`` centres of back-to-back windows from utterance ``utt`` on (their windows tile a stretch
        of speech without overlap), continuing into the next utterances when one is too short."""
        centres: List[int] = []
        u = utt
        while len(centres) < n and u < len(self.keys):
            start = int(self.utt_offsets[u])
            end = start + int(self.utt_lengths[u])
            centres += list(range(start + self.half, end - self.half, self.window))[: n - len(centres)]
            u += 1
        if len(centres) < n:
            raise DataError(f"{self.feats_dir}: fewer than {n} non-overlapping {self.window}-frame windows")
        return np.array(centres, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.active)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        centre = int(self.active[i])
        window = self.windows(np.array([centre]))[0]
        return {"feats": window, "phone": torch.tensor(int(self.labels[centre])),
                "idx": torch.tensor(centre)}
