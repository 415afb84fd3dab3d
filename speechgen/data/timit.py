"""The f-DNF setup on any phone-aligned corpus (TIMIT by default).

Picks the f-DNF speakers, splits each speaker's utterances into train/dev/test, and cuts one
fixed-length segment per phone occurrence. The corpus readers live in :mod:`speechgen.corpora`
(TIMIT's in :mod:`speechgen.corpora.timit`, re-exported here), the data dir writer in
:mod:`speechgen.corpora.writer`.

Times in files are seconds with 4 decimals. Segment times are computed on that 0.1 ms grid so
that every segment lasts exactly ``seg_dur`` and never ends past its utterance.
"""
from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from speechgen.corpora.base import Utterance
from speechgen.corpora.timit import (  # noqa: F401  (the TIMIT reader, re-exported)
    LDC_LAYOUT, NLTK_LAYOUT, SUBSETS, TIMIT_SAMPLE_RATE, detect_layout, read_corpus, read_phn, read_txt, read_wrd)
from speechgen.corpora.writer import (  # noqa: F401  (the data dir writer, re-exported)
    PHONE_SEGMENTS, read_data_dir, segment_tables, write_data_dir, write_dir_atomically)
from speechgen.data.audio import audio_duration
from speechgen.data.phones import FDNF_PHONES, map_phone
from speechgen.data.validate import validate_data_dir
from speechgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")

_TICKS_PER_S = 10000  # the 4-decimal grid of every time written


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


def _format_time(ticks: int) -> str:
    """``12345`` ticks of 0.1 ms -> ``"1.2345"`` (exact, no float rounding)."""
    return f"{ticks // _TICKS_PER_S}.{ticks % _TICKS_PER_S:04d}"


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
    duration = utt.duration if utt.duration is not None else audio_duration(utt.wav)
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
    write_dir_atomically(Path(lang_dir), files)


def prepare_fdnf(corpus_root: str | os.PathLike, data_dir: str | os.PathLike, n_female: int = 20,
                 n_male: int = 20, ratios: Sequence[float] = (8, 1, 1), seg_dur: float = 0.2,
                 seed: int = 0) -> dict[str, dict[str, int]]:
    """Prepare the f-DNF data of a TIMIT-layout corpus (see :func:`write_fdnf_dirs`)."""
    return write_fdnf_dirs(read_corpus(corpus_root), data_dir, n_female, n_male, ratios, seg_dur, seed)


def write_fdnf_dirs(utts: Sequence[Utterance], data_dir: str | os.PathLike, n_female: int = 20,
                    n_male: int = 20, ratios: Sequence[float] = (8, 1, 1), seg_dur: float = 0.2,
                    seed: int = 0) -> dict[str, dict[str, int]]:
    """Prepare the f-DNF data of aligned utterances: speakers, per-utterance splits, phone segments, lang dir.

    Writes ``data_dir/all`` (every utterance of the selected speakers), ``data_dir/{train,dev,test}``
    (each with phone_segments, seg2phone, seg2spk) and ``data_dir/lang/{phones,speakers}.txt``, then
    validates every data dir against its audio.

    Returns:
        ``{dir name: {"utterances": n, "speakers": n, "segments": n}}``.
    """
    _check_ratios(ratios)
    if seg_dur <= 0:
        raise ConfigError(f"segment duration {seg_dur} s: must be positive (e.g. 0.2)")
    data_dir = Path(data_dir)
    utts = select_speakers(utts, n_female, n_male)
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
