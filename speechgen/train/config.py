"""Experiment configs: YAML -> checked dataclasses -> model, optimiser and scheduler.

A config file has exactly these top-level keys (all but ``model`` optional)::

    model: conv_vae          # a name in speechgen.models.MODELS
    model_conf: {...}        # keyword arguments of the model class
    optim: adam              # adam | adamw | sgd | rmsprop
    optim_conf: {lr: 1.0e-3}
    scheduler: null          # null | steplr | exponentiallr | cosineannealinglr | reducelronplateau
    scheduler_conf: {}
    trainer: {...}           # fields of TrainerConfig
    optim_groups: {}         # models with several optimisers (GANs): per-optimiser overrides,
                             # e.g. {critic: {optim_conf: {lr: 1.0e-4}}}; the rest take optim/optim_conf
    data: segments           # what speechgen-train reads: segments | frame_windows | complex_crops
    data_conf: {}            # options of that data kind (speechgen.train.data_kinds)

Unknown keys anywhere are an error naming the key and what is accepted.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import yaml

from speechgen.data.tables import FEATS_LOADING
from speechgen.errors import ConfigError
from speechgen.models import MODELS
from speechgen.models.registry import check_kwargs
from speechgen.train.distributed import AMP_DTYPES
from speechgen.train.values import check_mapping, check_values
from speechgen.yaml_io import load_yaml

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
SCHEDULERS = {
    "steplr": torch.optim.lr_scheduler.StepLR,
    "exponentiallr": torch.optim.lr_scheduler.ExponentialLR,
    "cosineannealinglr": torch.optim.lr_scheduler.CosineAnnealingLR,
    "reducelronplateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
}


@dataclass
class TrainerConfig:
    """How long and how to train. Sizes are in epochs and segments."""

    max_epochs: int = 20
    # the length in optimisation steps instead (None: max_epochs): the fewest whole epochs that make that
    # many steps, so a small corpus trains as long as a large one; a cosine schedule's T_max follows
    steps: Optional[int] = None
    batch_size: int = 64  # the global batch: several torchrun processes take batch_size / N each
    seed: int = 0
    grad_clip: Optional[float] = 5.0
    num_workers: int = 0  # DataLoader worker processes (each process of a torchrun launch has its own)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (several torchrun processes: cuda = cuda:LOCAL_RANK)
    amp: str = "none"  # mixed precision: none | bf16 (autocast, CPU or CUDA) | fp16 (autocast + GradScaler, CUDA)
    feats_loading: str = "auto"  # eager (in memory) | lazy (read per item) | auto (see speechgen.data.tables)
    best_metric: str = "loss"  # a key of the validation stats, lower is better
    keep_epoch_snapshots: int = 0  # 0 keeps every epoch<N>.pt; N>0 keeps the last N
    valid_interval: int = 1  # validate every N epochs
    num_threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    tensorboard: bool = True  # event files under EXP_DIR/tensorboard (speechgen.train.tensorboard_log)


@dataclass
class ExperimentConfig:
    model: str
    model_conf: Dict[str, Any] = field(default_factory=dict)
    optim: str = "adam"
    optim_conf: Dict[str, Any] = field(default_factory=lambda: {"lr": 1e-3})
    scheduler: Optional[str] = None
    scheduler_conf: Dict[str, Any] = field(default_factory=dict)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    optim_groups: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    data: str = "segments"
    data_conf: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _check_keys(conf: Dict[str, Any], cls, where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, conf)) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; accepted: {', '.join(sorted(names))}")


def apply_overrides(conf: Dict[str, Any], overrides: List[str]) -> Dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML, ``1e-3`` a number) to a nested dict copy."""
    conf = copy.deepcopy(conf)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--override {item}: expected the form key.sub=value, e.g. optim_conf.lr=1e-3")
        key, value = item.split("=", 1)
        node = conf
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--override {item}: '{part}' is not a mapping")
        try:
            node[parts[-1]] = load_yaml(value)
        except yaml.YAMLError:
            raise ConfigError(f"--override {item}: the value is not valid YAML") from None
    return conf


