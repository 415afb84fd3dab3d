"""Figures written by the training and eval stages (matplotlib, Agg backend)."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, png_path: str | Path, dpi=None) -> None:
    """Write ``fig`` to ``png_path`` through a temporary file (never a half-written figure) and close it;
    ``dpi`` None keeps the figure's own."""
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(png_path)


def plot_loss_curves(csv_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """One panel per statistic in ``loss.csv``, train and valid curves over epochs."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    names = sorted({k.split("_", 1)[1] for k in rows[0] if k.startswith(("train_", "valid_"))})
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    epochs = [int(r["epoch"]) for r in rows]
    for ax, name in zip(axes[0], names):
        for split in ("train", "valid"):
            key = f"{split}_{name}"
            pts = [(e, float(r[key])) for e, r in zip(epochs, rows) if r.get(key) not in (None, "")]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=split)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, png_path, dpi=100)
