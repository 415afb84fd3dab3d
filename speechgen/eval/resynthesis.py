"""Analysis-synthesis of a waveform through a trained model: what the model keeps of the user's audio.

* Complex-spectrogram VAE (chime_complex: PCA, M, J*): the magnitude decoded from the posterior mean of
  the utterance's codes, with the phase the model estimates (J*) or uniform random phase (PCA, M), and
  then fast Griffin-Lim started from that phase.
* Log-mel models (timit_logmel models that reconstruct): the model's reconstruction of every window of
  the utterance, overlap-added, its static log-mel energies mapped back to a linear spectrum
  (non-negative least squares through the mel filterbank), fast Griffin-Lim on the features' STFT and
  the inverse of their pre-emphasis.

Each returns ``{condition: waveform}`` as long as the input, and the log-magnitude (or log-mel)
spectrograms of the input and of the reconstruction for a figure.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch

from speechgen.data.frames import LogMelConfig
from speechgen.errors import ConfigError
from speechgen.eval.conversion import overlap_add, window_starts, windows_at
from speechgen.models.abilities import Reconstructor, model_name
from speechgen.models.complex_vae import GLA_MOMENTUM, ComplexSpectrogramVAE
from speechgen.signal import griffin_lim, istft, mel_filterbank
from speechgen.signal.mel import log_mel_to_linear
from speechgen.signal.stft import STFTConfig

Spectrograms = Tuple[np.ndarray, np.ndarray]  # (input, reconstruction), each (F, N)


@torch.no_grad()
def resynth_complex(trained, x: np.ndarray, n_iter: int = 100, seed: int = 0) -> Tuple[Dict[str, np.ndarray],
                                                                                    Spectrograms]:
    """A complex-spectrogram VAE's reconstruction of ``x`` (at the model's rate) with and without GLA."""
    model, conf = trained.model, trained.settings
    feats = trained.features(x, trained.sample_rate)
    log_mag, phase = model.decode_utterance(feats[None], seed)
    mag = log_mag.exp().float()
    tag = model.decoded_condition
    waves = {tag: istft(torch.polar(mag, phase.float()), length=len(x), **conf.kwargs()).numpy()}
    if n_iter > 0:
        refined = griffin_lim(mag[None], n_iter=n_iter, momentum=GLA_MOMENTUM, init=phase.float()[None],
                              length=len(x), **conf.kwargs())
        waves[f"{tag}_GLA{n_iter}"] = refined[0].numpy()
    original = feats.numpy() * trained.cmvn.std + trained.cmvn.mean
    return waves, (original.T, log_mag.numpy())


def logmel_to_audio(log_mel: np.ndarray, conf, n_iter: int = 100, seed: int = 0) -> np.ndarray:
    """Log-mel power frames (N, n_mels) of the settings ``conf`` (LogMelConfig) -> a waveform in [-1, 1]:
    the mel filterbank inverted (least squares), fast Griffin-Lim's phase, de-emphasis, the features'
    16-bit scale undone."""
    from scipy.signal import lfilter

    from speechgen.data.frames import WAV_SCALE

    fb = mel_filterbank(conf.sample_rate, conf.n_fft, conf.n_mels, conf.fmin, conf.fmax, scale="kaldi",
                        norm=None).to(torch.float64)
    log_mel = torch.from_numpy(np.asarray(log_mel, dtype=np.float64).T)  # (n_mels, N)
    mag = log_mel_to_linear(log_mel[None], fb)[0].clamp_min(0).sqrt().float()
    y = griffin_lim(mag[None], n_fft=conf.n_fft, hop_length=conf.hop_length, win_length=conf.win_length,
                    window=conf.window, center=False, n_iter=n_iter, momentum=0.99, seed=seed)[0].numpy()
    if conf.preemphasis:
        y = lfilter([1.0], [1.0, -conf.preemphasis], y)
    return (y / WAV_SCALE).astype(np.float32)


@torch.no_grad()
def resynth_logmel(trained, x: np.ndarray, n_iter: int = 100, seed: int = 0) -> Tuple[Dict[str, np.ndarray],
                                                                                   Spectrograms]:
    """A log-mel model's reconstruction of ``x``: windows overlap-added, mel inverted, GLA, de-emphasis."""
    model, conf = trained.model, trained.settings
    feats = trained.features(x, trained.sample_rate)
    size = int(model.n_frames)
    starts = window_starts(len(feats), size, 1)
    recon = model.reconstruct(windows_at(feats, starts, size))
    frames = overlap_add(recon, starts, len(feats)).numpy() * trained.cmvn.std + trained.cmvn.mean
    log_mel = frames[:, :conf.n_mels]  # (N, n_mels) log mel power
    y = logmel_to_audio(log_mel, conf, n_iter, seed)
    out = np.zeros(len(x), dtype=np.float32)
    out[:min(len(y), len(x))] = y[:len(x)]
    original = feats.numpy()[:, :conf.n_mels] * trained.cmvn.std[:conf.n_mels] + trained.cmvn.mean[:conf.n_mels]
    return {f"logmel_GLA{n_iter}": out}, (original.T, log_mel.T)


def resynthesise(trained, x: np.ndarray, n_iter: int = 100, seed: int = 0):
    """The analysis-synthesis of ``x`` by whichever kind of model ``trained`` holds."""
    if isinstance(trained.model, ComplexSpectrogramVAE) and isinstance(trained.settings, STFTConfig):
        return resynth_complex(trained, x, n_iter, seed)
    if isinstance(trained.model, Reconstructor) and isinstance(trained.settings, LogMelConfig):
        return resynth_logmel(trained, x, n_iter, seed)
    raise ConfigError(f"{trained.source}: model '{model_name(trained.model)}' cannot resynthesise audio (a "
                      "chime_complex model, or a timit_logmel model that reconstructs: vae, wae_mmd, wae_gan, vaegan)")
