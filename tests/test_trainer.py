import csv
import math

import pytest
import torch

from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn
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


def tensorboard_scalars(exp_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(exp_dir / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_curves_per_step_and_epoch_and_the_same_after_a_resume(tmp_path, datasets):
    run(tmp_path / "full", datasets, 3)
    run(tmp_path / "split", datasets, 2)
    run(tmp_path / "split", datasets, 3, resume=True)
    full = tensorboard_scalars(tmp_path / "full")
    steps = len(losses(tmp_path / "full")) * 3  # 48 segments in batches of 16: 3 steps an epoch
    assert [s for s, _ in full["step/loss"]] == list(range(1, steps + 1))
    assert [v for _, v in full["epoch/valid_loss"]] == [round(r[2], 6) for r in losses(tmp_path / "full")]
    assert [s for s, _ in full["epoch/epoch"]] == [3, 6, 9] and "epoch/lr" in full
    split = tensorboard_scalars(tmp_path / "split")
    assert {tag: sorted(set(v)) for tag, v in split.items()} == {tag: sorted(set(v)) for tag, v in full.items()}
    assert split["step/loss"] == full["step/loss"]  # nothing written twice


def test_existing_checkpoint_without_resume_is_refused(tmp_path, datasets):
    run(tmp_path / "exp", datasets, 1)
    with pytest.raises(TrainingError, match="pass --resume"):
        run(tmp_path / "exp", datasets, 2)


def test_finished_run_resumes_to_nothing(tmp_path, datasets):
    run(tmp_path / "exp", datasets, 2)
    before = losses(tmp_path / "exp")
    run(tmp_path / "exp", datasets, 2, resume=True)
    assert losses(tmp_path / "exp") == before


def patched(model, change):
    """``model`` whose forward returns ``change(model, loss, stats)`` of its own output."""
    original = model.forward
    model.forward = lambda batch: change(model, *original(batch))
    return model


def test_nan_loss_stops_naming_the_step(tmp_path, datasets):
    exp = tiny_config(2)
    model = patched(build_model(exp), lambda model, loss, stats: (loss * math.nan, stats))
    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at step 1 \(epoch 1\)"):
        Trainer(exp, model, datasets[0], datasets[1], tmp_path / "exp").fit()
    assert not (tmp_path / "exp" / "checkpoint.pt").exists()


def test_nan_loss_before_any_epoch_does_not_point_to_a_missing_checkpoint(tmp_path, datasets):
    exp = tiny_config(2)
    model = build_model(exp)
    model.forward = lambda batch: (torch.tensor(math.inf, requires_grad=True), {"loss": math.inf})
    with pytest.raises(TrainingError, match="no epoch finished, so nothing was saved") as err:
        Trainer(exp, model, datasets[0], datasets[1], tmp_path / "exp").fit()
    assert "checkpoint.pt" not in str(err.value)


def test_non_finite_validation_stops_training_naming_the_set(tmp_path, datasets):
    exp = tiny_config(2)
    model = patched(build_model(exp), lambda model, loss, stats:
                    (loss, stats if model.training else dict(stats, loss=math.nan)))
    with pytest.raises(TrainingError, match=r"non-finite validation loss=nan after epoch 1 on .*feats.scp"):
        Trainer(exp, model, datasets[0], datasets[1], tmp_path / "exp").fit()
    assert not (tmp_path / "exp" / "best.pt").exists() and not (tmp_path / "exp" / "checkpoint.pt").exists()


def test_a_second_training_into_the_same_exp_dir_is_refused(tmp_path, datasets):
    from speechgen.train.files import lock_dir

    holder = lock_dir(tmp_path / "exp")
    try:
        with pytest.raises(TrainingError, match=rf"{tmp_path / 'exp'}: another training is writing it \(pid \d+\)"):
            run(tmp_path / "exp", datasets, 1)
        assert not (tmp_path / "exp" / "loss.csv").exists()
    finally:
        holder.close()
    run(tmp_path / "exp", datasets, 1)  # the lock went with its holder
    run(tmp_path / "exp", datasets, 2, resume=True)  # and a finished fit releases its own
    assert [r[0] for r in losses(tmp_path / "exp")] == [1, 2]


def test_full_disk_is_one_error_and_resume_keeps_one_row_per_epoch(tmp_path, datasets, monkeypatch):
    import speechgen.train.files as files

    real_save, calls = torch.save, []

    def fails_on_the_first_checkpoint(obj, path, *args, **kwargs):
        calls.append(str(path))
        if str(path).endswith("checkpoint.pt.tmp") and len([c for c in calls if "checkpoint" in c]) == 1:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 512 vs 448")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(files.torch, "save", fails_on_the_first_checkpoint)
    exp_dir = tmp_path / "exp"
    with pytest.raises(TrainingError, match=r"checkpoint.pt: could not be written \(\[enforce fail.*free disk space"):
        run(exp_dir, datasets, 2)
    assert not (exp_dir / "checkpoint.pt.tmp").exists() and (exp_dir / "loss.csv").exists()
    run(exp_dir, datasets, 2, resume=True)  # no checkpoint yet: starts again, dropping the stale epoch-1 row
    assert [r[0] for r in losses(exp_dir)] == [1, 2]
    run(tmp_path / "clean", datasets, 2)
    assert losses(exp_dir) == losses(tmp_path / "clean")


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"random bytes, not a zip file at all" * 20, "truncated"])
def test_damaged_checkpoints_are_one_line_naming_the_file(tmp_path, datasets, content):
    from speechgen.errors import DataError
    from speechgen.train.files import load_weights

    exp_dir = tmp_path / "exp"
    run(exp_dir, datasets, 1)
    for name in ("best.pt", "checkpoint.pt"):
        path = exp_dir / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if content == "truncated" else content)
    with pytest.raises(DataError, match=rf"^{exp_dir / 'best.pt'}: (empty|damaged or not a checkpoint)") as err:
        load_weights(build_model(tiny_config(1)), exp_dir / "best.pt")
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match=rf"^{exp_dir / 'checkpoint.pt'}: (empty|damaged or not a checkpoint)"):
        run(exp_dir, datasets, 2, resume=True)


