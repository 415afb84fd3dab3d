"""Phone alignments beside audio files: TIMIT ``.PHN``, CTM, Praat TextGrid (Montreal Forced Aligner).

Every reader gives ``[(start_s, end_s, label), ...]`` in time order; :class:`PhoneMap` maps the labels
to the TIMIT-61 set the recipes read (TIMIT-61 and ARPAbet with stress digits as they are, MFA's
``sil``/``sp``/``spn`` as silence, anything else through a ``--phone-map`` file).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from speechgen.corpora.base import Phone
from speechgen.corpora.timit import _read_sample_intervals
from speechgen.data.phones import PHONES_61
from speechgen.data.validate import parse_time, read_table
from speechgen.errors import DataError

#: silence and noise labels of forced aligners, as TIMIT-61 labels
SILENCES = {"sil": "h#", "sp": "pau", "spn": "pau", "<eps>": "pau", "sil_b": "h#", "sil_e": "h#"}
#: the files an alignment may have beside ``<name>.wav``, in the order they are looked for
ALIGNMENT_SUFFIXES = (".PHN", ".phn", ".TextGrid", ".textgrid", ".ctm")


class PhoneMap:
    """Labels -> TIMIT-61: a ``label timit61`` file first, then TIMIT-61, ARPAbet and aligner silences."""

    def __init__(self, path: Optional[str | os.PathLike] = None) -> None:
        self.path = Path(path) if path else None
        self.table: Dict[str, str] = {}
        if self.path is not None:
            for row in read_table(self.path, 1, 1):
                target = row.fields[0].lower()
                if target not in PHONES_61:
                    raise DataError(f"{self.path}:{row.lineno}: {target!r} is not a TIMIT-61 phone; map "
                                    f"{row.key!r} to one of: {' '.join(PHONES_61)}")
                self.table[row.key] = target

    def __call__(self, label: str, where: str) -> str:
        if label in self.table:
            return self.table[label]
        low = label.lower()
        base = low.rstrip("012")
        for candidate in (low, base):
            if candidate in PHONES_61:
                return candidate
        if low in SILENCES:
            return SILENCES[low]
        hint = f"add a line '{label} <timit61>' to {self.path}" if self.path else \
            f"map it with --phone-map FILE (lines 'label timit61', e.g. '{label} pau')"
        raise DataError(f"{where}: unknown phone {label!r} (not TIMIT-61, ARPAbet or an aligner silence); {hint}")


def read_phn_seconds(path: Path, sample_rate: int) -> List[Phone]:
    """A TIMIT ``.PHN`` file (``START_SAMPLE END_SAMPLE LABEL``) in seconds."""
    return [(s / sample_rate, e / sample_rate, label) for s, e, label, _ in _read_sample_intervals(path, ".PHN")]


def read_ctm(path: Path) -> Dict[str, List[Phone]]:
    """A CTM file (``name channel start duration label [confidence]``) as ``{name: phones}``."""
    by_name: Dict[str, List[Phone]] = {}
    for row in read_table(path, 4, 5):
        start = parse_time(path, row.lineno, row.fields[1])
        duration = parse_time(path, row.lineno, row.fields[2])
        by_name.setdefault(row.key, []).append((start, start + duration, row.fields[3]))
    return {name: sorted(phones) for name, phones in by_name.items()}


def read_textgrid(path: Path) -> List[Phone]:
    """The phone tier of a Praat TextGrid (MFA writes ``phones`` or ``<speaker> - phones``), without empty intervals."""
    from praatio import textgrid
    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as err:  # praatio raises its own and parsing errors
        raise DataError(f"{path}: cannot read this TextGrid ({type(err).__name__}: {err}); re-export it") from None
    tiers = [name for name in grid.tierNames if name.lower().endswith("phones")]
    if not tiers:
        raise DataError(f"{path}: no phone tier (tiers: {', '.join(grid.tierNames)}); name the phone tier 'phones' "
                        "as the Montreal Forced Aligner does")
    return [(float(start), float(end), label) for start, end, label in grid.getTier(tiers[0]).entries if label.strip()]


def map_phones(phones: Sequence[Phone], phone_map: PhoneMap, where: str) -> List[Phone]:
    """``phones`` with TIMIT-61 labels, in time order; a DataError for overlapping or empty intervals."""
    mapped = [(start, end, phone_map(label, where)) for start, end, label in sorted(phones)]
    for (s0, e0, p0), (s1, e1, p1) in zip(mapped, mapped[1:]):
        if s1 < e0 - 1e-6:
            raise DataError(f"{where}: phone {p1!r} at {s1:.4f} s starts before {p0!r} ends ({e0:.4f} s); "
                            "phones must not overlap: fix the alignment")
    for start, end, label in mapped:
        if not 0 <= start < end:
            raise DataError(f"{where}: phone {label!r} spans {start}..{end} s; need 0 <= start < end: fix the alignment")
    return mapped


def alignment_beside(audio: Path, sample_rate: int, phone_map: PhoneMap) -> Optional[List[Phone]]:
    """The TIMIT-61 alignment in ``<name>.PHN``/``.TextGrid``/``.ctm`` beside ``audio``, or None when none is there."""
    for suffix in ALIGNMENT_SUFFIXES:
        path = audio.with_suffix(suffix)
        if not path.is_file():
            continue
        if suffix.lower() == ".phn":
            phones = read_phn_seconds(path, sample_rate)
        elif suffix.lower() == ".textgrid":
            phones = read_textgrid(path)
        else:
            phones = read_ctm(path).get(audio.stem) or next(iter(read_ctm(path).values()), [])
        if not phones:
            raise DataError(f"{path}: holds no phones for {audio.name}; fix it or remove it")
        return map_phones(phones, phone_map, str(path))
    return None
