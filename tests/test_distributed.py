"""Several training processes (DistributedDataParallel over gloo on the CPU), devices, mixed precision.

Two processes started by the test (``torch.multiprocessing``, as torchrun would set them up) train
on halves of each global batch; they must follow the single process's loss trajectory, stay in step
with each other, and resume exactly.
"""
import csv
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader

from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn
from speechgen.data.frames import FrameWindowDataset
from speechgen.errors import ConfigError
from speechgen.losses.gradient_penalty import gradient_penalty
from speechgen.models.gan_parts import MultiOptimizerModel
from speechgen.train import distributed
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.trainer import Trainer

from feature_fixtures import write_feature_dir
from test_logmel_data import write_window_dir

WORLD = 2
T, F = 4, 6  # tiny segments


class TwoPlayers(MultiOptimizerModel):
    """A deterministic model stepped like the GANs: a critic with a gradient penalty (a double backward)
    and a generator, each updated on its own loss with ``backward(inputs=...)`` by its own optimiser."""

    def __init__(self, n_frames: int = T, n_bins: int = F):
        super().__init__()
        dim = n_frames * n_bins
        self.generator = nn.Linear(dim, dim)
        self.critic = nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, 1))

    def optimizer_groups(self):
        return {"generator": list(self.generator.parameters()), "critic": list(self.critic.parameters())}

    def train_step(self, batch, optimizers, step):
        x = batch["feats"].flatten(1)
        fake = self.generator(x).detach()
        gp = gradient_penalty(lambda v: self.critic(v).squeeze(-1), x, fake, eps=torch.full((len(x),), 0.5))
        critic_loss = (self.critic(fake) - self.critic(x)).mean() + gp
        self.update(optimizers["critic"], critic_loss)
        out = self.generator(x)
        gen_loss = (out - x).pow(2).mean() - 0.1 * self.critic(out).mean()
        self.update(optimizers["generator"], gen_loss)
        return {"loss": critic_loss.item(), "gen_loss": gen_loss.item()}

    def forward(self, batch):
        x = batch["feats"].flatten(1)
        loss = (self.generator(x) - x).pow(2).mean()
        return loss, {"loss": loss.item()}


TRAINER = {"batch_size": 8, "seed": 1, "num_threads": 1}
CONFIGS = {
    # a normalising flow: ActNorm layers initialise from the first batch. SGD, because Adam divides by
    # the gradients' running RMS and so turns the round-off of gradients that are zero in theory (ActNorm's
    # bias right after its initialisation) into steps of +-lr, which hides what the comparison is after
    "flow": {"model": "nf", "model_conf": {"n_frames": T, "n_bins": F, "levels": 2, "steps_per_level": 2,
                                           "hidden": 8},
             "optim": "sgd", "optim_conf": {"lr": 0.05, "momentum": 0.9}},
    # the config names a registered model for its checks; the trainer trains the TwoPlayers it is given
    "two_players": {"model": "mlp_classifier", "optim_conf": {"lr": 1.0e-2}},
    "wgan_gp": {"model": "wgan_gp",
                "model_conf": {"n_frames": 5, "n_bins": 120, "latent_dim": 4, "channels": [8, 8], "hidden": 8,
                               "critic_channels": [8, 8], "critic_hidden": 8, "n_critic": 2},
                "optim_conf": {"lr": 1.0e-3, "betas": [0.0, 0.9]}},
}


def make_data(root):
    write_feature_dir(root / "segments", n=48, frames=T, bins=F)
    write_window_dir(root / "windows", lengths=(30, 12, 22))


def train(root, name, exp_dir, epochs, resume=False):
    """Train CONFIGS[name] for ``epochs`` in this process (one of several when RANK/WORLD_SIZE are set)."""
    exp = config_from_dict({**CONFIGS[name], "trainer": {**TRAINER, "max_epochs": epochs}})
    if name == "wgan_gp":
        windows = root / "windows"
        data = FrameWindowDataset(windows, Cmvn.load(windows / "cmvn.npz"), window=5)
        valid = None
    else:
        segments = root / "segments"
        data = SegmentDataset(segments, Cmvn.load(segments / "cmvn.npz"), segments / "lang")
        valid = SegmentDataset(segments, Cmvn.load(segments / "cmvn.npz"), segments / "lang", max_items=16)
    torch.manual_seed(0)
    model = TwoPlayers() if name == "two_players" else build_model(exp)
    trainer = Trainer(exp, model, data, valid, exp_dir)
    trainer.fit(resume=resume)
    return trainer


