"""Von Mises likelihoods, phase-difference losses, the M / J1-J7 configs of egs/chime_complex, and
the complex-spectrogram VAE's forward pass, phase conditioning and phase decoding."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from speechgen.data.tables import Cmvn
from speechgen.errors import ConfigError
from speechgen.losses.von_mises import (
    frequency_difference,
    group_delay_nll,
    instantaneous_frequency_nll,
    time_difference,
    von_mises_nll,
)
from speechgen.models.complex_vae import (
    JOINT_MODELS,
    ComplexSpectrogramVAE,
    integrate_phase_tree,
    random_phase,
)
from speechgen.signal import group_delay, instantaneous_frequency, principal_value, stft
from speechgen.train.config import build_model, load_config

from chime_complex_helpers import RECIPE

SMALL = dict(n_bins=33, n_fft=64, hop_length=16, latent_dim=4, context=1, hidden=16, phase_channels=4,
             phase_layers=2, phase_z_channels=2, phase_dilations=[1, 2])


@pytest.mark.parametrize("kappa", [0.01, 0.5, 2.0, 30.0, 400.0])
def test_von_mises_nll_matches_scipy(kappa):
    x = torch.linspace(-7.0, 7.0, 57, dtype=torch.float64)
    loc = torch.tensor(0.7, dtype=torch.float64)
    ours = von_mises_nll(x, loc, kappa).numpy()
    ref = -stats.vonmises.logpdf(principal_value(x - loc).numpy(), kappa)
    assert np.allclose(ours, ref, rtol=1e-9, atol=1e-9)
    # a tensor concentration broadcasts, and the density integrates to one on the circle
    grid = torch.linspace(-math.pi, math.pi, 20001, dtype=torch.float64)
    density = torch.exp(-von_mises_nll(grid, loc, torch.tensor(kappa, dtype=torch.float64)))
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-6)


def test_phase_differences_on_a_known_field():
    f = torch.arange(6, dtype=torch.float64).view(6, 1)
    t = torch.arange(9, dtype=torch.float64).view(1, 9)
    phase = principal_value(1.3 * t - 0.4 * f + 0.2 * f * t)
    assert torch.allclose(time_difference(phase), principal_value(1.3 + 0.2 * f).expand(6, 8))
    assert torch.allclose(frequency_difference(phase), principal_value(0.4 - 0.2 * t).expand(5, 9))
    # the NLL of the true differences is smallest at the true differences, and equals the plain NLL
    kappa = 3.0
    true_if = time_difference(phase)
    assert torch.allclose(instantaneous_frequency_nll(phase, true_if, kappa), von_mises_nll(true_if, true_if, kappa))
    shifted = instantaneous_frequency_nll(phase, true_if + 0.5, kappa)
    assert torch.all(shifted > instantaneous_frequency_nll(phase, true_if, kappa))
    true_gd = frequency_difference(phase)  # a whole turn more is the same location
    assert torch.allclose(group_delay_nll(phase, true_gd + 2 * math.pi, kappa), von_mises_nll(true_gd, true_gd, kappa))


def test_differences_follow_the_signal_conventions():
    x = torch.randn(2, 4000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    spec = stft(x, 512, 128)
    phase = torch.angle(spec)
    assert torch.allclose(frequency_difference(phase), group_delay(spec)[..., :-1, :], atol=1e-9)
    assert torch.allclose(time_difference(phase), instantaneous_frequency(spec, 128)[..., 1:], atol=1e-9)


@pytest.mark.parametrize("name", ["M", *JOINT_MODELS])
@pytest.mark.parametrize("debug", [False, True])
def test_recipe_configs_build_with_the_right_terms(name, debug):
    conf = load_config(RECIPE / "conf" / f"{name}{'_debug' if debug else ''}.yaml")
    model = build_model(conf)
    assert isinstance(model, ComplexSpectrogramVAE)
    assert model.phase_terms == JOINT_MODELS.get(name, ())
    assert (model.phase_decoder is None) == (name == "M")
    assert (model.n_fft, model.hop_length, model.n_bins) == (512, 128, 257)


def test_joint_models_are_the_seven_combinations_in_order():
    assert list(JOINT_MODELS) == [f"J{i}" for i in range(1, 8)]
    assert list(JOINT_MODELS.values()) == [("phase",), ("gd",), ("if",), ("phase", "gd"), ("phase", "if"),
                                           ("gd", "if"), ("phase", "gd", "if")]


def _batch(b=3, t=10, f=33, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"feats": torch.randn(b, t, f, generator=gen),
            "phase": (torch.rand(b, t, f, generator=gen) * 2 - 1) * math.pi,
            "mask": torch.ones(b, t, dtype=torch.bool)}


@pytest.mark.parametrize("terms", [(), *JOINT_MODELS.values()])
@pytest.mark.parametrize("param", ["local", "field"])
def test_forward_is_finite_with_every_term_set(terms, param):
    torch.manual_seed(0)
    model = ComplexSpectrogramVAE(phase_terms=terms, phase_param=param, **SMALL)
    loss, stat = model(_batch())
    assert torch.isfinite(loss)
    loss.backward()
    assert {f"{t}_nll" for t in terms} <= set(stat) and "mag_nll" in stat and stat["loss"] == loss.item()
    for term in terms:  # an untrained decoder is close to a uniform guess, log(2 pi)
        assert 0.5 < stat[f"{term}_nll"] < 4.0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_fixed_concentration_and_linear_magnitude():
    model = ComplexSpectrogramVAE(phase_terms=("gd", "if"), concentration="fixed", fixed_concentration=2.0,
                                  magnitude_domain="linear", **SMALL)
    heads = model.phase_heads(torch.randn(1, 4, 7), torch.randn(1, 33, 7))
    assert torch.all(heads["gd"][1] == 2.0) and heads["gd"][0].shape == (1, 32, 7)
    assert heads["if"][0].shape == (1, 33, 6)
    loss, _ = model(_batch())
    assert torch.isfinite(loss)


@pytest.mark.parametrize("param", ["local", "field"])
def test_prior_head_start_predicts_the_deterministic_phase_advances(param):
    """phase_head_init: prior starts IF at the bin-centre advance, GD at pi per bin (local), phase 0,
    every concentration 0.5; the heads still learn (their weights get gradients)."""
    model = ComplexSpectrogramVAE(phase_terms=("phase", "gd", "if"), phase_param=param, phase_head_init="prior",
                                  **SMALL)
    heads = model.phase_heads(torch.randn(2, 4, 7), torch.randn(2, 33, 7))
    for term, (loc, kappa) in heads.items():
        assert torch.allclose(kappa, torch.full_like(kappa, 0.5), atol=1e-6), term
    assert torch.all(heads["phase"][0] == 0)
    if param == "local":
        assert torch.allclose(heads["if"][0], principal_value(model.if_offset).expand(2, 33, 6))
        assert torch.allclose(heads["gd"][0].abs(), torch.full((2, 32, 7), math.pi))
    else:  # the differences of a constant field
        assert torch.all(heads["if"][0] == 0) and torch.all(heads["gd"][0] == 0)
    loss, _ = model(_batch())
    loss.backward()
    assert model.phase_decoder.head.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="phase_head_init"):
        ComplexSpectrogramVAE(phase_head_init="zeros", **SMALL)


def test_phase_conditioning_on_the_estimated_magnitude_can_be_switched_off():
    z = torch.randn(1, 4, 7)
    logmag_a, logmag_b = torch.randn(1, 33, 7), torch.randn(1, 33, 7)
    for condition in (True, False):
        torch.manual_seed(0)
        model = ComplexSpectrogramVAE(phase_terms=("phase", "if"), condition_on_magnitude=condition, **SMALL)
        a = model.phase_heads(z, logmag_a)["if"][0]
        b = model.phase_heads(z, logmag_b)["if"][0]
        assert torch.allclose(a, b) != condition
        assert model.phase_decoder.body[0].in_channels == SMALL["phase_z_channels"] + 1 + int(condition)


@pytest.mark.parametrize("detach", [True, False])
def test_phase_loss_reaches_the_magnitude_decoder_only_without_detach(detach):
    def magnitude_grads(weight):
        torch.manual_seed(0)
        model = ComplexSpectrogramVAE(phase_terms=("if",), detach_magnitude=detach, term_weights={"if": weight},
                                      **SMALL)
        torch.manual_seed(1)
        model(_batch())[0].backward()
        return torch.cat([p.grad.flatten() for p in model.magnitude_decoder.parameters()])

    assert torch.allclose(magnitude_grads(1.0), magnitude_grads(0.0)) == detach


def test_frozen_magnitude_networks_get_no_gradients():
    model = ComplexSpectrogramVAE(phase_terms=("gd",), freeze_magnitude=True, **SMALL)
    loss, _ = model(_batch())
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.magnitude_decoder.parameters())
    assert any(p.grad is not None for p in model.phase_decoder.parameters())


def test_linear_path_starts_at_the_pca_of_the_training_frames():
    """On frames of rank k = latent_dim the model starts as PCA: its reconstruction is exact; a model
    started from M keeps M's weights instead."""
    gen = torch.Generator().manual_seed(0)
    k, f = SMALL["latent_dim"], SMALL["n_bins"]
    frames = torch.randn(400, k, generator=gen) @ torch.randn(k, f, generator=gen) + 0.5
    batches = [{"feats": frames[i:i + 100].view(10, 10, f), "mask": torch.ones(10, 10, dtype=torch.bool)}
               for i in range(0, 400, 100)]
    model = ComplexSpectrogramVAE(phase_terms=(), linear_path=True, **SMALL)
    model.setup_training(Cmvn(np.zeros(f), np.ones(f)), fresh=True)
    assert model.needs_data_pass
    model.init_from_data(batches)
    assert not model.needs_data_pass
    x = frames[:50].view(5, 10, f)
    z = model.encode(x)  # whitened coordinates: unit variance over the training frames
    assert torch.allclose(model.encode(frames.view(40, 10, f)).transpose(1, 2).reshape(-1, k).var(0),
                          torch.ones(k), atol=0.05)
    assert torch.allclose(model.reconstruct(x)["log_magnitude"].transpose(1, 2), x, atol=1e-3)
    assert z.shape == (5, k, 10)
    joint = ComplexSpectrogramVAE(phase_terms=("gd",), linear_path=True, **SMALL)
    joint.setup_training(Cmvn(np.zeros(f), np.ones(f)), fresh=True,
                         init_state=model.state_dict())
    assert not joint.needs_data_pass
    assert torch.equal(joint.encoder.linear.weight, model.encoder.linear.weight)
    with pytest.raises(ConfigError, match="linear_path needs magnitude_domain: log"):
        ComplexSpectrogramVAE(linear_path=True, magnitude_domain="linear", **SMALL)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="phase_terms"):
        ComplexSpectrogramVAE(phase_terms=("phase", "delay"), **SMALL)
    with pytest.raises(ConfigError, match="n_bins=33 does not match n_fft=512"):
        ComplexSpectrogramVAE(**{**SMALL, "n_fft": 512})
    with pytest.raises(ConfigError, match="phase_param"):
        ComplexSpectrogramVAE(phase_param="global", **SMALL)


