"""Normalising-flow transforms and the nf / dnf / fdnf models (speechgen.models.flows)."""
import csv
import math

import pytest
import torch
from torch.autograd.functional import jacobian

from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn
from speechgen.errors import ConfigError
from speechgen.models import flows
from speechgen.models.abilities import Factorised
from speechgen.train.config import build_model, config_from_dict, load_config, set_class_counts
from speechgen.train.trainer import Trainer

from conftest import ROOT
from feature_fixtures import write_feature_dir

DTYPE = torch.float64
T, F = 4, 6  # tiny segments: 4 frames x 6 bins
TINY_FLOW = {"n_frames": T, "n_bins": F, "levels": 3, "steps_per_level": 2, "hidden": 8}
CONF_DIR = ROOT / "egs" / "timit_fdnf" / "conf"


def tiny_model(name, perturbed=True, **extra):
    """A small float64 registered flow model with initialised ActNorms and (perturbed) non-trivial weights."""
    labels = {"nf": {}, "dnf": {"label": "phone", "n_classes": 3},
              "fdnf": {"n_phones": 3, "n_speakers": 2, "split": 0.5}}[name]
    torch.manual_seed(0)
    model = flows.MODELS.build(name, {**TINY_FLOW, **labels, **extra}).to(DTYPE)
    model.encode(torch.randn(32, T, F, dtype=DTYPE))  # data-dependent init of every ActNorm
    if perturbed:
        perturb(model)
    return model


