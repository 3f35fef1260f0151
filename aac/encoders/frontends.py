"""Signal-processing pieces shared by the encoders: windows, DFT kernels, mel matrices.

Everything here is computed in float64 numpy and handed out as float32, so a randomly
initialised PANN (whose frontend is normally read from the checkpoint) and the DCASE
2023 frontend get the same filters librosa would build (slaney mel scale and norm).
"""

from __future__ import annotations

import math

import numpy as np

_F_SP = 200.0 / 3  # slaney: linear below 1 kHz, 3 mel per 200 Hz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(freqs, htk: bool = False):
    freqs = np.asarray(freqs, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + freqs / 700.0)
    mels = freqs / _F_SP
    log_part = freqs >= _MIN_LOG_HZ
    mels = np.where(
        log_part, _MIN_LOG_MEL + np.log(np.maximum(freqs, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, mels
    )
    return mels


def mel_to_hz(mels, htk: bool = False):
    mels = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    freqs = _F_SP * mels
    return np.where(
        mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), freqs
    )


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
) -> np.ndarray:
    """Triangular mel filters with slaney area norm: float32 (n_mels, n_fft // 2 + 1)."""
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def hann_periodic(length: int) -> np.ndarray:
    """Periodic Hann window (scipy `get_window('hann', n, fftbins=True)`), float64."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def stft_kernels(n_fft: int, win_length: int | None = None):
    """Real and imaginary DFT rows times a centred Hann window: float32 (n_fft//2+1, n_fft).

    These are the Conv1d weights a torchlibrosa-style STFT uses (row k, tap n holds
    cos / -sin(2 pi k n / n_fft) * window[n]).
    """
    win_length = win_length or n_fft
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = hann_periodic(win_length)
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    angle = 2.0 * np.pi * ((k * n) % n_fft) / n_fft
    real = np.cos(angle) * window[None, :]
    imag = -np.sin(angle) * window[None, :]
    return real.astype(np.float32), imag.astype(np.float32)
