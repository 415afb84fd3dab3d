"""TensorBoard event files of a training: ``tensorboard --logdir exp`` shows every exp dir's curves.

Scalars per optimisation step (``step/<stat>``) and per epoch (``epoch/train_<stat>``,
``epoch/valid_<stat>``, ``epoch/lr``, ``epoch/epoch``), and the figures the epoch hooks draw
(``figures/...``) and audio clips (``audio/...``), go to ``EXP_DIR/tensorboard``, all against the optimisation step. A resumed training
drops the events past its checkpoint's step, so the curves of an interrupted and an uninterrupted run
are the same.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from speechgen.errors import ConfigError


class TensorBoardLog:
    """A ``SummaryWriter`` under ``log_dir``; ``resume_step`` is the last step already trained (or None)."""

    def __init__(self, log_dir: Path, resume_step: Optional[int] = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("trainer.tensorboard needs the tensorboard package: pip install tensorboard "
                              "(or set trainer.tensorboard=false)") from None
        purge = resume_step + 1 if resume_step is not None else None
        self.writer = SummaryWriter(str(log_dir), purge_step=purge)

    def step(self, stats: Dict[str, float], step: int) -> None:
        for key, value in stats.items():
            self.writer.add_scalar(f"step/{key}", value, step)

    def epoch(self, row: Dict[str, Any]) -> None:
        """One row of loss.csv (``epoch``, ``step``, ``lr``, ``train_*``, ``valid_*``)."""
        for key, value in row.items():
            if key.startswith(("train_", "valid_")) or key in ("lr", "epoch"):
                self.writer.add_scalar(f"epoch/{key}", value, row["step"])
        self.writer.flush()

    def png(self, tag: str, path: Path, step: int) -> None:
        """A figure an epoch hook drew (a PNG file) as an image at ``step``."""
        import matplotlib.image

        image = matplotlib.image.imread(str(path))
        self.writer.add_image(tag, image[..., :3], step, dataformats="HWC")
        self.writer.flush()

    def audio(self, tag: str, wav, step: int, sample_rate: int) -> None:
        """A waveform an epoch hook made, scaled to a peak of 1 (a silent one left as it is), as a clip."""
        import numpy as np
        import torch

        wav = np.asarray(wav, dtype=np.float32)
        wav = wav / max(1e-6, float(np.abs(wav).max()))
        self.writer.add_audio(tag, torch.from_numpy(wav)[None], step, sample_rate=sample_rate)

    def close(self) -> None:
        self.writer.close()
