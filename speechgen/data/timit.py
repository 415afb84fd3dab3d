"""TIMIT data preparation for the f-DNF setup.

Reads the corpus in the LDC layout or the NLTK sample layout, writes Kaldi data dirs, picks the
f-DNF speakers, splits each speaker's utterances into train/dev/test, and cuts one fixed-length
segment per phone occurrence.

Times in files are seconds with 4 decimals. Segment times are computed on that 0.1 ms grid so
that every segment lasts exactly ``seg_dur`` and never ends past its utterance.
"""
from __future__ import annotations

import logging
import math
import os
import random
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import soundfile as sf

from speechgen.data.phones import FDNF_PHONES, PHONES_61, map_phone
from speechgen.data.validate import check_sorted_unique, parse_phone_line, parse_time, read_table, validate_data_dir
from speechgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)

TIMIT_SAMPLE_RATE = 16000
SUBSETS = ("train", "test")
SPLITS = ("train", "dev", "test")

LDC_LAYOUT = "LDC: <root>/TRAIN/DR1/FCJF0/SA1.WAV with .PHN .WRD .TXT beside it (upper- or lower-case names)"
NLTK_LAYOUT = ("NLTK sample: <root>/timit/dr1-fvmh0/sa1.wav with .phn .wrd .txt beside it and "
               "<root>/timit/spkrinfo.txt (or <root> = that timit/ folder)")

_TICKS_PER_S = 10000  # the 4-decimal grid of every time written

_DIALECT_DIR = re.compile(r"dr\d+", re.IGNORECASE)
_LDC_SPEAKER_DIR = re.compile(r"[fm]\w+", re.IGNORECASE)
_NLTK_SPEAKER_DIR = re.compile(r"(dr\d+)-([a-z]\w*)", re.IGNORECASE)
# SA1.WAV, si1027.wav; copies with an extra RIFF twin (SA1.WAV.wav) are skipped by the anchors.
_UTT_WAV = re.compile(r"([a-z]+\d+)\.wav", re.IGNORECASE)


@dataclass
class Utterance:
    """One TIMIT utterance; times in seconds, phones with their TIMIT-61 labels."""

    utt_id: str
    spk: str
    gender: str
    subset: str
    wav: str
    phones: list[tuple[float, float, str]]
    words: list[tuple[float, float, str]] = field(default_factory=list)
    text: str = ""
    duration: float | None = None


@dataclass(frozen=True)
class Segment:
    """A fixed-length window around one phone occurrence; ``phone`` is its 39-set label."""

    seg_id: str
    utt_id: str
    spk: str
    start: float
    end: float
    phone: str
    phone61: str


# --------------------------------------------------------------------------- layout


def _child_dirs(path: Path) -> list[Path]:
    """Sub-directories of ``path`` in name order (empty when ``path`` is not a directory)."""
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir())


def _ldc_subset_dirs(root: Path) -> dict[str, Path]:
    """``{"train": <root>/TRAIN, "test": <root>/TEST}`` for those that exist and hold DR* dirs."""
    found = {}
    for child in _child_dirs(root):
        name = child.name.lower()
        if name in SUBSETS and any(_DIALECT_DIR.fullmatch(d.name) for d in _child_dirs(child)):
            found[name] = child
    return found


def _nltk_speaker_root(root: Path) -> Path | None:
    """The folder holding ``dr1-fvmh0``-style speaker dirs: ``<root>/timit`` or ``<root>`` itself."""
    for candidate in (root / "timit", root):
        if any(_NLTK_SPEAKER_DIR.fullmatch(d.name) for d in _child_dirs(candidate)):
            return candidate
    return None


def detect_layout(root: str | os.PathLike) -> str:
    """Tell which TIMIT layout ``root`` holds: ``"ldc"`` or ``"nltk"``.

    Raises:
        DataError: naming ``root`` and both expected layouts when it is missing or neither.
    """
    root = Path(root)
    expected = f"expected one of: {LDC_LAYOUT}; or {NLTK_LAYOUT}"
    if not root.is_dir():
        raise DataError(f"TIMIT corpus root {root} does not exist or is not a directory; {expected}")
    if _ldc_subset_dirs(root):
        return "ldc"
    if _nltk_speaker_root(root) is not None:
        return "nltk"
    raise DataError(f"{root} is not a TIMIT corpus in a known layout{_layout_hint(root)}; {expected}")


