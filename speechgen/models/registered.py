"""Importing this module registers every model class in speechgen.train.registry.MODELS."""
from speechgen.models import classifier, flows, identity, vae  # noqa: F401
from speechgen.models import vaegan, wae, wgan_gp  # noqa: F401
from speechgen.models import complex_vae  # noqa: F401
