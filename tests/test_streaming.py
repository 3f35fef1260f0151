"""Live captioning: real-time pace, faster than real time (skips), offline identity, PCM input.

Pace tests need no clock: the source and the captioner take turns through events, so
"keeps up" and "falls behind" are set up exactly rather than hoped for on a busy machine.
"""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder

from aac import Captioner
from aac.audio import AudioError, read_wav_header, resample
from aac.streaming import pcm_chunks, stream_captions
from aac.testing import make_random_exp_dir
from aac.windows import sliding_windows

RATE = 16000
TINY = tiny_decoder(d_model=32, layers=2, max_length=10)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    torch.set_num_threads(1)
    # weight_scale 10: captions depend on the audio, so window mix-ups would show
    return make_random_exp_dir(
        tmp_path_factory.mktemp("exp"), encoder="logmel", model_conf=TINY, seed=3, weight_scale=10
    )


@pytest.fixture(scope="module")
def captioner(exp):
    return Captioner.from_pretrained(exp)


def scene(seconds, rate=RATE, seed=0):
    """Half-second segments of different tones and noise levels: windows differ."""
    rng = np.random.default_rng(seed)
    seg = int(0.5 * rate)
    parts = []
    for _ in range(int(np.ceil(seconds / 0.5))):
        t = np.arange(seg) / rate
        tone = np.sin(2 * np.pi * rng.uniform(150, 3000) * t) * rng.uniform(0.02, 0.9)
        parts.append(tone + rng.normal(0, rng.uniform(0, 0.3), seg))
    return np.concatenate(parts)[: int(seconds * rate)].astype(np.float32)


def chunks_of(wave, rate, chunk_s=0.1):
    """Chunks of `chunk_s` seconds, handed over as fast as they are taken."""
    n = int(chunk_s * rate)
    for s in range(0, len(wave), n):
        yield wave[s : s + n]


WAIT_S = 60  # only so that a broken hand-over fails instead of hanging


def wait(event_or_semaphore):
    got = (
        event_or_semaphore.wait(WAIT_S)
        if isinstance(event_or_semaphore, threading.Event)
        else event_or_semaphore.acquire(timeout=WAIT_S)
    )
    assert got, "the other side of the hand-over never came"


class Notifying:
    """Captions with `inner`; calls `before()` first and `after()` once a caption is done."""

    def __init__(self, inner, before=None, after=None):
        self.inner, self.sample_rate = inner, inner.sample_rate
        self.before, self.after = before or (lambda: None), after or (lambda: None)

    def caption_waves(self, waves):
        self.before()
        out = self.inner.caption_waves(waves)
        self.after()
        return out


def offline_reference(captioner, wave, rate, window, hop):
    wins = sliding_windows(len(wave), rate, window, hop)
    waves = [resample(wave[w.start : w.end], rate, captioner.sample_rate) for w in wins]
    return [(round(w.start_s, 3), round(w.end_s, 3)) for w in wins], captioner.caption_waves(waves)


@pytest.mark.parametrize("seconds", [3.3, 0.7])
def test_offline_captions_every_hop_as_caption_waves(captioner, seconds):
    wave = scene(seconds)
    results = list(
        stream_captions(
            captioner, chunks_of(wave, RATE, 0.13), window=1.0, hop=0.5, rate=RATE, realtime=False
        )
    )
    spans, captions = offline_reference(captioner, wave, RATE, 1.0, 0.5)
    assert [(r.start, r.end) for r in results] == spans  # 3.3 s: ends with a tail window
    assert [r.caption for r in results] == captions
    assert all(r.skipped == 0 for r in results)
    if seconds > 3:
        assert len(set(captions)) >= 3, "captions must depend on the window for this to bite"


def test_stereo_44k_chunks_are_mixed_and_resampled_per_window(captioner):
    mono = np.round(scene(2.0, rate=44100, seed=1) * 1024) / 1024  # mixing below is exact
    stereo = np.stack([mono * 0.5, mono * 1.5], axis=1)  # (T, C), mean == mono
    results = list(
        stream_captions(
            captioner,
            chunks_of(stereo, 44100, 0.2),
            window=1.0,
            hop=0.5,
            rate=44100,
            realtime=False,
        )
    )
    _, captions = offline_reference(captioner, mono, 44100, 1.0, 0.5)
    assert [r.caption for r in results] == captions


def test_realtime_mode_captions_every_window_while_captioning_keeps_up(captioner):
    """The source hands over the chunk completing window j + 1 only once window j has
    its caption: captioning keeps up by construction, so nothing may be skipped."""
    wave = scene(3.0, seed=2)  # windows of 1 s every 0.5 s end on 0.1 s chunk edges
    captioned = threading.Semaphore(0)

    def source():
        confirmed = 0
        for k, chunk in enumerate(chunks_of(wave, RATE, 0.1)):
            end = (k + 1) * len(chunk)
            complete = 0 if end < RATE else (end - RATE) // (RATE // 2) + 1
            while confirmed < complete - 1:
                wait(captioned)
                confirmed += 1
            yield chunk

    paced = Notifying(captioner, after=captioned.release)
    results = list(stream_captions(paced, source(), window=1.0, hop=0.5, rate=RATE))
    spans, captions = offline_reference(captioner, wave, RATE, 1.0, 0.5)
    assert [(r.start, r.end) for r in results] == spans
    assert [r.skipped for r in results] == [0] * len(spans)
    assert [r.caption for r in results] == captions
    assert all(r.latency_s >= 0 for r in results)


