"""Training throughput of every model family on the CPU: examples per second of optimisation steps.

Each model is built from its recipe's config (the CPU defaults the recipes train), fed synthetic
batches of the config's shapes and batch size (random features, labels spread over 48 phones and
40 speakers), and trained through ``speechgen.train.trainer.Trainer``'s own step (forward, backward,
gradient clipping, optimiser; a GAN's several optimisers as its ``train_step`` runs them). Data
loading is left out (see ``bench/data_loading.py``). Per model and thread count it prints the
examples (segments, windows or crops) per second, the best of ``--repeats`` timed runs of
``--steps`` steps after ``--warmup`` untimed ones, each count of threads in a fresh process.

    tools/venv/bin/python bench/training.py                          # every family, 1 and 2 threads
    tools/venv/bin/python bench/training.py --models fdnf/nf fdnf/fdnf --threads 1 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EGS = ROOT / "egs"
#: name -> (recipe config, what one example is)
MODELS = {
    "fdnf/vae": (EGS / "timit_fdnf/conf/vae.yaml", "segment"),
    "fdnf/nf": (EGS / "timit_fdnf/conf/nf.yaml", "segment"),
    "fdnf/phone_dnf": (EGS / "timit_fdnf/conf/phone_dnf.yaml", "segment"),
    "fdnf/fdnf": (EGS / "timit_fdnf/conf/fdnf.yaml", "segment"),
    "fdnf/classifier": (EGS / "timit_fdnf/conf/classifier_phone.yaml", "segment"),
    "logmel/vae": (EGS / "timit_logmel/conf/vae.yaml", "window"),
    "logmel/wae_mmd": (EGS / "timit_logmel/conf/wae_mmd.yaml", "window"),
    "logmel/wae_gan": (EGS / "timit_logmel/conf/wae_gan.yaml", "window"),
    "logmel/wgan_gp": (EGS / "timit_logmel/conf/wgan_gp.yaml", "window"),
    "logmel/vaegan": (EGS / "timit_logmel/conf/vaegan.yaml", "window"),
    "complex/M": (EGS / "chime_complex/conf/M.yaml", "crop"),
    "complex/J7": (EGS / "chime_complex/conf/J7.yaml", "crop"),
}
N_PHONES, N_SPEAKERS = 48, 40


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), metavar="MODEL",
                   help=f"default: all of {' '.join(MODELS)}")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts")
    p.add_argument("--steps", type=int, default=20, help="timed optimisation steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocations, ActNorm init)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    p.add_argument("--malloc", nargs="+", default=["kept"], choices=["kept", "glibc"],
                   help="kept: the process keeps the memory it frees, as every speechgen command does "
                        "(speechgen.memory); glibc: glibc's defaults. Default: kept")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--child", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    return p


def synthetic_batch(exp, model, example: str, seed: int = 0):
    """A batch of random features of the model's shapes, with phone and speaker labels."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    n = exp.trainer.batch_size
    labels = {"phone": torch.randint(0, N_PHONES, (n,), generator=gen),
              "spk": torch.randint(0, N_SPEAKERS, (n,), generator=gen), "idx": torch.arange(n)}
    if example == "crop":
        frames = exp.data_conf.get("segment_frames", 64)
        shape = (n, frames, model.n_bins)
        return {"feats": torch.randn(shape, generator=gen),
                "phase": (torch.rand(shape, generator=gen) * 2 - 1) * torch.pi,
                "mask": torch.ones(n, frames, dtype=torch.bool), "idx": labels["idx"]}
    return {"feats": torch.randn((n, model.n_frames, model.n_bins), generator=gen), **labels}


