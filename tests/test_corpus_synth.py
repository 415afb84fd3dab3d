"""--corpus synth: the embedded corpus's TIMIT layout, speaker numbers padded for Kaldi's sort order."""
import pytest

from timit_fixtures import write_ldc_corpus
from speechgen.corpora import open_corpus
from speechgen.corpora.writer import write_data_dir
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError

SYNTH_SPEAKERS = tuple(("train", "dr1", f"{g}syn{j}") for g in "fm" for j in (1, 10, 2))


def test_speakers_padded_and_dirs_pass_kaldi_order(tmp_path):
    root = write_ldc_corpus(tmp_path / "synth", speakers=SYNTH_SPEAKERS, utt_names=("sx1", "sx2"))
    with pytest.raises(DataError, match="not a finished synthetic corpus"):
        open_corpus("synth", root).utterances()
    (root / ".done").write_text("")
    utts = open_corpus("synth", root).utterances()
    assert sorted({u.spk for u in utts}) == ["fsyn01", "fsyn02", "fsyn10", "msyn01", "msyn02", "msyn10"]
    assert utts[0].utt_id == "fsyn01_sx1" and all(u.phones for u in utts)
    write_data_dir(utts, tmp_path / "data")
    assert validate_data_dir(tmp_path / "data")["speakers"] == 6
