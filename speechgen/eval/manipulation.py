"""Mean-shift manipulation of one factor in a model's latent space, scored by posterior classifiers.

For a segment x of class c1 on factor A and a target class c2, the manipulated segment is
``x' = f(f^-1(x) + mu_{A,c2} - mu_{A,c1})``, where f^-1 is the model's ``encode``, f its ``decode``
and mu_{A,c} the mean code of class c over the training set. For a factorial model only the part of
the code that belongs to factor A moves (``model.factor_slices()``); the paper's formula leaves open
whether mu_{A,c} is the class mean of that part or of the whole code, so ``whole_code=True`` gives
the other reading (the whole code moves by its class means). The MLP classifiers then give
``p(c2|x)``, ``p(c2|x')`` on the moved factor and ``p(s|x)``, ``p(s|x')`` of the segment's own class
on the other factor (Sun et al., ICASSP 2021, Table 1).

A shift can fool an MLP with an overlay no real segment has, so each manipulation also gets a
naturalness score: the Fréchet distance between the classifiers' last hidden layers (both
classifiers, concatenated) on the manipulated segments and on real test segments of the same target
classes, one per pair (class-matched, see ``matched_references``). Two references come with it: the
same distance for a second independent draw of real segments (the floor a perfect converter would
reach) and for the unchanged segments x (no conversion at all).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch

from speechgen.data.tables import FACTORS
from speechgen.eval.frechet import ClassifierScorer, frechet_distance
from speechgen.models.abilities import Decoder, Encoder, Factorised, require


def other_factor(factor: str) -> str:
    return FACTORS[1 - FACTORS.index(factor)]


@torch.no_grad()
def batched(fn, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in chunks along the first dim and concatenate."""
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def factor_slice(model: Encoder, factor: str) -> slice:
    """The part of the code (B, D) that encodes ``factor``; the whole code for a model that is not Factorised."""
    slices = model.factor_slices() if isinstance(model, Factorised) else {}
    return slices.get(factor, slice(None))


