"""The small surface every speechgen model exposes to the trainer, and the registry of the models.

What a model can do beyond training (encode, decode, reconstruct, sample, name its factors) it
declares by inheriting the interfaces of :mod:`speechgen.models.abilities`.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Tuple

import torch
from torch import nn

from speechgen.errors import ConfigError
from speechgen.models.registry import Registry


class GenerativeModel(nn.Module):
    """Base class of registered models.

    ``forward(batch)`` returns ``(loss, stats)``: a scalar tensor to minimise and a dict of floats
    to log. ``batch`` is a dict with at least ``feats: (B, T, F)`` normalised features, and for labelled
    data ``phone: (B,)`` and ``spk: (B,)`` integer classes.
    """

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        raise NotImplementedError

    @property
    def needs_data_pass(self) -> bool:
        """Whether the trainer gives ``init_from_data`` one ordered pass over the training set before the
        first step (the DNFs with ``init_means: data``); none here."""
        return False

    def init_from_data(self, batches: Iterable[Dict[str, torch.Tensor]]) -> None:
        """Data-dependent initialisation from ``batches`` when ``needs_data_pass``; nothing here."""

    def setup_training(self, cmvn: Any, fresh: bool, init_state: Optional[Dict[str, torch.Tensor]] = None,
                       source: str = "") -> None:
        """Called by ``speechgen-train`` before training: ``cmvn`` the training set's normalisation,
        ``fresh`` true when no epoch was trained yet, ``init_state`` the weights of another experiment
        (``--init-from source``, fresh runs only). A model that starts from another's weights or keeps
        feature statistics overrides it; this one takes no weights."""
        if init_state is not None:
            raise ConfigError(f"--init-from {source}: model {type(self).__name__} cannot start from another "
                              "experiment's weights; leave --init-from out")


MODELS = Registry("model", GenerativeModel)
"""Every model class by its config name; ``import speechgen.models`` fills it."""
