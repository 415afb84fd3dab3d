"""Complex STFT features as Kaldi ark/scp, their normalisation statistics, and a crop dataset.

Each utterance is one float32 matrix ``(N, 2F)``: the real parts of the ``F = n_fft // 2 + 1`` bins
of every frame, then the imaginary parts. That is the STFT of :func:`speechgen.signal.stft` exactly
(float32), so :func:`matrix_to_spec` + :func:`speechgen.signal.istft` with the utterance's
``utt2num_samples`` gives back the waveform. A feature dir holds::

    feats.scp (+ feats.*.ark)   the matrices
    utt2num_samples             waveform lengths, for the inverse STFT
    stft.yaml                   the STFT settings (n_fft, hop_length, window, ...)
    cmvn.npz                    (training set) per-bin mean/std of log(max(|X|, floor))
    wav.scp utt2spk spk2utt spk2gender text   copied from the data dir
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset

from speechgen.data.ark import ark_writer
from speechgen.data.audio import load_wav
from speechgen.data.tables import Cmvn, check_finite, open_feats_scp, read_mapping, read_matrix, resolve_loading
from speechgen.data.jobs import gather_job_lines, job_share, write_lines_atomic
from speechgen.errors import DataError
from speechgen.signal.stft import STFTConfig, istft
from speechgen.yaml_io import load_yaml
from speechgen.progress import progress

#: magnitude floor before the log (below 16-bit quantisation noise of a 512-point Hann frame)
LOG_FLOOR = 1e-5
COPIED_FILES = ("wav.scp", "utt2spk", "spk2utt", "spk2gender", "text")


def spec_to_matrix(spec: torch.Tensor) -> np.ndarray:
    """Complex (F, N) spectrogram -> (N, 2F) float32 matrix ``[real | imag]``."""
    return torch.cat([spec.real, spec.imag], dim=0).T.contiguous().numpy().astype(np.float32)


def matrix_to_spec(mat: np.ndarray) -> torch.Tensor:
    """(N, 2F) ``[real | imag]`` matrix -> complex64 (F, N) spectrogram."""
    mat = np.asarray(mat, dtype=np.float32)
    if mat.ndim != 2 or mat.shape[1] % 2:
        raise DataError(f"a complex STFT matrix must be (frames, 2F), got shape {mat.shape}")
    n_freq = mat.shape[1] // 2
    t = torch.from_numpy(np.ascontiguousarray(mat.T))
    return torch.complex(t[:n_freq], t[n_freq:])


def log_magnitude_phase(mat: np.ndarray, floor: float = LOG_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2F) matrix -> natural log-magnitude and phase, each (N, F) float32."""
    n_freq = mat.shape[1] // 2
    re, im = mat[:, :n_freq].astype(np.float64), mat[:, n_freq:].astype(np.float64)
    logmag = 0.5 * np.log(np.maximum(re * re + im * im, floor * floor))
    return logmag.astype(np.float32), np.arctan2(im, re).astype(np.float32)


def read_stft_config(feats_dir: str | os.PathLike) -> STFTConfig:
    path = Path(feats_dir) / "stft.yaml"
    if not path.is_file():
        raise DataError(f"{path}: missing; {feats_dir} is not a complex STFT feature dir (run the feature stage)")
    return STFTConfig.from_dict(load_yaml(path.read_text()))


def compute_job(data_dir: Path, out_dir: Path, conf: STFTConfig, nj: int = 1, job: int = 1) -> int:
    """STFT of the job's share of ``data_dir/wav.scp`` -> ``out_dir/feats.JOB.{ark,scp}`` and
    ``utt2num_samples.JOB``; returns the number of utterances. A wav at another rate, unreadable or
    silent-length raises a DataError naming it."""
    wavs = read_mapping(data_dir / "wav.scp")
    out_dir.mkdir(parents=True, exist_ok=True)
    ark, scp = out_dir / f"feats.{job}.ark", out_dir / f"feats.{job}.scp"
    scp_tmp = scp.with_name(scp.name + ".tmp")
    lengths = []
    with ark_writer(ark, scp_tmp) as writer:
        for utt in progress(job_share(sorted(wavs), nj, job), f"STFT, job {job}/{nj}", unit="utt"):
            x = load_wav(wavs[utt], conf.sample_rate)
            if x.size < conf.n_fft:
                raise DataError(f"{wavs[utt]}: {x.size} samples, shorter than one STFT frame "
                                f"(n_fft={conf.n_fft}); remove {utt} from {data_dir}")
            spec = spec_to_matrix(conf.stft(torch.from_numpy(x)))
            writer(utt, check_finite(spec, utt, wavs[utt], "check that audio"))
            lengths.append(f"{utt} {x.size}\n")
    (out_dir / f"utt2num_samples.{job}").write_text("".join(lengths))
    os.replace(scp_tmp, scp)  # the scp appears only once the ark is complete
    return len(lengths)


