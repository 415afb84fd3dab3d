"""Shared by the egs/chime_complex tests: a fake CHiME-4 tree, a tone, and the recipe run on a tmp dir."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import soundfile as sf

from conftest import CHIME_DEBUG_MODELS, ROOT, run_debug_recipe

RECIPE = ROOT / "egs" / "chime_complex"
#: the models of the tests' shared debug run (the fixture chime_debug_run of conftest.py)
DEBUG_MODELS = CHIME_DEBUG_MODELS


def run_recipe(root: Path, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """``run.sh --debug true`` with every output dir under ``root``."""
    return run_debug_recipe("chime_complex", root, *args, timeout=timeout)


def tone(seconds: float = 0.6, f0: float = 220.0, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little noise, float32."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    x = 0.2 * x / np.abs(x).max() + 1e-3 * np.random.default_rng(seed).standard_normal(t.size)
    return x.astype(np.float32)


def make_fake_chime4(root: Path, sets=("tr05", "dt05", "et05"), sr: int = 16000,
                     extra: Optional[Dict[str, np.ndarray]] = None) -> Path:
    """A tiny CHiME-4 tree: 2 speakers x 2 utterances x 2 environments per simulated set (CH1 and CH5
    clean images), tr05_org originals and et05_bth booth recordings (CH0 and CH1)."""
    audio = root / "data" / "audio" / "16kHz"
    speakers = {"tr05": ("F01", "M01"), "dt05": ("F03", "M03"), "et05": ("F05", "M05")}
    codes = {"F05": ("440C020I", "441C0201"), "M05": ("443C020S", "442C0202")}
    k = 0
    for split in sets:
        for spk in speakers[split]:
            for code in codes.get(spk, (f"{spk[1:]}0C010A", f"{spk[1:]}0C010B")):
                for env in ("ped", "bus"):
                    folder = audio / "isolated_ext" / f"{split}_{env}_simu"
                    folder.mkdir(parents=True, exist_ok=True)
                    for ch in (1, 5):
                        x = tone(f0=180.0 + 10 * k, sr=sr, seed=k)
                        sf.write(folder / f"{spk}_{code}_{env.upper()}.CH{ch}.Clean.wav", x, sr, subtype="PCM_16")
                    k += 1
    org = audio / "isolated" / "tr05_org"
    org.mkdir(parents=True, exist_ok=True)
    for code in ("011C0201", "011C0202"):
        sf.write(org / f"011_{code}_ORG.wav", tone(seed=k), sr, subtype="PCM_16")
    bth = audio / "isolated" / "et05_bth"
    bth.mkdir(parents=True, exist_ok=True)
    for ch in (0, 1):
        sf.write(bth / f"F05_440C020I_BTH.CH{ch}.wav", tone(seed=k + ch), sr, subtype="PCM_16")
    for rel, x in (extra or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, sr, subtype="PCM_16")
    return root
