"""Kaldi tables and feature dirs without torch: symbol and label tables, the normalisation statistics,
``feats.scp`` readers. Data preparation, feature and reporting scripts use these and start without
importing torch; the torch datasets are in :mod:`speechgen.data.dataset`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Optional

import kaldiio
import numpy as np

from speechgen.data.validate import read_table
from speechgen.errors import ConfigError, DataError


def read_mapping(path: str | Path) -> Dict[str, str]:
    """Read a Kaldi table ``key value...`` into an ordered {key: value} dict (keys unique)."""
    table: Dict[str, str] = {}
    for row in read_table(path, min_fields=1):
        if row.key in table:
            raise DataError(f"{path}:{row.lineno}: duplicate key {row.key}; remove the repeated line")
        table[row.key] = row.rest
    return table


def read_symbol_table(path: str | Path) -> Dict[str, int]:
    """Read ``symbol id`` lines (a Kaldi symbol table) into {symbol: id}."""
    return {sym: int(idx) for sym, idx in read_mapping(path).items()}


#: the label table of each factor in a lang dir
LABEL_TABLES = {"phone": "phones.txt", "spk": "speakers.txt"}
#: the factors a segment carries labels of (phone first)
FACTORS = tuple(LABEL_TABLES)


def lang_class_counts(lang_dir: str | Path) -> Dict[str, int]:
    """Number of classes of each factor whose table is in LANG_DIR: {"phone": N, "spk": M}."""
    lang_dir = Path(lang_dir)
    return {factor: len(read_symbol_table(lang_dir / name)) for factor, name in LABEL_TABLES.items()
            if (lang_dir / name).is_file()}


class Cmvn:
    """Per-bin mean and variance normalisation; stats from the training set only.

    ``mean`` and ``std`` have shape (F,) and are broadcast over frames.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @classmethod
    def load(cls, path: str | Path) -> "Cmvn":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: missing normalisation statistics (run the feature stage first)")
        stats = np.load(path)
        return cls(stats["mean"], stats["std"])

    def save(self, path: str | Path, count: int) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, mean=self.mean, std=self.std, count=np.int64(count))
        tmp.replace(path)

    @classmethod
    def estimate(cls, feats_dir: str | Path, floor: float = 1e-3,
                 transform: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> "Cmvn":
        """Per-bin statistics over every frame of every matrix of ``feats_dir/feats.scp``, accumulated in
        float64, std floored at ``floor``; ``transform`` maps each matrix first (e.g. complex STFT ->
        log-magnitude). Saved as ``feats_dir/cmvn.npz``. A non-finite matrix or an empty scp raises."""
        scp = Path(feats_dir) / "feats.scp"
        if not scp.is_file():
            raise DataError(f"{scp}: missing; run the feature stage first")
        total = total_sq = 0.0
        count = 0
        for key, mat in kaldiio.load_scp_sequential(str(scp)):
            check_finite(mat, key, scp)
            if transform is not None:
                mat = transform(mat)
            mat = np.asarray(mat, dtype=np.float64).reshape(-1, mat.shape[-1])
            total = total + mat.sum(0)
            total_sq = total_sq + (mat ** 2).sum(0)
            count += mat.shape[0]
        if count == 0:
            raise DataError(f"{scp}: holds no features")
        mean = total / count
        cmvn = cls(mean, np.sqrt(np.maximum(total_sq / count - mean ** 2, floor ** 2)))
        cmvn.save(scp.parent / "cmvn.npz", count)
        return cmvn

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def apply_in_place(self, x: np.ndarray) -> np.ndarray:
        """:meth:`apply` into ``x`` itself (float32, (..., F)), the same values without a copy."""
        x -= self.mean
        x /= self.std
        return x

    def invert(self, x: np.ndarray) -> np.ndarray:
        return x * self.std + self.mean


#: ``feats_loading`` choices: features read into memory once, or from the archives item by item
FEATS_LOADING = ("auto", "eager", "lazy")
#: ``auto`` loads eagerly while the archives of all the processes of this machine add up to at most this
EAGER_LIMIT_BYTES = 1 << 30


def archive_bytes(scp: str | Path) -> int:
    """Bytes of the distinct ark files a ``feats.scp`` points into (``path:offset`` entries)."""
    arks = {row.rest.rsplit(":", 1)[0] for row in read_table(scp, min_fields=1)}
    return sum(os.path.getsize(p) for p in arks if os.path.isfile(p))


def resolve_loading(mode: str, scp: str | Path) -> str:
    """``eager`` or ``lazy`` for a ``feats_loading`` mode: ``auto`` is eager while the archives, once per
    training process of this machine (a torchrun launch holds one copy per process), fit in
    :data:`EAGER_LIMIT_BYTES`."""
    if mode not in FEATS_LOADING:
        raise ConfigError(f"feats_loading={mode!r}: expected one of {', '.join(FEATS_LOADING)}")
    if mode != "auto":
        return mode
    from speechgen.train.distributed import processes_on_this_node

    return "eager" if archive_bytes(scp) * processes_on_this_node() <= EAGER_LIMIT_BYTES else "lazy"


def open_feats_scp(feats_dir: Path, name: str = "feats.scp"):
    """``(path, lazy reader)`` of ``feats_dir/name`` (kaldiio's random-access dict: nothing read yet)."""
    scp = feats_dir / name
    if not scp.is_file():
        raise DataError(f"{scp}: missing (run the feature stage for {feats_dir} first)")
    return scp, kaldiio.load_scp(str(scp))


def check_finite(mat: np.ndarray, key: str, where: str | Path, fix: str = "re-run the feature stage") -> np.ndarray:
    """``mat`` when every value is finite; otherwise a DataError naming ``where`` (a file), the key and ``fix``."""
    if not np.isfinite(mat).all():
        raise DataError(f"{where}: {key} holds inf/NaN values; {fix}")
    return mat


def read_matrix(reader, key: str, scp: Path) -> np.ndarray:
    """One matrix of a kaldiio reader; a damaged archive, or inf/NaN in the matrix, is a DataError naming
    the scp and the key."""
    try:
        mat = reader[key]
    except Exception as err:  # kaldiio raises several types for a damaged ark
        raise DataError(f"{scp}: cannot read {key} from the feature archive ({err}); re-run the feature stage") \
            from None
    return check_finite(mat, key, scp)
