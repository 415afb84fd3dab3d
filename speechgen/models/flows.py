"""Normalising flows on spectrogram segments: NF, discriminative NF (DNF) and factorial DNF.

Every transform maps ``x -> (y, logdet)`` in ``forward`` and ``y -> (x, logdet)`` in ``inverse``,
where ``logdet: (B,)`` is log|det dy/dx| of the map just applied (so the inverse's logdet is minus
the forward's at the same point). Transforms compose with ``Flow``.

The flow of the registered models treats a segment ``(B, T, F)`` as a 1-d signal of T frames with
F channels (the frequency bins), kept channels-last so that every channel operation is one matrix
product. It is a Glow-style multi-scale flow (Kingma & Dhariwal 2018) over time:

    level 1:   K x [ActNorm -> invertible 1x1 conv -> affine coupling]  on (T, F)
               squeeze time 2:1 -> (T/2, 2F); factor out the first F channels as z-part 1 (T/2, F)
    level 2:   K steps on (T/2, F); squeeze; factor out z-part 2 (T/4, F)
    ...
    level n:   K steps on (T/2^(n-1), F); the result is the last z-part

The couplings' nets see a 3-frame context (a conv over time); the squeezes let deeper levels see
further. The code ``z: (B, D)``, ``D = T * F``, is the concatenation of the z-parts in the order they
were factored out (part 1 first), each flattened frame-major (index ``t * F + c`` within a part).
Every channel index ``c`` in ``[0, F)`` owns exactly T dims of z over all the parts
(T/2 + T/4 + ... + 2 T/2^(n-1) = T); the factorial model splits z by these channels, so both of
its factors have dims from every depth of the flow (see ``FactorialDNF``).

Models (Sun et al., ICASSP 2021; Cai et al. for DNF):
    nf    log p(x) = log N(z; 0, I) + log|det dz/dx|
    dnf   log p(x | y) = log N(z; mu_y, I) + log|det dz/dx|, one learnable mean per class
    fdnf  log p(x | q, s) = log N(z_A; mu_q, I) + log N(z_B; mu_s, I) + log|det dz/dx|
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from speechgen.data.tables import FACTORS
from speechgen.errors import ConfigError
from speechgen.models.abilities import Autoencoder, Density, Factorised, Labels, Sampler, check_labels
from speechgen.models.base import MODELS, GenerativeModel

LOG_2PI = math.log(2.0 * math.pi)


def _zero_logdet(x: torch.Tensor) -> torch.Tensor:
    """A (B,) zero logdet of ``x``'s dtype and device."""
    return x.new_zeros(x.shape[0])


