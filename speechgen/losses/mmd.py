"""Maximum mean discrepancy with the inverse multiquadratic kernel (the WAE-MMD penalty).

Tolstikhin et al., *Wasserstein Auto-Encoders* (ICLR 2018), Algorithm 2: the unbiased U-statistic

    MMD(q, p) = 1/(n(n-1)) sum_{l != j} k(z_l, z_j) + 1/(n(n-1)) sum_{l != j} k(z~_l, z~_j)
                - 2/n^2 sum_{l, j} k(z_l, z~_j),

with z ~ p (the prior), z~ ~ q (the encoded data) and k(x, y) = C / (C + ||x - y||^2). For a
prior N(0, sigma^2 I_d) the paper takes C = 2 d sigma^2; summing the kernel over several multiples
of that C makes the penalty sensitive at several length scales.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor

DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """``||x_i - y_j||^2``: x (N, D), y (M, D) -> (N, M), clamped at 0 against round-off."""
    sq = x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1).unsqueeze(0) - 2.0 * x @ y.T
    return sq.clamp_min(0.0)


def imq_kernel(x: Tensor, y: Tensor, c: float) -> Tensor:
    """Inverse multiquadratic kernel ``c / (c + ||x_i - y_j||^2)``: x (N, D), y (M, D) -> (N, M)."""
    return c / (c + squared_distances(x, y))


def _mean_off_diagonal(k: Tensor) -> Tensor:
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * (n - 1))


def mmd_imq(z_q: Tensor, z_p: Tensor, prior_var: float = 1.0, scales: Sequence[float] = DEFAULT_SCALES) -> Tensor:
    """Unbiased MMD^2 estimate between encoded codes and prior draws, IMQ kernels summed over ``scales``.

    Args:
        z_q: (N, D) codes of the data (N >= 2).
        z_p: (N, D) draws from the prior N(0, prior_var I).
        prior_var: the prior's variance sigma^2; the base constant is C = 2 D sigma^2.
        scales: multiples of C whose kernels are summed (``(1.0,)`` gives the paper's single kernel).

    Returns:
        scalar tensor (may be slightly negative: the estimate is unbiased).
    """
    if z_q.shape != z_p.shape or z_q.dim() != 2 or z_q.shape[0] < 2:
        raise ValueError(f"mmd_imq needs two (N, D) batches of the same shape with N >= 2, got "
                         f"{tuple(z_q.shape)} and {tuple(z_p.shape)}")
    d = z_q.shape[1]
    base = 2.0 * d * prior_var
    dist_pp, dist_qq, dist_qp = squared_distances(z_p, z_p), squared_distances(z_q, z_q), squared_distances(z_q, z_p)
    total = z_q.new_zeros(())
    for s in scales:
        c = base * s
        total = total + (_mean_off_diagonal(c / (c + dist_pp)) + _mean_off_diagonal(c / (c + dist_qq))
                         - 2.0 * (c / (c + dist_qp)).mean())
    return total
