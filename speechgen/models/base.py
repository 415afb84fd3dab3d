"""The small surface every speechgen model exposes to the trainer, and the registry of the models.

What a model can do beyond training (encode, decode, reconstruct, sample, name its factors) it
declares by inheriting the interfaces of :mod:`speechgen.models.abilities`.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from speechgen.models.registry import Registry


class GenerativeModel(nn.Module):
    """Base class of registered models.

    ``forward(batch)`` returns ``(loss, stats)``: a scalar tensor to minimise and a dict of floats
    to log. ``batch`` is a dict with at least ``feats: (B, T, F)`` normalised features, and for labelled
    data ``phone: (B,)`` and ``spk: (B,)`` integer classes.
    """

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        raise NotImplementedError


MODELS = Registry("model", GenerativeModel)
"""Every model class by its config name; ``import speechgen.models`` fills it."""
