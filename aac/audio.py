"""Audio loading for `wav.scp` values, with the checks real collections need.

A `wav.scp` value is one of (as ESPnet users write them):
  - a plain file path (may contain spaces, quotes, `&`, `#`, non-ASCII): read with soundfile,
    so wav/flac/ogg at any rate and channel count work;
  - a Kaldi pipe `sox in.flac -t wav - |`: run through the shell, its output read with
    soundfile; a command that fails says so with its exit status and the end of its stderr;
  - an ark path with offset `file.ark:1234` (optionally `[slice]`): read through kaldiio.

Every failure raises `AudioError` naming the source and what is wrong, so a stage can
skip the clip with a count instead of crashing on the 40,000th file. A WAV file whose
data is shorter than its header says (a truncated copy) is read as far as it goes, with
a warning naming the file and both lengths.
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import subprocess
from typing import Optional, Tuple

import numpy as np

from aac.errors import AacError

_ARK_OFFSET = re.compile(r":\d+(\[[^\]]*\])?$")
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # what writers to a pipe put in a WAV's size fields
log = logging.getLogger(__name__)


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


def _read_soundfile(source) -> Tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(source, dtype="float32", always_2d=True)  # (T, C)
    return np.ascontiguousarray(data.T), int(rate)


def wav_header_frames(path: str) -> Optional[Tuple[int, int]]:
    """(frames the header announces, frames the data holds) of a PCM WAV, else None."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
            if chunk_id == b"fmt ":
                fmt = f.read(size)
                block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
                f.seek(size % 2, os.SEEK_CUR)
            elif chunk_id == b"data":
                if not block_align or size in _STREAMING_SIZES:
                    return None
                available = os.path.getsize(path) - f.tell()
                return size // block_align, min(size, available) // block_align
            else:
                f.seek(size + size % 2, os.SEEK_CUR)


def _warn_if_truncated(path: str) -> None:
    try:
        lengths = wav_header_frames(path)
    except (OSError, struct.error):
        return  # soundfile has read it; an odd header is not worth failing for
    if lengths and lengths[1] < lengths[0]:
        log.warning(
            "%s: truncated WAV: header says %d frames, data holds %d frames; "
            "using the %d frames present",
            path,
            lengths[0],
            lengths[1],
            lengths[1],
        )


def _read_pipe(spec: str) -> Tuple[np.ndarray, int]:
    """Run `cmd |`; its stdout is the audio (any format soundfile reads)."""
    command = spec.strip()[:-1].strip()
    proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode(errors="replace").split())[-300:]
        raise AudioError(
            f"pipe command failed (exit {proc.returncode}): {command}: {tail or 'no stderr'}"
        )
    if not proc.stdout:
        raise AudioError(f"pipe command produced no audio: {command}")
    try:
        return _read_soundfile(io.BytesIO(proc.stdout))
    except Exception as e:
        raise AudioError(
            f"pipe command output is not audio ({type(e).__name__}): {command}"
        ) from None


def load_audio(spec: str) -> Tuple[np.ndarray, int]:
    """Read one clip as float32 (channels, samples) and its sample rate; checks content."""
    kind = spec_kind(spec)
    if kind == "file" and not os.path.exists(spec):
        raise AudioError(f"no such file: {spec}")
    try:
        if kind == "file":
            wave, rate = _read_soundfile(spec)
            _warn_if_truncated(spec)
        elif spec.strip().endswith("|"):
            wave, rate = _read_pipe(spec)
        else:
            wave, rate = _read_kaldiio(spec)
    except AudioError:
        raise
    except FileNotFoundError as e:
        raise AudioError(f"no such file: {e.filename or spec}") from None
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

        if not os.path.exists(spec):
            raise AudioError(f"no such file: {spec}")
        try:
            info = sf.info(spec)
        except Exception as e:
            raise AudioError(
                f"{spec}: cannot read audio header ({type(e).__name__}: {e})"
            ) from None
        if info.frames <= 0:
            raise AudioError(f"{spec}: empty audio (0 samples)")
        return info.frames / info.samplerate
    wave, rate = load_audio(spec)
    return wave.shape[-1] / rate
