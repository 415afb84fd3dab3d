"""t-SNE of latent codes, plotted in a grid: one column per model, rows coloured by phone and by speaker."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import kaldiio
import numpy as np

from speechgen.data.tables import read_mapping
from speechgen.errors import DataError
from speechgen.progress import progress


@dataclass
class CodeSet:
    """Latent codes of one model on one set, with their labels (aligned by key)."""

    name: str
    keys: List[str]
    codes: np.ndarray  # (N, D)
    labels: Dict[str, List[str]]  # factor name ('phone', 'spk') -> (N,) symbols
    source: Optional[Path] = None  # the encode dir, where embeddings are cached
    part: Optional[str] = None


def load_codes(name: str, encode_dir: str | Path, part: str | None = None) -> CodeSet:
    """Read ``codes.scp`` and the ``seg2phone``/``seg2spk`` written beside it by the encode stage.

    ``part`` keeps only one factor's dims of a factorial code (``factor_slices.json`` beside the codes).
    """
    encode_dir = Path(encode_dir)
    scp = encode_dir / "codes.scp"
    if not scp.is_file():
        raise DataError(f"{scp}: missing; run the encode stage first")
    reader = kaldiio.load_scp(str(scp))
    keys = sorted(reader.keys())
    codes = np.stack([np.asarray(reader[k]).reshape(-1) for k in keys])
    if part is not None:
        slices_file = encode_dir / "factor_slices.json"
        slices = json.loads(slices_file.read_text()) if slices_file.is_file() else {}
        if part not in slices:
            raise DataError(f"{encode_dir}: the codes have no '{part}' part (factor_slices.json: {slices or 'none'})")
        codes = codes[:, slice(*slices[part])]
    labels = {}
    for factor, table in (("phone", "seg2phone"), ("spk", "seg2spk")):
        if (encode_dir / table).is_file():
            values = read_mapping(encode_dir / table)
            labels[factor] = [values[k] for k in keys]
    return CodeSet(name, keys, codes, labels, encode_dir, part)


def subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` items, the same for every model."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def tsne_embed(codes: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, D) -> (N, 2) with scikit-learn's t-SNE (PCA initialisation, fixed seed)."""
    from sklearn.manifold import TSNE

    codes = (codes - codes.mean(0)) / (codes.std(0) + 1e-8)
    perplexity = min(perplexity, max(2.0, (len(codes) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(codes)


def cached_tsne(cs: CodeSet, idx: np.ndarray, seed: int, perplexity: float) -> np.ndarray:
    """t-SNE of ``cs.codes[idx]``, kept in the encode dir so other figures of the same codes reuse it."""
    if cs.source is None:
        return tsne_embed(cs.codes[idx], seed, perplexity)
    cache = cs.source / f"tsne_{cs.part or 'all'}_{len(idx)}_{seed}_{perplexity:g}.npy"
    codes_file = cs.source / "codes.scp"
    if cache.is_file() and cache.stat().st_mtime >= codes_file.stat().st_mtime:
        emb = np.load(cache)
        if emb.shape == (len(idx), 2):
            return emb
    emb = tsne_embed(cs.codes[idx], seed, perplexity)
    tmp = cache.with_name(cache.stem + ".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(cache)
    return emb


def named_classes(symbols: Sequence[str], n_named: int) -> List[str]:
    """The ``n_named`` most frequent classes of ``symbols`` (ties in name order); all when ``n_named`` <= 0."""
    names, counts = np.unique(np.asarray(symbols), return_counts=True)
    ranked = [str(c) for c in names[np.argsort(-counts, kind="stable")]]
    return ranked if n_named <= 0 else ranked[:n_named]


def scatter_classes(ax, emb: np.ndarray, symbols: Sequence[str], named: Sequence[str], legend: bool) -> None:
    """Points of ``emb`` (N, 2) coloured by class: each class of ``named`` in its own colour, the others
    light grey beneath them (a few distinct colours show clusters that dozens of similar ones hide)."""
    import matplotlib.pyplot as plt

    symbols = np.asarray(symbols)
    other = ~np.isin(symbols, list(named))
    if other.any():
        ax.scatter(emb[other, 0], emb[other, 1], s=3, c="0.85", linewidths=0, label="others")
    maps = ("tab10",) if len(named) <= 10 else ("tab20", "tab20b", "tab20c")
    palette = [plt.get_cmap(name)(i) for name in maps for i in range(plt.get_cmap(name).N)]
    for i, name in enumerate(named):
        mask = symbols == name
        ax.scatter(emb[mask, 0], emb[mask, 1], s=5, color=palette[i % len(palette)], linewidths=0, label=name)
    if legend and len(named) <= 20:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, markerscale=2.5, frameon=False)


def plot_tsne_grid(code_sets: Sequence[CodeSet], out_png: str | Path, factors=("phone", "spk"),
                   max_points: int = 2000, seed: int = 0, perplexity: float = 30.0,
                   n_named: int = 10) -> Dict[str, np.ndarray]:
    """One PNG: columns are models, rows are factors, the ``n_named`` most frequent classes of each factor
    in colour (with a legend), the others grey (``n_named`` <= 0: every class). Returns the 2-d embeddings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from speechgen.eval.plots import save_figure

    keys = code_sets[0].keys
    for cs in code_sets[1:]:
        if cs.keys != keys:
            raise DataError(f"codes of {cs.name} and {code_sets[0].name} are of different segments; "
                            "encode the same set with every model")
    idx = subsample(len(keys), max_points, seed)
    rows = [f for f in factors if all(f in cs.labels for cs in code_sets)]
    if not rows:
        raise DataError("no label files beside the codes; nothing to colour the t-SNE by")
    titles = {"phone": "phone", "spk": "speaker"}
    symbols = {f: [code_sets[0].labels[f][i] for i in idx] for f in rows}
    named = {f: named_classes(symbols[f], n_named) for f in rows}  # the same classes in every column
    n_classes = {f: len(set(symbols[f])) for f in rows}
    shown = {f: f"the {len(named[f])} most frequent of {n_classes[f]}" if len(named[f]) < n_classes[f]
             else f"{n_classes[f]} classes" for f in rows}
    fig, axes = plt.subplots(len(rows), len(code_sets), figsize=(3.4 * len(code_sets) + 1.0, 3.4 * len(rows)),
                             squeeze=False)
    embeddings = {}
    for col, cs in enumerate(progress(code_sets, "t-SNE", unit="code set")):
        emb = cached_tsne(cs, idx, seed, perplexity)
        embeddings[cs.name] = emb
        for row, factor in enumerate(rows):
            ax = axes[row][col]
            scatter_classes(ax, emb, [cs.labels[factor][i] for i in idx], named[factor],
                            legend=col == len(code_sets) - 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(cs.name)
            if col == 0:
                ax.set_ylabel(f"coloured by {titles.get(factor, factor)}\n({shown[factor]})", fontsize=9)
    fig.suptitle(f"t-SNE of latent codes ({len(idx)} test segments)")
    fig.tight_layout()
    save_figure(fig, out_png, dpi=110)
    return embeddings
