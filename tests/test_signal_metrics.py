"""Objective metrics: sane values on identical/degraded signals, clear errors on unusable inputs."""
import numpy as np
import pytest
import torch

from speechgen.errors import DataError
from speechgen.signal import (
    estoi,
    evaluate,
    log_spectral_distance,
    pesq,
    si_sdr,
    spectral_convergence,
    spectral_convergence_mag,
    stoi,
)

pytest.importorskip("pesq")
pytest.importorskip("pystoi")


def speechlike(seconds=2.0, sr=16000, seed=0):
    """Syllable-rate modulated harmonic complex with formant-like spectral peaks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros(n)
    for h in range(1, 30):
        fh = h * f0
        amp = np.exp(-((fh - 600) / 250) ** 2) + 0.5 * np.exp(-((fh - 1700) / 350) ** 2) + 0.03
        x += np.where(fh < sr / 2, amp, 0) * np.sin(h * phase)
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    x = x * env + 0.002 * rng.standard_normal(n)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def ref():
    return speechlike()


@pytest.fixture(scope="module")
def noisy(ref):
    rng = np.random.default_rng(1)
    return (ref + 0.02 * rng.standard_normal(ref.size)).astype(np.float32)


def test_identical_signals(ref):
    assert pesq(ref, ref, 16000, "wb", utt_id="u1") > 4.5
    assert pesq(ref, ref, 16000, "nb", utt_id="u1") > 4.4
    assert stoi(ref, ref, 16000, utt_id="u1") > 0.99
    assert estoi(ref, ref, 16000, utt_id="u1") > 0.99
    assert si_sdr(ref, ref, utt_id="u1") > 100
    assert log_spectral_distance(ref, ref, utt_id="u1") < 1e-6
    assert spectral_convergence(ref, ref, utt_id="u1") < 1e-6


def test_degraded_scores_lower(ref, noisy):
    scores = evaluate(ref, noisy, 16000, utt_id="u2")
    assert set(scores) == {"pesq_wb", "stoi", "estoi", "si_sdr", "lsd", "sc"}
    assert 1.0 < scores["pesq_wb"] < 4.0
    assert scores["stoi"] < 0.99 and scores["estoi"] < scores["stoi"] + 0.05
    assert 5 < scores["si_sdr"] < 40
    assert scores["lsd"] > 1.0 and 0 < scores["sc"] < 1
    # SI-SDR is scale-invariant; torch tensors are accepted
    assert si_sdr(torch.from_numpy(ref), torch.from_numpy(3 * noisy), utt_id="u2") == pytest.approx(
        scores["si_sdr"], abs=1e-6)


def test_narrowband_at_8k(ref):
    x8 = ref[::2].copy()  # crude decimation is fine for identity scores
    assert pesq(x8, x8, 8000, "nb", utt_id="u8") > 4.4


def test_small_length_mismatch_is_trimmed(ref, noisy):
    assert si_sdr(ref, noisy[:-100], utt_id="u3") == pytest.approx(si_sdr(ref[:-100], noisy[:-100], utt_id="u3"))
    with pytest.raises(DataError, match="u3.*samples"):
        si_sdr(ref, noisy[:-5000], utt_id="u3")


@pytest.mark.parametrize("metric", ["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "sc", "lsd"])
def test_silent_reference_is_a_clear_error(ref, metric):
    silent = np.zeros_like(ref)
    with pytest.raises(DataError, match=r"^spk1_utt7: .*silen"):
        evaluate(silent, ref, 16000, utt_id="spk1_utt7", metrics=[metric])


def test_silent_degraded_signal_is_named(ref):
    with pytest.raises(DataError, match=r"^utt9: the degraded signal is silent"):
        pesq(ref, np.zeros_like(ref), 16000, utt_id="utt9")
    with pytest.raises(DataError, match=r"^utt9: the degraded signal is silent"):
        stoi(ref, np.zeros_like(ref), 16000, utt_id="utt9")


def test_too_short(ref):
    short = ref[:1600]  # 0.1 s
    with pytest.raises(DataError, match=r"^short_1: .*too short.*0.25 s"):
        pesq(short, short, 16000, utt_id="short_1")
    with pytest.raises(DataError, match=r"^short_1: too little speech for STOI"):
        stoi(short, short, 16000, utt_id="short_1")
    with pytest.raises(DataError, match=r"^short_1: too little speech for ESTOI"):
        estoi(short, short, 16000, utt_id="short_1")


def test_wrong_sample_rate(ref):
    with pytest.raises(DataError, match=r"^u44: PESQ-WB needs a sample rate of 16000 Hz, got 44100"):
        pesq(ref, ref, 44100, "wb", utt_id="u44")
    with pytest.raises(DataError, match=r"^u8: PESQ-WB needs a sample rate of 16000 Hz, got 8000"):
        pesq(ref[::2], ref[::2], 8000, "wb", utt_id="u8")
    with pytest.raises(DataError, match=r"^u22: PESQ-NB needs a sample rate of 8000 or 16000 Hz"):
        pesq(ref, ref, 22050, "nb", utt_id="u22")


def test_non_finite_and_bad_shapes(ref):
    bad = ref.copy()
    bad[100] = np.nan
    with pytest.raises(DataError, match=r"^u5: the degraded signal contains NaN"):
        pesq(ref, bad, 16000, utt_id="u5")
    with pytest.raises(DataError, match=r"^u5: the reference signal has shape"):
        si_sdr(np.stack([ref, ref, ref]), ref, utt_id="u5")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(ref, ref, metrics=["mos"])


def test_spectral_convergence_mag_batched():
    a = torch.rand(3, 10, 7, dtype=torch.float64)
    assert torch.allclose(spectral_convergence_mag(a, a), torch.zeros(3, dtype=torch.float64))
    sc = spectral_convergence_mag(2 * a, a)
    assert torch.allclose(sc, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="all-zero"):
        spectral_convergence_mag(a, torch.zeros_like(a))
