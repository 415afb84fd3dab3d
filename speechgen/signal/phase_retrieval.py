"""Phase reconstruction from an STFT magnitude: Griffin-Lim, fast Griffin-Lim and PGHI.

* :func:`griffin_lim` — Griffin & Lim (1984) alternating projections, optionally with the momentum of
  the fast Griffin-Lim algorithm (Perraudin, Balazs & Soendergaard 2013, ``momentum=0.99``), from a
  random, zero, PGHI or given initial phase.
* :func:`fast_griffin_lim` — the same with ``momentum=0.99`` by default.
* :func:`pghi` — non-iterative phase-gradient heuristic integration (Prusa, Balazs & Soendergaard 2017):
  the phase derivatives of a Gaussian-windowed STFT follow from the log-magnitude, and are
  integrated along the strongest coefficients first.

All functions take ``mag: (B, F, N)`` (or ``(F, N)``) with the STFT conventions of
:mod:`speechgen.signal.stft`; the Griffin-Lim functions return waveforms ``(B, T)`` and
:func:`pghi` a phase ``(B, F, N)``. Per-item ``lengths`` let a padded batch of utterances of
different durations be processed in one call.

Speed: the batch is packed into one frame sequence (utterances separated by a few silent frames,
so no padding is computed and the items stay independent), and each iteration runs an
FFT / overlap-add / magnitude-projection loop on preallocated float buffers — a handful of passes
over memory per iteration. The number of intra-op threads is whatever the caller set with
``torch.set_num_threads``; ``n_jobs`` additionally iterates groups of utterances concurrently.
"""
from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from speechgen.signal.stft import WindowSpec, _check_params, get_window, num_frames

__all__ = [
    "griffin_lim",
    "fast_griffin_lim",
    "pghi",
    "pghi_phase_gradients",
    "window_gamma",
    "integrate_grid_tree",
]

# Time-frequency ratio of the Gaussian closest to each window, as a fraction of win_length**2
# (Prusa, Balazs & Soendergaard 2017, Table 1).
_GAMMA_FACTORS = {"hann": 0.25645, "hamming": 0.29794, "blackman": 0.17954}

InitSpec = Union[str, Tensor]


# --------------------------------------------------------------------------------------------
# helpers


def _as_batched_mag(mag: Tensor) -> Tuple[Tensor, bool]:
    if not torch.is_tensor(mag):
        mag = torch.as_tensor(mag)
    if mag.is_complex():
        raise ValueError("expected a magnitude (real, >= 0), got a complex tensor; pass spec.abs()")
    if not mag.is_floating_point():
        mag = mag.float()
    if mag.dim() == 2:
        return mag.unsqueeze(0), True
    if mag.dim() != 3:
        raise ValueError(f"expected mag: (B, F, N) or (F, N), got shape {tuple(mag.shape)}")
    return mag, False


def _frames_and_lengths(
    batch: int,
    n_frames_total: int,
    n_fft: int,
    hop: int,
    center: bool,
    lengths: Optional[Union[Sequence[int], Tensor]],
    length: Optional[int],
) -> Tuple[List[int], List[int]]:
    """Frames used and output samples per item."""
    if lengths is not None:
        lens = [int(v) for v in (lengths.tolist() if torch.is_tensor(lengths) else lengths)]
        if len(lens) != batch:
            raise ValueError(f"lengths has {len(lens)} entries for a batch of {batch}")
        frames = []
        for i, t in enumerate(lens):
            n = num_frames(t, n_fft, hop, center)
            if t < 1 or n < 1 or n > n_frames_total:
                raise ValueError(
                    f"item {i}: length {t} samples needs {n} frames but the batch has {n_frames_total}")
            frames.append(n)
        return frames, lens
    if length is None:
        length = (n_frames_total - 1) * hop + (0 if center else n_fft)
    return [n_frames_total] * batch, [int(length)] * batch


