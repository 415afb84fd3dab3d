"""Tests of speechgen.data.synth: the embedded eSpeak NG corpus in the TIMIT layout."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechgen.bin import make_synth
from speechgen.data import synth
from speechgen.errors import ConfigError, DataError

espeakng_loader = pytest.importorskip("espeakng_loader")

UTT_SUFFIXES = (".WAV", ".PHN", ".WRD", ".TXT")


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) as {relative path: content}."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_phn(path: Path) -> list[tuple[int, int, str]]:
    """A .PHN/.WRD file as (start, end, label) rows."""
    rows = []
    for line in path.read_text().splitlines():
        start, end, label = line.split(" ", 2)
        rows.append((int(start), int(end), label))
    return rows


@pytest.fixture(scope="module")
def tiny_corpora(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The same tiny corpus (1 female, 1 male, 2 sentences) made three times: nj=1, nj=2, nj=2."""
    base = tmp_path_factory.mktemp("tiny")
    roots = []
    for name, nj in (("a", 1), ("b", 2), ("c", 2)):
        roots.append(synth.generate_corpus(base / name, n_female=1, n_male=1, n_sentences=2, seed=3, nj=nj))
    return tuple(roots)


# ----------------------------------------------------------------------------------------------
# The eSpeak -> TIMIT table and the phone sets
# ----------------------------------------------------------------------------------------------


def test_fold_maps_61_onto_the_39_set():
    assert len(synth.TIMIT61) == 61 == len(set(synth.TIMIT61))
    assert len(synth.TIMIT39) == 39
    assert synth.fold_to_39("q") is None
    assert {synth.fold_to_39(p) for p in ("h#", "pau", "epi", "bcl", "kcl")} == {"sil"}
    assert synth.fold_to_39("ao") == "aa" and synth.fold_to_39("ix") == "ih" and synth.fold_to_39("zh") == "sh"
    assert {synth.fold_to_39(p) for p in synth.TIMIT61} - {None} == set(synth.TIMIT39)


def test_every_table_row_maps_to_timit61_symbols():
    table = synth.load_phone_map()
    assert len(table) > 100
    for (accent, mnemonic), phones in table.items():
        assert accent == "*" or accent in synth.ACCENTS, (accent, mnemonic)
        assert 1 <= len(phones) <= 2 and all(p in synth.TIMIT61 for p in phones), (mnemonic, phones)
        if len(phones) == 2 and phones[0] in synth.CLOSURES:
            assert phones[1] in ("b", "d", "g", "p", "t", "k", "ch", "jh")
    # every accent-specific row refines a row that applies to all voices
    assert all(("*", m) in table for a, m in table if a != "*")
    assert table[("*", "p")] == ("pcl", "p") and table[("*", "t#")] == ("dx",)
    assert table[("en-us", "A@")] == ("aa", "r") and table[("*", "A@")] == ("aa",)


def english_phoneme_inventory() -> dict[str, set[str]]:
    """Mnemonics defined by eSpeak's English phoneme tables, read from the compiled ``phontab``.

    Layout (eSpeak NG synthdata.c): int32 n_tables, then per table: n_phonemes (byte), includes
    (byte), 2 pad bytes, a 32-byte name, then n_phonemes 16-byte entries whose first 4 bytes are
    the mnemonic.
    """
    data = (Path(espeakng_loader.get_data_path()) / "phontab").read_bytes()
    n_tables, offset = struct.unpack_from("<i", data, 0)[0], 4
    inventory = {}
    for _ in range(n_tables):
        n_phonemes = data[offset]
        name = data[offset + 4:offset + 36].split(b"\0", 1)[0].decode()
        offset += 36
        mnemonics = {data[offset + 16 * i:offset + 16 * i + 4].split(b"\0", 1)[0].decode("latin-1")
                     for i in range(n_phonemes)}
        offset += 16 * n_phonemes
        if name == "en" or name.startswith("en-"):
            inventory[name] = mnemonics - {""}
    return inventory


def test_table_covers_every_english_phoneme_of_espeak():
    inventory = english_phoneme_inventory()
    assert {"en", "en-us", "en-sc", "en-rp"} <= set(inventory)
    table = synth.load_phone_map()
    missing = {(name, m) for name, mnemonics in inventory.items() for m in mnemonics if ("*", m) not in table}
    assert not missing


