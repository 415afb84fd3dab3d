"""Building blocks shared by the window models (WAE, WGAN-GP, VAE-GAN).

Networks act on windows ``x: (B, T, F)`` of T frames by F feature dims, with the layout of the
convolutional VAE (Hsu, Zhang & Glass 2017): a first convolution whose filters span all F dims
(a 1-d convolution over time with F input channels), then convolutions with stride 2 in time, then
a fully connected layer. Decoders and generators mirror it. ``norm`` picks the normalisation:
``batch`` for encoders and generators, ``layer`` (GroupNorm with one group, per example) or ``none``
for critics, whose gradient penalty must not mix the examples of a batch.

:class:`MultiOptimizerModel` is the base of models trained with several optimisers: it names its
parameter groups, builds one optimiser per group from the config, and gives the trainer
``train_step``. :class:`PriorSampler` samples a decoder model with an N(0, I) prior on its code
(the conv VAE, WAE and VAE-GAN).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence

import torch
from torch import nn

from speechgen.errors import ConfigError
from speechgen.models.abilities import Decoder, Labels, Sampler, check_labels
from speechgen.models.base import GenerativeModel

NORMS = ("batch", "layer", "none")
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(0.2)}


def strided_lengths(n_frames: int, n_layers: int) -> List[int]:
    """Time lengths after each stride-2 convolution (kernel 3, padding 1): [T, ceil(T/2), ...]."""
    lengths = [n_frames]
    for _ in range(n_layers):
        lengths.append((lengths[-1] - 1) // 2 + 1)
    return lengths


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    """A normalisation layer for (B, C, T) (``dims=1``) or (B, C) (``dims=0``) activations."""
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if dims == 1 else nn.LayerNorm(channels)
    return nn.Identity()


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        raise ConfigError(f"model_conf.{name}={value!r}: expected one of {', '.join(choices)}")


class WindowEncoderNet(nn.Module):
    """(B, T, F) -> (B, hidden) features.

    Args:
        n_frames, n_bins: T and F.
        channels: conv widths; the first spans all F bins (kernel 1 in time), each later one strides 2 in time.
        hidden: width of the fully connected layer (the output).
        norm: ``batch``, ``layer`` or ``none``; activation: ``tanh``, ``relu`` or ``lrelu``.
    """

    def __init__(self, n_frames: int, n_bins: int, channels: Sequence[int], hidden: int,
                 norm: str = "batch", activation: str = "lrelu"):
        super().__init__()
        _check_choice("norm", norm, NORMS)
        _check_choice("activation", activation, ACTIVATIONS)
        act = ACTIVATIONS[activation]
        layers: List[nn.Module] = [nn.Conv1d(n_bins, channels[0], kernel_size=1), _norm(norm, channels[0], 1), act()]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv1d(c_in, c_out, 3, stride=2, padding=1), _norm(norm, c_out, 1), act()]
        self.conv = nn.Sequential(*layers)
        self.time_lengths = strided_lengths(n_frames, len(channels) - 1)
        self.fc = nn.Sequential(nn.Linear(channels[-1] * self.time_lengths[-1], hidden), _norm(norm, hidden, 0), act())
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, F) -> (B, hidden)."""
        return self.fc(self.conv(x.transpose(1, 2)).flatten(1))


class WindowDecoderNet(nn.Module):
    """(B, in_dim) -> (B, T, F): the mirror of :class:`WindowEncoderNet` with a linear output layer."""

    def __init__(self, in_dim: int, n_frames: int, n_bins: int, channels: Sequence[int], hidden: int,
                 norm: str = "batch", activation: str = "lrelu"):
        super().__init__()
        _check_choice("norm", norm, NORMS)
        _check_choice("activation", activation, ACTIVATIONS)
        act = ACTIVATIONS[activation]
        chans = list(channels)[::-1]
        lengths = strided_lengths(n_frames, len(channels) - 1)[::-1]
        self.start = (chans[0], lengths[0])
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden), _norm(norm, hidden, 0), act(),
            nn.Linear(hidden, chans[0] * lengths[0]), _norm(norm, chans[0] * lengths[0], 0), act())
        layers: List[nn.Module] = []
        for (c_in, c_out), (t_in, t_out) in zip(zip(chans[:-1], chans[1:]), zip(lengths[:-1], lengths[1:])):
            # output_padding restores the odd/even length the strided encoder convolution removed
            extra = t_out - ((t_in - 1) * 2 - 2 + 3)
            layers += [nn.ConvTranspose1d(c_in, c_out, 3, stride=2, padding=1, output_padding=extra),
                       _norm(norm, c_out, 1), act()]
        self.deconv = nn.Sequential(*layers)
        self.out = nn.Conv1d(chans[-1], n_bins, kernel_size=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, in_dim) -> (B, T, F)."""
        y = self.fc(h).view(h.shape[0], *self.start)
        return self.out(self.deconv(y)).transpose(1, 2)


class MultiOptimizerModel(GenerativeModel):
    """Base of models trained with several optimisers (see :mod:`speechgen.train.trainer`).

    Subclasses define :meth:`optimizer_groups` (``{name: parameters}``, the first being the main
    one) and :meth:`train_step`; ``forward`` stays the validation loss.
    """

    def optimizer_groups(self) -> Dict[str, List[nn.Parameter]]:
        raise NotImplementedError

    def configure_optimizers(self, exp) -> Dict[str, torch.optim.Optimizer]:
        """One optimiser per group, from ``optim``/``optim_conf`` and ``optim_groups`` of the config."""
        from speechgen.train.config import build_optimizers

        return build_optimizers(exp, self.optimizer_groups())

    def train_step(self, batch: Dict[str, torch.Tensor], optimizers: Dict[str, torch.optim.Optimizer],
                   step: int) -> Dict[str, float]:
        raise NotImplementedError

    @staticmethod
    def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, retain_graph: bool = False,
               grad_clip: Optional[float] = None) -> None:
        """One step of ``optimizer`` on ``loss``; gradients go only to that optimiser's parameters."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=params, retain_graph=retain_graph)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()


def prior_sample(n: int, dim: int, like: torch.Tensor, generator: Optional[torch.Generator] = None,
                 std: float = 1.0) -> torch.Tensor:
    """``n`` draws of N(0, std^2 I_dim) on ``like``'s device and dtype: (n, dim)."""
    z = torch.randn(n, dim, generator=generator, dtype=like.dtype)
    return (z * std if std != 1.0 else z).to(like.device)


class PriorSampler(Decoder, Sampler):
    """Unconditional sampling of a decoder model whose prior on its ``latent_dim``-dim code is
    N(0, prior_std^2 I) (``prior_std`` 1 unless the model sets another)."""

    latent_dim: int
    prior_std: float = 1.0

    @torch.no_grad()
    def sample(self, n: int, labels: Labels = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Decoded prior draws: (n, T, F); ``labels`` must be None (the model is unconditional)."""
        check_labels(self, n, labels)
        return self.decode(prior_sample(n, self.latent_dim, next(self.parameters()), generator, self.prior_std))
