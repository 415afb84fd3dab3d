"""speechgen.signal: batched STFT/iSTFT, mel features, phase derivatives, phase reconstruction
(Griffin-Lim, fast Griffin-Lim, PGHI) and objective speech metrics.

Shapes: waveforms ``x: (B, T)``, spectrograms ``spec: (B, F, N)`` with ``F = n_fft // 2 + 1``.
Everything runs on torch tensors on any device; PGHI's path integration and the PESQ/STOI metrics
run on the CPU.
"""
from speechgen.signal.deltas import add_deltas, compute_deltas, delta_filters
from speechgen.signal.phase_retrieval import (
    fast_griffin_lim,
    griffin_lim,
    pghi,
    pghi_phase_gradients,
    window_gamma,
)
from speechgen.signal.mel import (
    hz_to_mel,
    log_mel,
    log_mel_to_linear,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    mel_to_linear,
)
from speechgen.signal.metrics import (
    METRICS,
    estoi,
    evaluate,
    log_spectral_distance,
    pesq,
    si_sdr,
    spectral_convergence,
    spectral_convergence_mag,
    stoi,
)
from speechgen.signal.phase import bin_frequencies, group_delay, instantaneous_frequency, principal_value
from speechgen.signal.stft import (
    WINDOWS,
    STFTConfig,
    get_window,
    istft,
    log_magnitude,
    magnitude,
    num_frames,
    power_to_db,
    stft,
)

__all__ = [
    # stft
    "WINDOWS", "STFTConfig", "get_window", "num_frames", "stft", "istft", "magnitude",
    "log_magnitude", "power_to_db",
    # mel / deltas
    "hz_to_mel", "mel_to_hz", "mel_filterbank", "mel_spectrogram", "log_mel", "mel_to_linear",
    "log_mel_to_linear", "delta_filters", "compute_deltas", "add_deltas",
    # phase
    "principal_value", "bin_frequencies", "group_delay", "instantaneous_frequency",
    # phase reconstruction
    "griffin_lim", "fast_griffin_lim", "pghi", "pghi_phase_gradients", "window_gamma",
    # metrics
    "METRICS", "pesq", "stoi", "estoi", "si_sdr", "log_spectral_distance", "spectral_convergence",
    "spectral_convergence_mag", "evaluate",
]
