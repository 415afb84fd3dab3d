"""Phase derivatives: principal value, group delay of an impulse, instantaneous frequency of a tone."""
import math

import pytest
import torch

from speechgen.signal import (
    bin_frequencies,
    group_delay,
    instantaneous_frequency,
    pghi_phase_gradients,
    principal_value,
    stft,
)

SR = 16000


def test_principal_value_range_and_identity():
    x = torch.linspace(-20, 20, 1001, dtype=torch.float64)
    p = principal_value(x)
    assert torch.all(p >= -math.pi) and torch.all(p < math.pi)
    # differs from the input by whole turns only
    turns = (x - p) / (2 * math.pi)
    assert torch.allclose(turns, turns.round(), atol=1e-12)
    inside = torch.tensor([-3.0, 0.0, 1.5, 3.1], dtype=torch.float64)
    assert torch.equal(principal_value(inside), inside)
    assert principal_value(torch.tensor(math.pi, dtype=torch.float64)).item() == pytest.approx(-math.pi)


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (400, 160)])
def test_group_delay_of_delayed_impulse_is_the_delay(n_fft, hop):
    t0 = 2000
    x = torch.zeros(1, 4000, dtype=torch.float64)
    x[0, t0] = 1.0
    spec = stft(x, n_fft, hop)
    gd = group_delay(spec, unit="samples", reference="centre")
    assert gd.shape == spec.shape
    mag = spec.abs()
    checked = 0
    for n in range(spec.shape[-1]):
        delay = t0 - n * hop  # from the frame centre
        if abs(delay) < 0.4 * n_fft and mag[0, :, n].max() > 1e-3:
            assert torch.allclose(gd[0, :, n], torch.full_like(gd[0, :, n], float(delay)), atol=1e-6), n
            checked += 1
    assert checked >= 2
    # from the frame start the delay is n_fft / 2 longer (mod n_fft): check the frame centred on t0
    n0 = t0 // hop if t0 % hop == 0 else None
    if n0 is not None:
        gd_start = group_delay(spec, unit="samples", reference="start")[0, :, n0]
        assert torch.allclose(gd_start.abs(), torch.full_like(gd_start, n_fft / 2), atol=1e-6)
    # radians per bin and seconds are the same quantity in other units
    rad = group_delay(spec, reference="centre")
    assert torch.allclose(rad * n_fft / (2 * math.pi), gd, atol=1e-9)
    sec = group_delay(spec, unit="seconds", n_fft=n_fft, sample_rate=SR, reference="centre")
    assert torch.allclose(sec * SR, gd, atol=1e-9)


def test_instantaneous_frequency_of_pure_tone():
    f0 = 1234.5  # between bins
    n_fft, hop = 512, 128
    t = torch.arange(16000, dtype=torch.float64) / SR
    x = torch.cos(2 * math.pi * f0 * t + 0.3).unsqueeze(0)
    spec = stft(x, n_fft, hop)
    ifreq = instantaneous_frequency(spec, hop, unit="hz", sample_rate=SR)
    k = round(f0 * n_fft / SR)
    frames = slice(5, spec.shape[-1] - 5)
    # the bins of the main lobe all see the tone frequency
    for m in (k - 1, k, k + 1):
        assert torch.allclose(ifreq[0, m, frames], torch.full_like(ifreq[0, m, frames], f0), atol=0.05), m
    # relative to the bin centre: the offset of the tone
    rel = instantaneous_frequency(spec, hop, relative=True, unit="hz", sample_rate=SR)
    centre = bin_frequencies(n_fft, SR, dtype=torch.float64)[k]
    assert torch.allclose(rel[0, k, frames], torch.full_like(rel[0, k, frames], f0 - float(centre)), atol=0.05)
    # raw radians per hop: the wrapped phase advance 2 pi f0 hop / sr
    rad = instantaneous_frequency(spec, hop)
    expected = principal_value(torch.tensor(2 * math.pi * f0 * hop / SR, dtype=torch.float64))
    assert torch.allclose(rad[0, k, frames], expected.expand_as(rad[0, k, frames]), atol=1e-4)
    assert torch.all(rad >= -math.pi) and torch.all(rad < math.pi)
    cycles = instantaneous_frequency(spec, hop, unit="cycles")
    assert torch.allclose(cycles * SR, ifreq, atol=1e-6)


def test_magnitude_only_gradients_match_true_phase_derivatives():
    """PGHI's Gaussian relations: the time derivative from the magnitude tracks the true IF."""
    n_fft, hop = 512, 128
    t = torch.arange(8000, dtype=torch.float64) / SR
    frames = slice(5, -5)
    for f0 in (1000.0, 1234.5, 3000.3):
        x = torch.sin(2 * math.pi * f0 * t).unsqueeze(0)
        spec = stft(x, n_fft, hop)
        dphi_dn, dphi_dm = pghi_phase_gradients(spec.abs(), n_fft, hop)
        k = round(f0 * n_fft / SR)  # the peak bin, where the Gaussian model of the lobe holds
        hz = dphi_dn[0, k, frames] * SR / (2 * math.pi * hop)  # unwrapped advance per hop, in Hz
        assert torch.allclose(hz, torch.full_like(hz, f0), atol=0.5), (f0, hz[:3])
        # a stationary tone has no time variation of the magnitude: dphi/dm = pi (frame-start reference)
        assert torch.allclose(dphi_dm[0, k, frames], torch.full_like(dphi_dm[0, k, frames], math.pi), atol=1e-6)
    # an impulse: dphi/dm from the magnitude follows the true group delay near the impulse
    imp = torch.zeros(1, 4000, dtype=torch.float64)
    n, d = 15, 40  # the impulse sits d samples after the centre of frame n
    imp[0, n * hop + d] = 1.0
    spec = stft(imp, n_fft, hop)
    _, dphi_dm = pghi_phase_gradients(spec.abs(), n_fft, hop)
    true = -2 * math.pi * (d + n_fft / 2) / n_fft  # phase slope per bin, frame-start reference
    est = dphi_dm[0, 20:240, n]
    assert torch.allclose(principal_value(est - true), torch.zeros_like(est), atol=0.1)


def test_input_validation():
    with pytest.raises(ValueError):
        group_delay(torch.randn(2, 10, 5))  # not complex
    spec = stft(torch.randn(1, 2000), 256, 64)
    with pytest.raises(ValueError):
        instantaneous_frequency(spec, 64, unit="hz")  # no sample rate
    with pytest.raises(ValueError):
        group_delay(spec, unit="seconds")
