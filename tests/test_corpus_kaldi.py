"""--corpus kaldi: a data dir as is; pipes read through kaldiio, Kaldi segments cut by wav.scp pipes."""
import numpy as np
import pytest

from corpus_fixtures import RATE, write_tone
from speechgen.corpora import open_corpus
from speechgen.corpora.writer import write_data_dir
from speechgen.data.audio import load_wav
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError


def test_pipes_and_phones(tmp_path):
    wav = write_tone(tmp_path / "a.wav")
    src = tmp_path / "src"
    src.mkdir()
    (src / "wav.scp").write_text(f"s1-u1 cat {wav} |\ns1-u2 {wav}\n")
    (src / "utt2spk").write_text("s1-u1 s1\ns1-u2 s1\n")
    (src / "spk2gender").write_text("s1 f\n")
    (src / "text").write_text("s1-u1 hello\ns1-u2\n")
    (src / "phones").write_text("s1-u1 0.0 0.2 sil 0.2 0.5 AH0\ns1-u2 0.0 0.5 iy\n")
    utts = open_corpus("kaldi", src).utterances()
    assert [(u.utt_id, u.gender, u.text) for u in utts] == [("s1-u1", "f", "hello"), ("s1-u2", "f", "")]
    assert utts[0].wav == f"cat {wav} |" and utts[0].phones == [(0.0, 0.2, "h#"), (0.2, 0.5, "ah")]
    np.testing.assert_allclose(load_wav(utts[0].wav), load_wav(wav))
    write_data_dir(utts, tmp_path / "data")
    assert validate_data_dir(tmp_path / "data", check_audio=True)["utterances"] == 2


def test_segments_cut_utterances_from_recordings(tmp_path):
    wav = write_tone(tmp_path / "rec.wav", seconds=1.0)
    src = tmp_path / "src"
    src.mkdir()
    (src / "wav.scp").write_text(f"rec1 {wav}\n")
    (src / "segments").write_text("u1 rec1 0.25 0.50\nu2 rec1 0.50 -1\n")
    (src / "utt2spk").write_text("u1 bob\nu2 bob\n")
    utts = open_corpus("kaldi", src).utterances()
    assert [u.utt_id for u in utts] == ["bob-u1", "bob-u2"] and all(u.wav.endswith("|") for u in utts)
    whole = load_wav(wav)
    np.testing.assert_allclose(load_wav(utts[0].wav), whole[RATE // 4:RATE // 2], atol=1e-4)
    assert len(load_wav(utts[1].wav)) == RATE // 2


def test_missing_files_and_bad_entries_are_named(tmp_path):
    with pytest.raises(DataError, match="no wav.scp; a Kaldi data dir needs wav.scp and utt2spk"):
        open_corpus("kaldi", tmp_path).utterances()
    (tmp_path / "wav.scp").write_text("u1 false |\n")
    (tmp_path / "utt2spk").write_text("u1 s\nu2 s\n")
    with pytest.raises(DataError, match="no entry for utterance 'u2'"):
        open_corpus("kaldi", tmp_path).utterances()
    with pytest.raises(DataError, match="'false \\|': cannot read this wav.scp entry"):
        load_wav("false |")
