"""Sound-event synthesis (numpy only): the mini corpus's events, scenario sound makers.

Each generator `fn(rng, sr, max_dur, count)` returns a mono float32 signal of at most
`max_dur` seconds, peak about 1. They are crude but distinct in spectrum and time
structure, which is all a captioning model needs to tell them apart. `render_level`
then applies loudness and distance (gain, low-pass and a reverb-like smear).
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

TWO_PI = 2.0 * np.pi


def _t(sr: int, dur: float) -> np.ndarray:
    return np.arange(int(sr * dur)) / sr


def _norm(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x)) if x.size else 0.0
    return (x / peak if peak > 0 else x).astype(np.float32)


def _fade(x: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    """Short fade in/out so event edges do not click."""
    n = min(int(sr * seconds), len(x) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def _fft_len(n: int) -> int:
    """Next power of two: numpy's FFT is many times slower on lengths with large primes."""
    return 1 << max(0, int(n - 1).bit_length())


def band(x: np.ndarray, sr: int, low: float = 0.0, high: float = None) -> np.ndarray:
    """Band-pass by weighting FFT bins (soft 4th-order edges); cheap and good enough here."""
    n = _fft_len(len(x))
    spec = np.fft.rfft(x, n)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.ones_like(freqs)
    if low > 0:
        gain *= 1.0 / (1.0 + (low / np.maximum(freqs, 1e-3)) ** 4)
    if high is not None:
        gain *= 1.0 / (1.0 + (freqs / high) ** 4)
    return np.fft.irfft(spec * gain, n)[: len(x)]


def _burst(rng, sr, dur, low, high, decay):
    """Noise burst, band-limited, exponentially decaying: knocks, steps, droplets."""
    t = _t(sr, dur)
    return band(rng.standard_normal(len(t)), sr, low, high) * np.exp(-t / decay)


def _place(total: int, pieces, starts) -> np.ndarray:
    out = np.zeros(total)
    for piece, start in zip(pieces, starts):
        end = min(total, start + len(piece))
        if end > start:
            out[start:end] += piece[: end - start]
    return out


def siren(rng, sr, max_dur, count=0):
    dur = min(max_dur, rng.uniform(2.0, 3.5))
    t = _t(sr, dur)
    rate = rng.uniform(0.4, 0.8)  # wails per second
    f = rng.uniform(700, 900) + 350 * np.sin(TWO_PI * rate * t)
    phase = TWO_PI * np.cumsum(f) / sr
    return _fade(_norm(np.sin(phase) + 0.3 * np.sin(2 * phase)), sr, 0.1)


def bell(rng, sr, max_dur, count=0):
    dur = min(max_dur, rng.uniform(1.5, 2.5))
    t = _t(sr, dur)
    f0 = rng.uniform(350, 650)
    partials = [(1.0, 1.0), (2.0, 0.6), (2.76, 0.5), (5.4, 0.3), (8.93, 0.2)]
    x = sum(a * np.sin(TWO_PI * f0 * r * t) * np.exp(-t * (1.0 + r) / dur) for r, a in partials)
    return _fade(_norm(x), sr, 0.003)


def beep(rng, sr, max_dur, count=0):
    n = int(rng.integers(3, 6))
    on, period = 0.15, 0.3
    f = rng.uniform(900, 1300)
    tone = np.sign(np.sin(TWO_PI * f * _t(sr, on))) * 0.5 + np.sin(TWO_PI * f * _t(sr, on))
    n = max(1, min(n, int(max_dur / period)))
    starts = [int(i * period * sr) for i in range(n)]
    return _norm(_place(int(n * period * sr), [_fade(tone, sr, 0.005)] * n, starts))


def knock(rng, sr, max_dur, count=2):
    period = min(rng.uniform(0.22, 0.3), max(0.12, (max_dur - 0.12) / count))
    pieces = [_burst(rng, sr, 0.12, 150, 900, 0.02) for _ in range(count)]
    starts = [int(i * period * sr) for i in range(count)]
    return _norm(_place(int((count * period + 0.1) * sr), pieces, starts))


def footsteps(rng, sr, max_dur, count=0):
    period = rng.uniform(0.45, 0.6)
    n = max(2, min(int(rng.integers(4, 8)), int(max_dur / period)))
    pieces = [_burst(rng, sr, 0.15, 60, 2500, 0.04) * rng.uniform(0.7, 1.0) for _ in range(n)]
    starts = [int(i * period * sr) for i in range(n)]
    x = _place(int(n * period * sr), pieces, starts)
    return _norm(x * np.linspace(0.4, 1.0, len(x)))  # getting closer: "footsteps approach"


def birds(rng, sr, max_dur, count=0):
    dur = min(max_dur, rng.uniform(1.5, 3.0))
    chirps, starts = [], []
    for _ in range(int(dur * rng.uniform(4, 7))):
        length = rng.uniform(0.05, 0.12)
        t = _t(sr, length)
        f = np.linspace(rng.uniform(2500, 4000), rng.uniform(4000, 6500), len(t))
        chirps.append(np.sin(TWO_PI * np.cumsum(f) / sr) * np.hanning(len(t)))
        starts.append(int(rng.uniform(0, max(0.0, dur - length)) * sr))
    return _norm(_place(int(dur * sr), chirps, starts))


