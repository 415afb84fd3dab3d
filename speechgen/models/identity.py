"""The model-free baseline: the identity map between a normalised segment and its "code".

``encode(x) = x.flatten()`` and ``decode(z)`` its reshape, so every evaluation written for a latent
model runs on the data itself: k-NN accuracy and t-SNE of the codes are those of the normalised
segments, and the mean-shift manipulation becomes ``x' = x + xbar_c2 - xbar_c1``, the difference of
the class means of the normalised training segments. Its density is the standard normal of the
normalised features (per-bin mean and variance, no correlations), the floor a flow must beat.
It has no parameters: the trainer validates it once and saves it like any model.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import torch

from speechgen.models.abilities import Autoencoder
from speechgen.models.base import MODELS, GenerativeModel
from speechgen.models.flows import gaussian_log_prob


@MODELS.register("identity")
class Identity(GenerativeModel, Autoencoder):
    """No model: feats (B, T, F) are their own code (B, T * F).

    Args:
        n_frames, n_bins: T and F of the segments.
    """

    def __init__(self, n_frames: int = 20, n_bins: int = 200):
        super().__init__()
        self.n_frames, self.n_bins = n_frames, n_bins
        self.dim = n_frames * n_bins

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """NLL in nats per dim of the normalised feats under N(0, I)."""
        nll = -gaussian_log_prob(self.encode(batch["feats"])).mean() / self.dim
        return nll, {"loss": nll.item(), "nll": nll.item(), "bpd": nll.item() / math.log(2.0)}

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, T * F)."""
        return feats.flatten(1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T * F) -> (B, T, F); the exact inverse of ``encode``."""
        return z.reshape(z.shape[0], self.n_frames, self.n_bins)
