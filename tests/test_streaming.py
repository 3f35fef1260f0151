"""Live captioning: real-time pace, faster than real time (skips), offline identity, PCM input."""

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
from aac.speed import make_random_exp_dir
from aac.streaming import pcm_chunks, stream_captions
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


def chunks_of(wave, rate, chunk_s=0.1, speed=None):
    """Chunks of `chunk_s` seconds, delivered at `speed` x real time (None: at once)."""
    n = int(chunk_s * rate)
    for s in range(0, len(wave), n):
        if speed:
            time.sleep(chunk_s / speed)
        yield wave[s : s + n]


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


def test_real_time_pace_keeps_up(captioner):
    wave = scene(3.0, seed=2)
    t0 = time.monotonic()
    results = list(
        stream_captions(
            captioner, chunks_of(wave, RATE, 0.1, speed=1.0), window=1.0, hop=0.5, rate=RATE
        )
    )
    assert time.monotonic() - t0 >= 2.9  # the source really was paced
    spans, captions = offline_reference(captioner, wave, RATE, 1.0, 0.5)
    assert [(r.start, r.end) for r in results] == spans
    assert sum(r.skipped for r in results) == 0
    assert [r.caption for r in results] == captions
    assert all(0 <= r.latency_s < 0.5 for r in results), [r.latency_s for r in results]


class SlowCaptioner:
    """A captioner that needs `delay` seconds per window: it falls behind a fast source."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.sample_rate = inner, delay, inner.sample_rate

    def caption_waves(self, waves):
        time.sleep(self.delay)
        return self.inner.caption_waves(waves)


def test_faster_than_real_time_skips_and_says_so(captioner):
    wave = scene(6.0, seed=3)  # 11 windows of 1 s every 0.5 s
    slow = SlowCaptioner(captioner, delay=0.15)
    results = list(
        stream_captions(
            slow, chunks_of(wave, RATE, 0.1, speed=20.0), window=1.0, hop=0.5, rate=RATE
        )
    )
    starts = [r.start for r in results]
    assert starts == sorted(set(starts)) and all(s * 2 == int(s * 2) for s in starts)
    assert sum(r.skipped for r in results) > 0
    assert len(results) + sum(r.skipped for r in results) == 11  # every window accounted for
    assert results[-1].end == 6.0  # the newest window is never dropped
    spans, captions = offline_reference(captioner, wave, RATE, 1.0, 0.5)
    by_span = dict(zip(spans, captions))
    assert all(r.caption == by_span[(r.start, r.end)] for r in results)


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

    deadline = time.monotonic() + 5
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

        def append_later():
            time.sleep(0.3)
            with open(path, "ab") as g:  # what a recorder does: bytes appended
                g.write(wave[4000:].astype("<f4").tobytes())

        threading.Thread(target=append_later).start()
        with open(path, "rb") as src:
            info = read_wav_header(src)
            got = np.concatenate(
                list(pcm_chunks(src.read, info.fmt, info.channels, idle_timeout=1.0))
            )
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
