"""Feature loading at scale: eager (into memory) against lazy (from the archive, item by item).

Builds a Kaldi ark/scp of random 20 x 200 float32 segments, the shapes of egs/timit_fdnf's training
set, at 1x and 10x the size of the embedded corpus's training set (14539 segments at 1x), then
iterates one epoch through ``SegmentDataset`` + ``DataLoader`` with the features read eagerly and
lazily, each in a fresh process. Per run it prints the peak resident memory of the loading process
(and of its DataLoader workers), the time to build the dataset, and the epoch's throughput in
segments/s, with the ratio of each against the eager loader (the peer) of the same size and
worker count.

    tools/venv/bin/python bench/data_loading.py                        # 1x and 10x, 0 and 2 workers
    tools/venv/bin/python bench/data_loading.py --scales 1 --workers 0 --dir /data/tmp --json out.json
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEGMENTS_1X = 14539  # training segments of egs/timit_fdnf on the embedded corpus (20 + 20 speakers)
FRAMES, BINS = 20, 200


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=int, nargs="+", default=[1, 10], help="corpus sizes, in multiples of 1x")
    p.add_argument("--segments", type=int, default=SEGMENTS_1X, help="segments at 1x")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--dir", type=Path, default=None, help="where the archives go (default: a temp dir, removed)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--child", nargs=3, metavar=("FEATS_DIR", "MODE", "WORKERS"), help=argparse.SUPPRESS)
    return p


def write_archive(feats_dir: Path, n: int, seed: int = 0) -> None:
    """``n`` random (FRAMES, BINS) float32 segments -> feats_dir/{feats.ark,feats.scp} + unit cmvn.npz."""
    import kaldiio

    from speechgen.data.tables import Cmvn

    feats_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    block = 4096  # segments drawn at once; written one by one, never the whole corpus in memory
    with kaldiio.WriteHelper(f"ark,scp:{feats_dir / 'feats.ark'},{feats_dir / 'feats.scp'}") as writer:
        for start in range(0, n, block):
            mats = rng.standard_normal((min(block, n - start), FRAMES, BINS), dtype=np.float32)
            for i, mat in enumerate(mats):
                writer(f"seg{start + i:08d}", mat)
    Cmvn(np.zeros(BINS), np.ones(BINS)).save(feats_dir / "cmvn.npz", n * FRAMES)


def rss_now_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(feats_dir: Path, mode: str, workers: int, batch_size: int) -> dict:
    """One epoch in this (fresh) process; memory from getrusage of this process and its workers."""
    import torch
    from torch.utils.data import DataLoader

    from speechgen.data.dataset import SegmentDataset
    from speechgen.data.tables import Cmvn

    torch.set_num_threads(1)
    base_kb = rss_now_kb()
    t0 = time.perf_counter()
    data = SegmentDataset(feats_dir, Cmvn.load(feats_dir / "cmvn.npz"), load=mode)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    n, checksum = 0, 0.0
    for batch in DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(0)):
        n += batch["feats"].shape[0]
        checksum += float(batch["feats"][:, 0, 0].sum())  # touch every batch
    epoch_s = time.perf_counter() - t1
    return {"segments": n, "mode": mode, "workers": workers, "build_s": build_s, "epoch_s": epoch_s,
            "segments_per_s": n / epoch_s, "base_rss_mb": base_kb / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers else 0.0}


def run_child(feats_dir: Path, mode: str, workers: int, batch_size: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(feats_dir), mode, str(workers), "--batch-size", str(batch_size)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.child:
        feats_dir, mode, workers = args.child
        print(json.dumps(child(Path(feats_dir), mode, int(workers), args.batch_size)))
        return 0
    root = args.dir or Path(tempfile.mkdtemp(prefix="speechgen_bench_"))
    rows = []
    try:
        for scale in args.scales:
            feats_dir = root / f"x{scale}"
            n = scale * args.segments
            if not (feats_dir / "feats.scp").is_file():
                t0 = time.perf_counter()
                write_archive(feats_dir, n)
                print(f"# {scale}x: {n} segments, {(feats_dir / 'feats.ark').stat().st_size / 2 ** 20:.0f} MiB "
                      f"archive written in {time.perf_counter() - t0:.1f} s", flush=True)
            for workers in args.workers:
                peer = None
                for mode in ("eager", "lazy"):
                    row = {"scale": scale, **run_child(feats_dir, mode, workers, args.batch_size)}
                    peer = peer or row
                    row["rss_vs_eager"] = row["peak_rss_mb"] / peer["peak_rss_mb"]
                    row["speed_vs_eager"] = row["segments_per_s"] / peer["segments_per_s"]
                    rows.append(row)
                    print(f"{scale:>3}x {n:>7} segs  {mode:<5} workers={workers}  build {row['build_s']:6.2f} s  "
                          f"epoch {row['epoch_s']:6.2f} s  {row['segments_per_s']:8.0f} segs/s "
                          f"({row['speed_vs_eager']:.2f}x eager)  peak RSS {row['peak_rss_mb']:7.0f} MiB "
                          f"({row['rss_vs_eager']:.2f}x eager; base {row['base_rss_mb']:.0f})"
                          + (f"  worker peak {row['worker_peak_rss_mb']:.0f} MiB" if workers else ""), flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
