"""Trainer epoch hooks: fixed training examples and their reconstructions, as a figure and as audio,
into the training's TensorBoard log (``figures/reconstruction``, ``audio/<n>_{input,reconstruction}``).

They draw nothing for a model that does not reconstruct or a training without TensorBoard. Segments
(timit_fdnf) need their feature settings (``spec.yaml``) for audio, made by fast Griffin-Lim; crops
of complex spectrograms (chime_complex) are heard by the inverse STFT with their phase.
"""
from __future__ import annotations

from typing import Optional

import torch

from speechgen.data.tables import Cmvn
from speechgen.data.features import SegmentSpecConfig
from speechgen.eval.examples import segments_to_audio
from speechgen.eval.plots import plt
from speechgen.models.abilities import Reconstructor


def write_examples(board, step: int, rows, audio, sample_rate: int) -> None:
    """Into a TensorBoard log: the figure ``figures/reconstruction`` of ``rows`` {name: [(F, T) or (T, F)
    matrices drawn with time across]} and the clips ``audio/<i>_<name>`` of ``audio`` {name: [waveforms]}."""
    names = list(rows)
    n = len(rows[names[0]])
    fig, axes = plt.subplots(len(names), n, figsize=(2.2 * n, 2.0 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, mat in enumerate(rows[name]):
            axes[r][c].imshow(mat, origin="lower", aspect="auto", cmap="magma")
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(name)
    fig.tight_layout()
    board.writer.add_figure("figures/reconstruction", fig, step)
    for name, clips in audio.items():
        for i, wav in enumerate(clips):
            board.audio(f"audio/{i}_{name}", wav, step, sample_rate)
    board.writer.flush()


class SegmentReconstructionHook:
    """``examples`` (n, T, F) normalised segments; ``spec`` their analysis settings (None: no audio)."""

    def __init__(self, examples: torch.Tensor, cmvn: Cmvn, spec: Optional[SegmentSpecConfig], n_audio: int = 2,
                 gla_iters: int = 32):
        self.examples, self.cmvn, self.spec = examples, cmvn, spec
        self.n_audio, self.gla_iters = n_audio, gla_iters

    @torch.no_grad()
    def __call__(self, trainer) -> None:
        board, model = getattr(trainer, "tensorboard", None), trainer.model
        if board is None or not isinstance(model, Reconstructor):
            return
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        recon = model.reconstruct(self.examples.to(device)).cpu().numpy()
        rows = {"input": self.examples.numpy() * self.cmvn.std + self.cmvn.mean,
                "reconstruction": recon * self.cmvn.std + self.cmvn.mean}
        audio = {}
        if self.spec is not None:
            audio = {name: segments_to_audio(segs[:self.n_audio], self.spec, n_iter=self.gla_iters)
                     for name, segs in rows.items()}
        write_examples(board, trainer.step, {k: [seg.T for seg in v] for k, v in rows.items()}, audio,
                       self.spec.sample_rate if self.spec is not None else 16000)


class ComplexReconstructionHook:
    """Complex-spectrogram crops through a complex VAE, each epoch: the input's and the decoded
    log-magnitude as a figure, and as audio the input (its own phase) and the decoding (the phase its
    heads estimate, or a random phase for M), by the inverse STFT.

    Args:
        feats: (n, T, F) normalised log-magnitudes; phase: (n, T, F) their phase.
        stft: the features' STFT settings.
    """

    def __init__(self, feats: torch.Tensor, phase: torch.Tensor, cmvn: Cmvn, stft, n_audio: int = 2):
        self.feats, self.phase, self.cmvn, self.stft, self.n_audio = feats, phase, cmvn, stft, n_audio

    @torch.no_grad()
    def __call__(self, trainer) -> None:
        from speechgen.signal import istft

        board, model = getattr(trainer, "tensorboard", None), trainer.model
        if board is None or not hasattr(model, "decode_utterance"):
            return
        device = next(iter(model.parameters())).device
        was_training = model.training
        model.eval()
        rows, audio = {"input": [], "reconstruction": []}, {"input": [], "reconstruction": []}
        for i, (feats, phase) in enumerate(zip(self.feats, self.phase)):
            log_mag, est_phase = model.decode_utterance(feats[None].to(device), seed=i)
            original = (feats.numpy() * self.cmvn.std + self.cmvn.mean).T  # (F, T)
            rows["input"].append(original)
            rows["reconstruction"].append(log_mag.cpu().numpy())
            if i < self.n_audio:
                for name, mag, ph in (("input", torch.from_numpy(original).exp(), phase.T),
                                      ("reconstruction", log_mag.cpu().exp(), est_phase.cpu())):
                    audio[name].append(istft(torch.polar(mag.float(), ph.float()), **self.stft.kwargs()).numpy())
        model.train(was_training)
        write_examples(board, trainer.step, rows, audio, self.stft.sample_rate)