def dog(rng, sr, max_dur, count=2):
    period = min(rng.uniform(0.45, 0.6), max(0.25, (max_dur - 0.22) / count))
    f0 = rng.uniform(350, 550)
    pieces = []
    for _ in range(count):
        t = _t(sr, 0.22)
        f = f0 * (1.3 - 0.5 * t / 0.22)  # pitch falls over the bark
        phase = TWO_PI * np.cumsum(f) / sr
        x = sum(np.sin(k * phase) / k for k in range(1, 7)) + 0.3 * rng.standard_normal(len(t))
        pieces.append(x * np.exp(-t / 0.08) * (1 - np.exp(-t / 0.01)))
    starts = [int(i * period * sr) for i in range(count)]
    return _norm(_place(int((count * period + 0.1) * sr), pieces, starts))


def horn(rng, sr, max_dur, count=0):
    dur = min(max_dur, rng.uniform(0.6, 1.2))
    t = _t(sr, dur)
    f = rng.uniform(380, 440)
    x = sum(np.sign(np.sin(TWO_PI * r * f * t)) for r in (1.0, 1.26))
    return _fade(_norm(band(x, sr, 200, 3000)), sr, 0.03)


def rain(rng, sr, max_dur, count=0):
    n = int(max_dur * sr)
    hiss = band(rng.standard_normal(n), sr, 1500, 9000) * 0.5
    drops = [_burst(rng, sr, 0.03, 2000, 8000, 0.004) for _ in range(int(max_dur * 25))]
    starts = rng.integers(0, n, size=len(drops))
    return _fade(_norm(hiss + _place(n, drops, starts)), sr, 0.3)


def wind(rng, sr, max_dur, count=0):
    t = _t(sr, max_dur)
    x = band(rng.standard_normal(len(t)), sr, 80, rng.uniform(400, 700))
    gust = 0.6 + 0.4 * np.sin(TWO_PI * rng.uniform(0.15, 0.4) * t + rng.uniform(0, TWO_PI))
    return _fade(_norm(x * gust), sr, 0.3)


def engine(rng, sr, max_dur, count=0):
    t = _t(sr, max_dur)
    f0 = rng.uniform(30, 50)
    x = sum(np.sin(TWO_PI * k * f0 * t + rng.uniform(0, TWO_PI)) / k for k in range(1, 9))
    x = x * (1 + 0.3 * np.sin(TWO_PI * f0 / 4 * t)) + 0.2 * band(
        rng.standard_normal(len(t)), sr, 40, 400
    )
    return _fade(_norm(x), sr, 0.3)


def water(rng, sr, max_dur, count=0):
    n = int(max_dur * sr)
    bubbles, starts = [], []
    for _ in range(int(max_dur * 18)):
        t = _t(sr, rng.uniform(0.02, 0.06))
        f = rng.uniform(300, 900) * np.exp(t * 12)  # bubbles rise in pitch as they burst
        bubbles.append(np.sin(TWO_PI * np.cumsum(f) / sr) * np.exp(-t / 0.015))
        starts.append(int(rng.integers(0, n)))
    flow = band(rng.standard_normal(n), sr, 200, 1500) * 0.15
    return _fade(_norm(_place(n, bubbles, starts) + flow), sr, 0.3)


def music(rng, sr, max_dur, count=0):
    scale = np.array([0, 2, 4, 7, 9, 12])  # major pentatonic
    base = rng.uniform(220, 330)
    note_len = rng.uniform(0.25, 0.4)
    n = int(max_dur / note_len)
    pieces, starts = [], []
    for i in range(n):
        f = base * 2 ** (rng.choice(scale) / 12)
        t = _t(sr, note_len)
        tone = sum(np.sin(TWO_PI * k * f * t) / k**1.5 for k in range(1, 5))
        pieces.append(tone * np.exp(-t / (note_len * 0.6)) * (1 - np.exp(-t / 0.005)))
        starts.append(int(i * note_len * sr))
    return _fade(_norm(_place(int(max_dur * sr), pieces, starts)), sr, 0.2)


GENERATORS: Dict[str, Callable] = {
    "siren": siren,
    "bell": bell,
    "beep": beep,
    "knock": knock,
    "footsteps": footsteps,
    "birds": birds,
    "dog": dog,
    "horn": horn,
    "rain": rain,
    "wind": wind,
    "engine": engine,
    "water": water,
    "music": music,
}

LEVEL_GAIN = {"loud": 0.9, "normal": 0.4, "distant": 0.12}


def smear(x: np.ndarray, sr: int, rng, seconds: float = 0.4) -> np.ndarray:
    """Reverb-ish tail: convolve with exponentially decaying noise (via FFT)."""
    t = _t(sr, seconds)
    ir = rng.standard_normal(len(t)) * np.exp(-t / (seconds / 5))
    ir[0] = 4.0  # keep some direct sound
    n = len(x) + len(ir) - 1
    size = _fft_len(n)
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]
    return _norm(y)


def render_level(x: np.ndarray, sr: int, level: str, rng) -> np.ndarray:
    """Loudness and distance: distant events are quieter, duller and smeared."""
    if level == "distant":
        x = smear(band(x, sr, 0, 1200), sr, rng)
    return (x * LEVEL_GAIN[level] * rng.uniform(0.85, 1.0)).astype(np.float32)
