"""Audio inputs for captioning: gathering files from directories and sliding windows.

`gather_audio_files(["a.wav", "dir/"])` expands directories recursively to the audio files
soundfile can read (by extension) and keeps explicitly named files whatever their
extension, so a broken or mislabelled file still gets its own error line downstream.

`sliding_windows(num_samples, rate, window_s, hop_s)` cuts a long recording into
full-length windows every `hop_s` seconds; the last window is moved back to end exactly
at the end of the recording so that the tail is always covered. `iter_windows(blocks,
rate, window_s, hop_s)` cuts the same windows from a recording that arrives in blocks
(aac.audio.MonoBlocks), holding about one window, so a long file is captioned in flat
memory.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Tuple

import numpy as np

from aac.errors import AacError

# Extensions soundfile (libsndfile) reads; `oga`/`opus` live in an Ogg container.
AUDIO_EXTENSIONS = frozenset(
    {
        "wav",
        "wave",
        "flac",
        "ogg",
        "oga",
        "opus",
        "mp3",
        "aiff",
        "aif",
        "aifc",
        "au",
        "snd",
        "caf",
        "w64",
        "rf64",
        "sd2",
        "voc",
        "nist",
        "sph",
        "wve",
        "htk",
        "paf",
        "pvf",
        "ircam",
        "sf",
        "xi",
        "mat",
        "avr",
        "svx",
        "mpc",
    }
)


class InputError(AacError, ValueError):
    """An audio input that does not exist or a directory holding no audio."""


def is_audio_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower().lstrip(".") in AUDIO_EXTENSIONS


def gather_audio_files(inputs: Iterable[str | os.PathLike]) -> List[str]:
    """Expand files and directories (recursively, sorted) into a list of file paths.

    Named files are kept as given even with an unknown extension; missing paths raise
    `InputError`. Hidden files and directories (name starting with '.') are skipped.
    """
    out: List[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.is_file()
                and is_audio_name(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(
                    f"{path}: directory holds no audio files "
                    f"(looked for {', '.join(sorted(AUDIO_EXTENSIONS)[:6])}, ...)"
                )
            out.extend(found)
        elif path.exists():
            out.append(str(path))
        else:
            raise InputError(f"{path}: no such file or directory")
    return out


@dataclass(frozen=True)
class Window:
    """A segment [start, end) of a recording, in samples, with its times in seconds."""

    start: int
    end: int
    rate: int

    @property
    def start_s(self) -> float:
        return self.start / self.rate

    @property
    def end_s(self) -> float:
        return self.end / self.rate


def sliding_windows(num_samples: int, rate: int, window_s: float, hop_s: float) -> List[Window]:
    """Full-length windows every `hop_s` seconds covering all `num_samples` samples.

    A recording shorter than one window gives a single window over all of it. When the
    hop grid leaves a tail uncovered, one extra window ending at the last sample is added
    (it overlaps its neighbour more than `hop_s`; a short last window would caption a
    fragment the model never saw in training).
    """
    win, hop = _window_sizes(rate, window_s, hop_s)
    if num_samples <= 0:
        raise ValueError("cannot window an empty recording")
    if num_samples <= win:
        return [Window(0, num_samples, rate)]
    starts = list(range(0, num_samples - win + 1, hop))
    if starts[-1] + win < num_samples:
        starts.append(num_samples - win)
    return [Window(s, s + win, rate) for s in starts]


def _window_sizes(rate: int, window_s: float, hop_s: float) -> Tuple[int, int]:
    if window_s <= 0 or hop_s <= 0:
        raise ValueError(f"window ({window_s}) and hop ({hop_s}) must be positive seconds")
    return max(1, int(round(window_s * rate))), max(1, int(round(hop_s * rate)))


def iter_windows(
    blocks: Iterable[np.ndarray], rate: int, window_s: float, hop_s: float
) -> Iterator[Tuple[Window, np.ndarray]]:
    """(window, its samples) for the windows `sliding_windows` cuts, from (t,) blocks.

    Each window is yielded as soon as its last sample has arrived; the tail window (or
    the one window of a recording shorter than a window) once the blocks end. Holds at
    most one window plus one block of samples.
    """
    win, hop = _window_sizes(rate, window_s, hop_s)
    buf, buf_start, total, start = np.zeros(0, np.float32), 0, 0, 0  # start: next window
    last_end = 0
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, dtype=np.float32)])
        total += len(block)
        while start + win <= total:
            yield Window(start, start + win, rate), buf[start - buf_start :][:win].copy()
            last_end, start = start + win, start + hop
        keep = max(buf_start, min(start, total - win))  # the next window or the tail's start
        buf, buf_start = buf[keep - buf_start :], keep
    if total == 0:
        raise ValueError("cannot window an empty recording")
    if last_end < total:  # the tail, or all of a recording shorter than one window
        first = max(0, total - win)
        yield Window(first, total, rate), buf[first - buf_start :].copy()


def check_window(
    window_s: float,
    hop_s: Optional[float] = None,
    sample_rate: Optional[int] = None,
    min_samples: Optional[int] = None,
) -> None:
    """Refuse window/hop values that cannot caption a recording properly (`InputError`).

    Non-finite or non-positive values, a hop longer than the window (the audio between
    two windows would never be captioned) and, given the encoder's `sample_rate` and
    `min_samples`, a window shorter than the encoder's smallest input.
    """
    hop_s = window_s if hop_s is None else hop_s
    for name, value in (("--window", window_s), ("--hop", hop_s)):
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"{name} {value}: must be a positive, finite number of seconds")
    if hop_s > window_s:
        raise InputError(
            f"--hop {hop_s} is longer than --window {window_s}: the audio between "
            "windows would be left uncaptioned"
        )
    if sample_rate and min_samples and round(window_s * sample_rate) < min_samples:
        raise InputError(
            f"--window {window_s}: shorter than the encoder's smallest input "
            f"({min_samples / sample_rate:.3f} s)"
        )
