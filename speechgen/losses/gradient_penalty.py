"""The WGAN-GP gradient penalty (Gulrajani et al., *Improved Training of Wasserstein GANs*, 2017).

    GP = E_{x^ } [ (||grad_{x^} D(x^)||_2 - 1)^2 ],   x^ = eps x + (1 - eps) x~,  eps ~ U[0, 1],

one eps per example, x real and x~ generated; the norm is taken over all of an example's dims.
The critic loss is then ``D(x~) - D(x) + lambda GP`` (see :mod:`speechgen.losses.adversarial`).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor


def interpolate(real: Tensor, fake: Tensor, eps: Optional[Tensor] = None) -> Tensor:
    """``eps * real + (1 - eps) * fake`` with one eps ~ U[0, 1] per example: (B, ...) -> (B, ...)."""
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     eps: Optional[Tensor] = None, target_norm: float = 1.0) -> Tensor:
    """Mean of ``(||grad D(x^)|| - target_norm)^2`` over the batch, differentiable w.r.t. the critic.

    Args:
        critic: maps (B, ...) inputs to (B,) (or (B, 1)) scores; conditioning is bound by the caller.
        real, fake: (B, ...) batches; ``fake`` should be detached from the generator.
        eps: (B,) interpolation weights; drawn uniformly when not given.

    Returns:
        scalar tensor (without the weight lambda).
    """
    x_hat = interpolate(real.detach(), fake.detach(), eps).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - target_norm) ** 2).mean()
