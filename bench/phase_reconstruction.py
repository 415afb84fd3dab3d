#!/usr/bin/env python3
"""Phase reconstruction from the oracle magnitude: speed and quality against librosa, in one run.

    tools/venv/bin/python bench/phase_reconstruction.py                 # embedded corpus
    tools/venv/bin/python bench/phase_reconstruction.py --corpus DIR    # any dir of .wav/.WAV
    tools/venv/bin/python bench/phase_reconstruction.py --wav-list FILE # "path" or "utt path" lines

For every STFT setting (default 512/128 and the recipes' 400/160, Hann, 16 kHz) the magnitude of
each utterance is computed once; then each method runs at each iteration count (0, 10, 32, 100):

* ``GLA``        speechgen.signal.griffin_lim, random initial phase
* ``FGLA``       speechgen.signal.fast_griffin_lim (momentum 0.99), random initial phase
* ``PGHI+GLA``   PGHI initial phase (0 iterations = PGHI alone), then GLA
* ``PGHI+FGLA``  PGHI initial phase, then fast GLA
* ``librosa GLA``   librosa.griffinlim(momentum=0), one utterance per call
* ``librosa FGLA``  librosa.griffinlim(momentum=0.99, its default)

By default 16 utterances are used, evenly spread over the sorted file list (``--max-utts 0``: all).

Both libraries get equal resources, ``--jobs`` cores (default 1): ours the whole list of utterances
in one batched call (one intra-op thread, the utterances split into ``--jobs`` groups iterated
concurrently, PGHI in as many threads); librosa one call per utterance, as its API takes them, the
utterances split into ``--jobs`` groups run by as many worker processes (started before the clock).
The random initial phases are the same draws for both (``numpy.random.RandomState(seed + i)``,
which is what librosa uses for ``random_state=seed + i``), so at equal iterations the two GLA rows
differ only by float round-off and the PESQ comparison is not blurred by the initialisation.
Times are wall-clock per second of audio, the best of ``--repeats`` interleaved runs (other jobs
on a shared machine only ever slow a run down), including PGHI where it is used. Quality is the
mean PESQ-WB and STOI over the utterances, against the original waveform.

librosa is a benchmark-only extra (``pip install -e .[bench]``); without it the librosa rows are
skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from speechgen.data.audio import load_wav  # noqa: E402
from speechgen.errors import DataError  # noqa: E402
from speechgen.signal import griffin_lim, pghi, stft  # noqa: E402
from speechgen.signal.metrics import pesq, stoi  # noqa: E402

DEFAULT_CORPUS = ROOT / "egs" / "timit_fdnf" / "corpus" / "synth"
SR = 16000
OURS = ("GLA", "FGLA", "PGHI+GLA", "PGHI+FGLA")
LIBROSA = ("librosa GLA", "librosa FGLA")


# ----------------------------------------------------------------------------- input


def find_wavs(corpus: Path) -> list[tuple[str, Path]]:
    files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
    return [(str(p.relative_to(corpus).with_suffix("")), p) for p in files]


def read_wav_list(path: Path) -> list[tuple[str, Path]]:
    out = []
    for k, line in enumerate(path.read_text().splitlines()):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) == 1:
            out.append((Path(parts[0]).stem, Path(parts[0])))
        elif len(parts) == 2:
            out.append((parts[0], Path(parts[1])))
        else:
            raise DataError(f"{path}:{k + 1}: expected 'path' or 'utt_id path', got {line!r}")
    return out


def default_corpus(corpus: Path) -> list[tuple[str, Path]]:
    if corpus.is_dir() and find_wavs(corpus):
        return find_wavs(corpus)
    # a corpus the recipe already generated (egs/timit_fdnf/corpus/synth_*)
    for other in sorted(corpus.parent.glob("synth*")) if corpus.parent.is_dir() else []:
        if (other / ".done").is_file() and find_wavs(other):
            print(f"# using the embedded corpus at {other}")
            return find_wavs(other)
    try:
        from speechgen.data.synth import generate_corpus
    except ImportError as err:
        raise DataError(f"no corpus at {corpus} and the embedded-corpus generator is unavailable ({err}); "
                        "pass --corpus DIR or --wav-list FILE") from None
    print(f"# generating the embedded synthetic corpus at {corpus} (2 female + 2 male speakers x 4 sentences)")
    generate_corpus(corpus, n_female=2, n_male=2, n_sentences=4)
    return find_wavs(corpus)


def spread(items, max_utts: int | None):
    """At most ``max_utts`` items, evenly spaced over the sorted list (so over speakers)."""
    if not max_utts or len(items) <= max_utts:
        return items
    picks = np.linspace(0, len(items) - 1, max_utts).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def load_audio(items, max_utts: int | None) -> tuple[list[str], list[np.ndarray]]:
    ids, xs = [], []
    for utt, path in spread(items, max_utts):
        x = load_wav(path, SR)
        if x.size < SR // 2:
            print(f"# skipping {utt}: {x.size / SR:.2f} s is too short for PESQ/STOI")
            continue
        ids.append(utt)
        xs.append(x)
    if not xs:
        raise DataError("no usable utterances (need 16 kHz mono wavs of at least 0.5 s)")
    return ids, xs


# ----------------------------------------------------------------------------- methods


def initial_phases(mags: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """librosa.griffinlim(random_state=seed + i) draws exactly these."""
    return [2 * np.pi * np.random.RandomState(seed + i).random_sample(m.shape) for i, m in enumerate(mags)]


def pghi_jobs(mag_batch, n_fft, hop, lengths, jobs, threads):
    """PGHI of the batch, its items split into ``jobs`` groups run in ``threads`` (the integrator
    releases the GIL)."""
    if jobs <= 1:
        return pghi(mag_batch, n_fft, hop, lengths=lengths)
    groups = [g for g in np.array_split(np.arange(len(lengths)), jobs) if g.size]
    parts = threads.map(lambda g: pghi(mag_batch[g], n_fft, hop, lengths=[lengths[i] for i in g]), groups)
    return torch.cat(list(parts))


def run_ours(method, n_iter, mag_batch, phase_batch, lengths, n_fft, hop, jobs, threads):
    momentum = 0.99 if method.endswith("FGLA") else 0.0
    t0 = time.perf_counter()
    init = pghi_jobs(mag_batch, n_fft, hop, lengths, jobs, threads) if method.startswith("PGHI") else phase_batch
    y = griffin_lim(mag_batch, n_fft, hop, n_iter=n_iter, momentum=momentum, init=init, lengths=lengths,
                    n_jobs=jobs)
    dt = time.perf_counter() - t0
    return dt, [y[i, :t].numpy() for i, t in enumerate(lengths)]


def librosa_group(args):
    """librosa.griffinlim on each (index, magnitude, length) of a group, in this process."""
    import librosa

    items, n_iter, momentum, n_fft, hop, seed = args
    return [librosa.griffinlim(m, n_iter=n_iter, hop_length=hop, n_fft=n_fft, window="hann", center=True,
                               momentum=momentum, init="random", random_state=seed + i, length=t)
            for i, m, t in items]


def run_librosa(method, n_iter, mags_np, lengths, n_fft, hop, seed, workers, jobs):
    momentum = 0.99 if method.endswith("FGLA") else 0.0
    items = list(zip(range(len(lengths)), mags_np, lengths))
    t0 = time.perf_counter()
    if workers is None:
        out = librosa_group((items, n_iter, momentum, n_fft, hop, seed))
    else:
        n = jobs
        groups = [items[k::n] for k in range(n)]  # interleaved, so the groups get alike durations
        done = list(workers.map(librosa_group, [(g, n_iter, momentum, n_fft, hop, seed) for g in groups]))
        out = [None] * len(items)
        for k, ys in enumerate(done):
            out[k::n] = ys
    return time.perf_counter() - t0, out


def score_one(args):
    utt, ref, deg = args
    return pesq(ref, deg, SR, "wb", utt_id=utt), stoi(ref, deg, SR, utt_id=utt)


# ----------------------------------------------------------------------------- main


def machine() -> str:
    return f"{describe()} ({torch.get_num_threads()} intra-op threads)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--corpus", type=Path, help=f"directory of .wav/.WAV files (default {DEFAULT_CORPUS})")
    src.add_argument("--wav-list", type=Path, help="file with one 'path' or 'utt_id path' per line")
    ap.add_argument("--settings", nargs="+", default=["512:128", "400:160"], help="n_fft:hop pairs")
    ap.add_argument("--iters", nargs="+", type=int, default=[0, 10, 32, 100])
    ap.add_argument("--jobs", type=int, default=1,
                    help="cores for each library: griffin_lim(n_jobs=...) and PGHI threads for ours, "
                         "worker processes for librosa")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell; the best is kept")
    ap.add_argument("--max-utts", type=int, default=16,
                    help="use at most this many utterances, spread over the list (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-librosa", action="store_true")
    ap.add_argument("--nj", type=int, default=os.cpu_count() or 1, help="processes for PESQ/STOI")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    items = read_wav_list(args.wav_list) if args.wav_list else (
        find_wavs(args.corpus) if args.corpus else default_corpus(DEFAULT_CORPUS))
    ids, xs = load_audio(items, args.max_utts)
    lengths = [x.size for x in xs]
    seconds = sum(lengths) / SR
    use_librosa = not args.no_librosa
    if use_librosa:
        try:
            import librosa
        except ImportError:
            print("# librosa is not installed: its rows are skipped (pip install -e .[bench])")
            use_librosa = False
    print(f"# {len(xs)} utterances, {seconds:.1f} s of audio at {SR} Hz")
    print(f"# machine: {machine()}; each library on {args.jobs} core(s)"
          + (f"; librosa {librosa.__version__}, numpy {np.__version__}" if use_librosa else ""))

    methods = list(OURS) + (list(LIBROSA) if use_librosa else [])
    batch = torch.zeros(len(xs), max(lengths))
    for i, x in enumerate(xs):
        batch[i, :x.size] = torch.from_numpy(x)
    threads = ThreadPoolExecutor(args.jobs)
    workers = ProcessPoolExecutor(args.jobs) if args.jobs > 1 and use_librosa else None
    results = []
    for setting in args.settings:
        results += run_setting(setting, methods, batch, ids, xs, args, threads, workers)
    threads.shutdown()
    if workers is not None:
        workers.shutdown()
    report(results, args, seconds, len(xs))
    if args.json:
        args.json.write_text(json.dumps(dict(machine=machine(), utterances=len(xs), seconds=seconds,
                                             results=results), indent=2) + "\n")
    return 0


def run_setting(setting, methods, batch, ids, xs, args, threads, workers) -> list[dict]:
    """Time each method at each iteration count (best of ``--repeats``) and score its first run."""
    n_fft, hop = (int(v) for v in setting.split(":"))
    lengths = [x.size for x in xs]
    seconds = sum(lengths) / SR
    mag_batch = stft(batch, n_fft, hop).abs().float()  # (B, F, N), float32
    n_frames = [1 + t // hop for t in lengths]
    mags_np = [mag_batch[i, :, :n].numpy().copy() for i, n in enumerate(n_frames)]
    phase_batch = torch.zeros_like(mag_batch)
    for i, (p, n) in enumerate(zip(initial_phases(mags_np, args.seed), n_frames)):
        phase_batch[i, :, :n] = torch.from_numpy(p).float()

    def call(method, n_iter):
        if method in OURS:
            return run_ours(method, n_iter, mag_batch, phase_batch, lengths, n_fft, hop, args.jobs, threads)
        return run_librosa(method, n_iter, mags_np, lengths, n_fft, hop, args.seed, workers, args.jobs)

    for method in methods:  # warm-up (allocations, worker processes, librosa's numba kernels)
        call(method, 1)
    best, outputs = {}, {}
    for rep in range(args.repeats):
        for n_iter in args.iters:
            for method in methods:
                dt, ys = call(method, n_iter)
                best[(method, n_iter)] = min(best.get((method, n_iter), np.inf), dt)
                outputs.setdefault((method, n_iter), ys)
    jobs = [(ids[i], xs[i], ys[i]) for ys in outputs.values() for i in range(len(xs))]
    with ProcessPoolExecutor(max_workers=max(1, args.nj)) as pool:
        scores = np.array(list(pool.map(score_one, jobs, chunksize=4))).reshape(len(outputs), len(xs), 2)
    return [dict(setting=setting, method=method, iters=n_iter, ms_per_s=1000 * best[method, n_iter] / seconds,
                 pesq_wb=float(s[:, 0].mean()), stoi=float(s[:, 1].mean()))
            for (method, n_iter), s in zip(outputs, scores)]


def report(results, args, seconds, n_utts) -> None:
    lookup = {(r["setting"], r["method"], r["iters"]): r for r in results}
    print()
    print("| setting | method | iters | ms per audio s | vs librosa (same algorithm) | PESQ-WB | STOI |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        peer = None
        if r["method"] in ("GLA", "FGLA"):
            peer = lookup.get((r["setting"], "librosa " + r["method"], r["iters"]))
        ratio = f"{r['ms_per_s'] / peer['ms_per_s']:.3f}x" if peer and peer["ms_per_s"] > 0 else ""
        print(f"| {r['setting']} | {r['method']} | {r['iters']} | {r['ms_per_s']:.2f} | {ratio} | "
              f"{r['pesq_wb']:.3f} | {r['stoi']:.3f} |")
    print()
    for setting in args.settings:
        gla = lookup.get((setting, "GLA", 100))
        lib = lookup.get((setting, "librosa GLA", 100))
        print(f"# targets, {setting}:")
        if gla and lib:
            ratio = gla["ms_per_s"] / lib["ms_per_s"]
            print(f"#   GLA-100 time / librosa GLA-100 time, equal cores = {ratio:.3f} (target <= 0.25): "
                  f"{'met' if ratio <= 0.25 else 'MISSED'}")
            diffs = [abs(lookup[(setting, 'GLA', i)]['pesq_wb'] - lookup[(setting, 'librosa GLA', i)]['pesq_wb'])
                     for i in args.iters if (setting, 'librosa GLA', i) in lookup]
            print(f"#   max |PESQ GLA - PESQ librosa GLA| at equal iterations = {max(diffs):.4f} (target <= 0.05): "
                  f"{'met' if max(diffs) <= 0.05 else 'MISSED'}")
            reach = [i for i in args.iters
                     if (setting, "FGLA", i) in lookup and lookup[(setting, "FGLA", i)]["pesq_wb"] >= lib["pesq_wb"]]
            first = min(reach) if reach else None
            print(f"#   fewest FGLA iterations reaching librosa GLA-100's PESQ ({lib['pesq_wb']:.3f}): "
                  f"{first if first is not None else 'none of ' + str(args.iters)} (target <= 32): "
                  f"{'met' if first is not None and first <= 32 else 'MISSED'}")
        alone = [lookup[k]["ms_per_s"] for k in ((setting, "PGHI+GLA", 0), (setting, "PGHI+FGLA", 0)) if k in lookup]
        g100 = lookup.get((setting, "GLA", 100))
        if alone and g100:  # both 0-iteration rows are PGHI alone: the faster is the less disturbed
            ratio = min(alone) / g100["ms_per_s"]
            print(f"#   PGHI time / GLA-100 time = {ratio:.3f} (target <= 0.25): "
                  f"{'met' if ratio <= 0.25 else 'MISSED'}")
        p0, g10 = lookup.get((setting, "PGHI+GLA", 0)), lookup.get((setting, "GLA", 10))
        if p0 and g10:
            print(f"#   PESQ PGHI alone {p0['pesq_wb']:.3f} vs random-phase GLA-10 {g10['pesq_wb']:.3f}: "
                  f"{'met' if p0['pesq_wb'] > g10['pesq_wb'] else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
