"""Wasserstein auto-encoder (Tolstikhin, Bousquet, Gelly & Schoelkopf, ICLR 2018) on feature windows.

A deterministic encoder z = Q(x) and decoder x' = G(z) minimise

    c(x, G(Q(x))) + lambda * D_Z(Q_Z, P_Z),     c = squared L2 over the window, P_Z = N(0, I),

where the divergence between the aggregate posterior Q_Z and the prior is either

* ``regularizer: mmd``: the unbiased MMD with inverse multiquadratic kernels (WAE-MMD, Algorithm 2),
  one optimiser; or
* ``regularizer: gan``: a latent discriminator D(z) trained to tell prior draws (label 1) from codes
  (label 0), the encoder paying ``-lambda log D(Q(x))`` (WAE-GAN, Algorithm 1); two optimisers,
  ``autoencoder`` and ``discriminator``, the discriminator stepping first on each batch.

Losses are reported per window element (divided by T*F) so they compare with the VAE's.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from speechgen.errors import ConfigError
from speechgen.losses.adversarial import discriminator_bce, generator_bce
from speechgen.losses.mmd import DEFAULT_SCALES, mmd_imq
from speechgen.models.abilities import Autoencoder
from speechgen.models.base import MODELS
from speechgen.models.gan_parts import (MultiOptimizerModel, PriorSampler, WindowDecoderNet, WindowEncoderNet,
                                        prior_sample)

REGULARIZERS = ("mmd", "gan")


def latent_discriminator(latent_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """MLP z: (B, D) -> (B, 1) logits of 'drawn from the prior'."""
    layers: List[nn.Module] = []
    width = latent_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


@MODELS.register("wae")
class WAE(MultiOptimizerModel, Autoencoder, PriorSampler):
    """WAE-MMD or WAE-GAN on (B, T, F) windows.

    Args:
        n_frames, n_bins: T and F of a window.
        channels, hidden: encoder conv widths and FC width (the decoder mirrors them).
        latent_dim: size of z; the prior is N(0, prior_std^2 I).
        regularizer: ``mmd`` or ``gan``.
        lam: weight lambda of the divergence against the summed squared error.
        kernel_scales: multiples of C = 2 * latent_dim whose IMQ kernels are summed (mmd).
        disc_hidden: hidden widths of the latent discriminator (gan).
        prior_std: the prior's standard deviation (the seed's WAE-GAN draws N(0, 25 I): 5).
    """

    def __init__(self, n_frames: int = 9, n_bins: int = 120, channels: Sequence[int] = (128, 128, 128),
                 hidden: int = 256, latent_dim: int = 32, regularizer: str = "mmd", lam: float = 100.0,
                 kernel_scales: Sequence[float] = DEFAULT_SCALES, disc_hidden: Sequence[int] = (256, 256),
                 prior_std: float = 1.0):
        super().__init__()
        if regularizer not in REGULARIZERS:
            raise ConfigError(f"model_conf.regularizer={regularizer!r}: expected one of {', '.join(REGULARIZERS)}")
        if not prior_std > 0:
            raise ConfigError(f"model_conf.prior_std={prior_std}: must be positive")
        self.n_frames, self.n_bins, self.latent_dim, self.prior_std = n_frames, n_bins, latent_dim, prior_std
        self.regularizer, self.lam, self.kernel_scales = regularizer, lam, tuple(kernel_scales)
        self.encoder_net = WindowEncoderNet(n_frames, n_bins, channels, hidden, norm="batch")
        self.to_code = nn.Linear(hidden, latent_dim)
        self.decoder = WindowDecoderNet(latent_dim, n_frames, n_bins, channels, hidden, norm="batch")
        self.discriminator = latent_discriminator(latent_dim, disc_hidden) if regularizer == "gan" else None

    # ------------------------------------------------------------------ networks
    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, F) -> z: (B, D)."""
        return self.to_code(self.encoder_net(x))

    def _penalty(self, z: torch.Tensor) -> torch.Tensor:
        """The divergence term for codes z: (B, D) -> scalar (before lambda)."""
        if self.regularizer == "mmd":
            return mmd_imq(z, prior_sample(z.shape[0], self.latent_dim, z, std=self.prior_std),
                           prior_var=self.prior_std ** 2, scales=self.kernel_scales)
        return generator_bce(self.discriminator(z).squeeze(-1))

    def _autoencoder_loss(self, x: torch.Tensor, z: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, float]]:
        x_rec = self.decoder(z)
        dims = x.shape[1] * x.shape[2]
        sq_err = (x - x_rec).pow(2).flatten(1).sum(1).mean()
        penalty = self._penalty(z)
        loss = (sq_err + self.lam * penalty) / dims
        stats = {"loss": loss.item(), "mse": sq_err.item() / dims, self.regularizer: penalty.item()}
        return loss, stats

    # ------------------------------------------------------------------ training
    def optimizer_groups(self) -> Dict[str, List[nn.Parameter]]:
        groups = {"autoencoder": [*self.encoder_net.parameters(), *self.to_code.parameters(),
                                  *self.decoder.parameters()]}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Reconstruction + lambda * divergence per element; the stats add ``mse`` and the divergence."""
        x = batch["feats"]
        return self._autoencoder_loss(x, self._encode(x))

    def train_step(self, batch: Dict[str, torch.Tensor], optimizers: Dict[str, torch.optim.Optimizer],
                   step: int) -> Dict[str, float]:
        x = batch["feats"]
        z = self._encode(x)
        stats: Dict[str, float] = {}
        if self.discriminator is not None:
            z_prior = prior_sample(z.shape[0], self.latent_dim, z, std=self.prior_std)
            disc_loss = discriminator_bce(self.discriminator(z_prior).squeeze(-1),
                                          self.discriminator(z.detach()).squeeze(-1))
            self.update(optimizers["discriminator"], disc_loss)
            stats["disc_loss"] = disc_loss.item()
        loss, ae_stats = self._autoencoder_loss(x, z)
        self.update(optimizers["autoencoder"], loss)
        return {**ae_stats, **stats}

    # ------------------------------------------------------------------ eval verbs
    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, D) codes."""
        return self._encode(feats)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, T, F)."""
        return self.decoder(z)