def test_unknown_mnemonic_raises_naming_it():
    table = synth.load_phone_map()
    with pytest.raises(synth.UnmappedPhonemeError, match="'Q\\^'"):
        synth.map_phoneme("'Q^", "en-us", table)
    assert synth.map_phoneme(",3", "en-us", table) == ("axr",)  # stress marks are stripped
    assert synth.map_phoneme("3", "en", table) == ("ax",)


def test_bad_table_is_rejected(tmp_path):
    bad = tmp_path / "map.tsv"
    bad.write_text("espeak\taccent\ttimit\tnote\nx\t*\tkh\tnot a TIMIT symbol\n")
    with pytest.raises(DataError, match="TIMIT-61"):
        synth.load_phone_map(bad)
    bad.write_text("espeak\taccent\ttimit\tnote\np\t*\ttcl p\tmismatched closure\n")
    with pytest.raises(DataError, match="closure"):
        synth.load_phone_map(bad)


# ----------------------------------------------------------------------------------------------
# Alignment on hand-made eSpeak output
# ----------------------------------------------------------------------------------------------


def vowel(n: int, amplitude: float = 8000.0) -> np.ndarray:
    """A loud periodic stretch of n samples."""
    return amplitude * np.sin(2 * np.pi * 150 * np.arange(n) / synth.ESPEAK_RATE)


def test_voiceless_stop_closure_is_the_silence_before_its_release():
    # "at": vowel 0-3000, closure silence 3000-4000, release (noise burst) 4000-5000
    rng = np.random.default_rng(0)
    samples = np.concatenate([vowel(3000), np.zeros(1000), 3000 * rng.standard_normal(1000)]).astype(np.int16)
    result = synth.SynthResult(samples, [("word", 0, 1, 2), ("phone", 0, "'a"), ("phone", 4000, "t")])
    segments, words = synth.align(result, "at", "en-us", synth.load_phone_map())
    labels = [(s.phone, s.start, s.end) for s in segments]
    assert [p for p, _, _ in labels] == ["ae", "tcl", "t"]
    closure_start = labels[1][1]
    assert 3000 <= closure_start <= 3000 + synth.FRAME_LEN  # within one analysis window of the truth
    assert labels[1][2] == 4000 and labels[2][2] == 5000
    assert words == ["at"] and {s.word for s in segments} == {0}


def test_late_liquid_gets_the_tail_of_its_vowel_and_r_is_not_doubled():
    table = synth.load_phone_map()
    samples = vowel(6000).astype(np.int16)
    # eSpeak reports a post-vocalic l at the very end of "all"
    late = synth.SynthResult(samples, [("word", 0, 1, 3), ("phone", 0, "'O:"), ("phone", 6000, "l")])
    segments, _ = synth.align(late, "all", "en-us", table)
    assert [s.phone for s in segments] == ["ao", "l"]
    assert segments[1].start == int(round((1 - synth.LATE_PHONE_SHARE) * 6000)) and segments[1].end == 6000
    # en-us "o@" is "ao r", but when eSpeak's own r follows, r is written once
    boring = synth.SynthResult(samples, [("word", 0, 1, 4), ("phone", 0, "'o@"), ("phone", 3000, "r"),
                                         ("phone", 4500, "i")])
    assert [s.phone for s in synth.align(boring, "oori", "en-us", table)[0]] == ["ao", "r", "iy"]
    alone = synth.SynthResult(samples, [("word", 0, 1, 3), ("phone", 0, "'o@")])
    assert [s.phone for s in synth.align(alone, "oar", "en-us", table)[0]] == ["ao", "r"]
    assert [s.phone for s in synth.align(alone, "oar", "en", table)[0]] == ["ao"]


def test_joined_word_events_are_split_over_the_text_words():
    tokens = synth.text_tokens("Sit in the car.")
    assert tokens == [(1, "sit"), (5, "in"), (8, "the"), (12, "car")]
    # eSpeak gives "in the" one word event
    assert synth.tokens_of_word_events([1, 5, 12], tokens) == [[0], [1, 2], [3]]
    assert synth.split_group_phones(4, [2, 2]) == [2, 2]
    assert synth.split_group_phones(3, [3, 2]) == [2, 1]  # counts that do not fit: even split


