"""Stage: per-bin mean and standard deviation of a training feature dir, saved as cmvn.npz."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.bin import command
from speechgen.data.tables import Cmvn


def compute_cmvn(feats_dir: Path, floor: float = 1e-3) -> Cmvn:
    """Per-bin mean/std over every frame of ``feats_dir/feats.scp`` -> ``feats_dir/cmvn.npz``."""
    return Cmvn.estimate(feats_dir, floor)


@command("speechgen-compute-cmvn")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-compute-cmvn",
                                description="Per-bin mean/std of FEATS_DIR/feats.scp -> FEATS_DIR/cmvn.npz "
                                            "(use the training set only).")
    p.add_argument("feats_dir", type=Path)
    args = p.parse_args(argv)
    cmvn = compute_cmvn(args.feats_dir)
    print(f"{args.feats_dir}/cmvn.npz: {len(cmvn.mean)} bins, mean of means {cmvn.mean.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
