"""Segment datasets read from a Kaldi feature dir (``feats.scp`` + label files)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import kaldiio
import numpy as np
import torch
from torch.utils.data import Dataset

from speechgen.data.validate import read_table
from speechgen.errors import DataError


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

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def invert(self, x: np.ndarray) -> np.ndarray:
        return x * self.std + self.mean


class SegmentDataset(Dataset):
    """Fixed-size feature segments with their phone and speaker classes.

    Reads ``<feats_dir>/feats.scp`` (each matrix (T, F)), and where present ``seg2phone`` and
    ``seg2spk``, mapped to integer ids with the symbol tables of ``lang_dir``. Items are dicts:
    ``feats: (T, F) float32`` (normalised with ``cmvn``), ``phone`` and ``spk`` (long scalars),
    and the index ``idx``.
    """

    def __init__(self, feats_dir: str | Path, cmvn: Optional[Cmvn] = None, lang_dir: str | Path | None = None,
                 max_items: Optional[int] = None):
        self.feats_dir = Path(feats_dir)
        scp = self.feats_dir / "feats.scp"
        if not scp.is_file():
            raise DataError(f"{scp}: missing (run the feature stage for {self.feats_dir} first)")
        reader = kaldiio.load_scp(str(scp))
        self.keys: List[str] = sorted(reader.keys())[: max_items or None]
        if not self.keys:
            raise DataError(f"{scp}: holds no features")
        try:
            mats = [reader[k] for k in self.keys]
        except Exception as err:  # kaldiio raises several types for a damaged ark
            raise DataError(f"{scp}: cannot read the feature archive ({err}); re-run the feature stage") from None
        shapes = {m.shape for m in mats}
        if len(shapes) != 1:
            raise DataError(f"{scp}: segments of different shapes {sorted(shapes)[:3]}; expected one size")
        feats = np.stack(mats).astype(np.float32)
        self.feats = cmvn.apply(feats) if cmvn is not None else feats
        self.labels: Dict[str, np.ndarray] = {}
        if lang_dir is not None:
            for name, table_file, symbols_file in (("phone", "seg2phone", "phones.txt"),
                                                   ("spk", "seg2spk", "speakers.txt")):
                if (self.feats_dir / table_file).is_file():
                    self.labels[name] = self._label_ids(table_file, Path(lang_dir) / symbols_file)

    def _label_ids(self, table_file: str, symbols_path: Path) -> np.ndarray:
        table = read_mapping(self.feats_dir / table_file)
        symbols = read_symbol_table(symbols_path)
        ids = np.empty(len(self.keys), dtype=np.int64)
        for i, key in enumerate(self.keys):
            if key not in table:
                raise DataError(f"{self.feats_dir / table_file}: no label for segment {key}")
            if table[key] not in symbols:
                raise DataError(f"{self.feats_dir / table_file}: label '{table[key]}' of {key} "
                                f"is not in {symbols_path}")
            ids[i] = symbols[table[key]]
        return ids

    @property
    def shape(self) -> Tuple[int, int]:
        """(T, F) of one item."""
        return tuple(self.feats.shape[1:])

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        item = {"feats": torch.from_numpy(self.feats[idx]), "idx": torch.tensor(idx)}
        for name, ids in self.labels.items():
            item[name] = torch.tensor(ids[idx])
        return item
