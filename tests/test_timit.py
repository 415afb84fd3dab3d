"""TIMIT reading (LDC and NLTK layouts), Kaldi data dirs, f-DNF speaker selection, splits and segments."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timit_fixtures import (  # noqa: E402
    SAMPLE_RATE, SPEAKERS, UTT_NAMES, utterance_content, write_ldc_corpus, write_nltk_corpus,
)

from speechgen.bin import prepare_data  # noqa: E402
from speechgen.data.phones import FDNF_PHONES  # noqa: E402
from speechgen.data.timit import (  # noqa: E402
    Utterance,
    detect_layout,
    make_segments,
    prepare_fdnf,
    read_corpus,
    read_data_dir,
    select_speakers,
    split_utterances,
    write_data_dir,
)
from speechgen.data.validate import validate_data_dir  # noqa: E402
from speechgen.errors import ConfigError, DataError  # noqa: E402

TWO_SPEAKERS = (("train", "dr1", "fvmh0"), ("test", "dr3", "mabc0"))
THREE_UTTS = ("sa1", "si836", "sx206")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The same six-speaker corpus as LDC/SPHERE, LDC lower-case/RIFF and NLTK."""
    base = tmp_path_factory.mktemp("corpora")
    return {
        "ldc": write_ldc_corpus(base / "ldc"),
        "ldc_lower": write_ldc_corpus(base / "ldc_lower", upper=False, fmt="WAV"),
        "nltk": write_nltk_corpus(base / "nltk"),
    }


def small_ldc(tmp_path, **kwargs):
    """A two-speaker, three-utterance LDC tree (SPHERE, upper-case) to corrupt."""
    return write_ldc_corpus(tmp_path / "timit", speakers=TWO_SPEAKERS, utt_names=THREE_UTTS, **kwargs)


def content_of(utt):
    """(utt_id, spk, gender, phones, words, text, duration), the layout-independent part."""
    return (utt.utt_id, utt.spk, utt.gender, utt.phones, utt.words, utt.text, utt.duration)


# --------------------------------------------------------------------------- layouts


def test_fixture_writes_sphere_and_riff(corpora):
    assert sf.info(str(corpora["ldc"] / "TRAIN/DR1/FVMH0/SA1.WAV")).format == "NIST"
    assert sf.info(str(corpora["ldc_lower"] / "train/dr1/fvmh0/sa1.wav")).format == "WAV"


def test_detect_layout(corpora):
    assert detect_layout(corpora["ldc"]) == "ldc"
    assert detect_layout(corpora["ldc_lower"]) == "ldc"
    assert detect_layout(corpora["nltk"]) == "nltk"
    assert detect_layout(corpora["nltk"] / "timit") == "nltk"


def test_missing_root_names_path_and_both_layouts(tmp_path):
    missing = tmp_path / "no_timit_here"
    with pytest.raises(DataError, match="does not exist") as err:
        detect_layout(missing)
    message = str(err.value)
    assert str(missing) in message and "LDC:" in message and "NLTK sample:" in message


def test_neither_layout_names_path_and_both_layouts(tmp_path):
    (tmp_path / "random" / "stuff").mkdir(parents=True)
    (tmp_path / "random" / "stuff" / "a.wav").write_bytes(b"")
    with pytest.raises(DataError, match="not a TIMIT corpus in a known layout") as err:
        read_corpus(tmp_path / "random")
    message = str(err.value)
    assert str(tmp_path / "random") in message
    assert "TRAIN/DR1/FCJF0/SA1.WAV" in message and "timit/dr1-fvmh0/sa1.wav" in message


def test_tree_one_level_down_is_pointed_at(corpora, tmp_path):
    (tmp_path / "outer").mkdir()
    os.symlink(corpora["ldc"], tmp_path / "outer" / "TIMIT")
    with pytest.raises(DataError, match=r"pass .*outer/TIMIT instead"):
        detect_layout(tmp_path / "outer")


# --------------------------------------------------------------------------- reading


