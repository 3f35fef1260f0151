"""Test clips for a scenario: a target event over background noise at a chosen SNR.

    clip = render_trial(suite, scenario, trial=0)       # one rendering, reused across SNRs
    wave = clip.mix(snr_db=0.0)                         # (T,) float32 at suite.rate
    noise = clip.background                             # the same clip without the target

Presentation:
  - static: the event as recorded (or synthesised), starting at `onset_s`;
  - approach: the source drives along a straight road towards the listener at `speed_mps`,
    ending `closest_m` away when the event ends; the level follows 1/distance (rising);
  - doppler: what the listener hears at time t left the source at tau = t - r(tau)/c, so the
    signal is read at a time-varying rate (a pitch shift that falls as it nears); solved by
    fixed-point iteration and read off by linear interpolation.
SNR is the power ratio of the presented target to the background over the target's span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aac.audio import load_mono_file

SPEED_OF_SOUND = 343.0  # m/s


def source_wave(src, rate: int, seconds: float, rng, loop: bool) -> np.ndarray:
    """A sound maker's output or a random excerpt of one of the files: float32 (T,).

    `loop` tiles a short source to fill `seconds` (backgrounds); targets keep their length.
    """
    n = int(round(seconds * rate))
    if src.sound is not None:
        from aac.sounds import GENERATORS

        x = GENERATORS[src.sound](rng, rate, seconds, src.count)
    else:
        x = load_mono_file(src.files[int(rng.integers(len(src.files)))], rate)
        if len(x) > n:
            start = int(rng.integers(0, len(x) - n + 1))
            x = x[start : start + n]
    x = np.asarray(x, dtype=np.float32)
    if loop and 0 < len(x) < n:
        x = np.tile(x, n // len(x) + 1)
    return x[:n]


def approach(x: np.ndarray, rate: int, speed: float, closest: float, doppler: bool) -> np.ndarray:
    """The event as heard from a source driving towards the listener (see module docstring)."""
    t = np.arange(len(x)) / rate
    duration = len(x) / rate

    def distance(tau):  # the source reaches `closest` m when the event ends
        along = speed * np.clip(duration - tau, 0.0, None)
        return np.sqrt(closest**2 + along**2)

    if doppler:
        # tau = t + (r(0) - r(tau))/c: the listener's clock starts when the event's start
        # arrives; the fixed point converges fast for speed << c
        lead = distance(np.array([0.0]))[0] / SPEED_OF_SOUND
        tau = t
        for _ in range(4):
            tau = t + lead - distance(tau) / SPEED_OF_SOUND
        x = np.interp(tau, t, x, left=0.0, right=0.0)
    else:
        tau = t
    gain = closest / distance(tau)  # 1 at the end, rising from far away
    return (x * gain).astype(np.float32)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0


@dataclass
class Trial:
    """One rendering: the background and the presented target, mixed at any SNR."""

    background: np.ndarray  # (T,) the whole clip without the target
    target: np.ndarray  # (N,) presented target, unscaled
    onset: int  # sample where the target starts
    rate: int

    def mix(self, snr_db: float) -> np.ndarray:
        span = self.background[self.onset : self.onset + len(self.target)]
        target = self.target[: len(span)]
        scale = np.sqrt(_power(span) / max(_power(target), 1e-12) * 10 ** (snr_db / 10))
        out = self.background.astype(np.float64).copy()
        out[self.onset : self.onset + len(target)] += scale * target
        peak = np.max(np.abs(out))
        return (out / peak * 0.95 if peak > 0.95 else out).astype(np.float32)


def render_trial(suite, scenario, index: int, trial: int) -> Trial:
    """Trial `trial` of scenario number `index`: deterministic in the suite's seed."""
    rng = np.random.default_rng([suite.seed, index, trial])
    rate, clip = suite.rate, suite.clip_s
    bg_src = scenario.background or suite.background
    background = source_wave(bg_src, rate, clip, rng, loop=True)
    background = np.pad(background, (0, int(round(clip * rate)) - len(background)))
    background = background / max(np.sqrt(_power(background)), 1e-9) * 0.05  # RMS 0.05
    target = source_wave(scenario.target, rate, clip - suite.onset_s, rng, loop=False)
    if scenario.approach:
        target = approach(target, rate, scenario.speed_mps, scenario.closest_m, scenario.doppler)
    return Trial(background.astype(np.float32), target, int(round(suite.onset_s * rate)), rate)
