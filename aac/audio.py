"""Audio loading: paths a user gives, and `wav.scp` values a user wrote.

Two kinds of entry point, kept apart on purpose:
  - a PATH (the Captioner API, aac-caption, corpus files): `load_audio_file`,
    `load_mono_file`, `MonoBlocks` (block by block), `file_duration`. A path is only ever
    a file name: a name ending in `|` or `:123` is a file of that name, never run as a
    command or read at an offset.
  - a WAV.SCP VALUE (data/<set>/wav.scp, the extraction and decoding stages): `load_audio`,
    `load_mono`, `scp_mono_blocks`, `audio_duration`. As ESPnet users write them, one of
      - a plain file path (may contain spaces, quotes, `&`, `#`, non-ASCII): read with
        soundfile, so wav/flac/ogg at any rate and channel count work;
      - a Kaldi pipe `sox in.flac -t wav - |`: run through the shell, its output read with
        soundfile; a command that fails says so with its exit status and the end of its
        stderr;
      - an ark path with offset `file.ark:1234` (optionally `[slice]`): read through kaldiio.

Only regular files are opened: a FIFO, device, socket or directory is refused before it is
opened (opening a FIFO waits for a writer, possibly forever). Long files are read
`BLOCK_FRAMES` frames at a time, mixed to mono and resampled block by block (`Resampler`
keeps the filter's history across blocks and gives the whole-signal result), so memory
follows the block, not the recording.

Every failure raises `AudioError` naming the source and what is wrong, so a stage can
skip the clip with a count instead of crashing on the 40,000th file. Non-finite samples
are refused with their count. A WAV file whose data is shorter than its header says (a
truncated copy) is read as far as it goes, with a warning naming the file and both
lengths. `read_wav_header` is the one RIFF/WAVE header parser (truncation check here,
growing files in aac.streaming).
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

from aac.errors import AacError

_ARK_OFFSET = re.compile(r":\d+(\[[^\]]*\])?$")
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # what writers to a pipe put in a WAV's size fields
BLOCK_FRAMES = 1 << 18  # frames per read of a file: 6 s at 44.1 kHz, 3 MB as float32 stereo
# torchaudio.functional.resample's defaults (sinc_interp_hann), which Resampler follows
_LOWPASS_WIDTH, _ROLLOFF = 6, 0.99
log = logging.getLogger(__name__)


class AudioError(AacError, RuntimeError):
    """An unreadable, empty, non-finite or corrupt clip; the message names the source."""


def count_nonfinite(x: np.ndarray) -> int:
    return int(x.size - np.count_nonzero(np.isfinite(x)))


def check_finite(wave: np.ndarray, what: str, bad: Optional[int] = None) -> None:
    """AudioError naming how many samples of `wave` are NaN or infinite, if any are."""
    bad = count_nonfinite(wave) if bad is None else bad
    if bad:
        raise AudioError(f"{what}: {bad} of {wave.size} samples are NaN or infinite")


# ---- the one WAV header parser -------------------------------------------------------
@dataclass(frozen=True)
class WavHeader:
    rate: int
    channels: int
    tag: int  # 1 PCM, 3 IEEE float (the real tag of WAVE_FORMAT_EXTENSIBLE)
    bits: int
    block_align: int
    data_offset: int  # where the first sample is
    data_size: int  # as the header says; 0 or 0xFFFFFFFF from a writer to a pipe

    @property
    def fmt(self) -> Optional[str]:
        """'s16le' or 'f32le' (the raw formats aac.streaming reads), else None."""
        return {(1, 16): "s16le", (3, 32): "f32le"}.get((self.tag, self.bits))


def read_wav_header(f, name: Optional[str] = None) -> WavHeader:
    """Parse a RIFF/WAVE header from binary file `f`, leaving `f` at the first sample.

    Chunks other than `fmt ` are skipped by seeking, so a header announcing a huge chunk
    costs nothing. Raises AudioError when there is no RIFF/WAVE, fmt or data chunk.
    """
    name = name or getattr(f, "name", "stream")
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a RIFF/WAVE file")
    fmt = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise AudioError(f"{name}: no data chunk in the WAV header")
        cid, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if cid == b"data":
            if fmt is None:
                raise AudioError(f"{name}: WAV data before its fmt chunk")
            return WavHeader(*fmt, data_offset=f.tell(), data_size=size)
        if cid != b"fmt ":
            f.seek(size + size % 2, os.SEEK_CUR)
            continue
        body = f.read(min(size, 64))
        f.seek(size + size % 2 - len(body), os.SEEK_CUR)
        if len(body) < 16:
            raise AudioError(f"{name}: WAV fmt chunk of {len(body)} bytes (16 at least)")
        tag, channels = (int.from_bytes(body[i : i + 2], "little") for i in (0, 2))
        rate = int.from_bytes(body[4:8], "little")
        align, bits = (int.from_bytes(body[i : i + 2], "little") for i in (12, 14))
        if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: real tag in the GUID
            tag = int.from_bytes(body[24:26], "little")
        fmt = (rate, channels, tag, bits, align)


def wav_header_frames(path: str) -> Optional[Tuple[int, int]]:
    """(frames the header announces, frames the data holds) of a WAV file, else None."""
    with open(path, "rb") as f:
        try:
            h = read_wav_header(f, path)
        except AudioError:
            return None
    if not h.block_align or h.data_size in _STREAMING_SIZES:
        return None
    available = os.path.getsize(path) - h.data_offset
    return h.data_size // h.block_align, min(h.data_size, available) // h.block_align


def _warn_if_truncated(path: str) -> None:
    try:
        lengths = wav_header_frames(path)
    except OSError:
        return  # soundfile has opened it; an odd header is not worth failing for
    if lengths and lengths[1] < lengths[0]:
        log.warning(
            "%s: truncated WAV: header says %d frames, data holds %d frames; "
            "using the %d frames present",
            path,
            lengths[0],
            lengths[1],
            lengths[1],
        )


# ---- paths: regular files only -------------------------------------------------------
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (opening it would wait for a writer)"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_irregular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        what = next((w for test, w in _NOT_REGULAR if test(mode)), "not a regular file")
        raise AudioError(f"{path}: not a regular file ({what}); refusing to read it")


def check_regular_file(path: str) -> None:
    """AudioError unless `path` is a regular file (checked without opening it)."""
    try:
        _refuse_irregular(path, os.stat(path).st_mode)
    except OSError as e:
        raise AudioError(f"{path}: {e.strerror}") from None


def open_regular_file(path: str):
    """A binary file object for `path`, refused unless it is a regular file.

    os.stat comes first so that nothing else is ever opened (opening a FIFO blocks, a
    device may act); the non-blocking open and fstat catch a swap in between.
    """
    try:
        _refuse_irregular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise AudioError(f"no such file: {path}") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot open ({e.strerror})") from None
    f = os.fdopen(fd, "rb")
    try:
        _refuse_irregular(path, os.fstat(fd).st_mode)
    except AudioError:
        f.close()
        raise
    return f


@contextmanager
def _open_soundfile(path: str, what: str = "audio"):
    """soundfile.SoundFile over a regular file; read errors become AudioError."""
    import soundfile as sf

    with open_regular_file(path) as raw:
        try:
            with sf.SoundFile(raw) as snd:
                yield snd
        except AudioError:
            raise
        except Exception as e:  # soundfile raises many types for corrupt files
            raise AudioError(f"{path}: cannot read {what} ({type(e).__name__}: {e})") from None


def _check_content(wave: np.ndarray, rate: int, source: str, bad: Optional[int] = None) -> None:
    if wave.size == 0 or wave.shape[-1] == 0:
        raise AudioError(f"{source}: empty audio (0 samples)")
    check_finite(wave, source, bad)
    if rate <= 0:
        raise AudioError(f"{source}: invalid sample rate {rate}")


def load_audio_file(path: str) -> Tuple[np.ndarray, int]:
    """A file PATH as float32 (channels, samples) and its rate; checks content."""
    path = os.fspath(path)
    with _open_soundfile(path) as snd:
        data, rate = snd.read(dtype="float32", always_2d=True), int(snd.samplerate)  # (T, C)
    _warn_if_truncated(path)
    wave = np.ascontiguousarray(data.T)  # (C, T)
    _check_content(wave, rate, path)
    return wave, rate


def file_duration(path: str) -> float:
    """Duration in seconds of a file PATH from its header."""
    path = os.fspath(path)
    with _open_soundfile(path, "audio header") as snd:
        frames, rate = snd.frames, snd.samplerate
    if frames <= 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    return frames / rate


# ---- mono, resampling, block by block ------------------------------------------------
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


class Resampler:
    """`resample` of a signal given block by block: the whole-signal result, to rounding.

    torchaudio computes output group k (`new` samples, rates divided by their gcd) from
    input [k*orig - width, (k+1)*orig + width). Each call resamples the kept history plus
    the new block, returns the groups whose input is complete, and keeps `reach` samples
    of history before the next group (a whole number of groups, so groups stay aligned).
    `flush()` returns the rest, as the whole signal's zero padding would make it.
    """

    def __init__(self, orig_rate: int, target_rate: int):
        self.rates = (int(orig_rate), int(target_rate))
        g = math.gcd(*self.rates)
        self.orig, self.new = self.rates[0] // g, self.rates[1] // g
        width = math.ceil(_LOWPASS_WIDTH * self.orig / (min(self.orig, self.new) * _ROLLOFF))
        self.reach = (width // self.orig + 2) * self.orig  # >= width + orig, whole groups
        self.kept = np.zeros(0, dtype=np.float32)  # input from sample `start` on
        self.start = self.done = 0  # done: groups returned so far

    def _emit(self, end_group: Optional[int]) -> np.ndarray:
        """Groups [done, end_group) (None: to the end); drops history no longer needed."""
        first = self.start // self.orig  # group of kept[0]
        out = resample(self.kept, *self.rates)[(self.done - first) * self.new :]
        if end_group is not None:
            out = out[: (end_group - self.done) * self.new]
            self.done = end_group
            drop = max(0, self.done * self.orig - self.reach - self.start)
            self.kept, self.start = self.kept[drop:], self.start + drop
        return np.ascontiguousarray(out, dtype=np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.rates[0] == self.rates[1]:
            return x
        self.kept = np.concatenate([self.kept, x])
        ready = (self.start + len(self.kept) - self.reach) // self.orig
        return self._emit(ready) if ready > self.done else np.zeros(0, np.float32)

    def flush(self) -> np.ndarray:
        if self.rates[0] == self.rates[1] or not len(self.kept):
            return np.zeros(0, np.float32)
        out = self._emit(None)
        self.kept = np.zeros(0, dtype=np.float32)
        return out


class MonoBlocks:
    """A file PATH as mono float32 blocks at `rate`, read `block_frames` frames at a time.

        for block in MonoBlocks("long.wav", 16000):  # (t,) pieces; their concatenation is
            ...                                      # load_mono_file("long.wav", 16000)

    Nothing but a block, the resampler's history and its output is held. `nonfinite`
    counts the NaN/Inf samples read so far (after mixing, at the file's rate), `frames`
    the frames read; blocks are yielded as they are (the caller decides what to refuse).
    """

    def __init__(self, path: str, rate: int, block_frames: Optional[int] = None):
        self.path, self.rate = os.fspath(path), int(rate)
        self.block_frames = int(block_frames or BLOCK_FRAMES)
        self.frames = self.nonfinite = 0
        self.file_rate: Optional[int] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        with _open_soundfile(self.path) as snd:
            self.file_rate = int(snd.samplerate)
            _warn_if_truncated(self.path)
            resampler = Resampler(snd.samplerate, self.rate)
            while True:
                block = snd.read(self.block_frames, dtype="float32", always_2d=True)  # (t, C)
                if not len(block):
                    break
                mono = to_mono(block.T)  # (t,)
                self.frames += len(mono)
                self.nonfinite += count_nonfinite(mono)
                yield resampler(mono)
            if not self.frames:
                raise AudioError(f"{self.path}: empty audio (0 samples)")
            yield resampler.flush()


def load_mono_file(path: str, target_rate: int) -> np.ndarray:
    """A file PATH read block by block, mixed to mono, resampled: float32 (T,)."""
    blocks = MonoBlocks(path, target_rate)
    wave = np.concatenate(list(blocks))
    if blocks.nonfinite:
        raise AudioError(
            f"{blocks.path}: {blocks.nonfinite} of {blocks.frames} samples are NaN or infinite"
        )
    return wave


# ---- wav.scp values: files, Kaldi pipes, ark offsets ---------------------------------
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


def _read_pipe(spec: str) -> Tuple[np.ndarray, int]:
    """Run `cmd |`; its stdout is the audio (any format soundfile reads)."""
    import soundfile as sf

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
        data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(
            f"pipe command output is not audio ({type(e).__name__}): {command}"
        ) from None
    return np.ascontiguousarray(data.T), int(rate)


def load_audio(spec: str) -> Tuple[np.ndarray, int]:
    """A WAV.SCP VALUE as float32 (channels, samples) and its sample rate; checks content."""
    kind = spec_kind(spec)
    if kind == "file":
        return load_audio_file(spec)
    try:
        wave, rate = _read_pipe(spec) if spec.strip().endswith("|") else _read_kaldiio(spec)
    except AudioError:
        raise
    except FileNotFoundError as e:
        raise AudioError(f"no such file: {e.filename or spec}") from None
    except Exception as e:  # kaldiio raises many types for corrupt files
        raise AudioError(f"{spec}: cannot read audio ({type(e).__name__}: {e})") from None
    _check_content(wave, rate, spec)
    return wave, rate


def load_mono(spec: str, target_rate: int) -> np.ndarray:
    """A WAV.SCP VALUE read, mixed to mono and resampled to `target_rate`: float32 (T,)."""
    if spec_kind(spec) == "file":
        return load_mono_file(spec, target_rate)
    wave, rate = load_audio(spec)
    return np.ascontiguousarray(resample(to_mono(wave), rate, target_rate), dtype=np.float32)


def scp_mono_blocks(spec: str, target_rate: int) -> Iterable[np.ndarray]:
    """A WAV.SCP VALUE as mono blocks at `target_rate`: a file block by block (MonoBlocks,
    NaN/Inf refused at the end), a pipe or ark entry as one block (they arrive whole)."""
    if spec_kind(spec) != "file":
        return [load_mono(spec, target_rate)]
    return _finite_blocks(MonoBlocks(spec, target_rate))


def _finite_blocks(blocks: MonoBlocks) -> Iterator[np.ndarray]:
    for block in blocks:
        if blocks.nonfinite:
            raise AudioError(
                f"{blocks.path}: {blocks.nonfinite} of the first {blocks.frames} samples "
                "are NaN or infinite"
            )
        yield block


def audio_duration(spec: str) -> float:
    """Duration in seconds of a WAV.SCP VALUE; cheap (header only) for plain files."""
    if spec_kind(spec) == "file":
        return file_duration(spec)
    wave, rate = load_audio(spec)
    return wave.shape[-1] / rate
