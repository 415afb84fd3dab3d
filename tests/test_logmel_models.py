"""The window models (conv VAE on 9x120, WAE-MMD, WAE-GAN, WGAN-GP, VAE-GAN) on tiny sizes."""
import pytest
import torch

from speechgen.errors import ConfigError
from speechgen.losses.gradient_penalty import gradient_penalty
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.trainer import Trainer

T, F = 9, 12
SMALL = {"n_frames": T, "n_bins": F, "channels": [8, 8, 8], "hidden": 16}
CONFIGS = {
    "conv_vae": {"model": "conv_vae", "model_conf": {**SMALL, "latent_dim": 4}},
    "wae_mmd": {"model": "wae", "model_conf": {**SMALL, "latent_dim": 4, "regularizer": "mmd"}},
    "wae_gan": {"model": "wae", "model_conf": {**SMALL, "latent_dim": 4, "regularizer": "gan", "disc_hidden": [8]},
                "optim_groups": {"discriminator": {"optim_conf": {"lr": 5.0e-4}}}},
    "wgan_gp": {"model": "wgan_gp", "model_conf": {**SMALL, "latent_dim": 4, "critic_channels": [8, 8],
                                                  "critic_hidden": 8, "conditional": True, "n_classes": 5},
                "optim_conf": {"lr": 1.0e-3, "betas": [0.0, 0.9]}},
    "wgan_gp_uncond": {"model": "wgan_gp", "model_conf": {**SMALL, "latent_dim": 4, "critic_channels": [8, 8],
                                                         "critic_hidden": 8}},
    "vae_gan": {"model": "vae_gan", "model_conf": {**SMALL, "latent_dim": 4, "disc_channels": [8, 8],
                                                  "disc_hidden": 8}, "optim": "rmsprop", "optim_conf": {"lr": 3e-4}},
}
GROUPS = {"conv_vae": {"model"}, "wae_mmd": {"autoencoder"}, "wae_gan": {"autoencoder", "discriminator"},
          "wgan_gp": {"generator", "critic"}, "wgan_gp_uncond": {"generator", "critic"},
          "vae_gan": {"encoder", "decoder", "discriminator"}}


def make(name, **changes):
    conf = {**CONFIGS[name], **changes}
    exp = config_from_dict(conf)
    model = build_model(exp)
    return exp, model, Trainer(exp, model, None, None, "/nonexistent")


def batch(n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"feats": torch.randn(n, T, F, generator=gen), "phone": torch.randint(0, 5, (n,), generator=gen)}


def snapshot(params):
    return [p.detach().clone() for p in params]


def changed(before, params):
    return any(not torch.equal(a, b) for a, b in zip(before, params))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_train_step_and_validation_loss_are_finite(name):
    torch.manual_seed(0)
    _, model, trainer = make(name)
    assert set(trainer.optimizers) == GROUPS[name]
    b = batch()
    model.train()
    for step in range(5):
        if trainer.own_step:
            stats = model.train_step(b, trainer.optimizers, step)
        else:
            loss, stats = model(b)
            trainer.optimizer.zero_grad()
            loss.backward()
            trainer.optimizer.step()
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    model.eval()
    with torch.no_grad():
        loss, stats = model(b)
    assert torch.isfinite(loss) and "loss" in stats


@pytest.mark.parametrize("name", ["conv_vae", "wae_mmd", "wae_gan", "vae_gan"])
def test_autoencoder_verbs(name):
    _, model, _ = make(name)
    model.eval()
    x = batch()["feats"]
    z = model.encode(x)
    assert z.shape == (16, 4)
    assert model.decode(z).shape == x.shape
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, T, F)
    assert torch.equal(model.reconstruct(x), model.decode(z))


def test_every_optimiser_steps_its_own_networks_only():
    _, model, trainer = make("wae_gan")
    model.train()
    ae = snapshot(trainer.optimizers["autoencoder"].param_groups[0]["params"])
    disc = snapshot(model.discriminator.parameters())
    model.train_step(batch(), trainer.optimizers, 0)
    assert changed(ae, trainer.optimizers["autoencoder"].param_groups[0]["params"])
    assert changed(disc, list(model.discriminator.parameters()))
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 5.0e-4  # optim_groups
    assert trainer.optimizers["autoencoder"].param_groups[0]["lr"] == 1.0e-3


def test_wgan_gp_generator_steps_every_n_critic_batches():
    _, model, trainer = make("wgan_gp")
    model.train()
    for step in range(5):
        gen, critic = snapshot(model.generator.parameters()), snapshot(model.critic.parameters())
        stats = model.train_step(batch(seed=step), trainer.optimizers, step)
        assert changed(critic, list(model.critic.parameters()))
        assert changed(gen, list(model.generator.parameters())) == (step == 4)
        assert ("gen_loss" in stats) == (step == 4)


def test_wgan_gp_critic_loss_is_fake_minus_real_plus_penalty():
    _, model, _ = make("wgan_gp")
    b = batch()
    fake = model.generate(torch.randn(16, 4), b["phone"]).detach()
    torch.manual_seed(1)
    loss, w_dist, gp = model.critic_losses(b["feats"], fake, b["phone"])
    d_real, d_fake = model.critic(b["feats"], b["phone"]), model.critic(fake, b["phone"])
    torch.manual_seed(1)  # the same interpolation weights
    expected_gp = gradient_penalty(lambda v: model.critic(v, b["phone"]), b["feats"], fake)
    torch.testing.assert_close(gp, expected_gp.detach())
    torch.testing.assert_close(loss, d_fake.mean() - d_real.mean() + 10.0 * expected_gp)
    torch.testing.assert_close(w_dist, (d_real.mean() - d_fake.mean()).detach())


