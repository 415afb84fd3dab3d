"""Using a trained model outside its recipe: ``speechgen.load_model``.

An exp dir written by ``speechgen-train`` holds everything that turns audio into the model's input:
the config and weights, the normalisation (``cmvn.npz``), the feature settings of the training
features (``spec.yaml``, ``logmel.yaml`` or ``stft.yaml``) and the label tables (``lang/``). A packed
model (``speechgen-pack``) is the same files in one ``.tar.gz``. Either loads with::

    import speechgen
    m = speechgen.load_model("egs/timit_fdnf/exp/train_fdnf")   # or "fdnf.tar.gz"
    x, sr = soundfile.read("some.wav")
    feats = m.features(x, sr)                      # (frames, bins) normalised, as in training
    codes = m.model.encode(m.windows(feats))       # 20-frame windows -> latent codes
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from speechgen.data.complex_feats import log_magnitude_phase, spec_to_matrix
from speechgen.data.tables import LABEL_TABLES, Cmvn, read_symbol_table
from speechgen.data.features import SegmentSpecConfig, segment_log_spectrograms
from speechgen.data.frames import LogMelConfig, log_mel_deltas
from speechgen.errors import DataError
from speechgen.models.abilities import Encoder, require
from speechgen.models.complex_vae import ComplexSpectrogramVAE
from speechgen.signal.stft import STFTConfig
from speechgen.train.load import load_experiment
from speechgen.yaml_io import load_yaml

#: what each feature settings file describes
FRONT_ENDS = {"spec.yaml": SegmentSpecConfig, "logmel.yaml": LogMelConfig, "stft.yaml": STFTConfig}


@dataclasses.dataclass
class TrainedModel:
    """A trained model with what turns a waveform into its input.

    ``labels`` maps each factor (``phone``, ``spk``) to its class names in class-id order;
    ``class_means`` each factor's mean code per class over the training set, where saved
    (``class_means.npz``, see :mod:`speechgen.eval.conversion`);
    ``settings`` are the feature settings (a :class:`SegmentSpecConfig`, :class:`LogMelConfig` or
    :class:`STFTConfig`), None for a model trained on features with no settings file.
    """

    model: torch.nn.Module
    config: Dict
    cmvn: Cmvn
    settings: Optional[object]
    labels: Dict[str, List[str]]
    source: Path
    class_means: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return int(getattr(self.settings, "sample_rate", 16000))

    def audio(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """``wav`` as the recipes' feature stages read audio (mono float32), checked against the model's
        sample rate and feature settings."""
        if self.settings is None:
            raise DataError(f"{self.source}: no feature settings (spec.yaml, logmel.yaml or stft.yaml) were saved "
                            "with this model; train it again with the current speechgen-train")
        if sample_rate != self.sample_rate:
            raise DataError(f"audio at {sample_rate} Hz, but {self.source} was trained on {self.sample_rate} Hz; "
                            f"resample it first (e.g. sox in.wav -r {self.sample_rate} out.wav)")
        wav = np.asarray(wav, dtype=np.float32)
        return wav.mean(axis=1) if wav.ndim == 2 else wav

    def features(self, wav: np.ndarray, sample_rate: int) -> torch.Tensor:
        """The model's normalised input features of a whole utterance, (frames, bins), analysed as its
        training features were. For the complex-spectrogram models this is the log-magnitude; the phase
        comes from :meth:`stft`."""
        x = self.audio(wav, sample_rate)
        conf = self.settings
        if isinstance(conf, SegmentSpecConfig):
            n_frames = (len(x) - conf.win_length) // conf.hop_length + 1
            if n_frames < 1:
                raise DataError(f"{len(x)} samples are fewer than one {conf.win_length}-sample frame")
            feats = segment_log_spectrograms(x, np.zeros(1, dtype=np.int64),
                                             dataclasses.replace(conf, n_frames=n_frames))[0]
        elif isinstance(conf, LogMelConfig):
            feats = log_mel_deltas(x, conf)
        else:
            feats = log_magnitude_phase(self.stft(x, sample_rate))[0]
        return torch.from_numpy(self.cmvn.apply(feats).astype(np.float32))

    def stft(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """The complex STFT of an STFT-trained model as its training features were stored: (frames, 2F)."""
        x = self.audio(wav, sample_rate)
        if not isinstance(self.settings, STFTConfig):
            raise DataError(f"{self.source} was not trained on STFT features")
        return spec_to_matrix(self.settings.stft(torch.from_numpy(x)))

    @torch.no_grad()
    def encode_wav(self, wav: np.ndarray, sample_rate: int, hop: int = 1) -> torch.Tensor:
        """The codes of a whole utterance, one row per frame (the complex VAE's per-frame codes) or per
        ``n_frames``-frame window ``hop`` frames apart (segment and log-mel models): (N, D)."""
        feats = self.features(wav, sample_rate)
        if isinstance(self.model, ComplexSpectrogramVAE):
            return self.model.encode(feats[None])[0].T.contiguous()
        require(self.model, Encoder, f"encoding audio ({self.source})")
        return self.model.encode(self.windows(feats, hop))

    def windows(self, feats: torch.Tensor, hop: int = 1) -> torch.Tensor:
        """Every ``n_frames``-frame window of (frames, bins) features, ``hop`` frames apart: (N, n_frames, bins)."""
        size = int(getattr(self.model, "n_frames", 0) or self.config["model_conf"]["n_frames"])
        if len(feats) < size:
            raise DataError(f"{len(feats)} frames are fewer than the model's {size}-frame window")
        return feats.unfold(0, size, hop).transpose(1, 2).contiguous()


def _read_settings(exp_dir: Path, info: Dict):
    name = info.get("features")
    if not name or not (exp_dir / name).is_file():
        return None
    raw = load_yaml((exp_dir / name).read_text())
    if name == "logmel.yaml" and "framing" not in raw:
        raise DataError(f"{exp_dir / name}: log-mel features from before speechgen computed them as Kaldi does; "
                        "this model cannot be given new audio: recompute the features (run.sh --stage 1) and retrain")
    return FRONT_ENDS[name](**raw)


def _read_labels(lang_dir: Optional[str]) -> Dict[str, List[str]]:
    """{factor: class names in class-id order} of the tables of ``lang_dir`` that exist."""
    labels = {}
    for factor, table in LABEL_TABLES.items() if lang_dir else ():
        if (Path(lang_dir) / table).is_file():
            ids = read_symbol_table(Path(lang_dir) / table)
            labels[factor] = sorted(ids, key=ids.get)
    return labels


def _load_dir(exp_dir: Path, checkpoint: str, device: str, source: Path) -> TrainedModel:
    model, info = load_experiment(exp_dir, checkpoint, device)
    means = exp_dir / "class_means.npz"
    with np.load(means) if means.is_file() else contextlib.nullcontext({}) as saved:
        class_means = {factor: saved[factor] for factor in saved}
    return TrainedModel(model=model, config=info["config"], cmvn=info["cmvn"], settings=_read_settings(exp_dir, info),
                        labels=_read_labels(info.get("lang_dir")), source=source, class_means=class_means)


def load_model(path: str | Path, checkpoint: str = "best.pt", device: str = "cpu") -> TrainedModel:
    """Load a trained model from its exp dir (weights ``checkpoint``) or from a file packed by
    ``speechgen-pack`` (the weights it packed)."""
    path = Path(path)
    if path.is_dir():
        return _load_dir(path, checkpoint, device, path)
    if not path.is_file():
        raise DataError(f"{path}: no such exp dir or packed model")
    tmp = Path(tempfile.mkdtemp(prefix="speechgen-model-"))
    try:
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise DataError(f"{path}: not a packed model ({err}); pack one with speechgen-pack") from None
        packed = tmp / "model"
        if not (packed / "manifest.yaml").is_file():
            raise DataError(f"{path}: no model/manifest.yaml inside; pack models with speechgen-pack")
        return _load_dir(packed, load_yaml((packed / "manifest.yaml").read_text())["checkpoint"], device, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