def test_realtime_mode_skips_to_the_newest_window_when_captioning_falls_behind(captioner):
    """Window 0's caption takes until the whole 6 s have arrived: the loop must then skip
    windows 1..9 (and say so) and caption the newest one, 5-6 s."""
    wave = scene(6.0, seed=3)  # 11 windows of 1 s every 0.5 s
    started, arrived = threading.Event(), threading.Event()

    def source():
        for k, chunk in enumerate(chunks_of(wave, RATE, 0.1)):
            if k == 10:  # window 0 is complete; go on once it is being captioned
                wait(started)
            yield chunk
        arrived.set()

    def stall_until_everything_arrived():
        started.set()
        wait(arrived)

    stalled = Notifying(captioner, before=stall_until_everything_arrived)
    results = list(stream_captions(stalled, source(), window=1.0, hop=0.5, rate=RATE))
    assert [(r.start, r.end) for r in results] == [(0.0, 1.0), (5.0, 6.0)]
    assert [r.skipped for r in results] == [0, 9]  # every window accounted for
    spans, captions = offline_reference(captioner, wave, RATE, 1.0, 0.5)
    by_span = dict(zip(spans, captions))
    assert all(r.caption == by_span[(r.start, r.end)] for r in results)


class SlowCaptioner:
    """A captioner that needs `delay` seconds per window (no bound on it is asserted)."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.sample_rate = inner, delay, inner.sample_rate

    def caption_waves(self, waves):
        time.sleep(self.delay)
        return self.inner.caption_waves(waves)


def test_offline_mode_never_skips_a_slow_captioner(captioner):
    wave = scene(2.5, seed=4)
    slow = SlowCaptioner(captioner, delay=0.05)
    results = list(
        stream_captions(
            slow, chunks_of(wave, RATE, 0.5), window=1.0, hop=0.5, rate=RATE, realtime=False
        )
    )
    assert [r.start for r in results] == [0.0, 0.5, 1.0, 1.5] and not any(
        r.skipped for r in results
    )


def test_source_errors_reach_the_consumer_and_early_stop_releases_reader(captioner):
    def broken():
        yield scene(1.2)
        raise AudioError("microphone unplugged")

    with pytest.raises(AudioError, match="unplugged"):
        list(stream_captions(captioner, broken(), window=1.0, hop=0.5, rate=RATE))
    endless = (scene(0.5, seed=i) for i in range(10**6))
    gen = stream_captions(captioner, endless, window=1.0, hop=0.5, rate=RATE, realtime=False)
    assert next(gen).start == 0.0
    gen.close()  # must release the reader, blocked by back-pressure

    def readers():
        return [t for t in threading.enumerate() if t.name == "aac-stream-reader"]

    deadline = time.monotonic() + WAIT_S  # a hang guard, not a speed bound
    while readers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not readers()


def test_pcm_chunks_join_split_frames_and_follow_a_growing_wav(tmp_path):
    x = (np.arange(-50, 50) * 300).astype("<i2").reshape(-1, 2)  # (50, 2) s16le frames
    raw = x.tobytes()
    pieces = iter([raw[:7], raw[7:101], raw[101:], b""])
    got = np.concatenate(list(pcm_chunks(lambda n: next(pieces), "s16le", 2)))
    np.testing.assert_allclose(got, x / 32768.0)

    path = tmp_path / "live.wav"
    wave = scene(1.0)
    with sf.SoundFile(path, "w", RATE, 1, subtype="FLOAT") as f:  # header written first
        f.write(wave[:4000])
        f.flush()

        appended = []

        def read(n):  # the recorder appends the rest once the reader has caught up
            data = src.read(n)
            if not data and not appended:
                with open(path, "ab") as g:  # what a recorder does: bytes appended
                    g.write(wave[4000:].astype("<f4").tobytes())
                appended.append(True)
            return data

        with open(path, "rb") as src:
            info = read_wav_header(src)
            got = np.concatenate(list(pcm_chunks(read, info.fmt, info.channels, idle_timeout=1.0)))
    assert (info.rate, info.channels, info.fmt) == (RATE, 1, "f32le")
    np.testing.assert_array_equal(got[:, 0], wave)


@pytest.mark.slow  # a fresh interpreter imports torch: 10-20 s on a busy machine
def test_cli_streams_s16le_from_stdin(exp, captioner):
    wave = scene(2.4, seed=5)
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aac.bin.caption",
            str(exp),
            "--stream",
            "-",
            "--rate",
            str(RATE),
            "--pcm-format",
            "s16le",
            "--window",
            "1",
            "--hop",
            "0.5",
            "--no-skip",
        ],
        input=pcm.tobytes(),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    spans, captions = offline_reference(captioner, pcm / 32768.0, RATE, 1.0, 0.5)
    assert [(d["start"], d["end"]) for d in lines] == spans
    assert [d["caption"] for d in lines] == captions
    assert all(
        set(d) == {"start", "end", "caption", "latency_s", "skipped", "error"} for d in lines
    )
    assert not any(d["error"] for d in lines)
    assert f"{len(spans)} window(s) captioned, 0 skipped" in proc.stderr.decode()


def test_captioner_stream_is_the_streaming_api(monkeypatch):
    import aac.streaming
    from aac.captioner import Captioner

    calls = []

    def fake(captioner, chunks, window, hop, rate, realtime=True):
        calls.append((captioner, list(chunks), window, hop, rate, realtime))
        return iter(["r"])

    monkeypatch.setattr(aac.streaming, "stream_captions", fake)
    c = object.__new__(Captioner)
    assert list(c.stream([np.zeros(4)], 2.0, 0.5, 16000, realtime=False)) == ["r"]
    assert calls[0][0] is c and calls[0][2:] == (2.0, 0.5, 16000, False)
