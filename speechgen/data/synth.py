"""The embedded synthetic corpus: a phone-aligned, multi-speaker English corpus in the TIMIT layout.

TIMIT is licensed, so every recipe can instead run on this corpus, generated offline with eSpeak NG
(through the ``espeakng-loader`` wheel, driven with ctypes). Each speaker is one eSpeak English accent
x voice variant x pitch/rate setting; each reads sentences from :data:`PROMPTS`, a phonetically rich
prompt list written for this project. The layout is TIMIT's::

    <root>/TRAIN/DR<k>/<F|M>SYN<j>/SX<n>.WAV   RIFF, 16 kHz, 16-bit, mono
                                   SX<n>.PHN   "start end phone" in samples, TIMIT-61 symbols
                                   SX<n>.WRD   "start end word"
                                   SX<n>.TXT   "0 <nsamples> <sentence>"
    <root>/DOC/PROMPTS.TXT, <root>/DOC/SPKRINFO.TXT, <root>/README.txt, <root>/.done

Phone labels come from eSpeak's phoneme events, mapped to TIMIT-61 through the one table
``resources/espeak_to_timit61.tsv``. Stops are written as closure + release: eSpeak emits the release
event of a voiceless stop after the closure silence, so that silence (the tail of the previous
segment) becomes ``<x>cl``; a voiced stop's segment starts with its low-energy voice bar, which
becomes ``<x>cl`` up to the burst.

eSpeak keeps state between utterances (e.g. the echo buffer, its random generator), so its output
is only repeatable in a fresh process with the same call order and random seed: every speaker is
synthesised in its own subprocess (``python -m speechgen.data.synth --worker``) with a seed of its
own, which makes the output independent of ``nj``.
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from speechgen.errors import ConfigError, DataError, SpeechgenError

# ----------------------------------------------------------------------------------------------
# Phone sets
# ----------------------------------------------------------------------------------------------

TIMIT61 = (
    "h#", "pau", "epi",
    "iy", "ih", "eh", "ae", "ix", "ax", "ax-h", "ah", "uw", "ux", "uh", "ao", "aa",
    "ey", "ay", "oy", "aw", "ow", "er", "axr",
    "l", "el", "r", "y", "w", "hh", "hv",
    "m", "em", "n", "en", "nx", "ng", "eng",
    "v", "f", "dh", "th", "z", "s", "zh", "sh", "jh", "ch",
    "b", "p", "d", "dx", "t", "g", "k", "q",
    "bcl", "pcl", "dcl", "tcl", "gcl", "kcl",
)

# The standard 61 -> 39 folding; q is dropped (None).
FOLD_61_TO_39 = {
    **{p: p for p in TIMIT61},
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l",
    "em": "m", "en": "n", "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    "h#": "sil", "pau": "sil", "epi": "sil",
    "bcl": "sil", "pcl": "sil", "dcl": "sil", "tcl": "sil", "gcl": "sil", "kcl": "sil",
    "q": None,
}
TIMIT39 = tuple(sorted({p for p in FOLD_61_TO_39.values() if p is not None}))

CLOSURES = ("bcl", "dcl", "gcl", "pcl", "tcl", "kcl")
VOICED_RELEASES = ("b", "d", "g", "jh")

# ----------------------------------------------------------------------------------------------
# Prompts (written for this project) and voices
# ----------------------------------------------------------------------------------------------

PROMPTS = (
    "A young fisherman mended his torn nets beside the harbor wall.",
    "Thick fog rolled over the village while the church bells rang.",
    "She measured the flour and sugar before baking the cherry pie.",
    "Our neighbor's boy enjoys building toy rockets in the garage.",
    "The judge asked each witness to speak clearly and truthfully.",
    "Seven purple pebbles were hidden under the wooden bridge.",
    "Father ordered hot soup, fresh bread, and a pot of strong coffee.",
    "The little puppy chewed my shoe and then hid behind the couch.",
    "Good books can take you far away without leaving your chair.",
    "Heavy rain flooded the valley roads for three whole days.",
    "Would you pass the butter and the pepper, please?",
    "The astronaut looked down at the shining blue planet below.",
    "Jewelry thieves usually avoid houses with noisy watchdogs.",
    "Their voyage through the frozen north lasted eight months.",
    "Mother put the leftover turkey in the freezer after dinner.",
    "A thousand tiny stars glittered above the sleeping town.",
    "The choir sang a joyful song at the autumn harvest festival.",
    "Kevin fixed the broken bicycle chain with a rusty wrench.",
    "Please fetch the ladder so we can paint the upper window.",
    "The treasure map showed a path through the thorny jungle.",
    "Our math teacher explained the puzzle with patience and humor.",
    "Young ducks paddled around the pond looking for breadcrumbs.",
    "Nobody noticed that the garden gate had been left open.",
    "The pilot steered the plane gently through the stormy clouds.",
    "I usually visit my aunt in the countryside each summer.",
    "Wet leather boots should dry slowly near a warm fire.",
    "The museum displays a huge whale skeleton in its main hall.",
    "Bright orange pumpkins were piled high at the farmer's market.",
    "Jack measured the distance between the two oak trees.",
    "A cold breeze whistled through the cracks in the old barn.",
    "Children laughed as the clown juggled six shiny apples.",
    "He thought the movie was thrilling, but she found it boring.",
    "The engineer checked every bolt on the new steel tower.",
    "Fresh cookies cooled on the kitchen table beside the window.",
    "We watched the sun sink behind the purple mountains.",
    "Zebras and giraffes gathered by the muddy water hole.",
    "The mayor thanked the volunteers for cleaning the beach.",
    "Loud thunder woke the baby in the middle of the night.",
    "Nothing could persuade the stubborn goat to leave the yard.",
    "Gray squirrels hoard acorns to survive the long winter.",
    "The tailor took careful measurements for the wedding suit.",
    "Both brothers joined the rowing team at their college.",
    "The lighthouse keeper counted the ships passing the cape.",
    "Anyone who loves music should learn to play the violin.",
    "Ripe tomatoes and fresh basil make a wonderful sauce.",
    "Dozens of pigeons flew up when the car horn sounded.",
    "The detective found a vital clue hidden in the envelope.",
    "My grandmother knitted a woolly hat for each grandchild.",
    "Hungry bears sometimes wander into campsites at night.",
    "The usual route was closed, so we took a longer detour.",
    "A bored cat pushed the glass vase off the shelf.",
    "The scientist poured the bubbling liquid into a tall jar.",
    "Sheep grazed quietly on the green hills behind the cottage.",
    "Please remember to water the plants while I am away.",
    "The athletes stretched their legs before the morning race.",
    "A gentle voice called out from the darkness of the cave.",
    "Tourists enjoy riding the old cable car up the hillside.",
    "The author signed copies of her latest novel at the shop.",
    "Which way should we go to reach the train station?",
    "Everybody cheered loudly when the final whistle blew.",
)

# Dialect region k (DR1..DR8) is read in eSpeak accent ACCENTS[k-1].
ACCENTS = (
    "en-us", "en-us-nyc", "en", "en-gb-x-rp",
    "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
)
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")

# eSpeak parameter ranges (pitch and range are 0..100 around the variant's own pitch, 50 = normal).
PITCH_RANGE = {"F": (55, 85), "M": (20, 50)}
INTONATION_RANGE = {"F": (55, 85), "M": (40, 70)}
RATE_WPM = (155, 195)
# Sentence rotation: speaker k (genders interleaved) reads n_sentences prompts from k * PROMPT_STEP on
# in the seeded prompt order. 7 is coprime with len(PROMPTS), so up to 60 speakers never read the
# same set, and below the default 12 sentences, so speakers k and k+1 share some.
PROMPT_STEP = 7

ESPEAK_RATE = 22050
SAMPLE_RATE = 16000
RESAMPLE_UP, RESAMPLE_DOWN = 320, 441  # 22050 * 320 / 441 = 16000
LEAD_SILENCE_S = (0.10, 0.20)  # h# padding, drawn per utterance
TRAIL_SILENCE_S = (0.10, 0.20)
# Deterministic background noise, so that silences have a finite log spectrum (about -84 dBFS).
NOISE_STD_LSB = 2.0

PHONE_MAP_TSV = Path(__file__).with_name("resources") / "espeak_to_timit61.tsv"
CORPUS_FORMAT = "speechgen-synth-timit v1"

# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class UnmappedPhonemeError(SpeechgenError, LookupError):
    """eSpeak emitted a phoneme mnemonic that the eSpeak -> TIMIT table does not list."""


class EspeakError(SpeechgenError, RuntimeError):
    """eSpeak NG is missing or failed."""


# ----------------------------------------------------------------------------------------------
# The eSpeak -> TIMIT-61 table
# ----------------------------------------------------------------------------------------------


def load_phone_map(path: str | os.PathLike | None = None) -> dict[tuple[str, str], tuple[str, ...]]:
    """Read the eSpeak -> TIMIT-61 table as ``{(accent, mnemonic): timit_phones}``.

    ``accent`` is ``"*"`` for the rows that apply to every voice. Raises DataError for a malformed
    row, a duplicate row or a symbol outside TIMIT-61.
    """
    path = Path(path) if path is not None else PHONE_MAP_TSV
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    header_seen = False
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if not header_seen:
            header_seen = True
            if cols[:3] != ["espeak", "accent", "timit"]:
                raise DataError(f"{path}:{lineno}: expected the header 'espeak accent timit note'")
            continue
        if len(cols) < 3:
            raise DataError(f"{path}:{lineno}: expected tab-separated 'espeak accent timit [note]'")
        mnemonic, accent, phones = cols[0], cols[1], tuple(cols[2].split())
        bad = [p for p in phones if p not in TIMIT61]
        if not phones or len(phones) > 2 or bad:
            raise DataError(f"{path}:{lineno}: '{cols[2]}' is not one or two TIMIT-61 symbols")
        if len(phones) == 2 and phones[0] in CLOSURES and phones[0] != phones[1] + "cl" and not (
            phones[1] in ("ch", "jh") and phones[0] in ("tcl", "dcl")
        ):
            raise DataError(f"{path}:{lineno}: closure {phones[0]} does not match release {phones[1]}")
        if (accent, mnemonic) in table:
            raise DataError(f"{path}:{lineno}: duplicate row for '{mnemonic}' ({accent})")
        table[(accent, mnemonic)] = phones
    return table


def strip_stress(mnemonic: str) -> str:
    """Drop eSpeak's stress marks (primary ', secondary ,, unstressed %, =) in front of a phoneme."""
    return mnemonic.lstrip("',%=")


def map_phoneme(mnemonic: str, accent: str, table: dict[tuple[str, str], tuple[str, ...]]) -> tuple[str, ...]:
    """TIMIT-61 phone(s) for an eSpeak mnemonic in ``accent``; an accent row overrides the ``*`` row."""
    key = strip_stress(mnemonic)
    phones = table.get((accent, key)) or table.get(("*", key))
    if phones is None:
        raise UnmappedPhonemeError(
            f"eSpeak phoneme '{key}' (voice {accent}) has no row in {PHONE_MAP_TSV.name}; add it with "
            "the TIMIT-61 phone it should become"
        )
    return phones


def fold_to_39(phone: str) -> str | None:
    """The 39-phone folding of a TIMIT-61 symbol (closures, pauses -> sil; q -> None)."""
    return FOLD_61_TO_39[phone]


# ----------------------------------------------------------------------------------------------
# eSpeak NG through ctypes
# ----------------------------------------------------------------------------------------------

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_PHONEME_EVENTS = 0x0001
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4
PHONEMES_SPACE_SEPARATED = ord(" ") << 8  # espeak_TextToPhonemes: mnemonics, ' ' between phonemes


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


def find_espeak() -> tuple[str, str | None]:
    """(shared library path, data path) of eSpeak NG: the espeakng-loader wheel, else a system lib."""
    try:
        import espeakng_loader
    except ImportError:
        system_lib = ctypes.util.find_library("espeak-ng")
        if system_lib is None:
            raise EspeakError(
                "eSpeak NG not found: install the wheel (`pip install espeakng-loader`, or "
                "`pip install -e .[synth]`), or the system library (`apt-get install libespeak-ng1`)"
            ) from None
        return system_lib, None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def espeak_version() -> str:
    """The eSpeak NG version string (e.g. '1.52.0'), without initialising synthesis."""
    lib = ctypes.CDLL(find_espeak()[0])
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    return lib.espeak_Info(None).decode()


@dataclass
class SynthResult:
    """One utterance from eSpeak: 22.05 kHz samples and its phoneme and word events in order."""

    samples: np.ndarray  # (T,) int16
    # ("phone", sample, mnemonic) or ("word", sample, text_position (1-based chars), length)
    events: list[tuple] = field(default_factory=list)
    # eSpeak's phoneme count of each whitespace token of the text said alone (see text_tokens)
    token_phone_counts: list[int] | None = None


class EspeakSynthesizer:
    """eSpeak NG in synchronous mode with phoneme events; one instance per process.

    ``rand_seed`` seeds eSpeak's own random generator (breathy voices add noise from it), which
    eSpeak otherwise seeds from the clock.
    """

    def __init__(self, rand_seed: int = 0):
        lib_path, data_path = find_espeak()
        self.lib = ctypes.CDLL(lib_path)
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                          data_path.encode() if data_path else None,
                                          ESPEAK_INITIALIZE_PHONEME_EVENTS)
        if rate != ESPEAK_RATE:
            raise EspeakError(f"espeak_Initialize returned {rate}, expected {ESPEAK_RATE} Hz "
                              f"(data path {data_path})")
        if not hasattr(self.lib, "espeak_ng_SetRandSeed"):
            raise EspeakError(f"{lib_path} has no espeak_ng_SetRandSeed; eSpeak NG >= 1.51 is needed "
                              "for repeatable output (`pip install espeakng-loader`)")
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.lib.espeak_ng_SetRandSeed(rand_seed)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple] = []
        self._callback = _SynthCallback(self._collect)  # kept alive: eSpeak holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n_samples, events) -> int:
        """eSpeak's synth callback: store the samples and the phoneme/word events."""
        if wav and n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                # The name fills all 8 bytes when it has no terminator, so read raw bytes.
                raw = ctypes.string_at(ctypes.addressof(event.id), 8).split(b"\0", 1)[0]
                self._events.append(("phone", event.sample, raw.decode("ascii", "replace")))
            elif event.type == EVENT_WORD:
                self._events.append(("word", event.sample, event.text_position, event.length))
            i += 1
        return 0

    def set_voice(self, name: str, pitch: int, pitch_range: int, rate: int) -> None:
        """Select a voice such as 'en-us+f3', then its pitch (0-100), pitch range (0-100) and rate (wpm)."""
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise EspeakError(f"eSpeak has no voice '{name}'")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range)):
            if self.lib.espeak_SetParameter(param, int(value), 0) != 0:
                raise EspeakError(f"espeak_SetParameter({param}, {value}) failed")

    def synthesize(self, text: str) -> SynthResult:
        """Speak ``text`` with the current voice."""
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        if err != 0:
            raise EspeakError(f"espeak_Synth failed ({err}) on: {text}")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return SynthResult(samples.astype(np.int16), self._events)

    def count_phonemes(self, word: str) -> int:
        """Number of phonemes eSpeak gives ``word`` said alone with the current voice."""
        text = ctypes.c_char_p(word.encode("utf-8"))
        count = 0
        while text.value:
            phonemes = self.lib.espeak_TextToPhonemes(ctypes.byref(text), ESPEAK_CHARS_UTF8,
                                                      PHONEMES_SPACE_SEPARATED)
            count += len((phonemes or b"").split())
        return count


