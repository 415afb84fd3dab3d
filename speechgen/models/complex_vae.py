"""A deep generative model of speech complex spectrograms (after Nugraha, Sekiguchi & Yoshii, ICASSP 2019).

Three networks share a per-frame latent code ``z``:

* the encoder ``q(z | |X|)`` reads the normalised log-magnitude of a short context of frames;
* the magnitude decoder ``p(|X| | z)`` is a diagonal Gaussian on the normalised log-magnitude (or on
  the magnitude, ``magnitude_domain: linear``);
* the phase decoder ``p(angle X | z, |X|^)`` is a small 2-d CNN over the time-frequency plane whose
  inputs are ``z`` (projected onto every bin) and, unless ``condition_on_magnitude`` is off, the
  estimated log-magnitude ``|X|^`` from the magnitude decoder. Its outputs are von Mises locations and
  concentrations (predicted, or one fixed value) of the loss terms of ``phase_terms``:

  - ``phase``: the phase of each bin;
  - ``gd``: the group delay ``-(phi[f + 1] - phi[f])`` (phase difference along frequency);
  - ``if``: the instantaneous frequency ``phi[t] - phi[t - 1]`` (phase difference along time).

How the differences are predicted is ``phase_param``:

* ``local`` (default): each term has its own head, i.e. the decoder predicts the phase of a bin
  *given the phase of its neighbour* (``p(phi[t] | phi[t-1]) = VM(phi[t - 1] + if^, kappa)``, which is
  the von Mises NLL of the true difference given the predicted one). The IF and GD heads are offset by
  the deterministic parts of the STFT phase derivatives (the bin-centre advance ``2 pi hop m / n_fft``
  per hop, ``pi`` per bin for frames referenced to their first sample), so that a translation-
  equivariant CNN only predicts deviations, which are local functions of the log-magnitude (the
  relations behind PGHI).
* ``field``: the paper's literal form, one predicted phase field whose own differences enter the GD
  and IF terms. A convolutional network cannot draw the linear phase ramps of stationary partials,
  so this is kept as an ablation.

Decoding (:meth:`ComplexSpectrogramVAE.estimate_phase`) turns the heads into one phase per bin by
integrating the predicted differences along a maximum spanning tree of the time-frequency grid whose
edges weigh the predicted concentrations (the most reliable differences first, as PGHI follows the
largest magnitudes), rooted at the bins where the predicted phase itself is most reliable (or, with no
``phase`` term, at each region's largest estimated magnitude, with phase 0). With only the ``phase``
term this is the predicted phase itself; with only ``if`` each bin's phase is integrated along time.

Model ``M`` has no phase terms (no phase decoder); its phase at decoding is uniform noise.

Shapes: features ``feats: (B, T, F)`` normalised log-magnitudes, ``phase: (B, T, F)``, optional
``mask: (B, T)``; inside the networks ``(B, C, F, T)`` or ``(B, C, T)``.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as fn

from speechgen.errors import ConfigError
from speechgen.losses.von_mises import (
    frequency_difference,
    masked_mean,
    time_difference,
    von_mises_nll,
)
from speechgen.models.base import MODELS, GenerativeModel
from speechgen.models.conv import ChannelsLastGELU, DilatedConv2d
from speechgen.models.vae import gaussian_nll
from speechgen.signal.phase import principal_value
from speechgen.signal.phase_retrieval import integrate_grid_tree

log = logging.getLogger("speechgen.models")

PHASE_TERMS = ("phase", "gd", "if")
#: the seven joint models of the paper: J1..J7 = every non-empty subset of the three terms, in order
JOINT_MODELS = {
    "J1": ("phase",), "J2": ("gd",), "J3": ("if",), "J4": ("phase", "gd"), "J5": ("phase", "if"),
    "J6": ("gd", "if"), "J7": ("phase", "gd", "if"),
}
#: Griffin-Lim's momentum after a decoded phase: 0, the paper's plain GLA (fast GLA, 0.99, drifted further
#: from the model's phase on the dev speakers: egs/chime_complex/results/dev_gla.md)
GLA_MOMENTUM = 0.0
#: the floor of a predicted von Mises concentration: kappa = softplus(raw) + MIN_CONCENTRATION
MIN_CONCENTRATION = 1e-3


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return ChannelsLastGELU()  # nn.GELU on any input; faster on the phase decoder's channels-last maps
    if name == "tanh":
        return nn.Tanh()
    raise ConfigError(f"unknown activation {name!r}; use relu, gelu or tanh")


def _frame_stack(n_in: int, hidden: int, n_out: int, context: int, act: str) -> nn.Sequential:
    """(B, n_in, T) -> (B, n_out, T): a convolution over ``2 * context + 1`` frames, then two 1x1 layers."""
    return nn.Sequential(
        nn.Conv1d(n_in, hidden, 2 * context + 1, padding=context), _activation(act),
        nn.Conv1d(hidden, hidden, 1), _activation(act),
        nn.Conv1d(hidden, n_out, 1),
    )


class _FrameGaussian(nn.Module):
    """(B, n_in, T) -> Gaussian mean and log-variance, each (B, n_out, T), from a :func:`_frame_stack`; with
    ``linear`` a frame-wise linear map is added to the mean (see :meth:`start_linear`)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, context: int, act: str, linear: bool = False):
        super().__init__()
        self.net = _frame_stack(n_in, hidden, 2 * n_out, context, act)
        self.linear = nn.Conv1d(n_in, n_out, 1) if linear else None

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        mean, logvar = self.net(x).chunk(2, dim=1)
        return (mean if self.linear is None else mean + self.linear(x)), logvar

    @torch.no_grad()
    def start_linear(self, weight: Tensor, bias: Tensor, logvar: Tensor) -> None:
        """Set the linear map (n_out, n_in) + bias and start the network's mean at 0 and its log-variance at
        ``logvar`` (n_out,): the whole is then that linear Gaussian, which training refines."""
        self.linear.weight.copy_(weight.unsqueeze(-1))
        self.linear.bias.copy_(bias)
        last = self.net[-1]
        last.weight.zero_()
        last.bias.copy_(torch.cat([torch.zeros_like(logvar), logvar]))