def _layout_hint(root: Path) -> str:
    """Where a TIMIT tree is near ``root``: one level down, or above it (``root`` is TRAIN, DR1, a speaker)."""
    for child in _child_dirs(root):
        if _ldc_subset_dirs(child) or _nltk_speaker_root(child) is not None:
            return f" (found a TIMIT tree one level down: pass {child} instead)"
    for parent in list(root.resolve().parents)[:3]:
        if _ldc_subset_dirs(parent) or _nltk_speaker_root(parent) is not None:
            return f" ({root} is inside a TIMIT tree: pass its root {parent} instead)"
    return ""


# --------------------------------------------------------------------------- file readers


def _audio_length(wav: Path) -> tuple[int, int]:
    """``(frames, sample_rate)`` from the audio header, or a DataError naming the file."""
    try:
        info = sf.info(str(wav))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(
            f"{wav}: cannot read the audio ({err}); the file is corrupt or not NIST SPHERE/RIFF — "
            "re-copy it from the corpus"
        ) from None
    if info.samplerate != TIMIT_SAMPLE_RATE:
        raise DataError(
            f"{wav}: sample rate {info.samplerate} Hz, but TIMIT alignments count samples at "
            f"{TIMIT_SAMPLE_RATE} Hz; use the original 16 kHz audio"
        )
    if info.channels != 1:
        raise DataError(f"{wav}: {info.channels} channels, TIMIT is mono; use the original audio")
    return info.frames, info.samplerate


def _read_lines(path: Path) -> list[str]:
    """Lines of a TIMIT text file (ASCII in the corpus; latin-1 never fails on stray bytes)."""
    return path.read_text(encoding="latin-1").splitlines()


