"""Live captioning: one caption per hop for the last `window` seconds of a growing stream.

    from aac.streaming import stream_captions
    for r in stream_captions(captioner, chunks, window=10, hop=1, rate=16000):
        print(r.start, r.end, r.caption, r.latency_s, r.skipped)

`chunks` is any iterable of numpy arrays at `rate`: (T,) mono or (T, C) frames (mixed to
mono). A reader thread copies them into a bounded ring buffer holding the last
`window + 2 * hop` seconds; the captioning loop takes window j = [j*hop, j*hop + window)
once it is complete. Two modes:
  - realtime=True (live input): the loop always takes the newest complete window; windows
    it had no time for are dropped and counted in the next result's `skipped`. The reader
    never waits, so nothing queues and memory stays flat however far behind captioning is.
  - realtime=False (offline): every window is captioned; the reader waits while the ring is
    full (back-pressure), so memory is still bounded.
At the end of the stream a last window ending at the last sample covers any tail (a stream
shorter than one window gets one window over all of it), exactly as
`aac.windows.sliding_windows` cuts a file, so offline results equal
`captioner.caption_waves` on those windows. Each window is resampled to the encoder's rate
as a whole (no chunk-edge artefacts). `latency_s` is the wall time from the moment the
window's last sample reached the ring to the moment its caption is ready. A window
holding NaN or infinite samples is not captioned: its result carries `error` (how many
samples are bad) and captioning goes on with the next window.

`pcm_chunks` / `follow_file` read raw s16le/f32le PCM or WAV from stdin or a growing file;
`run_stream_cli` is what `aac-caption MODEL --stream SRC` calls.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from aac.audio import (
    AudioError,
    count_nonfinite,
    open_regular_file,
    read_wav_header,
    resample,
    to_mono,
)

PCM_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


@dataclass
class StreamResult:
    """The caption of one window; `skipped` counts windows dropped since the previous one.

    A window that cannot be captioned (NaN/Inf samples) has `caption` None and `error`.
    """

    start: float  # seconds from the start of the stream
    end: float
    caption: Optional[str]
    latency_s: float
    skipped: int = 0
    error: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Ring:
    """The last `capacity` mono samples of a stream, shared by one writer and one reader."""

    def __init__(self, capacity: int, win: int, hop: int, block: bool):
        self.data = np.zeros(capacity, dtype=np.float32)
        self.win, self.hop, self.block = win, hop, block
        self.total = 0  # samples written since the start
        self.floor = 0  # back-pressure: the writer never overwrites samples from here on
        self.ended = self.closed = False
        self.error: Optional[BaseException] = None
        self.last_write = time.monotonic()
        # (window index, monotonic time its last sample arrived); only recent ones matter
        self.arrivals: deque = deque(maxlen=capacity // hop + 4)
        self.cond = threading.Condition()

    def complete(self, total: Optional[int] = None) -> int:
        """Number of complete windows in the first `total` samples."""
        total = self.total if total is None else total
        return 0 if total < self.win else (total - self.win) // self.hop + 1

    def write(self, x: np.ndarray) -> None:
        """Append mono samples (len <= hop); waits for room when blocking."""
        cap = len(self.data)
        with self.cond:
            while self.block and not self.closed and self.total + len(x) - cap > self.floor:
                self.cond.wait()
            if self.closed:
                return
            pos = self.total % cap
            first = min(len(x), cap - pos)
            self.data[pos : pos + first] = x[:first]
            self.data[: len(x) - first] = x[first:]
            before, self.total = self.total, self.total + len(x)
            self.last_write = now = time.monotonic()
            for j in range(self.complete(before), self.complete()):
                self.arrivals.append((j, now))
            self.cond.notify_all()

    def read(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) as a copy; the caller holds the lock."""
        cap = len(self.data)
        assert self.total - cap <= start and end <= self.total, "window left the ring"
        idx = np.arange(start, end) % cap
        return self.data[idx]

    def arrival(self, j: int) -> float:
        for k, t in reversed(self.arrivals):
            if k == j:
                return t
        return self.last_write


def _feed(chunks: Iterable[np.ndarray], ring: _Ring) -> None:
    """Reader thread: chunks -> mono float32 pieces of at most one hop -> ring."""
    try:
        for chunk in chunks:
            x = np.asarray(chunk, dtype=np.float32)
            mono = to_mono(x.T) if x.ndim == 2 else x  # (T, C) frames -> (T,)
            for s in range(0, len(mono), ring.hop):
                ring.write(mono[s : s + ring.hop])
                if ring.closed:
                    return
    except BaseException as e:  # noqa: BLE001 - handed to the captioning loop, re-raised there
        ring.error = e
    finally:
        with ring.cond:
            ring.ended = True
            ring.cond.notify_all()


def _next_window(ring: _Ring, next_j: int, realtime: bool):
    """(j, start, end, samples, arrival time, skipped) of the next window, or None at the end.

    The samples are copied under the lock, and the back-pressure floor moves past them.
    The tail window (after the stream ended) gets index j = number of complete windows.
    """
    with ring.cond:
        while not ring.ended and ring.complete() <= next_j:
            ring.cond.wait()
        if ring.error is not None:
            raise ring.error
        n = ring.complete()
        if n > next_j:
            j = n - 1 if realtime else next_j
            start, end, arrived = j * ring.hop, j * ring.hop + ring.win, ring.arrival(j)
        else:  # ended: the tail no complete window covers (or a stream shorter than one)
            last_end = (n - 1) * ring.hop + ring.win if n else 0
            if next_j > n or ring.total == 0 or last_end >= ring.total:
                return None
            j, start, end, arrived = n, max(0, ring.total - ring.win), ring.total, ring.last_write
        wave = ring.read(start, end)  # (end - start,) at the stream's rate
        ring.floor = (j + 1) * ring.hop  # window j is copied: the writer may move on
        ring.cond.notify_all()
        return j, start, end, wave, arrived, j - next_j


