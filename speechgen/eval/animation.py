"""Figures of feature windows: strips and grids of log-mel windows, per-epoch figures and their GIF.

Windows are ``(T, F)`` matrices whose first ``n_mels`` columns are the static log-mel energies
(the rest are deltas); figures show that static part, de-normalised, frequency upwards.

:class:`EpochFigureHook` is a trainer epoch hook: after every epoch it renders the model on fixed
test windows into ``EXP_DIR/figures/epoch<N>.png`` — reconstructions for models that reconstruct
(:class:`~speechgen.models.abilities.Reconstructor`), samples from fixed noise (with the windows' phone
labels when the model's samples take phone labels) for the samplers — and rebuilds
``EXP_DIR/figures/epochs.gif`` from all of them. A model that does neither gets no figures (a logged notice).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from speechgen.data.tables import Cmvn  # noqa: E402
from speechgen.eval.plots import save_figure  # noqa: E402
from speechgen.models.abilities import Reconstructor, Sampler, model_name  # noqa: E402

LOG = logging.getLogger(__name__)


def phone_conditional(model) -> bool:
    """Whether ``model`` is a Sampler whose samples take phone labels."""
    return isinstance(model, Sampler) and "phone" in model.label_classes()


@torch.no_grad()
def sample(model: Sampler, n: int, generator: Optional[torch.Generator] = None,
           phones: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` samples (n, T, F); ``phones`` (n,) label them for a phone-conditional model, others ignore them."""
    labels = {"phone": phones} if phones is not None and phone_conditional(model) else None
    return model.sample(n, labels, generator)


def static_part(windows: np.ndarray, cmvn: Optional[Cmvn], n_mels: int) -> np.ndarray:
    """De-normalised static log-mel part: (..., T, F) -> (..., T, n_mels)."""
    if cmvn is not None:
        windows = cmvn.invert(windows)
    return windows[..., :n_mels]


def plot_window_strips(rows: Sequence[np.ndarray], row_titles: Sequence[str], out_png: str | Path,
                       labels: Optional[Sequence[str]] = None, title: str = "") -> None:
    """Rows of back-to-back windows, each row one image ``(n * T) x n_mels``; one colour scale for all.

    Args:
        rows: each (n, T, n_mels) static log-mel windows (already de-normalised).
        labels: n phone names placed under the window centres.
    """
    strips = [r.reshape(-1, r.shape[-1]).T for r in rows]  # (n_mels, n * T)
    lo, hi = np.percentile(strips[0], [1, 99.5])
    n, t = rows[0].shape[:2]
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(2 + 0.09 * n * t, 16), 1.4 + 1.5 * len(rows)),
                             squeeze=False)
    for ax, strip, name in zip(axes[:, 0], strips, row_titles):
        ax.imshow(strip, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        for k in range(1, n):
            ax.axvline(k * t - 0.5, color="white", lw=0.4, alpha=0.5)
        ax.set_ylabel(f"{name}\nmel bin", fontsize=8)
        ax.set_xticks([])
    if labels is not None:
        axes[-1, 0].set_xticks(np.arange(n) * t + (t - 1) / 2)
        axes[-1, 0].set_xticklabels(labels, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=100)


def plot_window_grid(windows: np.ndarray, out_png: str | Path, row_titles: Optional[Sequence[str]] = None,
                     col_titles: Optional[Sequence[str]] = None, title: str = "") -> None:
    """A grid of single windows: windows (R, C, T, n_mels) static log-mel (de-normalised)."""
    n_rows, n_cols = windows.shape[:2]
    lo, hi = np.percentile(windows, [1, 99.5])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.75 * n_cols + 0.8, 1.15 * n_rows + 0.6), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(windows[r, c].T, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=7)
            if c == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=100)