# ----------------------------------------------------------------------------------------------
# Speakers
# ----------------------------------------------------------------------------------------------


def test_default_speakers_are_distinct_and_share_prompts():
    specs = synth.speaker_specs()
    assert len(specs) == 40
    female = [s for s in specs if s.gender == "F"]
    male = [s for s in specs if s.gender == "M"]
    assert [s.speaker_id for s in female] == [f"FSYN{j}" for j in range(20)]
    assert [s.speaker_id for s in male] == [f"MSYN{j}" for j in range(20)]
    assert all(s.variant.startswith("f") for s in female) and all(s.variant.startswith("m") for s in male)
    assert min(s.pitch for s in female) > max(s.pitch for s in male)
    assert len({(s.voice, s.pitch, s.pitch_range, s.rate) for s in specs}) == 40
    assert {s.dialect for s in female} == {s.dialect for s in male} == {f"DR{k}" for k in range(1, 9)}
    assert all(s.accent == synth.ACCENTS[int(s.dialect[2:]) - 1] for s in specs)
    prompt_sets = [frozenset(s.prompt_ids) for s in specs]
    assert all(len(p) == 12 for p in prompt_sets) and len(set(prompt_sets)) == 40
    assert set().union(*prompt_sets) == set(range(len(synth.PROMPTS)))
    readers = [sum(i in p for p in prompt_sets) for i in range(len(synth.PROMPTS))]
    assert min(readers) >= 4  # every sentence is read by several voices
    assert all(any(p & q for q in prompt_sets if q is not p) for p in prompt_sets)
    assert synth.speaker_specs(n_female=3, n_male=0)[:3] == female[:3]  # stable under corpus size


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ConfigError):
        synth.speaker_specs(n_female=0, n_male=0)
    with pytest.raises(ConfigError):
        synth.speaker_specs(n_sentences=len(synth.PROMPTS) + 1)
    with pytest.raises(ConfigError):
        synth.generate_corpus(tmp_path / "x", n_female=1, n_male=0, n_sentences=1, nj=0)


# ----------------------------------------------------------------------------------------------
# Generated corpora
# ----------------------------------------------------------------------------------------------


def test_same_options_give_byte_identical_corpora_for_any_nj(tiny_corpora):
    a, b, c = (tree_bytes(root) for root in tiny_corpora)
    assert len(a) == 2 * 2 * len(UTT_SUFFIXES) + 4  # utterances + DOC/PROMPTS, DOC/SPKRINFO, README, .done
    assert a == b  # nj=1 vs nj=2
    assert b == c  # made twice


def test_tiny_corpus_is_valid_timit(tiny_corpora):
    root = tiny_corpora[0]
    assert (root / ".done").is_file() and "eSpeak NG" in (root / "README.txt").read_text()
    assert json.loads((root / ".done").read_text())["n_sentences"] == 2
    speaker_dirs = sorted(p.relative_to(root).as_posix() for p in root.glob("TRAIN/DR*/*"))
    assert speaker_dirs == ["TRAIN/DR1/FSYN0", "TRAIN/DR1/MSYN0"]
    for speaker_dir in root.glob("TRAIN/DR*/*"):
        names = sorted(p.name for p in speaker_dir.iterdir())
        assert len(names) == 2 * len(UTT_SUFFIXES)
        assert all(n == n.upper() and n.startswith("SX") for n in names)
        for wav in speaker_dir.glob("*.WAV"):
            check_utterance(wav)


