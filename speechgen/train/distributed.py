"""Devices, processes and mixed precision for the trainer, in one place.

One process on the CPU or on one CUDA device, or several processes started by ``torchrun`` (which
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``), each with its share of
every batch. With several processes:

* ``trainer.batch_size`` stays the *global* batch: each process takes ``batch_size / world_size``
  examples of it, so a config means the same training whatever the number of processes;
* :class:`ShardedSampler` deals each global batch of the single-process order to the processes, so
  the union of the processes' batches is exactly the batch one process would have used;
* models trained through ``forward`` are wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`
  (gradients averaged during the backward pass);
* models with their own ``train_step`` and several optimisers (the GANs) are not: their step calls
  sub-networks directly, back-propagates several losses per batch into chosen parameters
  (``backward(inputs=...)``) and differentiates through the critic twice for the gradient penalty,
  none of which DDP's reducer (one backward per forward of the wrapper) supports. Instead every
  optimiser averages the gradients of its own parameters over the processes just before it steps
  (:func:`average_gradients_before_step`): the same update as DDP's, without overlapping the
  communication with the backward pass;
* the backend is NCCL on CUDA devices and gloo on the CPU.

Mixed precision (``trainer.amp``): ``bf16`` autocast (CPU or CUDA), ``fp16`` autocast with a
gradient scaler (CUDA only).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import random
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from speechgen.errors import ConfigError

AMP_DTYPES: Dict[str, Optional[torch.dtype]] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def is_main_process() -> bool:
    """True in the single process, or in the process of rank 0 of a ``torchrun`` launch.

    Reads the launcher's environment, so it can be asked before the process group exists
    (e.g. by a stage script that writes files next to the trainer's)."""
    return (dist.get_rank() if dist.is_available() and dist.is_initialized() else _env_int("RANK", 0)) == 0


def processes_on_this_node() -> int:
    """How many training processes share this machine's memory (``LOCAL_WORLD_SIZE``, 1 without torchrun)."""
    return max(1, _env_int("LOCAL_WORLD_SIZE", 1))


def resolve_device(name: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """The device of ``trainer.device`` (``auto | cpu | cuda | cuda:N``) for this process.

    With several processes ``cuda`` (or ``auto`` on a CUDA machine) means ``cuda:LOCAL_RANK``.
    """
    cuda = torch.cuda.is_available()
    if name == "auto":
        name = "cuda" if cuda else "cpu"
    if name.startswith("cuda"):
        if not cuda:
            raise ConfigError(f"trainer.device={name} but no CUDA device is available to torch "
                              f"{torch.__version__}; set trainer.device=cpu (the recipes' --ngpu 0), or "
                              "install a CUDA build of torch on a machine with a GPU")
        if world_size > 1:
            if name != "cuda":
                raise ConfigError(f"trainer.device={name}: with {world_size} processes each takes "
                                  "cuda:LOCAL_RANK; set trainer.device=cuda")
            if local_rank >= torch.cuda.device_count():
                raise ConfigError(f"process {local_rank} of this node needs cuda:{local_rank} but only "
                                  f"{torch.cuda.device_count()} CUDA devices are visible; start at most that many "
                                  "processes per node (--ngpu / torchrun --nproc_per_node)")
            return torch.device("cuda", local_rank)
    return torch.device(name)


@dataclass(frozen=True)
class Processes:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # ------------------------------------------------------------ collectives
    def mean(self, value: torch.Tensor | float) -> float:
        """The mean of a scalar over the processes (the value itself with one process)."""
        if not self.distributed:
            return float(value)
        t = torch.as_tensor(value, dtype=torch.float64, device=self.device).detach().reshape(1).clone()
        dist.all_reduce(t)
        return t.item() / self.world_size

    def gather(self, obj: Any) -> List[Any]:
        """Every process's ``obj`` (picklable), in rank order, on every process."""
        if not self.distributed:
            return [obj]
        out: List[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast_module(self, module: torch.nn.Module, buffers_only: bool = False) -> None:
        """Give every process rank 0's parameters (unless ``buffers_only``) and buffers, in place."""
        if not self.distributed:
            return
        tensors = list(module.buffers()) + ([] if buffers_only else list(module.parameters()))
        with torch.no_grad():
            for t in tensors:
                dist.broadcast(t.data, src=0)


def setup(device_name: str) -> Processes:
    """This process's :class:`Processes`; joins the process group of a ``torchrun`` launch.

    The group is left when the process exits."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_name, local_rank, world_size)
    if world_size > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise ConfigError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
        atexit.register(_leave_group)
    return Processes(rank, world_size, local_rank, device)


def _leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_batch_size(batch_size: int, world_size: int) -> int:
    """Each process's share of the global ``trainer.batch_size``."""
    if batch_size % world_size:
        raise ConfigError(f"trainer.batch_size={batch_size} is the global batch, shared by {world_size} processes: "
                          f"make it a multiple of {world_size}")
    return batch_size // world_size


# ---------------------------------------------------------------- models
def wrap_for_training(model: torch.nn.Module, procs: Processes, optimizers: Dict[str, torch.optim.Optimizer],
                      own_step: bool) -> torch.nn.Module:
    """The module the training loop calls: ``model`` itself with one process; with several, a
    DistributedDataParallel wrapper, or (models with their own ``train_step``) ``model`` with each
    optimiser averaging its gradients before it steps. Every process starts from rank 0's weights."""
    if not procs.distributed:
        return model
    procs.broadcast_module(model)
    if own_step:
        for optimizer in optimizers.values():
            average_gradients_before_step(optimizer)
        return model
    from torch.nn.parallel import DistributedDataParallel

    # some models hold parameters their training loss does not use (e.g. a phase decoder a
    # magnitude-only model leaves out): let DDP find them rather than wait for their gradients
    return DistributedDataParallel(model, device_ids=[procs.device.index] if procs.device.type == "cuda" else None,
                                   find_unused_parameters=True)


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over the processes (one all-reduce of a flat buffer).

    Every process must hold gradients for the same parameters (the same code path each step)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_gradients_before_step(optimizer: torch.optim.Optimizer) -> None:
    """Make ``optimizer.step()`` first average the gradients of its parameters over the processes."""
    def hook(opt, args, kwargs):
        average_gradients(p for group in opt.param_groups for p in group["params"])

    optimizer.register_step_pre_hook(hook)


def needs_data_init(model: torch.nn.Module) -> bool:
    """True while a module initialises itself from its first batch (a false ``initialized`` buffer,
    as ActNorm has): with several processes that batch must be the global one on every process."""
    return any(name.rsplit(".", 1)[-1] == "initialized" and buf.dtype == torch.bool and not bool(buf.all())
               for name, buf in model.named_buffers())


# ---------------------------------------------------------------- data
class ShardedSampler(Sampler[int]):
    """This process's share of a shuffled epoch.

    The order is ``torch.randperm(n, generator=generator)``, drawn when iteration starts, as
    :class:`~torch.utils.data.RandomSampler` draws it: with one process and the DataLoader's own
    generator the epoch is exactly that of ``DataLoader(shuffle=True, generator=generator)``. With
    ``world_size`` processes, the order is padded with its first indices to a multiple of
    ``world_size`` and dealt round-robin, so that batch ``b`` of every process together are the
    positions ``b * B .. (b + 1) * B - 1`` of the order (``B`` the global batch), and every process
    has as many batches as the others.
    """

    def __init__(self, n: int, generator: torch.Generator, rank: int = 0, world_size: int = 1):
        self.n, self.generator, self.rank, self.world_size = n, generator, rank, world_size

    def __len__(self) -> int:
        return -(-self.n // self.world_size)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        if self.world_size > 1:
            order += order[: len(self) * self.world_size - self.n]
        yield from order[self.rank::self.world_size]


def shard(n: int, procs: Processes) -> List[int]:
    """Indices ``rank, rank + W, ...`` of ``range(n)``: this process's share of an unshuffled pass."""
    return list(range(procs.rank, n, procs.world_size))


def _seed_worker(worker_id: int, rank: int) -> None:
    """DataLoader workers of different processes draw different random numbers."""
    seed = (torch.initial_seed() + 1_000_003 * rank) % 2 ** 63
    torch.manual_seed(seed)
    random.seed(seed)


def worker_init_fn(procs: Processes):
    return functools.partial(_seed_worker, rank=procs.rank) if procs.distributed else None


# ---------------------------------------------------------------- mixed precision
def check_amp(amp: str, device: torch.device, own_step: bool) -> None:
    if amp not in AMP_DTYPES:
        raise ConfigError(f"trainer.amp={amp!r}: expected one of {', '.join(AMP_DTYPES)}")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError(f"trainer.amp=fp16 needs a CUDA device (the device is {device}); use amp: bf16 "
                          "on the CPU, or amp: none")
    if amp == "fp16" and own_step:
        raise ConfigError("trainer.amp=fp16 scales the loss before backward, which models with their own "
                          "train_step (several optimisers) do not do; use amp: bf16 or amp: none")


def autocast(amp: str, device: torch.device):
    """The autocast context of ``trainer.amp`` (a no-op for ``none``)."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(amp: str, device: torch.device) -> Optional["torch.amp.GradScaler"]:
    """A gradient scaler for ``fp16`` (CUDA); None otherwise."""
    if amp != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
