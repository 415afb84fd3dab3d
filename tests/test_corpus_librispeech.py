"""--corpus librispeech: SPEAKER/CHAPTER/*.flac or SPEAKER/*.flac, sexes from SPEAKERS.TXT."""
import pytest

from corpus_fixtures import write_tone
from speechgen.corpora import open_corpus
from speechgen.errors import DataError

SPEAKERS_TXT = """; LibriSpeech readers
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara
26   | M | train-clean-100  | 25.08 | Denny
"""


def test_nested_layout_with_transcripts_and_speakers_txt_above(tmp_path):
    (tmp_path / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    root = tmp_path / "train-clean-100"
    for spk, chapter in (("19", "198"), ("26", "495")):
        for n in range(2):
            write_tone(root / spk / chapter / f"{spk}-{chapter}-{n:04d}.flac", fmt="FLAC")
        (root / spk / chapter / f"{spk}-{chapter}.trans.txt").write_text(f"{spk}-{chapter}-0000 HELLO THERE\n")
    utts = open_corpus("librispeech", root).utterances()
    assert [(u.utt_id, u.spk, u.gender) for u in utts] == [
        ("19-198-0000", "19", "f"), ("19-198-0001", "19", "f"), ("26-495-0000", "26", "m"), ("26-495-0001", "26", "m")]
    assert utts[0].text == "HELLO THERE" and utts[1].text == "" and utts[0].phones is None


def test_flattened_layout(tmp_path):
    (tmp_path / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    write_tone(tmp_path / "26" / "26-495-0003.flac", fmt="FLAC")
    utts = open_corpus("librispeech", tmp_path).utterances()
    assert [(u.utt_id, u.gender, u.duration) for u in utts] == [("26-495-0003", "m", 0.5)]


def test_bad_sex_and_empty_tree(tmp_path):
    (tmp_path / "SPEAKERS.TXT").write_text("7 | X | dev | 1 | Someone\n")
    with pytest.raises(DataError, match=r"SPEAKERS.TXT:1: sex 'X'; expected F or M"):
        open_corpus("librispeech", tmp_path).utterances()
    (tmp_path / "SPEAKERS.TXT").unlink()
    with pytest.raises(DataError, match="no LibriSpeech speaker folders"):
        open_corpus("librispeech", tmp_path).utterances()
