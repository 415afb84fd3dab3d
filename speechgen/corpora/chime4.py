"""Clean speech of CHiME-4 (``--corpus chime4``).

CHiME-4 layout (the 16 kHz part of the LDC/CHiME distribution)::

    <root>/data/audio/16kHz/isolated_ext/<set>_<env>_simu/<SPK>_<UTT>_<ENV>.CH<c>.Clean.wav
        clean speech images of the simulated sets: set tr05|dt05|et05, env bus|caf|ped|str
    <root>/data/audio/16kHz/isolated/tr05_org/<SPK>_<UTT>_ORG.wav
        the original (WSJ0) clean utterances the training simulation was made from
    <root>/data/audio/16kHz/isolated/<set>_bth/<SPK>_<UTT>_BTH.CH0.wav
        booth (close-talk) recordings the dev/eval simulations were made from

``<root>`` may also be the ``data`` folder, the ``audio`` folder or the ``16kHz`` folder itself.
Sets are named ``tr05_simu``, ``dt05_simu``, ``et05_simu`` (the channel-``c`` clean images of the
four environments), ``tr05_org``, ``tr05_bth``, ``dt05_bth``, ``et05_bth``. Utterance ids are the file
names without channel and suffix (``F05_440C020I_PED``), speakers their first field.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import soundfile as sf

from speechgen.corpora.base import Corpus, Utterance
from speechgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ENVIRONMENTS = ("bus", "caf", "ped", "str")
SIMU_SETS = ("tr05_simu", "dt05_simu", "et05_simu")
ORIGINAL_SETS = ("tr05_org", "tr05_bth", "dt05_bth", "et05_bth")
KNOWN_SETS = SIMU_SETS + ORIGINAL_SETS
#: the utterances of the seed paper's demo page
DEMO_UTTERANCES = ("F05_440C020I_PED", "M05_443C020S_BUS")
LAYOUT = ("<root>/data/audio/16kHz/isolated_ext/<set>_<env>_simu/<SPK>_<UTT>_<ENV>.CH5.Clean.wav "
          "(simulated sets) and <root>/data/audio/16kHz/isolated/{tr05_org,<set>_bth}/*.wav (original clean)")


#: a CHiME-4 utterance is a plain corpus utterance (no alignment, no transcript)
CleanUtterance = Utterance


def audio_root(root: str | os.PathLike) -> Path:
    """The ``16kHz`` folder of a CHiME-4 tree given its root (or ``data``, ``audio``, ``16kHz``).

    Raises:
        DataError: for a missing path or a tree without the 16 kHz isolated audio.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--corpus-path {root}: no such directory ({Chime4Corpus.path_hint})")
    for candidate in (root / "data" / "audio" / "16kHz", root / "audio" / "16kHz", root / "16kHz", root):
        if (candidate / "isolated_ext").is_dir() or (candidate / "isolated").is_dir():
            return candidate
    raise DataError(f"{root}: not a CHiME-4 tree: found no data/audio/16kHz/isolated_ext or .../isolated "
                    f"folder. Expected {LAYOUT}")


def _gender_of(spk: str) -> str:
    """CHiME speakers are F0n/M0n; WSJ0 speaker ids carry no gender."""
    return {"F": "f", "M": "m"}.get(spk[:1].upper(), "") if re.fullmatch(r"[FM]\d\d", spk, re.I) else ""


_SIMU_NAME = re.compile(r"([^_]+)_([^_]+)_([A-Za-z]+)\.CH(\d)\.Clean\.wav")
_ORG_NAME = re.compile(r"([^_]+)_([^_]+)_(ORG|BTH)(?:\.CH(\d))?\.wav", re.I)


def _simu_utterances(audio: Path, subset: str, channel: int) -> List[CleanUtterance]:
    split = subset.split("_")[0]
    base = audio / "isolated_ext"
    dirs = [base / f"{split}_{env}_simu" for env in ENVIRONMENTS if (base / f"{split}_{env}_simu").is_dir()]
    if not dirs:
        raise DataError(f"{base}: no {split}_<env>_simu folders (env {', '.join(ENVIRONMENTS)}); the clean "
                        f"speech images of {subset} come with CHiME-4's isolated_ext audio. Expected {LAYOUT}")
    utts = []
    for folder in dirs:
        for path in sorted(folder.iterdir()):
            match = _SIMU_NAME.fullmatch(path.name)
            if match and int(match.group(4)) == channel:
                spk, code, env = match.group(1), match.group(2), match.group(3)
                utts.append(Utterance(f"{spk}_{code}_{env.upper()}", spk, _gender_of(spk), subset, str(path)))
    if not utts:
        raise DataError(f"{base}/{split}_*_simu: no *.CH{channel}.Clean.wav files; check the channel "
                        f"(--chime4-channel) and that the clean images were unpacked. Expected {LAYOUT}")
    return utts