def window_gamma(window: WindowSpec = "hann", win_length: int = 512) -> float:
    """Time-frequency ratio ``lambda`` (samples**2) of the Gaussian ``exp(-pi t**2 / lambda)`` that
    best matches ``window``: tabulated for Hann, Hamming and Blackman (Prusa et al. 2017), otherwise
    the least-squares fit of a Gaussian to the window."""
    if isinstance(window, str):
        if window.lower() in _GAMMA_FACTORS:
            return _GAMMA_FACTORS[window.lower()] * win_length ** 2
        return _fitted_gamma(window.lower(), win_length)
    return _fit_gamma(get_window(window, win_length, dtype=torch.float64).cpu().numpy())


@functools.lru_cache(maxsize=32)
def _fitted_gamma(name: str, win_length: int) -> float:
    return _fit_gamma(get_window(name, win_length, dtype=torch.float64).numpy())


def _fit_gamma(w: np.ndarray) -> float:
    win_length = w.size
    t = np.arange(win_length) - win_length / 2.0
    w = w / np.linalg.norm(w)
    best = (np.inf, 0.25)
    for c in np.linspace(0.02, 2.0, 400):  # coarse grid, then a local refinement
        g = np.exp(-np.pi * t ** 2 / (c * win_length ** 2))
        err = np.sum((w - g / np.linalg.norm(g)) ** 2)
        if err < best[0]:
            best = (err, c)
    lo, hi = best[1] - 0.005, best[1] + 0.005
    for _ in range(40):
        m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        e = []
        for c in (m1, m2):
            g = np.exp(-np.pi * t ** 2 / (c * win_length ** 2))
            e.append(np.sum((w - g / np.linalg.norm(g)) ** 2))
        lo, hi = (lo, m2) if e[0] < e[1] else (m1, hi)
    return 0.5 * (lo + hi) * win_length ** 2


# --------------------------------------------------------------------------------------------
# the packed projection operator