class FrameEncoder(_FrameGaussian):
    """``q(z | |X|)``: (B, F, T) normalised log-magnitude -> mean and log-variance, each (B, D, T).

    The first layer sees ``2 * context + 1`` frames; the rest are frame-wise.
    """

    def __init__(self, n_bins: int, hidden: int, latent_dim: int, context: int, act: str, linear: bool = False):
        super().__init__(n_bins, hidden, latent_dim, context, act, linear)


class MagnitudeDecoder(_FrameGaussian):
    """``p(|X| | z)``: (B, D, T) -> Gaussian mean and log-variance, each (B, F, T)."""

    def __init__(self, n_bins: int, hidden: int, latent_dim: int, context: int, act: str, linear: bool = False):
        super().__init__(latent_dim, hidden, n_bins, context, act, linear)


class PhaseDecoder(nn.Module):
    """``p(angle X | z, |X|^)``: a 2-d CNN over (F, T) with dilated 3x3 layers.

    Inputs: ``z: (B, D, T)`` (projected to ``z_channels`` maps over the bins) and, when conditioned,
    the estimated log-magnitude ``(B, F, T)``; a channel with the bin's relative frequency lets the
    network tell bins apart. Output: (B, n_out, F, T) raw values for the heads.
    """

    def __init__(self, n_bins: int, latent_dim: int, n_out: int, channels: int, layers: int,
                 z_channels: int, use_magnitude: bool, act: str, dilations: Sequence[int]):
        super().__init__()
        self.n_bins, self.z_channels, self.use_magnitude = n_bins, z_channels, use_magnitude
        self.z_proj = nn.Conv1d(latent_dim, z_channels * n_bins, 1)
        self.register_buffer("freq_channel", torch.linspace(-1.0, 1.0, n_bins).view(1, 1, n_bins, 1),
                             persistent=False)
        c_in = z_channels + 1 + int(use_magnitude)
        body = []
        for i in range(layers):
            d = int(dilations[i % len(dilations)])
            body += [DilatedConv2d(c_in if i == 0 else channels, channels, 3, dilation=d), _activation(act)]
        self.body = nn.Sequential(*body)
        self.head = nn.Conv2d(channels, n_out, 1)
        # NHWC is about 1.5x faster than NCHW for these few-channel convolutions on the CPU
        self.body.to(memory_format=torch.channels_last)
        self.head.to(memory_format=torch.channels_last)

    def forward(self, z: Tensor, logmag: Optional[Tensor]) -> Tensor:
        b, _, t = z.shape
        maps = [self.z_proj(z).view(b, self.z_channels, self.n_bins, t), self.freq_channel.expand(b, 1, -1, t)]
        if self.use_magnitude:
            maps.append(logmag.unsqueeze(1))
        x = torch.cat(maps, dim=1).contiguous(memory_format=torch.channels_last)
        return self.head(self.body(x)).contiguous()