def class_means(codes: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Empirical mean code of each class: codes (N, D), labels (N,) -> (n_classes, D).

    A class absent from ``labels`` gets the mean of all codes, never NaN.
    """
    sums = torch.zeros(n_classes, codes.shape[1], dtype=codes.dtype).index_add_(0, labels, codes)
    counts = torch.bincount(labels, minlength=n_classes).to(codes.dtype)
    means = sums / counts.clamp(min=1)[:, None]
    means[counts == 0] = codes.mean(0)
    return means


def sample_targets(labels: np.ndarray, n_classes: int, per_segment: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Seeded (segment index, target class) pairs: ``per_segment`` distinct targets != own class each."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for i, own in enumerate(labels):
        choices = np.delete(np.arange(n_classes), own)
        picked = rng.choice(choices, size=min(per_segment, len(choices)), replace=False)
        rows += [i] * len(picked)
        targets += picked.tolist()
    return np.asarray(rows), np.asarray(targets)


def matched_references(labels: np.ndarray, targets: np.ndarray, seed: int) -> np.ndarray:
    """For each target class, the index of a segment of that class in ``labels`` (-1: none).

    The pairs of one target class go through a seeded shuffle of that class's segments in turn, so
    every segment is used before any is used again (as the manipulated segments are each used
    ``per_segment`` times): two draws differ only as two samples of the same classes do.
    """
    rng = np.random.default_rng(seed)
    refs = np.full(len(targets), -1, dtype=np.int64)
    for c in np.unique(targets):
        pool = np.flatnonzero(labels == c)
        if len(pool):
            rows = np.flatnonzero(targets == c)
            refs[rows] = rng.permutation(np.resize(rng.permutation(pool), len(rows)))
    return refs


def naturalness(classifiers: Dict[str, torch.nn.Module], x_new: torch.Tensor, x: torch.Tensor,
                real_feats: torch.Tensor, real_labels: np.ndarray, targets: np.ndarray, seed: int) -> Dict:
    """Class-matched Fréchet distances of the classifiers' hidden features (see the module docstring).

    ``x_new`` (N, T, F) are the manipulated segments, ``x`` the originals, ``targets`` (N,) their target
    classes among ``real_labels`` (M,) of the real segments ``real_feats`` (M, T, F).
    """
    scorers = [ClassifierScorer(clf) for clf in classifiers.values()]

    def features(feats: torch.Tensor) -> np.ndarray:
        return np.concatenate([scorer.features(feats) for scorer in scorers], axis=1)

    ref_a = matched_references(real_labels, targets, seed + 1)
    ref_b = matched_references(real_labels, targets, seed + 2)
    keep = np.flatnonzero((ref_a >= 0) & (ref_b >= 0))  # pairs whose target class has real segments
    reference = features(real_feats[ref_a[keep]])
    return {"fd": frechet_distance(features(x_new[keep]), reference),
            "fd_real": frechet_distance(features(real_feats[ref_b[keep]]), reference),
            "fd_unchanged": frechet_distance(features(x[keep]), reference),
            "fd_pairs": len(keep)}


@torch.no_grad()
def mean_shift(model, feats: torch.Tensor, source: torch.Tensor, target: torch.Tensor, means: torch.Tensor,
               part: slice, batch_size: int = 512) -> torch.Tensor:
    """x' = decode(encode(x) + mu[target] - mu[source]) on the ``part`` of the code: (N,T,F) -> (N,T,F).

    ``model`` is an Encoder and a Decoder; ``means`` (n_classes, D) are class means of its codes.
    """
    codes = batched(model.encode, feats, batch_size)
    shift = torch.zeros_like(codes)
    shift[:, part] = (means[target] - means[source])[:, part]
    return batched(model.decode, codes + shift, batch_size)


def mean_and_se(values: np.ndarray) -> Tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


@dataclass
class ManipulationResult:
    """Posterior statistics of one manipulation of one model (means and standard errors over pairs)."""

    factor: str  # the moved factor
    pairs: int
    moved_before: Tuple[float, float]  # p(c2 | x)
    moved_after: Tuple[float, float]  # p(c2 | x')
    moved_delta: Tuple[float, float]
    other_before: Tuple[float, float]  # p(own class on the other factor | x)
    other_after: Tuple[float, float]  # ... | x'
    other_delta: Tuple[float, float]
    naturalness: Dict[str, float]  # fd (x' vs real of the targets), fd_real (the floor), fd_unchanged (x)

    def to_dict(self) -> Dict:
        return dict(self.__dict__)


@torch.no_grad()
def manipulate_and_score(model, classifiers: Dict[str, torch.nn.Module], train_codes: torch.Tensor,
                         train_labels: Dict[str, torch.Tensor], test_feats: torch.Tensor,
                         test_labels: Dict[str, torch.Tensor], n_classes: Dict[str, int], factor: str,
                         per_segment: int = 2, seed: int = 0, batch_size: int = 512, whole_code: bool = False):
    """Move ``factor`` of every test segment to ``per_segment`` other classes and score the results.

    ``train_codes`` (N, D) are the model's codes of the training segments, whose class means give the
    shifts; ``whole_code`` moves all of a factorial code, not only ``factor``'s part. Returns
    ``(result, details)`` where details holds the pair indices, targets and x' (N_pairs, T, F).
    """
    for ability in (Encoder, Decoder):
        require(model, ability, f"the {factor} manipulation")
    other = other_factor(factor)
    part = slice(None) if whole_code else factor_slice(model, factor)
    means = class_means(train_codes, train_labels[factor], n_classes[factor])
    rows, targets = sample_targets(test_labels[factor].numpy(), n_classes[factor], per_segment, seed)
    rows_t, targets_t = torch.from_numpy(rows), torch.from_numpy(targets)
    x = test_feats[rows_t]
    x_new = mean_shift(model, x, test_labels[factor][rows_t], targets_t, means, part, batch_size)
    post = {name: (batched(clf.posteriors, x, batch_size), batched(clf.posteriors, x_new, batch_size))
            for name, clf in classifiers.items()}
    own_other = test_labels[other][rows_t]
    moved_before = post[factor][0].gather(1, targets_t[:, None])[:, 0].numpy()
    moved_after = post[factor][1].gather(1, targets_t[:, None])[:, 0].numpy()
    other_before = post[other][0].gather(1, own_other[:, None])[:, 0].numpy()
    other_after = post[other][1].gather(1, own_other[:, None])[:, 0].numpy()
    result = ManipulationResult(
        factor=factor, pairs=len(rows),
        moved_before=mean_and_se(moved_before), moved_after=mean_and_se(moved_after),
        moved_delta=mean_and_se(moved_after - moved_before),
        other_before=mean_and_se(other_before), other_after=mean_and_se(other_after),
        other_delta=mean_and_se(other_after - other_before),
        naturalness=naturalness(classifiers, x_new, x, test_feats, test_labels[factor].numpy(), targets, seed))
    return result, {"rows": rows, "targets": targets, "x_new": x_new}
