"""lhotse manifests (``--corpus lhotse``): a folder with one ``*recordings*.jsonl[.gz]`` and one
``*supervisions*.jsonl[.gz]``, as ``lhotse prepare <corpus>`` writes them (lhotse's recipes cover TIMIT,
LibriSpeech and many more).

Each supervision is an utterance: its speaker, gender, text and ``phone`` alignment (times moved to the
utterance's start) are taken as they are; its audio is the recording's file or command, cut by a wav.scp
pipe when the supervision is a part of the recording. Mono recordings only.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from speechgen.corpora.alignments import PhoneMap, map_phones
from speechgen.corpora.base import Corpus, Utterance, gender_letter, speaker_prefixed
from speechgen.corpora.kaldi import cut_entry
from speechgen.errors import DataError

LAYOUT = "a folder of lhotse manifests: one *recordings*.jsonl[.gz] and one *supervisions*.jsonl[.gz]"


def _manifest(root: Path, kind: str) -> Path:
    """The one ``*<kind>*.jsonl[.gz]`` file of ``root``."""
    found = sorted(p for p in root.iterdir() if kind in p.name and p.name.endswith((".jsonl", ".jsonl.gz")))
    if len(found) != 1:
        raise DataError(f"--corpus-path {root}: {len(found)} *{kind}*.jsonl[.gz] files, expected one; {LAYOUT}")
    return found[0]


def recording_entry(recording) -> str:
    """The wav.scp entry of a lhotse recording: its file, or its command as a pipe."""
    if recording.num_channels != 1 or len(recording.sources) != 1:
        raise DataError(f"recording {recording.id}: {recording.num_channels} channels in {len(recording.sources)} "
                        "sources; speechgen reads mono recordings of one source: select a channel first")
    source = recording.sources[0]
    if source.type == "file":
        return str(Path(source.source).absolute())
    if source.type == "command":
        return f"{source.source} |"
    raise DataError(f"recording {recording.id}: audio source of type {source.type!r}; write it to a file first")


class LhotseCorpus(Corpus):
    """Option ``phone_map`` for alignment labels beyond TIMIT-61/ARPAbet."""

    kind = "lhotse"
    path_hint = "give the folder of the recordings and supervisions manifests"
    layout = LAYOUT

    def utterance(self, sup, recording, phone_map: PhoneMap) -> Utterance:
        """One supervision as an utterance."""
        entry = recording_entry(recording)
        if sup.start > 0 or sup.end < recording.duration - 1e-4:
            entry = cut_entry(entry, sup.start, sup.end)
        phones = None
        if sup.alignment and sup.alignment.get("phone"):
            items = [(a.start - sup.start, a.start - sup.start + a.duration, a.symbol) for a in sup.alignment["phone"]]
            phones = map_phones(items, phone_map, f"supervision {sup.id}")
        spk = sup.speaker or recording.id
        return Utterance(speaker_prefixed(sup.id, spk), spk, gender_letter(sup.gender or "", f"supervision {sup.id}"),
                         "train", entry, phones=phones, text=sup.text or "", duration=sup.duration)

    def utterances(self) -> List[Utterance]:
        try:
            from lhotse import load_manifest
        except ImportError:
            raise DataError("--corpus lhotse needs the lhotse package: pip install lhotse") from None
        root = self.require_dir()
        recordings = load_manifest(_manifest(root, "recordings"))
        phone_map = PhoneMap(self.options.get("phone_map"))
        utts = []
        for sup in load_manifest(_manifest(root, "supervisions")):
            if sup.recording_id not in recordings:
                raise DataError(f"supervision {sup.id}: recording {sup.recording_id} is not in the recordings manifest")
            utts.append(self.utterance(sup, recordings[sup.recording_id], phone_map))
        if not utts:
            raise DataError(f"--corpus-path {root}: the supervisions manifest is empty")
        return sorted(utts, key=lambda u: u.utt_id)
