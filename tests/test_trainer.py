import csv
import math

import pytest
import torch

from speechgen.data.dataset import Cmvn, SegmentDataset
from speechgen.errors import TrainingError
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.trainer import Trainer

from feature_fixtures import write_feature_dir


def tiny_config(max_epochs, lr=1e-3):
    return config_from_dict({
        "model": "conv_vae",
        "model_conf": {"n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 16, "latent_dim": 4},
        "optim_conf": {"lr": lr},
        "scheduler": "steplr", "scheduler_conf": {"step_size": 1, "gamma": 0.9},
        "trainer": {"max_epochs": max_epochs, "batch_size": 16, "seed": 3, "keep_epoch_snapshots": 2},
    })


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = write_feature_dir(tmp_path_factory.mktemp("feats") / "train")
    cmvn = Cmvn.load(root / "cmvn.npz")
    return SegmentDataset(root, cmvn, root / "lang"), SegmentDataset(root, cmvn, root / "lang", max_items=16)


def run(exp_dir, datasets, epochs, resume=False):
    exp = tiny_config(epochs)
    trainer = Trainer(exp, build_model(exp), datasets[0], datasets[1], exp_dir)
    trainer.fit(resume=resume)
    return trainer


def losses(exp_dir):
    with open(exp_dir / "loss.csv") as f:
        return [(int(r["epoch"]), float(r["train_loss"]), float(r["valid_loss"])) for r in csv.DictReader(f)]


def test_resume_continues_exactly(tmp_path, datasets):
    run(tmp_path / "full", datasets, 4)
    run(tmp_path / "split", datasets, 2)
    trainer = run(tmp_path / "split", datasets, 4, resume=True)
    assert trainer.epoch == 4
    assert losses(tmp_path / "full") == losses(tmp_path / "split")
    full = torch.load(tmp_path / "full" / "latest.pt")
    split = torch.load(tmp_path / "split" / "latest.pt")
    assert all(torch.equal(full[k], split[k]) for k in full)


def test_experiment_dir_contents(tmp_path, datasets):
    exp_dir = tmp_path / "exp"
    run(exp_dir, datasets, 3)
    names = {p.name for p in exp_dir.iterdir()}
    assert {"config.yaml", "checkpoint.pt", "best.pt", "latest.pt", "train.log", "loss.csv", "loss.png",
            "summary.json", "epoch2.pt", "epoch3.pt"} <= names
    assert "epoch1.pt" not in names  # keep_epoch_snapshots: 2
    rows = losses(exp_dir)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[-1][1] < rows[0][1]  # it learns
    assert "epoch 3/3" in (exp_dir / "train.log").read_text()


def test_existing_checkpoint_without_resume_is_refused(tmp_path, datasets):
    run(tmp_path / "exp", datasets, 1)
    with pytest.raises(TrainingError, match="pass --resume"):
        run(tmp_path / "exp", datasets, 2)


def test_finished_run_resumes_to_nothing(tmp_path, datasets):
    run(tmp_path / "exp", datasets, 2)
    before = losses(tmp_path / "exp")
    run(tmp_path / "exp", datasets, 2, resume=True)
    assert losses(tmp_path / "exp") == before


def test_nan_loss_stops_naming_the_step(tmp_path, datasets):
    exp = tiny_config(2)
    model = build_model(exp)
    original = model.forward

    def poisoned(batch):
        loss, stats = original(batch)
        return loss * math.nan, stats

    model.forward = poisoned
    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at step 1 \(epoch 1\)"):
        Trainer(exp, model, datasets[0], datasets[1], tmp_path / "exp").fit()
    assert not (tmp_path / "exp" / "checkpoint.pt").exists()
