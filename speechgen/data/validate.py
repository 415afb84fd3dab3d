"""Checks on Kaldi-style data dirs, each failure a DataError naming the file, the line and the fix.

A data dir holds, one entry a line and sorted in C (byte) order by the first field:

    wav.scp     utt /abs/path.wav
    utt2spk     utt spk
    spk2utt     spk utt1 utt2 ...
    text        utt transcript words ...                  (optional: a corpus without transcripts has none)
    spk2gender  spk f|m                                  (optional)
    phones      utt start end phone start end phone ...   (optional; seconds)
    phone_segments  seg utt start end                     (optional; f-DNF phone segments, seconds)
    seg2phone   seg phone                                 (with phone_segments)
    seg2spk     seg spk                                   (with phone_segments)

Kaldi's rules (``utils/validate_data_dir.sh``) hold: spk2utt is utt2spk inverted, and listing the
utterances speaker by speaker gives the same order as sorting them (speaker ids prefix utterance ids).
A Kaldi ``segments`` file (utterances cut from recordings) is not used: a corpus reader turns such
utterances into wav.scp pipes, so every table stays keyed by utterance.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from speechgen.data.audio import audio_duration, is_kaldi_entry
from speechgen.errors import DataError

REQUIRED_FILES = ("wav.scp", "utt2spk", "spk2utt")
SEGMENT_FILES = ("phone_segments", "seg2phone", "seg2spk")

# Times are written with 4 decimals, so a rounded end may pass the true end by half a unit.
TIME_TOLERANCE_S = 0.5e-4 + 1e-9

_SORT_FIX = "sort it with `LC_ALL=C sort -o {path} {path}` or re-run the data preparation"


@dataclass(frozen=True)
class TableRow:
    """One line of a Kaldi table: its 1-based line number, first field and the fields after it."""

    lineno: int
    key: str
    fields: tuple[str, ...]
    rest: str


def read_table(path: str | os.PathLike, min_fields: int = 1, max_fields: int | None = None) -> list[TableRow]:
    """Read a Kaldi table file, checking each line has ``min_fields``..``max_fields`` fields after the key.

    Raises:
        DataError: naming the file and line for a missing file, an empty line or a wrong field count.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; re-run the data preparation that writes it")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split(maxsplit=1)
            if not parts:
                raise DataError(f"{path}:{lineno}: empty line; delete it")
            key, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            fields = tuple(rest.split())
            if len(fields) < min_fields or (max_fields is not None and len(fields) > max_fields):
                want = str(min_fields) if max_fields == min_fields else (
                    f"at least {min_fields}" if max_fields is None else f"{min_fields} to {max_fields}")
                raise DataError(
                    f"{path}:{lineno}: expected the key and {want} field(s) after it, got {line.rstrip()!r}; "
                    "fix the line or re-run the data preparation"
                )
            rows.append(TableRow(lineno, key, fields, rest))
    return rows


def check_sorted_unique(path: str | os.PathLike, rows: list[TableRow]) -> None:
    """Raise a DataError unless the keys of ``rows`` strictly increase in C (byte) order."""
    for prev, row in zip(rows, rows[1:]):
        if row.key == prev.key:
            raise DataError(
                f"{path}:{row.lineno}: key {row.key!r} repeats line {prev.lineno}; "
                "each key may appear once: remove the duplicate"
            )
        if row.key < prev.key:
            raise DataError(
                f"{path}:{row.lineno}: not sorted in C order ({row.key!r} after {prev.key!r}); "
                + _SORT_FIX.format(path=path)
            )