# ----------------------------------------------------------------------------------------------
# Alignment: eSpeak events -> TIMIT-61 segments
# ----------------------------------------------------------------------------------------------

FRAME_HOP = 22  # 1 ms at 22.05 kHz
FRAME_LEN = 110  # 5 ms
SILENCE_REL = 0.03  # silence: frame rms below 3% of the utterance's loud (95th percentile) level
BURST_REL = 0.5  # a voiced stop's burst: first frame above half the segment's peak rms
MIN_CLOSURE = 110  # 5 ms: shorter closures are not labelled
MIN_RELEASE = 110  # 5 ms kept for a voiced stop's release
MIN_PHONE = 220  # 10 ms left to a phone that gives its tail to the next stop's closure
VOWEL_SPLIT = 0.65  # share of the first phone when one eSpeak vowel maps to two TIMIT phones
LATE_PHONE_MAX = 22  # an event spanning under 1 ms came late (see give_tails_to_late_phones)
LATE_PHONE_SHARE = 0.4  # share of the previous phone given to such a phone


@dataclass
class Segment:
    """A labelled span [start, end) in samples; ``word`` indexes the utterance's words (None: none)."""

    start: int
    end: int
    phone: str
    word: int | None = None
    closure: str | None = None  # closure symbol still to be placed before this release


