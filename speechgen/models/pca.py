"""A classical baseline for the autoencoders and samplers of feature windows: principal component analysis.

``PCABaseline.fit(windows, dims)`` keeps the top ``dims`` principal components of (N, T, F) training
windows (scikit-learn's PCA). The code of a window is its projection on them, its reconstruction the
projection mapped back (the best linear code of that size in squared error), and a sample is the
decoding of a Gaussian code with the components' variances: the linear-Gaussian model whose samples
are decoder means, like a VAE's. It is fitted, not trained, and is not a registered model; the
log-mel evaluation scores it beside the trained models as the row they must beat.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from speechgen.models.abilities import Autoencoder, Labels, Sampler, check_labels


class PCABaseline(Autoencoder, Sampler):
    """Top principal components of windows (T, F).

    Args:
        mean: (T * F,) mean window; components: (D, T * F) orthonormal rows; variances: (D,) their
            variances in the training windows; n_frames, n_bins: T and F.
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, variances: np.ndarray, n_frames: int, n_bins: int):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.components = torch.as_tensor(components, dtype=torch.float32)
        self.std = torch.as_tensor(np.sqrt(variances), dtype=torch.float32)
        self.n_frames, self.n_bins = n_frames, n_bins

    @classmethod
    def fit(cls, windows: torch.Tensor, dims: int, seed: int = 0) -> "PCABaseline":
        """The top ``dims`` components of ``windows`` (N, T, F)."""
        # imported here: scikit-learn takes ~1.7 s of CPU to import on a slow core, which every
        # speechgen-eval-logmel of a model (only the classifier's fits the baselines) would pay
        from sklearn.decomposition import PCA

        n, t, f = windows.shape
        pca = PCA(n_components=min(dims, n, t * f), svd_solver="full", random_state=seed)
        pca.fit(windows.reshape(n, -1).double().numpy())
        return cls(pca.mean_, pca.components_, pca.explained_variance_, t, f)

    @property
    def latent_dim(self) -> int:
        return len(self.std)

    def explained(self, windows: torch.Tensor) -> float:
        """Share of the variance of ``windows`` (N, T, F) that the components keep."""
        x = windows.flatten(1) - self.mean
        return float(((x @ self.components.T) ** 2).sum() / (x ** 2).sum())

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> projections (B, D)."""
        return (feats.flatten(1) - self.mean) @ self.components.T

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, T, F)."""
        return (z @ self.components + self.mean).reshape(len(z), self.n_frames, self.n_bins)

    @torch.no_grad()
    def sample(self, n: int, labels: Labels = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` decodings of codes drawn from N(0, diag(variances)); unconditional (``labels`` must be None)."""
        check_labels(self, n, labels)
        z = torch.randn(n, self.latent_dim, generator=generator) * self.std
        return self.decode(z)
