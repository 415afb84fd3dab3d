"""Stage: per-bin mean and standard deviation of a training feature dir, saved as cmvn.npz."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import kaldiio
import numpy as np

from speechgen.data.dataset import Cmvn
from speechgen.errors import DataError, SpeechgenError


def compute_cmvn(feats_dir: Path, floor: float = 1e-3) -> Cmvn:
    """Accumulate in float64 over every frame of every matrix in ``feats_dir/feats.scp``."""
    scp = feats_dir / "feats.scp"
    if not scp.is_file():
        raise DataError(f"{scp}: missing; run the feature stage first")
    total = total_sq = None
    count = 0
    for key, mat in kaldiio.load_scp_sequential(str(scp)):
        mat = mat.astype(np.float64).reshape(-1, mat.shape[-1])
        if not np.isfinite(mat).all():
            raise DataError(f"{scp}: matrix {key} holds inf/NaN; re-run the feature stage")
        total = mat.sum(0) if total is None else total + mat.sum(0)
        total_sq = (mat ** 2).sum(0) if total_sq is None else total_sq + (mat ** 2).sum(0)
        count += mat.shape[0]
    if count == 0:
        raise DataError(f"{scp}: holds no features")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, floor ** 2))
    cmvn = Cmvn(mean, std)
    cmvn.save(feats_dir / "cmvn.npz", count)
    return cmvn


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-compute-cmvn",
                                description="Per-bin mean/std of FEATS_DIR/feats.scp -> FEATS_DIR/cmvn.npz "
                                            "(use the training set only).")
    p.add_argument("feats_dir", type=Path)
    args = p.parse_args(argv)
    try:
        cmvn = compute_cmvn(args.feats_dir)
    except SpeechgenError as err:
        print(f"speechgen-compute-cmvn: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.feats_dir}/cmvn.npz: {len(cmvn.mean)} bins, mean of means {cmvn.mean.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
