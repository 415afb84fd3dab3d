"""--corpus wavdir: audio files at any depth, speakers from folders / a pattern / utt2spk, alignments beside them."""
import pytest

from corpus_fixtures import write_textgrid, write_tone
from speechgen.corpora import open_corpus
from speechgen.corpora.writer import write_data_dir
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError


def test_speakers_from_folders_and_alignments_of_each_format(tmp_path):
    root = tmp_path / "audio"
    write_tone(root / "alice" / "s1" / "a1.wav")
    write_textgrid(root / "alice" / "s1" / "a1.TextGrid", [(0.1, 0.3, "HH"), (0.3, 0.5, "AY1")], [(0.1, 0.5, "hi")])
    write_tone(root / "alice" / "a2.flac", fmt="FLAC")
    (root / "alice" / "a2.ctm").write_text("a2 1 0.00 0.20 sil\na2 1 0.20 0.30 AA1\n")
    write_tone(root / "bob" / "b1.wav")
    (root / "bob" / "b1.PHN").write_text("0 1600 h#\n1600 8000 iy\n")
    utts = {u.utt_id: u for u in open_corpus("wavdir", root).utterances()}
    assert sorted(utts) == ["alice-a1", "alice-a2", "bob-b1"]
    assert utts["alice-a1"].spk == "alice" and utts["alice-a1"].phones == [(0.1, 0.3, "hh"), (0.3, 0.5, "ay")]
    assert utts["alice-a2"].phones == [(0.0, 0.2, "h#"), (0.2, 0.5, "aa")]
    assert utts["bob-b1"].phones == [(0.0, 0.1, "h#"), (0.1, 0.5, "iy")]
    write_data_dir(list(utts.values()), tmp_path / "data")
    assert validate_data_dir(tmp_path / "data", check_audio=True)["speakers"] == 2


def test_speaker_pattern_utt2spk_and_genders(tmp_path):
    root = tmp_path / "flat"
    for name in ("spkA_1", "spkA_2", "spkB_1"):
        write_tone(root / f"{name}.wav")
    utts = open_corpus("wavdir", root, speaker_pattern=r"(?P<spk>spk\w)_").utterances()
    assert [(u.utt_id, u.spk, u.phones) for u in utts] == [("spkA_1", "spkA", None), ("spkA_2", "spkA", None),
                                                           ("spkB_1", "spkB", None)]
    (root / "utt2spk").write_text("spkA_1 x\nspkA_2 x\nspkB_1 y\n")
    (root / "spk2gender").write_text("x F\ny m\n")
    utts = open_corpus("wavdir", root).utterances()
    assert [(u.utt_id, u.spk, u.gender) for u in utts] == [("x-spkA_1", "x", "f"), ("x-spkA_2", "x", "f"),
                                                           ("y-spkB_1", "y", "m")]


def test_unknown_phone_label_is_one_line_naming_the_file_and_the_map(tmp_path):
    root = tmp_path / "audio"
    write_tone(root / "s" / "u.wav")
    (root / "s" / "u.ctm").write_text("u 1 0.0 0.2 XYZ\n")
    with pytest.raises(DataError, match=r"u\.ctm: unknown phone 'XYZ' .*--phone-map FILE") as err:
        open_corpus("wavdir", root).utterances()
    assert "\n" not in str(err.value)
    (tmp_path / "map").write_text("XYZ pau\n")
    assert open_corpus("wavdir", root, phone_map=tmp_path / "map").utterances()[0].phones == [(0.0, 0.2, "pau")]


def test_files_at_the_root_need_a_speaker_rule(tmp_path):
    write_tone(tmp_path / "u.wav")
    with pytest.raises(DataError, match="folder names no speaker.*--speaker-pattern"):
        open_corpus("wavdir", tmp_path).utterances()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .wav or .flac files"):
        open_corpus("wavdir", tmp_path / "empty").utterances()