class Transform(nn.Module):
    """An invertible map with a tractable log|det Jacobian|.

    ``forward(x) -> (y, logdet)`` and ``inverse(y) -> (x, logdet)``; ``logdet: (B,)`` is log|det| of the
    Jacobian of the map applied, per item. Each subclass documents the shapes it takes.
    """

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class Flow(Transform):
    """The composition of ``transforms``, applied in order by ``forward`` and reversed by ``inverse``."""

    def __init__(self, transforms: Sequence[Transform]):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logdet = _zero_logdet(x)
        for transform in self.transforms:
            x, ld = transform(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logdet = _zero_logdet(y)
        for transform in reversed(self.transforms):
            y, ld = transform.inverse(y)
            logdet = logdet + ld
        return y, logdet


class ActNorm(Transform):
    """Per-channel affine map ``y = x * exp(log_scale) + bias`` on channels-last (B, ..., C).

    On the first forward call the parameters are set so that ``y`` has zero mean and unit variance
    per channel on that batch (data-dependent initialisation, Glow). The ``initialized`` buffer
    records it, so a saved and restored model does not re-initialise.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set the parameters from a batch x: (B, ..., C) so that the output is standardised."""
        per_channel = x.reshape(-1, x.shape[-1])
        mean, std = per_channel.mean(0), per_channel.std(0, unbiased=False)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.bias.copy_(-mean * torch.exp(self.log_scale))
        self.initialized.fill_(True)

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        positions = x[0, ..., 0].numel()  # L, or 1 for (B, C)
        return (self.log_scale.sum() * positions).expand(x.shape[0])

    def forward(self, x):
        if not bool(self.initialized):
            self.initialize(x)
        return x * torch.exp(self.log_scale) + self.bias, self._logdet(x)

    def inverse(self, y):
        return (y - self.bias) * torch.exp(-self.log_scale), -self._logdet(y)


class InvertibleConv1x1(Transform):
    """A learnable channel mixing ``y[b, t] = W x[b, t]`` on channels-last (B, ..., C), LU-parametrised.

    ``W = P (L + I) (U + diag(sign * exp(log_s)))`` with P a fixed permutation, L strictly lower
    and U strictly upper triangular, so ``log|det W| = sum(log_s)`` (Glow). Initialised to a
    random rotation.
    """

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(q)
        diag = torch.diagonal(upper)
        self.register_buffer("p_rows", p.argmax(1))  # P @ A == A[p_rows]
        self.register_buffer("sign_s", torch.sign(diag))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1), persistent=False)
        self.register_buffer("eye", torch.eye(channels), persistent=False)
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(diag.abs()))

    def weight(self) -> torch.Tensor:
        """W: (C, C)."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return (lower @ upper)[self.p_rows]

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        return (self.log_s.sum() * x[0, ..., 0].numel()).expand(x.shape[0])

    def forward(self, x):
        return x @ self.weight().T, self._logdet(x)

    def inverse(self, y):
        return y @ torch.linalg.inv(self.weight()).T, -self._logdet(y)


class ChannelPermutation(Transform):
    """A fixed permutation of the channels of (B, ..., C): a random one (seeded) or the reversal."""

    def __init__(self, channels: int, seed: Optional[int] = None):
        super().__init__()
        if seed is None:
            perm = torch.arange(channels - 1, -1, -1)
        else:
            perm = torch.randperm(channels, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x):
        return x[..., self.perm], _zero_logdet(x)

    def inverse(self, y):
        return y[..., self.inverse_perm], _zero_logdet(y)


class DimPermutation(ChannelPermutation):
    """A given fixed permutation of the last axis of (B, D): ``y[:, i] = x[:, perm[i]]``."""

    def __init__(self, perm: torch.Tensor):
        Transform.__init__(self)
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(torch.sort(perm).values, torch.arange(len(perm))):
            raise ValueError("DimPermutation: perm is not a permutation of 0..D-1")
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))


def time_context(x: torch.Tensor, width: int) -> torch.Tensor:
    """Each frame with its neighbours, zero-padded at the ends: (B, L, C) -> (B, L, width * C)."""
    if width == 1:
        return x
    pad = width // 2
    padded = nn.functional.pad(x, (0, 0, pad, width - 1 - pad))
    return torch.cat([padded[:, i:i + x.shape[1]] for i in range(width)], dim=-1)


class CouplingNet(nn.Module):
    """The shift and raw log-scale of a coupling from its conditioning half: (B, L, C_in) -> 2 x (B, L, C_out).

    A conv over time written as matrix products (faster than conv1d on CPU): a ``kernel_size``-frame
    context -> ``hidden`` -> ReLU -> ``hidden`` -> ReLU -> outputs. The output layer starts at zero,
    so a fresh coupling is the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size
        self.inp = nn.Linear(kernel_size * in_channels, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2 * out_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.inp(time_context(x, self.kernel_size)))
        h = torch.relu(self.mid(h))
        shift, raw_log_scale = self.out(h).chunk(2, dim=-1)
        return shift, raw_log_scale