def _worker(rank, port, root, jobs):
    """One of WORLD processes: the environment torchrun would give it, then the training jobs in turn."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    for name, exp_dir, epochs, resume in jobs:
        trainer = train(root, name, exp_dir, epochs, resume)
        torch.save(trainer.model.state_dict(), exp_dir / f"rank{rank}.pt")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(root, jobs, timeout=240):
    """Run ``jobs`` in WORLD spawned processes; a failure re-raises the process's error."""
    import torch.multiprocessing as mp

    context = mp.start_processes(_worker, args=(free_port(), root, jobs), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {WORLD} training processes did not finish in {timeout} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()


def rows(exp_dir):
    with open(exp_dir / "loss.csv") as f:
        return [{k: float(v) for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    make_data(root)
    single, ddp = root / "single", root / "ddp"
    for name in ("flow", "two_players"):
        train(root, name, single / name, 3)
    run_processes(root, [("flow", ddp / "flow", 3, False),
                         ("flow", ddp / "flow_split", 2, False), ("flow", ddp / "flow_split", 3, True),
                         ("two_players", ddp / "two_players", 3, False),
                         ("wgan_gp", ddp / "wgan_gp", 2, False)])
    return single, ddp


def assert_close_runs(a, b, rtol):
    ra, rb = rows(a), rows(b)
    assert [r.keys() for r in ra] == [r.keys() for r in rb] and len(ra) == 3
    for x, y in zip(ra, rb):
        for key in x:
            assert x[key] == pytest.approx(y[key], rel=rtol, abs=1e-6), (key, x, y)
    wa, wb = torch.load(a / "latest.pt"), torch.load(b / "latest.pt")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["flow", "two_players"])
def test_two_processes_follow_the_single_process(runs, name):
    single, ddp = runs
    assert_close_runs(single / name, ddp / name, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["flow", "flow_split", "two_players", "wgan_gp"])
def test_processes_stay_in_step(runs, name):
    _, ddp = runs
    rank0, rank1 = (torch.load(ddp / name / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)


@pytest.mark.slow
def test_resume_with_two_processes_continues_exactly(runs):
    _, ddp = runs
    assert rows(ddp / "flow") == rows(ddp / "flow_split")
    full, split = torch.load(ddp / "flow" / "latest.pt"), torch.load(ddp / "flow_split" / "latest.pt")
    assert all(torch.equal(full[k], split[k]) for k in full)
    state = torch.load(ddp / "flow_split" / "checkpoint.pt", weights_only=False)
    assert len(state["rng_ranks"]) == WORLD
    assert "resumed from" in (ddp / "flow_split" / "train.log").read_text()


@pytest.mark.slow
def test_only_rank_zero_writes_the_experiment_dir(runs):
    _, ddp = runs
    log = (ddp / "wgan_gp" / "train.log").read_text()
    assert "2 processes" in log and log.count("epoch 2/2") == 1
    assert [r["epoch"] for r in rows(ddp / "wgan_gp")] == [1.0, 2.0]
    assert {"gen_loss", "loss"} <= {k[len("train_"):] for k in rows(ddp / "wgan_gp")[0] if k.startswith("train_")}


# ---------------------------------------------------------------- sampler, devices, precision
def test_sharded_sampler_deals_the_single_process_batches():
    data = list(range(11))
    single = list(DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(5)))
    ours = list(DataLoader(data, batch_size=4, generator=(g := torch.Generator().manual_seed(5)),
                           sampler=distributed.ShardedSampler(len(data), g)))
    assert [b.tolist() for b in single] == [b.tolist() for b in ours]  # one process: the same epoch
    shards = []
    for rank in range(2):
        g = torch.Generator().manual_seed(5)
        shards.append(list(DataLoader(data, batch_size=2, generator=g,
                                      sampler=distributed.ShardedSampler(len(data), g, rank, 2))))
    assert len(shards[0]) == len(shards[1]) == 3
    order = [i for b in single for i in b.tolist()]
    for b, (x, y) in enumerate(zip(*shards)):
        assert sorted(x.tolist() + y.tolist()) == sorted((order + order[:1])[4 * b:4 * b + 4])


def test_global_batch_must_split_evenly():
    assert distributed.local_batch_size(64, 4) == 16
    with pytest.raises(ConfigError, match="batch_size=10 is the global batch, shared by 3 processes"):
        distributed.local_batch_size(10, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a CUDA device")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="trainer.device=cuda but no CUDA device is available"):
        distributed.resolve_device("cuda")
    assert distributed.resolve_device("auto") == torch.device("cpu")


def test_precision_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="amp='fp32'; expected one of none, bf16, fp16"):
        config_from_dict({"model": "nf", "trainer": {"amp": "fp32"}})
    with pytest.raises(ConfigError, match="device='gpu'"):
        config_from_dict({"model": "nf", "trainer": {"device": "gpu"}})
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        distributed.check_amp("fp16", torch.device("cpu"), own_step=False)
    with pytest.raises(ConfigError, match="use amp: bf16"):
        distributed.check_amp("fp16", torch.device("cuda"), own_step=True)


def test_bf16_autocast_trains_on_the_cpu(tmp_path):
    make_data(tmp_path)
    exp = config_from_dict({**CONFIGS["flow"], "trainer": {**TRAINER, "max_epochs": 2, "amp": "bf16"}})
    segments = tmp_path / "segments"
    data = SegmentDataset(segments, Cmvn.load(segments / "cmvn.npz"), segments / "lang")
    last = Trainer(exp, build_model(exp), data, None, tmp_path / "exp").fit()
    plain = train(tmp_path, "flow", tmp_path / "fp32", 2)
    assert last["epoch"] == 2 and torch.isfinite(torch.tensor(last["train_loss"]))
    assert plain.epoch == 2 and last["train_loss"] != rows(tmp_path / "fp32")[-1]["train_loss"]


@pytest.mark.slow
def test_torchrun_launches_a_stage_script(tmp_path):
    """What run.sh --ngpu N does, with gloo on the CPU: torchrun starts the console script N times."""
    make_data(tmp_path)
    segments = tmp_path / "segments"
    conf = tmp_path / "flow.yaml"
    conf.write_text(yaml.safe_dump({**CONFIGS["flow"], "trainer": {**TRAINER, "max_epochs": 1}}))
    script = os.path.join(os.path.dirname(sys.executable), "speechgen-train")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "--no-python", script, "--config", str(conf), "--train-dir", str(segments),
                          "--lang-dir", str(segments / "lang"), "--exp-dir", str(tmp_path / "exp"),
                          "--override", "trainer.max_epochs=1", "--override", "trainer.device=cpu"],
                         capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "device cpu, 2 processes" in (tmp_path / "exp" / "train.log").read_text()
    assert yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())["trainer"]["device"] == "cpu"
    assert (tmp_path / "exp" / "data.yaml").is_file() and len(rows(tmp_path / "exp")) == 1
