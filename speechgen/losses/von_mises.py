"""Von Mises likelihoods of STFT phases and of their differences (group delay, instantaneous frequency).

The von Mises density on the circle, ``p(x; mu, kappa) = exp(kappa cos(x - mu)) / (2 pi I0(kappa))``,
is the Gaussian of angles: its negative log-density is computed here with the exponentially scaled
Bessel function, ``log I0(kappa) = log i0e(kappa) + kappa``, so that large concentrations stay finite:

    nll = kappa (1 - cos(x - mu)) + log(2 pi) + log i0e(kappa)

Phase differences follow the conventions of :mod:`speechgen.signal.phase`: along time the
difference of a frame to the previous one (instantaneous frequency, radians per hop), along
frequency the difference of a bin to the next one (group delay ``-(phi[f + 1] - phi[f])``, radians
per bin). Both are principal values in ``[-pi, pi)``. Tensors are laid out ``(..., F, T)``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from speechgen.signal.phase import principal_value

__all__ = [
    "von_mises_nll",
    "time_difference",
    "frequency_difference",
    "instantaneous_frequency_nll",
    "group_delay_nll",
    "masked_mean",
]

LOG_2PI = math.log(2.0 * math.pi)


def von_mises_nll(x: Tensor, loc: Tensor, concentration: Tensor | float) -> Tensor:
    """Element-wise ``-log VonMises(x; loc, concentration)`` (any broadcastable shapes).

    Args:
        x: angles (radians; any range, only ``x - loc`` modulo 2 pi matters).
        loc: location ``mu``.
        concentration: ``kappa >= 0`` (a tensor or a number).
    """
    kappa = torch.as_tensor(concentration, dtype=x.dtype, device=x.device)
    return kappa * (1.0 - torch.cos(x - loc)) + LOG_2PI + torch.log(torch.special.i0e(kappa))


def time_difference(phase: Tensor) -> Tensor:
    """Instantaneous frequency of a phase field: ``princ(phi[..., t] - phi[..., t - 1])``.

    Args:
        phase: (..., F, T).
    Returns:
        (..., F, T - 1): the difference of frame ``t + 1`` to frame ``t`` at index ``t``.
    """
    return principal_value(phase[..., 1:] - phase[..., :-1])


def frequency_difference(phase: Tensor) -> Tensor:
    """Group delay of a phase field: ``-princ(phi[..., f + 1, :] - phi[..., f, :])``.

    Args:
        phase: (..., F, T).
    Returns:
        (..., F - 1, T).
    """
    return -principal_value(phase[..., 1:, :] - phase[..., :-1, :])


def masked_mean(values: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean of ``values`` (..., F, T) over the frames where ``mask`` (..., T) is true (all without a mask)."""
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype).unsqueeze(-2).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def instantaneous_frequency_nll(true_phase: Tensor, predicted_difference: Tensor,
                                concentration: Tensor | float) -> Tensor:
    """Von Mises NLL of the true phase differences along time given predicted ones.

    Args:
        true_phase: (..., F, T) phase of the data.
        predicted_difference: (..., F, T - 1) predicted ``phi[t + 1] - phi[t]`` (e.g.
            :func:`time_difference` of a predicted phase field).
        concentration: broadcastable to (..., F, T - 1).
    Returns:
        (..., F, T - 1) element-wise NLL.
    """
    return von_mises_nll(time_difference(true_phase), predicted_difference, concentration)


def group_delay_nll(true_phase: Tensor, predicted_delay: Tensor, concentration: Tensor | float) -> Tensor:
    """Von Mises NLL of the true group delays given predicted ones.

    Args:
        true_phase: (..., F, T) phase of the data.
        predicted_delay: (..., F - 1, T) predicted ``-(phi[f + 1] - phi[f])`` (e.g.
            :func:`frequency_difference` of a predicted phase field).
        concentration: broadcastable to (..., F - 1, T).
    Returns:
        (..., F - 1, T) element-wise NLL.
    """
    return von_mises_nll(frequency_difference(true_phase), predicted_delay, concentration)
