"""Corpora: every kind yields :class:`~speechgen.corpora.base.Utterance` objects; one writer makes Kaldi data dirs.

A kind is one module of this package with one :class:`~speechgen.corpora.base.Corpus` subclass that sets
``kind``; :data:`KINDS` finds it there, so adding a corpus is adding its module (and its test).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Dict, Type

from speechgen.corpora.base import Corpus, Utterance  # noqa: F401
from speechgen.errors import ConfigError


def _find_kinds() -> Dict[str, Type[Corpus]]:
    """Every Corpus subclass with a ``kind`` defined in a module of this package, by kind name."""
    kinds: Dict[str, Type[Corpus]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, Corpus) and obj.kind
                    and obj.__module__ == module.__name__):
                if obj.kind in kinds:
                    raise RuntimeError(f"corpus kind {obj.kind!r} defined twice: {kinds[obj.kind]} and {obj}")
                kinds[obj.kind] = obj
    return kinds


KINDS: Dict[str, Type[Corpus]] = _find_kinds()


def open_corpus(kind: str, path: str | os.PathLike, **options) -> Corpus:
    """The corpus of ``kind`` at ``path``; ``options`` go to its reader (unknown ones are ignored)."""
    if kind not in KINDS:
        raise ConfigError(f"--corpus {kind!r}: unknown corpus kind; choose from {', '.join(KINDS)}")
    if not str(path):
        raise ConfigError(f"--corpus {kind} needs --corpus-path PATH ({KINDS[kind].path_hint})")
    return KINDS[kind](path, **options)
