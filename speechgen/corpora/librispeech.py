"""LibriSpeech (``--corpus librispeech``): ``<root>/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac``, or the
flattened ``<root>/SPEAKER/*.flac``, with ``SPEAKER-CHAPTER.trans.txt`` transcripts beside the audio and
``SPEAKERS.TXT`` (``ID | SEX | SUBSET | MINUTES | NAME``) at the root or above it (the LibriSpeech folder
holding the subsets). Utterance ids are the file names, which start with their speaker.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List

import soundfile as sf

from speechgen.corpora.alignments import PhoneMap, alignment_beside
from speechgen.corpora.base import Corpus, Utterance, gender_letter
from speechgen.errors import DataError

log = logging.getLogger(__name__)

LAYOUT = ("<root>/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac (or <root>/SPEAKER/*.flac) with "
          "SPEAKER-CHAPTER.trans.txt beside them and SPEAKERS.TXT at the root or above it")


def read_speakers_txt(path: Path) -> Dict[str, str]:
    """``{speaker: f|m}`` from a SPEAKERS.TXT (``;`` starts a comment, fields separated by ``|``)."""
    sexes = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 2:
            raise DataError(f"{path}:{lineno}: expected 'ID | SEX | SUBSET | MINUTES | NAME', got {line!r}")
        sexes[fields[0]] = gender_letter(fields[1], f"{path}:{lineno}")
    return sexes


def find_speakers_txt(root: Path) -> Path | None:
    """SPEAKERS.TXT in ``root`` or the two folders above it."""
    for folder in (root, *list(root.resolve().parents)[:2]):
        if (folder / "SPEAKERS.TXT").is_file():
            return folder / "SPEAKERS.TXT"
    return None


def read_transcripts(folder: Path) -> Dict[str, str]:
    """``{utt: text}`` of every ``*.trans.txt`` in ``folder``."""
    texts = {}
    for path in sorted(folder.glob("*.trans.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            if utt:
                texts[utt] = text.strip()
    return texts


class LibriSpeechCorpus(Corpus):
    """Option ``phone_map`` for alignments (``.TextGrid``/``.ctm``) beside the audio."""

    kind = "librispeech"
    path_hint = "give the folder holding the SPEAKER folders"
    layout = LAYOUT

    def speaker_utterances(self, spk_dir: Path, sexes: Dict[str, str], phone_map: PhoneMap) -> List[Utterance]:
        """The utterances of one speaker folder (its chapters, or its files when flattened)."""
        spk = spk_dir.name
        utts = []
        for folder in [spk_dir, *sorted(d for d in spk_dir.iterdir() if d.is_dir())]:
            texts = read_transcripts(folder)
            for audio in sorted(folder.glob("*.flac")):
                if not audio.stem.startswith(f"{spk}-"):
                    raise DataError(f"{audio}: a LibriSpeech file name starts with its speaker ({spk}-CHAPTER-NNNN)")
                info = sf.info(str(audio))
                utts.append(Utterance(audio.stem, spk, sexes.get(spk, ""), "train", str(audio.absolute()),
                                      phones=alignment_beside(audio, info.samplerate, phone_map),
                                      text=texts.get(audio.stem, ""), duration=info.frames / info.samplerate))
        return utts

    def utterances(self) -> List[Utterance]:
        root = self.require_dir()
        speakers_txt = find_speakers_txt(root)
        sexes = read_speakers_txt(speakers_txt) if speakers_txt else {}
        if speakers_txt is None:
            log.warning("%s: no SPEAKERS.TXT here or above; the speakers' sexes are unknown", root)
        phone_map = PhoneMap(self.options.get("phone_map"))
        utts = []
        for spk_dir in sorted(d for d in root.iterdir() if d.is_dir() and d.name.isdigit()):
            utts += self.speaker_utterances(spk_dir, sexes, phone_map)
        if not utts:
            raise DataError(f"--corpus-path {root}: no LibriSpeech speaker folders with .flac files; expected {LAYOUT}")
        return sorted(utts, key=lambda u: u.utt_id)
