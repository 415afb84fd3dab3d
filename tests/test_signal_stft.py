"""STFT/iSTFT, log-magnitude, mel filterbank and its inverse, Kaldi-style deltas."""
import math

import numpy as np
import pytest
import torch

from speechgen.errors import ConfigError
from speechgen.signal import (
    STFTConfig,
    add_deltas,
    compute_deltas,
    delta_filters,
    get_window,
    hz_to_mel,
    istft,
    log_magnitude,
    log_mel,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    mel_to_linear,
    num_frames,
    stft,
)

SETTINGS = [  # n_fft, hop, win_length, window, center
    (512, 128, 512, "hann", True),
    (400, 160, 400, "hann", True),
    (512, 160, 400, "hamming", True),
    (256, 64, 256, "sqrt_hann", True),
    (1024, 256, 800, "blackman", True),
    (512, 100, 512, "povey", True),
    (512, 128, 512, "hann", False),
]


@pytest.mark.parametrize("n_fft,hop,win,window,center", SETTINGS)
def test_perfect_reconstruction(n_fft, hop, win, window, center):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4000, generator=gen, dtype=torch.float64)
    spec = stft(x, n_fft, hop, win, window, center=center)
    assert spec.shape == (3, n_fft // 2 + 1, num_frames(4000, n_fft, hop, center))
    assert spec.dtype == torch.complex128
    if center:
        y = istft(spec, n_fft, hop, win, window, center=center, length=4000)
        assert torch.allclose(y, x, atol=1e-10), (y - x).abs().max()
    else:  # only the samples covered by a full frame come back
        y = istft(spec, n_fft, hop, win, window, center=center)
        n = y.shape[-1]
        assert torch.allclose(y[:, hop:n - hop], x[:, hop:n - hop], atol=1e-10)


def test_stft_matches_direct_dft():
    n_fft, hop = 64, 16
    x = torch.randn(1, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spec = stft(x, n_fft, hop, 48, "hann")
    w = get_window("hann", 48, n_fft, dtype=torch.float64)
    xp = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2))
    n, k = 5, torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    frame = xp[0, n * hop:n * hop + n_fft] * w
    t = torch.arange(n_fft, dtype=torch.float64)
    ref = (frame * torch.exp(-2j * math.pi * k[:, None] * t[None, :] / n_fft)).sum(-1)
    assert torch.allclose(spec[0, :, n], ref, atol=1e-10)
    # the window sits in the middle of the frame
    assert w[:8].abs().max() == 0 and w[-8:].abs().max() == 0


def test_unbatched_and_float32():
    x = torch.randn(1000)
    spec = stft(x, 256, 64)
    assert spec.shape == (129, 1 + 1000 // 64) and spec.dtype == torch.complex64
    y = istft(spec, 256, 64, length=1000)
    assert y.shape == (1000,)
    assert torch.allclose(y, x, atol=1e-5)


def test_config_roundtrip_and_errors():
    conf = STFTConfig.from_dict({"n_fft": 400, "hop_length": 160})
    assert conf.win_size == 400 and conf.n_freqs == 201
    x = torch.randn(2, 1600, dtype=torch.float64)
    assert torch.allclose(conf.istft(conf.stft(x), length=1600), x, atol=1e-10)
    with pytest.raises(ConfigError, match="hop_size"):
        STFTConfig.from_dict({"hop_size": 128})
    with pytest.raises(ConfigError, match="exceeds the window"):
        STFTConfig(n_fft=512, hop_length=600)
    with pytest.raises(ConfigError, match="window"):
        STFTConfig(window="kaiser")
    with pytest.raises(ConfigError):
        stft(x, 256, 64, win_length=300)


def test_istft_rejects_nola_violation():
    spec = stft(torch.randn(2048), 512, 512, center=False)
    with pytest.raises(ValueError, match="NOLA"):
        istft(spec, 512, 512, center=False)


def test_log_magnitude_floor():
    spec = torch.tensor([[0.0 + 0.0j, 3.0 + 4.0j]])
    out = log_magnitude(spec, floor=1e-5)
    assert torch.allclose(out, torch.tensor([[math.log(1e-5), math.log(5.0)]]))
    assert torch.allclose(log_magnitude(spec, power=2.0)[0, 1], torch.tensor(math.log(25.0)))


# ---------------------------------------------------------------- mel


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_scale_roundtrip(scale):
    f = torch.tensor([0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0], dtype=torch.float64)
    assert torch.allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-8)
    assert torch.allclose(hz_to_mel(torch.tensor(1000.0), "htk"), torch.tensor(1000.0, dtype=torch.float64),
                          atol=0.1)


def test_mel_filterbank_shape_and_area():
    fb = mel_filterbank(16000, 512, 40, scale="htk", norm=None, dtype=torch.float64)
    assert fb.shape == (40, 257)
    assert torch.all(fb >= 0) and torch.allclose(fb.max(dim=1).values, torch.ones(40, dtype=torch.float64),
                                                 atol=0.35)
    fb_n = mel_filterbank(16000, 512, 40, norm="slaney", dtype=torch.float64)
    assert torch.all(fb_n.sum(1) > 0)
    with pytest.raises(ConfigError):
        mel_filterbank(16000, 512, 40, fmax=9000)


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    for htk in (False, True):
        ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=20, fmax=7600, htk=htk)
        fb = mel_filterbank(16000, 512, 64, 20, 7600, scale="htk" if htk else "slaney", dtype=torch.float64)
        assert np.allclose(fb.numpy(), ref, atol=1e-6 * np.abs(ref).max())


