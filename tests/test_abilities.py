"""Declared abilities of the models (speechgen.models.abilities) and the registry living with the models."""
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, Set

import numpy as np
import pytest
import torch

from speechgen.bin.eval_logmel import model_scores
from speechgen.errors import ConfigError
from speechgen.eval.animation import EpochFigureHook
from speechgen.eval.frechet import ClassifierScorer
from speechgen.models import MODELS
from speechgen.models.abilities import (ABILITIES, Decoder, Density, Encoder, Factorised, Reconstructor, Sampler,
                                        abilities, require)

from conftest import ROOT

T, F = 4, 6  # tiny segments: 4 frames x 6 bins
SEG = {"n_frames": T, "n_bins": F}
FLOW = {**SEG, "levels": 2, "steps_per_level": 1, "hidden": 8}
WINDOW = {**SEG, "channels": [4, 4], "hidden": 8, "latent_dim": 3}
AUTOENCODER_SAMPLER = {"Encoder", "Decoder", "Reconstructor", "Sampler"}
METHODS = {Encoder: "encode", Decoder: "decode", Reconstructor: "reconstruct", Sampler: "sample",
           Density: "log_prob", Factorised: "factor_slices"}


@dataclass
class Case:
    model: str
    conf: dict
    abilities: Set[str]
    label_classes: Dict[str, int] = field(default_factory=dict)
    needs_labels: bool = False  # a conditional sampler with no prior over its labels
    other_contract: Set[str] = field(default_factory=set)  # methods named like an ability, with another contract


CASES = {
    "mlp_classifier": Case("mlp_classifier", {**SEG, "label": "phone", "n_classes": 3, "hidden": [8]}, {"Encoder"}),
    # frame-wise codes (B, D, T) and reconstructions as a dict of log-magnitude and phase heads
    "complex_vae": Case("complex_vae", {"n_bins": 33, "n_fft": 64, "hop_length": 16, "latent_dim": 2, "hidden": 8,
                                        "phase_channels": 4, "phase_layers": 1, "phase_z_channels": 1}, set(),
                        other_contract={"Encoder", "Reconstructor"}),
    "conv_vae": Case("conv_vae", {**SEG, "channels": [4, 8], "hidden": 8, "latent_dim": 3}, AUTOENCODER_SAMPLER),
    "identity": Case("identity", SEG, {"Encoder", "Decoder", "Reconstructor"}),
    "nf": Case("nf", FLOW, AUTOENCODER_SAMPLER | {"Density"}),
    "dnf": Case("dnf", {**FLOW, "label": "spk", "n_classes": 3}, AUTOENCODER_SAMPLER | {"Density"}, {"spk": 3}),
    "fdnf": Case("fdnf", {**FLOW, "n_phones": 3, "n_speakers": 2}, AUTOENCODER_SAMPLER | {"Density", "Factorised"},
                 {"phone": 3, "spk": 2}),
    "wae": Case("wae", WINDOW, AUTOENCODER_SAMPLER),
    "vae_gan": Case("vae_gan", {**WINDOW, "disc_channels": [4], "disc_hidden": 4}, AUTOENCODER_SAMPLER),
    "wgan_gp": Case("wgan_gp", {**WINDOW, "critic_channels": [4], "critic_hidden": 4}, {"Sampler"}),
    "wgan_gp_conditional": Case("wgan_gp", {**WINDOW, "critic_channels": [4], "critic_hidden": 4, "conditional": True,
                                            "n_classes": 5}, {"Sampler"}, {"phone": 5}, needs_labels=True),
}
SAMPLERS = sorted(k for k, c in CASES.items() if "Sampler" in c.abilities)


def build(key):
    torch.manual_seed(0)
    return MODELS.build(CASES[key].model, CASES[key].conf).eval()


def feats(n=5, seed=0):
    return torch.randn(n, T, F, generator=torch.Generator().manual_seed(seed))