class AffineCoupling(Transform):
    """Affine coupling on (B, L, C) (RealNVP/Glow): the first ``C // 2`` channels pass unchanged and set
    a shift and a scale of the others, ``y_b = x_b * exp(log_s) + shift``.

    ``log_s = clamp * tanh(raw / clamp)`` bounds the scale in ``[exp(-clamp), exp(clamp)]``, which keeps
    early training stable while letting the layer both expand and contract.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: int = 3, clamp: float = 2.0):
        super().__init__()
        if channels < 2:
            raise ValueError("AffineCoupling needs at least 2 channels")
        self.n_pass = channels // 2
        self.clamp = clamp
        self.net = CouplingNet(self.n_pass, channels - self.n_pass, hidden, kernel_size)

    def _shift_log_scale(self, x_pass: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        shift, raw = self.net(x_pass)
        # the net's output is read as raw / clamp: log_s = clamp * tanh(raw / clamp) without a division
        return shift, self.clamp * torch.tanh(raw)

    def forward(self, x):
        x_pass, x_b = x[..., :self.n_pass], x[..., self.n_pass:]
        shift, log_s = self._shift_log_scale(x_pass)
        y_b = torch.addcmul(shift, x_b, torch.exp(log_s))
        return torch.cat([x_pass, y_b], dim=-1), log_s.flatten(1).sum(1)

    def inverse(self, y):
        y_pass, y_b = y[..., :self.n_pass], y[..., self.n_pass:]
        shift, log_s = self._shift_log_scale(y_pass)
        x_b = (y_b - shift) * torch.exp(-log_s)
        return torch.cat([y_pass, x_b], dim=-1), -log_s.flatten(1).sum(1)


class SqueezeTime(Transform):
    """(B, L, C) -> (B, L/2, 2C): frames 2t and 2t+1 of channel c become channels 2c and 2c+1 of frame t."""

    def forward(self, x):
        b, length, c = x.shape
        if length % 2:
            raise ValueError(f"SqueezeTime: length {length} is odd")
        y = x.reshape(b, length // 2, 2, c).transpose(2, 3).reshape(b, length // 2, 2 * c)
        return y, _zero_logdet(x)

    def inverse(self, y):
        b, half, c2 = y.shape
        x = y.reshape(b, half, c2 // 2, 2).transpose(2, 3).reshape(b, 2 * half, c2 // 2)
        return x, _zero_logdet(y)


def flow_step(channels: int, hidden: int, kernel_size: int, clamp: float, mixing: str, seed: int) -> Flow:
    """One Glow step on (B, L, C): ActNorm -> channel mixing -> affine coupling."""
    if mixing == "conv1x1":
        mix: Transform = InvertibleConv1x1(channels)
    elif mixing == "permute":
        mix = ChannelPermutation(channels, seed=seed)
    elif mixing == "reverse":
        mix = ChannelPermutation(channels)
    else:
        raise ConfigError(f"unknown mixing '{mixing}'; use conv1x1, permute or reverse")
    return Flow([ActNorm(channels), mix, AffineCoupling(channels, hidden, kernel_size, clamp)])


class MultiScaleFlow(Transform):
    """Multi-scale flow over time: feats (B, L, C) -> z (B, L * C), see the module docstring for the layout.

    Args:
        channels: C (the frequency bins).
        length: L (the frames); divisible by 2^(levels-1).
        levels: number of scales n; n - 1 squeeze-and-factor-out steps.
        steps_per_level: K flow steps at each level.
        hidden, kernel_size, clamp: of the coupling nets.
        mixing: conv1x1 (learned LU 1x1 conv), permute (fixed random) or reverse.
    """

    def __init__(self, channels: int, length: int, levels: int = 3, steps_per_level: int = 6, hidden: int = 64,
                 kernel_size: int = 3, clamp: float = 2.0, mixing: str = "conv1x1"):
        super().__init__()
        if levels < 1 or length % (2 ** (levels - 1)):
            raise ConfigError(f"n_frames={length} must be divisible by 2^(levels-1) with levels={levels} >= 1")
        if channels < 2:
            raise ConfigError(f"n_bins={channels}: the coupling layers need at least 2 bins")
        self.channels, self.length = channels, length
        self.levels = nn.ModuleList(
            Flow([flow_step(channels, hidden, kernel_size, clamp, mixing, seed=100 * level + step)
                  for step in range(steps_per_level)])
            for level in range(levels))
        self.squeeze = SqueezeTime()
        lengths = [length // 2 ** (k + 1) for k in range(levels - 1)]
        lengths.append(length // 2 ** (levels - 1))
        self.part_lengths: List[int] = lengths

    def forward(self, x):
        """x: (B, L, C) -> z (B, L * C), logdet (B,)."""
        logdet = _zero_logdet(x)
        parts = []
        for k, level in enumerate(self.levels):
            x, ld = level(x)
            logdet = logdet + ld
            if k < len(self.levels) - 1:
                x, _ = self.squeeze(x)
                parts.append(x[..., :self.channels].flatten(1))
                x = x[..., self.channels:]
        parts.append(x.flatten(1))
        return torch.cat(parts, dim=1), logdet

    def inverse(self, z):
        """z: (B, L * C) -> x (B, L, C), logdet (B,) of the inverse map."""
        sizes = [n * self.channels for n in self.part_lengths]
        parts = [p.reshape(z.shape[0], n, self.channels)
                 for p, n in zip(z.split(sizes, dim=1), self.part_lengths)]
        logdet = _zero_logdet(z)
        x = parts[-1]
        for k in range(len(self.levels) - 1, -1, -1):
            if k < len(self.levels) - 1:
                x, _ = self.squeeze.inverse(torch.cat([parts[k], x], dim=-1))
            x, ld = self.levels[k].inverse(x)
            logdet = logdet + ld
        return x, logdet

    def channel_dims(self, channels: Sequence[int]) -> torch.Tensor:
        """Indices into z of every dim of the given z-part channels, part by part, frame-major within a part."""
        channels = torch.as_tensor(list(channels), dtype=torch.long)
        index, offset = [], 0
        for n in self.part_lengths:
            frames = torch.arange(n).unsqueeze(1)
            index.append((offset + frames * self.channels + channels).flatten())
            offset += n * self.channels
        return torch.cat(index)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """log N(z; mean, I) summed over the last dim: z (B, D), mean (B, D) or None for 0 -> (B,)."""
    diff = z if mean is None else z - mean
    return -0.5 * (diff.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)


def class_mixture_log_prob(z: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """log of sum_y (1/K) N(z; means[y], I) for z (B, D), means (K, D) -> (B,)."""
    per_class = -0.5 * (torch.cdist(z, means).pow(2) + z.shape[-1] * LOG_2PI)
    return torch.logsumexp(per_class, dim=1) - math.log(means.shape[0])


class ClassMeans(nn.Module):
    """One learnable prior mean per class, ``mean_y = scale * weight[y]``, starting at zero.

    Each class sees only a few items per batch, so its gradient is noisy and small; Adam moves a
    parameter by about the learning rate per step whatever the gradient's size, so the ``scale``
    multiplies how fast the means can follow the codes of their classes.
    """

    def __init__(self, n_classes: int, dim: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.zeros(n_classes, dim))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B,) -> their means (B, dim)."""
        return self.scale * self.weight[labels]

    def table(self) -> torch.Tensor:
        """All the means: (n_classes, dim)."""
        return self.scale * self.weight

    @torch.no_grad()
    def set_table(self, means: torch.Tensor) -> None:
        """Set every mean: means (n_classes, dim)."""
        self.weight.copy_(means / self.scale)


