"""Convolutional VAE on spectrogram segments (after Hsu, Zhang & Glass, Interspeech 2017).

The encoder's first layer has filters spanning all frequency bins (a 1 x F kernel, i.e. a
1-d convolution over time with F input channels), followed by strided convolutions over time,
a fully connected layer and a diagonal Gaussian posterior. The decoder mirrors it and outputs
the mean and log-variance of a diagonal Gaussian over the (normalised) spectrogram.
"""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch
from torch import nn

from speechgen.models.abilities import Autoencoder
from speechgen.models.base import MODELS, GenerativeModel
from speechgen.models.gan_parts import PriorSampler

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise negative log-density of N(x; mean, exp(logvar))."""
    return 0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def gaussian_kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last dim: (B, D) -> (B,)."""
    return 0.5 * torch.sum(mu ** 2 + torch.exp(logvar) - 1.0 - logvar, dim=-1)


def _conv_out_len(n: int, stride: int) -> int:
    return (n + 2 * 1 - 3) // stride + 1  # kernel 3, padding 1


class ConvEncoder(nn.Module):
    """(B, T, F) -> posterior mean and log-variance, each (B, D)."""

    def __init__(self, n_frames: int, n_bins: int, channels: Sequence[int], hidden: int, latent_dim: int):
        super().__init__()
        layers = [nn.Conv1d(n_bins, channels[0], kernel_size=1), nn.BatchNorm1d(channels[0]), nn.Tanh()]
        t = n_frames
        self.time_lengths = [t]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv1d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm1d(c_out), nn.Tanh()]
            t = _conv_out_len(t, 2)
            self.time_lengths.append(t)
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(channels[-1] * t, hidden), nn.BatchNorm1d(hidden), nn.Tanh())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x.transpose(1, 2)).flatten(1)
        h = self.fc(h)
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """(B, D) -> Gaussian mean and log-variance, each (B, T, F)."""

    def __init__(self, n_bins: int, channels: Sequence[int], time_lengths: Sequence[int],
                 hidden: int, latent_dim: int):
        super().__init__()
        chans = list(channels)[::-1]
        lengths = list(time_lengths)[::-1]
        self.start = (chans[0], lengths[0])
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.Tanh(),
            nn.Linear(hidden, chans[0] * lengths[0]), nn.BatchNorm1d(chans[0] * lengths[0]), nn.Tanh(),
        )
        layers = []
        for (c_in, c_out), (t_in, t_out) in zip(zip(chans[:-1], chans[1:]), zip(lengths[:-1], lengths[1:])):
            # output_padding restores the odd/even length the strided encoder conv removed
            pad = t_out - ((t_in - 1) * 2 - 2 + 3)
            layers += [nn.ConvTranspose1d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad),
                       nn.BatchNorm1d(c_out), nn.Tanh()]
        self.deconv = nn.Sequential(*layers)
        self.mean = nn.Conv1d(chans[-1], n_bins, kernel_size=1)
        self.logvar = nn.Conv1d(chans[-1], n_bins, kernel_size=1)

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(z).view(z.shape[0], *self.start)
        h = self.deconv(h)
        return self.mean(h).transpose(1, 2), self.logvar(h).transpose(1, 2)


@MODELS.register("conv_vae")
class ConvVAE(GenerativeModel, Autoencoder, PriorSampler):
    """Convolutional VAE with a Gaussian decoder on (B, T, F) spectrogram segments.

    Args:
        n_frames: T, frames per segment.
        n_bins: F, frequency bins per frame.
        channels: encoder conv widths; the first spans all F bins, the rest stride 2 in time.
        hidden: width of the fully connected layer.
        latent_dim: size of z.
        beta: weight of the KL term (1 gives the ELBO).
        min_logvar: floor of the decoder log-variance, keeps the likelihood bounded.
    """

    def __init__(self, n_frames: int = 20, n_bins: int = 200, channels: Sequence[int] = (64, 128, 256),
                 hidden: int = 512, latent_dim: int = 128, beta: float = 1.0, min_logvar: float = -6.0):
        super().__init__()
        self.n_frames, self.n_bins, self.latent_dim = n_frames, n_bins, latent_dim
        self.beta, self.min_logvar = beta, min_logvar
        self.encoder = ConvEncoder(n_frames, n_bins, channels, hidden, latent_dim)
        self.decoder = ConvDecoder(n_bins, channels, self.encoder.time_lengths, hidden, latent_dim)

    def _decode_params(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.decoder(z)
        return mean, self.min_logvar + nn.functional.softplus(logvar - self.min_logvar)

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        x = batch["feats"]
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        mean, dec_logvar = self._decode_params(z)
        dims = x.shape[1] * x.shape[2]
        nll = gaussian_nll(x, mean, dec_logvar).flatten(1).sum(1)
        kl = gaussian_kl_std_normal(mu, logvar)
        loss = (nll + self.beta * kl).mean() / dims
        mse = torch.mean((x - mean) ** 2)
        stats = {"loss": loss.item(), "nll": nll.mean().item() / dims, "kl": kl.mean().item() / dims,
                 "mse": mse.item()}
        return loss, stats

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Posterior mean: (B, T, F) -> (B, D)."""
        return self.encoder(feats)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean: (B, D) -> (B, T, F)."""
        return self._decode_params(z)[0]
