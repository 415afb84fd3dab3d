"""The training loop shared by every model: progress, logs, loss curves, checkpoints, exact resume.

Experiment dir contents (see DESIGN.md):
    config.yaml     merged config, written before training
    checkpoint.pt   full resume state after the last finished epoch
    epoch<N>.pt     model weights after epoch N (the last ``keep_epoch_snapshots`` are kept)
    best.pt         weights of the epoch with the lowest validation ``best_metric``
    latest.pt       weights of the last finished epoch
    train.log       the log; loss.csv + loss.png the per-epoch statistics

Models with several optimisers (GANs) are :class:`~speechgen.models.gan_parts.MultiOptimizerModel`
subclasses: ``configure_optimizers(exp) -> {name: optimizer}`` and ``train_step(batch, optimizers, step)
-> stats`` (a dict of floats with at least ``loss``); the trainer then calls ``train_step`` once per
batch instead of back-propagating ``forward``'s loss, and saves and restores every optimiser (and one
scheduler per optimiser). ``trainer.grad_clip`` applies only to the other models. Validation always calls ``forward``. A dataset with
``set_epoch(epoch)`` is told each epoch before it is loaded. ``epoch_hooks`` are called with the
trainer after each epoch (e.g. per-epoch figures), with the random state saved and restored around
them so that they never change the training.

Devices, several processes and mixed precision come from :mod:`speechgen.train.distributed`
(``trainer.device``, ``trainer.amp``; a ``torchrun`` launch for several processes). With several
processes only rank 0 writes the experiment dir (logs, loss curves, weights, checkpoints, epoch
hooks); the epoch statistics are those of the whole epoch over all processes, and the checkpoint
holds every process's random state, so that a resumed run goes on exactly as an uninterrupted one
with the same number of processes.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from speechgen.errors import ConfigError, SpeechgenError, TrainingError
from speechgen.models.base import GenerativeModel
from speechgen.models.gan_parts import MultiOptimizerModel
from speechgen.train import distributed
from speechgen.train.config import (ExperimentConfig, build_optimizer, build_scheduler, save_config,
                                    set_length_in_steps)
from speechgen.train.tensorboard_log import TensorBoardLog
from speechgen.train.files import atomic_torch_save, load_checkpoint, lock_dir, not_written

logger = logging.getLogger("speechgen.train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_logging(log_path: Path) -> None:
    """Log to ``log_path`` (appending, so a resumed run keeps its history) and to stderr."""
    root = logging.getLogger("speechgen")
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_speechgen", False):
            root.removeHandler(handler)
            handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in (logging.FileHandler(log_path), logging.StreamHandler()):
        handler.setFormatter(fmt)
        handler._speechgen = True
        root.addHandler(handler)


def _rng_state() -> Dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains ``model`` on ``train_set`` and validates on ``valid_set``, writing into ``exp_dir``."""

    def __init__(self, exp: ExperimentConfig, model: torch.nn.Module, train_set: Dataset,
                 valid_set: Optional[Dataset], exp_dir: str | Path,
                 epoch_hooks: Sequence[Callable[["Trainer"], None]] = ()):
        self.exp = exp
        self.conf = exp.trainer
        self.exp_dir = Path(exp_dir)
        self.procs = distributed.setup(self.conf.device)
        self.device = self.procs.device
        self.local_batch_size = distributed.local_batch_size(self.conf.batch_size, self.procs.world_size)
        self.model = model.to(self.device)
        self.train_set, self.valid_set = train_set, valid_set
        self.own_step = isinstance(self.model, MultiOptimizerModel)
        distributed.check_amp(self.conf.amp, self.device, self.own_step)
        # a model without parameters (the identity baseline) is only evaluated, epoch by epoch
        self.learnable = any(p.requires_grad for p in self.model.parameters())
        if self.conf.steps and self.learnable and train_set is not None:  # nothing to learn: its own epochs
            set_length_in_steps(exp, len(self._loader(train_set, True, 1)))
        if self.own_step:
            self.optimizers = dict(self.model.configure_optimizers(exp))
        elif self.learnable:
            self.optimizers = {"model": build_optimizer(exp, self.model.parameters())}
        else:
            self.optimizers = {}
        self.schedulers = {name: build_scheduler(exp, opt) for name, opt in self.optimizers.items()}
        # the first optimiser is the main one: its learning rate goes into loss.csv
        self.optimizer = next(iter(self.optimizers.values()), None)
        self.scheduler = next(iter(self.schedulers.values()), None)
        self.scaler = distributed.grad_scaler(self.conf.amp, self.device)
        # what the training loop calls: the model, or its DistributedDataParallel wrapper
        self.train_module = (distributed.wrap_for_training(self.model, self.procs, self.optimizers, self.own_step)
                             if self.learnable else self.model)
        self.epoch_hooks = list(epoch_hooks)
        self.epoch = 0  # epochs finished
        self.step = 0
        self.best_value = math.inf
        self.best_epoch = 0
        self.tensorboard: Optional[TensorBoardLog] = None  # opened by fit() on the main process

    # ---------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """The resume state; with several processes every process must call it (it gathers their RNGs)."""
        rng = _rng_state()
        state = {
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: sch.state_dict() if sch is not None else None
                           for name, sch in self.schedulers.items()},
            "epoch": self.epoch,
            "step": self.step,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "rng": rng,
            "config": self.exp.to_dict(),
        }
        if self.procs.distributed:
            state["rng_ranks"] = self.procs.gather(rng)
        if self.scaler is not None:
            state["grad_scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if "optimizers" in state:
            optimizers, schedulers = state["optimizers"], state["schedulers"]
        else:  # a checkpoint written before models could have several optimisers
            optimizers, schedulers = {"model": state["optimizer"]}, {"model": state["scheduler"]}
        if set(optimizers) != set(self.optimizers):
            raise TrainingError(f"the checkpoint holds the optimisers {', '.join(optimizers)} but the model has "
                                f"{', '.join(self.optimizers)}; remove {self.exp_dir} to start again")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(optimizers[name])
            if self.schedulers[name] is not None and schedulers.get(name) is not None:
                self.schedulers[name].load_state_dict(schedulers[name])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        if self.scaler is not None and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        self._restore_rng(state)

    def _resume_from(self, state: Any, ckpt: Path) -> None:
        """``load_state_dict`` of a checkpoint file; one of another model or config is an error naming it."""
        try:
            self.load_state_dict(state)
        except SpeechgenError:
            raise
        except (KeyError, RuntimeError, TypeError, ValueError, IndexError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise TrainingError(f"{ckpt}: not the resume state of this model and config ({first}); resume with "
                                f"the config it was trained with, or remove {self.exp_dir} to start again") from None

    def _restore_rng(self, state: Dict[str, Any]) -> None:
        """This process's random state from a checkpoint written by as many processes; otherwise a
        fresh stream per process (seeded from trainer.seed, the epoch and the rank)."""
        ranks = state.get("rng_ranks") or [state["rng"]]
        if len(ranks) == self.procs.world_size:
            _set_rng_state(ranks[self.procs.rank])
            return
        if self.procs.is_main:
            logger.warning("%s was written by %d process(es) and is resumed by %d: the random numbers (and so "
                           "the losses) differ from those of an uninterrupted run", self.exp_dir / "checkpoint.pt",
                           len(ranks), self.procs.world_size)
        seed_everything(self.conf.seed + 1_000_003 * self.epoch + self.procs.rank)

    # ---------------------------------------------------------------- loop
    def fit(self, resume: bool = False) -> Dict[str, float]:
        """Train to ``max_epochs``; with ``resume`` continue from ``checkpoint.pt`` exactly.

        The exp dir is locked meanwhile: a second training into it stops with a message naming it."""
        lock = lock_dir(self.exp_dir) if self.procs.is_main else None
        try:
            return self._fit(resume)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None
            if lock is not None:
                lock.close()

    def _fit(self, resume: bool) -> Dict[str, float]:
        main = self.procs.is_main
        ckpt = self.exp_dir / "checkpoint.pt"
        if ckpt.exists() and not resume:
            raise TrainingError(f"{ckpt} exists: pass --resume to continue that run, "
                                f"or remove {self.exp_dir} to start again")
        if main:
            setup_logging(self.exp_dir / "train.log")
        if self.conf.num_threads > 0:
            torch.set_num_threads(self.conf.num_threads)
        if resume and ckpt.exists():
            # on the CPU: random states must stay CPU tensors; weights and optimiser states move to the
            # parameters' device when loaded
            state = load_checkpoint(ckpt, "cpu", weights_only=False)
            self._resume_from(state, ckpt)
            if main:
                self._truncate_loss_csv(self.epoch)
                logger.info("resumed from %s after epoch %d (step %d)", ckpt, self.epoch, self.step)
                if state["config"] != self.exp.to_dict():
                    logger.info("the config differs from the checkpoint's; config.yaml now holds the new one")
                    save_config(self.exp, self.exp_dir / "config.yaml")
        else:
            # each process its own random stream; the single process (rank 0) keeps trainer.seed
            seed_everything(self.conf.seed + self.procs.rank)
            if main:
                self._truncate_loss_csv(0)  # rows of an earlier start that ended before its first checkpoint
                save_config(self.exp, self.exp_dir / "config.yaml")
                logger.info("model %s: %d parameters, device %s%s", self.exp.model,
                            sum(p.numel() for p in self.model.parameters()), self.device,
                            f", {self.procs.world_size} processes" if self.procs.distributed else "")
            self._init_from_first_batch()
        if self.epoch >= self.conf.max_epochs and main:
            logger.info("already trained for %d epochs; nothing to do", self.epoch)
        elif main and self.conf.tensorboard:
            self.tensorboard = TensorBoardLog(self.exp_dir / "tensorboard", self.step if self.epoch else None)
        last: Dict[str, float] = {}
        while self.epoch < self.conf.max_epochs:
            t0 = time.time()
            train_stats = self._run_epoch(self.epoch + 1)
            valid_stats = {}
            if self.valid_set is not None and (self.epoch + 1) % self.conf.valid_interval == 0:
                valid_stats = self._validate()
                self._check_valid_finite(valid_stats)
            self.epoch += 1
            self._step_scheduler(valid_stats or train_stats)
            last = self._end_epoch(train_stats, valid_stats, time.time() - t0)
        return last

    def _loader(self, dataset: Dataset, shuffle: bool, epoch: int) -> DataLoader:
        """This process's batches of ``dataset``: a seeded shuffle of the epoch, or every item in order."""
        generator = torch.Generator().manual_seed(self.conf.seed * 100003 + epoch)
        procs = self.procs
        sampler = (distributed.ShardedSampler(len(dataset), generator, procs.rank, procs.world_size) if shuffle
                   else distributed.shard(len(dataset), procs))
        return DataLoader(dataset, batch_size=self.local_batch_size, sampler=sampler, generator=generator,
                          num_workers=self.conf.num_workers, drop_last=False,
                          pin_memory=self.device.type == "cuda", worker_init_fn=distributed.worker_init_fn(procs))

    def _to_device(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _last_good_state(self) -> str:
        if self.epoch == 0:
            return "no epoch finished, so nothing was saved"
        return f"the last good state is {self.exp_dir / 'checkpoint.pt'} (epoch {self.epoch})"

    def _check_finite(self, loss: float, epoch: int) -> None:
        if not math.isfinite(loss):
            raise TrainingError(
                f"non-finite loss ({loss}) at step {self.step} (epoch {epoch}); training stopped and "
                f"{self._last_good_state()}; lower optim_conf.lr, set trainer.grad_clip, or check the features "
                "for inf/NaN")

    def _check_valid_finite(self, stats: Dict[str, float]) -> None:
        """A validation statistic that is inf/NaN stops training: no best.pt could ever be chosen from it."""
        bad = {k: v for k, v in stats.items() if not math.isfinite(v)}
        if bad:
            where = getattr(self.valid_set, "scp", None) or "the validation set"
            raise TrainingError(
                f"non-finite validation {', '.join(f'{k}={v}' for k, v in bad.items())} after epoch {self.epoch + 1} "
                f"on {where}; {self._last_good_state()}; check the validation features for inf/NaN or extreme "
                "values, or lower optim_conf.lr")

    def _init_from_first_batch(self) -> None:
        """Data-dependent initialisation before the first step, in eval mode with training's random state kept.

        Modules that initialise from their first batch (ActNorm) see the first global batch of epoch 1,
        as the single process's first step would (so with several processes every process sees it);
        then a model whose ``needs_data_pass`` is true (the DNFs with ``init_means: data``) is given one
        ordered pass over the training set by its ``init_from_data(batches)``, the same on every process."""
        data_init = isinstance(self.model, GenerativeModel) and self.model.needs_data_pass
        if not (data_init or (self.procs.distributed and distributed.needs_data_init(self.model))):
            return
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(1)
        generator = torch.Generator().manual_seed(self.conf.seed * 100003 + 1)
        loader = DataLoader(self.train_set, batch_size=self.conf.batch_size, generator=generator,
                            sampler=distributed.ShardedSampler(len(self.train_set), generator))
        rng = _rng_state()
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(self._to_device(next(iter(loader))))
                if data_init:
                    ordered = DataLoader(self.train_set, batch_size=self.conf.batch_size, shuffle=False)
                    self.model.init_from_data(self._to_device(batch) for batch in ordered)
        finally:
            _set_rng_state(rng)
        self.procs.broadcast_module(self.model)

    def _train_batch(self, batch: Dict[str, torch.Tensor], epoch: int) -> Dict[str, float]:
        """One step on this process's share of a batch; the loss checked is the mean over the processes."""
        if not self.learnable:
            with torch.no_grad():
                _, stats = self.model(batch)
            self.step += 1
            self._check_finite(self.procs.mean(stats["loss"]), epoch)
            return stats
        with distributed.autocast(self.conf.amp, self.device):
            if self.own_step:
                stats = self.model.train_step(batch, self.optimizers, self.step)
                self.step += 1
                self._check_finite(self.procs.mean(stats["loss"]), epoch)
                return stats
            loss, stats = self.train_module(batch)
        self.step += 1
        self._check_finite(self.procs.mean(loss.detach()), epoch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        if self.conf.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.conf.grad_clip)
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return stats

    def _run_epoch(self, epoch: int) -> Dict[str, float]:
        self.model.train()
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        totals: Dict[str, float] = defaultdict(float)
        counts: Dict[str, int] = defaultdict(int)  # per key: a train_step may report a key on some steps only
        bar = tqdm(self._loader(self.train_set, True, epoch), desc=f"epoch {epoch}/{self.conf.max_epochs}",
                   leave=False, dynamic_ncols=True, disable=None if self.procs.is_main else True)
        for batch in bar:
            batch = self._to_device(batch)
            stats = self._train_batch(batch, epoch)
            if self.tensorboard is not None:
                self.tensorboard.step(stats, self.step)
            n = batch["feats"].shape[0]
            for key, value in stats.items():
                totals[key] += value * n
                counts[key] += n
            bar.set_postfix(loss=f"{stats['loss']:.4f}")
        return self._epoch_means(totals, counts)

    def _epoch_means(self, totals: Dict[str, float], counts: Dict[str, int]) -> Dict[str, float]:
        """Per-example means of the statistics over the whole epoch, summed over every process."""
        sums: Dict[str, float] = defaultdict(float)
        ns: Dict[str, int] = defaultdict(int)
        for part_totals, part_counts in self.procs.gather((dict(totals), dict(counts))):
            for key, value in part_totals.items():
                sums[key] += value
                ns[key] += part_counts[key]
        return {k: v / ns[k] for k, v in sums.items()}

    @torch.no_grad()
    def _validate(self) -> Dict[str, float]:
        self.model.eval()
        totals: Dict[str, float] = defaultdict(float)
        counts: Dict[str, int] = defaultdict(int)
        for batch in self._loader(self.valid_set, False, 0):
            batch = self._to_device(batch)
            with distributed.autocast(self.conf.amp, self.device):
                _, stats = self.model(batch)
            n = batch["feats"].shape[0]
            for key, value in stats.items():
                totals[key] += value * n
                counts[key] += n
        return self._epoch_means(totals, counts)

    def _step_scheduler(self, stats: Dict[str, float]) -> None:
        for scheduler in self.schedulers.values():
            if scheduler is None:
                continue
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(stats[self.conf.best_metric])
            else:
                scheduler.step()

    def _run_epoch_hooks(self) -> None:
        """Call the epoch hooks in eval mode; the random state is restored so training is unchanged."""
        if not self.epoch_hooks:
            return
        rng = _rng_state()
        self.model.eval()
        try:
            for hook in self.epoch_hooks:
                hook(self)
        finally:
            _set_rng_state(rng)

    # ---------------------------------------------------------------- outputs
    def _end_epoch(self, train: Dict[str, float], valid: Dict[str, float], seconds: float) -> Dict[str, float]:
        metric = (valid or train).get(self.conf.best_metric)
        if metric is None:
            raise ConfigError(f"trainer.best_metric='{self.conf.best_metric}' is not a statistic of "
                              f"{self.exp.model}; choose one of {', '.join(train)}")
        improved = metric < self.best_value
        if improved:
            self.best_value, self.best_epoch = metric, self.epoch
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else 0.0
        row = {"epoch": self.epoch, "step": self.step, "lr": lr,
               "seconds": round(seconds, 2)}
        row.update({f"train_{k}": v for k, v in train.items()})
        row.update({f"valid_{k}": v for k, v in valid.items()})
        # batch-norm statistics differ a little between processes: keep rank 0's, the ones saved
        self.procs.broadcast_module(self.model, buffers_only=True)
        state = self.state_dict()  # every process takes part (the random states are gathered)
        if self.procs.is_main:
            try:
                self._write_epoch_outputs(row, improved, state)
            except OSError as err:  # a full disk or lost permissions while writing the epoch's files
                raise not_written(Path(err.filename or self.exp_dir / "loss.csv"), err) from None
        self.procs.barrier()
        return row

    def _write_epoch_outputs(self, row: Dict[str, Any], improved: bool, state: Dict[str, Any]) -> None:
        atomic_torch_save(self.model.state_dict(), self.exp_dir / f"epoch{self.epoch}.pt")
        self._prune_snapshots()
        shutil.copyfile(self.exp_dir / f"epoch{self.epoch}.pt", self.exp_dir / "latest.pt")
        if improved:
            shutil.copyfile(self.exp_dir / f"epoch{self.epoch}.pt", self.exp_dir / "best.pt")
        self._append_loss_csv(row)
        if self.tensorboard is not None:
            self.tensorboard.epoch(row)
        self._plot_losses()
        self._write_summary(row)
        self._run_epoch_hooks()
        # the resume state goes last: a crash before it makes the epoch run again on resume
        atomic_torch_save(state, self.exp_dir / "checkpoint.pt")
        shown = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k.startswith(("train_", "valid_")))
        logger.info("epoch %d/%d step %d %.1fs %s", self.epoch, self.conf.max_epochs, self.step, row["seconds"],
                    shown)

    def _write_summary(self, row: Dict[str, Any]) -> None:
        """summary.json: what the results stage reports without loading the model."""
        summary = {"model": self.exp.model, "parameters": sum(p.numel() for p in self.model.parameters()),
                   "epochs": self.epoch, "max_epochs": self.conf.max_epochs, "best_epoch": self.best_epoch,
                   f"best_{self.conf.best_metric}": self.best_value, "last": row}
        tmp = self.exp_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, self.exp_dir / "summary.json")

    def _prune_snapshots(self) -> None:
        keep = self.conf.keep_epoch_snapshots
        if keep > 0:
            for old in range(1, self.epoch - keep + 1):
                (self.exp_dir / f"epoch{old}.pt").unlink(missing_ok=True)

    def _read_loss_csv(self) -> List[Dict[str, str]]:
        path = self.exp_dir / "loss.csv"
        if not path.exists():
            return []
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def _write_loss_csv(self, rows: List[Dict[str, Any]]) -> None:
        path = self.exp_dir / "loss.csv"
        fields: List[str] = []
        for row in rows:
            fields += [k for k in row if k not in fields]
        tmp = path.with_name("loss.csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)

    def _append_loss_csv(self, row: Dict[str, Any]) -> None:
        self._write_loss_csv(self._read_loss_csv() + [row])

    def _truncate_loss_csv(self, epoch: int) -> None:
        rows = [r for r in self._read_loss_csv() if int(r["epoch"]) <= epoch]
        if rows or (self.exp_dir / "loss.csv").exists():
            self._write_loss_csv(rows)

    def _plot_losses(self) -> None:
        from speechgen.eval.plots import plot_loss_curves

        plot_loss_curves(self.exp_dir / "loss.csv", self.exp_dir / "loss.png", title=self.exp.model)
