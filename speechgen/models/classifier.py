"""MLP posterior classifiers of one factor (phone or speaker) of a spectrogram segment.

They score manipulations: ``p(c | x)`` before and after a latent mean shift. Trained with the same
trainer as the generative models, on the normalised training segments.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch
from torch import nn

from speechgen.data.tables import FACTORS
from speechgen.errors import ConfigError
from speechgen.models.abilities import Encoder
from speechgen.models.base import MODELS, GenerativeModel


@MODELS.register("mlp_classifier")
class MLPClassifier(GenerativeModel, Encoder):
    """Flattened (T, F) segment -> class logits through ReLU hidden layers with dropout.

    Args:
        label: the factor predicted, ``phone`` or ``spk`` (the batch key of the class ids).
        n_classes: number of classes.
        n_frames, n_bins: segment size (T, F).
        hidden: widths of the hidden layers.
        dropout: dropout before each hidden layer; input dropout is ``input_dropout``.
    """

    def __init__(self, label: str = "phone", n_classes: int = 38, n_frames: int = 20, n_bins: int = 200,
                 hidden: Sequence[int] = (512, 512), dropout: float = 0.3, input_dropout: float = 0.1):
        super().__init__()
        if label not in FACTORS:
            raise ConfigError(f"model_conf.label={label!r}: expected one of {', '.join(FACTORS)}")
        self.label, self.n_classes, self.n_frames, self.n_bins = label, n_classes, n_frames, n_bins
        layers = [nn.Flatten(), nn.Dropout(input_dropout)]
        width = n_frames * n_bins
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, n_classes)."""
        return self.net(feats)

    @torch.no_grad()
    def posteriors(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, n_classes) class probabilities (eval mode is the caller's)."""
        return torch.softmax(self.logits(feats), dim=-1)

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        if self.label not in batch:
            raise ConfigError(f"the data have no '{self.label}' labels (seg2{self.label}); "
                              "pass --lang-dir and a feature dir with label files")
        target = batch[self.label]
        logits = self.logits(batch["feats"])
        loss = nn.functional.cross_entropy(logits, target)
        acc = (logits.argmax(-1) == target).float().mean()
        return loss, {"loss": loss.item(), "err": 1.0 - acc.item(), "acc": acc.item()}

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Class posteriors as the 'code' of a segment: (B, T, F) -> (B, n_classes)."""
        return self.posteriors(feats)
