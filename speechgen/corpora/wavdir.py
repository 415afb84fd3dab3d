"""A folder of audio files (``--corpus wavdir``): ``.wav``/``.flac`` at any depth.

The utterance is the file name without its suffix. Its speaker comes from ``utt2spk`` at the root
(``name speaker`` lines) when there is one, else from ``--speaker-pattern``: a regular expression
searched in the file's path relative to the root whose group ``spk`` (or first group) is the speaker;
by default the file's top folder under the root (``<root>/SPEAKER/.../name.wav``). ``spk2gender`` at the root (``speaker f|m``) gives genders.
An alignment may lie beside each file (:mod:`speechgen.corpora.alignments`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import soundfile as sf

from speechgen.corpora.alignments import PhoneMap, alignment_beside
from speechgen.corpora.base import Corpus, Utterance, gender_letter, speaker_prefixed
from speechgen.data.validate import read_table
from speechgen.errors import ConfigError, DataError

AUDIO_SUFFIXES = (".wav", ".flac")


def audio_files(root: Path) -> List[Path]:
    """Every ``.wav``/``.flac`` file under ``root`` (any depth, any case of the suffix), sorted."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def read_key_table(path: Path) -> Dict[str, str]:
    """A two-column table (``key value``) as a dict; empty when the file is not there."""
    return {row.key: row.fields[0] for row in read_table(path, 1, 1)} if path.is_file() else {}


def speaker_of(rel: Path, pattern: re.Pattern | None) -> str:
    """The speaker of a file at ``rel`` (relative to the root): the pattern's group, else its top folder."""
    if pattern is None:
        if len(rel.parts) < 2:
            raise DataError(f"{rel}: the file is at the corpus root, so its folder names no speaker; put each "
                            "speaker's files in a folder, give utt2spk at the root or --speaker-pattern")
        return rel.parts[0]
    match = pattern.search(rel.as_posix())
    if match is None:
        raise DataError(f"{rel}: --speaker-pattern {pattern.pattern!r} does not match this path; "
                        "fix the pattern (a group 'spk' picks the speaker)")
    return match.group("spk") if "spk" in pattern.groupindex else match.group(1 if pattern.groups else 0)


def compile_pattern(text: str | None) -> re.Pattern | None:
    """The ``--speaker-pattern`` regular expression, or None for the folder rule."""
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as err:
        raise ConfigError(f"--speaker-pattern {text!r}: not a regular expression ({err})") from None


class WavDirCorpus(Corpus):
    """Options: ``speaker_pattern`` (regex) and ``phone_map`` (a ``label timit61`` file)."""

    kind = "wavdir"
    path_hint = "give the folder of .wav/.flac files"
    layout = ("a folder of .wav/.flac files at any depth, one folder per speaker (or utt2spk at the root, or "
              "--speaker-pattern); optional <name>.PHN / <name>.TextGrid / <name>.ctm alignment beside each file")

    def read_file(self, audio: Path, spk: str, genders: Dict[str, str], phone_map: PhoneMap) -> Utterance:
        """One utterance of ``audio``."""
        try:
            info = sf.info(str(audio))
        except (RuntimeError, sf.LibsndfileError) as err:
            raise DataError(f"{audio}: cannot read the audio ({err}); re-copy it or remove it") from None
        gender = gender_letter(genders.get(spk, ""), str(self.path / "spk2gender"))
        return Utterance(speaker_prefixed(audio.stem, spk), spk, gender, "train", str(audio.absolute()),
                         phones=alignment_beside(audio, info.samplerate, phone_map),
                         duration=info.frames / info.samplerate)

    def utterances(self) -> List[Utterance]:
        root = self.require_dir()
        files = audio_files(root)
        if not files:
            raise DataError(f"--corpus-path {root}: no .wav or .flac files under it; expected {self.layout}")
        utt2spk = read_key_table(root / "utt2spk")
        genders = read_key_table(root / "spk2gender")
        pattern = compile_pattern(self.options.get("speaker_pattern"))
        phone_map = PhoneMap(self.options.get("phone_map"))
        utts = []
        for audio in files:
            rel = audio.relative_to(root)
            if utt2spk and audio.stem not in utt2spk:
                raise DataError(f"{root / 'utt2spk'}: no line for {audio.stem} ({rel}); add '{audio.stem} SPEAKER'")
            spk = utt2spk.get(audio.stem) or speaker_of(rel, pattern)
            utts.append(self.read_file(audio, spk, genders, phone_map))
        return sorted(utts, key=lambda u: u.utt_id)