def class_code_means(batches: Iterable[Dict[str, torch.Tensor]], encode, parts: Dict[str, slice],
                     n_classes: Dict[str, int]) -> Dict[str, torch.Tensor]:
    """Mean code part of each class over ``batches``: {factor: (n_classes, part dims)}.

    ``encode`` maps feats (B, T, F) to codes (B, D); ``parts`` names the slice of the code each factor's
    means live in. A class with no item keeps a zero mean.
    """
    sums: Dict[str, torch.Tensor] = {}
    counts: Dict[str, torch.Tensor] = {}
    for batch in batches:
        z = encode(batch["feats"])
        for factor, part in parts.items():
            labels, z_part = batch[factor], z[:, part]
            if factor not in sums:
                sums[factor] = z.new_zeros(n_classes[factor], z_part.shape[1])
                counts[factor] = z.new_zeros(n_classes[factor])
            sums[factor].index_add_(0, labels, z_part)
            counts[factor] += torch.bincount(labels, minlength=n_classes[factor]).to(z.dtype)
    return {factor: sums[factor] / counts[factor].clamp(min=1)[:, None] for factor in sums}


def between_class_variance(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Unbiased (one-way ANOVA) estimate of the variance of the class means of z (B, D) over ``labels`` (B,),
    summed over dims: ``(SS_between - (K - 1) MS_within) / B`` with K the classes present. Near 0 when
    the class does not change the mean of z, whatever the batch's sampling noise; it can be negative,
    so a loss must not minimise it unclamped (spreading z within classes would lower it without bound)."""
    classes, index, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    n, k = z.shape[0], len(classes)
    sums = z.new_zeros(k, z.shape[1]).index_add_(0, index, z)
    means = sums / counts[:, None].to(z.dtype)
    between = (counts.to(z.dtype)[:, None] * (means - z.mean(0)).pow(2)).sum()
    within = (z - means[index]).pow(2).sum()
    return (between - (k - 1) * within / max(n - k, 1)) / n


class _FlowModel(GenerativeModel, Autoencoder, Sampler, Density):
    """Shared body of the flow models: feats (B, T, F) -> z (B, D = T * F) by a multi-scale flow.

    The prior is N(0, I) on every part of z that no factor owns, and on each factor's part
    ``N(z_part; mu_y, I)`` with the class means of that factor (``_class_priors``); a factor whose label
    is not given is marginalised under a uniform class prior. Subclasses may append a fixed
    permutation of z to ``self.flow``.

    ``class_weight`` (0 in maximum likelihood, as the paper trains; one number for every factor or one per
    factor, see ``factor_weights``) adds ``class_weight / D`` times the cross-entropy of each factor's Bayes
    posterior ``p(y | z_part) = softmax_y(-||z_part - mu_y||^2 / 2)``
    to the per-dim NLL. The class prior is worth at most ``log K`` nats of a segment's ~10^3 (the mutual
    information of x and y), so under maximum likelihood it barely shapes the flow; the weight makes
    the flow separate the classes in z (the hybrid objective of FlowGMM, Izmailov et al. 2020).
    """

    class_weights: Mapping[str, float] = MappingProxyType({})  # {factor: weight}; none for the NF

    def __init__(self, n_frames: int, n_bins: int, levels: int, steps_per_level: int, hidden: int,
                 kernel_size: int, clamp: float, mixing: str):
        super().__init__()
        self.n_frames, self.n_bins = n_frames, n_bins
        self.dim = n_frames * n_bins
        self.flow = Flow([MultiScaleFlow(n_bins, n_frames, levels, steps_per_level, hidden, kernel_size, clamp,
                                         mixing)])

    @property
    def body(self) -> MultiScaleFlow:
        """The multi-scale flow, feats (B, T, F) -> its own z layout (B, D), before any permutation."""
        return self.flow.transforms[0]

    # ------------------------------------------------------------ the density
    def _class_priors(self) -> Dict[str, Tuple["ClassMeans", slice]]:
        """{factor: (its class means, the slice of z they live in)}; none for the NF."""
        return {}

    def _prior_log_prob(self, z: torch.Tensor, labels: Dict[str, Optional[torch.Tensor]]) -> torch.Tensor:
        """log prior of z (B, D) given the labels of the factors (None: marginalised) -> (B,)."""
        priors = self._class_priors()
        if not priors:
            return gaussian_log_prob(z)
        total = z.new_zeros(z.shape[0])
        for name, (means, part) in priors.items():
            y, z_part = labels.get(name), z[:, part]
            total = total + (class_mixture_log_prob(z_part, means.table()) if y is None
                             else gaussian_log_prob(z_part, means(y)))
        return total

    def _labels(self, batch: Dict[str, torch.Tensor]) -> Dict[str, Optional[torch.Tensor]]:
        """The label tensor of every factor of the prior, taken from a batch."""
        missing = [name for name in self._class_priors() if name not in batch]
        if missing:
            raise ConfigError(f"{type(self).__name__} is trained with {' and '.join(self._class_priors())} labels but "
                              f"the batch has no {', '.join(missing)}; pass --lang-dir and a feature dir with "
                              "seg2phone/seg2spk")
        return {name: batch[name] for name in self._class_priors()}

    @property
    def needs_data_pass(self) -> bool:
        """Whether the trainer must give ``init_from_data`` a pass over the training set (``init_means: data``)."""
        return bool(self._class_priors()) and getattr(self, "init_means", "zero") == "data"

    @torch.no_grad()
    def init_from_data(self, batches: Iterable[Dict[str, torch.Tensor]]) -> None:
        """With ``init_means: data``, start each class mean at the mean code part of its class (the flow as
        initialised), so the class prior shapes the flow from the first step instead of waiting for the
        means to grow from 0. The trainer calls it once before the first step."""
        if not self.needs_data_pass:
            return
        priors = self._class_priors()
        means = class_code_means(batches, self.encode, {name: part for name, (_, part) in priors.items()},
                                 {name: table.weight.shape[0] for name, (table, _) in priors.items()})
        for name, (table, _) in priors.items():
            table.set_table(means[name])

    @torch.no_grad()
    def log_prob(self, feats: torch.Tensor, labels: Labels = None) -> torch.Tensor:
        """log p(x | labels) in nats, summed over dims: feats (B, T, F) -> (B,).

        ``labels``: None or {factor: (B,)} of ``label_classes()``; a factor left out is marginalised
        under a uniform prior over its classes (the NF takes none).
        """
        return self._log_prob(feats, check_labels(self, feats.shape[0], labels))[0]

    def _log_prob(self, feats: torch.Tensor, labels: Dict[str, Optional[torch.Tensor]]):
        """(log p(x) (B,), logdet (B,), z (B, D)), the first two in nats summed over the D dims."""
        z, logdet = self.flow(feats)
        return self._prior_log_prob(z, labels) + logdet, logdet, z

    def class_logits(self, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        """log p(y | z) up to a constant for each factor: z (B, D) -> {factor: (B, n_classes)}."""
        return {name: -0.5 * torch.cdist(z[:, part], means.table()).pow(2)
                for name, (means, part) in self._class_priors().items()}

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Mean NLL in nats per dim of ``batch["feats"]: (B, T, F)`` given the batch's labels, plus the
        weighted class cross-entropies (``class_weight``); the accuracy of p(y | z) is logged per factor."""
        labels = self._labels(batch)
        log_px, logdet, z = self._log_prob(batch["feats"], labels)
        nll = -log_px.mean() / self.dim
        loss = nll
        stats = {"nll": nll.item(), "bpd": nll.item() / math.log(2.0), "logdet": logdet.mean().item() / self.dim}
        for name, logits in self.class_logits(z).items():
            ce = nn.functional.cross_entropy(logits, labels[name])
            stats[f"ce_{name}"] = ce.item()
            stats[f"acc_{name}"] = (logits.argmax(1) == labels[name]).float().mean().item()
            if self.class_weights.get(name):
                loss = loss + self.class_weights[name] * ce / self.dim
        loss = loss + self._extra_loss(z, labels, stats)
        stats["loss"] = loss.item()
        return loss, stats

    def _extra_loss(self, z: torch.Tensor, labels: Dict[str, torch.Tensor], stats: Dict[str, float]) -> torch.Tensor:
        """A model's own term added to the loss (logging into ``stats``); none for NF and DNF."""
        return z.new_zeros(())

    # ------------------------------------------------------------ verbs of the eval stages
    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, F) -> z (B, D), D = T * F, in the layout of ``factor_slices``."""
        return self.flow(feats)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> feats (B, T, F); the exact inverse of ``encode``."""
        return self.flow.inverse(z)[0]

    def label_classes(self) -> Dict[str, int]:
        """{factor: number of classes} of the class priors; {} for the NF."""
        return {name: means.weight.shape[0] for name, (means, _) in self._class_priors().items()}

    @torch.no_grad()
    def sample(self, n: int, labels: Labels = None, generator: Optional[torch.Generator] = None, *,
               temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws x = f^-1(z), z ~ N(mu, temperature^2 I): (n, T, F).

        mu is 0 outside the factors' parts of z and, on a factor's part, the class mean of its label
        in ``labels`` ({factor: (n,)}); a factor without labels takes uniformly drawn classes, the
        prior that ``log_prob`` marginalises over. ``temperature`` 0 decodes the means themselves.
        """
        labels = check_labels(self, n, labels)
        ref = next(self.parameters())
        mean = ref.new_zeros(n, self.dim)
        for name, (means, part) in self._class_priors().items():
            y = labels.get(name)
            if y is None:
                y = torch.randint(means.weight.shape[0], (n,), generator=generator)
            mean[:, part] = means(y.to(ref.device))
        noise = torch.randn(n, self.dim, generator=generator, dtype=ref.dtype)
        return self.decode(mean + temperature * noise.to(ref.device))


@MODELS.register("nf")
class NF(_FlowModel):
    """Normalising flow with a standard normal prior: log p(x) = log N(z; 0, I) + log|det dz/dx|.

    Args:
        n_frames, n_bins: T and F of the (B, T, F) segments.
        levels: scales of the multi-scale flow (n_frames divisible by 2^(levels-1)).
        steps_per_level: flow steps (ActNorm, 1x1 conv, coupling) per scale.
        hidden: width of the coupling nets; kernel_size: their conv kernel over time.
        clamp: bound of the coupling log-scales.
        mixing: conv1x1 | permute | reverse, the channel mixing before each coupling.
    """

    def __init__(self, n_frames: int = 20, n_bins: int = 200, levels: int = 3, steps_per_level: int = 6,
                 hidden: int = 64, kernel_size: int = 3, clamp: float = 2.0, mixing: str = "conv1x1"):
        super().__init__(n_frames, n_bins, levels, steps_per_level, hidden, kernel_size, clamp, mixing)



def check_init_means(init_means: str) -> str:
    if init_means not in ("zero", "data"):
        raise ConfigError(f"init_means={init_means!r}: expected zero or data")
    return init_means


def factor_weights(class_weight: float | Mapping[str, float], factors: Sequence[str]) -> Dict[str, float]:
    """``class_weight`` of a config as {factor: weight}: one number for every factor, or a mapping whose
    factors left out weigh 0. A factor the model does not have, or a negative weight, is an error."""
    if isinstance(class_weight, Mapping):
        unknown = sorted(set(class_weight) - set(factors))
        if unknown:
            raise ConfigError(f"class_weight: {', '.join(map(str, unknown))} is not a factor of this model; "
                              f"use {' and '.join(factors)}")
        weights = {factor: float(class_weight.get(factor, 0.0)) for factor in factors}
    else:
        weights = {factor: float(class_weight) for factor in factors}
    for factor, weight in weights.items():
        if not weight >= 0:
            raise ConfigError(f"class_weight of {factor} = {weight:g}: expected a number >= 0")
    return weights


def _check_factor(factor: str, known: Sequence[str]) -> None:
    if factor not in known:
        raise ValueError(f"unknown factor '{factor}'; this model has {', '.join(known)}")


@MODELS.register("dnf")
class DNF(_FlowModel):
    """Discriminative NF: class-conditional prior N(z; mu_y, I), one learnable mean per class of ``label``.

    Args:
        label: the batch key of the class, phone or spk.
        n_classes: number of classes of ``label``.
        mean_scale: learning-speed multiplier of the class means (see ``ClassMeans``).
        init_means: ``zero`` (the means start at 0) or ``data`` (at the class means of the initial codes,
            see ``init_from_data``).
        class_weight: weight of the class cross-entropy of p(y | z) (0: maximum likelihood; see ``_FlowModel``;
            a number, or a mapping ``{label: weight}``).
        others: as ``NF``.
    """

    def __init__(self, label: str = "phone", n_classes: int = 38, n_frames: int = 20, n_bins: int = 200,
                 levels: int = 3, steps_per_level: int = 6, hidden: int = 64, kernel_size: int = 3,
                 clamp: float = 2.0, mixing: str = "conv1x1", mean_scale: float = 10.0, init_means: str = "zero",
                 class_weight: float | Mapping[str, float] = 0.0):
        super().__init__(n_frames, n_bins, levels, steps_per_level, hidden, kernel_size, clamp, mixing)
        self.init_means = check_init_means(init_means)
        if label not in FACTORS:
            raise ConfigError(f"dnf: label '{label}' is not one of {', '.join(FACTORS)}")
        self.class_weights = factor_weights(class_weight, (label,))
        self.label = label
        self.means = ClassMeans(n_classes, self.dim, mean_scale)

    def _class_priors(self):
        return {self.label: (self.means, slice(None))}


    def class_means(self, factor: Optional[str] = None) -> torch.Tensor:
        """The prior means of the model's label: (n_classes, D)."""
        _check_factor(factor or self.label, (self.label,))
        return self.means.table().detach()


@MODELS.register("fdnf")
class FactorialDNF(_FlowModel, Factorised):
    """Factorial DNF: z = [z_A, z_B], log p(x | q, s) = log N(z_A; mu_q, I) + log N(z_B; mu_s, I) + log|det|.

    z_A (phone) is ``z[:, :D_A]`` and z_B (speaker) ``z[:, D_A:]``. With ``layout: channels`` each is built
    from whole channels of the multi-scale flow: z_A holds every dim of channels ``[0, a)`` of all the
    z-parts and z_B those of channels ``[a, F)``, so both factors see every depth of the flow. In z, z_A
    lists the dims of channels < a in the flow's order (part by part, channel-major), then z_B the rest
    likewise. ``D_A = a * T``. With ``layout: depth`` z_A is the first z-parts the flow factors out
    (fine in time, after the fewest steps) and z_B the deeper, coarser rest: the flow's own order.

    Args:
        n_phones, n_speakers: classes of the two factors.
        split: the share of z_A, a fraction in (0, 1) of the F channels (rounded), or an int number of
            dims D_A (a multiple of n_frames). Default: half. With ``layout: depth`` it must fall on the
            end of a z-part (3 levels: 0.5 is the first part, 0.75 the first two).
        layout: channels (default) or depth, how z is cut into z_A and z_B (above).
        mean_scale: learning-speed multiplier of the class means (see ``ClassMeans``).
        init_means: as for ``DNF``, for both factors.
        class_weight: as for ``DNF``: one number for both factors, or ``{phone: N, spk: M}``.
        independence_weight: weight of the leak of each factor into the other's part: the variance of the
            speaker means of z_A plus that of the phone means of z_B (``between_class_variance``), per dim
            of z. The mean shift moves one part only, so what a factor leaves in the other part stays put.
        others: as ``NF``.
    """

    def __init__(self, n_phones: int = 38, n_speakers: int = 40, split: float = 0.5, n_frames: int = 20,
                 n_bins: int = 200, levels: int = 3, steps_per_level: int = 6, hidden: int = 64,
                 kernel_size: int = 3, clamp: float = 2.0, mixing: str = "conv1x1", mean_scale: float = 10.0,
                 init_means: str = "zero", class_weight: float | Mapping[str, float] = 0.0,
                 independence_weight: float = 0.0, layout: str = "channels"):
        super().__init__(n_frames, n_bins, levels, steps_per_level, hidden, kernel_size, clamp, mixing)
        self.init_means = check_init_means(init_means)
        self.class_weights = factor_weights(class_weight, FACTORS)
        self.independence_weight = float(independence_weight)
        if layout == "depth":
            self.phone_dim = self._depth_split(split)
        elif layout == "channels":
            phone_channels = self._channels_of_split(split, n_frames, n_bins)
            self.phone_dim = phone_channels * n_frames
            dims_a = self.body.channel_dims(range(phone_channels))
            dims_b = self.body.channel_dims(range(phone_channels, n_bins))
            self.flow.transforms.append(DimPermutation(torch.cat([dims_a, dims_b])))
        else:
            raise ConfigError(f"fdnf: layout={layout!r}: expected channels or depth")
        self.phone_means = ClassMeans(n_phones, self.phone_dim, mean_scale)
        self.spk_means = ClassMeans(n_speakers, self.dim - self.phone_dim, mean_scale)

    @staticmethod
    def _channels_of_split(split, n_frames: int, n_bins: int) -> int:
        """The number a of channels in z_A, 0 < a < F."""
        if isinstance(split, bool):
            raise ConfigError(f"fdnf: split={split!r} is neither a fraction nor a size")
        if isinstance(split, int) and split >= 1:
            if split % n_frames:
                raise ConfigError(f"fdnf: split={split} dims is not a multiple of n_frames={n_frames}")
            channels = split // n_frames
        elif isinstance(split, (int, float)) and 0 < split < 1:
            channels = int(round(split * n_bins))
        else:
            raise ConfigError(f"fdnf: split={split!r} must be a fraction in (0, 1) or a number of dims")
        if not 0 < channels < n_bins:
            raise ConfigError(f"fdnf: split={split!r} leaves one factor without dims "
                              f"({channels} of {n_bins} channels)")
        return channels

    def _depth_split(self, split) -> int:
        """D_A with ``layout: depth``: ``split`` (a fraction of D or a number of dims) must end a z-part."""
        ends, end = [], 0
        for n in self.body.part_lengths[:-1]:
            end += n * self.n_bins
            ends.append(end)
        fraction = isinstance(split, float) and 0 < split < 1
        dims = round(split * self.dim) if fraction else split
        if isinstance(split, bool) or not isinstance(dims, int) or dims not in ends:
            raise ConfigError(f"fdnf: split={split!r} with layout: depth must end a z-part: "
                              + " or ".join(f"{e} ({e / self.dim:g})" for e in ends) + f" of {self.dim} dims")
        return dims

    def _class_priors(self):
        parts = self.factor_slices()
        return {"phone": (self.phone_means, parts["phone"]), "spk": (self.spk_means, parts["spk"])}

    def _extra_loss(self, z, labels, stats):
        parts = self.factor_slices()
        leak = sum(between_class_variance(z[:, parts[name]], labels[other]).clamp(min=0) for name, other in
                   (("phone", "spk"), ("spk", "phone"))) / self.dim
        stats["leak"] = leak.item()
        return self.independence_weight * leak if self.independence_weight else z.new_zeros(())


    def factor_slices(self) -> Dict[str, slice]:
        """{"phone": z_A's slice, "spk": z_B's slice} of z (B, D); together they partition z."""
        return {"phone": slice(0, self.phone_dim), "spk": slice(self.phone_dim, self.dim)}

    def class_means(self, factor: str) -> torch.Tensor:
        """Prior means of a factor: "phone" -> (n_phones, D_A), "spk" -> (n_speakers, D - D_A)."""
        _check_factor(factor, FACTORS)
        return (self.phone_means if factor == "phone" else self.spk_means).table().detach()
