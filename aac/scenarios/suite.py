"""A scenario suite: what to present to a captioning model, and what it must answer, how fast.

Strict YAML through `aac.config` (unknown keys and wrong types are errors naming the key):

    clip_s: 8.0            # each test clip; the target starts at onset_s
    window: 4.0            # live captioning: `window` seconds captioned every `hop`
    hop: 1.0
    background: {sound: engine}            # or {files: [road/*.wav]}
    scenarios:
      - name: approaching_ambulance
        target: {sound: siren}             # a mini-corpus sound maker, or {files: [...]}
        snr_db: [10, 0, -10]
        approach: true                     # drives towards the listener: rising level
        doppler: true                      # pitch follows the radial speed
        detect: [siren, ambulance, emergency vehicle, police]
        latency_budget_s: 3.0

`detect` is a synonym set: a caption counts as a detection when, normalised like every
caption (`aac.text.normalize_caption`), it holds one of the phrases as whole words.
Relative `files` entries (glob patterns allowed) are resolved against the suite file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from aac.config import ConfigError, load_config
from aac.text import normalize_caption


@dataclass
class SourceConf:
    sound: Optional[str] = None  # a sound maker of aac.sounds.GENERATORS
    files: List[str] = field(default_factory=list)  # recordings (glob patterns allowed)
    count: int = 2  # repetitions, for sound makers that take one (dog, knock)


@dataclass
class ScenarioConf:
    name: str = ""
    target: SourceConf = field(default_factory=SourceConf)
    background: Optional[SourceConf] = None  # None: the suite's background
    snr_db: List[float] = field(default_factory=lambda: [20.0, 10.0, 0.0, -10.0])
    approach: bool = False  # the source moves towards the listener during the event
    doppler: bool = False  # ... and its pitch shifts with its radial speed
    speed_mps: float = 15.0  # source speed when approaching (15 m/s = 54 km/h)
    closest_m: float = 5.0  # distance at the end of the event
    detect: List[str] = field(default_factory=list)  # synonym set, any phrase counts
    latency_budget_s: float = 3.0  # event onset -> caption printed, p99 must be within
    min_recall: float = 0.8  # at every SNR >= pass_snr_db
    pass_snr_db: Optional[float] = None  # None: every SNR listed must reach min_recall
    max_false_alarm: float = 0.1  # share of background-only windows naming the target


@dataclass
class SuiteConf:
    clip_s: float = 8.0
    onset_s: float = 2.0  # the target starts here in every clip
    trials: int = 3  # clips per SNR (fresh renderings or other files); paired across SNRs
    window: float = 4.0
    hop: float = 1.0
    # audio fed at pace x real time (latency_s stays wall time); 0: offline judging, audio
    # fed as fast as it is captioned and no window skipped, so the verdict does not depend
    # on how busy the machine is (latency = audio seconds + each window's compute time)
    pace: float = 1.0
    rate: int = 32000  # synthesis rate; each window is resampled to the encoder's rate
    seed: int = 0
    background: SourceConf = field(default_factory=lambda: SourceConf(sound="engine"))
    scenarios: List[ScenarioConf] = field(default_factory=list)


def _check_source(src: SourceConf, where: str, base: Path) -> None:
    from aac.sounds import GENERATORS

    if (src.sound is None) == (not src.files):
        raise ConfigError(f"{where}: give either sound or files")
    if src.sound is not None and src.sound not in GENERATORS:
        raise ConfigError(
            f"{where}.sound: unknown sound {src.sound!r} (known: {', '.join(sorted(GENERATORS))})"
        )
    resolved = []
    for pattern in src.files:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        found = sorted(glob.glob(full))
        if not found:
            raise ConfigError(f"{where}.files: nothing matches {full}")
        resolved.extend(found)
    src.files = resolved


def load_suite(path: str | os.PathLike, overrides=()) -> SuiteConf:
    """Load and check a suite; `files` come back as absolute, existing paths."""
    suite = load_config(SuiteConf, path, overrides)
    base = Path(path).resolve().parent
    if not suite.scenarios:
        raise ConfigError(f"{path}: no scenarios")
    if not 0 <= suite.onset_s < suite.clip_s or suite.trials < 1 or suite.pace < 0:
        raise ConfigError(f"{path}: need 0 <= onset_s < clip_s, trials >= 1 and pace >= 0")
    if not 0 < suite.hop <= suite.window:
        raise ConfigError(f"{path}: need 0 < hop <= window")
    _check_source(suite.background, f"{path}: background", base)
    names = set()
    for i, sc in enumerate(suite.scenarios):
        where = f"{path}: scenarios[{i}]"
        if not sc.name or sc.name in names:
            raise ConfigError(f"{where}.name: empty or repeated {sc.name!r}")
        names.add(sc.name)
        if not sc.detect or not sc.snr_db:
            raise ConfigError(f"{where}: detect and snr_db need at least one entry")
        _check_source(sc.target, f"{where}.target", base)
        if sc.background is not None:
            _check_source(sc.background, f"{where}.background", base)
    return suite


def detects(caption: str, phrases: List[str]) -> bool:
    """True when the normalised caption holds one of `phrases` as whole words."""
    text = f" {normalize_caption(caption)} "
    return any(f" {normalize_caption(p)} " in text for p in phrases)