def check_utterance(wav: Path) -> None:
    """Assert that one utterance's four files are consistent TIMIT files."""
    header = wav.read_bytes()[:12]
    assert header[:4] == b"RIFF" and header[8:12] == b"WAVE"
    info = sf.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    n = info.frames
    audio, _ = sf.read(str(wav), dtype="int16")
    assert np.abs(audio).max() > 3000  # there is speech, not just the noise floor

    phones = read_phn(wav.with_suffix(".PHN"))
    assert phones[0][0] == 0 and phones[-1][1] == n
    assert phones[0][2] == "h#" and phones[-1][2] == "h#"
    assert all(end > start for start, end, _ in phones)
    assert all(prev[1] == cur[0] for prev, cur in zip(phones, phones[1:]))
    assert all(label in synth.TIMIT61 for _, _, label in phones)
    assert any(label.endswith("cl") for _, _, label in phones)

    txt = wav.with_suffix(".TXT").read_text().rstrip("\n").split(" ", 2)
    assert txt[:2] == ["0", str(n)] and txt[2] in synth.PROMPTS
    words = read_phn(wav.with_suffix(".WRD"))
    assert [w for _, _, w in words] == [w for _, w in synth.text_tokens(txt[2])]
    assert all(0 < start < end < n for start, end, _ in words)
    assert all(prev[1] <= cur[0] for prev, cur in zip(words, words[1:]))
    boundaries = {start for start, _, _ in phones} | {n}
    assert all(start in boundaries and end in boundaries for start, end, _ in words)


def median_f0(wav: Path) -> float:
    """Median autocorrelation F0 (Hz) of the loud 40 ms frames of a 16 kHz file."""
    x, rate = sf.read(str(wav))
    estimates = []
    for i in range(0, len(x) - 640, 320):
        frame = x[i:i + 640] - x[i:i + 640].mean()
        if np.sqrt(np.mean(frame ** 2)) < 0.05:
            continue
        ac = np.correlate(frame, frame, "full")[len(frame) - 1:]
        shortest, longest = rate // 400, rate // 60
        lag = shortest + int(np.argmax(ac[shortest:longest]))
        if ac[lag] > 0.5 * ac[0]:
            estimates.append(rate / lag)
    return float(np.median(estimates))


def test_female_voices_are_higher(tiny_corpora):
    root = tiny_corpora[0]
    female = [median_f0(w) for w in root.glob("TRAIN/*/FSYN0/*.WAV")]
    male = [median_f0(w) for w in root.glob("TRAIN/*/MSYN0/*.WAV")]
    assert min(female) > 160 and max(male) < 140


def test_prompts_cover_every_folded_phone(tmp_path):
    # one en-us speaker reading the whole prompt list
    root = synth.generate_corpus(tmp_path / "all", n_female=1, n_male=0, n_sentences=len(synth.PROMPTS), nj=1)
    folded = set()
    for phn in root.glob("TRAIN/*/*/*.PHN"):
        folded |= {synth.fold_to_39(label) for _, _, label in read_phn(phn)}
    assert folded - {None} == set(synth.TIMIT39)


def test_existing_corpus_is_kept_or_refused(tiny_corpora, tmp_path):
    root = tiny_corpora[0]
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert synth.generate_corpus(root, n_female=1, n_male=1, n_sentences=2, seed=3) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before
    with pytest.raises(DataError, match="overwrite"):
        synth.generate_corpus(root, n_female=1, n_male=1, n_sentences=1, seed=3)
    assert not [p for p in root.parent.iterdir() if ".tmp-" in p.name]  # no half-made corpus left
    other = tmp_path / "occupied"
    other.mkdir()
    (other / "mine.txt").write_text("user data")
    with pytest.raises(DataError):
        synth.generate_corpus(other, n_female=1, n_male=0, n_sentences=1)
    assert (other / "mine.txt").read_text() == "user data"


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    full = synth.load_phone_map()
    without_n = {key: phones for key, phones in full.items() if key[1] != "n"}
    monkeypatch.setattr(synth, "load_phone_map", lambda path=None: without_n)
    with pytest.raises(synth.UnmappedPhonemeError, match="'n'"):
        synth.generate_corpus(tmp_path / "broken", n_female=1, n_male=1, n_sentences=3, nj=2)
    assert list(tmp_path.iterdir()) == []


def test_cli_makes_a_corpus_and_has_help(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        make_synth.main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert "--n-female" in usage and "--nj" in usage and "TIMIT" in usage
    assert make_synth.main([str(tmp_path / "cli"), "--n-female", "0", "--n-male", "1", "--n-sentences", "1",
                            "--nj", "1"]) == 0
    assert (tmp_path / "cli" / ".done").is_file()
    assert len(list((tmp_path / "cli").glob("TRAIN/DR1/MSYN0/*.WAV"))) == 1
    assert os.listdir(tmp_path) == ["cli"]
