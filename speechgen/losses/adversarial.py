"""Adversarial losses: the Wasserstein critic/generator pair and the (non-saturating) GAN pair.

Signs, as minimised by each player:

    WGAN critic     D(x~) - D(x)              (+ lambda GP, see gradient_penalty)
    WGAN generator  -D(x~)
    GAN discriminator   -log s(D(x)) - log(1 - s(D(x~)))     (D returns logits, s = sigmoid)
    GAN generator       -log s(D(x~))                        (the non-saturating form)
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def wasserstein_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """``E[D(fake)] - E[D(real)]``: d_real (B,), d_fake (B,) -> scalar (minimised by the critic)."""
    return d_fake.mean() - d_real.mean()


def wasserstein_generator_loss(d_fake: Tensor) -> Tensor:
    """``-E[D(fake)]``: d_fake (B,) -> scalar (minimised by the generator)."""
    return -d_fake.mean()


def discriminator_bce(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """``-E log s(D(real)) - E log(1 - s(D(fake)))`` from logits (B,), (B',) -> scalar."""
    return (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))


def generator_bce(logits_fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``-E log s(D(fake))`` from logits (B,) -> scalar."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
