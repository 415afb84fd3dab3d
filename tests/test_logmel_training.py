"""Training with several optimisers: exact resume of GANs, epoch hooks, the log-mel train/eval stages."""
import csv
import json

import pytest
import torch
import yaml

from speechgen.bin import eval_logmel, make_logmel_results, train
from speechgen.data.tables import Cmvn
from speechgen.data.frames import FrameWindowDataset
from speechgen.eval.animation import EpochFigureHook
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.trainer import Trainer

from test_logmel_data import write_window_dir

GAN_CONFIGS = {
    "wgan_gp": {"model": "wgan_gp",
                "model_conf": {"n_frames": 5, "n_bins": 120, "latent_dim": 4, "channels": [8, 8], "hidden": 8,
                               "critic_channels": [8, 8], "critic_hidden": 8, "conditional": True, "n_classes": 5,
                               "n_critic": 2},
                "optim_conf": {"lr": 1.0e-3, "betas": [0.0, 0.9]},
                "scheduler": "steplr", "scheduler_conf": {"step_size": 1, "gamma": 0.9}},
    "vae_gan": {"model": "vae_gan",
                "model_conf": {"n_frames": 5, "n_bins": 120, "channels": [8, 8], "hidden": 8, "latent_dim": 3,
                               "disc_channels": [8, 8], "disc_hidden": 8},
                "optim": "rmsprop", "optim_conf": {"lr": 3.0e-4}},
}


@pytest.fixture(scope="module")
def window_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    train, dev = write_window_dir(root / "train"), write_window_dir(root / "dev", lengths=(20, 14), seed=1)
    cmvn = Cmvn.load(train / "cmvn.npz")
    return (FrameWindowDataset(train, cmvn, window=5, windows_per_epoch=40, seed=0),
            FrameWindowDataset(dev, cmvn, window=5), cmvn)


def run(name, exp_dir, sets, epochs, resume=False, hooks=()):
    exp = config_from_dict({**GAN_CONFIGS[name], "trainer": {"max_epochs": epochs, "batch_size": 8, "seed": 2,
                                                            "best_metric": "loss"}})
    trainer = Trainer(exp, build_model(exp), sets[0], sets[1], exp_dir, epoch_hooks=hooks)
    trainer.fit(resume=resume)
    return trainer


def rows(exp_dir):
    with open(exp_dir / "loss.csv") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.mark.parametrize("name", sorted(GAN_CONFIGS))
def test_gan_resume_continues_exactly(tmp_path, window_sets, name):
    run(name, tmp_path / "full", window_sets, 4)
    run(name, tmp_path / "split", window_sets, 2)
    trainer = run(name, tmp_path / "split", window_sets, 4, resume=True)
    assert trainer.epoch == 4 and trainer.step == 4 * 5
    assert rows(tmp_path / "full") == rows(tmp_path / "split")
    full, split = (torch.load(tmp_path / d / "latest.pt") for d in ("full", "split"))
    assert all(torch.equal(full[k], split[k]) for k in full)
    state = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert set(state["optimizers"]) == set(trainer.optimizers) and len(state["optimizers"]) > 1
    assert all(opt["state"] for opt in state["optimizers"].values())  # every optimiser's moments are saved


def test_epoch_hooks_draw_figures_and_leave_training_unchanged(tmp_path, window_sets):
    sets = window_sets
    windows = sets[1].windows(sets[1].strip_centres(4))
    hook = EpochFigureHook(windows, torch.tensor([0, 1, 2, 3]), ["a", "b", "c", "d"], sets[2], n_mels=40)
    calls = []
    run("wgan_gp", tmp_path / "hooked", sets, 2, hooks=[hook, lambda tr: calls.append(torch.rand(1))])
    run("wgan_gp", tmp_path / "plain", sets, 2)
    assert rows(tmp_path / "hooked") == rows(tmp_path / "plain")
    assert len(calls) == 2
    figures = tmp_path / "hooked" / "figures"
    assert {p.name for p in figures.iterdir()} == {"epoch1.png", "epoch2.png", "epochs.gif"}
    from PIL import Image

    with Image.open(figures / "epochs.gif") as gif:
        assert gif.n_frames == 2


def test_with_the_feature_settings_the_windows_are_heard_in_tensorboard(tmp_path, window_sets):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from speechgen.data.frames import LogMelConfig

    sets = window_sets
    windows = sets[1].windows(sets[1].strip_centres(4))  # 4 back-to-back windows of 5 frames
    hook = EpochFigureHook(windows, torch.tensor([0, 1, 2, 3]), ["a", "b", "c", "d"], sets[2], n_mels=40,
                           settings=LogMelConfig(), gla_iters=2)
    run("vae_gan", tmp_path / "exp", sets, 1, hooks=[hook])
    acc = EventAccumulator(str(tmp_path / "exp" / "tensorboard"), size_guidance={"images": 0, "audio": 0})
    acc.Reload()
    assert len(acc.Images("figures/windows")) == 1
    for name in ("input", "model"):  # the real strip and the model's
        clip = acc.Audio(f"audio/windows_{name}")[0]
        assert clip.sample_rate == 16000 and clip.length_frames == (20 - 1) * 160 + 512  # 20 frames, uncentred


