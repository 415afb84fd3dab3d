"""Class structure of latent codes as numbers: k-NN accuracy and t-SNE silhouette per factor.

The paper reads its t-SNE figure as "VAE and NF lose the class structure, DNF keeps its factor's,
f-DNF keeps both". Two numbers make that checkable for every set of codes:

* k-NN accuracy: a k-nearest-neighbour classifier (Euclidean, the geometry the flows' isotropic
  priors give the codes) of the factor's class, scored by k-fold cross-validation over the codes
  with seeded folds. The raw normalised segments (the identity model's codes) are the baseline.
* silhouette of the 2-d t-SNE embedding with the factor's classes as clusters (-1..1): how well the
  figure itself separates the classes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Sequence

import numpy as np

from speechgen.data.tables import FACTORS
from speechgen.eval.tsne import CodeSet, subsample


def knn_accuracy(codes: np.ndarray, labels: Sequence, k: int = 10, folds: int = 5, seed: int = 0) -> float:
    """Mean k-fold cross-validated accuracy of a k-NN classifier of ``labels`` (N,) from ``codes`` (N, D)."""
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    k = min(k, len(labels) - len(labels) // folds - 1)
    cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(KNeighborsClassifier(n_neighbors=max(1, k)), codes, labels, cv=cv)
    return float(np.mean(scores))


def silhouette(embedding: np.ndarray, labels: Sequence) -> float:
    """Silhouette score of the points ``embedding`` (N, d) clustered by ``labels``; NaN for one class."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return float("nan")
    return float(silhouette_score(embedding, labels))


def chance_accuracy(labels: Sequence) -> float:
    """Accuracy of always guessing the most frequent class."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def latent_structure(cs: CodeSet, embedding: np.ndarray, idx: np.ndarray, k: int = 10, folds: int = 5,
                     seed: int = 0) -> Dict[str, float]:
    """k-NN accuracy (all codes) and t-SNE silhouette (the embedded subsample ``idx``) of each factor."""
    out: Dict[str, float] = {"segments": len(cs.keys), "dims": int(cs.codes.shape[1]), "k": k, "folds": folds,
                             "tsne_points": len(idx)}
    for factor in FACTORS:
        if factor not in cs.labels:
            continue
        labels = np.asarray(cs.labels[factor])
        out[f"knn_{factor}"] = knn_accuracy(cs.codes, labels, k, folds, seed)
        out[f"silhouette_{factor}"] = silhouette(embedding, labels[idx])
        out[f"chance_{factor}"] = chance_accuracy(labels)
    return out


def structure_file(cs: CodeSet) -> Path:
    """Where the numbers of ``cs`` are kept: ENCODE_DIR/structure_<part or all>.json."""
    return Path(cs.source) / f"structure_{cs.part or 'all'}.json"


def write_latent_structure(code_sets: Sequence[CodeSet], embeddings: Dict[str, np.ndarray], max_points: int,
                           seed: int = 0, k: int = 10, folds: int = 5) -> Dict[str, Dict[str, float]]:
    """Compute and write the structure numbers of every code set that has an encode dir."""
    results = {}
    for cs in code_sets:
        idx = subsample(len(cs.keys), max_points, seed)
        results[cs.name] = stats = latent_structure(cs, embeddings[cs.name], idx, k, folds, seed)
        if cs.source is not None:
            path = structure_file(cs)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(stats, indent=2) + "\n")
            tmp.replace(path)
    return results
