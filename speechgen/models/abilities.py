"""What a model can do, declared by the interfaces its class inherits.

Evaluations ask for an ability by type (``isinstance(model, Sampler)``), never by probing for a
method, and :func:`require` turns a missing one into a one-line ConfigError. A model class lists
its abilities among its bases, e.g. ``class ConvVAE(GenerativeModel, Autoencoder, Sampler)``;
each interface's methods are abstract, so a class that declares an ability it does not implement
cannot be built.

Shapes: ``feats: (B, T, F)`` normalised segments or windows, ``z: (B, D)`` codes.

* :class:`Encoder`: ``encode(feats) -> (B, D)``, a deterministic code (e.g. the posterior mean);
* :class:`Decoder`: ``decode(z) -> (B, T, F)``;
* :class:`Reconstructor`: ``reconstruct(feats) -> (B, T, F)`` through the model's code;
* :class:`Sampler`: ``sample(n, labels=None, generator=None) -> (n, T, F)``, with ``labels`` None or
  ``{factor: LongTensor (n,)}`` for the factors of ``label_classes()`` (class-conditional models);
* :class:`Density`: ``log_prob(feats, labels=None) -> (B,)``, the exact log-likelihood in nats, with
  ``labels`` as for ``sample``;
* :class:`Factorised`: an encoder whose code splits into named factors, ``factor_slices()``.

:class:`Autoencoder` is the three first together, reconstructing as ``decode(encode(feats))``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch

from speechgen.errors import ConfigError
from speechgen.models.base import MODELS

Labels = Optional[Mapping[str, torch.Tensor]]


class Encoder(ABC):
    """A model with a deterministic code of its input."""

    @abstractmethod
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, F) -> codes (B, D)."""


class Decoder(ABC):
    """A model that maps codes back to features."""

    @abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> feats (B, T, F)."""


class Reconstructor(ABC):
    """A model that rebuilds its input through its code."""

    @abstractmethod
    def reconstruct(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, F) -> reconstructions (B, T, F)."""


class Autoencoder(Encoder, Decoder, Reconstructor):
    """Encoder, decoder, and the reconstruction ``decode(encode(feats))``."""

    @torch.no_grad()
    def reconstruct(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, F) -> decode(encode(feats)) (B, T, F)."""
        return self.decode(self.encode(feats))


class Labelled(ABC):
    """What takes class labels: ``label_classes()`` names the factors a class-conditional model takes
    labels of, with their numbers of classes; it is empty for an unconditional model."""

    def label_classes(self) -> Dict[str, int]:
        """{factor: number of classes} of the labels the model is conditioned on; {} if unconditional."""
        return {}


class Sampler(Labelled):
    """A model that draws new features, unconditionally or given class labels (``label_classes()``)."""

    @abstractmethod
    def sample(self, n: int, labels: Labels = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` draws (n, T, F).

        Args:
            labels: None, or {factor: LongTensor (n,)} for factors of ``label_classes()``. A conditional
                model given no label of a factor draws one the way its prior does, or raises ConfigError
                when it has no such prior.
            generator: the random numbers' source; the same seed gives the same samples.
        Model-specific options (e.g. a flow's ``temperature``) follow as keyword arguments.
        """


class Density(Labelled):
    """A model with an exact log-likelihood of its input, unconditionally or given class labels."""

    @abstractmethod
    def log_prob(self, feats: torch.Tensor, labels: Labels = None) -> torch.Tensor:
        """log p(feats | labels) in nats, summed over dims: feats (B, T, F) -> (B,).

        ``labels`` as for ``Sampler.sample``: None or {factor: LongTensor (B,)}; a factor left out is
        marginalised under the model's class prior.
        """


class Factorised(Encoder):
    """An encoder whose code splits into named factors (e.g. phone and speaker)."""

    @abstractmethod
    def factor_slices(self) -> Dict[str, slice]:
        """{factor: the slice of the code (B, D) that belongs to it}."""


ABILITIES = (Encoder, Decoder, Reconstructor, Sampler, Density, Factorised)
DOES = {Encoder: "encodes features into a code", Decoder: "decodes codes into features",
        Reconstructor: "reconstructs features", Sampler: "samples features", Density: "scores its input's likelihood",
        Factorised: "splits its code into named factors"}


def model_name(model) -> str:
    """The registered name of ``model``'s class, else the class name."""
    return MODELS.name_of(type(model)) or type(model).__name__


def abilities(model) -> List[str]:
    """The names of the interfaces of ``ABILITIES`` that ``model`` declares."""
    return [ability.__name__ for ability in ABILITIES if isinstance(model, ability)]


def require(model, ability: Union[type, Tuple[type, ...]], purpose: str):
    """Return ``model`` if it declares ``ability`` (one of them, for a tuple); else raise a one-line
    ConfigError naming ``purpose``, the model, the ability it lacks and those it has."""
    if isinstance(model, ability):
        return model
    wanted = ability if isinstance(ability, tuple) else (ability,)
    does = " or ".join(DOES[a] for a in wanted)
    has = ", ".join(abilities(model)) or "none"
    raise ConfigError(f"{purpose} needs a model that {does} ({' or '.join(a.__name__ for a in wanted)}); "
                      f"model '{model_name(model)}' does not (it declares: {has})")


def check_labels(model: Labelled, n: int, labels: Labels) -> Dict[str, torch.Tensor]:
    """The ``labels`` of ``n`` samples or inputs checked against ``model.label_classes()``.

    Returns {factor: LongTensor (n,)} (empty for None); raises ConfigError for a factor the model is not
    conditioned on, a tensor that is not (n,) integers, or a class out of range.
    """
    if labels is None:
        return {}
    name, classes = model_name(model), model.label_classes()
    if not isinstance(labels, Mapping):
        raise ConfigError(f"model '{name}' takes labels as {{factor: LongTensor (n,)}}, "
                          f"not {type(labels).__name__}")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        takes = f"labels of {', '.join(classes)}" if classes else "no labels (it is unconditional)"
        raise ConfigError(f"model '{name}' takes {takes}; got labels of {', '.join(unknown)}")
    checked = {}
    for factor, y in labels.items():
        y = torch.as_tensor(y)
        if y.shape != (n,) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ConfigError(f"model '{name}': labels['{factor}'] must be {n} integer classes, shape ({n},); "
                              f"got {y.dtype} of shape {tuple(y.shape)}")
        if n and (int(y.min()) < 0 or int(y.max()) >= classes[factor]):
            raise ConfigError(f"model '{name}': labels['{factor}'] must be classes 0..{classes[factor] - 1}; "
                              f"got {int(y.min())}..{int(y.max())}")
        checked[factor] = y.long()
    return checked
