"""The small surface every speechgen model exposes to the trainer and the eval stages."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn


class GenerativeModel(nn.Module):
    """Base class of registered models.

    ``forward(batch)`` returns ``(loss, stats)``: a scalar tensor to minimise and a dict of floats
    to log. ``batch`` is a dict with at least ``feats: (B, T, F)`` normalised features, and for labelled
    data ``phone: (B,)`` and ``spk: (B,)`` integer classes. Models that have a latent space also
    implement ``encode(feats) -> (B, D)`` (a deterministic code used by the eval stages).
    """

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        raise NotImplementedError

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no latent code to encode into")
