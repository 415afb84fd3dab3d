#!/usr/bin/env python3
"""Throughput of the segment feature extraction (20 x 200 log-magnitude) against peers, in one run.

    tools/venv/bin/python bench/feature_extraction.py [--data-dir egs/timit_fdnf/data/train]

The data dir needs wav.scp and segments (stage 0 of egs/timit_fdnf writes it). All waveforms are
loaded first, so the figures compare the spectrogram computation only; then speechgen's stage
(vectorised over the segments of each utterance) runs against a per-segment loop of
``librosa.stft`` (when installed) and of ``scipy.signal.stft`` on the same segments. The outputs
are checked to agree before the times are printed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from speechgen.bin.compute_feats import read_segments
from speechgen.data.audio import load_wav
from speechgen.data.tables import read_mapping
from speechgen.data.features import SegmentSpecConfig, analysis_starts, segment_log_spectrograms


def load(data_dir: Path, conf: SegmentSpecConfig):
    wavs = read_mapping(data_dir / "wav.scp")
    jobs = []
    for utt, segs in sorted(read_segments(data_dir).items()):
        x = load_wav(wavs[utt], conf.sample_rate)
        bounds = np.array([[s, e] for _, s, e in segs]) * conf.sample_rate
        jobs.append((x, analysis_starts(bounds, len(x), conf)))
    return jobs


def ours(jobs, conf):
    return [segment_log_spectrograms(x, starts, conf) for x, starts in jobs]


def per_segment(jobs, conf, spectrum):
    out = []
    for x, starts in jobs:
        out.append(np.stack([np.log(np.maximum(spectrum(x[s:s + conf.span]), conf.floor)) for s in starts]))
    return out


def librosa_spectrum(conf):
    import librosa

    def spectrum(seg):
        spec = librosa.stft(seg, n_fft=conf.n_fft, hop_length=conf.hop_length, win_length=conf.win_length,
                            window=conf.window, center=False)
        return np.abs(spec[1:]).T

    return spectrum


def scipy_spectrum(conf):
    from scipy.signal import stft

    scale = conf.win_length / 2  # scipy's 'spectrum' scaling divides by sum(window)

    def spectrum(seg):
        _, _, spec = stft(seg, window=conf.window, nperseg=conf.win_length,
                          noverlap=conf.win_length - conf.hop_length, nfft=conf.n_fft, boundary=None,
                          padded=False, scaling="spectrum")
        return np.abs(spec[1:]).T * scale

    return spectrum


def timed(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path("egs/timit_fdnf/data/train"))
    p.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = p.parse_args(argv)
    if not (args.data_dir / "segments").is_file():
        print(f"{args.data_dir}/segments missing: run `cd egs/timit_fdnf && ./run.sh --stop-stage 0` first",
              file=sys.stderr)
        return 1
    conf = SegmentSpecConfig()
    jobs = load(args.data_dir, conf)
    n = sum(len(starts) for _, starts in jobs)
    t_ours, ref = timed(lambda: ours(jobs, conf), args.repeats)
    rows = [("speechgen (vectorised per utterance)", t_ours)]
    peers = [("scipy.signal.stft per segment", scipy_spectrum(conf))]
    try:
        peers.insert(0, ("librosa.stft per segment", librosa_spectrum(conf)))
    except ImportError:
        print("librosa not installed: comparing with scipy only")
    for name, spectrum in peers:
        t, out = timed(lambda: per_segment(jobs, conf, spectrum), args.repeats)
        # log-magnitudes near the floor are dominated by float32 round-off: compare the bins above it
        err = max(float(np.abs(a - b)[b > np.log(conf.floor) + 5].max()) for a, b in zip(out, ref))
        assert err < 1e-2, f"{name} disagrees with speechgen by {err} (log-magnitude)"
        rows.append((name, t))
    print(f"{n} segments of {conf.n_frames}x{conf.n_bins} from {len(jobs)} utterances in {args.data_dir}")
    print(f"{'method':40s} {'seconds':>8s} {'segments/s':>11s} {'speed-up':>9s}")
    for name, t in rows:
        print(f"{name:40s} {t:8.3f} {n / t:11.0f} {t / t_ours:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
