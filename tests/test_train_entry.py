"""speechgen-train, the one training command: the config's data kind and the models' set-up hooks."""
import pytest
import yaml

from speechgen.bin import train
from speechgen.errors import ConfigError
from speechgen.train.config import build_model, config_from_dict

from test_complex_vae import SMALL
from test_data_loading import write_stft_dump

COMPLEX = {"model": "complex_vae", "data": "complex_crops", "data_conf": {"segment_frames": 16, "crops_per_utt": 2},
           "trainer": {"max_epochs": 1, "batch_size": 4}}


@pytest.fixture(scope="module")
def stft_dump(tmp_path_factory):
    dump = write_stft_dump(tmp_path_factory.mktemp("stft") / "train", n_freq=33)
    (dump / "stft.yaml").write_text(yaml.safe_dump({"n_fft": 64, "hop_length": 16}))
    return dump


def write_config(path, **model_conf):
    path.write_text(yaml.safe_dump({**COMPLEX, "model_conf": {**SMALL, **model_conf}}))
    return path


def run(tmp_path, dump, config, exp, *extra):
    return train.main(["--config", str(config), "--train-dir", str(dump), "--valid-dir", str(dump),
                       "--exp-dir", str(tmp_path / exp), *extra])


def test_complex_crops_train_m_then_a_joint_model_from_it(tmp_path, stft_dump, capsys):
    assert run(tmp_path, stft_dump, write_config(tmp_path / "m.yaml"), "M") == 0
    info = yaml.safe_load((tmp_path / "M" / "data.yaml").read_text())
    assert info["segment_frames"] == 16 and info["stft"]["n_fft"] == 64 and info["init_from"] is None
    joint = write_config(tmp_path / "j.yaml", phase_terms=["gd"], freeze_magnitude=True)
    assert run(tmp_path, stft_dump, joint, "J") == 1
    assert "freeze_magnitude needs --init-from (a trained model M)" in capsys.readouterr().err
    assert run(tmp_path, stft_dump, joint, "J2", "--init-from", str(tmp_path / "M")) == 0
    assert yaml.safe_load((tmp_path / "J2" / "data.yaml").read_text())["init_from"] == str(tmp_path / "M")


def test_complex_models_decodings_go_to_tensorboard_as_figure_and_audio(tmp_path, stft_dump):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert run(tmp_path, stft_dump, write_config(tmp_path / "m.yaml"), "M") == 0
    joint = write_config(tmp_path / "j.yaml", phase_terms=["phase", "if"], freeze_magnitude=True)
    assert run(tmp_path, stft_dump, joint, "J", "--init-from", str(tmp_path / "M")) == 0
    for model in ("M", "J"):  # M: a random phase; J: the phase its heads estimate
        acc = EventAccumulator(str(tmp_path / model / "tensorboard"), size_guidance={"images": 0, "audio": 0})
        acc.Reload()
        assert len(acc.Images("figures/reconstruction")) == 1  # one epoch
        assert {"audio/0_input", "audio/0_reconstruction", "audio/1_input", "audio/1_reconstruction"} <= \
            set(acc.Tags()["audio"])
        clip = acc.Audio("audio/0_reconstruction")[0]
        assert clip.sample_rate == 16000 and clip.length_frames == (16 - 1) * 16  # 16 frames, hop 16


def test_the_model_must_fit_the_stft_features(tmp_path, stft_dump, capsys):
    bad = write_config(tmp_path / "bad.yaml", n_fft=128, n_bins=65)
    assert run(tmp_path, stft_dump, bad, "bad") == 1
    assert "have n_fft=64, hop_length=16 but the model has n_fft=128" in capsys.readouterr().err


def test_init_from_a_model_that_takes_no_weights_is_one_line():
    exp = config_from_dict({"model": "conv_vae", "model_conf": {"channels": [4, 8], "hidden": 8, "latent_dim": 2}})
    with pytest.raises(ConfigError, match=r"--init-from /x: model ConvVAE cannot start from another experiment"):
        build_model(exp).setup_training(None, True, {"w": 0}, "/x")


@pytest.mark.parametrize("raw, match", [
    ({"data": "frames"}, r"config: data='frames'; expected one of complex_crops, frame_windows, segments"),
    ({"data": "frame_windows", "data_conf": {"window": 9}}, r"unknown key\(s\) window in config: data_conf"),
    ({"data": "frame_windows", "data_conf": {"edge": "wrap"}}, r"data_conf.edge='wrap': expected one of clamp, zero, drop"),
    ({"data": "complex_crops", "data_conf": {"segment_frames": 0}}, r"data_conf.segment_frames=0: expected a positive"),
    ({"data": "segments", "data_conf": {"crops_per_utt": 2}}, r"unknown key\(s\) crops_per_utt"),
])
def test_bad_data_kinds_are_config_errors(raw, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"model": "identity", **raw})