class _PackedSTFT:
    """STFT∘iSTFT on a batch packed into one frame sequence, with preallocated buffers.

    Item ``b`` occupies packed frames ``[starts[b], starts[b] + frames[b])``; consecutive items are
    separated by ``ceil(n_fft / hop)`` empty frames so no frame of one item overlaps a sample of the
    next. Samples outside each item's ``[0, length)`` are forced to zero after every inverse, and
    the overlap-add normaliser only counts real frames, which makes one projection here equal to
    ``stft(istft(X, length=length))`` item by item.
    """

    def __init__(self, frames: List[int], lengths: List[int], n_fft: int, hop: int,
                 window: Tensor, center: bool, dtype: torch.dtype, device: torch.device):
        M, a = n_fft, hop
        r = -(-M // a)
        L = r * a
        gap = r
        starts, s = [], 0
        for n in frames:
            starts.append(s)
            s += n + gap
        NP = s - gap
        nb = NP + r - 1
        self.M, self.a, self.r, self.L, self.NP, self.nb = M, a, r, L, NP, nb
        self.starts, self.frames, self.lengths = starts, frames, lengths
        self.offset = M // 2 if center else 0
        self.F = M // 2 + 1
        self.dtype, self.device = dtype, device
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.window = window.to(dtype=dtype, device=device)

        # normaliser 1 / sum_n w^2(t - n a) over real frames, zero outside each item's samples
        real = torch.zeros(NP, dtype=torch.float64)
        valid = torch.zeros(nb * a, dtype=torch.float64)
        for st, n, t in zip(starts, frames, lengths):
            real[st:st + n] = 1.0
            # samples beyond the item's last frame are never covered (they stay 0 in the output)
            t = min(t, (n - 1) * a + M - self.offset)
            valid[st * a + self.offset: st * a + self.offset + t] = 1.0
        w2 = torch.zeros(L, dtype=torch.float64)
        w2[:M] = self.window.double().cpu() ** 2
        w2 = w2.view(r, a)
        env = torch.zeros(nb, a, dtype=torch.float64)
        for j in range(r):
            env[j:j + NP] += real[:, None] * w2[j]
        tiny = 1e-10 * float(env.max()) if env.numel() else 0.0
        inv = torch.where(env > tiny, 1.0 / env.clamp_min(1e-300), torch.zeros((), dtype=torch.float64))
        self.inv_env = (inv * valid.view(nb, a)).to(dtype=dtype, device=device)

        # buffers: frames of the inverse, padded by r - 1 empty rows on both sides so the
        # overlap-add is a sum over a strided view; signal blocks of `hop` samples
        self.frames_pad = torch.zeros(NP + 2 * (r - 1), L, dtype=dtype, device=device)
        self.frames_view = self.frames_pad[r - 1:r - 1 + NP, :M]
        self.ola = self.frames_pad.as_strided((nb, r, a), (L, L - a, 1),
                                              self.frames_pad.storage_offset() + (r - 1) * a)
        self.blocks = torch.zeros(nb, a, dtype=dtype, device=device)
        self.reframed = self.blocks.as_strided((NP, M), (a, 1))
        self.analysis = torch.empty(NP, M, dtype=dtype, device=device)

    # packing -------------------------------------------------------------------------------
    def pack(self, x: Tensor, fill: float = 0.0) -> Tensor:
        """(B, F, N) -> (NP, F) contiguous (gap frames get ``fill``)."""
        out = torch.full((self.NP, x.shape[1]), fill, dtype=x.dtype, device=self.device)
        for b, (st, n) in enumerate(zip(self.starts, self.frames)):
            out[st:st + n] = x[b, :, :n].transpose(0, 1)
        return out

    def unpack(self, xp: Tensor, n_frames: int) -> Tensor:
        """(NP, F) -> (B, F, n_frames), zero beyond each item's frames."""
        out = torch.zeros(len(self.starts), xp.shape[1], n_frames, dtype=xp.dtype, device=xp.device)
        for b, (st, n) in enumerate(zip(self.starts, self.frames)):
            out[b, :, :n] = xp[st:st + n].transpose(0, 1)
        return out

    def signals(self) -> Tensor:
        """The last synthesised signal as (B, max(lengths)), zero-padded."""
        sig = self.blocks.reshape(-1)
        out = torch.zeros(len(self.starts), max(self.lengths), dtype=self.dtype, device=self.device)
        for b, (st, n, t) in enumerate(zip(self.starts, self.frames, self.lengths)):
            s0 = st * self.a + self.offset
            t = min(t, (n - 1) * self.a + self.M - self.offset)
            out[b, :t] = sig[s0:s0 + t]
        return out

    # transforms ----------------------------------------------------------------------------
    def synthesise(self, X: Tensor) -> Tensor:
        """Inverse STFT of packed ``X: (NP, F)`` into ``self.blocks`` (nb, hop)."""
        torch.mul(torch.fft.irfft(X, n=self.M, dim=-1), self.window, out=self.frames_view)
        v = self.ola
        if self.r > 1:
            torch.add(v[:, 0], v[:, 1], out=self.blocks)
        else:
            self.blocks.copy_(v[:, 0])
        for j in range(2, self.r):
            self.blocks.add_(v[:, j])
        self.blocks.mul_(self.inv_env)
        return self.blocks

    def analyse(self) -> Tensor:
        """STFT of ``self.blocks``: (NP, F) complex."""
        torch.mul(self.reframed, self.window, out=self.analysis)
        return torch.fft.rfft(self.analysis, n=self.M, dim=-1)


# --------------------------------------------------------------------------------------------
# Griffin-Lim


def griffin_lim(
    mag: Tensor,
    n_fft: int = 512,
    hop_length: int = 128,
    win_length: Optional[int] = None,
    window: WindowSpec = "hann",
    *,
    n_iter: int = 32,
    momentum: float = 0.0,
    init: InitSpec = "random",
    center: bool = True,
    lengths: Optional[Union[Sequence[int], Tensor]] = None,
    length: Optional[int] = None,
    seed: Optional[int] = 0,
    generator: Optional[torch.Generator] = None,
    trace: Optional[list] = None,
    return_spec: bool = False,
    pghi_tol: float = 1e-5,
    n_jobs: int = 1,
):
    """Reconstruct waveforms from STFT magnitudes by (fast) Griffin-Lim.

    Each iteration replaces the phase of ``mag`` by that of ``stft(istft(X))``; with ``momentum``
    ``alpha > 0`` the phase is taken from ``c_k - alpha / (1 + alpha) * c_{k-1}`` instead (fast
    Griffin-Lim, Perraudin et al. 2013; librosa's ``momentum`` means the same).

    Args:
        mag: (B, F, N) or (F, N) non-negative magnitudes, ``F = n_fft // 2 + 1``; float32 is fastest.
        n_fft, hop_length, win_length, window, center: STFT settings of ``mag``.
        n_iter: iterations (0 returns the inverse STFT of the initial estimate).
        momentum: 0 for Griffin-Lim, about 0.99 for fast Griffin-Lim.
        init: ``'random'`` (uniform phase), ``'zeros'``, ``'pghi'`` (see :func:`pghi`), a real
            phase tensor (B, F, N) or a complex spectrogram (B, F, N) whose phase is used.
        lengths: per-item output lengths in samples for a padded batch (item ``b`` uses its first
            ``1 + lengths[b] // hop`` frames with ``center``); default: all frames.
        length: output length when ``lengths`` is not given (default ``(N - 1) * hop``, plus
            ``n_fft`` when ``center=False``).
        seed / generator: randomness of ``init='random'`` (and of PGHI's negligible coefficients).
        trace: a list to which the spectral convergence (B,) of every iteration is appended.
        return_spec: also return the final complex spectrogram estimate ``mag * exp(1j * phase)``.
        pghi_tol: relative magnitude threshold of PGHI when ``init='pghi'``.
        n_jobs: on the CPU, split the items into this many groups of about equal duration and
            iterate them concurrently in Python threads (torch releases the GIL in its kernels).
            Meant for ``torch.get_num_threads() == 1``: each group then keeps one core busy with no
            per-operation synchronisation, which scales better than intra-op threads for these
            small FFTs and degrades gracefully when other jobs share the cores. Results do not
            depend on it.

    Returns:
        x: (B, T) waveforms, zero beyond each item's length (``(T,)`` for an (F, N) input);
        with ``return_spec``: ``(x, spec)`` with ``spec: (B, F, N)`` complex.
    """
    win_length = _check_params(n_fft, hop_length, win_length)
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    mag, squeeze = _as_batched_mag(mag)
    B, F, N = mag.shape
    if F != n_fft // 2 + 1:
        raise ValueError(f"mag has {F} bins but n_fft={n_fft} gives {n_fft // 2 + 1}")
    dtype, device = mag.dtype, mag.device
    frames, lens = _frames_and_lengths(B, N, n_fft, hop_length, center, lengths, length)
    w = get_window(window, win_length, n_fft, dtype=dtype, device=device)
    phase = _initial_phase(init, mag, n_fft, hop_length, win_length, window, center,
                           lengths, frames, seed, generator, pghi_tol)
    mag = mag.clamp_min(0)

    groups = _split_items(frames, n_jobs if device.type == "cpu" else 1)
    chunks = [_chunk_items(g, frames) if device.type == "cpu" else [g] for g in groups]

    def work(items: List[int]):
        if len(items) == B:  # one chunk: no copies
            return _gla_group(mag, phase, frames, lens, n_fft, hop_length, w, center, n_iter, momentum,
                              trace is not None, return_spec)
        return _gla_group(mag[items], None if phase is None else phase[items],
                          [frames[i] for i in items], [lens[i] for i in items], n_fft, hop_length, w,
                          center, n_iter, momentum, trace is not None, return_spec)

    if len(chunks) == 1:
        results = [work(c) for c in chunks[0]]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:  # torch kernels release the GIL
            results = [r for rs in pool.map(lambda cs: [work(c) for c in cs], chunks) for r in rs]
    done = [c for cs in chunks for c in cs]
    x, spec = _merge_chunks(done, results, mag.shape, frames, lens, return_spec)
    if trace is not None:
        for k in range(n_iter):
            sc = torch.empty(B, dtype=dtype, device=device)
            for items, (_, _, tg) in zip(done, results):
                sc[items] = tg[k]
            trace.append(sc)
    if squeeze:
        x = x[0]
        spec = spec[0] if spec is not None else None
    return (x, spec) if return_spec else x


def _merge_chunks(chunks: List[List[int]], results, shape, frames: List[int], lens: List[int], with_spec: bool):
    """The waveforms (B, max(lens)) and spectrograms (B, F, N) or None of the items, from each chunk's
    ``_gla_group`` result (the one chunk's own when it holds every item)."""
    if len(chunks) == 1:
        return results[0][0], results[0][1]
    B, F, N = shape
    xg0 = results[0][0]
    x = torch.zeros(B, max(lens), dtype=xg0.dtype, device=xg0.device)
    spec = torch.zeros(B, F, N, dtype=_complex_of(xg0.dtype), device=xg0.device) if with_spec else None
    for items, (xg, sg, _) in zip(chunks, results):
        for j, i in enumerate(items):
            x[i, :lens[i]] = xg[j, :lens[i]]
            if spec is not None:
                spec[i, :, :frames[i]] = sg[j, :, :frames[i]]
    return x, spec


def _complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


# Frames iterated together at most: a few hundred frames' buffers stay in the core's cache, where a
# whole batch of utterances packed in one sequence streams from memory at every pass (GLA-100 on
# 16 utterances runs about 1.4x faster one utterance at a time than all in one sequence).
_CHUNK_FRAMES = 512


def _chunk_items(items: List[int], frames: List[int]) -> List[List[int]]:
    """``items`` in consecutive chunks of at most ``_CHUNK_FRAMES`` frames (a longer item alone)."""
    chunks: List[List[int]] = [[]]
    total = 0
    for i in items:
        if chunks[-1] and total + frames[i] > _CHUNK_FRAMES:
            chunks.append([])
            total = 0
        chunks[-1].append(i)
        total += frames[i]
    return chunks


def _split_items(frames: List[int], n_jobs: Optional[int]) -> List[List[int]]:
    """Items in at most ``n_jobs`` groups of about equal total frames (largest first)."""
    jobs = max(1, min(int(n_jobs or 1), len(frames)))
    if jobs == 1:
        return [list(range(len(frames)))]
    groups: List[List[int]] = [[] for _ in range(jobs)]
    load = [0] * jobs
    for i in sorted(range(len(frames)), key=lambda k: -frames[k]):
        g = load.index(min(load))
        groups[g].append(i)
        load[g] += frames[i]
    return [sorted(g) for g in groups if g]


def _gla_group(mag, phase, frames, lens, n_fft, hop, window, center, n_iter, momentum,
               want_trace, want_spec):
    """The iterations for one group of items, packed into one frame sequence."""
    dtype, device = mag.dtype, mag.device
    n_items = mag.shape[0]
    op = _PackedSTFT(frames, lens, n_fft, hop, window, center, dtype, device)
    S = op.pack(mag)
    X = torch.polar(S, op.pack(phase)) if phase is not None else S.to(op.cdtype)

    trace = []
    if want_trace:
        item_of_frame = torch.full((op.NP,), n_items, dtype=torch.long, device=device)
        for b, (st, n) in enumerate(zip(op.starts, frames)):
            item_of_frame[st:st + n] = b
        ref_energy = torch.zeros(n_items + 1, dtype=dtype, device=device).index_add_(
            0, item_of_frame, S.square().sum(-1))[:n_items].clamp_min(torch.finfo(dtype).tiny)

    prev = torch.zeros_like(X) if momentum > 0 else None
    p = torch.empty_like(S)
    sq = torch.empty(S.shape + (2,), dtype=dtype, device=device)
    tiny = torch.finfo(dtype).tiny
    beta = momentum / (1.0 + momentum)
    for _ in range(n_iter):
        op.synthesise(X)
        Y = op.analyse()
        if want_trace:
            err = (Y.abs() - S).square().sum(-1)
            num = torch.zeros(n_items + 1, dtype=dtype, device=device).index_add_(0, item_of_frame, err)
            trace.append((num[:n_items] / ref_energy).sqrt())
        if prev is not None:
            torch.add(Y, prev, alpha=-beta, out=X)  # X <- c_k - beta c_{k-1}
            prev = Y
            target = X
        else:
            target = Y
        tr = torch.view_as_real(target)
        torch.mul(tr, tr, out=sq)
        torch.add(sq[..., 0], sq[..., 1], out=p)
        p.add_(tiny).rsqrt_().mul_(S)
        torch.mul(target, p, out=X)  # |X| = S with the phase of target
    op.synthesise(X)
    spec = op.unpack(X, mag.shape[-1]) if want_spec else None
    return op.signals(), spec, trace


def fast_griffin_lim(mag: Tensor, n_fft: int = 512, hop_length: int = 128,
                     win_length: Optional[int] = None, window: WindowSpec = "hann", *,
                     n_iter: int = 32, momentum: float = 0.99, **kwargs):
    """Fast Griffin-Lim (Perraudin et al. 2013): :func:`griffin_lim` with ``momentum=0.99``.
    Same arguments and returns."""
    return griffin_lim(mag, n_fft, hop_length, win_length, window, n_iter=n_iter,
                       momentum=momentum, **kwargs)


def _initial_phase(init, mag, n_fft, hop, win_length, window, center, lengths, frames, seed,
                   generator, pghi_tol) -> Optional[Tensor]:
    B, F, N = mag.shape
    if isinstance(init, str):
        name = init.lower()
        if name == "zeros":
            return None
        if name == "random":
            gen = generator
            if gen is None:
                gen = torch.Generator(device=mag.device)
                gen.manual_seed(0 if seed is None else int(seed))
            return (2.0 * math.pi) * torch.rand(mag.shape, generator=gen, dtype=mag.dtype,
                                                device=mag.device)
        if name == "pghi":
            return pghi(mag, n_fft, hop, win_length, window, lengths=lengths, center=center,
                        tol=pghi_tol, seed=seed)
        raise ValueError(f"init must be 'random', 'zeros', 'pghi' or a tensor, got {init!r}")
    if not torch.is_tensor(init):
        raise ValueError(f"init must be 'random', 'zeros', 'pghi' or a tensor, got {type(init)}")
    if init.dim() == 2:
        init = init.unsqueeze(0)
    if init.shape != mag.shape:
        raise ValueError(f"init has shape {tuple(init.shape)}, expected {tuple(mag.shape)}")
    init = init.to(mag.device)
    return torch.angle(init).to(mag.dtype) if init.is_complex() else init.to(mag.dtype)


# --------------------------------------------------------------------------------------------
# PGHI


def pghi_phase_gradients(
    mag: Tensor,
    n_fft: int = 512,
    hop_length: int = 128,
    gamma: Optional[float] = None,
    *,
    win_length: Optional[int] = None,
    window: WindowSpec = "hann",
    floor: float = 1e-10,
) -> Tuple[Tensor, Tensor]:
    """Phase derivatives estimated from the log-magnitude alone (Gaussian-window relations).

    For ``s = log|X|`` and the window's Gaussian ratio ``lambda`` (:func:`window_gamma`), in the
    frame-start phase convention of :func:`speechgen.signal.stft`:

    * along time (radians per hop):   ``dphi/dn = (hop n_fft / lambda) ds/dm + 2 pi hop m / n_fft``
    * along frequency (rad per bin):  ``dphi/dm = -(lambda / (hop n_fft)) ds/dn + pi``

    with central differences (``ds/dm = 0`` at DC and Nyquist by symmetry, one-sided at the first
    and last frame).

    Args:
        mag: (B, F, N) magnitudes.
        floor: relative floor (to each item's maximum) before the log.

    Returns:
        (dphi_dn, dphi_dm): both (B, F, N), same dtype as ``mag`` (float64 inside).
    """
    win_length = _check_params(n_fft, hop_length, win_length)
    mag_b, squeeze = _as_batched_mag(mag)
    lam = window_gamma(window, win_length) if gamma is None else float(gamma)
    S = mag_b.detach().double().cpu().numpy()
    tg, fg = _gradients_np(_log_mag_np(S, floor), n_fft, hop_length, lam)
    out = tuple(torch.from_numpy(g).to(dtype=mag_b.dtype, device=mag_b.device) for g in (tg, fg))
    return (out[0][0], out[1][0]) if squeeze else out  # type: ignore[return-value]


def _log_mag_np(S: np.ndarray, floor: float) -> np.ndarray:
    """log|S| of (B, F, N) magnitudes, floored at ``floor`` times each item's maximum."""
    B = S.shape[0]
    peak = S.reshape(B, -1).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0)
    return np.log(np.maximum(S, (floor * peak)[:, None, None]))


