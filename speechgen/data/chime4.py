"""Speaker-disjoint splits and clean-speech data dirs of the complex-spectrogram recipe.

CHiME-4's reader is :mod:`speechgen.corpora.chime4` (re-exported here); the data dir writer is
:mod:`speechgen.corpora.writer`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Sequence

from speechgen.corpora.chime4 import (  # noqa: F401  (the CHiME-4 reader, re-exported)
    DEMO_UTTERANCES, ENVIRONMENTS, KNOWN_SETS, LAYOUT, ORIGINAL_SETS, SAMPLE_RATE, SIMU_SETS, CleanUtterance,
    audio_root, check_audio, read_chime4)
from speechgen.corpora.timit import read_corpus
from speechgen.corpora.writer import write_data_dir
from speechgen.data.validate import validate_data_dir
from speechgen.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def write_clean_data_dir(utts: Sequence[CleanUtterance], dirpath: str | os.PathLike) -> Dict[str, int]:
    """Write (:func:`speechgen.corpora.writer.write_data_dir`) and validate a data dir of clean speech."""
    write_data_dir(utts, dirpath)
    return validate_data_dir(dirpath)


def _share(count: int, n_groups: int, i: int) -> int:
    """Group ``i``'s part of ``count`` split as evenly as possible over ``n_groups`` (earlier ones first)."""
    return count // n_groups + int(i < count % n_groups)


def split_by_speaker(utts: Sequence[CleanUtterance], n_dev: int, n_test: int) -> Dict[str, List[CleanUtterance]]:
    """Speaker-disjoint train/dev/test: the last speakers of each gender (sorted ids) go to test, the
    ones before them to dev, half of each count per gender (female first when odd)."""
    if n_dev < 0 or n_test < 1:
        raise ConfigError(f"dev speakers {n_dev}, test speakers {n_test}: need >= 0 and >= 1")
    by_gender: Dict[str, List[str]] = {}
    for spk, gender in sorted({(u.spk, u.gender) for u in utts}):
        by_gender.setdefault(gender, []).append(spk)
    role: Dict[str, str] = {}
    for i, spks in enumerate(by_gender.values()):
        n_test_g, n_dev_g = _share(n_test, len(by_gender), i), _share(n_dev, len(by_gender), i)
        if n_test_g + n_dev_g >= len(spks):
            raise DataError(f"{len(spks)} speakers of one gender cannot give {n_test_g} test + {n_dev_g} dev "
                            "speakers and leave any for training; lower --test-speakers/--dev-speakers or "
                            "generate more speakers")
        for j, spk in enumerate(reversed(spks)):
            role[spk] = "test" if j < n_test_g else "dev" if j < n_test_g + n_dev_g else "train"
    return {name: [u for u in utts if role[u.spk] == name] for name in ("train", "dev", "test")}


def timit_layout_utterances(corpus: str | os.PathLike) -> List[CleanUtterance]:
    """The utterances of a TIMIT-layout corpus (e.g. the embedded synthetic one) as clean utterances."""
    return [CleanUtterance(u.utt_id, u.spk, u.gender, u.subset, u.wav) for u in read_corpus(corpus)]


def prepare_splits(splits: Dict[str, Sequence[CleanUtterance]],
                   data_dir: str | os.PathLike) -> Dict[str, Dict[str, int]]:
    """Write ``data_dir/<name>`` for each split; returns the validator's counts per split."""
    summary = {}
    for name, utts in splits.items():
        summary[name] = write_clean_data_dir(utts, Path(data_dir) / name)
        log.info("%s: %d utterances, %d speakers", Path(data_dir) / name,
                 summary[name]["utterances"], summary[name]["speakers"])
    return summary
