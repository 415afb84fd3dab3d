"""Delta and delta-delta features with Kaldi's regression window (``add-deltas``).

The first-order filter over ``2 W + 1`` frames is the least-squares slope

    d[t] = sum_{k=1..W} k (c[t + k] - c[t - k]) / (2 sum_{k=1..W} k^2),

and the order-``i`` filter is the order-``i-1`` filter convolved with it (so delta-deltas span
``4 W + 1`` frames). As in Kaldi's ``DeltaFeatures``, every filter is applied to the *static*
features with frame indices clamped to ``[0, N - 1]`` (edge frames are repeated).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["delta_filters", "compute_deltas", "add_deltas"]


def delta_filters(order: int = 2, window: int = 2, *, dtype=torch.float64) -> Tensor:
    """Regression filters of orders ``0..order``, centred, each of ``2 * order * window + 1`` taps.

    Returns:
        filters: (order + 1, 2 * order * window + 1); row 0 is the identity.
    """
    if order < 0 or window < 1:
        raise ValueError(f"need order >= 0 and window >= 1, got order={order}, window={window}")
    k = torch.arange(-window, window + 1, dtype=torch.float64)
    base = k / (2.0 * float((k[window + 1:] ** 2).sum()))
    width = 2 * order * window + 1
    rows = [torch.tensor([1.0], dtype=torch.float64)]
    for _ in range(order):
        # full convolution of the previous filter with the regression filter (symmetric support)
        prev = rows[-1]
        rows.append(torch.nn.functional.conv1d(
            torch.nn.functional.pad(prev, (2 * window, 2 * window)).view(1, 1, -1),
            base.flip(0).view(1, 1, -1)).view(-1))
    out = torch.zeros(order + 1, width, dtype=torch.float64)
    for i, row in enumerate(rows):
        pad = (width - row.numel()) // 2
        out[i, pad:pad + row.numel()] = row
    return out.to(dtype)


def _apply_filters(feats: Tensor, filters: Tensor, time_dim: int) -> Tensor:
    x = feats.movedim(time_dim, -1)
    shape = x.shape
    n = shape[-1]
    if n < 1:
        raise ValueError("deltas need at least one frame")
    half = (filters.shape[-1] - 1) // 2
    flat = x.reshape(-1, 1, n)
    idx = torch.clamp(torch.arange(-half, n + half, device=x.device), 0, n - 1)
    padded = flat[..., idx]  # Kaldi clamps frame indices at the edges
    w = filters.to(dtype=x.dtype, device=x.device).unsqueeze(1)
    out = torch.nn.functional.conv1d(padded, w)  # out[t] = sum_j filt[j + half] x[t + j]
    out = out.reshape(*shape[:-1], filters.shape[0], n)
    return out


def compute_deltas(feats: Tensor, window: int = 2, order: int = 1, *, time_dim: int = -1) -> Tensor:
    """The order-``order`` deltas of ``feats`` alone (same shape as ``feats``).

    Args:
        feats: (B, D, N) with time last by default (or any shape with ``time_dim``).
        window: regression half-window ``W`` (Kaldi's ``--delta-window``, default 2).
        order: 1 for deltas, 2 for delta-deltas.
    """
    filters = delta_filters(order, window)[order:order + 1]
    out = _apply_filters(feats, filters, time_dim)  # (..., 1, N)
    return out.squeeze(-2).movedim(-1, time_dim)


def add_deltas(feats: Tensor, order: int = 2, window: int = 2, *, time_dim: int = -1,
               feat_dim: int = -2) -> Tensor:
    """Static features followed by their deltas up to ``order`` (Kaldi ``add-deltas``).

    Args:
        feats: (B, D, N) (time last, features second to last) by default.
        order: 2 gives [static, delta, delta-delta].

    Returns:
        (B, D * (order + 1), N): the blocks concatenated along ``feat_dim``.
    """
    if feats.dim() < 2:
        raise ValueError(f"add_deltas expects (..., D, N) features, got shape {tuple(feats.shape)}")
    time_dim = time_dim % feats.dim()
    feat_dim = feat_dim % feats.dim()
    if time_dim == feat_dim:
        raise ValueError("time_dim and feat_dim must differ")
    filters = delta_filters(order, window)
    out = _apply_filters(feats, filters, time_dim)  # (... with time moved last ..., order+1, N)
    blocks = [out[..., i, :].movedim(-1, time_dim) for i in range(order + 1)]
    return torch.cat(blocks, dim=feat_dim)
