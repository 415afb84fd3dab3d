"""The files of an experiment dir: checkpoints saved whole or not at all, checked loading, one writer.

Every checkpoint the project reads goes through :func:`load_checkpoint`, which turns a truncated, empty
or foreign file into one line naming it and the fix; every one it writes goes through
:func:`atomic_torch_save`, which leaves the old file in place when the disk is full. :func:`lock_dir`
keeps a second training from writing into an exp dir that one is writing.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import IO, Any

import torch

from speechgen.errors import DataError, TrainingError


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through a temp name then rename; a failed write (full disk, no permission) is a
    TrainingError naming the file, the old file is kept and no temp file is left."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch reports a full disk as RuntimeError
        tmp.unlink(missing_ok=True)
        raise not_written(path, err) from None


def not_written(path: Path, err: Exception) -> TrainingError:
    """The one error of an exp-dir file that could not be written (full disk, lost permissions)."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
    return TrainingError(f"{path}: could not be written ({reason}); free disk space or fix the permissions of "
                         f"{path.parent}, then resume with --resume (the last finished epoch is kept)")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", weights_only: bool = True) -> Any:
    """``torch.load`` of a checkpoint the project wrote; a missing, empty, truncated or foreign file is a
    DataError naming it and what to do. ``weights_only=False`` only for the trainer's own resume state."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing; train the model first (or pick another checkpoint)")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # torch raises many types for a damaged file
        what = "empty" if path.stat().st_size == 0 else f"damaged or not a checkpoint ({type(err).__name__})"
        raise DataError(f"{path}: {what}; {_damaged_fix(path)}") from None


def _damaged_fix(path: Path) -> str:
    if path.name == "checkpoint.pt":
        return (f"remove it (and the rest of {path.parent}) to train from the start; the resume state cannot "
                "be rebuilt from the weights files")
    return (f"train again (the stage resumes from {path.parent / 'checkpoint.pt'} when that is intact), or load "
            "latest.pt or an epoch<N>.pt of the same dir instead")


def load_weights(model: torch.nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> None:
    """Load a weights file into ``model``; weights of another model are a DataError naming the file."""
    state = load_checkpoint(path, map_location)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).splitlines()[0]
        raise DataError(f"{path}: does not hold the weights of this model ({first}); "
                        "it belongs to another config — retrain, or use the config it was trained with") from None


def lock_dir(directory: Path, what: str = "training") -> IO:
    """Hold an exclusive lock on ``directory/.lock`` while the returned file stays open (the process ends:
    the lock goes). A second process meets a TrainingError naming the dir and the pid holding it."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise TrainingError(f"{directory}: another {what} is writing it ({holder}); wait for it to finish, "
                            "or use another --exp-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle
