"""MMD with the IMQ kernel, the gradient penalty, the Wasserstein signs and the Fréchet distance."""
import math

import numpy as np
import pytest
import torch

from speechgen.eval.frechet import frechet_distance, frechet_distance_from_stats, js_divergence
from speechgen.losses.adversarial import (discriminator_bce, generator_bce, wasserstein_critic_loss,
                                          wasserstein_generator_loss)
from speechgen.losses.gradient_penalty import gradient_penalty, interpolate
from speechgen.losses.mmd import imq_kernel, mmd_imq


def test_imq_kernel_by_hand():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    y = torch.tensor([[1.0, 0.0]])
    # ||x0 - y||^2 = 1, ||x1 - y||^2 = 4; k = c / (c + d)
    torch.testing.assert_close(imq_kernel(x, y, 2.0), torch.tensor([[2 / 3], [2 / 6]]))


def _mmd_by_hand(zq: np.ndarray, zp: np.ndarray, scales) -> float:
    n, d = zq.shape
    total = 0.0
    for s in scales:
        c = 2.0 * d * s

        def k(a, b):
            return c / (c + np.sum((a - b) ** 2))

        pp = sum(k(zp[i], zp[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        qq = sum(k(zq[i], zq[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        qp = sum(k(zq[i], zp[j]) for i in range(n) for j in range(n)) / (n * n)
        total += pp + qq - 2 * qp
    return total


@pytest.mark.parametrize("scales", [(1.0,), (0.5, 1.0, 2.0)])
def test_mmd_imq_matches_a_hand_computation(scales):
    rng = np.random.default_rng(0)
    zq, zp = rng.normal(0.5, 1.0, (5, 3)), rng.normal(size=(5, 3))
    got = mmd_imq(torch.from_numpy(zq), torch.from_numpy(zp), scales=scales)
    assert got.item() == pytest.approx(_mmd_by_hand(zq, zp, scales), rel=1e-10)


def test_mmd_is_small_for_the_same_distribution_and_large_for_a_shift():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(400, 4, generator=gen)
    same = mmd_imq(torch.randn(400, 4, generator=gen), z)
    shifted = mmd_imq(torch.randn(400, 4, generator=gen) + 2.0, z)
    assert abs(same.item()) < 0.02 < shifted.item()


def test_wasserstein_signs():
    d_real, d_fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert wasserstein_critic_loss(d_real, d_fake).item() == pytest.approx(0.0 - 2.0)  # D(fake) - D(real)
    assert wasserstein_generator_loss(d_fake).item() == pytest.approx(-0.0)  # -D(fake)
    assert wasserstein_generator_loss(torch.tensor([2.0])).item() == -2.0


def test_gan_bce_losses():
    big = torch.tensor([20.0])
    assert discriminator_bce(big, -big).item() == pytest.approx(0.0, abs=1e-6)
    assert generator_bce(torch.tensor([0.0])).item() == pytest.approx(math.log(2))


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||grad|| = 5 everywhere: GP = (5 - 1)^2
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(16.0)


def test_gradient_penalty_on_known_interpolates():
    # D(x) = ||x||^2 / 2 has gradient x^; with eps = (1, 0.5) the interpolates are real[0] and the midpoint
    real = torch.tensor([[3.0, 4.0], [2.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    eps = torch.tensor([1.0, 0.5])
    torch.testing.assert_close(interpolate(real, fake, eps), torch.tensor([[3.0, 4.0], [1.0, 0.5]]))
    gp = gradient_penalty(lambda x: 0.5 * (x ** 2).sum(1), real, fake, eps=eps)
    expected = ((5.0 - 1) ** 2 + (math.sqrt(1.25) - 1) ** 2) / 2
    assert gp.item() == pytest.approx(expected)


def test_gradient_penalty_is_differentiable_in_the_critic():
    w = torch.tensor([0.6, 0.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    assert w.grad[0].item() == pytest.approx(2 * (0.6 - 1.0))  # d/dw (||w|| - 1)^2


def test_frechet_distance_of_gaussians_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    # diagonal covariances: ||mu1 - mu2||^2 + sum (sigma1 - sigma2)^2
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0.0
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected)
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    # the distance is invariant under a common rotation (non-diagonal covariances)
    assert frechet_distance_from_stats(rot @ mu1, rot @ s1 @ rot.T, rot @ mu2, rot @ s2 @ rot.T) == \
        pytest.approx(expected)
    assert frechet_distance_from_stats(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_converges_to_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal([0.0, 0.0], [1.0, 2.0], size=(200000, 2))
    b = rng.normal([1.0, 0.0], [1.0, 1.0], size=(200000, 2))
    assert frechet_distance(a, b) == pytest.approx(1.0 + 1.0, abs=0.03)


def test_js_divergence():
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert js_divergence([2, 2], [1, 1]) == pytest.approx(0.0)