def frame_rms(x: np.ndarray) -> np.ndarray:
    """RMS of FRAME_LEN windows every FRAME_HOP samples; frame f covers [f*HOP, f*HOP + LEN)."""
    x = x.astype(np.float64)
    if len(x) < FRAME_LEN:
        x = np.pad(x, (0, FRAME_LEN - len(x)))
    power = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, len(x) - FRAME_LEN + 1, FRAME_HOP)
    return np.sqrt((power[starts + FRAME_LEN] - power[starts]) / FRAME_LEN)


def trailing_silence_start(rms: np.ndarray, start: int, end: int, threshold: float) -> int:
    """First sample of the silent run that ends segment [start, end), or ``end`` if it ends loud."""
    first = -(-start // FRAME_HOP)
    last = min((end - FRAME_LEN) // FRAME_HOP, len(rms) - 1)
    for f in range(last, first - 1, -1):
        if rms[f] >= threshold:
            return min(end, f * FRAME_HOP + FRAME_LEN)
    return start


def burst_onset(rms: np.ndarray, start: int, end: int) -> int:
    """Sample where a voiced stop's release begins: the first frame above BURST_REL of its peak."""
    first = -(-start // FRAME_HOP)
    last = min((end - FRAME_LEN) // FRAME_HOP, len(rms) - 1)
    if last < first:
        return start
    frames = rms[first:last + 1]
    above = np.nonzero(frames >= BURST_REL * frames.max())[0]
    return (first + int(above[0])) * FRAME_HOP if len(above) else start


def text_tokens(text: str) -> list[tuple[int, str]]:
    """Whitespace tokens of ``text`` as (1-based character position, word without edge punctuation)."""
    tokens, at = [], 0
    for raw in text.split():
        at = text.index(raw, at)
        tokens.append((at + 1, raw.strip(".,;:!?\"()").lower()))
        at += len(raw)
    return tokens


def tokens_of_word_events(positions: list[int], tokens: list[tuple[int, str]]) -> list[list[int]]:
    """For each eSpeak word event (by text position), the indices of the text tokens it speaks.

    eSpeak joins some unstressed words into the word before ("in the", "had been"), so one event
    can cover several tokens; an event inside a token (a word eSpeak splits) maps to that token.
    """
    groups = []
    for k, position in enumerate(positions):
        following = positions[k + 1] if k + 1 < len(positions) else float("inf")
        covered = [i for i, (start, _) in enumerate(tokens) if position <= start < following]
        if not covered:
            covered = [max([i for i, (start, _) in enumerate(tokens) if start <= position], default=0)]
        groups.append(covered)
    return groups


def split_group_phones(n_phones: int, token_counts: list[int]) -> list[int]:
    """How many of a joined word event's phones each of its tokens gets (the last takes the rest)."""
    shares = [max(1, c) for c in token_counts[:-1]]
    if sum(shares) < n_phones:
        return shares + [n_phones - sum(shares)]
    # the counts said alone do not fit: share as evenly as possible, earlier tokens first
    base, extra = divmod(n_phones, len(token_counts))
    return [base + (i < extra) for i in range(len(token_counts))]


def assign_words(spans: list[list], groups: list[list[int]], token_counts: list[int] | None) -> None:
    """Turn each span's word-event index into a token index (in place), splitting joined events."""
    for event_index, token_indices in enumerate(groups):
        members = [span for span in spans if span[3] == event_index]
        if len(token_indices) == 1:
            for span in members:
                span[4] = token_indices[0]
            continue
        counts = [token_counts[i] for i in token_indices] if token_counts else [1] * len(token_indices)
        position = 0
        for token_index, share in zip(token_indices, split_group_phones(len(members), counts)):
            for span in members[position:position + share]:
                span[4] = token_index
            position += share


def events_to_segments(result: SynthResult, text: str, accent: str, table) -> tuple[list[Segment], list[str]]:
    """Phoneme events -> mapped segments (22.05 kHz) and the text's words.

    A phone belongs to the latest word event before it (pauses to none), and through it to a word
    of the text; ``Segment.word`` indexes the returned words.
    """
    spans: list[list] = []  # [start, end, timit phones, word event index, token index]
    positions: list[int] = []
    for event in result.events:
        if event[0] == "word":
            positions.append(event[2])
            continue
        mapped = map_phoneme(event[2], accent, table)
        in_word = mapped != ("pau",) and bool(positions)
        spans.append([event[1], None, mapped, len(positions) - 1 if in_word else None, None])
    n = len(result.samples)
    for i, span in enumerate(spans):
        span[0] = min(max(span[0], spans[i - 1][1] if i else 0), n)
        span[1] = min(max(spans[i + 1][0] if i + 1 < len(spans) else n, span[0]), n)
    give_tails_to_late_phones(spans)
    tokens = text_tokens(text)
    assign_words(spans, tokens_of_word_events(positions, tokens), result.token_phone_counts)

    segments: list[Segment] = []
    for i, (start, end, mapped, _, word) in enumerate(spans):
        if len(mapped) == 1:
            segments.append(Segment(start, end, mapped[0], word))
        elif mapped[0] in CLOSURES:
            segments.append(Segment(start, end, mapped[1], word, closure=mapped[0]))
        elif i + 1 < len(spans) and spans[i + 1][2][0] == mapped[1]:
            # "ao r" followed by eSpeak's own r ("boring"): the r is labelled once, on the r event
            segments.append(Segment(start, end, mapped[0], word))
        else:
            cut = start + int(round(VOWEL_SPLIT * (end - start)))
            segments += [Segment(start, cut, mapped[0], word), Segment(cut, end, mapped[1], word)]
    return segments, [word for _, word in tokens]


def give_tails_to_late_phones(spans: list[list]) -> None:
    """Give a phone whose event came with no samples the tail of the phone before it (in place).

    eSpeak renders a post-vocalic liquid with its vowel ("wall", Scots "torn") and reports the
    liquid's event only at the end of both, so the liquid would get no samples.
    """
    for prev, span in zip(spans, spans[1:]):
        if span[1] - span[0] >= LATE_PHONE_MAX or span[2] == ("pau",) or prev[2] == ("pau",):
            continue
        if prev[1] - prev[0] < 2 * LATE_PHONE_MAX:
            continue
        cut = prev[0] + int(round((1.0 - LATE_PHONE_SHARE) * (prev[1] - prev[0])))
        prev[1] = span[0] = cut


def place_closures(segments: list[Segment], samples: np.ndarray) -> list[Segment]:
    """Insert ``<x>cl`` before each stop release from the signal (see the module docstring)."""
    rms = frame_rms(samples)
    loud = float(np.percentile(rms, 95)) if len(rms) else 0.0
    threshold = SILENCE_REL * loud
    out: list[Segment] = []
    for seg in segments:
        if seg.closure is None:
            out.append(seg)
            continue
        prev = out[-1] if out else None
        closure_start = seg.start
        if prev is not None and prev.phone != "pau" and prev.end - prev.start > MIN_PHONE:
            silent_from = trailing_silence_start(rms, prev.start, prev.end, threshold)
            closure_start = max(silent_from, prev.start + MIN_PHONE)
        release_start = seg.start
        if seg.phone in VOICED_RELEASES:
            release_start = burst_onset(rms, seg.start, seg.end)
            release_start = min(release_start, max(seg.start, seg.end - MIN_RELEASE))
        if release_start - closure_start >= MIN_CLOSURE:
            if prev is not None and closure_start < seg.start:
                prev.end = closure_start
            out.append(Segment(closure_start, release_start, seg.closure, seg.word))
            out.append(Segment(release_start, seg.end, seg.phone, seg.word))
        else:
            out.append(Segment(seg.start, seg.end, seg.phone, seg.word))
    return out


def tidy_segments(segments: list[Segment], n_samples: int) -> list[Segment]:
    """Drop empty segments, merge pause runs, and make silence at either end h# out to 0 and n_samples."""
    out: list[Segment] = []
    for seg in segments:
        if seg.end <= seg.start:
            continue
        if out and seg.phone == "pau" and out[-1].phone == "pau":
            out[-1].end = seg.end
            continue
        out.append(seg)
    if not out:
        raise EspeakError("eSpeak produced no phones for an utterance")
    if out[0].phone == "pau":
        out[0].phone, out[0].start = "h#", 0
    elif out[0].start > 0:
        out.insert(0, Segment(0, out[0].start, "h#"))
    if out[-1].phone == "pau":
        out[-1].phone, out[-1].end = "h#", n_samples
    elif out[-1].end < n_samples:
        out.append(Segment(out[-1].end, n_samples, "h#"))
    return out


def align(result: SynthResult, text: str, accent: str, table) -> tuple[list[Segment], list[str]]:
    """TIMIT-61 segments on eSpeak's 22.05 kHz grid (closures placed), and the text's words."""
    segments, words = events_to_segments(result, text, accent, table)
    return place_closures(segments, result.samples), words


# ----------------------------------------------------------------------------------------------
# Rendering one utterance at 16 kHz
# ----------------------------------------------------------------------------------------------


@dataclass
class Utterance:
    """A rendered utterance: 16 kHz int16 samples, phone segments and (start, end, word) spans."""

    samples: np.ndarray
    phones: list[Segment]
    words: list[tuple[int, int, str]]
    text: str


def to_16k_boundary(sample: int) -> int:
    """A 22.05 kHz sample index on the 16 kHz grid."""
    return int(round(sample * RESAMPLE_UP / RESAMPLE_DOWN))


def render_utterance(result: SynthResult, text: str, accent: str, table, rng: np.random.Generator) -> Utterance:
    """Align, resample to 16 kHz, pad with h# silence and add the noise floor."""
    from scipy.signal import resample_poly

    segments, words = align(result, text, accent, table)
    speech = resample_poly(result.samples.astype(np.float64), RESAMPLE_UP, RESAMPLE_DOWN)
    lead = int(round(rng.uniform(*LEAD_SILENCE_S) * SAMPLE_RATE))
    trail = int(round(rng.uniform(*TRAIL_SILENCE_S) * SAMPLE_RATE))
    n = lead + len(speech) + trail
    signal = np.zeros(n)
    signal[lead:lead + len(speech)] = speech
    signal += rng.normal(0.0, NOISE_STD_LSB, n)
    samples = np.clip(np.round(signal), -32768, 32767).astype(np.int16)

    on_16k = [Segment(lead + to_16k_boundary(seg.start), lead + to_16k_boundary(seg.end), seg.phone, seg.word)
              for seg in segments]
    phones = tidy_segments(on_16k, n)
    word_spans = []
    for index, word in enumerate(words):
        spans = [(seg.start, seg.end) for seg in phones if seg.word == index]
        if spans and word:
            word_spans.append((spans[0][0], spans[-1][1], word))
    return Utterance(samples, phones, word_spans, text)


def check_phones(phones: list[Segment], n_samples: int) -> None:
    """Raise EspeakError unless the phones are TIMIT-61, non-empty and tile [0, n_samples)."""
    if not phones or phones[0].start != 0 or phones[-1].end != n_samples:
        raise EspeakError(f"phones do not cover the utterance [0, {n_samples})")
    for prev, seg in zip([None] + phones[:-1], phones):
        if seg.phone not in TIMIT61 or seg.end <= seg.start or (prev is not None and prev.end != seg.start):
            raise EspeakError(f"bad phone segment {seg}")


def write_utterance(speaker_dir: Path, utt_id: str, utt: Utterance) -> None:
    """Write <utt_id>.WAV/.PHN/.WRD/.TXT in TIMIT format."""
    check_phones(utt.phones, len(utt.samples))
    with wave.open(str(speaker_dir / f"{utt_id}.WAV"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(utt.samples.astype("<i2").tobytes())
    (speaker_dir / f"{utt_id}.PHN").write_text("".join(f"{s.start} {s.end} {s.phone}\n" for s in utt.phones))
    (speaker_dir / f"{utt_id}.WRD").write_text("".join(f"{a} {b} {w}\n" for a, b, w in utt.words))
    (speaker_dir / f"{utt_id}.TXT").write_text(f"0 {len(utt.samples)} {utt.text}\n")


# ----------------------------------------------------------------------------------------------
# Speakers
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerSpec:
    """One synthetic speaker: who it is, which eSpeak voice speaks, and which prompts it reads."""

    speaker_id: str  # e.g. FSYN0
    gender: str  # F or M
    index: int  # j within its gender
    dialect: str  # DR1..DR8
    accent: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int
    prompt_ids: tuple[int, ...]  # 0-based indices into PROMPTS
    rand_seed: int  # eSpeak's random generator (breath noise)

    @property
    def voice(self) -> str:
        """eSpeak voice name, e.g. 'en-us+f3'."""
        return f"{self.accent}+{self.variant}"


def utterance_id(prompt_id: int) -> str:
    """TIMIT-style id of a prompt: SX1 .. SX60 (the number names the sentence, as in TIMIT)."""
    return f"SX{prompt_id + 1}"


def prompt_order(seed: int) -> list[int]:
    """The seeded order in which speakers rotate through the prompts."""
    return [int(i) for i in np.random.default_rng([seed, 7919]).permutation(len(PROMPTS))]


def speaker_specs(n_female: int = 20, n_male: int = 20, n_sentences: int = 12, seed: int = 0) -> list[SpeakerSpec]:
    """The corpus's speakers in generation order (females then males).

    Speaker j of a gender lives in DR(j mod 8 + 1) and speaks that region's accent; its variant
    cycles so that (accent, variant) pairs are distinct while they last, and pitch, pitch range and
    rate are drawn from a generator seeded by (seed, gender, j) - a speaker does not change when the
    corpus gets more speakers.
    """
    if n_female < 0 or n_male < 0 or n_female + n_male == 0:
        raise ConfigError(f"need at least one speaker (n_female={n_female}, n_male={n_male})")
    if not 1 <= n_sentences <= len(PROMPTS):
        raise ConfigError(f"n_sentences must be in 1..{len(PROMPTS)}, got {n_sentences}")
    order = prompt_order(seed)
    specs = []
    for gender, count, variants in (("F", n_female, FEMALE_VARIANTS), ("M", n_male, MALE_VARIANTS)):
        for j in range(count):
            region = j % len(ACCENTS)
            rng = np.random.default_rng([seed, ord(gender), j])
            k = 2 * j + (gender == "M")  # interleave genders in the prompt rotation
            first = k * PROMPT_STEP
            specs.append(SpeakerSpec(
                speaker_id=f"{gender}SYN{j}",
                gender=gender,
                index=j,
                dialect=f"DR{region + 1}",
                accent=ACCENTS[region],
                variant=variants[(j // len(ACCENTS) + region) % len(variants)],
                pitch=int(rng.integers(PITCH_RANGE[gender][0], PITCH_RANGE[gender][1] + 1)),
                pitch_range=int(rng.integers(INTONATION_RANGE[gender][0], INTONATION_RANGE[gender][1] + 1)),
                rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
                prompt_ids=tuple(sorted(order[(first + i) % len(PROMPTS)] for i in range(n_sentences))),
                rand_seed=int(rng.integers(0, 2**31 - 1)),
            ))
    voices = [(s.voice, s.pitch, s.pitch_range, s.rate) for s in specs]
    if len(set(voices)) != len(voices):
        raise ConfigError(f"seed {seed} gives two speakers the same voice; use another seed")
    return specs


def synthesize_speaker(spec: SpeakerSpec) -> list[SynthResult]:
    """eSpeak output for each of the speaker's prompts, in order.

    eSpeak carries state from one utterance to the next, so the result is repeatable only in a
    fresh process; :func:`generate_corpus` runs this in ``python -m speechgen.data.synth --worker``.
    """
    synth = EspeakSynthesizer(spec.rand_seed)
    synth.set_voice(spec.voice, spec.pitch, spec.pitch_range, spec.rate)
    results = [synth.synthesize(PROMPTS[prompt_id]) for prompt_id in spec.prompt_ids]
    for prompt_id, result in zip(spec.prompt_ids, results):
        result.token_phone_counts = [synth.count_phonemes(word) for _, word in text_tokens(PROMPTS[prompt_id])]
    return results


def write_speaker(spec: SpeakerSpec, results: list[SynthResult], speaker_dir: str | os.PathLike, seed: int,
                  table=None) -> None:
    """Render (align, resample, pad) and write the speaker's utterances into ``speaker_dir``."""
    table = table if table is not None else load_phone_map()
    speaker_dir = Path(speaker_dir)
    speaker_dir.mkdir(parents=True, exist_ok=True)
    for prompt_id, result in zip(spec.prompt_ids, results):
        rng = np.random.default_rng([seed, ord(spec.gender), spec.index, prompt_id])
        utt = render_utterance(result, PROMPTS[prompt_id], spec.accent, table, rng)
        write_utterance(speaker_dir, utterance_id(prompt_id), utt)


# ----------------------------------------------------------------------------------------------
# The corpus
# ----------------------------------------------------------------------------------------------


def corpus_options(n_female: int, n_male: int, n_sentences: int, seed: int) -> dict:
    """The options that determine the corpus's content (nj does not)."""
    return {"format": CORPUS_FORMAT, "n_female": n_female, "n_male": n_male,
            "n_sentences": n_sentences, "seed": seed}


def _synthesize_in_subprocess(spec: SpeakerSpec) -> list[SynthResult]:
    """Run :func:`synthesize_speaker` in a fresh ``python -m speechgen.data.synth --worker`` process."""
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", "speechgen.data.synth", "--worker"],
                          input=json.dumps(asdict(spec)).encode(), capture_output=True, env=env)
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()[-3000:]
        raise EspeakError(f"synthesis of speaker {spec.speaker_id} failed (exit {proc.returncode}):\n{stderr}")
    return [SynthResult(np.frombuffer(base64.b64decode(u["samples"]), dtype="<i2").astype(np.int16),
                        [tuple(e) for e in u["events"]], u["token_phone_counts"])
            for u in json.loads(proc.stdout)]


def _make_speaker(spec: SpeakerSpec, speaker_dir: Path, seed: int, table) -> None:
    """Synthesise one speaker in a subprocess and write its files."""
    write_speaker(spec, _synthesize_in_subprocess(spec), speaker_dir, seed, table)


def _readme(options: dict, specs: list[SpeakerSpec]) -> str:
    """README.txt of a generated corpus."""
    n_utts = sum(len(s.prompt_ids) for s in specs)
    return (
        "speechgen synthetic corpus (TIMIT layout)\n"
        "=========================================\n\n"
        "SYNTHETIC SPEECH, not TIMIT: generated offline with eSpeak NG "
        f"{espeak_version()} by speechgen.data.synth\n"
        f"(speechgen-make-synth), for running the recipes without the licensed TIMIT corpus.\n\n"
        f"Options: n_female={options['n_female']} n_male={options['n_male']} "
        f"n_sentences={options['n_sentences']} seed={options['seed']}\n"
        f"Speakers: {len(specs)}; utterances: {n_utts}; format: {CORPUS_FORMAT}\n\n"
        "Layout: TRAIN/DR<k>/<F|M>SYN<j>/SX<n>.{WAV,PHN,WRD,TXT}; WAV is RIFF 16 kHz 16-bit mono,\n"
        "resampled from eSpeak's 22050 Hz. SX<n> is sentence n of DOC/PROMPTS.TXT. DR<k> is an eSpeak\n"
        f"accent ({', '.join(f'DR{i + 1}={a}' for i, a in enumerate(ACCENTS))});\n"
        "DOC/SPKRINFO.TXT lists each speaker's voice.\n\n"
        "PHN: 'start end phone' in 16 kHz samples, TIMIT-61 symbols, contiguous from 0 to the last\n"
        "sample, h# at both ends. Phones are eSpeak's phoneme events mapped through\n"
        "speechgen/data/resources/espeak_to_timit61.tsv; stop closures (<x>cl) are located in the\n"
        "signal. WRD: 'start end word' spanning the word's phones. Silences carry a seeded noise floor\n"
        "of about -84 dBFS. The same options always give byte-identical files.\n"
    )


def _spkrinfo(specs: list[SpeakerSpec]) -> str:
    """DOC/SPKRINFO.TXT: one line per speaker."""
    lines = ["; ID     SEX DR  USE  VOICE                 PITCH RANGE RATE\n"]
    for s in specs:
        lines.append(f"{s.speaker_id:<8} {s.gender}   {s.dialect[2:]}   TRN  {s.voice:<21} "
                     f"{s.pitch:>5} {s.pitch_range:>5} {s.rate:>4}\n")
    return "".join(lines)


def _prompts_doc() -> str:
    """DOC/PROMPTS.TXT: the prompt list with TIMIT-style ids."""
    lines = ["; speechgen synthetic corpus prompts, written for this project\n"]
    lines += [f"{text} ({utterance_id(i).lower()})\n" for i, text in enumerate(PROMPTS)]
    return "".join(lines)


def _recorded_options(root: Path) -> dict | None:
    """The options in ``root/.done``, or None when there is no readable marker."""
    try:
        return json.loads((root / ".done").read_text())
    except (OSError, ValueError):
        return None


def generate_corpus(root: str | os.PathLike, n_female: int = 20, n_male: int = 20, n_sentences: int = 12,
                    seed: int = 0, nj: int = 2, overwrite: bool = False) -> Path:
    """Generate the synthetic corpus under ``root`` (TIMIT layout); return ``root``.

    The corpus is built in a temporary sibling directory and renamed to ``root`` when complete,
    with ``root/.done`` recording the options. If ``root`` already holds a complete corpus with the
    same options it is kept as is; a different or incomplete one raises DataError unless
    ``overwrite``. ``nj`` worker processes run in parallel; the output does not depend on it.
    """
    root = Path(root)
    if nj < 1:
        raise ConfigError(f"nj must be >= 1, got {nj}")
    options = corpus_options(n_female, n_male, n_sentences, seed)
    specs = speaker_specs(n_female, n_male, n_sentences, seed)
    if root.exists():
        if _recorded_options(root) == options:
            return root
        if not overwrite and (not root.is_dir() or any(root.iterdir())):
            raise DataError(f"{root} exists and is not a synthetic corpus made with these options "
                            "(or is incomplete); remove it, pick another directory, or pass --overwrite")
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        table = load_phone_map()
        speaker_dirs = [tmp / "TRAIN" / s.dialect / s.speaker_id for s in specs]
        with ThreadPoolExecutor(max_workers=nj) as pool:
            futures = [pool.submit(_make_speaker, s, d, seed, table) for s, d in zip(specs, speaker_dirs)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
        (tmp / "DOC").mkdir()
        (tmp / "DOC" / "PROMPTS.TXT").write_text(_prompts_doc())
        (tmp / "DOC" / "SPKRINFO.TXT").write_text(_spkrinfo(specs))
        (tmp / "README.txt").write_text(_readme(options, specs))
        (tmp / ".done").write_text(json.dumps(options, sort_keys=True) + "\n")
        if root.exists():
            shutil.rmtree(root) if root.is_dir() else root.unlink()
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _worker_main(argv: list[str] | None = None) -> int:
    """``python -m speechgen.data.synth --worker``: one SpeakerSpec (JSON) on stdin, its eSpeak output
    (JSON list of {samples: base64 little-endian int16, events}) on stdout."""
    parser = argparse.ArgumentParser(description="internal: synthesise one speaker of the synthetic corpus")
    parser.add_argument("--worker", action="store_true", required=True,
                        help="read a SpeakerSpec as JSON on stdin, write its eSpeak output as JSON on stdout")
    parser.parse_args(argv)
    fields = json.loads(sys.stdin.read())
    fields["prompt_ids"] = tuple(fields["prompt_ids"])
    # stdout carries the result; anything the C library prints goes to stderr instead
    result_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    results = synthesize_speaker(SpeakerSpec(**fields))
    with result_stream:
        json.dump([{"samples": base64.b64encode(r.samples.astype("<i2").tobytes()).decode(),
                    "events": r.events, "token_phone_counts": r.token_phone_counts} for r in results],
                  result_stream)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