def parse_time(path: str | os.PathLike, lineno: int, text: str) -> float:
    """Parse a time in seconds, raising a DataError naming the file and line when it is not a number."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{lineno}: {text!r} is not a time in seconds; fix the line") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"{path}:{lineno}: {text!r} is not a finite time; fix the line")
    return value


def parse_phone_line(path: str | os.PathLike, row: TableRow) -> list[tuple[float, float, str]]:
    """Parse a ``phones`` line into ``[(start, end, phone), ...]``, checking the times increase.

    Raises:
        DataError: for a field count that is not a multiple of 3, a bad time, start >= end
            or a phone that starts before the previous one ends.
    """
    if len(row.fields) % 3 != 0 or not row.fields:
        raise DataError(
            f"{path}:{row.lineno}: expected 'utt start end phone start end phone ...', "
            f"got {len(row.fields)} fields after {row.key!r}; fix the line"
        )
    phones = []
    prev_end = 0.0
    for i in range(0, len(row.fields), 3):
        start = parse_time(path, row.lineno, row.fields[i])
        end = parse_time(path, row.lineno, row.fields[i + 1])
        phone = row.fields[i + 2]
        if not 0.0 <= start < end:
            raise DataError(
                f"{path}:{row.lineno}: phone {phone!r} of {row.key!r} spans {start}..{end}; "
                "need 0 <= start < end: fix the alignment"
            )
        if start < prev_end:
            raise DataError(
                f"{path}:{row.lineno}: phone {phone!r} of {row.key!r} starts at {start} before the previous "
                f"phone ends ({prev_end}); phones must not overlap: fix the alignment"
            )
        phones.append((start, end, phone))
        prev_end = end
    return phones


def _read_checked(dirpath: Path, name: str, min_fields: int, max_fields: int | None) -> list[TableRow]:
    """Read ``dirpath/name`` and check it is sorted with unique keys."""
    path = dirpath / name
    rows = read_table(path, min_fields, max_fields)
    check_sorted_unique(path, rows)
    return rows


def _check_same_keys(path_a: Path, keys_a: list[str], path_b: Path, keys_b: list[str], fix: str) -> None:
    """Raise a DataError naming one key that is in one file but not the other."""
    only_a = sorted(set(keys_a) - set(keys_b))
    only_b = sorted(set(keys_b) - set(keys_a))
    if only_a:
        raise DataError(f"{path_a}: key {only_a[0]!r} (and {len(only_a) - 1} more) missing from {path_b}; {fix}")
    if only_b:
        raise DataError(f"{path_b}: key {only_b[0]!r} (and {len(only_b) - 1} more) missing from {path_a}; {fix}")


def _check_speakers(dirpath: Path, utt2spk: list[TableRow], spk2utt: list[TableRow]) -> None:
    """Check spk2utt is exactly utt2spk inverted, each speaker's utterances listed in C order."""
    expected: dict[str, list[str]] = {}
    for row in utt2spk:
        expected.setdefault(row.fields[0], []).append(row.key)
    path = dirpath / "spk2utt"
    fix = "rebuild it from utt2spk (utils/utt2spk_to_spk2utt.pl utt2spk > spk2utt) or re-run the data preparation"
    for row in spk2utt:
        if row.key not in expected:
            raise DataError(f"{path}:{row.lineno}: speaker {row.key!r} has no utterance in utt2spk; {fix}")
        if list(row.fields) != expected[row.key]:
            raise DataError(
                f"{path}:{row.lineno}: utterances of {row.key!r} differ from utt2spk "
                f"(spk2utt {len(row.fields)}, utt2spk {len(expected[row.key])}, listed in C order); {fix}"
            )
    missing = sorted(set(expected) - {row.key for row in spk2utt})
    if missing:
        raise DataError(f"{path}: speaker {missing[0]!r} of utt2spk is missing; {fix}")
    by_speaker = [utt for row in spk2utt for utt in row.fields]
    for row, utt in zip(utt2spk, by_speaker):
        if row.key != utt:
            raise DataError(f"{dirpath / 'utt2spk'}:{row.lineno}: utterance {row.key!r} of speaker {row.fields[0]!r} "
                            f"sorts apart from its speaker's other utterances (Kaldi needs the speaker id as a "
                            f"prefix of the utterance id, e.g. {row.fields[0]}-{row.key}); re-run the data preparation")


