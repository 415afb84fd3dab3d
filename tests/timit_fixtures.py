"""Tiny TIMIT-like corpora for the tests, in the LDC layout (upper- or lower-case) and the NLTK layout.

Every (speaker, utterance) gets the same deterministic content in every layout, so readers of
different layouts can be compared utterance by utterance.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
UTT_NAMES = ("sa1", "sa2", "si1466", "si2096", "si836", "sx116", "sx206", "sx26", "sx296", "sx386")
# (LDC subset, dialect region, speaker): 3 female and 3 male, the test-subset ones sorting early.
SPEAKERS = (
    ("train", "dr1", "fvmh0"),
    ("train", "dr1", "mcpm0"),
    ("train", "dr2", "faem0"),
    ("train", "dr2", "marc0"),
    ("test", "dr1", "fbcg1"),
    ("test", "dr3", "mabc0"),
)
# Speech phones plus the labels the segmenter must skip (closures, pauses, epi, q).
PHONE_POOL = ("aa", "ae", "ax-h", "axr", "b", "bcl", "ch", "dx", "el", "em", "eng", "epi", "hv", "iy", "ix",
              "kcl", "k", "nx", "pau", "q", "s", "sh", "tcl", "t", "ux", "z", "zh")
WORDS = ("she", "had", "your", "dark", "suit", "in", "greasy", "wash", "water", "all", "year")


@dataclass
class FixtureUtterance:
    """What the corpus files of one utterance say, in samples."""

    num_samples: int
    phones: list[tuple[int, int, str]]
    words: list[tuple[int, int, str]]
    text: str


def utterance_content(spk: str, utt: str) -> FixtureUtterance:
    """Deterministic alignment and text of ``spk``'s ``utt``: h#, 6 to 12 phones, h#.

    The leading h# is short (25-75 ms) so the first segments must be shifted inside the audio.
    """
    rng = np.random.default_rng(zlib.crc32(f"{spk}/{utt}".encode()))
    phones = []
    t = int(rng.integers(400, 1200))
    phones.append((0, t, "h#"))
    for _ in range(int(rng.integers(6, 13))):
        length = int(rng.integers(480, 4800))
        phones.append((t, t + length, str(rng.choice(PHONE_POOL))))
        t += length
    tail = int(rng.integers(160, 800))
    phones.append((t, t + tail, "h#"))
    num_samples = t + tail
    body = phones[1:-1]
    words = []
    for i in range(0, len(body), 3):
        chunk = body[i:i + 3]
        words.append((chunk[0][0], chunk[-1][1], str(rng.choice(WORDS))))
    text = " ".join(w for _, _, w in words).capitalize() + "."
    return FixtureUtterance(num_samples, phones, words, text)


def _write_audio(path: Path, num_samples: int, fmt: str) -> None:
    """Quiet noise of ``num_samples`` as 16-bit NIST SPHERE (``fmt="NIST"``) or RIFF (``"WAV"``)."""
    rng = np.random.default_rng(zlib.crc32(str(path.name).encode()))
    x = (0.05 * rng.standard_normal(num_samples)).astype(np.float32)
    sf.write(str(path), x, SAMPLE_RATE, format=fmt, subtype="PCM_16")


def _write_utterance(spk_dir: Path, spk: str, utt: str, upper: bool, fmt: str) -> None:
    """Write the .WAV/.PHN/.WRD/.TXT files of one utterance."""
    content = utterance_content(spk, utt)

    def name(ext: str) -> Path:
        stem = f"{utt}.{ext}"
        return spk_dir / (stem.upper() if upper else stem)

    _write_audio(name("wav"), content.num_samples, fmt)
    name("phn").write_text("".join(f"{s} {e} {p}\n" for s, e, p in content.phones))
    name("wrd").write_text("".join(f"{s} {e} {w}\n" for s, e, w in content.words))
    name("txt").write_text(f"0 {content.num_samples} {content.text}\n")


def write_ldc_corpus(root: Path, upper: bool = True, fmt: str = "NIST", speakers=SPEAKERS,
                     utt_names=UTT_NAMES) -> Path:
    """``root/TRAIN/DR1/FVMH0/SA1.WAV`` ... (all lower-case with ``upper=False``); returns ``root``."""
    for subset, dialect, spk in speakers:
        parts = [subset, dialect, spk]
        spk_dir = root.joinpath(*(p.upper() if upper else p for p in parts))
        spk_dir.mkdir(parents=True, exist_ok=True)
        for utt in utt_names:
            _write_utterance(spk_dir, spk, utt, upper, fmt)
    return root


def write_nltk_corpus(root: Path, fmt: str = "WAV", speakers=SPEAKERS, utt_names=UTT_NAMES) -> Path:
    """``root/timit/dr1-fvmh0/sa1.wav`` ... plus ``root/timit/spkrinfo.txt``; returns ``root``."""
    timit = root / "timit"
    lines = ["; TIMIT speaker information (fixture)", ";ID  Sex DR Use  RecDate   BirthDate  Ht     Race Edu"]
    for subset, dialect, spk in speakers:
        spk_dir = timit / f"{dialect}-{spk}"
        spk_dir.mkdir(parents=True, exist_ok=True)
        for utt in utt_names:
            _write_utterance(spk_dir, spk, utt, upper=False, fmt=fmt)
        use = "TRN" if subset == "train" else "TST"
        lines.append(f"{spk[1:].upper()}  {spk[0].upper()}  {dialect[2:]}  {use}  03/03/86  06/17/60  5'11\"  WHT BS")
    (timit / "spkrinfo.txt").write_text("\n".join(lines) + "\n")
    return root