def _gradients_np(logS: np.ndarray, n_fft: int, hop: int, lam: float):
    """The phase derivatives (along time, along frequency) of :func:`pghi_phase_gradients` from the
    log-magnitudes (B, F, N)."""
    B, F, N = logS.shape
    ds_dm = np.zeros_like(logS)
    if F > 2:
        ds_dm[:, 1:-1, :] = 0.5 * (logS[:, 2:, :] - logS[:, :-2, :])
    ds_dn = np.zeros_like(logS)
    if N > 2:
        ds_dn[:, :, 1:-1] = 0.5 * (logS[:, :, 2:] - logS[:, :, :-2])
    if N > 1:
        ds_dn[:, :, 0] = logS[:, :, 1] - logS[:, :, 0]
        ds_dn[:, :, -1] = logS[:, :, -1] - logS[:, :, -2]
    m = np.arange(F, dtype=np.float64)[None, :, None]
    dphi_dn = (hop * n_fft / lam) * ds_dm + (2.0 * np.pi * hop / n_fft) * m
    dphi_dm = -(lam / (hop * n_fft)) * ds_dn + np.pi
    return dphi_dn, dphi_dm


def pghi(
    mag: Tensor,
    n_fft: int = 512,
    hop_length: int = 128,
    win_length: Optional[int] = None,
    window: WindowSpec = "hann",
    *,
    gamma: Optional[float] = None,
    tol: float = 1e-5,
    center: bool = True,
    lengths: Optional[Union[Sequence[int], Tensor]] = None,
    seed: Optional[int] = 0,
) -> Tensor:
    """Phase-gradient heuristic integration (PGHI): a phase for ``mag`` without iterations.

    The phase derivatives of :func:`pghi_phase_gradients` are integrated (trapezoidal rule) over
    the time-frequency grid, following the strongest coefficients first as Prusa et al.'s heap
    does: the integration paths form a maximum spanning tree of the grid graph whose edges weigh
    ``log|X_u| + log|X_v|``, rooted at each connected region's largest coefficient (phase 0).
    Coefficients below ``tol`` times the item's maximum get a random phase. Runs on the CPU
    (:func:`integrate_grid_tree`); the result is moved to ``mag``'s device.

    Args:
        mag: (B, F, N) or (F, N) magnitudes.
        gamma: Gaussian ratio ``lambda`` in samples**2; default :func:`window_gamma`.
        tol: relative magnitude below which coefficients are left out of the integration.
        lengths: per-item lengths in samples for a padded batch (frames beyond are ignored).

    Returns:
        phase: (B, F, N) (or (F, N)) real, same dtype/device as ``mag``.
    """
    win_length = _check_params(n_fft, hop_length, win_length)
    mag_b, squeeze = _as_batched_mag(mag)
    B, F, N = mag_b.shape
    if F != n_fft // 2 + 1:
        raise ValueError(f"mag has {F} bins but n_fft={n_fft} gives {n_fft // 2 + 1}")
    frames, _ = _frames_and_lengths(B, N, n_fft, hop_length, center, lengths, None)
    lam = window_gamma(window, win_length) if gamma is None else float(gamma)
    S = mag_b.detach().double().cpu().numpy()
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=S.shape)
    for b, n in enumerate(frames):  # one item at a time: its arrays stay in cache
        phase[b, :, :n] = _pghi_item(S[b:b + 1, :, :n], phase[b:b + 1, :, :n], n_fft, hop_length, lam, tol)[0]
    out = torch.from_numpy(phase).to(dtype=mag_b.dtype, device=mag_b.device)
    return out[0] if squeeze else out


