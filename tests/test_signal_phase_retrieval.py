"""Griffin-Lim, fast Griffin-Lim and PGHI phase reconstruction."""
import math

import numpy as np
import pytest
import torch

from speechgen.signal import (
    fast_griffin_lim,
    griffin_lim,
    istft,
    pghi,
    spectral_convergence_mag,
    stft,
    window_gamma,
)
from speechgen.signal.phase_retrieval import integrate_grid_tree

SR = 16000


def voiced(n=8000, f0=(110.0, 160.0), seed=0, dtype=torch.float64):
    """Short speech-like test signal: a gliding harmonic source with two formant-like peaks,
    a syllabic envelope and a noise burst."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    freq = np.linspace(f0[0], f0[1], n)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    x = np.zeros(n)
    for h in range(1, 40):
        fh = h * freq
        amp = np.exp(-((fh - 700) / 300) ** 2) + 0.6 * np.exp(-((fh - 1800) / 400) ** 2) + 0.05
        x += np.where(fh < SR / 2, amp, 0.0) * np.sin(h * phase)
    x *= 0.5 - 0.5 * np.cos(2 * np.pi * 3 * t)
    burst = slice(int(0.7 * n), int(0.75 * n))
    x[burst] += 0.3 * rng.standard_normal(burst.stop - burst.start)
    return torch.tensor(0.1 * x / np.abs(x).max(), dtype=dtype)


def sc_of(y, mag, n_fft, hop):
    return float(spectral_convergence_mag(stft(y, n_fft, hop).abs(), mag).mean())


@pytest.mark.parametrize("n_fft,hop,win", [(512, 128, 512), (400, 160, 400), (512, 160, 400)])
def test_one_iteration_equals_stft_istft_projection_per_item(n_fft, hop, win):
    """The packed, buffered loop computes exactly the textbook projection, item by item."""
    lengths = [5000, 3217, 4096]
    xs = [voiced(t, seed=i) for i, t in enumerate(lengths)]
    batch = torch.zeros(3, max(lengths), dtype=torch.float64)
    for i, x in enumerate(xs):
        batch[i, :len(x)] = x
    mag = stft(batch, n_fft, hop, win).abs()
    init = torch.rand(mag.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 6.28
    y = griffin_lim(mag, n_fft, hop, win, n_iter=2, init=init, lengths=lengths)
    assert y.shape == (3, max(lengths))
    for i, t in enumerate(lengths):
        n = 1 + t // hop
        X = torch.polar(mag[i, :, :n], init[i, :, :n])
        for _ in range(2):
            rebuilt = stft(istft(X, n_fft, hop, win, length=t), n_fft, hop, win)
            X = mag[i, :, :n] * torch.exp(1j * torch.angle(rebuilt))
        ref = istft(X, n_fft, hop, win, length=t)
        assert torch.allclose(y[i, :t], ref, atol=1e-10), (i, (y[i, :t] - ref).abs().max())
        assert torch.all(y[i, t:] == 0)


def test_parallel_groups_give_identical_results():
    lengths = [4000, 2500, 3300, 1800, 3900]
    batch = torch.zeros(5, 4000)
    for i, t in enumerate(lengths):
        batch[i, :t] = voiced(t, seed=i).float()
    mag = stft(batch, 400, 160).abs()
    runs = {}
    for jobs in (1, 2, 3):
        trace = []
        y, spec = fast_griffin_lim(mag, 400, 160, n_iter=5, lengths=lengths, n_jobs=jobs, trace=trace,
                                   return_spec=True)
        runs[jobs] = (y, spec, torch.stack(trace))
    for jobs in (2, 3):
        for a, b in zip(runs[1], runs[jobs]):
            assert torch.equal(a, b)
    assert runs[1][2].shape == (5, 5)


def test_momentum_matches_reference_recursion():
    x = voiced(4000)
    n_fft, hop, alpha = 256, 64, 0.99
    mag = stft(x, n_fft, hop).abs()
    y = griffin_lim(mag, n_fft, hop, n_iter=3, momentum=alpha, init="zeros", length=4000)
    X, prev = mag.to(torch.complex128), torch.zeros_like(mag, dtype=torch.complex128)
    for _ in range(3):
        c = stft(istft(X, n_fft, hop, length=4000), n_fft, hop)
        t = c - alpha / (1 + alpha) * prev
        prev = c
        X = mag * torch.exp(1j * torch.angle(t))
    assert torch.allclose(y, istft(X, n_fft, hop, length=4000), atol=1e-10)


def test_gla_spectral_convergence_decreases():
    x = voiced(6000)
    mag = stft(x, 512, 128).abs().float()
    trace = []
    griffin_lim(mag, 512, 128, n_iter=40, trace=trace, length=6000)
    sc = torch.stack(trace)[:, 0]
    assert sc.shape == (40,)
    steps = sc[1:] - sc[:-1]
    assert float(steps.max()) < 1e-4  # monotone up to float32 round-off
    assert float(sc[-1]) < 0.6 * float(sc[0])


def test_fast_gla_beats_gla_at_equal_iterations():
    x = voiced(8000)
    mag = stft(x, 512, 128).abs().float()
    for n_iter in (10, 30):
        y_gla = griffin_lim(mag, 512, 128, n_iter=n_iter, length=8000, seed=3)
        y_fgla = fast_griffin_lim(mag, 512, 128, n_iter=n_iter, length=8000, seed=3)
        assert sc_of(y_fgla, mag, 512, 128) < 0.8 * sc_of(y_gla, mag, 512, 128)


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (400, 160)])
def test_pghi_beats_random_phase(n_fft, hop):
    x = voiced(8000)
    mag = stft(x, n_fft, hop).abs()
    phase = pghi(mag, n_fft, hop)
    assert phase.shape == mag.shape and torch.isfinite(phase).all()
    y_pghi = istft(torch.polar(mag, phase), n_fft, hop, length=8000)
    y_rand = griffin_lim(mag, n_fft, hop, n_iter=0, length=8000)
    y_gla10 = griffin_lim(mag, n_fft, hop, n_iter=10, length=8000)
    sc_pghi = sc_of(y_pghi, mag, n_fft, hop)
    assert sc_pghi < 0.5 * sc_of(y_rand, mag, n_fft, hop)
    assert sc_pghi < sc_of(y_gla10, mag, n_fft, hop)
    # and it is a good initialiser: PGHI + 10 GLA iterations beat random + 10
    y_init = griffin_lim(mag, n_fft, hop, n_iter=10, init="pghi", length=8000)
    assert sc_of(y_init, mag, n_fft, hop) < sc_of(y_gla10, mag, n_fft, hop)


def test_pghi_on_pure_tone_is_nearly_consistent():
    t = torch.arange(8000, dtype=torch.float64) / SR
    x = 0.5 * torch.sin(2 * math.pi * 440.0 * t)
    mag = stft(x, 512, 128).abs()
    y = istft(torch.polar(mag, pghi(mag, 512, 128)), 512, 128, length=8000)
    assert sc_of(y[1000:-1000], stft(x[1000:-1000], 512, 128).abs(), 512, 128) < 0.1


def test_pghi_batch_items_are_independent():
    a, b = voiced(5000, seed=0), voiced(3000, seed=1, f0=(200.0, 180.0))
    batch = torch.zeros(2, 5000, dtype=torch.float64)
    batch[0], batch[1, :3000] = a, b
    mag = stft(batch, 512, 128).abs()
    both = pghi(mag, 512, 128, lengths=[5000, 3000])
    alone = pghi(stft(b, 512, 128).abs(), 512, 128)
    n = 1 + 3000 // 128
    big = stft(b, 512, 128).abs() > 1e-5 * stft(b, 512, 128).abs().max()
    diff = torch.remainder(both[1, :, :n] - alone + math.pi, 2 * math.pi) - math.pi
    # same phase up to one constant per connected region (here one region)
    d = diff[big]
    assert float((d - d[0]).abs().max()) < 1e-8


def test_shapes_inits_and_errors():
    x = voiced(3000).float()
    mag = stft(x, 256, 64).abs()  # unbatched (F, N)
    y = griffin_lim(mag, 256, 64, n_iter=2)
    assert y.shape == ((mag.shape[-1] - 1) * 64,) and y.dtype == torch.float32
    y, spec = griffin_lim(mag, 256, 64, n_iter=2, return_spec=True, length=3000)
    assert y.shape == (3000,) and spec.shape == mag.shape and spec.is_complex()
    assert torch.allclose(spec.abs(), mag, rtol=1e-4, atol=1e-6)
    # deterministic for a seed, different across seeds
    assert torch.equal(griffin_lim(mag, 256, 64, n_iter=3, seed=5), griffin_lim(mag, 256, 64, n_iter=3, seed=5))
    assert not torch.equal(griffin_lim(mag, 256, 64, n_iter=3, seed=5), griffin_lim(mag, 256, 64, n_iter=3, seed=6))
    # a complex init contributes its phase only
    spec0 = stft(x, 256, 64)
    y0 = griffin_lim(mag, 256, 64, n_iter=0, init=spec0 * 3.0, length=3000)
    assert torch.allclose(y0, x, atol=1e-5)
    with pytest.raises(ValueError, match="bins"):
        griffin_lim(mag, 512, 64)
    with pytest.raises(ValueError, match="complex"):
        griffin_lim(spec0, 256, 64)
    with pytest.raises(ValueError, match="init"):
        griffin_lim(mag, 256, 64, init="ones")
    with pytest.raises(ValueError, match="lengths"):
        griffin_lim(mag.unsqueeze(0), 256, 64, lengths=[3000, 2000])


def _reference_tree_phase(wt, st, wf, sf, root):
    """Phases along scipy's maximum spanning tree of one (F, N) grid, from ``root`` with phase 0."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    F, N = wf.shape[0] + 1, wt.shape[1] + 1
    idx = np.arange(F * N).reshape(F, N)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:].ravel()])
    w, step = np.concatenate([wt.ravel(), wf.ravel()]), np.concatenate([st.ravel(), sf.ravel()])
    tree = minimum_spanning_tree(coo_matrix((w.max() + 1.0 - w, (u, v)), shape=(F * N, F * N))).tocoo()
    kept = set(zip(tree.row.tolist(), tree.col.tolist()))
    signed = {}
    for a, b, s in zip(u.tolist(), v.tolist(), step.tolist()):
        if (a, b) in kept or (b, a) in kept:
            signed[a, b], signed[b, a] = s, -s
    order, pred = breadth_first_order(tree, root, directed=False)
    phase = np.zeros(F * N)
    for node in order[1:]:
        phase[node] = phase[pred[node]] + signed[pred[node], node]
    return phase.reshape(F, N)