def _read_sample_intervals(path: Path, kind: str) -> list[tuple[int, int, str, int]]:
    """Parse ``START END LABEL`` lines of a .PHN/.WRD file into ``(start, end, label, lineno)``."""
    intervals = []
    for lineno, line in enumerate(_read_lines(path), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise DataError(
                f"{path}:{lineno}: malformed line {line!r}; a {kind} line is 'START_SAMPLE END_SAMPLE LABEL' "
                "— fix the line or re-copy the file from the corpus"
            )
        start, end = int(fields[0]), int(fields[1])
        if end <= start:
            raise DataError(
                f"{path}:{lineno}: {fields[2]!r} ends at sample {end}, not after its start {start}; "
                "fix the line or re-copy the file from the corpus"
            )
        intervals.append((start, end, fields[2], lineno))
    return intervals


def read_phn(path: str | os.PathLike, num_samples: int, sample_rate: int = TIMIT_SAMPLE_RATE,
             wav: str | os.PathLike | None = None) -> list[tuple[float, float, str]]:
    """Read a TIMIT .PHN file as ``[(start_s, end_s, phone61), ...]``.

    Args:
        path: the .PHN file.
        num_samples: the length of its audio; no phone may end past it.
        sample_rate: the rate the sample counts refer to.
        wav: the audio file, named in the error when the alignment runs past it.

    Raises:
        DataError: naming the file and line for a malformed line, an unknown phone, overlapping
            phones or a phone ending past the audio, and for a file without phones.
    """
    path = Path(path)
    phones = []
    prev_end = 0
    for start, end, label, lineno in _read_sample_intervals(path, ".PHN"):
        phone = label.lower()
        if phone not in PHONES_61:
            raise DataError(
                f"{path}:{lineno}: unknown TIMIT phone {label!r}; expected one of the 61 TIMIT labels "
                f"({' '.join(PHONES_61)}) — fix the label"
            )
        if start < prev_end:
            raise DataError(
                f"{path}:{lineno}: {phone!r} starts at sample {start} before the previous phone ends ({prev_end}); "
                "phones must not overlap — fix the alignment"
            )
        if end > num_samples:
            raise DataError(
                f"{path}:{lineno}: {phone!r} ends at sample {end} but the audio {wav or 'file'} has "
                f"{num_samples} samples; the alignment runs past the end of the audio — the .PHN and the "
                ".WAV do not belong together (or the .WAV is truncated): re-copy both from the corpus"
            )
        phones.append((start / sample_rate, end / sample_rate, phone))
        prev_end = end
    if not phones:
        raise DataError(f"{path}: holds no phones; re-copy it from the corpus or remove the utterance")
    return phones


def read_wrd(path: str | os.PathLike, sample_rate: int = TIMIT_SAMPLE_RATE) -> list[tuple[float, float, str]]:
    """Read a TIMIT .WRD file as ``[(start_s, end_s, word), ...]`` (words may overlap at shared phones)."""
    return [(s / sample_rate, e / sample_rate, word) for s, e, word, _ in _read_sample_intervals(Path(path), ".WRD")]


def read_txt(path: str | os.PathLike) -> str:
    """Read the sentence of a TIMIT .TXT file (``START END sentence``), whitespace collapsed."""
    path = Path(path)
    for lineno, line in enumerate(_read_lines(path), 1):
        fields = line.split(maxsplit=2)
        if not fields:
            continue
        if len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise DataError(
                f"{path}:{lineno}: malformed line {line!r}; a .TXT line is 'START_SAMPLE END_SAMPLE sentence' "
                "— fix the line or re-copy the file from the corpus"
            )
        return " ".join(fields[2].split())
    raise DataError(f"{path}: empty; re-copy it from the corpus")


# --------------------------------------------------------------------------- corpus readers


def _read_speaker_dir(spk_dir: Path, spk: str, subset: str, exclude_sa: bool) -> list[Utterance]:
    """Read every utterance of one speaker directory (file names matched case-insensitively)."""
    gender = spk[0]
    if gender not in ("f", "m"):
        raise DataError(
            f"{spk_dir}: speaker {spk!r} does not start with f or m, so its gender is unknown; "
            "TIMIT speaker dirs are named like FCJF0 / dr1-fvmh0"
        )
    files = {p.name.lower(): p for p in spk_dir.iterdir() if p.is_file()}
    utts = []
    wav_names = set()
    for lower_name, wav in sorted(files.items()):
        match = _UTT_WAV.fullmatch(lower_name)
        if not match:
            continue
        name = match.group(1)
        wav_names.add(name)
        if exclude_sa and name.startswith("sa"):
            continue
        phn = files.get(name + ".phn")
        if phn is None:
            raise DataError(
                f"{wav}: no {name.upper()}.PHN / {name}.phn beside it; every TIMIT .WAV needs its phone "
                "alignment — copy the corpus completely or delete the stray .WAV"
            )
        num_samples, sample_rate = _audio_length(wav)
        words = read_wrd(files[name + ".wrd"], sample_rate) if name + ".wrd" in files else []
        if name + ".txt" in files:
            text = read_txt(files[name + ".txt"])
        else:
            text = " ".join(word for _, _, word in words)
        utts.append(Utterance(
            utt_id=f"{spk}_{name}", spk=spk, gender=gender, subset=subset, wav=str(wav.absolute()),
            phones=read_phn(phn, num_samples, sample_rate, wav=wav), words=words, text=text,
            duration=num_samples / sample_rate,
        ))
    orphans = sorted(n[:-4] for n in files if n.endswith(".phn") and n[:-4] not in wav_names)
    if orphans:
        raise DataError(
            f"{spk_dir / orphans[0]}.phn: no audio ({orphans[0]}.wav) beside this alignment; "
            "copy the corpus completely or delete the stray .PHN"
        )
    return utts


def _read_ldc(root: Path, subsets: Sequence[str], exclude_sa: bool) -> list[Utterance]:
    """Read ``<root>/TRAIN|TEST/DR*/<speaker>/`` for the requested subsets."""
    utts = []
    for subset, subset_dir in sorted(_ldc_subset_dirs(root).items()):
        if subset not in subsets:
            continue
        for dialect_dir in _child_dirs(subset_dir):
            if not _DIALECT_DIR.fullmatch(dialect_dir.name):
                continue
            for spk_dir in _child_dirs(dialect_dir):
                if _LDC_SPEAKER_DIR.fullmatch(spk_dir.name):
                    utts += _read_speaker_dir(spk_dir, spk_dir.name.lower(), subset, exclude_sa)
    return utts


def _read_spkrinfo(path: Path) -> dict[tuple[str, str], set[str]]:
    """``{(dialect, id): sexes}`` from a TIMIT spkrinfo.txt (``ID SEX DR USE ...``; ``;`` starts a comment).

    The ID column omits the sex letter, so one (dialect, id) could in principle hold both sexes.
    """
    sexes: dict[tuple[str, str], set[str]] = {}
    for line in _read_lines(path):
        fields = line.split()
        if len(fields) < 3 or line.lstrip().startswith(";"):
            continue
        sexes.setdefault((fields[2], fields[0].lower()), set()).add(fields[1].lower())
    return sexes


def _read_nltk(root: Path, subsets: Sequence[str], exclude_sa: bool) -> list[Utterance]:
    """Read the NLTK sample (``dr1-fvmh0/sa1.wav`` ...); all of it counts as the train subset."""
    if "train" not in subsets:
        return []
    speaker_root = _nltk_speaker_root(root)
    assert speaker_root is not None
    spkrinfo = speaker_root / "spkrinfo.txt"
    listed_sexes = _read_spkrinfo(spkrinfo) if spkrinfo.is_file() else {}
    utts = []
    for spk_dir in _child_dirs(speaker_root):
        match = _NLTK_SPEAKER_DIR.fullmatch(spk_dir.name)
        if not match:
            continue
        dialect, spk = match.group(1).lower()[2:], match.group(2).lower()
        sexes = listed_sexes.get((dialect, spk[1:]))
        if sexes and spk[0] not in sexes:
            raise DataError(
                f"{spkrinfo}: speaker {spk!r} is listed with sex {sorted(sexes)[0]!r} but its dir "
                f"{spk_dir.name} says {spk[0]!r}; fix spkrinfo.txt or the dir name"
            )
        utts += _read_speaker_dir(spk_dir, spk, "train", exclude_sa)
    return utts


def read_corpus(root: str | os.PathLike, subsets: Sequence[str] = SUBSETS, exclude_sa: bool = False) -> list[Utterance]:
    """Read a TIMIT corpus (LDC or NLTK-sample layout) into utterances sorted by ``utt_id``.

    Args:
        root: the corpus root (see :func:`detect_layout`).
        subsets: which of ``"train"``, ``"test"`` to read (the NLTK sample is all ``"train"``).
        exclude_sa: drop the SA1/SA2 dialect sentences every speaker reads.

    Raises:
        DataError: for an unknown layout, a bad or missing file (named, with the fix) or no utterances.
    """
    root = Path(root)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise ConfigError(f"unknown TIMIT subset {unknown[0]!r}; choose from {', '.join(SUBSETS)}")
    layout = detect_layout(root)
    reader = _read_ldc if layout == "ldc" else _read_nltk
    utts = sorted(reader(root, tuple(subsets), exclude_sa), key=lambda u: u.utt_id)
    if not utts:
        raise DataError(
            f"{root}: no utterances found in the {layout} layout for subsets {', '.join(subsets)}"
            f"{' without SA sentences' if exclude_sa else ''}; check the path and the subsets "
            f"(expected {LDC_LAYOUT if layout == 'ldc' else NLTK_LAYOUT})"
        )
    for prev, utt in zip(utts, utts[1:]):
        if prev.utt_id == utt.utt_id:
            raise DataError(
                f"utterance {utt.utt_id!r} appears twice ({prev.wav} and {utt.wav}); "
                "each speaker may appear once in the corpus — remove the duplicate copy"
            )
    log.info("read %d utterances of %d speakers from %s (%s layout)",
             len(utts), len({u.spk for u in utts}), root, layout)
    return utts


# --------------------------------------------------------------------------- data dirs


def _format_time(ticks: int) -> str:
    """``12345`` ticks of 0.1 ms -> ``"1.2345"`` (exact, no float rounding)."""
    return f"{ticks // _TICKS_PER_S}.{ticks % _TICKS_PER_S:04d}"


def _sorted_lines(entries: Iterable[tuple[str, str]]) -> list[str]:
    """``key value`` lines in C (byte) order of the key."""
    return [f"{key} {value}".rstrip() for key, value in sorted(entries)]


def _write_dir_atomically(dirpath: Path, files: dict[str, list[str]]) -> None:
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


def segment_tables(segments: Sequence[Segment]) -> dict[str, list[str]]:
    """The ``segments``, ``seg2phone`` and ``seg2spk`` files of ``segments``, as sorted lines."""
    return {
        "segments": _sorted_lines((s.seg_id, f"{s.utt_id} {s.start:.4f} {s.end:.4f}") for s in segments),
        "seg2phone": _sorted_lines((s.seg_id, s.phone) for s in segments),
        "seg2spk": _sorted_lines((s.seg_id, s.spk) for s in segments),
    }


def write_data_dir(utts: Sequence[Utterance], dirpath: str | os.PathLike,
                   segments: Sequence[Segment] | None = None) -> None:
    """Write a Kaldi data dir of ``utts`` (replacing ``dirpath`` atomically).

    Files, each sorted in C order of its key::

        wav.scp     utt /abs/path
        utt2spk     utt spk
        spk2utt     spk utt1 utt2 ...
        spk2gender  spk f|m
        text        utt sentence
        phones      utt start end phone61 start end phone61 ...   (seconds, 4 decimals)

    and, when ``segments`` is given, ``segments`` (``seg utt start end``), ``seg2phone``
    (``seg phone39``) and ``seg2spk`` (``seg spk``).
    """
    if not utts:
        raise DataError(f"{dirpath}: no utterances to write; the selection is empty")
    _check_unique_speaker_genders(utts)
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(utts, key=lambda u: u.utt_id):
        spk2utt.setdefault(utt.spk, []).append(utt.utt_id)
    files = {
        "wav.scp": _sorted_lines((u.utt_id, u.wav) for u in utts),
        "utt2spk": _sorted_lines((u.utt_id, u.spk) for u in utts),
        "spk2utt": _sorted_lines((spk, " ".join(ids)) for spk, ids in spk2utt.items()),
        "spk2gender": _sorted_lines({(u.spk, u.gender) for u in utts}),
        "text": _sorted_lines((u.utt_id, u.text) for u in utts),
        "phones": _sorted_lines((u.utt_id, _phone_line(u)) for u in utts),
    }
    if segments is not None:
        known = {u.utt_id for u in utts}
        stray = [s.seg_id for s in segments if s.utt_id not in known]
        if stray:
            raise DataError(f"{dirpath}: segment {stray[0]!r} belongs to no utterance of this data dir")
        files.update(segment_tables(segments))
    _write_dir_atomically(Path(dirpath), files)


def read_data_dir(dirpath: str | os.PathLike) -> dict[str, dict]:
    """Read the tables of a Kaldi data dir written by :func:`write_data_dir`.

    Returns:
        ``{file name: table}`` for each file present: ``wav.scp``, ``utt2spk``, ``spk2gender``,
        ``seg2phone``, ``seg2spk``: ``{key: value}``; ``text``: ``{utt: sentence}``;
        ``spk2utt``: ``{spk: [utt, ...]}``; ``phones``: ``{utt: [(start, end, phone), ...]}``;
        ``segments``: ``{seg: (utt, start, end)}``.

    Raises:
        DataError: for a missing dir or a malformed line (file and line named).
    """
    dirpath = Path(dirpath)
    if not dirpath.is_dir():
        raise DataError(f"{dirpath}: no such data dir; run the data preparation stage first")
    field_counts = {"wav.scp": (1, None), "utt2spk": (1, 1), "spk2gender": (1, 1), "seg2phone": (1, 1),
                    "seg2spk": (1, 1), "text": (0, None), "spk2utt": (1, None), "phones": (3, None),
                    "segments": (3, 3)}
    tables: dict[str, dict] = {}
    for name, (lo, hi) in field_counts.items():
        path = dirpath / name
        if not path.is_file():
            continue
        rows = read_table(path, lo, hi)
        check_sorted_unique(path, rows)
        if name in ("wav.scp", "text"):
            tables[name] = {r.key: r.rest for r in rows}
        elif name == "spk2utt":
            tables[name] = {r.key: list(r.fields) for r in rows}
        elif name == "phones":
            tables[name] = {r.key: parse_phone_line(path, r) for r in rows}
        elif name == "segments":
            tables[name] = {r.key: (r.fields[0], parse_time(path, r.lineno, r.fields[1]),
                                    parse_time(path, r.lineno, r.fields[2])) for r in rows}
        else:
            tables[name] = {r.key: r.fields[0] for r in rows}
    if "wav.scp" not in tables:
        raise DataError(f"{dirpath / 'wav.scp'}: missing; {dirpath} is not a data dir")
    return tables


# --------------------------------------------------------------------------- f-DNF setup


def select_speakers(utts: Sequence[Utterance], n_female: int = 20, n_male: int = 20) -> list[Utterance]:
    """The utterances of the first ``n_female`` female and ``n_male`` male speakers.

    Speakers are taken in sorted order, those of the train subset first, then the test subset.

    Raises:
        DataError: naming how many speakers of a gender exist when there are too few.
    """
    if n_female < 0 or n_male < 0 or n_female + n_male == 0:
        raise ConfigError(f"n_female={n_female}, n_male={n_male}: need counts >= 0 and at least one speaker")
    subset_rank = {"train": 0, "test": 1}
    ranked = sorted({(subset_rank.get(u.subset, 2), u.spk, u.gender) for u in utts})
    speaker_gender = {}
    for _, spk, gender in ranked:
        speaker_gender.setdefault(spk, gender)  # dict order: train speakers first, each sorted
    chosen = set()
    for gender, wanted, word in (("f", n_female, "female"), ("m", n_male, "male")):
        available = [spk for spk, g in speaker_gender.items() if g == gender]
        if len(available) < wanted:
            raise DataError(
                f"need {wanted} {word} speakers but the corpus has {len(available)}; "
                f"lower --n-{word} to {len(available)} or use the full TIMIT corpus"
            )
        chosen.update(available[:wanted])
    return sorted((u for u in utts if u.spk in chosen), key=lambda u: u.utt_id)


def _split_counts(n: int, ratios: Sequence[float]) -> list[int]:
    """Split ``n`` items by ``ratios`` (largest remainder), giving each nonzero ratio >= 1 item when n allows."""
    total = float(sum(ratios))
    exact = [n * r / total for r in ratios]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, r in enumerate(ratios) if r > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] = 1
    return counts