def config_from_dict(conf: Dict[str, Any], where: str = "config", optimiser_checks: bool = True) -> ExperimentConfig:
    """Check a raw dict and turn it into an ExperimentConfig: every key, and every value's type and range.

    ``optimiser_checks=False`` leaves out the values only torch's optimiser and scheduler can check (by
    building them on a dummy parameter, which costs the first optimiser's import, 2-3 s per process):
    for a config that was checked when its model was trained and is now only read back."""
    conf = check_mapping(conf, where)
    _check_keys(conf, ExperimentConfig, where)
    if not isinstance(conf.get("model"), str):
        raise ConfigError(f"{where}: the key 'model' is required (one of {', '.join(MODELS.names())})")
    fields = {k: v for k, v in conf.items() if k != "trainer"}
    for key in ("model_conf", "optim_conf", "scheduler_conf", "optim_groups", "data_conf"):
        if fields.get(key, ...) is None:
            fields.pop(key)  # null: the default
        elif key in fields:
            fields[key] = check_mapping(fields[key], f"{where}: {key}")
    trainer = check_mapping(conf.get("trainer"), f"{where}: trainer")
    _check_keys(trainer, TrainerConfig, f"{where}: trainer")
    trainer = check_values(trainer, TrainerConfig, f"{where}: trainer")
    exp = ExperimentConfig(**fields, trainer=TrainerConfig(**trainer))
    check_trainer(exp.trainer, f"{where}: trainer")
    model = MODELS.get(exp.model)
    check_kwargs(model, exp.model_conf, f"{where}: model_conf")
    exp.model_conf = check_values(exp.model_conf, model, f"{where}: model_conf")
    if exp.optim not in OPTIMIZERS:
        raise ConfigError(f"{where}: unknown optim '{exp.optim}'; known: {', '.join(OPTIMIZERS)}")
    exp.optim_conf = _check_optim(exp.optim, exp.optim_conf, f"{where}: optim_conf", optimiser_checks)
    for name in exp.optim_groups:
        optim, conf = _group_optim(exp, name, f"{where}: optim_groups.{name}")
        _check_optim(optim, conf, f"{where}: optim_groups.{name}.optim_conf", optimiser_checks)
    exp.data_conf = _check_data(exp, where)
    if exp.scheduler is not None:
        if exp.scheduler not in SCHEDULERS:
            raise ConfigError(f"{where}: unknown scheduler '{exp.scheduler}'; known: {', '.join(SCHEDULERS)}")
        exp.scheduler_conf = _check_scheduler(exp, f"{where}: scheduler_conf", optimiser_checks)
    return exp


def _check_data(exp: ExperimentConfig, where: str) -> Dict[str, Any]:
    """``data_conf`` checked against the options of the ``data`` kind (which is built once to check them)."""
    from speechgen.train.data_kinds import DATA_KINDS

    if exp.data not in DATA_KINDS.names():
        raise ConfigError(f"{where}: data={exp.data!r}; expected one of {', '.join(DATA_KINDS.names())}")
    kind = DATA_KINDS.get(exp.data)
    check_kwargs(kind, exp.data_conf, f"{where}: data_conf")
    conf = check_values(exp.data_conf, kind, f"{where}: data_conf")
    DATA_KINDS.build(exp.data, conf, f"{where}: data_conf")
    return conf


def build_data_kind(exp: ExperimentConfig):
    """The config's data kind (speechgen.train.data_kinds), built from ``data_conf``."""
    from speechgen.train.data_kinds import DATA_KINDS

    return DATA_KINDS.build(exp.data, exp.data_conf, "data_conf")


def _dummy_optimizer(optim: str, conf: Dict[str, Any], where: str) -> torch.optim.Optimizer:
    """An optimiser of one dummy parameter: torch checks the values it can (e.g. a negative lr)."""
    try:
        return OPTIMIZERS[optim]([torch.nn.Parameter(torch.zeros(1))], **conf)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _check_optim(optim: str, conf: Dict[str, Any], where: str, build: bool = True) -> Dict[str, Any]:
    check_kwargs(OPTIMIZERS[optim], {"params": None, **conf}, where)
    conf = check_values(conf, OPTIMIZERS[optim], where)
    if build:
        _dummy_optimizer(optim, conf, where)
    return conf


def _check_scheduler(exp: ExperimentConfig, where: str, build: bool = True) -> Dict[str, Any]:
    """The checked ``scheduler_conf``; a cosine schedule without ``T_max`` spans the whole training."""
    cls = SCHEDULERS[exp.scheduler]
    check_kwargs(cls, {"optimizer": None, **exp.scheduler_conf}, where)
    conf = check_values(exp.scheduler_conf, cls, where)
    if exp.scheduler == "cosineannealinglr":
        conf.setdefault("T_max", exp.trainer.max_epochs)
    if not build:
        return conf
    try:
        cls(_dummy_optimizer(exp.optim, exp.optim_conf, where), **conf)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None
    return conf


def check_trainer(conf: TrainerConfig, where: str) -> None:
    """Values of the trainer keys beyond their types and ranges (``speechgen.train.values``)."""
    choices = {"amp": tuple(AMP_DTYPES), "feats_loading": FEATS_LOADING}
    for key, allowed in choices.items():
        if getattr(conf, key) not in allowed:
            raise ConfigError(f"{where}.{key}={getattr(conf, key)!r}; expected one of {', '.join(allowed)}")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(conf.device)):
        raise ConfigError(f"{where}.device={conf.device!r}; expected auto, cpu, cuda or cuda:N")
    if conf.grad_clip is not None and not conf.grad_clip > 0:
        raise ConfigError(f"{where}.grad_clip={conf.grad_clip!r}; expected a positive number, or null for no clipping")


