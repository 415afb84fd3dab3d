"""Classifier-based scores of generated windows: Fréchet distance, conditional accuracy, label coverage.

A phone classifier trained on real training windows gives each window a feature vector (its
penultimate layer) and a predicted phone. Then

* the Fréchet distance (FID-style, Heusel et al. 2017) between Gaussians fitted to the features of
  real test windows and of generated windows,

      FD = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}),

* the accuracy of the classifier on class-conditional samples (does a sample of phone y look like y),
* the Jensen-Shannon divergence between the predicted-phone histograms of generated and of real
  windows (for unconditional models: does the model cover the phones in their proportions).
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
import torch
from torch import nn


def gaussian_stats(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64 (unbiased covariance)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features (N, D) with N >= 2, got shape {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``tr((S1 S2)^{1/2})`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric matrix ``S1^{1/2} S2 S1^{1/2}``, which has the same spectrum and no complex round-off.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"mismatched Gaussian stats: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    cross = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D)."""
    return frechet_distance_from_stats(*gaussian_stats(features_a), *gaussian_stats(features_b))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (nats, in [0, log 2]) between two histograms (normalised here)."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    q = np.asarray(q, dtype=np.float64) / np.sum(q)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


class ClassifierScorer:
    """Features and predictions of a trained MLP classifier (``speechgen.models.classifier``).

    The features are the activations of its last hidden layer (its ``net`` without the output layer),
    taken in eval mode (dropout off).
    """

    def __init__(self, classifier: nn.Module, batch_size: int = 2048):
        if not isinstance(getattr(classifier, "net", None), nn.Sequential):
            raise TypeError(f"{type(classifier).__name__} has no `net` Sequential to take a penultimate layer from")
        self.classifier = classifier.eval()
        self.body = classifier.net[:-1]
        self.batch_size = batch_size

    @torch.no_grad()
    def _batched(self, fn: Callable[[torch.Tensor], torch.Tensor], feats: torch.Tensor) -> np.ndarray:
        device = next(self.classifier.parameters()).device
        out = [fn(feats[i:i + self.batch_size].to(device)).cpu() for i in range(0, len(feats), self.batch_size)]
        return torch.cat(out).numpy()

    def features(self, feats: torch.Tensor) -> np.ndarray:
        """(N, T, F) normalised windows -> (N, H) penultimate-layer features."""
        return self._batched(self.body, feats)

    def predict(self, feats: torch.Tensor) -> np.ndarray:
        """(N, T, F) -> (N,) predicted class ids."""
        return self._batched(lambda x: self.classifier.logits(x).argmax(-1), feats)

    def accuracy(self, feats: torch.Tensor, labels: np.ndarray) -> float:
        """Fraction of windows classified as ``labels`` (N,)."""
        return float(np.mean(self.predict(feats) == np.asarray(labels)))

    def histogram(self, feats: torch.Tensor, n_classes: int) -> np.ndarray:
        """Counts of predicted classes: (n_classes,)."""
        return np.bincount(self.predict(feats), minlength=n_classes)
