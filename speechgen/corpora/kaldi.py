"""A Kaldi data dir given as is (``--corpus kaldi``).

Read: ``wav.scp`` (files, commands ending in ``|``, extended filenames: read through kaldiio as Kaldi
does), ``utt2spk``; optional ``segments`` (``utt recording start end``, end -1 meaning the recording's
end: each utterance is cut from its recording by a wav.scp pipe), ``spk2gender``, ``text`` and
``phones`` (``utt start end phone ...``, seconds within the utterance, labels mapped by ``phone_map``).

A cut utterance's wav.scp entry is ``python -m speechgen.corpora.cut_audio START END ENTRY |``.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from speechgen.corpora.alignments import PhoneMap, map_phones
from speechgen.corpora.base import Corpus, Utterance, gender_letter, speaker_prefixed
from speechgen.data.validate import parse_phone_line, parse_time, read_table
from speechgen.errors import DataError

LAYOUT = "a Kaldi data dir: wav.scp and utt2spk; segments, spk2gender, text, phones when there"


def cut_entry(entry: str, start: float, end: float) -> str:
    """A wav.scp pipe giving ``entry`` from ``start`` to ``end`` seconds (-1: its end)."""
    return f"{shlex.quote(sys.executable)} -m speechgen.corpora.cut_audio {start:.4f} {end:.4f} {shlex.quote(entry)} |"


def read_segments(path: Path) -> Dict[str, Tuple[str, float, float]]:
    """Kaldi's ``segments``: ``{utt: (recording, start, end)}``."""
    segments = {}
    for row in read_table(path, 3, 3):
        start, end = (parse_time(path, row.lineno, t) for t in row.fields[1:])
        if start < 0 or (end != -1 and end <= start):
            raise DataError(f"{path}:{row.lineno}: utterance {row.key!r} spans {start}..{end} s; need "
                            "0 <= start < end (or end -1): fix the line")
        segments[row.key] = (row.fields[0], start, end)
    return segments


def _table(path: Path, min_fields: int = 1, max_fields: Optional[int] = 1) -> Dict[str, str]:
    """``{key: rest of the line}`` of an optional Kaldi table (empty when the file is not there)."""
    return {row.key: row.rest for row in read_table(path, min_fields, max_fields)} if path.is_file() else {}


class KaldiCorpus(Corpus):
    """Option ``phone_map`` (a ``label timit61`` file) for the labels of a ``phones`` file."""

    kind = "kaldi"
    path_hint = "give the Kaldi data dir"
    layout = LAYOUT

    def _audio(self, utt: str, wavs: Dict[str, str], segments: Dict[str, Tuple[str, float, float]]) -> str:
        """The wav.scp entry of ``utt``: its own, or a pipe cutting it from its recording."""
        if not segments:
            if utt not in wavs:
                raise DataError(f"{self.path / 'wav.scp'}: no entry for utterance {utt!r} of utt2spk; add it")
            return wavs[utt]
        if utt not in segments:
            raise DataError(f"{self.path / 'segments'}: no line for utterance {utt!r} of utt2spk; add it")
        rec, start, end = segments[utt]
        if rec not in wavs:
            raise DataError(f"{self.path / 'segments'}: recording {rec!r} of {utt!r} is not in wav.scp; add it")
        return cut_entry(wavs[rec], start, end)

    def _phones(self, phone_map: PhoneMap) -> Dict[str, list]:
        path = self.path / "phones"
        if not path.is_file():
            return {}
        return {row.key: map_phones(parse_phone_line(path, row), phone_map, f"{path}:{row.lineno}")
                for row in read_table(path, 3, None)}

    def utterances(self) -> List[Utterance]:
        root = self.require_dir()
        for name in ("wav.scp", "utt2spk"):
            if not (root / name).is_file():
                raise DataError(f"--corpus-path {root}: no {name}; a Kaldi data dir needs wav.scp and utt2spk")
        wavs = _table(root / "wav.scp", 1, None)
        segments = read_segments(root / "segments") if (root / "segments").is_file() else {}
        genders, texts = _table(root / "spk2gender"), _table(root / "text", 0, None)
        phones = self._phones(PhoneMap(self.options.get("phone_map")))
        utts = []
        for utt, spk in _table(root / "utt2spk").items():
            gender = gender_letter(genders.get(spk, ""), str(root / "spk2gender"))
            utts.append(Utterance(speaker_prefixed(utt, spk), spk, gender, "train", self._audio(utt, wavs, segments),
                                  phones=phones.get(utt), text=texts.get(utt, "")))
        return sorted(utts, key=lambda u: u.utt_id)
