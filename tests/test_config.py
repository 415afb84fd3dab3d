import pytest
import yaml

from speechgen.errors import ConfigError
from speechgen.train.config import apply_overrides, build_model, config_from_dict, load_config

TINY = {"model": "conv_vae", "model_conf": {"n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 8,
                                             "latent_dim": 2}}


def test_valid_config_builds_model():
    exp = config_from_dict(dict(TINY, trainer={"max_epochs": 3}))
    assert exp.trainer.max_epochs == 3
    model = build_model(exp)
    assert model.latent_dim == 2


@pytest.mark.parametrize("raw, match", [
    (dict(TINY, optimiser="adam"), r"unknown key\(s\) optimiser in config"),
    (dict(TINY, trainer={"max_epoch": 2}), r"unknown key\(s\) max_epoch in config: trainer"),
    (dict(TINY, model_conf={"latent": 3}), r"unknown key\(s\) latent in config: model_conf"),
    (dict(TINY, optim_conf={"learning_rate": 1}), r"unknown key\(s\) learning_rate in config: optim_conf"),
    (dict(TINY, model="no_such_model"), r"unknown model 'no_such_model'; known: .*conv_vae"),
    (dict(TINY, optim="adamax"), r"unknown optim 'adamax'"),
    ({"model_conf": {}}, r"the key 'model' is required"),
])
def test_bad_config_is_rejected_naming_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(raw)


def test_load_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY))
    exp = load_config(path, ["trainer.max_epochs=7", "model_conf.latent_dim=5"])
    assert exp.trainer.max_epochs == 7 and exp.model_conf["latent_dim"] == 5
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not of the form"):
        apply_overrides({}, ["trainer.max_epochs"])
    path.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
