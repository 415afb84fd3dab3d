"""The one writer of Kaldi data dirs: utterances of any corpus -> wav.scp utt2spk spk2utt text (+ more).

Every file is sorted in C (byte) order of its key and checked by :func:`speechgen.data.validate.validate_data_dir`
with Kaldi's rules (``utils/validate_data_dir.sh``): utt2spk and spk2utt agree, and each speaker id is a
prefix of its utterance ids so that both orders agree. A dir is replaced atomically as a whole.
"""
from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence

from speechgen.corpora.base import Utterance
from speechgen.data.validate import check_sorted_unique, parse_phone_line, parse_time, read_table, validate_data_dir
from speechgen.errors import DataError

log = logging.getLogger(__name__)

#: the phone segments of the f-DNF setup (``seg utt start end``); not Kaldi's utterance ``segments``
PHONE_SEGMENTS = "phone_segments"


def sorted_lines(entries: Iterable[tuple[str, str]]) -> list[str]:
    """``key value`` lines in C (byte) order of the key."""
    return [f"{key} {value}".rstrip() for key, value in sorted(entries)]


def write_dir_atomically(dirpath: Path, files: dict[str, list[str]]) -> None:
    """Write ``{name: lines}`` into a fresh temp dir beside ``dirpath``, then swap it into place.

    An existing ``dirpath`` is replaced as a whole, so a reader never sees a half-written dir.
    """
    dirpath.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp) so the dir gets the umask's usual permissions, not 0700.
    unique = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = dirpath.parent / f".{dirpath.name}.tmp-{unique}"
    tmp.mkdir()
    try:
        for name, lines in files.items():
            (tmp / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if dirpath.exists():
            old = dirpath.parent / f".{dirpath.name}.old-{unique}"
            os.replace(dirpath, old)
            os.replace(tmp, dirpath)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dirpath)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _check_unique_speaker_genders(utts: Sequence[Utterance]) -> None:
    """Raise a DataError for a repeated utterance id or a speaker given two genders."""
    seen_utts, genders = set(), {}
    for utt in utts:
        if utt.utt_id in seen_utts:
            raise DataError(f"utterance {utt.utt_id!r} given twice; utterance ids must be unique")
        seen_utts.add(utt.utt_id)
        if genders.setdefault(utt.spk, utt.gender) != utt.gender:
            raise DataError(f"speaker {utt.spk!r} given genders {genders[utt.spk]!r} and {utt.gender!r}")


def _phone_line(utt: Utterance) -> str:
    """``start end phone start end phone ...`` for one utterance (seconds, 4 decimals)."""
    return " ".join(f"{start:.4f} {end:.4f} {phone}" for start, end, phone in utt.phones)


def audio_entry(wav: str) -> str:
    """A wav.scp entry: a file as its absolute path; a pipe (``cmd |``) or extended filename as given."""
    if wav.rstrip().endswith("|") or not Path(wav).exists():
        return wav
    return str(Path(wav).absolute())


def segment_tables(segments: Sequence) -> dict[str, list[str]]:
    """The ``phone_segments``, ``seg2phone`` and ``seg2spk`` files of f-DNF ``segments``, as sorted lines."""
    return {
        PHONE_SEGMENTS: sorted_lines((s.seg_id, f"{s.utt_id} {s.start:.4f} {s.end:.4f}") for s in segments),
        "seg2phone": sorted_lines((s.seg_id, s.phone) for s in segments),
        "seg2spk": sorted_lines((s.seg_id, s.spk) for s in segments),
    }


def _alignment_table(utts: Sequence[Utterance], dirpath: Path) -> list[str] | None:
    """The ``phones`` lines when every utterance is aligned; None (with a warning when some are) otherwise."""
    aligned = [u for u in utts if u.phones]
    if aligned and len(aligned) != len(utts):
        missing = next(u for u in utts if not u.phones)
        log.warning("%s: %d of %d utterances are aligned (not %s, for one); no phones file written",
                    dirpath, len(aligned), len(utts), missing.utt_id)
    if not aligned or len(aligned) != len(utts):
        return None
    return sorted_lines((u.utt_id, _phone_line(u)) for u in utts)


