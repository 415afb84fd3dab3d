"""WGAN-GP (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, 2017) on feature windows.

The critic D minimises ``D(x~) - D(x) + lambda GP`` (GP: the gradient penalty on interpolates,
:mod:`speechgen.losses.gradient_penalty`); the generator G minimises ``-D(x~)``, x~ = G(z),
z ~ N(0, I). Each batch is one critic step; every ``n_critic``-th batch is also a generator step, so
every critic step sees fresh real data (Algorithm 1 with n_critic = 5, lambda = 10, Adam(1e-4,
betas (0, 0.9)) in the recipe's config).

With ``conditional: true`` both players see the phone label y of the window's centre frame: the
generator takes [z, embed(y)], the critic is a projection critic (Miyato & Koyama 2018),
D(x, y) = w^T h(x) + embed'(y)^T h(x). The generator is trained on the labels of the real batch,
so its label distribution is the data's. The critic uses per-example (layer) normalisation, never
batch norm, which would make the penalty's per-example gradients depend on the rest of the batch.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from speechgen.errors import ConfigError
from speechgen.losses.adversarial import wasserstein_critic_loss, wasserstein_generator_loss
from speechgen.losses.gradient_penalty import gradient_penalty
from speechgen.models.abilities import Labels, Sampler, check_labels
from speechgen.models.base import MODELS
from speechgen.models.gan_parts import MultiOptimizerModel, WindowDecoderNet, WindowEncoderNet, prior_sample


class WindowCritic(nn.Module):
    """(B, T, F) [+ labels (B,)] -> (B,) scores; a projection critic when ``n_classes`` is given."""

    def __init__(self, n_frames: int, n_bins: int, channels: Sequence[int], hidden: int, norm: str = "layer",
                 n_classes: Optional[int] = None):
        super().__init__()
        self.features = WindowEncoderNet(n_frames, n_bins, channels, hidden, norm=norm, activation="lrelu")
        self.score = nn.Linear(hidden, 1)
        self.projection = nn.Embedding(n_classes, hidden) if n_classes else None

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.features(x)
        out = self.score(h).squeeze(-1)
        if self.projection is not None:
            out = out + (self.projection(labels) * h).sum(-1)
        return out


@MODELS.register("wgan_gp")
class WGANGP(MultiOptimizerModel, Sampler):
    """Wasserstein GAN with gradient penalty on (B, T, F) windows, optionally phone-conditional.

    Args:
        n_frames, n_bins: T and F of a window.
        latent_dim: size of the noise z.
        channels, hidden: generator widths (a mirrored conv encoder layout; batch norm, ReLU).
        critic_channels, critic_hidden: critic widths (leaky ReLU).
        critic_norm: ``layer`` (per example, as the paper suggests) or ``none``.
        conditional: condition both players on the ``phone`` label; n_classes: number of labels.
        embed_dim: size of the generator's label embedding.
        gp_weight: lambda; n_critic: critic steps per generator step.
    """

    def __init__(self, n_frames: int = 9, n_bins: int = 120, latent_dim: int = 64,
                 channels: Sequence[int] = (128, 128, 128), hidden: int = 256,
                 critic_channels: Sequence[int] = (128, 128, 128), critic_hidden: int = 256,
                 critic_norm: str = "layer", conditional: bool = False, n_classes: int = 49, embed_dim: int = 16,
                 gp_weight: float = 10.0, n_critic: int = 5):
        super().__init__()
        if critic_norm == "batch":
            raise ConfigError("model_conf.critic_norm='batch' would mix the examples of a batch in the gradient "
                              "penalty; use 'layer' or 'none'")
        if n_critic < 1:
            raise ConfigError(f"model_conf.n_critic={n_critic}: must be >= 1")
        self.n_frames, self.n_bins, self.latent_dim = n_frames, n_bins, latent_dim
        self.conditional, self.n_classes = conditional, n_classes
        self.gp_weight, self.n_critic = gp_weight, n_critic
        self.label_embedding = nn.Embedding(n_classes, embed_dim) if conditional else None
        self.generator = WindowDecoderNet(latent_dim + (embed_dim if conditional else 0), n_frames, n_bins,
                                          channels, hidden, norm="batch", activation="relu")
        self.critic = WindowCritic(n_frames, n_bins, critic_channels, critic_hidden, critic_norm,
                                   n_classes if conditional else None)

    # ------------------------------------------------------------------ networks
    def _labels(self, batch: Dict[str, torch.Tensor]) -> Optional[torch.Tensor]:
        if not self.conditional:
            return None
        if "phone" not in batch:
            raise ConfigError("model_conf.conditional is true but the data have no 'phone' labels")
        return batch["phone"]

    def generate(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """z: (B, latent_dim) [+ labels (B,)] -> (B, T, F)."""
        if self.conditional:
            if labels is None:
                raise ConfigError("a conditional WGAN-GP needs a label for every sample: "
                                  "labels={'phone': LongTensor (n,)}")
            z = torch.cat([z, self.label_embedding(labels)], dim=-1)
        return self.generator(z)

    def critic_losses(self, real: torch.Tensor, fake: torch.Tensor, labels: Optional[torch.Tensor]
                      ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(critic loss with penalty, Wasserstein estimate D(real) - D(fake), GP)`` for one batch."""
        d_real, d_fake = self.critic(real, labels), self.critic(fake, labels)
        gp = gradient_penalty(lambda v: self.critic(v, labels), real, fake)
        loss = wasserstein_critic_loss(d_real, d_fake) + self.gp_weight * gp
        return loss, (d_real.mean() - d_fake.mean()).detach(), gp.detach()

    # ------------------------------------------------------------------ training
    def optimizer_groups(self) -> Dict[str, List[nn.Parameter]]:
        gen = list(self.generator.parameters())
        if self.label_embedding is not None:
            gen += list(self.label_embedding.parameters())
        return {"generator": gen, "critic": list(self.critic.parameters())}

    def train_step(self, batch: Dict[str, torch.Tensor], optimizers: Dict[str, torch.optim.Optimizer],
                   step: int) -> Dict[str, float]:
        real, labels = batch["feats"], self._labels(batch)
        with torch.no_grad():
            fake = self.generate(prior_sample(real.shape[0], self.latent_dim, real), labels)
        critic_loss, w_dist, gp = self.critic_losses(real, fake, labels)
        self.update(optimizers["critic"], critic_loss)
        stats = {"loss": critic_loss.item(), "w_dist": w_dist.item(), "gp": gp.item()}
        if (step + 1) % self.n_critic == 0:
            fake = self.generate(prior_sample(real.shape[0], self.latent_dim, real), labels)
            gen_loss = wasserstein_generator_loss(self.critic(fake, labels))
            self.update(optimizers["generator"], gen_loss)
            stats["gen_loss"] = gen_loss.item()
        return stats

    def forward(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Validation: the critic's Wasserstein estimate on held-out windows (no penalty, no gradients).

        ``loss`` is the critic loss D(fake) - D(real) and ``w_dist`` its negative, the estimated distance.
        """
        real, labels = batch["feats"], self._labels(batch)
        fake = self.generate(prior_sample(real.shape[0], self.latent_dim, real), labels)
        loss = wasserstein_critic_loss(self.critic(real, labels), self.critic(fake, labels))
        return loss, {"loss": loss.item(), "w_dist": -loss.item()}

    # ------------------------------------------------------------------ eval verbs
    def label_classes(self) -> Dict[str, int]:
        """{"phone": n_classes} for a conditional model, else {}."""
        return {"phone": self.n_classes} if self.conditional else {}

    @torch.no_grad()
    def sample(self, n: int, labels: Labels = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` generated windows (n, T, F); a conditional model needs ``labels={"phone": (n,)}``."""
        ref = next(self.parameters())
        phones = check_labels(self, n, labels).get("phone")
        return self.generate(prior_sample(n, self.latent_dim, ref, generator),
                             None if phones is None else phones.to(ref.device))
