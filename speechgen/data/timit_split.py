"""The standard TIMIT train/dev/core-test split, and a speaker split for corpora without one.

Standard split (the one of Kaldi's TIMIT recipe, ``conf/dev_spk.list`` and ``conf/test_spk.list``):
SA sentences are excluded everywhere; ``train`` is every SI/SX utterance of the TRAIN subset
(462 speakers, 3696 utterances); ``test`` is the core test set, 24 speakers of the TEST subset
(192 utterances); ``dev`` is 50 other speakers of the TEST subset (400 utterances). The remaining
94 TEST speakers are not used.

The speaker split (``--split speakers:D,T`` of speechgen-prepare-data, for any corpus): per gender,
a seeded shuffle gives ``n_dev`` speakers to dev, ``n_test`` to test and the rest to train, so every
split holds both genders and no speaker is in two splits.
"""
from __future__ import annotations

import random
from typing import Sequence

from speechgen.data.timit import SPLITS, Utterance
from speechgen.errors import ConfigError, DataError


# The 24 speakers of the TIMIT core test set (3 per dialect region: 2 male, 1 female).
CORE_TEST_SPEAKERS: tuple[str, ...] = (
    "mdab0", "mwbt0", "felc0", "mtas1", "mwew0", "fpas0", "mjmp0", "mlnt0", "fpkt0", "mlll0", "mtls0", "fjlm0",
    "mbpm0", "mklt0", "fnlp0", "mcmj0", "mjdh0", "fmgd0", "mgrt0", "mnjm0", "fdhc0", "mjln0", "mpam0", "fmld0",
)

# The 50 development speakers of the standard recipe, all from the TEST subset outside the core test set.
DEV_SPEAKERS: tuple[str, ...] = (
    "faks0", "fdac1", "fjem0", "mgwt0", "mjar0", "mmdb1", "mmdm2", "mpdf0", "fcmh0", "fkms0",
    "mbdg0", "mbwm0", "mcsh0", "fadg0", "fdms0", "fedw0", "mgjf0", "mglb0", "mrtk0", "mtaa0",
    "mtdt0", "mthc0", "mwjg0", "fnmr0", "frew0", "fsem0", "mbns0", "mmjr0", "mdls0", "mdlf0",
    "mdvc0", "mers0", "fmah0", "fdrw0", "mrcs0", "mrjm4", "fcal1", "mmwh0", "fjsj0", "majc0",
    "mjsw0", "mreb0", "fgjd0", "fjmg0", "mroa0", "mteb0", "mjfc0", "mrjr0", "fmml0", "mrws1",
)


def standard_split(utts: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    """Split TIMIT utterances (TRAIN and TEST subsets) into the standard train/dev/core-test sets.

    SA utterances (``<spk>_sa1``, ``<spk>_sa2``) are dropped if present.

    Raises:
        DataError: when a split comes out empty (e.g. the TEST subset is missing), naming the split.
    """
    dev, test = set(DEV_SPEAKERS), set(CORE_TEST_SPEAKERS)
    splits: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for utt in sorted(utts, key=lambda u: u.utt_id):
        if utt.utt_id.split("_")[-1].startswith("sa"):
            continue
        if utt.subset == "train":
            splits["train"].append(utt)
        elif utt.spk in dev:
            splits["dev"].append(utt)
        elif utt.spk in test:
            splits["test"].append(utt)
    for name, part in splits.items():
        if not part:
            raise DataError(f"the standard TIMIT split leaves '{name}' empty: the corpus needs the TRAIN and TEST "
                            "subsets with the 50 dev and 24 core-test speakers (LDC layout)")
    return splits


def speaker_split(utts: Sequence[Utterance], n_dev: int = 2, n_test: int = 2,
                  seed: int = 0) -> dict[str, list[Utterance]]:
    """Split utterances by speaker: per gender ``n_dev`` speakers to dev, ``n_test`` to test, the rest to train.

    Speakers of each gender are shuffled with ``random.Random(f"{seed}/{gender}")`` (deterministic).

    Raises:
        ConfigError: for negative counts.
        DataError: when a gender has fewer than ``n_dev + n_test + 1`` speakers (train would lose it).
    """
    if n_dev < 0 or n_test < 0:
        raise ConfigError(f"speaker split counts n_dev={n_dev}, n_test={n_test}: must be >= 0")
    speakers: dict[str, list[str]] = {}
    for spk, gender in sorted({(u.spk, u.gender) for u in utts}):
        speakers.setdefault(gender, []).append(spk)
    split_of: dict[str, str] = {}
    for gender, names in sorted(speakers.items()):
        if len(names) < n_dev + n_test + 1:
            raise DataError(f"{len(names)} speakers of gender '{gender}' cannot give {n_dev} dev + {n_test} test "
                            "speakers and keep one for training; lower the dev/test speaker counts")
        order = list(names)
        random.Random(f"{seed}/{gender}").shuffle(order)
        for i, spk in enumerate(order):
            split_of[spk] = "dev" if i < n_dev else "test" if i < n_dev + n_test else "train"
    splits: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for utt in sorted(utts, key=lambda u: u.utt_id):
        splits[split_of[utt.spk]].append(utt)
    return splits