def _original_utterances(audio: Path, subset: str) -> List[CleanUtterance]:
    folder = audio / "isolated" / subset
    if not folder.is_dir():
        raise DataError(f"{folder}: missing; the original clean utterances of {subset} are in "
                        f"data/audio/16kHz/isolated/{subset}. Drop {subset} from the sets or give a complete tree")
    utts = []
    for path in sorted(folder.iterdir()):
        match = _ORG_NAME.fullmatch(path.name)
        if match is None or (match.group(3).upper() == "BTH" and match.group(4) not in (None, "0")):
            continue  # booth sets also hold the tablet channels CH1..6; CH0 is the close-talk one
        spk, code, kind = match.group(1), match.group(2), match.group(3).upper()
        utts.append(Utterance(f"{spk}_{code}_{kind}", spk, _gender_of(spk), subset, str(path)))
    if not utts:
        raise DataError(f"{folder}: no <SPK>_<UTT>_ORG.wav / _BTH.CH0.wav files. Expected {LAYOUT}")
    return utts


def check_audio(utts: Iterable[CleanUtterance], sample_rate: int = SAMPLE_RATE) -> None:
    """Read every header: a corrupt file or one at another rate is a DataError naming it."""
    for utt in utts:
        try:
            info = sf.info(utt.wav)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise DataError(f"{utt.wav}: cannot read audio ({err}); the file is corrupt or not a wav — "
                            "re-copy it from the CHiME-4 distribution") from None
        if info.samplerate != sample_rate:
            raise DataError(f"{utt.wav}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz; use the "
                            "16 kHz CHiME-4 audio (data/audio/16kHz) or resample it")
        if info.channels != 1:
            raise DataError(f"{utt.wav}: {info.channels} channels, expected the mono isolated files")


def read_chime4(root: str | os.PathLike, sets: Sequence[str], channel: int = 5) -> List[CleanUtterance]:
    """The clean utterances of ``sets`` (see the module doc), sorted by id, headers checked."""
    unknown = [s for s in sets if s not in KNOWN_SETS]
    if unknown or not sets:
        raise ConfigError(f"CHiME-4 sets {list(sets)}: choose from {', '.join(KNOWN_SETS)}")
    audio = audio_root(root)
    utts: List[CleanUtterance] = []
    for subset in sets:
        utts += _simu_utterances(audio, subset, channel) if subset in SIMU_SETS else _original_utterances(audio, subset)
    seen: Dict[str, CleanUtterance] = {}
    for utt in utts:
        if utt.utt_id in seen:
            raise DataError(f"utterance {utt.utt_id} found twice ({seen[utt.utt_id].wav} and {utt.wav}); "
                            "give each set once")
        seen[utt.utt_id] = utt
    check_audio(utts)
    return sorted(utts, key=lambda u: u.utt_id)


class Chime4Corpus(Corpus):
    """CHiME-4's clean speech; options ``train_sets``, ``dev_sets``, ``test_sets`` (space-separated set
    names, the corpus's own split) and ``channel`` of the simulated clean images."""

    kind = "chime4"
    path_hint = "give the CHiME-4 root, which holds data/audio/16kHz"
    layout = LAYOUT

    def _sets(self) -> Dict[str, List[str]]:
        defaults = {"train": "tr05_simu", "dev": "dt05_simu", "test": "et05_simu"}
        return {name: str(self.options.get(f"{name}_sets") or default).split() for name, default in defaults.items()}

    def utterances(self) -> List[Utterance]:
        sets = [s for names in self._sets().values() for s in names]
        return read_chime4(self.path, sets, int(self.options.get("channel") or 5))

    def own_split(self, utts: List[Utterance]) -> Optional[Dict[str, List[Utterance]]]:
        """train/dev/test: the utterances of each split's CHiME-4 sets."""
        return {name: [u for u in utts if u.subset in sets] for name, sets in self._sets().items()}