def test_grid_tree_follows_the_maximum_spanning_tree():
    rng = np.random.default_rng(3)
    B, F, N = 2, 5, 7
    wt, st = rng.random((B, F, N - 1)), rng.standard_normal((B, F, N - 1))
    wf, sf = rng.random((B, F - 1, N)), rng.standard_normal((B, F - 1, N))
    roots = np.array([9, F * N + 20])  # one per item
    phase = np.full((B, F, N), 7.0)
    reached = integrate_grid_tree((wt, st), (wf, sf), phase, roots=roots)
    assert reached.all()
    for b in range(B):  # inconsistent steps: only the tree's edges count, items apart
        ref = _reference_tree_phase(wt[b], st[b], wf[b], sf[b], roots[b] - b * F * N)
        np.testing.assert_allclose(phase[b], ref, atol=1e-12)


def test_grid_tree_regions_roots_and_ground():
    F, N = 3, 4
    true = np.random.default_rng(0).uniform(-3, 3, (1, F, N))
    wt, st = np.ones((1, F, N - 1)), np.diff(true, axis=2)
    wf, sf = np.full((1, F - 1, N), -np.inf), np.diff(true, axis=1)  # no frequency edges: 3 rows apart
    phase = np.full((1, F, N), 5.0)
    reached = integrate_grid_tree((wt, st), (wf, sf), phase, roots=np.array([2, 4]))  # rows 0 and 1
    assert reached[0, :2].all() and not reached[0, 2].any()
    np.testing.assert_allclose(phase[0, 0], true[0, 0] - true[0, 0, 2], atol=1e-12)  # 0 at its root
    np.testing.assert_allclose(phase[0, 1], true[0, 1] - true[0, 1, 0], atol=1e-12)
    assert (phase[0, 2] == 5.0).all()  # never reached: left as it was
    # with priorities, each tree is 0 at its bin of highest priority instead of at its root
    loud = np.random.default_rng(1).random((1, F, N))
    phase = np.zeros((1, F, N))
    integrate_grid_tree((wt, st), (wf, sf), phase, roots=np.arange(F * N), priority=loud)
    for f in range(F):
        np.testing.assert_allclose(phase[0, f], true[0, f] - true[0, f, np.argmax(loud[0, f])], atol=1e-12)
    # a ground edge heavier than the rest roots each row at its own bin with the ground's value
    ground_w = np.full((1, F, N), -np.inf)
    ground_w[0, :, 1] = 10.0
    phase = np.zeros((1, F, N))
    assert integrate_grid_tree((wt, st), (wf, sf), phase, ground=(ground_w, true)).all()
    np.testing.assert_allclose(phase, true, atol=1e-12)
    with pytest.raises(ValueError, match="time_edges"):
        integrate_grid_tree((wt[:, :, 1:], st), (wf, sf), phase)
    with pytest.raises(ValueError, match="roots"):
        integrate_grid_tree((wt, st), (wf, sf), phase, roots=np.array([F * N]))
    with pytest.raises(TypeError, match="float64"):
        integrate_grid_tree((wt, st), (wf, sf), phase.astype(np.float32))


def test_window_gamma():
    assert window_gamma("hann", 400) == pytest.approx(0.25645 * 400 ** 2)
    # fitted for windows without a tabulated value: sqrt-Hann is wider than Hann
    assert window_gamma("sqrt_hann", 400) > window_gamma("hann", 400)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = voiced(6000, dtype=torch.float32)
    mag = stft(x, 512, 128).abs()
    init = torch.rand(mag.shape, generator=torch.Generator().manual_seed(0)) * 6.28
    y_cpu = fast_griffin_lim(mag, 512, 128, n_iter=20, init=init, length=6000)
    y_gpu = fast_griffin_lim(mag.cuda(), 512, 128, n_iter=20, init=init.cuda(), length=6000)
    assert y_gpu.is_cuda
    assert torch.allclose(y_gpu.cpu(), y_cpu, atol=1e-3)
    y = griffin_lim(mag.cuda(), 512, 128, n_iter=5, init="pghi", length=6000)
    assert y.is_cuda and torch.isfinite(y).all()
