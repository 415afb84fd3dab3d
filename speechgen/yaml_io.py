"""YAML as users write it: ``1e-3`` and ``1.0e6`` are numbers.

PyYAML follows YAML 1.1, whose float pattern needs a dot and a signed exponent, so ``lr: 1e-3`` would
be the string ``"1e-3"``. :class:`Loader` resolves floats by the YAML 1.2 core schema instead
(``1e-3``, ``1E6``, ``.5``, ``+1.0e+6``, ``.inf``, ``.nan``); everything else is PyYAML's safe loader.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

FLOAT_12 = re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                       |[-+]?\.(?:inf|Inf|INF)
                       |\.(?:nan|NaN|NAN))$""", re.X)


class Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 floats (see the module docstring)."""


# drop the YAML 1.1 float resolver, then add the 1.2 one (ints keep priority: they are tried first)
Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_12, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse YAML text (a config file, an ``--override`` value) with :class:`Loader`."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
