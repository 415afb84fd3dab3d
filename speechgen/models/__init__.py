"""Models. ``import speechgen.models`` registers every model class in ``MODELS`` by its config name.

The package imports nothing of :mod:`speechgen.train`: the trainer and the config code depend on the
models, never the other way round. What each model can do is declared by the interfaces of
:mod:`speechgen.models.abilities` it inherits.
"""
from speechgen.models.base import MODELS, GenerativeModel
from speechgen.models.abilities import (
    ABILITIES, Autoencoder, Decoder, Encoder, Factorised, Reconstructor, Sampler, require,
)
# each model module registers its classes in MODELS when imported
from speechgen.models import classifier, complex_vae, flows, identity, vae, vaegan, wae, wgan_gp

__all__ = ["MODELS", "GenerativeModel", "ABILITIES", "Autoencoder", "Decoder", "Encoder", "Factorised",
           "Reconstructor", "Sampler", "require", "classifier", "complex_vae", "flows", "identity", "vae", "vaegan",
           "wae", "wgan_gp"]