def _pghi_item(S: np.ndarray, phase: np.ndarray, n_fft: int, hop: int, lam: float, tol: float) -> np.ndarray:
    """PGHI's phase of one item's magnitudes ``S`` (1, F, N), float64; ``phase`` (1, F, N) holds the
    random phase its negligible coefficients keep."""
    peak = S.max()
    sig = (S > tol * peak) & (S > 0)
    phase = np.ascontiguousarray(phase)
    if not sig.any():
        return phase
    logS = _log_mag_np(S, 1e-10)
    dphi_dn, dphi_dm = _gradients_np(logS, n_fft, hop, lam)
    (mt, st), (mf, sf) = _trapezoid_steps(sig, dphi_dn, dphi_dm)
    wt = np.where(mt, logS[:, :, :-1] + logS[:, :, 1:], -np.inf)
    wf = np.where(mf, logS[:, :-1, :] + logS[:, 1:, :], -np.inf)
    # each region of significant bins from its largest one
    integrate_grid_tree((wt, st), (wf, sf), phase, roots=np.flatnonzero(sig.reshape(-1)), priority=logS)
    return phase


def _trapezoid_steps(sig: np.ndarray, dphi_dn: np.ndarray, dphi_dm: np.ndarray):
    """Which time and frequency edges of (B, F, N) grids join two significant bins, and their phase
    steps (trapezoidal rule): ``[(mask, step) along time, (mask, step) along frequency]``."""
    out = []
    for grad, ahead, behind in ((dphi_dn, np.s_[:, :, 1:], np.s_[:, :, :-1]),
                                (dphi_dm, np.s_[:, 1:, :], np.s_[:, :-1, :])):
        out.append((sig[behind] & sig[ahead], 0.5 * (grad[behind] + grad[ahead])))
    return out