def _smooth_spectrum(n_freqs=257, frames=6):
    f = torch.linspace(0, 1, n_freqs, dtype=torch.float64)[:, None]
    centres = torch.linspace(0.1, 0.6, frames, dtype=torch.float64)[None, :]
    return (1.0 + 0.5 * torch.cos(4 * math.pi * f) + 2.0 * torch.exp(-((f - centres) / 0.15) ** 2)).unsqueeze(0)


@pytest.mark.parametrize("method", ["nnls", "pinv"])
def test_mel_inverse_recovers_smooth_spectrum(method):
    fb = mel_filterbank(16000, 512, 128, fmin=0, fmax=8000, dtype=torch.float64)
    spec = _smooth_spectrum()
    mel = mel_spectrogram(spec, fb)
    assert mel.shape == (1, 128, 6)
    rec = mel_to_linear(mel, fb, method=method, n_iter=300)
    assert rec.shape == spec.shape and torch.all(rec >= 0)
    # where the triangles overlap (away from the band edges, which no triangle pair spans)
    centres = fb.argmax(dim=1)
    band = slice(int(centres[0]), int(centres[-3]) + 1)
    rel = (rec[0, band] - spec[0, band]).norm() / spec[0, band].norm()
    assert rel < 0.005, rel
    # and the mel projection of the estimate matches the input mel spectrum
    assert torch.allclose(mel_spectrogram(rec, fb), mel, rtol=2e-2, atol=1e-3 * float(mel.max()))


def test_nnls_beats_clipped_pinv_on_sparse_spectrum():
    fb = mel_filterbank(16000, 512, 40, dtype=torch.float64)
    f = torch.arange(257, dtype=torch.float64)
    spec = torch.exp(-((f - 60.0) / 4.0) ** 2).view(1, -1, 1) + torch.exp(-((f - 150.0) / 6.0) ** 2).view(1, -1, 1)
    mel = mel_spectrogram(spec, fb)
    res = {m: (mel_spectrogram(mel_to_linear(mel, fb, method=m, n_iter=500), fb) - mel).norm() / mel.norm()
           for m in ("pinv", "nnls")}
    assert res["nnls"] < 0.5 * res["pinv"], res


def test_log_mel_floor_and_batch():
    fb = mel_filterbank(16000, 400, 40)
    x = torch.randn(2, 3200)
    mag = stft(x, 400, 160).abs()
    lm = log_mel(mag, fb)
    assert lm.shape == (2, 40, 21) and torch.isfinite(lm).all()
    silent = log_mel(torch.zeros(1, 201, 3), fb, floor=1e-5)
    assert torch.allclose(silent, torch.full_like(silent, math.log(1e-5)))


# ---------------------------------------------------------------- deltas


def _hand_delta(c, window):
    n = len(c)
    denom = 2 * sum(k * k for k in range(1, window + 1))
    clamp = lambda i: c[min(max(i, 0), n - 1)]  # noqa: E731
    return [sum(k * (clamp(t + k) - clamp(t - k)) for k in range(1, window + 1)) / denom for t in range(n)]


def test_deltas_match_hand_computed_regression():
    c = [0.0, 1.0, 4.0, 2.0, -3.0, 5.0, 5.0]
    x = torch.tensor(c, dtype=torch.float64).view(1, 1, -1)
    for window in (1, 2, 3):
        got = compute_deltas(x, window=window)[0, 0].tolist()
        assert np.allclose(got, _hand_delta(c, window))
    # Kaldi's delta-delta filter for window 2
    expected = np.array([0.04, 0.04, 0.01, -0.04, -0.1, -0.04, 0.01, 0.04, 0.04])
    assert np.allclose(delta_filters(2, 2)[2].numpy(), expected)
    # Kaldi applies the convolved filter to the clamped static features
    dd = compute_deltas(x, window=2, order=2)[0, 0].numpy()
    n = len(c)
    ref = [sum(expected[j + 4] * c[min(max(t + j, 0), n - 1)] for j in range(-4, 5)) for t in range(n)]
    assert np.allclose(dd, ref)


def test_add_deltas_layout():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 5, 30, generator=gen, dtype=torch.float64)
    out = add_deltas(feats, order=2, window=2)
    assert out.shape == (2, 15, 30)
    assert torch.equal(out[:, :5], feats)
    assert torch.allclose(out[:, 5:10], compute_deltas(feats, 2))
    assert torch.allclose(out[:, 10:], compute_deltas(feats, 2, order=2))
    # time-first layout (Kaldi's (N, D)) gives the same numbers
    tf = add_deltas(feats[0].T, order=2, window=2, time_dim=0, feat_dim=1)
    assert torch.allclose(tf.T, out[0])
    # a linear ramp has a constant delta and zero delta-delta away from the edges
    ramp = torch.arange(20, dtype=torch.float64).view(1, 1, -1) * 0.5
    d = add_deltas(ramp)
    assert torch.allclose(d[0, 1, 4:-4], torch.full((12,), 0.5, dtype=torch.float64))
    assert torch.allclose(d[0, 2, 4:-4], torch.zeros(12, dtype=torch.float64), atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = torch.randn(2, 3000, dtype=torch.float64)
    spec = stft(x, 400, 160)
    spec_gpu = stft(x.cuda(), 400, 160)
    assert torch.allclose(spec_gpu.cpu(), spec, atol=1e-9)
    assert torch.allclose(istft(spec_gpu, 400, 160, length=3000).cpu(), x, atol=1e-9)
    fb = mel_filterbank(16000, 400, 40, device="cuda", dtype=torch.float64)
    assert torch.allclose(log_mel(spec_gpu.abs(), fb).cpu(), log_mel(spec.abs(), fb.cpu()), atol=1e-9)