def _check_ratios(ratios: Sequence[float]) -> None:
    """Raise a ConfigError unless ``ratios`` are three non-negative numbers with a positive train share."""
    if len(ratios) != len(SPLITS) or any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise ConfigError(
            f"split ratios {tuple(ratios)}: need three numbers train,dev,test >= 0 with train > 0 (e.g. 8,1,1)"
        )


def split_utterances(utts: Sequence[Utterance], ratios: Sequence[float] = (8, 1, 1),
                     seed: int = 0) -> dict[str, list[Utterance]]:
    """Split each speaker's utterances into train/dev/test so every split shares the speakers.

    Per speaker the utterances are shuffled with a generator seeded by ``seed`` and the speaker
    id (deterministic, independent of the other speakers), then cut by ``ratios``; a speaker
    with at least 3 utterances appears in every split with a nonzero ratio (10 utts -> 8/1/1).

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``, each sorted by ``utt_id``.
    """
    _check_ratios(ratios)
    by_speaker: dict[str, list[Utterance]] = {}
    for utt in sorted(utts, key=lambda u: u.utt_id):
        by_speaker.setdefault(utt.spk, []).append(utt)
    splits: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for spk, spk_utts in sorted(by_speaker.items()):
        order = list(spk_utts)
        random.Random(f"{seed}/{spk}").shuffle(order)
        counts = _split_counts(len(order), ratios)
        if len(order) < sum(1 for r in ratios if r > 0):
            log.warning("speaker %s has only %d utterances; it is missing from some splits", spk, len(order))
        begin = 0
        for name, count in zip(SPLITS, counts):
            splits[name] += order[begin:begin + count]
            begin += count
    return {name: sorted(part, key=lambda u: u.utt_id) for name, part in splits.items()}


