"""Corpora: every kind yields :class:`~speechgen.corpora.base.Utterance` objects; one writer makes Kaldi data dirs.

A kind is one module with one :class:`~speechgen.corpora.base.Corpus` subclass, listed in :data:`KINDS`.
"""
from __future__ import annotations

import os
from typing import Dict, Type

from speechgen.corpora.base import Corpus, Utterance  # noqa: F401
from speechgen.corpora.chime4 import Chime4Corpus
from speechgen.corpora.kaldi import KaldiCorpus
from speechgen.corpora.librispeech import LibriSpeechCorpus
from speechgen.corpora.lhotse_manifests import LhotseCorpus
from speechgen.corpora.synth import SynthCorpus
from speechgen.corpora.timit import TimitCorpus, TimitNltkCorpus
from speechgen.corpora.wavdir import WavDirCorpus
from speechgen.errors import ConfigError

KINDS: Dict[str, Type[Corpus]] = {cls.kind: cls for cls in (
    TimitCorpus, TimitNltkCorpus, Chime4Corpus, LibriSpeechCorpus, KaldiCorpus, WavDirCorpus, LhotseCorpus, SynthCorpus)}


def open_corpus(kind: str, path: str | os.PathLike, **options) -> Corpus:
    """The corpus of ``kind`` at ``path``; ``options`` go to its reader (unknown ones are ignored)."""
    if kind not in KINDS:
        raise ConfigError(f"--corpus {kind!r}: unknown corpus kind; choose from {', '.join(KINDS)}")
    return KINDS[kind](path, **options)