def some_labels(classes, n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return {factor: torch.randint(k, (n,), generator=gen) for factor, k in classes.items()}


def test_every_registered_model_has_a_case():
    assert {c.model for c in CASES.values()} == set(MODELS.names())


@pytest.mark.parametrize("key", sorted(CASES))
def test_models_declare_the_abilities_they_have(key):
    model, case = build(key), CASES[key]
    assert set(abilities(model)) == case.abilities
    # a method named like an ability but left undeclared is a different contract, listed in the case
    undeclared = {a.__name__ for a, method in METHODS.items() if hasattr(model, method) and not isinstance(model, a)}
    assert undeclared == case.other_contract
    if isinstance(model, (Sampler, Density)):
        assert model.label_classes() == case.label_classes


@pytest.mark.parametrize("key", sorted(k for k, c in CASES.items() if "Encoder" in c.abilities))
def test_declared_codes_decodings_and_reconstructions_have_the_documented_shapes(key):
    model, x = build(key), feats()
    z = model.encode(x)
    assert z.ndim == 2 and z.shape[0] == len(x)
    if isinstance(model, Decoder):
        assert model.decode(z).shape == x.shape
    if isinstance(model, Reconstructor):
        assert model.reconstruct(x).shape == x.shape
    if isinstance(model, Factorised):
        dims = sorted(i for part in model.factor_slices().values() for i in range(z.shape[1])[part])
        assert dims == list(range(z.shape[1]))


@pytest.mark.parametrize("key", SAMPLERS)
def test_sample_has_one_signature_and_is_reproducible(key):
    model, case = build(key), CASES[key]
    labels = some_labels(case.label_classes, 7) if case.needs_labels else None

    def draw(seed):
        return model.sample(7, labels=labels, generator=torch.Generator().manual_seed(seed))

    x = draw(3)
    assert x.shape == (7, T, F) and torch.isfinite(x).all()
    assert torch.equal(draw(3), x)
    assert not torch.equal(draw(4), x)


@pytest.mark.parametrize("key", [k for k in SAMPLERS if CASES[k].label_classes])
def test_class_conditional_samplers_take_labels(key):
    model, case = build(key), CASES[key]
    with torch.no_grad():  # class means start equal (at 0): move every parameter
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    labels = some_labels(case.label_classes, 6)
    x = model.sample(6, labels, torch.Generator().manual_seed(0))
    assert x.shape == (6, T, F)
    assert torch.equal(model.sample(6, labels, torch.Generator().manual_seed(0)), x)
    other = {f: (y + 1) % case.label_classes[f] for f, y in labels.items()}
    assert not torch.equal(model.sample(6, other, torch.Generator().manual_seed(0)), x)
    if case.needs_labels:
        with pytest.raises(ConfigError, match="needs a label"):
            model.sample(6)


@pytest.mark.parametrize("key", ["nf", "conv_vae", "wgan_gp"])
def test_unconditional_samplers_refuse_labels(key):
    with pytest.raises(ConfigError, match=f"model '{CASES[key].model}' takes no labels"):
        build(key).sample(2, {"phone": torch.tensor([0, 1])})


@pytest.mark.parametrize("labels, message", [
    ({"phone": torch.tensor([0, 1, 2])}, r"shape \(2,\)"),
    ({"phone": torch.tensor([0.0, 1.0])}, "integer classes"),
    ({"phone": torch.tensor([0, 3])}, r"classes 0\.\.2; got 0\.\.3"),
    ({"spk": torch.tensor([0, 1]), "gender": torch.tensor([0, 1])}, "got labels of gender"),
    (torch.tensor([0, 1]), r"labels as \{factor"),
])
def test_bad_labels_are_config_errors(labels, message):
    model = build("fdnf")
    with pytest.raises(ConfigError, match=message):
        model.sample(2, labels)
    with pytest.raises(ConfigError, match=message):
        model.log_prob(feats(2), labels)


@pytest.mark.parametrize("key", [k for k, c in CASES.items() if "Density" in c.abilities])
def test_densities_take_the_labels_samplers_take(key):
    model, case, x = build(key), CASES[key], feats(6)
    with torch.no_grad():  # class means start equal (at 0), where labels change nothing: move them apart
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    marginal = model.log_prob(x)
    assert marginal.shape == (6,) and torch.isfinite(marginal).all()
    if case.label_classes:
        given = model.log_prob(x, some_labels(case.label_classes, 6))
        assert given.shape == (6,) and not torch.allclose(given, marginal, atol=1e-3)
    else:
        with pytest.raises(ConfigError, match="takes no labels"):
            model.log_prob(x, {"phone": torch.zeros(6, dtype=torch.long)})


def test_a_missing_ability_is_a_one_line_config_error_naming_the_model():
    with pytest.raises(ConfigError) as err:
        require(build("wgan_gp"), Encoder, "speechgen-encode")
    message = str(err.value)
    assert "\n" not in message
    assert "speechgen-encode needs a model that encodes" in message and "(Encoder)" in message
    assert "model 'wgan_gp' does not (it declares: Sampler)" in message
    with pytest.raises(ConfigError, match=r"\(Reconstructor or Sampler\); model 'mlp_classifier'"):
        require(build("mlp_classifier"), (Reconstructor, Sampler), "speechgen-eval-logmel")
    assert require(build("nf"), (Reconstructor, Sampler), "x") is not None


def test_the_ability_interfaces_are_abstract():
    for ability in ABILITIES:
        with pytest.raises(TypeError):
            ability()


class WindowSet:
    """The part of FrameWindowDataset that model_scores reads."""

    def __init__(self, x):
        self.x, self.centres = x, np.arange(len(x))

    def windows(self, centres):
        return self.x[centres]


@pytest.mark.parametrize("key", ["nf", "dnf", "fdnf", "identity", "wgan_gp_conditional", "conv_vae"])
def test_the_logmel_scores_take_every_model_by_its_abilities(key):
    """Flows are scored by the log-mel evaluation; the scores present are those of the declared abilities."""
    model = build(key)
    if key == "dnf":
        model = MODELS.build("dnf", {**FLOW, "label": "phone", "n_classes": 3}).eval()
    torch.manual_seed(0)
    scorer = ClassifierScorer(build("mlp_classifier"))
    x, y = feats(24), np.arange(24) % 3
    scores = model_scores(model, scorer, WindowSet(x), x, y, per_class=4, seed=0, prior=y)
    assert ("recon_mse" in scores) == isinstance(model, Reconstructor)
    assert ("fd" in scores) == isinstance(model, Sampler)
    assert scores["conditional"] == (key in ("dnf", "fdnf", "wgan_gp_conditional"))
    assert ("cond_acc" in scores) == scores["conditional"]


def test_the_figure_hook_skips_a_model_that_neither_reconstructs_nor_samples(tmp_path, caplog):
    hook = EpochFigureHook(feats(4), torch.tensor([0, 1, 2, 0]), ["a", "b", "c"], None, n_mels=F)
    assert not hook.render(build("mlp_classifier"), tmp_path / "clf.png", "classifier")
    assert "model 'mlp_classifier' neither reconstructs" in caplog.text and not (tmp_path / "clf.png").exists()
    assert hook.render(build("fdnf"), tmp_path / "fdnf.png", "fdnf") and (tmp_path / "fdnf.png").is_file()


def test_importing_the_models_registers_them_all_without_the_trainer():
    code = ("import sys, speechgen.models as m; "
            "print(sorted(n for n in sys.modules if n.startswith('speechgen.train'))); print(m.MODELS.names())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    trainer_modules, names = out.stdout.strip().splitlines()
    assert trainer_modules == "[]"
    assert eval(names) == sorted({c.model for c in CASES.values()})
