import pytest
import yaml

from speechgen.errors import ConfigError
from speechgen.models.registry import Registry
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
    with pytest.raises(ConfigError, match="expected the form key.sub=value"):
        apply_overrides({}, ["trainer.max_epochs"])
    path.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def _with(section, key, value):
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    if key is None:
        raw[section] = value
    else:
        raw.setdefault(section, {})[key] = value
    return raw


# (section, key, bad value, what the one-line error says): every field type of every config section
BAD_VALUES = [
    ("trainer", "max_epochs", 0, r"trainer\.max_epochs=0: expected a positive integer"),
    ("trainer", "max_epochs", 2.5, r"trainer\.max_epochs=2\.5: expected an integer"),
    ("trainer", "batch_size", -4, r"trainer\.batch_size=-4: expected a positive integer"),
    ("trainer", "seed", "abc", r"trainer\.seed='abc': expected an integer"),
    ("trainer", "seed", -1, r"trainer\.seed=-1: expected an integer >= 0"),
    ("trainer", "grad_clip", "none", r"trainer\.grad_clip='none': expected a number or null"),
    ("trainer", "grad_clip", -1.0, r"trainer\.grad_clip=-1\.0; expected a positive number, or null"),
    ("trainer", "num_workers", -1, r"trainer\.num_workers=-1: expected an integer >= 0"),
    ("trainer", "valid_interval", 0, r"trainer\.valid_interval=0: expected a positive integer"),
    ("trainer", "keep_epoch_snapshots", -2, r"trainer\.keep_epoch_snapshots=-2"),
    ("trainer", "num_threads", True, r"trainer\.num_threads=True: expected an integer"),
    ("trainer", "device", "gpu", r"trainer\.device='gpu'; expected auto, cpu, cuda or cuda:N"),
    ("trainer", "amp", "fp8", r"trainer\.amp='fp8'; expected one of"),
    ("trainer", "feats_loading", 3, r"trainer\.feats_loading=3: expected a string"),
    ("trainer", "best_metric", ["loss"], r"trainer\.best_metric=\['loss'\]: expected a string"),
    ("trainer", None, 5, r"config: trainer: expected a mapping of keys to values, got 5"),
    ("model_conf", None, [1, 2], r"config: model_conf: expected a mapping of keys to values"),
    ("model_conf", None, [{"a": 1}], r"config: model_conf: expected a mapping"),
    ("model_conf", "latent_dim", -5, r"model_conf\.latent_dim=-5: expected a positive integer"),
    ("model_conf", "latent_dim", "big", r"model_conf\.latent_dim='big': expected an integer"),
    ("model_conf", "channels", [4, -8], r"model_conf\.channels=\[4, -8\]: expected a positive integer \(each"),
    ("model_conf", "channels", "wide", r"model_conf\.channels='wide': expected a list \(an integer each\)$"),
    ("model_conf", "beta", "high", r"model_conf\.beta='high': expected a number"),
    ("model_conf", "beta", float("nan"), r"model_conf\.beta=nan: expected a number"),
    ("optim_conf", "lr", -1.0, r"optim_conf: Invalid learning rate"),
    ("optim_conf", "lr", "fast", r"optim_conf\.lr='fast': expected a number$"),
    ("optim_conf", "betas", "x", r"optim_conf\.betas='x': expected a list \(a number each\)$"),
    ("optim_conf", None, "adam", r"config: optim_conf: expected a mapping"),
    ("scheduler_conf", "gamma", "half", r"scheduler_conf\.gamma='half': expected a number"),
    ("optim_groups", None, [1], r"config: optim_groups: expected a mapping"),
]


@pytest.mark.parametrize("section, key, value, match", BAD_VALUES)
def test_every_config_field_type_is_checked_in_one_line(section, key, value, match):
    raw = _with(section, key, value)
    if section == "scheduler_conf":
        raw["scheduler"] = "exponentiallr"
    with pytest.raises(ConfigError, match=match) as err:
        config_from_dict(raw)
    assert "\n" not in str(err.value)


def test_scientific_notation_is_a_number_in_files_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: conv_vae\nmodel_conf: {n_frames: 20, n_bins: 200, channels: [4, 8], hidden: 8,"
                    " latent_dim: 2, beta: 1e-1}\noptim: adamw\noptim_conf: {lr: 1e-3, weight_decay: 1E-4}\n"
                    "trainer: {max_epochs: 1e1, grad_clip: 5}\n")
    exp = load_config(path)
    assert exp.optim_conf == {"lr": 1e-3, "weight_decay": 1e-4}
    assert exp.model_conf["beta"] == 0.1 and exp.trainer.max_epochs == 10 and exp.trainer.grad_clip == 5.0
    exp = load_config(path, ["optim_conf.lr=2e-4", "trainer.grad_clip=null", "model_conf.beta=.5"])
    assert exp.optim_conf["lr"] == 2e-4 and exp.trainer.grad_clip is None and exp.model_conf["beta"] == 0.5
    assert build_model(exp).latent_dim == 2


def test_an_override_error_names_the_override_not_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(TINY))
    with pytest.raises(ConfigError, match=r"^--override trainer=5: trainer: expected a mapping"):
        load_config(path, ["trainer=5"])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) epochs in --override trainer\.epochs=3"):
        load_config(path, ["trainer.epochs=3"])
    path.write_text(yaml.safe_dump(dict(TINY, trainer={"seed": "x"})))
    with pytest.raises(ConfigError, match=rf"^{path}: trainer\.seed='x'"):
        load_config(path, ["trainer.max_epochs=3"])


def test_a_model_that_cannot_be_built_from_its_sizes_is_a_config_error():
    registry = Registry("thing", object)

    @registry.register("picky")
    class Picky:
        def __init__(self, size: int = 2):
            if size % 2:
                raise ValueError(f"size {size} is odd")

    with pytest.raises(ConfigError, match=r"^model_conf: thing 'picky' cannot be built from \{'size': 3\}: size 3 is odd$"):
        registry.build("picky", {"size": 3}, where="model_conf")


def test_a_read_back_config_keeps_every_check_but_the_optimiser_build(monkeypatch):
    """Reading back a trained model's config skips building a dummy optimiser and scheduler (the first
    optimiser imports torch's compiler stack); keys and values are still checked."""
    import speechgen.train.config as config

    def no_build(*args):
        raise AssertionError("an optimiser was built")

    monkeypatch.setattr(config, "_dummy_optimizer", no_build)
    raw = dict(TINY, optim_conf={"lr": 1e-3}, scheduler="cosineannealinglr")
    exp = config_from_dict(raw, optimiser_checks=False)
    assert exp.optim_conf == {"lr": 1e-3} and exp.scheduler_conf["T_max"] == exp.trainer.max_epochs
    with pytest.raises(ConfigError, match=r"unknown key\(s\) learning_rate in config: optim_conf"):
        config_from_dict(dict(TINY, optim_conf={"learning_rate": 1}), optimiser_checks=False)
    with pytest.raises(AssertionError, match="an optimiser was built"):
        config_from_dict(raw)