def _speech_like(seconds=0.5, sr=8000):
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    f0 = 150 + 30 * torch.sin(2 * math.pi * 2 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sr
    x = sum(torch.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    return x + 1e-3 * torch.randn(t.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_tree_integration_of_true_differences_gives_the_true_phase():
    spec = stft(_speech_like(), 128, 32)
    phase, logmag = torch.angle(spec).numpy(), torch.log(spec.abs()).numpy()
    kappa = np.exp(logmag - logmag.max()) * 100 + 1e-3  # reliable where loud
    steps = (time_difference(torch.from_numpy(phase)).numpy(), kappa[:, 1:])
    delays = (frequency_difference(torch.from_numpy(phase)).numpy(), kappa[1:, :])
    est = integrate_phase_tree(logmag, time_step=steps, freq_delay=delays)
    def circular_close(a, b, atol):  # equal modulo 2 pi
        return np.allclose(np.sin(a - b), 0, atol=atol) and np.allclose(np.cos(a - b), 1, atol=atol)

    offset = est - phase
    assert circular_close(offset, np.full_like(offset, offset.flat[0]), 1e-6)  # one root: exact up to a constant
    root = np.unravel_index(np.argmax(logmag), logmag.shape)
    assert abs(est[root]) < 1e-9
    # with a unary phase term only, the phase is the predicted phase
    unary = integrate_phase_tree(logmag, unary=(phase, kappa))
    assert circular_close(unary, phase, 1e-9)
    # only time steps: each bin is integrated along time from its loudest frame
    rows = integrate_phase_tree(logmag, time_step=steps)
    per_bin = rows - phase
    assert circular_close(per_bin, np.broadcast_to(per_bin[:, :1], per_bin.shape), 1e-6)


def test_estimate_phase_of_a_joint_model_and_random_phase_of_m():
    torch.manual_seed(0)
    for param in ("local", "field"):
        for terms in JOINT_MODELS.values():
            model = ComplexSpectrogramVAE(phase_terms=terms, phase_param=param, **SMALL).eval()
            out = model.reconstruct(torch.randn(1, 12, 33))
            assert out["log_magnitude"].shape == (1, 33, 12)
            phase = model.estimate_phase(out["heads"], out["log_magnitude"])
            assert phase.shape == (33, 12) and torch.all(phase.abs() <= math.pi)
    m = ComplexSpectrogramVAE(phase_terms=(), **SMALL)
    assert m.reconstruct(torch.randn(1, 5, 33))["heads"] == {}
    with pytest.raises(ConfigError, match="random_phase"):
        m.estimate_phase({}, torch.zeros(33, 5))
    r = random_phase((33, 5), seed=3)
    assert torch.equal(r, random_phase((33, 5), seed=3)) and r.min() >= -math.pi and r.max() < math.pi


def test_dilated_phase_layers_give_the_library_convolutions_gradients(monkeypatch):
    """The phase decoder's dilated layers take their weight gradient on the sub-grids
    (speechgen.models.conv): the same loss and gradients as nn.Conv2d's own, in float64."""
    from speechgen.models.conv import DilatedConv2d

    torch.manual_seed(0)
    model = ComplexSpectrogramVAE(phase_terms=("phase", "gd", "if"),
                                  **dict(SMALL, phase_layers=4, phase_dilations=[1, 2, 4, 1])).double()
    assert [m.dilation[0] for m in model.modules() if isinstance(m, DilatedConv2d)] == [1, 2, 4, 1]
    batch = {k: v.double() if v.is_floating_point() else v for k, v in _batch(t=12).items()}

    def loss_and_grads():
        model.zero_grad()
        torch.manual_seed(1)  # the same posterior sample both times
        loss, _ = model(batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss, grads = loss_and_grads()
    monkeypatch.setattr(DilatedConv2d, "forward", torch.nn.Conv2d.forward)
    ref_loss, ref_grads = loss_and_grads()
    torch.testing.assert_close(loss, ref_loss, rtol=0, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