def test_wgan_gp_players_move_the_critic_score_in_opposite_directions():
    # without the penalty a critic step raises D(real) - D(fake); a generator step (critic frozen) raises D(fake)
    _, model, trainer = make("wgan_gp", model_conf={**CONFIGS["wgan_gp"]["model_conf"], "gp_weight": 0.0},
                             optim_groups={"critic": {"optim_conf": {"lr": 1e-3}}})
    model.train()
    b = batch(64)
    z = torch.randn(64, 4)
    with torch.no_grad():
        fake = model.generate(z, b["phone"])
        before = model.critic(b["feats"], b["phone"]).mean() - model.critic(fake, b["phone"]).mean()
    model.train_step(b, trainer.optimizers, 0)
    with torch.no_grad():
        after = model.critic(b["feats"], b["phone"]).mean() - model.critic(fake, b["phone"]).mean()
    assert after > before

    _, model, trainer = make("wgan_gp", optim_groups={"critic": {"optim_conf": {"lr": 0.0}}})
    model.train()
    with torch.no_grad():
        score_before = model.critic(model.generate(z, b["phone"]), b["phone"]).mean()
    model.train_step(b, trainer.optimizers, 4)
    with torch.no_grad():
        score_after = model.critic(model.generate(z, b["phone"]), b["phone"]).mean()
    assert score_after > score_before


def test_conditional_wgan_gp_needs_labels():
    _, model, _ = make("wgan_gp")
    with pytest.raises(ConfigError, match="needs a label"):
        model.sample(2)
    with pytest.raises(ConfigError, match="no 'phone' labels"):
        model({"feats": batch()["feats"]})
    assert model.sample(2, labels={"phone": torch.tensor([0, 1])}).shape == (2, T, F)
    with pytest.raises(ConfigError, match="labels as"):
        model.sample(2, labels=torch.tensor([0, 1]))  # labels name their factor


def test_wgan_gp_refuses_a_batch_norm_critic():
    with pytest.raises(ConfigError, match="critic_norm='batch'"):
        make("wgan_gp", model_conf={**CONFIGS["wgan_gp"]["model_conf"], "critic_norm": "batch"})


def test_vae_gan_discriminator_learns_from_the_gan_loss_only():
    _, model, trainer = make("vae_gan", optim_conf={"lr": 0.0})  # lr 0: steps keep the weights, grads stay
    model.train()
    b = batch()
    torch.manual_seed(3)
    model.train_step(b, trainer.optimizers, 0)
    dis_params = list(model.discriminator.parameters())
    got = [p.grad.clone() for p in dis_params]
    torch.manual_seed(3)
    terms = model._losses(b["feats"])
    expected = torch.autograd.grad(terms["disc_loss"], dis_params, retain_graph=True)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
    enc_params = trainer.optimizers["encoder"].param_groups[0]["params"]
    enc_expected = torch.autograd.grad(terms["kl"] + terms["llike"], enc_params, retain_graph=True)
    for p, e in zip(enc_params, enc_expected):
        torch.testing.assert_close(p.grad, e)


def test_wae_rejects_an_unknown_regularizer():
    with pytest.raises(ConfigError, match="regularizer='kl'"):
        make("wae_mmd", model_conf={**CONFIGS["wae_mmd"]["model_conf"], "regularizer": "kl"})


@pytest.mark.parametrize("name", ["wae_mmd", "wae_gan"])
def test_wae_prior_std_scales_the_prior_of_the_penalty_and_of_the_samples(name, monkeypatch):
    from speechgen.models import gan_parts

    _, model, trainer = make(name, model_conf={**CONFIGS[name]["model_conf"], "prior_std": 5.0})
    draws = []
    real = gan_parts.prior_sample
    monkeypatch.setattr("speechgen.models.wae.prior_sample",
                        lambda *a, **k: draws.append(real(*a, **k)) or draws[-1])
    model.train_step(batch(64), trainer.optimizers, 1)  # one prior draw: the MMD's or the discriminator's
    assert len(draws) == 1 and 4.0 < float(draws[0].std()) < 6.0
    model.decode = lambda z: z  # the decoded prior draws are the draws themselves
    assert 4.5 < float(model.sample(4000, generator=torch.Generator().manual_seed(0)).std()) < 5.5
    with pytest.raises(ConfigError, match="prior_std=0"):
        make(name, model_conf={**CONFIGS[name]["model_conf"], "prior_std": 0})


def test_optim_groups_are_checked():
    with pytest.raises(ConfigError, match="optim_groups.critic: expected a mapping with the keys optim"):
        config_from_dict({**CONFIGS["wgan_gp"], "optim_groups": {"critic": {"lr": 1.0}}})
    with pytest.raises(ConfigError, match="unknown optim 'adamx'"):
        config_from_dict({**CONFIGS["wgan_gp"], "optim_groups": {"critic": {"optim": "adamx"}}})
    with pytest.raises(ConfigError, match="unknown key.*bogus.*optim_groups.critic.optim_conf"):
        config_from_dict({**CONFIGS["wgan_gp"], "optim_groups": {"critic": {"optim_conf": {"bogus": 1}}}})
    with pytest.raises(ConfigError, match="optim_groups: gen is not an optimiser of wgan_gp; it has: generator, critic"):
        make("wgan_gp", optim_groups={"gen": {"optim_conf": {"lr": 1.0}}})
