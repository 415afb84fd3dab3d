"""TIMIT phone sets: the 61 labels of the corpus folded to 48 (Lee & Hon) and 39 (scoring).

The table follows the facts of Kaldi's TIMIT recipe (``conf/phones.60-48-39.map``):
closures fold to ``cl``/``vcl`` in the 48-set and to ``sil`` in the 39-set, ``h#`` and
``pau`` are ``sil`` in both, ``epi`` keeps its own class in the 48-set and is ``sil`` in the
39-set, and the glottal stop ``q`` has no counterpart at all: it is deleted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

from speechgen.errors import DataError

SILENCE = "sil"

# The phones Kaldi's map deletes rather than folds (no 48- or 39-set symbol).
DELETED_PHONES = ("q",)

# (TIMIT-61, 48-set, 39-set); None means the phone is deleted.
PHONE_MAP: tuple[tuple[str, str | None, str | None], ...] = (
    ("aa", "aa", "aa"),
    ("ae", "ae", "ae"),
    ("ah", "ah", "ah"),
    ("ao", "ao", "aa"),
    ("aw", "aw", "aw"),
    ("ax", "ax", "ah"),
    ("ax-h", "ax", "ah"),
    ("axr", "er", "er"),
    ("ay", "ay", "ay"),
    ("b", "b", "b"),
    ("bcl", "vcl", "sil"),
    ("ch", "ch", "ch"),
    ("d", "d", "d"),
    ("dcl", "vcl", "sil"),
    ("dh", "dh", "dh"),
    ("dx", "dx", "dx"),
    ("eh", "eh", "eh"),
    ("el", "el", "l"),
    ("em", "m", "m"),
    ("en", "en", "n"),
    ("eng", "ng", "ng"),
    ("epi", "epi", "sil"),
    ("er", "er", "er"),
    ("ey", "ey", "ey"),
    ("f", "f", "f"),
    ("g", "g", "g"),
    ("gcl", "vcl", "sil"),
    ("h#", "sil", "sil"),
    ("hh", "hh", "hh"),
    ("hv", "hh", "hh"),
    ("ih", "ih", "ih"),
    ("ix", "ix", "ih"),
    ("iy", "iy", "iy"),
    ("jh", "jh", "jh"),
    ("k", "k", "k"),
    ("kcl", "cl", "sil"),
    ("l", "l", "l"),
    ("m", "m", "m"),
    ("n", "n", "n"),
    ("ng", "ng", "ng"),
    ("nx", "n", "n"),
    ("ow", "ow", "ow"),
    ("oy", "oy", "oy"),
    ("p", "p", "p"),
    ("pau", "sil", "sil"),
    ("pcl", "cl", "sil"),
    ("q", None, None),
    ("r", "r", "r"),
    ("s", "s", "s"),
    ("sh", "sh", "sh"),
    ("t", "t", "t"),
    ("tcl", "cl", "sil"),
    ("th", "th", "th"),
    ("uh", "uh", "uh"),
    ("uw", "uw", "uw"),
    ("ux", "uw", "uw"),
    ("v", "v", "v"),
    ("w", "w", "w"),
    ("y", "y", "y"),
    ("z", "z", "z"),
    ("zh", "zh", "sh"),
)

_TO_48 = {p61: p48 for p61, p48, _ in PHONE_MAP}
_TO_39 = {p61: p39 for p61, _, p39 in PHONE_MAP}

# Symbol lists, each in C (byte) order.
PHONES_61: tuple[str, ...] = tuple(sorted(_TO_48))
PHONES_48: tuple[str, ...] = tuple(sorted({p for p in _TO_48.values() if p is not None}))
PHONES_39: tuple[str, ...] = tuple(sorted({p for p in _TO_39.values() if p is not None}))

# f-DNF phone classes: the 39-set without silence, with their class ids.
FDNF_PHONES: tuple[str, ...] = tuple(p for p in PHONES_39 if p != SILENCE)
FDNF_PHONE_TO_ID: dict[str, int] = {p: i for i, p in enumerate(FDNF_PHONES)}


def is_timit_phone(phone: str) -> bool:
    """True when ``phone`` is one of the 61 TIMIT labels (case-insensitive)."""
    return phone.lower() in _TO_48


def map_phone(p61: str, to: int = 39) -> str | None:
    """Fold a TIMIT-61 label to the 48- or 39-set.

    Args:
        p61: a TIMIT label such as ``"ax-h"`` or ``"h#"`` (case-insensitive).
        to: 48 or 39, the target set.

    Returns:
        The folded symbol, or None for a deleted phone (``q``).

    Raises:
        DataError: naming ``p61`` when it is not a TIMIT label.
        ValueError: when ``to`` is neither 48 nor 39.
    """
    if to not in (48, 39):
        raise ValueError(f"map_phone: to={to!r}, expected 48 or 39")
    key = p61.lower()
    if key not in _TO_48:
        raise DataError(
            f"unknown TIMIT phone {p61!r}; expected one of the 61 TIMIT labels "
            f"({' '.join(PHONES_61)}): fix the label in the .PHN / phones file"
        )
    return _TO_48[key] if to == 48 else _TO_39[key]


# The seed's phone table: the 48-phone set with q kept, in the seed's id order (note cl = 40).
LOGMEL_PHONES: Tuple[str, ...] = (
    "aa", "ae", "ah", "ao", "aw", "ax", "ay", "b", "ch", "d", "dh", "dx", "eh", "el", "en", "epi", "er",
    "ey", "f", "g", "hh", "ih", "ix", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "q", "r",
    "s", "sh", "sil", "t", "th", "cl", "uh", "uw", "v", "vcl", "w", "y", "z", "zh",
)
LOGMEL_PHONE_TO_ID: Dict[str, int] = {p: i for i, p in enumerate(LOGMEL_PHONES)}
SILENCE_ID = LOGMEL_PHONE_TO_ID["sil"]


def phone61_to_id(p61: str) -> int:
    """A TIMIT-61 label -> its id in :data:`LOGMEL_PHONES` (61 -> 48 fold; ``q`` keeps its own id 33)."""
    p48 = map_phone(p61, to=48)
    return LOGMEL_PHONE_TO_ID["q" if p48 is None else p48]


def write_phone_table(path: str | Path) -> None:
    """Write :data:`LOGMEL_PHONES` as a Kaldi symbol table (``phone id`` lines, in id order)."""
    Path(path).write_text("".join(f"{p} {i}\n" for i, p in enumerate(LOGMEL_PHONES)))
