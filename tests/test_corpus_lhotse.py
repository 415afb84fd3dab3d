"""--corpus lhotse: recordings + supervisions manifests, alignments and cut supervisions."""
import numpy as np
import pytest

from corpus_fixtures import RATE, write_tone
from speechgen.corpora import open_corpus
from speechgen.corpora.writer import write_data_dir
from speechgen.data.audio import load_wav
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError

lhotse = pytest.importorskip("lhotse")


def test_supervisions_become_utterances(tmp_path):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.supervision import AlignmentItem

    wav = write_tone(tmp_path / "rec1.wav", seconds=1.0)
    rec = Recording.from_file(wav, recording_id="rec1")
    phones = [AlignmentItem("sil", 0.5, 0.1), AlignmentItem("IY1", 0.6, 0.4)]
    sups = [SupervisionSegment("s1-a", "rec1", 0.0, 0.5, speaker="s1", gender="F", text="hello"),
            SupervisionSegment("s1-b", "rec1", 0.5, 0.5, speaker="s1", gender="F", alignment={"phone": phones})]
    (tmp_path / "m").mkdir()
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "c_recordings_all.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file(tmp_path / "m" / "c_supervisions_all.jsonl.gz")
    utts = open_corpus("lhotse", tmp_path / "m").utterances()
    assert [(u.utt_id, u.spk, u.gender, u.text) for u in utts] == [("s1-a", "s1", "f", "hello"), ("s1-b", "s1", "f", "")]
    assert utts[0].phones is None and utts[1].phones == [(0.0, pytest.approx(0.1), "h#"), (pytest.approx(0.1), 0.5, "iy")]
    np.testing.assert_allclose(load_wav(utts[1].wav), load_wav(wav)[RATE // 2:], atol=1e-4)
    write_data_dir(utts, tmp_path / "data")
    assert validate_data_dir(tmp_path / "data")["utterances"] == 2


def test_missing_manifest_is_named(tmp_path):
    with pytest.raises(DataError, match=r"0 \*recordings\*.jsonl\[.gz\] files, expected one"):
        open_corpus("lhotse", tmp_path).utterances()