def integrate_grid_tree(time_edges: Tuple[np.ndarray, np.ndarray], freq_edges: Tuple[np.ndarray, np.ndarray],
                        phase: np.ndarray, ground: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                        roots: Optional[np.ndarray] = None, priority: Optional[np.ndarray] = None) -> np.ndarray:
    """Phases of (B, F, N) grids from phase differences along a maximum spanning forest.

    The heap integration of PGHI with edge weights (Prim's algorithm with a 4-ary heap, in C:
    ``speechgen/signal/_maxtree.c``): a tree grows by its heaviest edge to a bin it has not reached,
    so every phase follows the most reliable path. ``time_edges = (weight, step)``, each
    (B, F, N - 1), say ``phase[..., n + 1] = phase[..., n] + step``; ``freq_edges``, each
    (B, F - 1, N), say ``phase[:, f + 1] = phase[:, f] + step``. An edge of weight -inf is absent.
    With ``ground = (weight, value)``, each (B, F, N), a node of phase 0 joins every bin
    (``phase = value`` along that edge) and all trees grow from it; then each of ``roots`` (flat
    indices) in turn that no tree reached yet starts one, with phase 0 at the root, or, given
    ``priority``, at the tree's bin of highest priority (the same tree, as if grown from there).
    Bins no tree reaches keep the value ``phase`` holds on entry.

    Args:
        phase: (B, F, N) float64, C-contiguous, filled in place.
        priority: (B, F, N), optional.
    Returns:
        reached: (B, F, N) bool.
    """
    try:
        from speechgen.signal import _maxtree
    except ImportError as err:  # an install from before the integrator was compiled
        raise ImportError("speechgen.signal._maxtree (the compiled phase integrator) is not built: run "
                          "`make install` or `pip install -e .` in the speechgen checkout") from err

    if phase.dtype != np.float64 or phase.ndim != 3 or not phase.flags.c_contiguous:
        raise TypeError("phase must be a C-contiguous (B, F, N) float64 array")
    B, F, N = phase.shape
    shapes = {"time_edges": (B, F, N - 1), "freq_edges": (B, F - 1, N), "ground": (B, F, N), "priority": (B, F, N)}
    arrays = []
    for name, pair in (("time_edges", time_edges), ("freq_edges", freq_edges), ("ground", ground),
                       ("priority", None if priority is None else (priority,))):
        if pair is None:
            arrays += [np.zeros(0)] * (1 if name == "priority" else 2)
            continue
        for a in pair:
            if np.shape(a) != shapes[name]:
                raise ValueError(f"{name} must be {shapes[name]} for phase {phase.shape}, got {np.shape(a)}")
            arrays.append(np.ascontiguousarray(a, dtype=np.float64))
    roots = np.zeros(0, dtype=np.int64) if roots is None else np.ascontiguousarray(roots, dtype=np.int64)
    if roots.size and (roots.min() < 0 or roots.max() >= phase.size):
        raise ValueError(f"roots holds bin indices outside [0, {phase.size})")
    reached = np.zeros(phase.shape, dtype=np.uint8)
    _maxtree.integrate(B, F, N, *arrays[:6], roots.reshape(-1), arrays[6], phase, reached)
    return reached.astype(bool)
