"""Segment datasets read from a Kaldi feature dir (``feats.scp`` + label files)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from speechgen.data.tables import (LABEL_TABLES, Cmvn, open_feats_scp, read_mapping, read_matrix, read_symbol_table,
                                   resolve_loading)
from speechgen.errors import DataError


class SegmentDataset(Dataset):
    """Fixed-size feature segments with their phone and speaker classes.

    Reads ``<feats_dir>/feats.scp`` (each matrix (T, F)), and where present ``seg2phone`` and
    ``seg2spk``, mapped to integer ids with the symbol tables of ``lang_dir``. Items are dicts:
    ``feats: (T, F) float32`` (normalised with ``cmvn``), ``phone`` and ``spk`` (long scalars),
    and the index ``idx``. ``load="eager"`` reads every segment into one (N, T, F) array ``feats``;
    ``"lazy"`` reads each item from the archive when it is asked for (memory does not grow with the
    corpus; DataLoader workers read in parallel); ``"auto"`` picks by size (:func:`resolve_loading`).
    """

    def __init__(self, feats_dir: str | Path, cmvn: Optional[Cmvn] = None, lang_dir: str | Path | None = None,
                 max_items: Optional[int] = None, load: str = "eager"):
        self.feats_dir = Path(feats_dir)
        self.scp, self.reader = open_feats_scp(self.feats_dir)
        self.keys: List[str] = sorted(self.reader.keys())[: max_items or None]
        if not self.keys:
            raise DataError(f"{self.scp}: holds no features")
        self.cmvn = cmvn
        self.load = resolve_loading(load, self.scp)
        first = read_matrix(self.reader, self.keys[0], self.scp)
        self._shape: Tuple[int, int] = tuple(first.shape)
        if self.load == "eager":
            self.feats = np.empty((len(self.keys), *self._shape), dtype=np.float32)
            for i, key in enumerate(self.keys):
                self.feats[i] = self._checked(key, read_matrix(self.reader, key, self.scp))
            if cmvn is not None:
                cmvn.apply_in_place(self.feats)  # the corpus is held once
        self.labels: Dict[str, np.ndarray] = {}
        if lang_dir is not None:
            for name, symbols_file in LABEL_TABLES.items():
                if (self.feats_dir / f"seg2{name}").is_file():
                    self.labels[name] = self._label_ids(f"seg2{name}", Path(lang_dir) / symbols_file)

    def _checked(self, key: str, mat: np.ndarray) -> np.ndarray:
        if mat.shape != self._shape:
            raise DataError(f"{self.scp}: segment {key} is {mat.shape[0]}x{mat.shape[1]} but {self.keys[0]} is "
                            f"{self._shape[0]}x{self._shape[1]}; every segment must have one size")
        return mat

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
        return self._shape

    def __len__(self) -> int:
        return len(self.keys)

    def segment(self, idx: int) -> np.ndarray:
        """The normalised segment ``idx``: (T, F) float32."""
        if self.load == "eager":
            return self.feats[idx]
        key = self.keys[idx]
        mat = self._checked(key, read_matrix(self.reader, key, self.scp)).astype(np.float32, copy=False)
        return self.cmvn.apply(mat) if self.cmvn is not None else mat

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        item = {"feats": torch.from_numpy(self.segment(idx)), "idx": torch.tensor(idx)}
        for name, ids in self.labels.items():
            item[name] = torch.tensor(ids[idx])
        return item
