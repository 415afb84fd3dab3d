import kaldiio
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import stft as scipy_stft

from speechgen.bin import compute_feats
from speechgen.data.audio import load_wav
from speechgen.data.features import SegmentSpecConfig, analysis_starts, segment_log_spectrograms
from speechgen.errors import DataError

CONF = SegmentSpecConfig()


def make_data_dir(root, durations=(1.0, 0.6), sr=16000, seed=0):
    """wav.scp + segments of two utterances; segments touch both utterance edges."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    wav_lines, seg_lines, phone_lines = [], [], []
    for u, dur in enumerate(durations):
        utt = f"spk{u}_utt{u}"
        path = root / f"{utt}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(dur * sr))).astype(np.float32), sr, subtype="PCM_16")
        wav_lines.append(f"{utt} {path}\n")
        for k, (s, e) in enumerate([(0.0, 0.2), (dur / 2 - 0.1, dur / 2 + 0.1), (dur - 0.2, dur)]):
            seg = f"{utt}_{k:03d}"
            seg_lines.append(f"{seg} {utt} {s:.4f} {e:.4f}\n")
            phone_lines.append(f"{seg} aa\n")
    (root / "wav.scp").write_text("".join(wav_lines))
    (root / "phone_segments").write_text("".join(seg_lines))
    (root / "seg2phone").write_text("".join(phone_lines))
    return root


def test_config_gives_20_by_200():
    assert (CONF.n_frames, CONF.n_bins, CONF.span) == (20, 200, 3440)


def test_analysis_span_is_centred_and_shifted_inside_at_edges():
    n = 16000
    bounds = np.array([[0, 3200], [6400, 9600], [n - 3200, n]])
    starts = analysis_starts(bounds, n, CONF)
    assert starts[0] == 0  # shifted right, not padded
    assert starts[1] == 8000 - 1720  # centred
    assert starts[2] == n - CONF.span  # shifted left
    with pytest.raises(DataError, match="shorter than one segment"):
        analysis_starts(bounds, 3000, CONF)


def test_segment_spectrogram_matches_scipy_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8000).astype(np.float32)
    starts = np.array([0, 1234, 8000 - CONF.span])
    feats = segment_log_spectrograms(x, starts, CONF)
    assert feats.shape == (3, 20, 200) and feats.dtype == np.float32
    for s, mat in zip(starts, feats):
        _, _, ref = scipy_stft(x[s:s + CONF.span], window="hann", nperseg=400, noverlap=240, nfft=400,
                               boundary=None, padded=False, scaling="spectrum")
        ref = np.log(np.maximum(np.abs(ref[1:]).T * 200.0, CONF.floor))  # undo scipy's 1/sum(window)
        np.testing.assert_allclose(mat, ref, atol=2e-4)


def test_jobs_and_merge_write_readable_ark_scp(tmp_path):
    data = make_data_dir(tmp_path / "data")
    out = tmp_path / "dump"
    for job in (1, 2):
        assert compute_feats.main([str(data), str(out), "--nj", "2", "--job", str(job)]) == 0
    assert compute_feats.main([str(data), str(out), "--nj", "2", "--merge"]) == 0
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert sorted(feats) == sorted(line.split()[0] for line in (data / "phone_segments").read_text().splitlines())
    assert all(m.shape == (20, 200) for m in feats.values())
    assert (out / "seg2phone").read_text() == (data / "seg2phone").read_text()
    # same as a single-process run
    single = tmp_path / "single"
    assert compute_feats.main([str(data), str(single)]) == 0
    for key, mat in kaldiio.load_scp(str(single / "feats.scp")).items():
        np.testing.assert_array_equal(mat, feats[key])


def test_merge_refuses_missing_job(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data")
    out = tmp_path / "dump"
    assert compute_feats.main([str(data), str(out), "--nj", "2", "--job", "1"]) == 0
    assert compute_feats.main([str(data), str(out), "--nj", "2", "--merge"]) == 1
    assert "job 2 did not finish" in capsys.readouterr().err
    assert not (out / "feats.scp").exists()


def test_segment_past_end_of_audio_is_an_error(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data")
    with open(data / "phone_segments", "a") as f:
        f.write("spk1_utt1_009 spk1_utt1 0.5000 0.7000\n")
    assert compute_feats.main([str(data), str(tmp_path / "dump")]) == 1
    err = capsys.readouterr().err
    assert "past the audio's end" in err and "spk1_utt1" in err
    assert not (tmp_path / "dump" / "feats.scp").exists()


def test_corrupt_and_wrong_rate_wavs_are_named(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(DataError, match=r"bad\.wav: cannot read audio"):
        load_wav(bad)
    rate = tmp_path / "rate.wav"
    sf.write(rate, np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(DataError, match=r"rate\.wav: sample rate 8000 Hz, expected 16000 Hz"):
        load_wav(rate)
    with pytest.raises(DataError, match="no such audio file"):
        load_wav(tmp_path / "missing.wav")
    data = make_data_dir(tmp_path / "data")
    first = (data / "wav.scp").read_text().splitlines()[0].split()[1]
    sf.write(first, np.zeros(16000, dtype=np.float32), 22050)
    assert compute_feats.main([str(data), str(tmp_path / "dump")]) == 1
    assert "sample rate 22050 Hz" in capsys.readouterr().err


def test_a_nan_sample_stops_the_feature_stage_naming_the_wav(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data")
    first = (data / "wav.scp").read_text().splitlines()[0].split()[1]
    x, sr = sf.read(first, dtype="float32")
    x[100] = np.nan
    sf.write(first, x, sr, subtype="FLOAT")
    with pytest.raises(DataError, match=r"holds inf/NaN samples; re-export it"):
        load_wav(first)
    assert compute_feats.main([str(data), str(tmp_path / "dump")]) == 1
    err = capsys.readouterr().err
    assert f"{first}: the audio holds inf/NaN samples" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "dump" / "feats.scp").exists()