def write_data_dir(utts: Sequence[Utterance], dirpath: str | os.PathLike, segments: Sequence | None = None) -> None:
    """Write a Kaldi data dir of ``utts`` (replacing ``dirpath`` atomically).

    Files, each sorted in C order of its key::

        wav.scp     utt audio (absolute path, or the corpus's pipe / extended filename)
        utt2spk     utt spk
        spk2utt     spk utt1 utt2 ...
        text        utt sentence            (when the corpus has transcripts; lhotse cannot read empty ones)
        spk2gender  spk f|m                 (when every speaker's gender is known)
        phones      utt start end phone61 start end phone61 ...   (when all are aligned; seconds, 4 decimals)

    and, when ``segments`` (f-DNF phone segments) are given, ``phone_segments`` (``seg utt start end``),
    ``seg2phone`` (``seg phone39``) and ``seg2spk`` (``seg spk``).
    """
    if not utts:
        raise DataError(f"{dirpath}: no utterances to write; the selection is empty")
    _check_unique_speaker_genders(utts)
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(utts, key=lambda u: u.utt_id):
        spk2utt.setdefault(utt.spk, []).append(utt.utt_id)
    files = {
        "wav.scp": sorted_lines((u.utt_id, audio_entry(u.wav)) for u in utts),
        "utt2spk": sorted_lines((u.utt_id, u.spk) for u in utts),
        "spk2utt": sorted_lines((spk, " ".join(ids)) for spk, ids in spk2utt.items()),
    }
    if any(u.text for u in utts):
        files["text"] = sorted_lines((u.utt_id, u.text) for u in utts)
    if all(u.gender for u in utts):
        files["spk2gender"] = sorted_lines({(u.spk, u.gender) for u in utts})
    phones = _alignment_table(utts, Path(dirpath))
    if phones is not None:
        files["phones"] = phones
    if segments is not None:
        known = {u.utt_id for u in utts}
        stray = [s.seg_id for s in segments if s.utt_id not in known]
        if stray:
            raise DataError(f"{dirpath}: segment {stray[0]!r} belongs to no utterance of this data dir")
        files.update(segment_tables(segments))
    write_dir_atomically(Path(dirpath), files)


def write_data_dirs(splits: Mapping[str, Sequence[Utterance]], data_dir: str | os.PathLike,
                    check_audio: bool = False) -> Dict[str, Dict[str, int]]:
    """Write and validate ``data_dir/<name>`` for each split; returns the validator's counts per split."""
    summary = {}
    for name, utts in splits.items():
        write_data_dir(utts, Path(data_dir) / name)
        summary[name] = validate_data_dir(Path(data_dir) / name, check_audio=check_audio)
        log.info("%s: %d utterances, %d speakers", Path(data_dir) / name,
                 summary[name]["utterances"], summary[name]["speakers"])
    return summary


_FIELD_COUNTS = {"wav.scp": (1, None), "utt2spk": (1, 1), "spk2gender": (1, 1), "seg2phone": (1, 1),
                 "seg2spk": (1, 1), "text": (0, None), "spk2utt": (1, None), "phones": (3, None),
                 PHONE_SEGMENTS: (3, 3)}


def _parse_rows(path: Path, name: str, rows: List) -> dict:
    """One table of :func:`read_data_dir` from its checked rows."""
    if name in ("wav.scp", "text"):
        return {r.key: r.rest for r in rows}
    if name == "spk2utt":
        return {r.key: list(r.fields) for r in rows}
    if name == "phones":
        return {r.key: parse_phone_line(path, r) for r in rows}
    if name == PHONE_SEGMENTS:
        return {r.key: (r.fields[0], parse_time(path, r.lineno, r.fields[1]), parse_time(path, r.lineno, r.fields[2]))
                for r in rows}
    return {r.key: r.fields[0] for r in rows}


def read_data_dir(dirpath: str | os.PathLike) -> dict[str, dict]:
    """Read the tables of a data dir written by :func:`write_data_dir`.

    Returns:
        ``{file name: table}`` for each file present: ``wav.scp``, ``utt2spk``, ``spk2gender``,
        ``seg2phone``, ``seg2spk``: ``{key: value}``; ``text``: ``{utt: sentence}``;
        ``spk2utt``: ``{spk: [utt, ...]}``; ``phones``: ``{utt: [(start, end, phone), ...]}``;
        ``phone_segments``: ``{seg: (utt, start, end)}``.

    Raises:
        DataError: for a missing dir or a malformed line (file and line named).
    """
    dirpath = Path(dirpath)
    if not dirpath.is_dir():
        raise DataError(f"{dirpath}: no such data dir; run the data preparation stage first")
    tables: dict[str, dict] = {}
    for name, (lo, hi) in _FIELD_COUNTS.items():
        path = dirpath / name
        if path.is_file():
            rows = read_table(path, lo, hi)
            check_sorted_unique(path, rows)
            tables[name] = _parse_rows(path, name, rows)
    if "wav.scp" not in tables:
        raise DataError(f"{dirpath / 'wav.scp'}: missing; {dirpath} is not a data dir")
    return tables