@MODELS.register("complex_vae")
class ComplexSpectrogramVAE(GenerativeModel):
    """VAE of complex STFT frames: a Gaussian magnitude model and von Mises phase terms.

    Args:
        n_bins: F, frequency bins (``n_fft // 2 + 1``).
        n_fft, hop_length: the STFT the features come from (sets the deterministic parts of IF and GD).
        latent_dim: size of the per-frame code ``z``.
        context: frames on each side the encoder and magnitude decoder see (0: frame-wise).
        hidden: width of the encoder and magnitude decoder layers.
        activation: relu | gelu | tanh.
        magnitude_domain: ``log`` (Gaussian on the normalised log-magnitude) or ``linear`` (on the
            magnitude divided by each bin's geometric mean).
        min_logvar: floor of the magnitude decoder's log-variance.
        fixed_logvar: a fixed log-variance of the magnitude model instead of a predicted one (``null``).
        beta: weight of the KL term.
        phase_terms: the phase loss terms, a subset of ``phase``, ``gd``, ``if``; empty for model M.
        phase_param: ``local`` (one head per term) or ``field`` (differences of one predicted phase).
        concentration: ``predicted`` (softplus head per term) or ``fixed``.
        fixed_concentration: kappa when ``concentration: fixed``.
        max_concentration: upper clamp of predicted kappa.
        phase_head_init: ``random`` (the head layer's default initialisation: random angles) or ``prior``
            (every location head starts at the deterministic part of its term, the bin-centre advance
            for IF, pi per bin for GD, phase 0, and every predicted concentration at 0.5; see
            :meth:`_start_phase_heads`).
        condition_on_magnitude: feed the estimated log-magnitude to the phase decoder.
        detach_magnitude: stop the phase losses' gradients at the estimated magnitude.
        phase_channels, phase_layers, phase_z_channels, phase_dilations: phase decoder CNN sizes.
        term_weights: optional weight per phase term (default 1 each).
        freeze_magnitude: keep the encoder and magnitude decoder fixed (e.g. initialised from a trained
            model M) and train the phase decoder only.
        linear_path: add a frame-wise linear map to the encoder mean and to the magnitude decoder mean, and
            on a fresh run (not one started from M) start them at the probabilistic PCA of the training
            frames with the non-linear networks' means at zero (:meth:`init_from_data`): training then
            starts from PCA's reconstruction with ``latent_dim`` components (log domain only).

    Its codes are per frame, ``encode: (B, T, F) -> (B, D, T)``, and ``reconstruct`` returns the
    log-magnitude with the phase heads, so it declares none of the segment interfaces of
    :mod:`speechgen.models.abilities`; speechgen-decode-complex uses it as this class.
    """

    def __init__(self, n_bins: int = 257, n_fft: int = 512, hop_length: int = 128, latent_dim: int = 64,
                 context: int = 2, hidden: int = 512, activation: str = "gelu", magnitude_domain: str = "log",
                 min_logvar: float = -6.0, beta: float = 1.0, phase_terms: Sequence[str] = ("phase", "gd", "if"),
                 phase_param: str = "local", concentration: str = "predicted", fixed_concentration: float = 1.0,
                 max_concentration: float = 500.0, condition_on_magnitude: bool = True,
                 detach_magnitude: bool = True, phase_channels: int = 16, phase_layers: int = 4,
                 phase_z_channels: int = 4, phase_dilations: Sequence[int] = (1, 2, 4, 1),
                 term_weights: Optional[Dict[str, float]] = None, freeze_magnitude: bool = False,
                 fixed_logvar: Optional[float] = None, linear_path: bool = False, phase_head_init: str = "random"):
        super().__init__()
        phase_terms = tuple(phase_terms or ())
        unknown = [t for t in phase_terms if t not in PHASE_TERMS]
        if unknown or len(set(phase_terms)) != len(phase_terms):
            raise ConfigError(f"phase_terms {list(phase_terms)}: use distinct names from {', '.join(PHASE_TERMS)}")
        if n_bins != n_fft // 2 + 1:
            raise ConfigError(f"n_bins={n_bins} does not match n_fft={n_fft} (expected {n_fft // 2 + 1})")
        for key, value, allowed in (("magnitude_domain", magnitude_domain, ("log", "linear")),
                                    ("phase_param", phase_param, ("local", "field")),
                                    ("concentration", concentration, ("predicted", "fixed")),
                                    ("phase_head_init", phase_head_init, ("random", "prior"))):
            if value not in allowed:
                raise ConfigError(f"{key}={value!r}; use one of {', '.join(allowed)}")
        if linear_path and (magnitude_domain != "log" or latent_dim > n_bins):
            raise ConfigError(f"linear_path needs magnitude_domain: log and latent_dim <= n_bins ({n_bins})")
        if context < 0 or latent_dim < 1:
            raise ConfigError(f"context={context} must be >= 0 and latent_dim={latent_dim} >= 1")
        weights = dict(term_weights or {})
        if set(weights) - set(phase_terms):
            raise ConfigError(f"term_weights names {sorted(set(weights) - set(phase_terms))}, not in phase_terms")
        self.n_bins, self.n_fft, self.hop_length = n_bins, n_fft, hop_length
        self.latent_dim, self.beta, self.min_logvar = latent_dim, beta, min_logvar
        self.magnitude_domain, self.phase_terms, self.phase_param = magnitude_domain, phase_terms, phase_param
        self.concentration, self.fixed_concentration = concentration, float(fixed_concentration)
        self.max_concentration = float(max_concentration)
        self.condition_on_magnitude, self.detach_magnitude = condition_on_magnitude, detach_magnitude
        self.term_weights = {t: float(weights.get(t, 1.0)) for t in phase_terms}
        self.freeze_magnitude, self.fixed_logvar = freeze_magnitude, fixed_logvar
        # normalisation of the log-magnitude (per bin, from the training set): set_feature_stats()
        self.register_buffer("feat_mean", torch.zeros(n_bins))
        self.register_buffer("feat_std", torch.ones(n_bins))
        bins = torch.arange(n_bins, dtype=torch.float32).view(n_bins, 1)
        self.register_buffer("if_offset", 2.0 * math.pi * hop_length * bins / n_fft, persistent=False)
        self.linear_path, self._pca_pending = linear_path, False
        self.encoder = FrameEncoder(n_bins, hidden, latent_dim, context, activation, linear_path)
        self.magnitude_decoder = MagnitudeDecoder(n_bins, hidden, latent_dim, context, activation, linear_path)
        self.phase_decoder = None
        if freeze_magnitude:
            for module in (self.encoder, self.magnitude_decoder):
                module.requires_grad_(False)
        if phase_terms:
            n_out = self._n_head_channels()
            self.phase_decoder = PhaseDecoder(n_bins, latent_dim, n_out, phase_channels, phase_layers,
                                              phase_z_channels, condition_on_magnitude, activation, phase_dilations)
            if phase_head_init == "prior":
                self._start_phase_heads()

    # ------------------------------------------------------------------ set-up
    def _n_head_channels(self) -> int:
        return self._n_location_channels() + (len(self.phase_terms) if self.concentration == "predicted" else 0)

    def _n_location_channels(self) -> int:
        return 2 * (len(self.phase_terms) if self.phase_param == "local" else 1)

    @torch.no_grad()
    def _start_phase_heads(self, kappa: float = 0.5) -> None:
        """Start the output layer at the prior of each term: every location at angle 0 (so the IF head
        predicts the bin-centre advance, the GD head pi per bin, the phase head 0) and every predicted
        concentration at ``kappa``, the layer's weights at zero. A random start gives random angles
        with concentrations near 0.7, which a head can answer by driving its concentration to zero,
        where the gradient of its location vanishes."""
        head = self.phase_decoder.head
        head.weight.zero_()
        head.bias.zero_()
        n_loc = self._n_location_channels()
        head.bias[0:n_loc:2] = 1.0  # (cos, sin) = (1, 0) of each location
        if self.concentration == "predicted":
            head.bias[n_loc:] = math.log(math.expm1(kappa - MIN_CONCENTRATION))  # so kappas start at kappa

    def setup_training(self, cmvn, fresh: bool, init_state: Optional[Dict[str, Tensor]] = None,
                       source: str = "") -> None:
        """The feature statistics from ``cmvn``; on a fresh run with ``init_state`` (a trained model M),
        its encoder and magnitude decoder. ``freeze_magnitude`` without them is an error: the frozen
        networks would stay random."""
        if init_state is not None:
            own = self.state_dict()
            taken = {k: v for k, v in init_state.items() if k.startswith(("encoder.", "magnitude_decoder."))}
            bad = [k for k, v in taken.items() if k not in own or own[k].shape != v.shape]
            if not taken or bad:
                raise ConfigError(f"--init-from {source}: its encoder/magnitude decoder do not fit this model "
                                  f"({bad[0] if bad else 'no such weights'}); give both models the same sizes")
            self.load_state_dict(taken, strict=False)
            log.info("initialised %d tensors of the encoder and magnitude decoder from %s", len(taken), source)
        elif self.freeze_magnitude and fresh:
            raise ConfigError("model_conf.freeze_magnitude needs --init-from (a trained model M); otherwise the "
                              "magnitude networks stay random")
        self._pca_pending = self.linear_path and fresh and init_state is None
        self.set_feature_stats(cmvn.mean, cmvn.std)

    @property
    def needs_data_pass(self) -> bool:
        """A fresh ``linear_path`` model starts from the PCA of the training frames."""
        return self._pca_pending

    @torch.no_grad()
    def init_from_data(self, batches) -> None:
        """Start the linear paths at the probabilistic PCA of the (valid) frames of ``batches``: the encoder
        maps a frame to its whitened coordinates on the top ``latent_dim`` components, with the posterior
        variance ``sigma^2 / lambda`` of each; the decoder maps back. Moments are accumulated in float64."""
        total, outer, count = 0.0, 0.0, 0
        for batch in batches:
            x = batch["feats"]
            mask = batch.get("mask")
            x = (x[mask.bool()] if mask is not None else x.reshape(-1, x.shape[-1])).double()
            total, outer, count = total + x.sum(0), outer + x.T @ x, count + len(x)
        mean = total / count
        lam, vecs = torch.linalg.eigh(outer / count - torch.outer(mean, mean))
        lam, basis = lam.flip(0)[:self.latent_dim].clamp_min(1e-6), vecs.flip(1)[:, :self.latent_dim].T
        resid = (torch.diagonal(outer / count) - mean ** 2 - (basis ** 2 * lam[:, None]).sum(0)).clamp_min(1e-6)
        noise = math.exp(self.fixed_logvar) if self.fixed_logvar is not None else resid.mean().item()
        enc = basis / lam.sqrt()[:, None]
        self.encoder.start_linear(enc.float(), (-enc @ mean).float(), torch.log(noise / lam).clamp(-10.0, 0.0).float())
        # the decoder's log-variance passes through min_logvar + softplus(. - min_logvar)
        target = resid.log().clamp_min(self.min_logvar + 1e-3) - self.min_logvar
        raw = self.min_logvar + torch.log(torch.expm1(target))
        self.magnitude_decoder.start_linear((basis.T * lam.sqrt()).float(), mean.float(), raw.float())
        self._pca_pending = False
        log.info("started the linear paths at the PCA of %d frames (%d components: %.1f%% of the variance)",
                 count, self.latent_dim, 100.0 * lam.sum().item() / (resid.sum() + lam.sum()).item())

    def set_feature_stats(self, mean, std) -> None:
        """Per-bin mean and std (F,) of the training log-magnitudes the features were normalised with."""
        self.feat_mean.copy_(torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(np.asarray(std), dtype=torch.float32))

    # ------------------------------------------------------------------ pieces
    def _denormalise(self, x: Tensor) -> Tensor:
        """(B, F, T) normalised -> natural log-magnitude."""
        return x * self.feat_std.view(1, -1, 1) + self.feat_mean.view(1, -1, 1)

    def _phase_input(self, log_magnitude: Tensor) -> Tensor:
        """Natural log-magnitude (B, F, T) -> the phase decoder's input: one global shift and scale, so
        that differences across bins (what the phase derivatives depend on) are kept."""
        centre = self.feat_mean.mean()
        scale = self.feat_std.mean()
        return (log_magnitude - centre) / scale

    def magnitude_params(self, z: Tensor) -> Tuple[Tensor, Tensor]:
        """Gaussian mean and floored log-variance of the magnitude model, each (B, F, T)."""
        mean, logvar = self.magnitude_decoder(z)
        if self.fixed_logvar is not None:
            return mean, torch.full_like(mean, float(self.fixed_logvar))
        return mean, self.min_logvar + fn.softplus(logvar - self.min_logvar)

    def estimated_log_magnitude(self, mag_mean: Tensor) -> Tensor:
        """The decoder mean as a natural log-magnitude (B, F, T)."""
        if self.magnitude_domain == "log":
            return self._denormalise(mag_mean)
        return torch.log(mag_mean.clamp_min(1e-4)) + self.feat_mean.view(1, -1, 1)

    def _magnitude_target(self, x: Tensor) -> Tensor:
        if self.magnitude_domain == "log":
            return x
        return torch.exp(x * self.feat_std.view(1, -1, 1))  # |X| / exp(mean log|X|) per bin

    def phase_heads(self, z: Tensor, log_magnitude: Tensor) -> Dict[str, Tuple[Tensor, Tensor]]:
        """Von Mises (location, concentration) of each phase term.

        Args:
            z: (B, D, T) codes.
            log_magnitude: (B, F, T) estimated natural log-magnitude.
        Returns:
            ``{term: (loc, kappa)}`` with ``phase``: (B, F, T), ``if``: (B, F, T - 1) (the difference of
            frame ``t + 1`` to frame ``t``), ``gd``: (B, F - 1, T) (``-(phi[f + 1] - phi[f])``).
        """
        if self.phase_decoder is None:
            return {}
        raw = self.phase_decoder(z, self._phase_input(log_magnitude) if self.condition_on_magnitude else None)
        n_terms = len(self.phase_terms)
        if self.concentration == "predicted":
            kappas = (fn.softplus(raw[:, -n_terms:]) + MIN_CONCENTRATION).clamp_max(self.max_concentration)
            raw = raw[:, :-n_terms]
        else:
            kappas = torch.full_like(raw[:, :n_terms], self.fixed_concentration)
        heads = {}
        if self.phase_param == "field":
            field = torch.atan2(raw[:, 1], raw[:, 0])
            locs = {"phase": field, "if": time_difference(field), "gd": frequency_difference(field)}
        else:
            angles = {t: torch.atan2(raw[:, 2 * i + 1], raw[:, 2 * i]) for i, t in enumerate(self.phase_terms)}
            locs = {}
            if "phase" in angles:
                locs["phase"] = angles["phase"]
            if "if" in angles:  # the head at frame t predicts the step from t to t + 1
                locs["if"] = principal_value(angles["if"][..., :-1] + self.if_offset)
            if "gd" in angles:  # the head at bin f predicts the step from f to f + 1; pi per bin for
                locs["gd"] = principal_value(angles["gd"][..., :-1, :] + math.pi)  # frame-start phases
        for i, term in enumerate(self.phase_terms):
            kappa = kappas[:, i]
            if term == "if":
                kappa = kappa[..., :-1]
            elif term == "gd":
                kappa = kappa[..., :-1, :]
            heads[term] = (locs[term], kappa)
        return heads

    # ------------------------------------------------------------------ training
    def forward(self, batch: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, float]]:
        """Negative ELBO per bin plus the phase terms' von Mises NLLs per bin.

        Args:
            batch: ``feats`` (B, T, F) normalised log-magnitudes, ``phase`` (B, T, F) (joint models),
                optional ``mask`` (B, T) of valid frames.
        Returns:
            (loss, stats) with ``mag_nll``, ``kl``, ``mse`` (natural log-magnitude), ``<term>_nll``.
        """
        x = batch["feats"].transpose(1, 2)  # (B, F, T)
        mask = batch.get("mask")
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        mag_mean, mag_logvar = self.magnitude_params(z)
        mag_nll = masked_mean(gaussian_nll(self._magnitude_target(x), mag_mean, mag_logvar), mask)
        kl = masked_mean(0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar), mask) * self.latent_dim / self.n_bins
        loss = mag_nll + self.beta * kl
        est = self.estimated_log_magnitude(mag_mean)
        stats = {"mag_nll": mag_nll.item(), "kl": kl.item(),
                 "mse": masked_mean((est - self._denormalise(x)) ** 2, mask).item()}
        if self.phase_terms:
            phase = batch["phase"].transpose(1, 2)
            heads = self.phase_heads(z, est.detach() if self.detach_magnitude else est)
            for term, (loc, kappa) in heads.items():
                nll = self._term_nll(term, phase, loc, kappa, mask)
                loss = loss + self.term_weights[term] * nll
                stats[f"{term}_nll"] = nll.item()
        stats["loss"] = loss.item()
        return loss, stats

    @staticmethod
    def _term_nll(term: str, phase: Tensor, loc: Tensor, kappa: Tensor, mask: Optional[Tensor]) -> Tensor:
        """Mean von Mises NLL of one term (nats per bin; log(2 pi) = 1.838 is a uniform guess)."""
        if term == "phase":
            return masked_mean(von_mises_nll(phase, loc, kappa), mask)
        if term == "if":
            pair_mask = None if mask is None else mask[..., 1:] & mask[..., :-1]
            return masked_mean(von_mises_nll(time_difference(phase), loc, kappa), pair_mask)
        return masked_mean(von_mises_nll(frequency_difference(phase), loc, kappa), mask)

    # ------------------------------------------------------------------ eval verbs
    @torch.no_grad()
    def encode(self, feats: Tensor) -> Tensor:
        """Posterior means: (B, T, F) -> (B, D, T)."""
        return self.encoder(feats.transpose(1, 2))[0]

    @torch.no_grad()
    def reconstruct(self, feats: Tensor) -> Dict[str, object]:
        """Decode the posterior mean of ``feats`` (B, T, F).

        Returns:
            ``log_magnitude``: (B, F, T) estimated natural log-magnitude; ``heads``: the phase heads
            (see :meth:`phase_heads`), conditioned on that estimate.
        """
        z = self.encode(feats)
        mag_mean, _ = self.magnitude_params(z)
        est = self.estimated_log_magnitude(mag_mean)
        return {"log_magnitude": est, "heads": self.phase_heads(z, est)}

    @property
    def decoded_condition(self) -> str:
        """The name of what :meth:`decode_utterance` gives: estimated magnitude with the estimated phase, or
        with random phase for a model without phase terms (M)."""
        return "estMag_estPha" if self.phase_terms else "estMag_rdmPha"

    @torch.no_grad()
    def decode_utterance(self, feats: Tensor, seed: int = 0) -> Tuple[Tensor, Tensor]:
        """One utterance's normalised log-magnitude (1, T, F) -> the decoded natural log-magnitude (F, T) and
        its phase (F, T): the phase the heads estimate, or uniform random phase (``seed``) without phase terms."""
        out = self.reconstruct(feats)
        log_mag = out["log_magnitude"][0]
        phase = self.estimate_phase(out["heads"], log_mag) if self.phase_terms else random_phase(log_mag.shape, seed)
        return log_mag, phase

    def estimate_phase(self, heads: Dict[str, Tuple[Tensor, Tensor]], log_magnitude: Tensor) -> Tensor:
        """One phase per bin from the heads of one utterance (see the module doc).

        Args:
            heads: :meth:`phase_heads` output for a batch of one.
            log_magnitude: (1, F, T) or (F, T) estimated log-magnitude (roots without a phase term).
        Returns:
            phase: (F, T) float32 tensor in [-pi, pi).
        """
        if not heads:
            raise ConfigError("model M has no phase decoder; use random_phase() for its phase")
        logmag = log_magnitude.detach().reshape(log_magnitude.shape[-2:]).cpu().double().numpy()
        if self.phase_param == "field":
            heads = {term: (loc.detach(), kappa.detach()) for term, (loc, kappa) in heads.items()}
            return heads["phase"][0][0].float() if "phase" in heads else _field_from_terms(heads)
        parts = {term: (loc[0].detach().cpu().double().numpy(), kappa[0].detach().cpu().double().numpy())
                 for term, (loc, kappa) in heads.items()}
        phase = integrate_phase_tree(logmag, unary=parts.get("phase"), time_step=parts.get("if"),
                                     freq_delay=parts.get("gd"))
        return torch.from_numpy(phase).float()


