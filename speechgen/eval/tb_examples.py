"""A trainer epoch hook: fixed training segments and their reconstructions, as a figure and as audio,
into the training's TensorBoard log (``figures/reconstruction``, ``audio/<n>_{input,reconstruction}``).

It draws nothing for a model that does not reconstruct or a training without TensorBoard; the audio
needs the feature settings (``spec.yaml``) of the segments, and is made by fast Griffin-Lim.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from speechgen.data.dataset import Cmvn
from speechgen.data.features import SegmentSpecConfig
from speechgen.eval.examples import segments_to_audio
from speechgen.eval.plots import plt
from speechgen.models.abilities import Reconstructor


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
        rows = [self.examples.numpy() * self.cmvn.std + self.cmvn.mean, recon * self.cmvn.std + self.cmvn.mean]
        fig, axes = plt.subplots(2, len(self.examples), figsize=(2.2 * len(self.examples), 4.0), squeeze=False)
        for r, (name, segs) in enumerate(zip(("input", "reconstruction"), rows)):
            for c, seg in enumerate(segs):
                axes[r][c].imshow(seg.T, origin="lower", aspect="auto", cmap="magma")
                axes[r][c].set_xticks([])
                axes[r][c].set_yticks([])
            axes[r][0].set_ylabel(name)
        fig.tight_layout()
        board.writer.add_figure("figures/reconstruction", fig, trainer.step)
        if self.spec is not None:
            for name, segs in zip(("input", "reconstruction"), rows):
                audio = segments_to_audio(segs[:self.n_audio], self.spec, n_iter=self.gla_iters)
                for i, wav in enumerate(audio):
                    wav = wav / max(1e-6, float(np.abs(wav).max()))
                    board.writer.add_audio(f"audio/{i}_{name}", torch.from_numpy(wav)[None], trainer.step,
                                           sample_rate=self.spec.sample_rate)
        board.writer.flush()