def epoch_pngs(fig_dir: str | Path) -> List[Path]:
    """``epoch<N>.png`` files of ``fig_dir`` in epoch order."""
    found = []
    for path in Path(fig_dir).glob("epoch*.png"):
        match = re.fullmatch(r"epoch(\d+)\.png", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [p for _, p in sorted(found)]


def make_gif(pngs: Sequence[str | Path], out_gif: str | Path, frame_ms: int = 600, last_frame_ms: int = 2000) -> None:
    """An animated GIF (looping) of the given PNGs, all resized to the first one's size."""
    from PIL import Image

    if not pngs:
        raise ValueError("make_gif: no frames")
    frames = [Image.open(p).convert("RGB") for p in pngs]
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    frames = [f.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
    out_gif = Path(out_gif)
    tmp = out_gif.with_name(out_gif.stem + ".tmp.gif")
    frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    os.replace(tmp, out_gif)


class EpochFigureHook:
    """Per-epoch figures of a model on fixed windows (a trainer epoch hook, see the module doc).

    Args:
        windows: (n, T, F) fixed normalised test windows (e.g. back-to-back windows of one utterance).
        labels: (n,) their phone ids; phone_names: id -> name for the axis.
        cmvn: the normalisation, to show de-normalised log-mel energies.
        n_mels: static dims shown.
        seed: seed of the fixed noise of the sampling models.
    """

    def __init__(self, windows: torch.Tensor, labels: torch.Tensor, phone_names: Sequence[str],
                 cmvn: Optional[Cmvn], n_mels: int = 40, seed: int = 0, settings=None, gla_iters: int = 32):
        self.windows, self.labels = windows, labels
        self.names = [phone_names[i] for i in labels.tolist()]
        self.cmvn, self.n_mels, self.seed = cmvn, n_mels, seed
        self.settings, self.gla_iters = settings, gla_iters
        self.rows: Optional[Sequence[np.ndarray]] = None  # the last render's (real, model) static windows

    @torch.no_grad()
    def render(self, model, out_png: str | Path, title: str) -> bool:
        """Draw the real windows and the model's reconstructions (or samples) into ``out_png``.

        Returns False, drawing nothing, for a model that neither reconstructs nor samples.
        """
        device = next(model.parameters()).device
        x = self.windows.to(device)
        if isinstance(model, Reconstructor):
            second, name = model.reconstruct(x), "reconstruction"
        elif isinstance(model, Sampler):
            gen = torch.Generator().manual_seed(self.seed)
            second = sample(model, len(x), generator=gen, phones=self.labels.to(device))
            name = "samples (same labels)" if phone_conditional(model) else "samples"
        else:
            LOG.warning("no window figure: model '%s' neither reconstructs (Reconstructor) nor samples (Sampler)",
                        model_name(model))
            return False
        rows = [static_part(r.cpu().numpy(), self.cmvn, self.n_mels) for r in (x, second)]
        plot_window_strips(rows, ["real", name], out_png, labels=self.names, title=title)
        self.rows = rows
        return True

    def audio(self) -> dict:
        """The last render's strips of back-to-back windows as audio ({'input': the real strip, 'model': its
        reconstruction or the samples}; the log-mel settings inverted, fast Griffin-Lim); {} without settings."""
        from speechgen.eval.resynthesis import logmel_to_audio

        if self.settings is None or self.rows is None:
            return {}
        names = ("input", "model")
        return {name: logmel_to_audio(r.reshape(-1, r.shape[-1]), self.settings, self.gla_iters, self.seed)
                for name, r in zip(names, self.rows)}

    def __call__(self, trainer) -> None:
        fig_dir = trainer.exp_dir / "figures"
        title = f"{trainer.exp.model}: epoch {trainer.epoch}"
        png = fig_dir / f"epoch{trainer.epoch}.png"
        if self.render(trainer.model, png, title):
            make_gif(epoch_pngs(fig_dir), fig_dir / "epochs.gif")
            board = getattr(trainer, "tensorboard", None)
            if board is not None:
                board.png("figures/windows", png, trainer.step)
                for name, wav in self.audio().items():
                    board.audio(f"audio/windows_{name}", wav, trainer.step, self.settings.sample_rate)
                board.writer.flush()


def plot_phone_tsne(codes: np.ndarray, phones: Sequence[str], out_png: str | Path, title: str,
                    n_named: int = 12, seed: int = 0) -> None:
    """t-SNE of latent codes (N, D) coloured by phone: the ``n_named`` most frequent phones in colour
    with a legend, the others in light grey."""
    from speechgen.eval.tsne import named_classes, scatter_classes, tsne_embed

    emb = tsne_embed(codes, seed=seed)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    scatter_classes(ax, emb, phones, named_classes(phones, n_named), legend=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=110)
