"""Tiny feature dirs written the way the feature stage writes them."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np


def write_feature_dir(root: Path, n: int = 48, frames: int = 20, bins: int = 200, seed: int = 0,
                      n_phones: int = 3, n_spk: int = 2) -> Path:
    """``root/feats.scp`` with ``n`` random (frames, bins) segments, labels, cmvn and a lang dir."""
    from speechgen.bin.compute_cmvn import compute_cmvn

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    keys = [f"utt{i // 4:03d}_{i % 4:03d}" for i in range(n)]
    phones = [f"p{i % n_phones}" for i in range(n)]
    spks = [f"s{(i // 4) % n_spk}" for i in range(n)]
    with kaldiio.WriteHelper(f"ark,scp:{root / 'feats.ark'},{root / 'feats.scp'}") as writer:
        for i, key in enumerate(keys):
            base = np.sin(np.linspace(0, 3 + i % n_phones, bins))[None, :]
            writer(key, (base + 0.3 * rng.standard_normal((frames, bins))).astype(np.float32))
    (root / "seg2phone").write_text("".join(f"{k} {p}\n" for k, p in zip(keys, phones)))
    (root / "phone_segments").write_text("".join(f"{k} {k[:6]} {0.1 * (i % 4):.4f} {0.1 * (i % 4) + 0.2:.4f}\n"
                                           for i, k in enumerate(keys)))
    (root / "seg2spk").write_text("".join(f"{k} {s}\n" for k, s in zip(keys, spks)))
    lang = root / "lang"
    lang.mkdir(exist_ok=True)
    (lang / "phones.txt").write_text("".join(f"p{i} {i}\n" for i in range(n_phones)))
    (lang / "speakers.txt").write_text("".join(f"s{i} {i}\n" for i in range(n_spk)))
    compute_cmvn(root)
    return root
