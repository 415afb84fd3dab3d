"""TIMIT in the LDC layout or the NLTK sample layout (``--corpus timit``, ``--corpus timit-nltk``).

Each speaker dir holds ``<utt>.WAV`` with ``.PHN`` (TIMIT-61 phones, in samples), ``.WRD`` and ``.TXT``
beside it (names matched case-insensitively). Utterance ids are ``<speaker>_<utt>`` in lower case;
the gender is the speaker's first letter. The LDC corpus's own split is Kaldi's standard one
(:mod:`speechgen.data.timit_split`).
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import soundfile as sf

from speechgen.corpora.base import Corpus, Utterance
from speechgen.data.phones import PHONES_61
from speechgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)

TIMIT_SAMPLE_RATE = 16000
SUBSETS = ("train", "test")

LDC_LAYOUT = "LDC: <root>/TRAIN/DR1/FCJF0/SA1.WAV with .PHN .WRD .TXT beside it (upper- or lower-case names)"
NLTK_LAYOUT = ("NLTK sample: <root>/timit/dr1-fvmh0/sa1.wav with .phn .wrd .txt beside it and "
               "<root>/timit/spkrinfo.txt (or <root> = that timit/ folder)")

_DIALECT_DIR = re.compile(r"dr\d+", re.IGNORECASE)
_LDC_SPEAKER_DIR = re.compile(r"[fm]\w+", re.IGNORECASE)
_NLTK_SPEAKER_DIR = re.compile(r"(dr\d+)-([a-z]\w*)", re.IGNORECASE)
# SA1.WAV, si1027.wav; copies with an extra RIFF twin (SA1.WAV.wav) are skipped by the anchors.
_UTT_WAV = re.compile(r"([a-z]+\d+)\.wav", re.IGNORECASE)


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


class TimitCorpus(Corpus):
    """TIMIT (either layout); option ``exclude_sa`` drops the SA1/SA2 sentences every speaker reads."""

    kind = "timit"
    path_hint = "give the TIMIT root"
    layout = LDC_LAYOUT
    has_alignments = True

    def utterances(self) -> List[Utterance]:
        return read_corpus(self.require_dir(), exclude_sa=bool(self.options.get("exclude_sa")))

    def own_split(self, utts: List[Utterance]) -> Optional[Dict[str, List[Utterance]]]:
        """Kaldi's standard split (462 train, 50 dev, 24 core-test speakers) when the TEST subset is there."""
        if not any(u.subset == "test" for u in utts):
            return None
        from speechgen.data.timit_split import standard_split
        return standard_split(utts)


class TimitNltkCorpus(TimitCorpus):
    """The NLTK sample of TIMIT (all of it the train subset)."""

    kind = "timit-nltk"
    path_hint = "give the TIMIT root"
    layout = NLTK_LAYOUT

    def utterances(self) -> List[Utterance]:
        if detect_layout(self.require_dir()) != "nltk":
            raise DataError(f"--corpus-path {self.path}: a TIMIT tree in the LDC layout, not the NLTK sample; "
                            "pass --corpus timit")
        return super().utterances()
