"""J7's training step with one of the phase decoder's CPU layers (``speechgen.models.conv``) on the
library's code and on ours, the two interleaved in one process: ``--change subgrid``, the dilated
layers' weight gradient as ``nn.Conv2d`` takes it against the sub-grid one (``DilatedConv2d``);
``--change gelu``, the activations as ``nn.GELU`` on the channels-last maps against their NHWC view
(``ChannelsLastGELU``).

Two copies of the J7 model (the same weights, the same synthetic batch as ``bench/training.py``) take
turns: ``--steps`` steps of one, then of the other, for ``--rounds`` rounds after ``--warmup`` steps
each, so that a machine whose speed drifts slows both alike. Prints the milliseconds per step of each
round and the ratio of the medians and of the minima.

    tools/venv/bin/python bench/dilated_conv.py                 # sub-grid weight gradient, one thread
    tools/venv/bin/python bench/dilated_conv.py --change gelu   # GELU on the NHWC view
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/dilated_conv.py --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from training import build_trainer  # noqa: E402  (puts the repository on sys.path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--change", choices=["subgrid", "gelu"], default="subgrid",
                   help="the layer whose library code and ours take turns")
    p.add_argument("--model", default="complex/J7", help="a bench/training.py model with a phase decoder")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5, help="steps per turn")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)
    import torch

    from speechgen.memory import keep_freed_memory
    from speechgen.models.conv import ChannelsLastGELU, DilatedConv2d

    keep_freed_memory()
    torch.set_num_threads(args.threads)
    layer, library, ours = {"subgrid": (DilatedConv2d, torch.nn.Conv2d.forward, "sub-grids"),
                            "gelu": (ChannelsLastGELU, torch.nn.GELU.forward, "NHWC view")}[args.change]
    impl = {"library": library, ours: layer.forward}
    times = {name: [] for name in impl}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for i, name in enumerate(impl):
            torch.manual_seed(0)
            runs[name] = build_trainer(args.model, str(Path(tmp) / f"run{i}"))
        for r in range(args.rounds):
            for name, (trainer, batch) in runs.items():
                layer.forward = impl[name]
                for _ in range(args.warmup if r == 0 else 0):
                    trainer._train_batch(batch, 1)
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer._train_batch(batch, 1)
                times[name].append(1000 * (time.perf_counter() - start) / args.steps)
    layer.forward = impl[ours]
    print(f"# {describe()}; {args.model}, {args.threads} thread(s), {args.rounds} rounds of {args.steps} steps, "
          f"--change {args.change}")
    for name, ms in times.items():
        print(f"{name}: median {statistics.median(ms):.1f} ms, min {min(ms):.1f} ms per step; rounds:",
              " ".join(f"{m:.0f}" for m in ms))
    lib, sub = times["library"], times[ours]
    print(f"speed-up of {ours} over the library: {statistics.median(lib) / statistics.median(sub):.2f}x "
          f"(medians), {min(lib) / min(sub):.2f}x (minima)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
