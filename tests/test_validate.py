"""Kaldi data dir validation: each broken file is reported with its name, line and fix."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechgen.bin import validate_data_dir as validate_cli
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def write_files(dirpath, files):
    """Write ``{name: [lines]}`` into ``dirpath``."""
    for name, lines in files.items():
        (dirpath / name).write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def data_dir(tmp_path):
    """A valid two-speaker, three-utterance data dir with phones and segments; each wav lasts 1 s."""
    wavs = {}
    for utt in ("fabc0_sa1", "fabc0_sx2", "mdef0_sa1"):
        wavs[utt] = tmp_path / f"{utt}.wav"
        sf.write(str(wavs[utt]), np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16")
    d = tmp_path / "data"
    d.mkdir()
    write_files(d, {
        "wav.scp": [f"{utt} {wav}" for utt, wav in wavs.items()],
        "utt2spk": ["fabc0_sa1 fabc0", "fabc0_sx2 fabc0", "mdef0_sa1 mdef0"],
        "spk2utt": ["fabc0 fabc0_sa1 fabc0_sx2", "mdef0 mdef0_sa1"],
        "spk2gender": ["fabc0 f", "mdef0 m"],
        "text": ["fabc0_sa1 She had your dark suit.", "fabc0_sx2 In greasy wash water.", "mdef0_sa1 All year."],
        "phones": ["fabc0_sa1 0.0000 0.1000 h# 0.1000 0.4000 aa 0.4000 1.0000 h#",
                   "fabc0_sx2 0.0000 0.5000 s 0.5000 1.0000 iy",
                   "mdef0_sa1 0.0000 1.0000 sh"],
        "phone_segments": ["fabc0_sa1_000 fabc0_sa1 0.1500 0.3500", "fabc0_sx2_000 fabc0_sx2 0.1500 0.3500",
                     "fabc0_sx2_001 fabc0_sx2 0.6500 0.8500", "mdef0_sa1_000 mdef0_sa1 0.4000 0.6000"],
        "seg2phone": ["fabc0_sa1_000 aa", "fabc0_sx2_000 s", "fabc0_sx2_001 iy", "mdef0_sa1_000 sh"],
        "seg2spk": ["fabc0_sa1_000 fabc0", "fabc0_sx2_000 fabc0", "fabc0_sx2_001 fabc0", "mdef0_sa1_000 mdef0"],
    })
    return d


def replace_line(path, lineno, new):
    """Replace line ``lineno`` (1-based) of ``path``."""
    lines = path.read_text().splitlines()
    lines[lineno - 1] = new
    path.write_text("\n".join(lines) + "\n")


def test_valid_dir_passes_with_counts(data_dir):
    assert validate_data_dir(data_dir, check_audio=True) == {"utterances": 3, "speakers": 2, "segments": 4}


def test_minimal_dir_without_optional_files_passes(data_dir):
    for name in ("spk2gender", "phones", "phone_segments", "seg2phone", "seg2spk"):
        (data_dir / name).unlink()
    assert validate_data_dir(data_dir)["segments"] == 0


def test_missing_dir(tmp_path):
    with pytest.raises(DataError, match="no such data dir"):
        validate_data_dir(tmp_path / "nope")


def test_missing_required_file(data_dir):
    (data_dir / "utt2spk").unlink()
    with pytest.raises(DataError, match=r"data/utt2spk: missing; a data dir needs wav.scp, utt2spk, spk2utt:"):
        validate_data_dir(data_dir)
    (data_dir / "utt2spk").write_text("fabc0_sa1 fabc0\nfabc0_sx2 fabc0\nmdef0_sa1 mdef0\n")
    (data_dir / "text").unlink()
    assert validate_data_dir(data_dir)["utterances"] == 3  # text is optional (no transcripts)


def test_unsorted_file_names_line_and_fix(data_dir):
    write_files(data_dir, {"utt2spk": ["fabc0_sx2 fabc0", "fabc0_sa1 fabc0", "mdef0_sa1 mdef0"]})
    with pytest.raises(DataError, match=r"utt2spk:2: not sorted in C order .*LC_ALL=C sort"):
        validate_data_dir(data_dir)


def test_c_order_not_locale_order(data_dir):
    # In C order upper case sorts before lower case; a locale-aware sort would accept 'Mzz' last.
    write_files(data_dir, {"text": ["fabc0_sa1 x", "fabc0_sx2 y", "mdef0_sa1 z", "Mzz extra"]})
    with pytest.raises(DataError, match=r"text:4: not sorted in C order \('Mzz' after 'mdef0_sa1'\)"):
        validate_data_dir(data_dir)


def test_duplicate_key(data_dir):
    write_files(data_dir, {"spk2gender": ["fabc0 f", "fabc0 f", "mdef0 m"]})
    with pytest.raises(DataError, match=r"spk2gender:2: key 'fabc0' repeats line 1"):
        validate_data_dir(data_dir)


def test_bad_gender(data_dir):
    write_files(data_dir, {"spk2gender": ["fabc0 female", "mdef0 m"]})
    with pytest.raises(DataError, match=r"spk2gender:1: gender 'female', expected f or m"):
        validate_data_dir(data_dir)


def test_spk2utt_disagreeing_with_utt2spk(data_dir):
    write_files(data_dir, {"spk2utt": ["fabc0 fabc0_sa1", "mdef0 mdef0_sa1"]})
    with pytest.raises(DataError, match=r"spk2utt:1: utterances of 'fabc0' differ from utt2spk"):
        validate_data_dir(data_dir)


def test_keys_disagreeing_across_files(data_dir):
    write_files(data_dir, {"text": ["fabc0_sa1 x", "mdef0_sa1 z"]})
    with pytest.raises(DataError, match=r"wav.scp: key 'fabc0_sx2' .* missing from .*text"):
        validate_data_dir(data_dir)


def test_missing_wav(data_dir, tmp_path):
    (tmp_path / "fabc0_sx2.wav").unlink()
    with pytest.raises(DataError, match=r"wav.scp:2: audio .*fabc0_sx2.wav.* does not exist"):
        validate_data_dir(data_dir)


def test_wrong_field_count(data_dir):
    replace_line(data_dir / "utt2spk", 3, "mdef0_sa1 mdef0 extra")
    with pytest.raises(DataError, match=r"utt2spk:3: expected the key and 1 field"):
        validate_data_dir(data_dir)


def test_overlapping_phones(data_dir):
    replace_line(data_dir / "phones", 2, "fabc0_sx2 0.0000 0.5000 s 0.4000 1.0000 iy")
    with pytest.raises(DataError, match=r"phones:2: phone 'iy' of 'fabc0_sx2' starts at 0.4 before the previous"):
        validate_data_dir(data_dir)


def test_phone_with_end_before_start(data_dir):
    replace_line(data_dir / "phones", 3, "mdef0_sa1 0.5000 0.2000 sh")
    with pytest.raises(DataError, match=r"phones:3: .*need 0 <= start < end"):
        validate_data_dir(data_dir)


def test_segment_of_unknown_utterance(data_dir):
    replace_line(data_dir / "phone_segments", 4, "mdef0_sa1_000 mdef0_sx9 0.4000 0.6000")
    with pytest.raises(DataError, match=r"segments:4: segment 'mdef0_sa1_000' refers to utterance 'mdef0_sx9'"):
        validate_data_dir(data_dir)


def test_segment_with_empty_span(data_dir):
    replace_line(data_dir / "phone_segments", 1, "fabc0_sa1_000 fabc0_sa1 0.3500 0.3500")
    with pytest.raises(DataError, match=r"segments:1: .*need 0 <= start < end"):
        validate_data_dir(data_dir)


def test_seg2phone_keys_must_match_segments(data_dir):
    write_files(data_dir, {"seg2phone": ["fabc0_sa1_000 aa", "fabc0_sx2_000 s", "mdef0_sa1_000 sh"]})
    with pytest.raises(DataError, match=r"segments: key 'fabc0_sx2_001' .*missing from .*seg2phone"):
        validate_data_dir(data_dir)


def test_seg2spk_must_agree_with_utt2spk(data_dir):
    replace_line(data_dir / "seg2spk", 4, "mdef0_sa1_000 fabc0")
    with pytest.raises(DataError, match=r"seg2spk:4: segment 'mdef0_sa1_000' has speaker 'fabc0'"):
        validate_data_dir(data_dir)


def test_segment_files_go_together(data_dir):
    (data_dir / "seg2spk").unlink()
    with pytest.raises(DataError, match=r"seg2spk: missing while phone_segments is present"):
        validate_data_dir(data_dir)


def test_audio_extent_only_checked_on_request(data_dir):
    replace_line(data_dir / "phone_segments", 3, "fabc0_sx2_001 fabc0_sx2 0.9000 1.1000")
    assert validate_data_dir(data_dir)["segments"] == 4
    with pytest.raises(DataError, match=r"segments:3: segment 'fabc0_sx2_001' ends at 1.1000 s past the end"):
        validate_data_dir(data_dir, check_audio=True)


def test_phones_past_audio(data_dir):
    replace_line(data_dir / "phones", 3, "mdef0_sa1 0.0000 1.2000 sh")
    with pytest.raises(DataError, match=r"phones:3: the alignment of 'mdef0_sa1' ends at 1.2000 s"):
        validate_data_dir(data_dir, check_audio=True)


def test_corrupt_audio_with_check_audio(data_dir, tmp_path):
    (tmp_path / "mdef0_sa1.wav").write_bytes(b"garbage" * 20)
    assert validate_data_dir(data_dir)["utterances"] == 3  # existence only
    with pytest.raises(DataError, match=r"mdef0_sa1.wav .*cannot read the audio header"):
        validate_data_dir(data_dir, check_audio=True)


def test_cli_exit_codes(data_dir, capsys):
    assert validate_cli.main([str(data_dir), "--check-audio"]) == 0
    assert "OK (3 utterances, 2 speakers, 4 segments)" in capsys.readouterr().out
    write_files(data_dir, {"utt2spk": ["fabc0_sx2 fabc0", "fabc0_sa1 fabc0", "mdef0_sa1 mdef0"]})
    assert validate_cli.main([str(data_dir)]) == 1
    assert "utt2spk:2: not sorted" in capsys.readouterr().err


def test_utils_script_runs_from_anywhere(data_dir, tmp_path):
    script = REPO / "utils" / "validate_data_dir.py"
    assert script.stat().st_mode & 0o111, "utils/validate_data_dir.py must be executable"
    ok = subprocess.run([sys.executable, str(script), str(data_dir)], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    (data_dir / "spk2utt").unlink()
    bad = subprocess.run([sys.executable, str(script), str(data_dir)], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and "spk2utt: missing" in bad.stderr


def test_speaker_order_must_agree_with_utterance_order(tmp_path):
    """Kaldi's rule: listing utterances speaker by speaker gives their sorted order (speaker ids prefix them)."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "wav.scp").write_text("a1 cat x |\nb1 cat y |\nc1 cat z |\n")
    (data / "utt2spk").write_text("a1 s2\nb1 s1\nc1 s2\n")
    (data / "spk2utt").write_text("s1 b1\ns2 a1 c1\n")
    (data / "text").write_text("a1\nb1\nc1\n")
    with pytest.raises(DataError, match=r"utt2spk:1: utterance 'a1' of speaker 's2' sorts apart .*s2-a1"):
        validate_data_dir(data)


def test_a_kaldi_segments_file_is_named(data_dir):
    (data_dir / "segments").write_text("x y 0 1\n")
    with pytest.raises(DataError, match=r"segments: a Kaldi segments file.*phone_segments.*re-run the data preparation"):
        validate_data_dir(data_dir)