def test_a_checkpoint_with_a_single_optimizer_key_still_resumes(tmp_path, window_sets):
    exp = config_from_dict({"model": "conv_vae", "model_conf": {"n_frames": 5, "n_bins": 120, "channels": [4, 4],
                                                                "hidden": 8, "latent_dim": 2},
                            "trainer": {"max_epochs": 1, "batch_size": 8}})
    trainer = Trainer(exp, build_model(exp), window_sets[0], None, tmp_path / "old")
    trainer.fit()
    state = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=False)
    state["optimizer"], state["scheduler"] = state.pop("optimizers")["model"], state.pop("schedulers")["model"]
    torch.save(state, tmp_path / "old" / "checkpoint.pt")
    exp.trainer.max_epochs = 2
    resumed = Trainer(exp, build_model(exp), window_sets[0], None, tmp_path / "old")
    resumed.fit(resume=True)
    assert resumed.epoch == 2


def test_train_and_eval_stages(tmp_path, capsys):
    dump = tmp_path / "dump"
    for name, seed in (("train", 0), ("dev", 1), ("test", 2)):
        write_window_dir(dump / name, lengths=(40, 30, 35), seed=seed)
    conf = tmp_path / "wgan.yaml"
    conf.write_text(yaml.safe_dump({**GAN_CONFIGS["wgan_gp"], "trainer": {"max_epochs": 1, "batch_size": 16},
                                    "data": "frame_windows"}))
    clf_conf = tmp_path / "clf.yaml"
    clf_conf.write_text(yaml.safe_dump({"model": "mlp_classifier", "model_conf": {
        "label": "phone", "n_classes": 49, "n_frames": 5, "n_bins": 120, "hidden": [16]},
        "trainer": {"max_epochs": 2, "batch_size": 16, "best_metric": "err"}, "data": "frame_windows"}))
    common = ["--train-dir", str(dump / "train"), "--valid-dir", str(dump / "dev")]
    exp, clf = tmp_path / "exp" / "train_wgan_gp", tmp_path / "exp" / "classifier_phone"
    seed_windows = ["data_conf.centres=phone_runs", "data_conf.edge=zero"]  # the recipe's default
    assert train.main(["--config", str(clf_conf), *common, "--exp-dir", str(clf),
                       "--override", "data_conf.figure_windows=0", *seed_windows]) == 0
    assert train.main(["--config", str(conf), *common, "--exp-dir", str(exp), "--figure-dir", str(dump / "test"),
                       "--override", "data_conf.figure_windows=6", "data_conf.windows_per_epoch=50",
                       *seed_windows]) == 0
    assert (exp / "figures" / "epoch1.png").is_file() and (exp / "figures" / "epochs.gif").is_file()
    assert yaml.safe_load((exp / "data.yaml").read_text())["window"] == 5
    assert yaml.safe_load((exp / "data.yaml").read_text())["centres"] == "phone_runs"
    for d in (clf, exp):
        assert eval_logmel.main(["--exp-dir", str(d), "--test-dir", str(dump / "test"), "--classifier", str(clf),
                                 "--max-windows", "60", "--per-class", "3"]) == 0
    scores = json.loads((exp / "eval" / "scores.json").read_text())
    assert scores["conditional"] and 0.0 <= scores["cond_acc"] <= 1.0 and scores["fd"] > 0 and scores["fd_cond"] > 0
    assert "recon_mse" not in scores
    assert (exp / "figures" / "samples.png").is_file() and not (exp / "figures" / "tsne.png").exists()
    reference = json.loads((clf / "eval" / "scores.json").read_text())
    assert reference["kind"] == "classifier" and reference["fd_noise"] > reference["fd_train_windows"]
    pca = reference["baselines"]
    assert sorted(pca) == ["pca128", "pca32"] and pca["pca32"]["fit_windows"] == 36  # every phone-run window
    assert pca["pca128"]["recon_mse"] < pca["pca32"]["recon_mse"] and pca["pca32"]["fd"] > 0
    assert make_logmel_results.main(["--exp-root", str(tmp_path / "exp"), "--dump-dir", str(dump)]) == 0
    results = (tmp_path / "exp" / "RESULTS.md").read_text()
    assert "| pca32 (no model: PCA, " in results and "| pca128 (no model: PCA, " in results
    assert "| wgan_gp (wgan_gp) | `train_wgan_gp` |" in results and "| train | 3 |" not in results
    assert "accuracy on all real test windows" in results
    # 105 frames; runs of 3 equal labels, cut at utterance ends: 14 + 10 + 12 phone-run windows
    assert "| 105 | 36 |" in results and "phone_centres windows" in results
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results: timit_logmel -->\nold\n<!-- /results: timit_logmel -->\nend\n")
    assert make_logmel_results.main(["--exp-root", str(tmp_path / "exp"), "--dump-dir", str(dump), "--order", "wgan_gp",
                                     "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| wgan_gp (wgan_gp) |" in text and "`train_wgan_gp`" not in text  # no exp dirs in a README

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**GAN_CONFIGS["wgan_gp"], "data": "frame_windows",
                                   "model_conf": {**GAN_CONFIGS["wgan_gp"]["model_conf"], "n_bins": 40}}))
    assert train.main(["--config", str(bad), *common, "--exp-dir", str(tmp_path / "bad")]) == 1
    assert "are 5x120 (frames x bins) but the model expects 5x40" in capsys.readouterr().err
