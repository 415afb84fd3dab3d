"""speechgen-perturb-speed: Kaldi's 3-way speed perturbation of a data dir."""
import math

import numpy as np
import pytest

from corpus_fixtures import RATE, write_tone
from speechgen.bin.perturb_speed import main
from speechgen.corpora.speed import parse_factors, perturb_data_dir, speed_change
from speechgen.corpora.writer import read_data_dir
from speechgen.data.audio import load_wav
from speechgen.errors import ConfigError, DataError


def _data_dir(tmp_path):
    wav = write_tone(tmp_path / "a.wav", seconds=0.5, freq=200.0)
    src = tmp_path / "data" / "train"
    src.mkdir(parents=True)
    (src / "wav.scp").write_text(f"s1_u1 {wav}\n")
    (src / "utt2spk").write_text("s1_u1 s1\n")
    (src / "spk2utt").write_text("s1 s1_u1\n")
    (src / "spk2gender").write_text("s1 f\n")
    (src / "text").write_text("s1_u1 hello\n")
    (src / "phones").write_text("s1_u1 0.0000 0.2000 h# 0.2000 0.5000 iy\n")
    return src, wav


def test_speed_change_scales_length_and_frequency():
    t = np.arange(RATE) / RATE
    x = np.sin(2 * np.pi * 200.0 * t)[:, None]
    for factor in (0.9, 1.1):
        y = speed_change(x, factor)[:, 0]
        assert len(y) == math.ceil(RATE / factor)
        spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        peak_hz = np.argmax(spectrum) * RATE / len(y)
        assert abs(peak_hz - 200.0 * factor) < 2.0  # pitch moves with the speed, as sox's `speed`


def test_three_way_data_dir(tmp_path):
    src, wav = _data_dir(tmp_path)
    dst = tmp_path / "data" / "train_sp"
    assert main([str(src), str(dst), "--factors", "0.9,1.0,1.1"]) == 0
    tables = read_data_dir(dst)
    assert list(tables["utt2spk"].items()) == [("s1_u1", "s1"), ("sp0.9-s1_u1", "sp0.9-s1"),
                                               ("sp1.1-s1_u1", "sp1.1-s1")]
    assert tables["wav.scp"]["s1_u1"] == str(wav)
    assert tables["spk2gender"]["sp1.1-s1"] == "f" and tables["text"]["sp0.9-s1_u1"] == "hello"
    slow = load_wav(tables["wav.scp"]["sp0.9-s1_u1"])
    assert len(slow) == math.ceil(0.5 * RATE / 0.9)
    assert tables["wav.scp"]["sp0.9-s1_u1"].startswith(str(tmp_path / "data" / "train_sp_wav"))
    np.testing.assert_allclose([p[:2] for p in tables["phones"]["sp1.1-s1_u1"]],
                               [(0.0, 0.2 / 1.1), (0.2 / 1.1, 0.5 / 1.1)], atol=1e-4)


def test_bad_factors_and_inputs_are_named(tmp_path, capsys):
    with pytest.raises(ConfigError, match="speed factors '0.9 fast'"):
        parse_factors("0.9 fast")
    with pytest.raises(ConfigError, match="distinct numbers"):
        parse_factors("1.1 1.1")
    src, _ = _data_dir(tmp_path)
    with pytest.raises(ConfigError, match="must lie outside the data dir"):
        perturb_data_dir(src, tmp_path / "sp", [0.9], tmp_path / "sp" / "wav")
    (src / "phone_segments").write_text("s1_u1_0 s1_u1 0.0 0.2\n")
    with pytest.raises(DataError, match="phone segments cannot be speed-perturbed"):
        perturb_data_dir(src, tmp_path / "sp", [0.9], tmp_path / "wav")
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "speechgen-perturb-speed: error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