def test_reader_gives_expected_utterances(corpora):
    utts = read_corpus(corpora["ldc"])
    assert len(utts) == len(SPEAKERS) * len(UTT_NAMES)
    assert [u.utt_id for u in utts] == sorted(u.utt_id for u in utts)
    by_id = {u.utt_id: u for u in utts}
    utt = by_id["fvmh0_sx206"]
    expected = utterance_content("fvmh0", "sx206")
    assert (utt.spk, utt.gender, utt.subset) == ("fvmh0", "f", "train")
    assert by_id["mabc0_sa1"].subset == "test" and by_id["mabc0_sa1"].gender == "m"
    assert Path(utt.wav).is_absolute() and utt.wav.endswith("TRAIN/DR1/FVMH0/SX206.WAV")
    assert utt.phones == [(s / SAMPLE_RATE, e / SAMPLE_RATE, p) for s, e, p in expected.phones]
    assert utt.words == [(s / SAMPLE_RATE, e / SAMPLE_RATE, w) for s, e, w in expected.words]
    assert utt.text == expected.text
    assert utt.duration == expected.num_samples / SAMPLE_RATE


def test_every_layout_gives_the_same_utterances(corpora):
    ldc = read_corpus(corpora["ldc"])
    lower = read_corpus(corpora["ldc_lower"])
    nltk = read_corpus(corpora["nltk"])
    nltk_direct = read_corpus(corpora["nltk"] / "timit")
    assert [content_of(u) for u in ldc] == [content_of(u) for u in lower]
    assert [content_of(u) for u in ldc] == [content_of(u) for u in nltk]
    assert [content_of(u) for u in nltk] == [content_of(u) for u in nltk_direct]
    assert {u.subset for u in nltk} == {"train"}
    assert [u.subset for u in ldc] == [u.subset for u in lower]


def test_subsets_and_sa_exclusion(corpora):
    test_only = read_corpus(corpora["ldc"], subsets=("test",))
    assert {u.spk for u in test_only} == {"fbcg1", "mabc0"}
    no_sa = read_corpus(corpora["ldc_lower"], exclude_sa=True)
    assert len(no_sa) == len(SPEAKERS) * (len(UTT_NAMES) - 2)
    assert not any(u.utt_id.split("_")[1].startswith("sa") for u in no_sa)


def test_empty_corpus_is_an_error(corpora):
    with pytest.raises(DataError, match="no utterances found in the nltk layout for subsets test"):
        read_corpus(corpora["nltk"], subsets=("test",))


def test_unknown_subset_is_a_config_error(corpora):
    with pytest.raises(ConfigError, match="unknown TIMIT subset 'dev'"):
        read_corpus(corpora["ldc"], subsets=("dev",))


def test_corrupt_wav_is_named(tmp_path):
    root = small_ldc(tmp_path)
    wav = root / "TRAIN/DR1/FVMH0/SI836.WAV"
    wav.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(DataError, match="cannot read the audio") as err:
        read_corpus(root)
    assert str(wav) in str(err.value)


def test_alignment_past_the_end_of_audio(tmp_path):
    root = small_ldc(tmp_path, fmt="WAV")
    phn = root / "TEST/DR3/MABC0/SX206.PHN"
    lines = phn.read_text().splitlines()
    start, end, _ = lines[-1].split()
    lines[-1] = f"{start} {int(end) + 500} h#"
    phn.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"runs past the end of the audio") as err:
        read_corpus(root)
    message = str(err.value)
    assert f"{phn}:{len(lines)}" in message and f"{int(end) + 500}" in message and "SX206.WAV" in message


def test_unknown_phone_is_named_with_file_and_line(tmp_path):
    root = small_ldc(tmp_path)
    phn = root / "TRAIN/DR1/FVMH0/SA1.PHN"
    lines = phn.read_text().splitlines()
    start, end, _ = lines[2].split()
    lines[2] = f"{start} {end} xyz"
    phn.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"SA1\.PHN:3: unknown TIMIT phone 'xyz'"):
        read_corpus(root)


def test_malformed_phn_line(tmp_path):
    root = small_ldc(tmp_path)
    phn = root / "TRAIN/DR1/FVMH0/SA1.PHN"
    lines = phn.read_text().splitlines()
    lines[1] = "1200 aa"
    phn.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"SA1\.PHN:2: malformed line '1200 aa'.*START_SAMPLE END_SAMPLE LABEL"):
        read_corpus(root)