def _check_wav_scp(dirpath: Path, rows: list[TableRow]) -> dict[str, str]:
    """Check each wav.scp entry names an existing file (Kaldi pipes and extended filenames are left unchecked)."""
    path = dirpath / "wav.scp"
    wavs = {}
    for row in rows:
        target = row.rest
        if not is_kaldi_entry(target) and not Path(target).is_file():
            raise DataError(
                f"{path}:{row.lineno}: audio {target!r} of {row.key!r} does not exist; "
                "fix the path (the corpus moved?) and re-run the data preparation"
            )
        wavs[row.key] = target
    return wavs


def _check_segments(dirpath: Path, utts: set[str], utt2spk: dict[str, str]) -> dict[str, tuple[int, str, float, float]]:
    """Check phone_segments, seg2phone and seg2spk together; returns ``{seg: (lineno, utt, start, end)}``."""
    path = dirpath / "phone_segments"
    rows = _read_checked(dirpath, "phone_segments", 3, 3)
    segments = {}
    for row in rows:
        utt = row.fields[0]
        if utt not in utts:
            raise DataError(
                f"{path}:{row.lineno}: segment {row.key!r} refers to utterance {utt!r} that is not in wav.scp; "
                "remove the segment or restore the utterance"
            )
        start = parse_time(path, row.lineno, row.fields[1])
        end = parse_time(path, row.lineno, row.fields[2])
        if not 0.0 <= start < end:
            raise DataError(
                f"{path}:{row.lineno}: segment {row.key!r} spans {start}..{end}; need 0 <= start < end: fix the times"
            )
        segments[row.key] = (row.lineno, utt, start, end)
    seg_keys = [row.key for row in rows]
    for name in ("seg2phone", "seg2spk"):
        table = _read_checked(dirpath, name, 1, 1)
        _check_same_keys(path, seg_keys, dirpath / name, [r.key for r in table],
                         "phone_segments, seg2phone and seg2spk must list the same segments: re-run the data preparation")
        if name == "seg2spk":
            for row in table:
                utt_spk = utt2spk[segments[row.key][1]]
                if row.fields[0] != utt_spk:
                    raise DataError(
                        f"{dirpath / name}:{row.lineno}: segment {row.key!r} has speaker {row.fields[0]!r} but its "
                        f"utterance belongs to {utt_spk!r} in utt2spk; re-run the data preparation"
                    )
    return segments


def _duration(wav: str, scp: Path) -> float:
    """Duration in seconds of ``wav`` from its header, or a DataError naming it and the wav.scp."""
    try:
        return audio_duration(wav)
    except DataError as err:
        raise DataError(f"{wav} (from {scp}): {str(err).removeprefix(f'{wav}: ')}") from None


def _check_audio_extent(dirpath: Path, wavs: dict[str, str], phone_ends: dict[str, tuple[int, float]],
                        segments: dict[str, tuple[int, str, float, float]]) -> None:
    """Check phone and segment ends lie within each utterance's audio."""
    durations = {utt: _duration(wav, dirpath / "wav.scp") for utt, wav in wavs.items() if not is_kaldi_entry(wav)}
    for utt, (lineno, end) in phone_ends.items():
        if utt in durations and end > durations[utt] + TIME_TOLERANCE_S:
            raise DataError(
                f"{dirpath / 'phones'}:{lineno}: the alignment of {utt!r} ends at {end:.4f} s but its audio "
                f"{wavs[utt]} lasts {durations[utt]:.4f} s; the alignment does not match the audio: re-copy both"
            )
    for seg, (lineno, utt, _start, end) in segments.items():
        if utt in durations and end > durations[utt] + TIME_TOLERANCE_S:
            raise DataError(
                f"{dirpath / 'phone_segments'}:{lineno}: segment {seg!r} ends at {end:.4f} s past the end of "
                f"{utt!r} ({durations[utt]:.4f} s); shift the segment inside the utterance or re-run the preparation"
            )


