"""Audio loading for `wav.scp` values, with the checks real collections need.

A `wav.scp` value is one of (as ESPnet users write them):
  - a plain file path (may contain spaces, quotes, `&`, `#`, non-ASCII): read with soundfile,
    so wav/flac/ogg at any rate and channel count work;
  - a Kaldi pipe `sox in.flac -t wav - |`: run through kaldiio;
  - an ark path with offset `file.ark:1234` (optionally `[slice]`): read through kaldiio.

Every failure raises `AudioError` naming the source and what is wrong, so a stage can
skip the clip with a count instead of crashing on the 40,000th file.
"""

from __future__ import annotations

import re
from typing import Tuple

import numpy as np

from aac.errors import AacError

_ARK_OFFSET = re.compile(r":\d+(\[[^\]]*\])?$")


class AudioError(AacError, RuntimeError):
    """An unreadable, empty or corrupt clip; the message names the source."""


def spec_kind(spec: str) -> str:
    """'pipe', 'ark' or 'file' for a wav.scp value."""
    s = spec.strip()
    if s.endswith("|") or s.startswith("|"):
        return "pipe"
    if _ARK_OFFSET.search(s):
        return "ark"
    return "file"


def _read_kaldiio(spec: str) -> Tuple[np.ndarray, int]:
    import kaldiio

    loaded = kaldiio.load_mat(spec.strip())
    if not (isinstance(loaded, tuple) and len(loaded) == 2):
        raise AudioError(f"{spec}: not audio (kaldiio returned a feature matrix)")
    rate, data = loaded
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        # Kaldi wav readers return raw PCM; scale to [-1, 1) like soundfile does.
        scale = float(2 ** (8 * data.dtype.itemsize - 1))
        data = data.astype(np.float32) / scale
    data = data.astype(np.float32)
    data = data[None, :] if data.ndim == 1 else data.T  # (C, T)
    return data, int(rate)


def _read_soundfile(spec: str) -> Tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(spec, dtype="float32", always_2d=True)  # (T, C)
    return np.ascontiguousarray(data.T), int(rate)


def load_audio(spec: str) -> Tuple[np.ndarray, int]:
    """Read one clip as float32 (channels, samples) and its sample rate; checks content."""
    try:
        if spec_kind(spec) == "file":
            wave, rate = _read_soundfile(spec)
        else:
            wave, rate = _read_kaldiio(spec)
    except AudioError:
        raise
    except FileNotFoundError:
        raise AudioError(f"{spec}: file not found") from None
    except Exception as e:  # soundfile/kaldiio raise many types for corrupt files
        raise AudioError(f"{spec}: cannot read audio ({type(e).__name__}: {e})") from None
    if wave.size == 0 or wave.shape[-1] == 0:
        raise AudioError(f"{spec}: empty audio (0 samples)")
    if not np.isfinite(wave).all():
        raise AudioError(f"{spec}: audio contains NaN or infinite samples")
    if rate <= 0:
        raise AudioError(f"{spec}: invalid sample rate {rate}")
    return wave, rate


def to_mono(wave: np.ndarray) -> np.ndarray:
    """(C, T) -> (T,) by averaging channels."""
    return wave.mean(axis=0) if wave.ndim == 2 else wave


def resample(wave, orig_rate: int, target_rate: int):
    """Resample a (..., T) numpy array or tensor with torchaudio; returns the same kind."""
    if orig_rate == target_rate:
        return wave
    import torch
    import torchaudio.functional as AF

    is_numpy = isinstance(wave, np.ndarray)
    t = torch.from_numpy(wave) if is_numpy else wave
    out = AF.resample(t, orig_rate, target_rate)
    return out.numpy() if is_numpy else out


def load_mono(spec: str, target_rate: int) -> np.ndarray:
    """Read, mix to mono and resample to `target_rate`: float32 (T,)."""
    wave, rate = load_audio(spec)
    return np.ascontiguousarray(resample(to_mono(wave), rate, target_rate), dtype=np.float32)


def audio_duration(spec: str) -> float:
    """Duration in seconds; cheap (header only) for plain files."""
    if spec_kind(spec) == "file":
        import soundfile as sf

        try:
            info = sf.info(spec)
        except Exception as e:
            raise AudioError(f"{spec}: cannot read audio header ({type(e).__name__}: {e})") from None
        if info.frames <= 0:
            raise AudioError(f"{spec}: empty audio (0 samples)")
        return info.frames / info.samplerate
    wave, rate = load_audio(spec)
    return wave.shape[-1] / rate