def test_missing_phn(tmp_path):
    root = small_ldc(tmp_path, upper=False)
    (root / "train/dr1/fvmh0/sx206.phn").unlink()
    with pytest.raises(DataError, match=r"sx206\.wav: no SX206\.PHN / sx206\.phn beside it"):
        read_corpus(root)


def test_spkrinfo_gender_disagreeing_with_dir(tmp_path):
    root = write_nltk_corpus(tmp_path, speakers=TWO_SPEAKERS, utt_names=THREE_UTTS)
    info = root / "timit" / "spkrinfo.txt"
    info.write_text(info.read_text().replace("VMH0  F", "VMH0  M"))
    with pytest.raises(DataError, match="speaker 'fvmh0' is listed with sex 'm'"):
        read_corpus(root)


# --------------------------------------------------------------------------- data dirs


def test_write_and_read_data_dir(corpora, tmp_path):
    utts = read_corpus(corpora["ldc"])
    data = tmp_path / "data" / "all"
    write_data_dir(utts, data)
    assert sorted(p.name for p in data.iterdir()) == ["phones", "spk2gender", "spk2utt", "text", "utt2spk", "wav.scp"]
    utt = next(u for u in utts if u.utt_id == "fvmh0_sx206")
    wav_lines = (data / "wav.scp").read_text().splitlines()
    assert f"fvmh0_sx206 {utt.wav}" in wav_lines
    assert f"fvmh0_sx206 {utt.text}" in (data / "text").read_text().splitlines()
    assert "fvmh0 f" in (data / "spk2gender").read_text().splitlines()
    faem0_utts = " ".join(f"faem0_{n}" for n in sorted(UTT_NAMES))
    assert (data / "spk2utt").read_text().splitlines()[0] == f"faem0 {faem0_utts}"
    phone_line = next(l for l in (data / "phones").read_text().splitlines() if l.startswith("fvmh0_sx206 "))
    first = utterance_content("fvmh0", "sx206").phones[0]
    assert phone_line.split()[1:4] == ["0.0000", f"{first[1] / SAMPLE_RATE:.4f}", "h#"]
    for name in ("wav.scp", "utt2spk", "spk2utt", "text", "phones", "spk2gender"):
        keys = [line.split()[0] for line in (data / name).read_text().splitlines()]
        assert keys == sorted(keys) and len(keys) == len(set(keys))

    tables = read_data_dir(data)
    assert tables["utt2spk"]["fvmh0_sx206"] == "fvmh0"
    assert tables["text"]["fvmh0_sx206"] == utt.text
    assert tables["spk2utt"]["mabc0"] == [f"mabc0_{n}" for n in sorted(UTT_NAMES)]
    assert [p for _, _, p in tables["phones"]["fvmh0_sx206"]] == [p for _, _, p in utt.phones]
    assert np.allclose([s for s, _, _ in tables["phones"]["fvmh0_sx206"]], [s for s, _, _ in utt.phones], atol=5e-5)
    assert validate_data_dir(data, check_audio=True) == {"utterances": 60, "speakers": 6, "segments": 0}


def test_rewriting_a_data_dir_replaces_it_whole(corpora, tmp_path):
    utts = read_corpus(corpora["ldc"])
    data = tmp_path / "dir"
    write_data_dir(utts, data)
    (data / "feats.scp").write_text("stale\n")
    write_data_dir(utts[:5], data)
    assert not (data / "feats.scp").exists()
    assert len((data / "wav.scp").read_text().splitlines()) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]  # no temp dirs left behind


# --------------------------------------------------------------------------- f-DNF selection and splits


def test_select_speakers_prefers_train_subset(corpora):
    utts = read_corpus(corpora["ldc"])
    chosen = select_speakers(utts, n_female=2, n_male=1)
    # fbcg1 and mabc0 sort first but are in TEST, so the TRAIN speakers come first.
    assert sorted({u.spk for u in chosen}) == ["faem0", "fvmh0", "marc0"]
    assert len(chosen) == 3 * len(UTT_NAMES)
    more = select_speakers(utts, n_female=3, n_male=3)
    assert sorted({u.spk for u in more}) == ["faem0", "fbcg1", "fvmh0", "mabc0", "marc0", "mcpm0"]


