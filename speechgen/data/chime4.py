"""CHiME-4's clean speech: the reader is :mod:`speechgen.corpora.chime4` (re-exported here)."""
from speechgen.corpora.chime4 import (  # noqa: F401
    DEMO_UTTERANCES, ENVIRONMENTS, KNOWN_SETS, LAYOUT, ORIGINAL_SETS, SAMPLE_RATE, SIMU_SETS, CleanUtterance,
    audio_root, check_audio, read_chime4)