def build_trainer(name: str, exp_dir: str):
    """(trainer, batch): ``name``'s model from its recipe config, set up for training in ``exp_dir``, with
    a synthetic batch of its shapes."""
    import torch

    from speechgen.data.tables import Cmvn
    from speechgen.train.config import build_model, load_config, set_class_counts
    from speechgen.train.trainer import Trainer

    config, example = MODELS[name]
    exp = load_config(config, ["trainer.device=cpu", "trainer.tensorboard=false"])
    set_class_counts(exp, {"phone": N_PHONES, "spk": N_SPEAKERS}, "bench/training.py")
    model = build_model(exp)
    batch = synthetic_batch(exp, model, example)
    n_bins = batch["feats"].shape[-1]
    # a joint complex model starts from a trained M (run.sh's --init-from): here from its own weights
    init = model.state_dict() if getattr(model, "freeze_magnitude", False) else None
    model.setup_training(Cmvn(torch.zeros(n_bins).numpy(), torch.ones(n_bins).numpy()), True, init, "itself")
    trainer = Trainer(exp, model, None, None, exp_dir)
    model.train()
    return trainer, batch


def measure(name: str, threads: int, steps: int, warmup: int, repeats: int) -> dict:
    """Examples per second of ``name``'s training steps with ``threads`` intra-op threads."""
    import torch

    from speechgen.memory import keep_freed_memory

    keep_freed_memory()  # SPEECHGEN_MALLOC, set by the parent, chooses
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as exp_dir:
        trainer, batch = build_trainer(name, exp_dir)
        for _ in range(warmup):
            trainer._train_batch(batch, 1)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                trainer._train_batch(batch, 1)
            best = min(best, time.perf_counter() - start)
    n = batch["feats"].shape[0]
    return dict(model=name, example=MODELS[name][1], threads=threads, batch_size=n,
                ms_per_step=1000 * best / steps, examples_per_s=n * steps / best)


def run_child(name: str, threads: int, malloc: str, args) -> dict | None:
    """One row, measured in a fresh process with ``threads`` intra-op threads; printed as it comes."""
    cmd = [sys.executable, __file__, "--child", name, str(threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), SPEECHGEN_MALLOC=malloc)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"# {name}, {threads} thread(s), malloc {malloc}: failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    row = dict(json.loads(out.stdout.strip().splitlines()[-1]), malloc=malloc)
    print(f"| {name} | {row['example']} | {row['batch_size']} | {threads} | {malloc} | {row['ms_per_step']:.1f} | "
          f"{row['examples_per_s']:.0f} |", flush=True)
    return row


def paired_table(rows: list) -> list:
    """Markdown lines setting each model and thread count's glibc row beside its kept row, with the ratio."""
    by = {(r["model"], r["threads"], r["malloc"]): r for r in rows}
    lines = ["| model | example | batch | threads | ms per step, glibc | ms per step, kept | speed-up | "
             "examples per s, kept |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (model, threads, malloc), kept in by.items():
        glibc = by.get((model, threads, "glibc"))
        if malloc != "kept" or glibc is None:
            continue
        lines.append(f"| {model} | {kept['example']} | {kept['batch_size']} | {threads} | {glibc['ms_per_step']:.1f} | "
                     f"{kept['ms_per_step']:.1f} | {glibc['ms_per_step'] / kept['ms_per_step']:.2f}x | "
                     f"{kept['examples_per_s']:.0f} |")
    return lines


def machine() -> str:
    return describe()


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    if args.child:
        row = measure(args.child[0], int(args.child[1]), args.steps, args.warmup, args.repeats)
        print(json.dumps(row))
        return 0
    print(f"# machine: {machine()}; {args.steps} timed steps, best of {args.repeats}, after {args.warmup}")
    print("| model | example | batch | threads | malloc | ms per step | examples per s |")
    print("|---|---|---:|---:|---|---:|---:|")
    rows = []
    for name in args.models:
        for threads in args.threads:
            for malloc in args.malloc:
                row = run_child(name, threads, malloc, args)
                if row is not None:
                    rows.append(row)
    if {"glibc", "kept"} <= set(args.malloc):
        print("\n" + "\n".join(paired_table(rows)))
    if args.json:
        args.json.write_text(json.dumps(dict(machine=machine(), rows=rows), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
