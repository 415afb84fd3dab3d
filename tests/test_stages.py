"""The stage console scripts chained on a tiny feature dir: train -> encode -> t-SNE -> RESULTS.md."""
import json

import kaldiio
import yaml

from speechgen.bin import encode, make_results, plot_tsne, train

from feature_fixtures import write_feature_dir

CONFIG = {
    "model": "conv_vae",
    "model_conf": {"n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 16, "latent_dim": 3},
    "trainer": {"max_epochs": 2, "batch_size": 16},
}


def test_train_encode_tsne_results(tmp_path, capsys):
    dump = tmp_path / "dump"
    feats = write_feature_dir(dump / "train")
    write_feature_dir(dump / "test", n=40, seed=1)
    conf = tmp_path / "vae.yaml"
    conf.write_text(yaml.safe_dump(CONFIG))
    exp = tmp_path / "exp" / "train_vae"
    args = ["--config", str(conf), "--train-dir", str(feats), "--valid-dir", str(dump / "test"),
            "--lang-dir", str(feats / "lang"), "--exp-dir", str(exp)]
    assert train.main(args) == 0
    assert train.main(args) == 1  # a second run must not silently overwrite
    assert "pass --resume" in capsys.readouterr().err
    assert train.main(args + ["--resume", "--override", "trainer.max_epochs=3"]) == 0
    assert json.loads((exp / "summary.json").read_text())["epochs"] == 3
    assert yaml.safe_load((exp / "config.yaml").read_text())["trainer"]["max_epochs"] == 3

    assert encode.main(["--exp-dir", str(exp), "--feats-dir", str(dump / "test"),
                        "--out-dir", str(exp / "encode_test")]) == 0
    codes = kaldiio.load_scp(str(exp / "encode_test" / "codes.scp"))
    assert len(codes) == 40 and all(v.shape == (3,) for v in codes.values())
    assert (exp / "encode_test" / "seg2spk").is_file()

    png = exp / "figures" / "tsne.png"
    assert plot_tsne.main([f"vae={exp / 'encode_test'}", "--out", str(png), "--perplexity", "5"]) == 0
    assert png.stat().st_size > 1000

    assert make_results.main(["--exp-root", str(tmp_path / "exp"), "--dump-dir", str(dump)]) == 0
    results = (tmp_path / "exp" / "RESULTS.md").read_text()
    assert "| conv_vae | `train_vae` |" in results
    assert "| train | 12 | 48 | 2 | 3 |" in results
    assert "[png](train_vae/figures/tsne.png)" in results


def test_train_rejects_features_of_another_shape(tmp_path, capsys):
    feats = write_feature_dir(tmp_path / "train", frames=9, bins=50)
    conf = tmp_path / "vae.yaml"
    conf.write_text(yaml.safe_dump(CONFIG))
    assert train.main(["--config", str(conf), "--train-dir", str(feats), "--exp-dir", str(tmp_path / "e")]) == 1
    assert "are 9x50 (frames x bins) but the model expects 20x200" in capsys.readouterr().err


def test_a_reconstructing_models_examples_go_to_tensorboard_as_figure_and_audio(tmp_path):
    import dataclasses

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from speechgen.data.features import SegmentSpecConfig

    feats = write_feature_dir(tmp_path / "train", n=32)
    (feats / "spec.yaml").write_text(yaml.safe_dump(dataclasses.asdict(SegmentSpecConfig())))
    conf = tmp_path / "vae.yaml"
    conf.write_text(yaml.safe_dump(CONFIG))
    exp = tmp_path / "exp"
    assert train.main(["--config", str(conf), "--train-dir", str(feats), "--exp-dir", str(exp)]) == 0
    acc = EventAccumulator(str(exp / "tensorboard"), size_guidance={"images": 0, "audio": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "figures/reconstruction" in tags["images"] and len(acc.Images("figures/reconstruction")) == 2  # 2 epochs
    assert {"audio/0_input", "audio/0_reconstruction", "audio/1_reconstruction"} <= set(tags["audio"])
    assert acc.Audio("audio/0_input")[0].sample_rate == 16000