def _utterance_ticks(utt: Utterance) -> int:
    """The utterance duration on the 0.1 ms grid, rounded down so no segment passes the audio."""
    duration = utt.duration
    if duration is None:
        info = sf.info(utt.wav)
        duration = info.frames / info.samplerate
    # The epsilon only absorbs float error: TIMIT durations are multiples of 1/16000 s.
    return math.floor(duration * _TICKS_PER_S + 1e-6)


def make_segments(utt: Utterance, dur: float = 0.2, drop: Iterable[str] = ("sil",)) -> list[Segment]:
    """One ``dur``-second segment per phone occurrence, centred on the phone.

    Phones whose 39-set label is in ``drop`` (and the deleted ``q``) get no segment. A window that
    would run past an utterance edge is shifted inside it, never zero padded; a phone longer than
    ``dur`` is trimmed to its centred ``dur``. Segment ids are ``<utt_id>_<k:03d>`` in time order.
    An utterance shorter than ``dur`` gets no segments (with a warning).
    """
    dur_ticks = round(dur * _TICKS_PER_S)
    if dur_ticks <= 0:
        raise ConfigError(f"segment duration {dur} s: must be at least 0.0001 s")
    total_ticks = _utterance_ticks(utt)
    if total_ticks < dur_ticks:
        log.warning("utterance %s lasts %s s, shorter than the %s s segments; skipped",
                    utt.utt_id, _format_time(total_ticks), _format_time(dur_ticks))
        return []
    drop = set(drop)
    segments = []
    for start, end, phone61 in utt.phones:
        phone39 = map_phone(phone61, to=39)
        if phone39 is None or phone39 in drop:
            continue
        centre = round((start + end) / 2 * _TICKS_PER_S)
        seg_start = min(max(centre - dur_ticks // 2, 0), total_ticks - dur_ticks)
        segments.append(Segment(
            seg_id=f"{utt.utt_id}_{len(segments):03d}", utt_id=utt.utt_id, spk=utt.spk,
            start=seg_start / _TICKS_PER_S, end=(seg_start + dur_ticks) / _TICKS_PER_S,
            phone=phone39, phone61=phone61,
        ))
    return segments


def write_lang_dir(lang_dir: str | os.PathLike, speakers: Sequence[str]) -> None:
    """Write ``phones.txt`` (the 38 f-DNF phone classes) and ``speakers.txt``, each ``symbol id``."""
    files = {
        "phones.txt": [f"{phone} {i}" for i, phone in enumerate(FDNF_PHONES)],
        "speakers.txt": [f"{spk} {i}" for i, spk in enumerate(sorted(speakers))],
    }
    _write_dir_atomically(Path(lang_dir), files)


def prepare_fdnf(corpus_root: str | os.PathLike, data_dir: str | os.PathLike, n_female: int = 20,
                 n_male: int = 20, ratios: Sequence[float] = (8, 1, 1), seg_dur: float = 0.2,
                 seed: int = 0) -> dict[str, dict[str, int]]:
    """Prepare the f-DNF TIMIT data: speakers, per-utterance splits, phone segments, lang dir.

    Writes ``data_dir/all`` (every utterance of the selected speakers), ``data_dir/{train,dev,test}``
    (each with segments, seg2phone, seg2spk) and ``data_dir/lang/{phones,speakers}.txt``, then
    validates every data dir against its audio.

    Returns:
        ``{dir name: {"utterances": n, "speakers": n, "segments": n}}``.
    """
    _check_ratios(ratios)
    if seg_dur <= 0:
        raise ConfigError(f"segment duration {seg_dur} s: must be positive (e.g. 0.2)")
    data_dir = Path(data_dir)
    utts = select_speakers(read_corpus(corpus_root), n_female, n_male)
    segments = {u.utt_id: make_segments(u, seg_dur) for u in utts}
    parts = {"all": utts, **split_utterances(utts, ratios, seed)}
    for name, part in parts.items():
        write_data_dir(part, data_dir / name, [s for u in part for s in segments[u.utt_id]])
    write_lang_dir(data_dir / "lang", sorted({u.spk for u in utts}))
    summary = {name: validate_data_dir(data_dir / name, check_audio=True) for name in parts}
    for name, counts in summary.items():
        log.info("%s: %d utterances, %d speakers, %d segments", data_dir / name,
                 counts["utterances"], counts["speakers"], counts["segments"])
    return summary