def merge_jobs(data_dir: Path, out_dir: Path, conf: STFTConfig, nj: int) -> int:
    """Join the jobs' scps into ``feats.scp`` (sorted), write ``utt2num_samples``, ``stft.yaml`` and
    copy the data dir's tables; ``feats.scp`` is written last."""
    lines = gather_job_lines(out_dir, "feats", nj, log="stft")
    lengths = gather_job_lines(out_dir, "utt2num_samples", nj, log="stft", suffix="")
    expected = len(read_mapping(data_dir / "wav.scp"))
    if len(lines) != expected:
        raise DataError(f"{out_dir}: the jobs wrote {len(lines)} utterances, {data_dir}/wav.scp has {expected}")
    for name in COPIED_FILES:
        if (data_dir / name).is_file():
            shutil.copyfile(data_dir / name, out_dir / name)
    (out_dir / "utt2num_samples").write_text("".join(f"{line}\n" for line in lengths))
    (out_dir / "stft.yaml").write_text(yaml.safe_dump(conf.to_dict(), sort_keys=False))
    write_lines_atomic(out_dir / "feats.scp", lines)
    return len(lines)


def compute_log_magnitude_stats(feats_dir: Path, floor: float = LOG_FLOOR, std_floor: float = 1e-3) -> Cmvn:
    """Per-bin mean/std of the log-magnitude over every frame of ``feats_dir`` -> ``feats_dir/cmvn.npz``."""
    return Cmvn.estimate(feats_dir, std_floor, transform=lambda mat: log_magnitude_phase(mat, floor)[0])


def read_num_samples(feats_dir: Path) -> Dict[str, int]:
    return {k: int(v) for k, v in read_mapping(Path(feats_dir) / "utt2num_samples").items()}


def reconstruct_waveform(mat: np.ndarray, num_samples: int, conf: STFTConfig) -> np.ndarray:
    """Inverse STFT of one stored matrix: (N, 2F) -> (num_samples,) float32."""
    return istft(matrix_to_spec(mat), length=num_samples, **conf.kwargs()).numpy()


class ComplexSpecDataset(Dataset):
    """Crops of ``segment_frames`` frames of the utterances of a complex STFT feature dir.

    Items: ``feats`` (T, F) log-magnitude normalised with ``cmvn``, ``phase`` (T, F), ``mask`` (T,)
    (false on the padding of utterances shorter than a crop) and ``idx``. With ``random_crop`` each
    access draws its start from torch's global generator (saved in the trainer's checkpoints, so a
    resumed run draws the same crops) and an epoch holds ``crops_per_utt`` crops of every utterance;
    otherwise the one crop per utterance is centred. ``load``: ``eager`` computes every utterance's
    log-magnitude and phase once and keeps them; ``lazy`` reads the utterance from the archive on each
    access and computes them on the crop only; ``auto`` picks by size
    (:func:`speechgen.data.tables.resolve_loading`).
    """

    def __init__(self, feats_dir: str | os.PathLike, cmvn: Cmvn, segment_frames: int = 64,
                 random_crop: bool = True, max_utts: Optional[int] = None, crops_per_utt: int = 1,
                 load: str = "eager"):
        self.feats_dir = Path(feats_dir)
        self.scp, self.reader = open_feats_scp(self.feats_dir)
        self.keys = sorted(self.reader.keys())[: max_utts or None]
        if not self.keys:
            raise DataError(f"{self.scp}: holds no features")
        self.cmvn, self.segment_frames, self.random_crop = cmvn, int(segment_frames), random_crop
        self.crops_per_utt = max(1, int(crops_per_utt)) if random_crop else 1
        self.load = resolve_loading(load, self.scp)
        self.logmag: List[np.ndarray] = []
        self.phase: List[np.ndarray] = []
        if self.load == "eager":
            for key in self.keys:
                logmag, phase = self._log_magnitude_phase(self._matrix(key))
                self.logmag.append(logmag)
                self.phase.append(phase)
        else:
            self._matrix(self.keys[0])  # a wrong feature dir fails here rather than in the first batch

    def _matrix(self, key: str) -> np.ndarray:
        """The utterance's (N, 2F) matrix, its width checked against the statistics."""
        mat = read_matrix(self.reader, key, self.scp)
        if mat.ndim != 2 or mat.shape[1] != 2 * len(self.cmvn.mean):
            raise DataError(f"{self.scp}: {key} has shape {mat.shape}, expected (frames, {2 * len(self.cmvn.mean)}) "
                            f"for the {len(self.cmvn.mean)} bins of cmvn.npz")
        return mat

    def _log_magnitude_phase(self, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised log-magnitude and phase of (frames of) a matrix: (N, 2F) -> (N, F), (N, F)."""
        logmag, phase = log_magnitude_phase(mat)
        return self.cmvn.apply(logmag).astype(np.float32), phase

    @property
    def n_bins(self) -> int:
        return len(self.cmvn.mean)

    def __len__(self) -> int:
        return len(self.keys) * self.crops_per_utt

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        idx = idx % len(self.keys)
        if self.load == "eager":
            frames = (self.logmag[idx], self.phase[idx])
        else:  # the stored matrix, cropped before the conversion
            frames = (self._matrix(self.keys[idx]),)
        n, seg = frames[0].shape[0], self.segment_frames
        start = 0
        if n >= seg:
            start = int(torch.randint(0, n - seg + 1, ()).item()) if self.random_crop else (n - seg) // 2
        frames = tuple(f[start:start + seg] for f in frames)
        logmag, phase = frames if self.load == "eager" else self._log_magnitude_phase(frames[0])
        if n < seg:
            pad = ((0, seg - n), (0, 0))
            logmag, phase = np.pad(logmag, pad), np.pad(phase, pad)
        return {"feats": torch.from_numpy(np.ascontiguousarray(logmag)),
                "phase": torch.from_numpy(np.ascontiguousarray(phase)),
                "mask": torch.from_numpy(np.arange(seg) < n), "idx": torch.tensor(idx)}