def _check_genders(dirpath: Path, speakers: list[str]) -> None:
    """Check spk2gender lists every speaker once, each ``f`` or ``m``."""
    gender_rows = _read_checked(dirpath, "spk2gender", 1, 1)
    _check_same_keys(dirpath / "spk2utt", speakers, dirpath / "spk2gender", [r.key for r in gender_rows],
                     "spk2gender must list every speaker of spk2utt once")
    for row in gender_rows:
        if row.fields[0] not in ("f", "m"):
            raise DataError(f"{dirpath / 'spk2gender'}:{row.lineno}: gender {row.fields[0]!r}, expected f or m")


def validate_data_dir(dirpath: str | os.PathLike, check_audio: bool = False) -> dict[str, int]:
    """Check a Kaldi data dir is complete, sorted and self-consistent.

    Args:
        dirpath: the data dir.
        check_audio: also read each wav header and check phone and segment ends lie within the audio.

    Returns:
        Counts: ``{"utterances": n, "speakers": n, "segments": n}``.

    Raises:
        DataError: naming the file, the line and the fix for the first problem found.
    """
    dirpath = Path(dirpath)
    if not dirpath.is_dir():
        raise DataError(f"{dirpath}: no such data dir; run the data preparation stage first")
    for name in REQUIRED_FILES:
        if not (dirpath / name).is_file():
            raise DataError(
                f"{dirpath / name}: missing; a data dir needs {', '.join(REQUIRED_FILES)}: re-run the data preparation"
            )
    if (dirpath / "segments").is_file():
        raise DataError(f"{dirpath / 'segments'}: a Kaldi segments file, which speechgen data dirs do not use (phone "
                        "segments are phone_segments, cut utterances are wav.scp pipes); re-run the data preparation")
    wav_rows = _read_checked(dirpath, "wav.scp", 1, None)
    utt2spk_rows = _read_checked(dirpath, "utt2spk", 1, 1)
    spk2utt_rows = _read_checked(dirpath, "spk2utt", 1, None)
    if not wav_rows:
        raise DataError(f"{dirpath / 'wav.scp'}: empty; the data dir holds no utterances")
    utt_keys = [row.key for row in wav_rows]
    fix = "wav.scp, utt2spk, text (and phones) must list the same utterances: re-run the data preparation"
    _check_same_keys(dirpath / "wav.scp", utt_keys, dirpath / "utt2spk", [r.key for r in utt2spk_rows], fix)
    if (dirpath / "text").is_file():
        text_keys = [r.key for r in _read_checked(dirpath, "text", 0, None)]
        _check_same_keys(dirpath / "wav.scp", utt_keys, dirpath / "text", text_keys, fix)
    _check_speakers(dirpath, utt2spk_rows, spk2utt_rows)
    wavs = _check_wav_scp(dirpath, wav_rows)

    if (dirpath / "spk2gender").is_file():
        _check_genders(dirpath, [r.key for r in spk2utt_rows])

    phone_ends: dict[str, tuple[int, float]] = {}
    if (dirpath / "phones").is_file():
        phone_rows = _read_checked(dirpath, "phones", 3, None)
        _check_same_keys(dirpath / "wav.scp", utt_keys, dirpath / "phones", [r.key for r in phone_rows], fix)
        for row in phone_rows:
            phone_ends[row.key] = (row.lineno, parse_phone_line(dirpath / "phones", row)[-1][1])

    segments: dict[str, tuple[int, str, float, float]] = {}
    present = [name for name in SEGMENT_FILES if (dirpath / name).is_file()]
    if present:
        if len(present) != len(SEGMENT_FILES):
            missing = [name for name in SEGMENT_FILES if name not in present]
            raise DataError(
                f"{dirpath / missing[0]}: missing while {present[0]} is present; "
                f"{', '.join(SEGMENT_FILES)} go together: re-run the data preparation"
            )
        utt2spk = {row.key: row.fields[0] for row in utt2spk_rows}
        segments = _check_segments(dirpath, set(utt_keys), utt2spk)

    if check_audio:
        _check_audio_extent(dirpath, wavs, phone_ends, segments)
    return {"utterances": len(wav_rows), "speakers": len(spk2utt_rows), "segments": len(segments)}