def load_config(path: str | Path, overrides: List[str] | None = None) -> ExperimentConfig:
    """Read a YAML config, apply overrides and check every key and value.

    An error that only the overrides cause names them, not the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not overrides:
        return config_from_dict(raw, where=str(path))
    merged = apply_overrides(check_mapping(raw, str(path)), overrides)
    try:
        return config_from_dict(merged, where=str(path))
    except ConfigError as err:
        config_from_dict(raw, where=str(path))  # the file's own error, if it has one
        given = " ".join(overrides)
        raise ConfigError(str(err).replace(str(path), f"--override {given}", 1)) from None


def save_config(exp: ExperimentConfig, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(exp.to_dict(), sort_keys=False))
    tmp.replace(path)


def build_model(exp: ExperimentConfig):
    """The config's model, its weights initialised from ``trainer.seed`` (this reseeds the global RNGs)."""
    from speechgen.train.trainer import seed_everything

    seed_everything(exp.trainer.seed)
    return MODELS.build(exp.model, exp.model_conf, where="model_conf")


def build_optimizer(exp: ExperimentConfig, params):
    return OPTIMIZERS[exp.optim](params, **exp.optim_conf)


def _group_optim(exp: ExperimentConfig, name: str, where: str):
    """``(optim name, optim_conf)`` of optimiser ``name``: ``optim``/``optim_conf`` updated by ``optim_groups[name]``."""
    group = exp.optim_groups.get(name) or {}
    if not isinstance(group, dict) or set(group) - {"optim", "optim_conf"}:
        raise ConfigError(f"{where}: expected a mapping with the keys optim and/or optim_conf, got {group!r}")
    optim = group.get("optim", exp.optim)
    if optim not in OPTIMIZERS:
        raise ConfigError(f"{where}: unknown optim '{optim}'; known: {', '.join(OPTIMIZERS)}")
    return optim, {**exp.optim_conf, **(group.get("optim_conf") or {})}


def build_optimizers(exp: ExperimentConfig, param_groups: Dict[str, Any]) -> Dict[str, torch.optim.Optimizer]:
    """One optimiser per named parameter group (models with several, e.g. a generator and a critic).

    Each takes ``optim``/``optim_conf``, updated by ``optim_groups[name]`` where the config has it.
    """
    unknown = sorted(set(exp.optim_groups) - set(param_groups))
    if unknown:
        raise ConfigError(f"optim_groups: {', '.join(unknown)} is not an optimiser of {exp.model}; "
                          f"it has: {', '.join(param_groups)}")
    optimizers = {}
    for name, params in param_groups.items():
        optim, conf = _group_optim(exp, name, f"optim_groups.{name}")
        optimizers[name] = OPTIMIZERS[optim](params, **conf)
    return optimizers


def set_length_in_steps(exp: ExperimentConfig, batches_per_epoch: int) -> None:
    """With ``trainer.steps``, set ``max_epochs`` to the fewest whole epochs of ``batches_per_epoch``
    steps that make at least that many, and a cosine schedule's ``T_max`` (in epochs) to the same."""
    if not exp.trainer.steps:
        return
    exp.trainer.max_epochs = max(1, math.ceil(exp.trainer.steps / max(1, batches_per_epoch)))
    if exp.scheduler == "cosineannealinglr":
        exp.scheduler_conf = {**exp.scheduler_conf, "T_max": exp.trainer.max_epochs}


def build_scheduler(exp: ExperimentConfig, optimizer):
    if exp.scheduler is None:
        return None
    return SCHEDULERS[exp.scheduler](optimizer, **exp.scheduler_conf)


# model_conf keys that are numbers of classes, and the factor whose label table gives each
CLASS_COUNT_KEYS = {"n_phones": "phone", "n_speakers": "spk", "n_classes": None}  # None: model_conf.label


def set_class_counts(exp: ExperimentConfig, counts: Dict[str, int], source: str) -> ExperimentConfig:
    """Fill the model's class-count keys (n_phones, n_speakers, n_classes of its ``label``) from
    ``counts`` ({"phone": N, "spk": M}, read from the lang dir ``source``).

    A count a config states itself must agree with the data: one that does not is an error naming it.
    """
    params = inspect.signature(MODELS.get(exp.model)).parameters
    exp.model_conf = dict(exp.model_conf)
    for key, factor in CLASS_COUNT_KEYS.items():
        if key not in params:
            continue
        if factor is None:
            label = params["label"].default if "label" in params else None
            factor = exp.model_conf.get("label", label)
        if factor not in counts:
            continue
        stated = exp.model_conf.get(key)
        if stated is not None and stated != counts[factor]:
            raise ConfigError(f"model_conf.{key}={stated} but {source} has {counts[factor]} {factor} classes; "
                              f"remove model_conf.{key} (class counts come from the lang dir)")
        exp.model_conf[key] = counts[factor]
    return exp