def perturb(module, scale=0.1):
    """Move every parameter away from its (often identity) initial value, deterministically."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


# ------------------------------------------------------------------ every transform
def _steps(channels):
    return flows.Flow([flows.flow_step(channels, 8, 3, 2.0, mixing, seed=3)
                       for mixing in ("conv1x1", "permute", "reverse")])


TRANSFORMS = {
    # name: (factory, shape of one item)
    "actnorm": (lambda: flows.ActNorm(F), (T, F)),
    "actnorm_2d": (lambda: flows.ActNorm(F), (F,)),
    "conv1x1": (lambda: flows.InvertibleConv1x1(F), (T, F)),
    "channel_permutation": (lambda: flows.ChannelPermutation(F, seed=0), (T, F)),
    "channel_reversal": (lambda: flows.ChannelPermutation(F), (T, F)),
    "dim_permutation": (lambda: flows.DimPermutation(torch.randperm(T * F)), (T * F,)),
    "affine_coupling": (lambda: flows.AffineCoupling(F, hidden=8, kernel_size=3), (T, F)),
    "affine_coupling_odd": (lambda: flows.AffineCoupling(5, hidden=8, kernel_size=1, clamp=1.0), (T, 5)),
    "squeeze_time": (lambda: flows.SqueezeTime(), (T, F)),
    "flow_steps": (lambda: _steps(F), (T, F)),
    "multiscale_1_level": (lambda: flows.MultiScaleFlow(F, T, levels=1, steps_per_level=2, hidden=8), (T, F)),
    "multiscale_3_levels": (lambda: flows.MultiScaleFlow(F, T, levels=3, steps_per_level=2, hidden=8), (T, F)),
    "nf_flow": (lambda: tiny_model("nf", perturbed=False).flow, (T, F)),
    "dnf_flow": (lambda: tiny_model("dnf", perturbed=False).flow, (T, F)),
    "fdnf_flow": (lambda: tiny_model("fdnf", perturbed=False).flow, (T, F)),
}


def ready_transform(name):
    """The transform in float64, ActNorms initialised on a batch and parameters perturbed."""
    torch.manual_seed(0)
    factory, shape = TRANSFORMS[name]
    transform = factory().to(DTYPE)
    transform(torch.randn(16, *shape, dtype=DTYPE) * 2 + 1)
    perturb(transform)
    return transform, shape


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_is_exactly_invertible_with_correct_logdet(name):
    transform, shape = ready_transform(name)
    x = torch.randn(5, *shape, dtype=DTYPE, generator=torch.Generator().manual_seed(2))
    y, logdet = transform(x)
    x_back, inv_logdet = transform.inverse(y)
    assert logdet.shape == (5,) and inv_logdet.shape == (5,)
    assert torch.allclose(x_back, x, atol=1e-10, rtol=0)
    assert torch.allclose(inv_logdet, -logdet, atol=1e-10, rtol=0)
    for i in range(2):  # log|det| of the full Jacobian of one item, by autograd
        jac = jacobian(lambda v: transform(v.reshape(1, *shape))[0].flatten(), x[i].flatten())
        assert jac.shape[0] == jac.shape[1] == x[i].numel()
        assert torch.linalg.slogdet(jac).logabsdet.item() == pytest.approx(logdet[i].item(), abs=1e-9)


def test_perturbed_couplings_are_not_trivial():
    """The property test above is only meaningful if the transforms do something."""
    transform, shape = ready_transform("flow_steps")
    x = torch.randn(5, *shape, dtype=DTYPE)
    y, logdet = transform(x)
    assert (y - x).abs().max() > 0.1 and logdet.std() > 1e-3  # input-dependent logdet: real couplings


def test_fresh_coupling_is_identity():
    coupling = flows.AffineCoupling(F, hidden=8)
    x = torch.randn(3, T, F)
    y, logdet = coupling(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(3))


def test_coupling_scale_is_bounded():
    coupling = flows.AffineCoupling(F, hidden=8, clamp=1.5)
    with torch.no_grad():
        coupling.net.out.bias.fill_(100.0)
    _, logdet = coupling(torch.randn(2, T, F))
    n_scaled = T * (F - F // 2)
    assert torch.allclose(logdet, torch.full((2,), 1.5 * n_scaled))


# ------------------------------------------------------------------ ActNorm
def test_actnorm_initialises_on_first_batch_only():
    norm = flows.ActNorm(3)
    assert not bool(norm.initialized)
    x = torch.randn(64, 10, 3) * torch.tensor([1.0, 3.0, 0.5]) + torch.tensor([2.0, -1.0, 0.0])
    y, logdet = norm(x)
    assert bool(norm.initialized)
    assert torch.allclose(y.mean((0, 1)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std((0, 1), unbiased=False), torch.ones(3), atol=1e-4)
    assert torch.allclose(logdet, torch.full((64,), -10 * torch.log(x.std((0, 1), unbiased=False)).sum()), atol=1e-4)
    params = [p.clone() for p in norm.parameters()]
    norm(torch.randn(8, 10, 3) * 10)
    assert all(torch.equal(a, b) for a, b in zip(params, norm.parameters()))


def test_actnorm_state_is_saved_and_restored():
    norm = flows.ActNorm(3)
    norm(torch.randn(32, 5, 3) * 4 + 2)
    state = norm.state_dict()
    assert "initialized" in state and bool(state["initialized"])
    restored = flows.ActNorm(3)
    restored.load_state_dict(state)
    x = torch.randn(4, 5, 3) * 100  # data that would give other parameters if it initialised
    assert torch.equal(restored(x)[0], norm(x)[0])


def test_model_state_dict_carries_actnorm_flags():
    model = tiny_model("nf")
    flags = [k for k in model.state_dict() if k.endswith("initialized")]
    assert len(flags) == 3 * 2  # one ActNorm per step, each once
    fresh = flows.MODELS.build("nf", TINY_FLOW).to(DTYPE)
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(3, T, F, dtype=DTYPE)
    assert torch.equal(fresh.encode(x), model.encode(x))


# ------------------------------------------------------------------ models
def batch_of(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"feats": torch.randn(n, T, F, dtype=DTYPE, generator=gen),
            "phone": torch.arange(n) % 3, "spk": torch.arange(n) % 2}


@pytest.mark.parametrize("name", ["nf", "dnf", "fdnf"])
def test_forward_gives_finite_loss_and_per_dim_stats(name):
    model = tiny_model(name)
    batch = batch_of()
    loss, stats = model(batch)
    factors = {"nf": [], "dnf": ["phone"], "fdnf": ["phone", "spk"]}[name]
    extra = {"leak"} if name == "fdnf" else set()
    assert set(stats) == {"loss", "nll", "bpd", "logdet", *extra,
                          *(f"{k}_{f}" for f in factors for k in ("ce", "acc"))}
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert stats["loss"] == pytest.approx(loss.item()) and stats["nll"] == pytest.approx(loss.item())
    assert stats["bpd"] == pytest.approx(stats["nll"] / math.log(2))
    labels = {"nf": None, "dnf": {"phone": batch["phone"]}, "fdnf": {"phone": batch["phone"], "spk": batch["spk"]}}
    log_px = model.log_prob(batch["feats"], labels[name])
    assert log_px.shape == (6,)
    assert loss.item() == pytest.approx(-log_px.mean().item() / (T * F), rel=1e-10)
    _, logdet = model.flow(batch["feats"])
    assert stats["logdet"] == pytest.approx(logdet.mean().item() / (T * F))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", ["nf", "dnf", "fdnf"])
def test_decode_inverts_encode(name):
    model = tiny_model(name)
    x = batch_of(5)["feats"]
    z = model.encode(x)
    assert z.shape == (5, T * F)
    assert torch.allclose(model.decode(z), x, atol=1e-10, rtol=0)
    z = torch.randn(5, T * F, dtype=DTYPE)
    assert torch.allclose(model.encode(model.decode(z)), z, atol=1e-10, rtol=0)


def test_nf_log_prob_is_standard_normal_of_code_plus_logdet():
    model = tiny_model("nf")
    x = batch_of()["feats"]
    z, logdet = model.flow(x)
    expected = -0.5 * (z ** 2).sum(1) - 0.5 * T * F * math.log(2 * math.pi) + logdet
    assert torch.allclose(model.log_prob(x), expected, atol=1e-10)
    assert not isinstance(model, Factorised)  # one code: the manipulation moves all of it


def test_dnf_log_prob_uses_the_class_mean_of_its_label():
    model = tiny_model("dnf")
    x, y = batch_of()["feats"], batch_of()["phone"]
    z, logdet = model.flow(x)
    means = model.class_means("phone")
    assert means.shape == (3, T * F)
    expected = -0.5 * ((z - means[y]) ** 2).sum(1) - 0.5 * T * F * math.log(2 * math.pi) + logdet
    before = model.log_prob(x, {"phone": y})
    assert torch.allclose(before, expected, atol=1e-10)
    with torch.no_grad():
        model.means.weight[1] += 0.5
    after = model.log_prob(x, {"phone": y})
    moved = y == 1
    assert torch.all(after[moved] != before[moved])
    assert torch.equal(after[~moved], before[~moved])
    # without labels: the mixture over classes under a uniform prior
    per_class = torch.stack([model.log_prob(x, {"phone": torch.full_like(y, c)}) for c in range(3)], 1)
    assert torch.allclose(model.log_prob(x), torch.logsumexp(per_class, 1) - math.log(3), atol=1e-10)
    with pytest.raises(ValueError):
        model.class_means("spk")


def test_dnf_trains_on_the_label_it_is_given():
    model = tiny_model("dnf", label="spk", n_classes=2)
    batch = batch_of()
    batch["spk"] = torch.tensor([0, 0, 0, 1, 1, 1])
    batch["phone"] = torch.tensor([0, 1, 2, 0, 1, 2])
    loss, _ = model(batch)
    assert loss.item() == pytest.approx(-model.log_prob(batch["feats"], {"spk": batch["spk"]}).mean().item() / (T * F))
    with pytest.raises(ConfigError):
        model({"feats": batch["feats"], "phone": batch["phone"]})


def test_fdnf_factor_slices_partition_z_as_documented():
    model = tiny_model("fdnf")
    slices = model.factor_slices()
    dims = [i for sl in slices.values() for i in range(T * F)[sl]]
    assert sorted(dims) == list(range(T * F))
    assert slices["phone"] == slice(0, (F // 2) * T)  # split 0.5: half the channels, T dims each
    assert model.class_means("phone").shape == (3, (F // 2) * T)
    assert model.class_means("spk").shape == (2, T * F - (F // 2) * T)
    # z_A is channels [0, F/2) of every z-part of the multi-scale body, part by part, frame-major
    x = batch_of()["feats"]
    z_body, _ = model.body(x)
    parts = z_body.split([n * F for n in model.body.part_lengths], dim=1)
    expected_a = torch.cat([p.reshape(len(x), -1, F)[..., :F // 2].flatten(1) for p in parts], 1)
    assert torch.equal(model.encode(x)[:, slices["phone"]], expected_a)


def test_fdnf_split_as_size_and_bad_splits():
    assert tiny_model("fdnf", split=2 * T).factor_slices()["phone"] == slice(0, 2 * T)
    assert tiny_model("fdnf", split=0.2).factor_slices()["phone"] == slice(0, 1 * T)
    for bad in (T + 1, 0.0, 1.0, 0.01, F * T, "half"):
        with pytest.raises(ConfigError):
            tiny_model("fdnf", split=bad)


def test_fdnf_log_prob_uses_each_factors_class_mean():
    model = tiny_model("fdnf")
    batch = batch_of()
    x, q, s = batch["feats"], batch["phone"], batch["spk"]
    z, logdet = model.flow(x)
    sl = model.factor_slices()
    expected = (-0.5 * ((z[:, sl["phone"]] - model.class_means("phone")[q]) ** 2).sum(1)
                - 0.5 * ((z[:, sl["spk"]] - model.class_means("spk")[s]) ** 2).sum(1)
                - 0.5 * T * F * math.log(2 * math.pi) + logdet)
    before = model.log_prob(x, {"phone": q, "spk": s})
    assert torch.allclose(before, expected, atol=1e-10)
    with torch.no_grad():
        model.phone_means.weight[2] -= 0.3
    after_phone = model.log_prob(x, {"phone": q, "spk": s})
    assert torch.all(after_phone[q == 2] != before[q == 2]) and torch.equal(after_phone[q != 2], before[q != 2])
    with torch.no_grad():
        model.spk_means.weight[0] += 0.3
    after_spk = model.log_prob(x, {"phone": q, "spk": s})
    assert torch.all(after_spk[s == 0] != after_phone[s == 0]) and torch.equal(after_spk[s != 0], after_phone[s != 0])
    # a missing label is marginalised over its classes
    per_phone = torch.stack([model.log_prob(x, {"phone": torch.full_like(q, c), "spk": s}) for c in range(3)], 1)
    assert torch.allclose(model.log_prob(x, {"spk": s}), torch.logsumexp(per_phone, 1) - math.log(3), atol=1e-10)


def test_sampling_shapes_and_class_means_move_samples():
    gen = torch.Generator().manual_seed(0)
    assert tiny_model("nf").sample(4, generator=gen).shape == (4, T, F)
    nf = tiny_model("nf")
    assert torch.allclose(nf.encode(nf.sample(2, temperature=0.0)), torch.zeros(2, T * F, dtype=DTYPE), atol=1e-10)
    dnf = tiny_model("dnf")
    x = dnf.sample(2, {"phone": torch.tensor([0, 2])}, temperature=0.0)
    z = dnf.encode(x)
    assert torch.allclose(z, dnf.class_means()[[0, 2]], atol=1e-10)
    fdnf = tiny_model("fdnf")
    x = fdnf.sample(1, {"phone": torch.tensor([1]), "spk": torch.tensor([0])}, temperature=0.0)
    z = fdnf.encode(x)
    assert torch.allclose(z[:, fdnf.factor_slices()["phone"]], fdnf.class_means("phone")[[1]], atol=1e-10)
    assert torch.allclose(z[:, fdnf.factor_slices()["spk"]], fdnf.class_means("spk")[[0]], atol=1e-10)


def test_a_factor_sampled_without_labels_takes_uniform_classes_of_its_prior():
    fdnf = tiny_model("fdnf")
    x = fdnf.sample(60, {"spk": torch.zeros(60, dtype=torch.long)}, torch.Generator().manual_seed(0), temperature=0.0)
    z = fdnf.encode(x)
    phones = torch.cdist(z[:, fdnf.factor_slices()["phone"]], fdnf.class_means("phone")).argmin(1)
    assert set(phones.tolist()) == {0, 1, 2}  # every phone class drawn
    assert torch.allclose(z[:, fdnf.factor_slices()["spk"]], fdnf.class_means("spk")[[0] * 60], atol=1e-8)


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="divisible"):
        flows.MODELS.build("nf", {"n_frames": 6, "n_bins": 4, "levels": 3})
    with pytest.raises(ConfigError, match="mixing"):
        flows.MODELS.build("nf", {"n_frames": 4, "n_bins": 4, "mixing": "shuffle"})
    with pytest.raises(ConfigError, match="label"):
        flows.MODELS.build("dnf", {"n_frames": 4, "n_bins": 4, "label": "gender"})


# ------------------------------------------------------------------ configs and training
@pytest.mark.parametrize("name", ["nf", "dnf", "fdnf"])
def test_tiny_registered_config_builds(name):
    conf = {"nf": {}, "dnf": {"label": "spk", "n_classes": 2}, "fdnf": {"n_phones": 3, "n_speakers": 2}}[name]
    exp = config_from_dict({"model": name, "model_conf": {**TINY_FLOW, **conf}})
    model = build_model(exp)
    assert isinstance(model, flows._FlowModel) and model.dim == T * F
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"model": name, "model_conf": {"latent_dim": 3}})


@pytest.mark.parametrize("conf", ["nf", "phone_dnf", "speaker_dnf", "fdnf"])
def test_recipe_configs_load(conf):
    full = load_config(CONF_DIR / f"{conf}.yaml")
    debug = load_config(CONF_DIR / f"{conf}_debug.yaml")
    paper = load_config(CONF_DIR / f"{conf}_paper.yaml")  # the measured longer run: 1710 steps of 128 segments
    assert full.model == debug.model == paper.model and paper.trainer.steps == 1710
    # 3 epochs of the embedded corpus (570 steps of 64, rounded up to whole epochs), 4 for the f-DNF
    assert full.trainer.steps == {"fdnf": 908}.get(conf, 570)
    # the paper set is the measured longer run: the defaults' model but for the class weight it had (100)
    paper_model, full_model = dict(paper.model_conf), dict(full.model_conf)
    assert paper_model.pop("class_weight", 100.0) == 100.0
    full_model.pop("class_weight", None)
    assert paper_model == full_model
    assert {**paper.to_dict(), "trainer": None, "model_conf": None} == {**full.to_dict(), "trainer": None,
                                                                         "model_conf": None}
    assert full.model_conf["n_frames"] == 20 and full.model_conf["n_bins"] == 200
    assert debug.trainer.max_epochs <= 2
    if full.model == "dnf":
        assert full.model_conf["label"] == {"phone_dnf": "phone", "speaker_dnf": "spk"}[conf]
    for key in ("n_classes", "n_phones", "n_speakers"):  # class counts come from data/lang
        assert key not in full.model_conf and key not in debug.model_conf
    set_class_counts(debug, {"phone": 38, "spk": 40}, "lang")
    model = build_model(debug)
    batch = {"feats": torch.randn(4, 20, 200), "phone": torch.tensor([0, 5, 37, 5]), "spk": torch.tensor([0, 1, 39, 2])}
    loss, _ = model(batch)
    assert torch.isfinite(loss)
    assert torch.allclose(model.decode(model.encode(batch["feats"])), batch["feats"], atol=1e-4)


def test_training_resumes_exactly_with_actnorm_state(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=24, frames=4, bins=6)
    data = SegmentDataset(root, Cmvn.load(root / "cmvn.npz"), root / "lang")
    exp = config_from_dict({"model": "fdnf", "model_conf": {**TINY_FLOW, "n_phones": 3, "n_speakers": 2},
                            "trainer": {"max_epochs": 3, "batch_size": 8, "seed": 1}})

    def run(exp_dir, epochs, resume=False):
        exp.trainer.max_epochs = epochs
        trainer = Trainer(exp, build_model(exp), data, data, exp_dir)
        return trainer.fit(resume=resume)

    full = run(tmp_path / "full", 3)
    run(tmp_path / "split", 2)
    resumed = run(tmp_path / "split", 3, resume=True)
    assert full["train_loss"] == resumed["train_loss"] and full["valid_loss"] == resumed["valid_loss"]
    with open(tmp_path / "full" / "loss.csv") as f:
        valid = [float(row["valid_nll"]) for row in csv.DictReader(f)]
    assert valid[0] > valid[1] > valid[2]  # it learns


@pytest.mark.parametrize("name", ["dnf", "fdnf"])
def test_class_logits_are_the_bayes_posterior_of_the_prior(name):
    model = tiny_model(name)
    x = batch_of()["feats"]
    logits = model.class_logits(model.encode(x))["phone"]
    by_label = [model.log_prob(x, {"phone": torch.full((6,), c),
                                   **({"spk": torch.zeros(6, dtype=torch.long)} if name == "fdnf" else {})})
                for c in range(3)]
    for c in (1, 2):  # log p(x | c) - log p(x | 0) = logit_c - logit_0: the flow's own classifier
        assert torch.allclose(logits[:, c] - logits[:, 0], by_label[c] - by_label[0], atol=1e-8)


def test_class_weight_adds_the_weighted_cross_entropy_per_dim():
    batch = batch_of()
    plain_loss, plain = tiny_model("fdnf")(batch)
    weighted_loss, weighted = tiny_model("fdnf", class_weight=50.0)(batch)
    assert weighted["nll"] == pytest.approx(plain["nll"], rel=1e-12)
    expected = plain_loss + 50.0 * (plain["ce_phone"] + plain["ce_spk"]) / (T * F)
    assert weighted_loss.item() == pytest.approx(expected.item(), rel=1e-10)


def test_class_weight_per_factor_weighs_each_cross_entropy_alone():
    batch = batch_of()
    plain_loss, plain = tiny_model("fdnf")(batch)
    weighted_loss, _ = tiny_model("fdnf", class_weight={"phone": 50.0, "spk": 7.0})(batch)
    expected = plain_loss + (50.0 * plain["ce_phone"] + 7.0 * plain["ce_spk"]) / (T * F)
    assert weighted_loss.item() == pytest.approx(expected.item(), rel=1e-10)
    phone_only, _ = tiny_model("fdnf", class_weight={"phone": 50.0})(batch)  # a factor left out weighs 0
    assert phone_only.item() == pytest.approx((plain_loss + 50.0 * plain["ce_phone"] / (T * F)).item(), rel=1e-10)


@pytest.mark.parametrize("weight, message", [({"phone": 1.0, "spkr": 1.0}, "spkr is not a factor"),
                                             ({"phone": -2.0}, "class_weight of phone = -2"),
                                             (-1.0, "expected a number >= 0")])
def test_a_bad_class_weight_is_a_config_error_naming_it(weight, message):
    with pytest.raises(flows.ConfigError, match=message):
        tiny_model("fdnf", class_weight=weight)


def test_a_class_weight_for_a_factor_the_dnf_lacks_is_a_config_error():
    with pytest.raises(flows.ConfigError, match="class_weight: spk is not a factor"):
        tiny_model("dnf", class_weight={"spk": 1.0})  # a phone-DNF has no speaker factor


def test_between_class_variance_is_unbiased_and_finds_a_class_dependent_mean():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6000, 4, dtype=DTYPE, generator=gen)
    labels = torch.arange(6000) % 30
    assert abs(flows.between_class_variance(z, labels).item()) < 0.01  # sampling noise removed
    shifted = z + (labels[:, None] % 2).to(DTYPE)  # half the classes 1 higher in every dim: 4 x 0.25
    assert flows.between_class_variance(shifted, labels).item() == pytest.approx(1.0, abs=0.08)


def test_independence_weight_penalises_each_factor_in_the_other_part():
    batch = batch_of(n=12)
    plain_loss, plain = tiny_model("fdnf")(batch)
    weighted_loss, _ = tiny_model("fdnf", independence_weight=7.0)(batch)
    assert weighted_loss.item() == pytest.approx(plain_loss.item() + 7.0 * plain["leak"], rel=1e-10)


def test_leak_penalty_is_never_negative():
    """The unbiased estimate can fall below 0; the loss takes it clamped, so it cannot reward spreading z."""
    model = tiny_model("fdnf", independence_weight=1.0)
    batch = batch_of(n=12)
    batch["feats"] = 1e3 * batch["feats"]  # a huge within-class spread
    _, stats = model(batch)
    assert stats["leak"] >= 0.0


def test_fdnf_depth_layout_cuts_z_between_the_flows_parts():
    """layout: depth gives z_A the first z-parts the flow factors out and z_B the rest, in the flow's own
    order, and keeps the exact inverse and log-determinant."""
    model = tiny_model("fdnf", layout="depth", split=0.75)  # parts of 12, 6 and 6 dims: z_A the first two
    assert model.factor_slices() == {"phone": slice(0, 18), "spk": slice(18, T * F)}
    assert model.class_means("phone").shape == (3, 18) and model.class_means("spk").shape == (2, 6)
    x = batch_of()["feats"]
    z, logdet = model.flow(x)
    assert torch.equal(z, model.body(x)[0])  # no permutation
    back, inv_logdet = model.flow.inverse(z)
    assert torch.allclose(back, x, atol=1e-10) and torch.allclose(logdet, -inv_logdet, atol=1e-10)
    assert tiny_model("fdnf", layout="depth", split=12).factor_slices()["phone"] == slice(0, 12)
    for bad in (0.6, 16, 0.0, True, "half"):
        with pytest.raises(ConfigError, match="must end a z-part"):
            tiny_model("fdnf", layout="depth", split=bad)
    with pytest.raises(ConfigError, match="layout"):
        tiny_model("fdnf", layout="frames")