def test_select_speakers_too_few(corpora):
    utts = read_corpus(corpora["ldc"])
    with pytest.raises(DataError, match="need 5 female speakers but the corpus has 3"):
        select_speakers(utts, n_female=5, n_male=1)


def test_split_is_8_1_1_per_speaker_and_deterministic(corpora):
    utts = read_corpus(corpora["ldc"])
    splits = split_utterances(utts, (8, 1, 1), seed=0)
    for spk in {u.spk for u in utts}:
        counts = [sum(u.spk == spk for u in splits[name]) for name in ("train", "dev", "test")]
        assert counts == [8, 1, 1]
    ids = [u.utt_id for name in ("train", "dev", "test") for u in splits[name]]
    assert sorted(ids) == sorted(u.utt_id for u in utts)  # a partition: nothing lost or repeated
    again = split_utterances(list(reversed(utts)), (8, 1, 1), seed=0)
    assert {k: [u.utt_id for u in v] for k, v in again.items()} == {k: [u.utt_id for u in v] for k, v in splits.items()}
    other = split_utterances(utts, (8, 1, 1), seed=1)
    assert [u.utt_id for u in other["dev"]] != [u.utt_id for u in splits["dev"]]


def test_split_keeps_every_speaker_in_every_split_from_3_utterances():
    utts = [Utterance(f"fabc0_sx{i}", "fabc0", "f", "train", "/x.wav", [(0.0, 1.0, "aa")]) for i in range(3)]
    splits = split_utterances(utts, (8, 1, 1))
    assert [len(splits[name]) for name in ("train", "dev", "test")] == [1, 1, 1]


def test_split_rejects_bad_ratios(corpora):
    with pytest.raises(ConfigError, match="train > 0"):
        split_utterances(read_corpus(corpora["ldc"]), (0, 1, 1))


# --------------------------------------------------------------------------- segments


def edge_utterance(duration=1.00625):
    """An utterance whose first and last speech phones sit at the audio edges, with a 0.5 s phone between."""
    phones = [
        (0.0, 0.05, "iy"),       # centre 25 ms: the window must shift right to start at 0
        (0.05, 0.10, "tcl"),     # closure -> sil, dropped
        (0.10, 0.60, "aa"),      # 500 ms: trimmed to the centred 200 ms
        (0.60, 0.65, "q"),       # deleted phone, dropped
        (0.65, 0.95, "h#"),      # silence, dropped
        (0.95, duration, "s"),   # centre near the end: the window must shift left
    ]
    return Utterance("fabc0_sx1", "fabc0", "f", "train", "/nowhere.wav", phones, duration=duration)


def test_segments_shift_inside_the_utterance():
    utt = edge_utterance()
    segments = make_segments(utt, dur=0.2)
    assert [s.seg_id for s in segments] == ["fabc0_sx1_000", "fabc0_sx1_001", "fabc0_sx1_002"]
    assert [(s.phone, s.phone61) for s in segments] == [("iy", "iy"), ("aa", "aa"), ("s", "s")]
    first, middle, last = segments
    assert (first.start, first.end) == (0.0, 0.2)                    # shifted, not padded
    assert (middle.start, middle.end) == (0.25, 0.45)                # centred 200 ms of the long phone
    assert last.end == 1.0062 and last.start == pytest.approx(0.8062)  # ends on the 0.1 ms grid inside 1.00625 s
    for seg in segments:
        assert 0.0 <= seg.start and seg.end <= utt.duration
        assert round((seg.end - seg.start) * 10000) == 2000          # exactly 200 ms on the grid
        assert {s.spk for s in segments} == {"fabc0"}


def test_segments_can_keep_silence():
    labels = [s.phone for s in make_segments(edge_utterance(), drop=())]
    assert labels == ["iy", "sil", "aa", "sil", "s"]  # q still has no 39-set label


def test_short_utterance_is_skipped_with_a_warning(caplog):
    utt = Utterance("fabc0_sx2", "fabc0", "f", "train", "/x.wav", [(0.0, 0.15, "aa")], duration=0.15)
    with caplog.at_level(logging.WARNING, logger="speechgen.data.timit"):
        assert make_segments(utt, dur=0.2) == []
    assert "fabc0_sx2" in caplog.text and "shorter than" in caplog.text