def stream_captions(
    captioner,
    chunks: Iterable[np.ndarray],
    window: float,
    hop: float,
    rate: int,
    realtime: bool = True,
) -> Iterator[StreamResult]:
    """Yield a StreamResult per captioned window; see the module docstring."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive seconds")
    if hop > window:
        raise ValueError(f"hop ({hop} s) longer than the window ({window} s) leaves gaps")
    win, hop_n = max(1, int(round(window * rate))), max(1, int(round(hop * rate)))
    ring = _Ring(win + 2 * hop_n, win, hop_n, block=not realtime)
    reader = threading.Thread(
        target=_feed, args=(chunks, ring), daemon=True, name="aac-stream-reader"
    )
    reader.start()
    next_j = 0
    try:
        while True:
            found = _next_window(ring, next_j, realtime)
            if found is None:
                return
            j, start, end, wave, arrived, skipped = found
            caption, error = None, None
            bad = count_nonfinite(wave)
            if bad:
                error = f"{bad} of {len(wave)} samples are NaN or infinite"
            else:
                wave = resample(wave, rate, captioner.sample_rate)
                caption = captioner.caption_waves([np.ascontiguousarray(wave, np.float32)])[0]
            yield StreamResult(
                round(start / rate, 3),
                round(end / rate, 3),
                caption,
                round(time.monotonic() - arrived, 4),
                skipped,
                error,
            )
            next_j = j + 1
    finally:
        with ring.cond:  # a consumer that stops early releases a waiting reader
            ring.closed = True
            ring.cond.notify_all()


# ---- PCM sources --------------------------------------------------------------------------
def _frames(data: bytes, dtype: np.dtype, channels: int) -> np.ndarray:
    """Raw little-endian PCM bytes (a whole number of frames) -> float32 (T, C)."""
    x = np.frombuffer(data, dtype=dtype).reshape(-1, channels)
    if dtype.kind == "i":
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32)


def pcm_chunks(
    read,
    fmt: str,
    channels: int,
    block_bytes: int = 8192,
    idle_timeout: Optional[float] = None,
    poll: float = 0.05,
) -> Iterator[np.ndarray]:
    """Float32 (T, C) chunks from `read(n) -> bytes`.

    An empty read is the end (a pipe), or with `idle_timeout` a pause: the source is polled
    (a growing file) until it has not grown for `idle_timeout` seconds.
    """
    dtype = PCM_FORMATS[fmt]
    frame = dtype.itemsize * channels
    pending, idle_since = b"", None
    while True:
        data = read(block_bytes)
        if not data:
            if idle_timeout is None:
                break
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle_timeout:
                break
            time.sleep(poll)
            continue
        idle_since = None
        pending += data
        usable = len(pending) - len(pending) % frame
        if usable:
            yield _frames(pending[:usable], dtype, channels)
            pending = pending[usable:]


def open_source(src: str, rate: int, channels: int, fmt: str, timeout: float):
    """(chunks, rate) for `-` (raw PCM on stdin) or a growing WAV/raw file."""
    if src == "-":
        return pcm_chunks(sys.stdin.buffer.read1, fmt, channels), rate
    f = open_regular_file(src)  # a FIFO would block here: refused, like any non-regular file
    if src.lower().endswith(".wav"):
        try:
            header = read_wav_header(f, src)
            if header.fmt is None:
                raise AudioError(
                    f"{src}: WAV format {header.tag}/{header.bits}-bit; streaming reads "
                    "16-bit PCM or 32-bit float"
                )
        except BaseException:
            f.close()
            raise
        rate, channels, fmt = header.rate, header.channels, header.fmt

    def closing():
        with f:
            yield from pcm_chunks(f.read, fmt, channels, idle_timeout=timeout)

    return closing(), rate


def run_stream_cli(captioner, args, out=None) -> int:
    """`aac-caption MODEL --stream SRC`: JSON lines on stdout; a summary on stderr."""
    out = out or sys.stdout
    chunks, rate = open_source(
        args.stream, args.rate, args.channels, args.pcm_format, args.stream_timeout
    )
    done = skipped = failed = 0
    try:
        for r in stream_captions(
            captioner, chunks, args.window, args.hop or args.window, rate, realtime=not args.no_skip
        ):
            if r.error:
                print(
                    f"ERROR {args.stream} {r.start:.2f}-{r.end:.2f} s: {r.error}", file=sys.stderr
                )
            out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
            out.flush()
            done, failed = done + (r.error is None), failed + (r.error is not None)
            skipped += r.skipped
    except KeyboardInterrupt:  # Ctrl-C is how a live stream normally ends
        pass
    refused = f", {failed} refused (NaN or infinite samples)" if failed else ""
    print(
        f"aac-caption: {done} window(s) captioned, {skipped} skipped to keep up{refused}",
        file=sys.stderr,
    )
    return 0 if done else 1
