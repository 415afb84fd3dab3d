"""What every corpus gives: utterances, each with its speaker, audio and (when known) gender and phones.

A corpus kind is one class with a ``kind`` name (the recipes' ``--corpus`` value), a one-line
``layout``, a ``path_hint`` and ``utterances()``, in a module of its own in this package. The writer
(:mod:`speechgen.corpora.writer`) turns the utterances of any kind into Kaldi data dirs;
:mod:`speechgen.data.validate` checks them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from speechgen.errors import DataError

Phone = Tuple[float, float, str]


@dataclass
class Utterance:
    """One utterance of a corpus.

    ``wav`` is its audio as Kaldi reads a wav.scp entry: a file (wav, flac, NIST SPHERE), a command
    ending in ``|`` that writes a wav to stdout, or an extended filename (``file.ark:123``).
    ``gender`` is ``f``, ``m`` or ``""`` when unknown; ``subset`` the corpus's own part (``train``,
    ``test``, a CHiME-4 set); ``phones`` the alignment ``[(start_s, end_s, timit61), ...]`` or None.
    """

    utt_id: str
    spk: str
    gender: str = ""
    subset: str = "train"
    wav: str = ""
    phones: Optional[List[Phone]] = None
    words: List[Phone] = field(default_factory=list)
    text: str = ""
    duration: Optional[float] = None


class Corpus:
    """A corpus of one kind at ``path``; subclasses set ``kind``, ``layout`` and read ``utterances()``."""

    kind = ""
    layout = ""
    #: what --corpus-path names, for the error when it is missing
    path_hint = "give the corpus root"
    #: whether every utterance comes with a phone alignment (timit_fdnf and timit_logmel need one)
    has_alignments = False

    def __init__(self, path: str | os.PathLike, **options) -> None:
        self.path = Path(path)
        self.options = options

    def utterances(self) -> List[Utterance]:
        """Every utterance, sorted by id."""
        raise NotImplementedError

    def own_split(self, utts: List[Utterance]) -> Optional[Dict[str, List[Utterance]]]:
        """The corpus's own train/dev/test split of ``utts`` (None: it has none)."""
        return None

    def require_dir(self) -> Path:
        """``self.path`` when it is a directory; else a DataError naming it and the expected layout."""
        if not self.path.is_dir():
            raise DataError(f"--corpus-path {self.path}: no such directory ({self.path_hint}; expected "
                            f"{self.layout})")
        return self.path


def speaker_prefixed(utt_id: str, spk: str) -> str:
    """``utt_id`` starting with its speaker (Kaldi's rule, so utterance and speaker order agree)."""
    return utt_id if utt_id.startswith(spk) and utt_id[len(spk):][:1] in ("-", "_") else f"{spk}-{utt_id}"


def gender_letter(text: str, where: str) -> str:
    """``F``/``female``/``f`` -> ``f``, likewise ``m``; ``""`` for an empty value; DataError otherwise."""
    value = text.strip().lower()
    if value in ("", "-", "u", "unknown"):
        return ""
    if value in ("f", "female", "m", "male"):
        return value[0]
    raise DataError(f"{where}: sex {text!r}; expected F or M (or leave it empty when unknown)")