def test_segments_of_corpus_stay_inside_audio(corpora):
    for utt in read_corpus(corpora["ldc"])[:20]:
        frames = sf.info(utt.wav).frames
        for seg in make_segments(utt):
            assert 0.0 <= seg.start and seg.end * SAMPLE_RATE <= frames
            assert f"{seg.end - seg.start:.4f}" == "0.2000"
            assert seg.phone in FDNF_PHONES


# --------------------------------------------------------------------------- end to end


def test_prepare_fdnf_end_to_end(corpora, tmp_path):
    data = tmp_path / "data"
    summary = prepare_fdnf(corpora["ldc"], data, n_female=2, n_male=2, ratios=(8, 1, 1), seg_dur=0.2, seed=0)
    assert {name: summary[name]["utterances"] for name in summary} == {"all": 40, "train": 32, "dev": 4, "test": 4}
    assert all(summary[name]["speakers"] == 4 for name in summary)
    assert summary["all"]["segments"] == sum(summary[n]["segments"] for n in ("train", "dev", "test")) > 0

    speakers = ["faem0", "fvmh0", "marc0", "mcpm0"]
    assert (data / "lang" / "speakers.txt").read_text().splitlines() == [f"{s} {i}" for i, s in enumerate(speakers)]
    phone_lines = (data / "lang" / "phones.txt").read_text().splitlines()
    assert len(phone_lines) == 38 and phone_lines[0] == "aa 0" and phone_lines[-1] == "z 37"

    seen = {}
    for name in ("train", "dev", "test"):
        tables = read_data_dir(data / name)
        assert set(tables["seg2spk"].values()) == set(speakers)
        assert set(tables["seg2phone"].values()) <= set(FDNF_PHONES)
        for seg, (utt, start, end) in tables["phone_segments"].items():
            assert seg.startswith(utt + "_")
            assert f"{end - start:.4f}" == "0.2000"
            assert end <= sf.info(tables["wav.scp"][utt]).duration
            assert tables["seg2spk"][seg] == tables["utt2spk"][utt]
        for utt in tables["wav.scp"]:
            assert utt not in seen, f"{utt} in {seen.get(utt)} and {name}"
            seen[utt] = name
    assert len(seen) == 40


def test_cli_runs_and_documents_itself(corpora, tmp_path, capsys):
    data = tmp_path / "data"
    code = prepare_data.main([str(data), "--corpus", "timit-nltk", "--corpus-path", str(corpora["nltk"]),
                              "--recipe", "timit_fdnf", "--n-female", "1", "--n-male", "1",
                              "--split", "utterances:8,1,1", "--seg-dur", "0.2", "--seed", "3"])
    assert code == 0
    assert "train: 16 utterances, 2 speakers" in capsys.readouterr().out
    assert validate_data_dir(data / "dev", check_audio=True)["utterances"] == 2

    assert prepare_data.main([str(data), "--corpus", "timit", "--corpus-path", str(tmp_path / "missing"),
                              "--recipe", "timit_fdnf"]) == 1
    assert "missing: no such directory (give the TIMIT root" in capsys.readouterr().err

    help_text = subprocess.run([sys.executable, "-m", "speechgen.bin.prepare_data", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for option in ("DATA_DIR", "--corpus", "--corpus-path", "--n-female", "--n-male", "--split", "--seg-dur",
                   "--seed", "NLTK", "timit_fdnf"):
        assert option in help_text


def test_cli_rejects_bad_split(corpora, tmp_path, capsys):
    assert prepare_data.main([str(tmp_path / "d"), "--corpus", "timit", "--corpus-path", str(corpora["ldc"]),
                              "--recipe", "timit_fdnf", "--split", "8,1"]) == 1
    assert "'8,1' is not one of corpus, speakers:D,T, utterances:A,B,C" in capsys.readouterr().err


def test_a_subset_dir_is_pointed_at_its_root_in_one_line(corpora):
    for inner in (corpora["ldc"] / "TRAIN", corpora["ldc"] / "TRAIN" / "DR1"):
        with pytest.raises(DataError, match=rf"{inner} is inside a TIMIT tree: pass its root .* instead") as err:
            detect_layout(inner)
        assert "\n" not in str(err.value)