def _field_from_terms(heads: Dict[str, Tuple[Tensor, Tensor]]) -> Tensor:
    """Field parametrisation without a phase term: the differences are those of the (untrained) field,
    so integrate them back, which gives the field up to a constant."""
    loc_if = heads.get("if")
    loc_gd = heads.get("gd")
    if loc_gd is not None:
        gd = loc_gd[0][0]
        col = torch.cat([torch.zeros_like(gd[:1]), -torch.cumsum(gd, dim=0)], dim=0)  # (F, T)
        if loc_if is None:
            return principal_value(col).float()
        start = col[:, :1]
    else:
        start = torch.zeros(loc_if[0].shape[-2], 1)
    steps = loc_if[0][0]
    return principal_value(torch.cat([start, start + torch.cumsum(steps, dim=1)], dim=1)).float()


def random_phase(shape: Sequence[int], seed: int) -> Tensor:
    """Uniform phase in [-pi, pi) of ``shape``, from a seeded generator."""
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.rand(tuple(shape), generator=gen) * 2.0 - 1.0) * math.pi


def integrate_phase_tree(log_magnitude: np.ndarray, unary: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                         time_step: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                         freq_delay: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """Phase of every bin from predicted phases and phase differences, along a maximum spanning tree.

    The grid's bins are nodes; a predicted difference joins two neighbours (``time_step`` along time,
    ``freq_delay`` along frequency) and a predicted phase (``unary``) joins a bin to a ground node of
    phase 0. Each edge weighs its von Mises concentration. The maximum spanning tree keeps the most
    reliable edges that connect everything; phases then follow from the ground along the tree. Without
    ``unary`` every connected region is rooted at its largest ``log_magnitude`` with phase 0. The
    integrator is PGHI's (:func:`speechgen.signal.phase_retrieval.integrate_grid_tree`).

    Args:
        log_magnitude: (F, T).
        unary: (loc, kappa), each (F, T).
        time_step: (loc, kappa), each (F, T - 1): ``phi[:, t + 1] - phi[:, t]``.
        freq_delay: (loc, kappa), each (F - 1, T): ``-(phi[f + 1] - phi[f])``.
    Returns:
        phase: (F, T) float64 in [-pi, pi).
    """
    n_freq, n_time = log_magnitude.shape
    absent = (np.full((1, n_freq, n_time - 1), -np.inf), np.zeros((1, n_freq, n_time - 1)))
    time_edges = absent if time_step is None else (time_step[1][None], time_step[0][None])
    absent = (np.full((1, n_freq - 1, n_time), -np.inf), np.zeros((1, n_freq - 1, n_time)))
    freq_edges = absent if freq_delay is None else (freq_delay[1][None], -freq_delay[0][None])
    phase = np.zeros((1, n_freq, n_time))
    if unary is not None:
        integrate_grid_tree(time_edges, freq_edges, phase, ground=(unary[1][None], unary[0][None]))
    else:
        integrate_grid_tree(time_edges, freq_edges, phase, roots=np.arange(phase.size),  # each region
                            priority=log_magnitude[None])  # from its loudest bin
    return principal_value(torch.from_numpy(phase[0])).numpy()
