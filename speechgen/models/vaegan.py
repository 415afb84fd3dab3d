"""VAE-GAN (Larsen, Sønderby, Larochelle & Winther, ICML 2016) on feature windows.

A VAE whose reconstruction error is measured in the feature space of a GAN discriminator:
with z ~ q(z|x) = N(mu(x), diag(sigma^2(x))), x~ = Dec(z), x_p = Dec(z_p), z_p ~ N(0, I) and
Dis_l the discriminator's last convolutional layer (flattened),

    L_prior = KL(q(z|x) || N(0, I))
    L_llike = -log N(Dis_l(x); Dis_l(x~), I) = 1/2 ||Dis_l(x) - Dis_l(x~)||^2  (+ const)
    L_GAN   = log Dis(x) + log(1 - Dis(x~)) + log(1 - Dis(x_p)).

Each batch updates the three networks from the same forward pass (the paper's Algorithm 1):
the encoder on ``beta L_prior + L_llike``, the decoder on ``gamma L_llike`` plus the
non-saturating generator loss on x~ and x_p, the discriminator on ``-L_GAN`` (binary
cross-entropy). L_llike is not used to train the discriminator. Optimisers: ``encoder``,
``decoder``, ``discriminator``. ``data_weight`` optionally adds the element-wise squared error
(0 by default: the reconstruction error is the discriminator's alone).
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from speechgen.errors import ConfigError
from speechgen.losses.adversarial import discriminator_bce, generator_bce
from speechgen.models.abilities import Autoencoder
from speechgen.models.base import MODELS
from speechgen.models.gan_parts import (MultiOptimizerModel, PriorSampler, WindowDecoderNet, WindowEncoderNet,
                                        prior_sample)
from speechgen.models.vae import gaussian_kl_std_normal


class FeatureDiscriminator(nn.Module):
    """(B, T, F) -> (features (B, C * T'), logits (B,)): Dis_l is the last convolution's output."""

    def __init__(self, n_frames: int, n_bins: int, channels: Sequence[int], hidden: int, norm: str = "none"):
        super().__init__()
        self.net = WindowEncoderNet(n_frames, n_bins, channels, hidden, norm=norm, activation="lrelu")
        self.logit = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        features = self.net.conv(x.transpose(1, 2)).flatten(1)
        return features, self.logit(self.net.fc(features)).squeeze(-1)


@MODELS.register("vae_gan")
class VAEGAN(MultiOptimizerModel, Autoencoder, PriorSampler):
    """VAE-GAN on (B, T, F) windows.

    Args:
        n_frames, n_bins: T and F of a window.
        channels, hidden: encoder conv widths and FC width (the decoder mirrors them).
        latent_dim: size of z.
        disc_channels, disc_hidden: discriminator widths.
        disc_norm: the discriminator's normalisation, ``none`` or ``layer`` (per example; it removes the
            level of each window from the features, which then cannot carry it into the reconstruction).
        beta: weight of the KL term in the encoder loss.
        gamma: weight of the feature-space reconstruction term in the decoder loss, against the GAN term.
        data_weight: weight of an extra element-wise squared error (summed over the window) for
            encoder and decoder; 0 keeps the paper's loss.
    """

    def __init__(self, n_frames: int = 9, n_bins: int = 120, channels: Sequence[int] = (128, 128, 128),
                 hidden: int = 256, latent_dim: int = 32, disc_channels: Sequence[int] = (128, 128, 128),
                 disc_hidden: int = 256, disc_norm: str = "layer", beta: float = 1.0, gamma: float = 1.0,
                 data_weight: float = 0.0):
        super().__init__()
        self.n_frames, self.n_bins, self.latent_dim = n_frames, n_bins, latent_dim
        self.beta, self.gamma, self.data_weight = beta, gamma, data_weight
        self.encoder_net = WindowEncoderNet(n_frames, n_bins, channels, hidden, norm="batch")
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = WindowDecoderNet(latent_dim, n_frames, n_bins, channels, hidden, norm="batch")
        if disc_norm not in ("none", "layer"):
            raise ConfigError(f"model_conf.disc_norm={disc_norm!r}: expected 'none' or 'layer' (batch norm would mix "
                              "the real, reconstructed and sampled batches the discriminator sees separately)")
        self.discriminator = FeatureDiscriminator(n_frames, n_bins, disc_channels, disc_hidden, disc_norm)

    # ------------------------------------------------------------------ losses
    def _posterior(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, F) -> mean, log-variance: (B, D) each."""
        h = self.encoder_net(x)
        return self.mu(h), self.logvar(h)

    def _losses(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Every term of the three players' losses for one batch x: (B, T, F)."""
        mu, logvar = self._posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        x_rec = self.decoder(z)
        x_prior = self.decoder(prior_sample(x.shape[0], self.latent_dim, x))
        feat_real, logit_real = self.discriminator(x)
        feat_rec, logit_rec = self.discriminator(x_rec)
        _, logit_prior = self.discriminator(x_prior)
        sq_err = (x - x_rec).pow(2).flatten(1).sum(1).mean()
        llike = 0.5 * (feat_real - feat_rec).pow(2).sum(1).mean()
        fake_logits = torch.cat([logit_rec, logit_prior])
        return {
            "kl": gaussian_kl_std_normal(mu, logvar).mean(),
            "llike": llike,
            "sq_err": sq_err,
            # the discriminator's BCE weighs real and fake batches equally (the fakes are twice as many)
            "disc_loss": discriminator_bce(logit_real, fake_logits),
            "gen_loss": generator_bce(fake_logits),
        }

    def _player_losses(self, terms: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        data = self.data_weight * terms["sq_err"]
        return {"encoder": self.beta * terms["kl"] + terms["llike"] + data,
                "decoder": self.gamma * terms["llike"] + terms["gen_loss"] + data,
                "discriminator": terms["disc_loss"]}

    def _stats(self, terms: Dict[str, torch.Tensor], x: torch.Tensor) -> Dict[str, float]:
        dims = x.shape[1] * x.shape[2]
        enc_loss = self.beta * terms["kl"] + terms["llike"]
        return {"loss": enc_loss.item() / dims, "kl": terms["kl"].item() / dims, "llike": terms["llike"].item(),
                "mse": terms["sq_err"].item() / dims, "disc_loss": terms["disc_loss"].item(),
                "gen_loss": terms["gen_loss"].item()}

    # ------------------------------------------------------------------ training
    def optimizer_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"encoder": [*self.encoder_net.parameters(), *self.mu.parameters(), *self.logvar.parameters()],
                "decoder": list(self.decoder.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def train_step(self, batch: Dict[str, torch.Tensor], optimizers: Dict[str, torch.optim.Optimizer],
                   step: int) -> Dict[str, float]:
        x = batch["feats"]
        terms = self._losses(x)
        losses = self._player_losses(terms)
        # every gradient from the same forward pass first, then the three steps
        for name, loss in losses.items():
            opt = optimizers[name]
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=[p for g in opt.param_groups for p in g["params"]], retain_graph=True)
        for name in losses:
            optimizers[name].step()
        return self._stats(terms, x)

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Validation: the encoder's loss (beta KL + feature-space error) per element, with every term."""
        x = batch["feats"]
        terms = self._losses(x)
        return self._player_losses(terms)["encoder"] / (x.shape[1] * x.shape[2]), self._stats(terms, x)

    # ------------------------------------------------------------------ eval verbs
    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Posterior means: (B, T, F) -> (B, D)."""
        return self._posterior(feats)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, T, F)."""
        return self.decoder(z)