def test_weights_of_another_model_name_the_file(tmp_path, datasets):
    from speechgen.errors import DataError
    from speechgen.train.files import load_weights

    exp_dir = tmp_path / "exp"
    run(exp_dir, datasets, 1)
    torch.save({"layer.weight": torch.zeros(2)}, exp_dir / "best.pt")
    with pytest.raises(DataError, match=rf"^{exp_dir / 'best.pt'}: does not hold the weights of this model"):
        load_weights(build_model(tiny_config(1)), exp_dir / "best.pt")


def test_resuming_with_another_model_config_names_the_checkpoint(tmp_path, datasets):
    run(tmp_path / "exp", datasets, 1)
    exp = config_from_dict({**tiny_config(2).to_dict(), "model_conf": {
        "n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 32, "latent_dim": 4}})
    with pytest.raises(TrainingError, match=r"checkpoint.pt: not the resume state of this model and config"):
        Trainer(exp, build_model(exp), datasets[0], datasets[1], tmp_path / "exp").fit(resume=True)


def test_a_length_in_steps_becomes_the_fewest_whole_epochs_and_the_cosine_period(tmp_path, datasets):
    n_batches = math.ceil(len(datasets[0]) / 16)
    exp = tiny_config(99)
    exp.trainer.steps = n_batches + 1  # one step into a second epoch: two epochs
    exp.scheduler, exp.scheduler_conf = "cosineannealinglr", {"T_max": 50}
    trainer = Trainer(exp, build_model(exp), datasets[0], None, tmp_path / "exp")
    assert exp.trainer.max_epochs == 2 and exp.scheduler_conf["T_max"] == 2
    trainer.fit()
    with open(tmp_path / "exp" / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [n_batches, 2 * n_batches]
    assert float(rows[-1]["lr"]) == pytest.approx(0.0, abs=1e-12)  # the cosine schedule ran its whole period
    saved = (tmp_path / "exp" / "config.yaml").read_text()
    assert "max_epochs: 2" in saved and "steps: " in saved
