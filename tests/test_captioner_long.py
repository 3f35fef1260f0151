"""Captioner on long recordings (block reads, windows as they come), hostile paths and
non-finite audio."""

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder
from hostile_inputs import PIPE_NAME, fifo_with_writer, read_sizes

import aac.audio
from aac import Captioner
from aac.audio import AudioError
from aac.testing import make_random_exp_dir
from aac.windows import sliding_windows

RATE = 16000


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    torch.set_num_threads(1)
    exp = make_random_exp_dir(
        tmp_path_factory.mktemp("exp"),
        encoder="logmel",
        model_conf=tiny_decoder(d_model=32, layers=2, max_length=10),
        seed=3,
        weight_scale=10,
    )
    return Captioner.from_pretrained(exp, batch_size=3)


def scene(seconds, seed=0):
    """Half-second tones of changing pitch and level: windows get different captions."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    parts = [
        np.sin(2 * np.pi * rng.uniform(150, 3000) * t) * rng.uniform(0.02, 0.9)
        for _ in range(int(seconds * 2))
    ]
    return np.concatenate(parts).astype(np.float32)


def test_windows_are_captioned_as_the_file_is_read(captioner, tmp_path, monkeypatch):
    wave = scene(20.5)
    path = tmp_path / "long.wav"
    sf.write(path, wave, RATE, subtype="FLOAT")
    monkeypatch.setattr(aac.audio, "BLOCK_FRAMES", 1 << 14)
    sizes = read_sizes(monkeypatch)
    results = captioner.caption_iter([str(path)], window=1.0, hop=0.5)
    first = next(results)
    assert sum(sizes) < len(wave), "the first window's caption came before the whole read"
    results = [first, *results]
    assert len(sizes) > 1 and all(0 < n <= 1 << 14 for n in sizes), sizes
    windows = sliding_windows(len(wave), RATE, 1.0, 0.5)
    assert [(r.start, r.end) for r in results] == [(w.start_s, w.end_s) for w in windows]
    expected = captioner.caption_waves([wave[w.start : w.end] for w in windows])
    assert [r.caption for r in results] == expected
    assert len(set(expected)) >= 3, "captions must depend on the window for this to bite"


def test_a_path_ending_in_a_bar_is_a_file_never_a_command(captioner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = captioner.caption([PIPE_NAME])[0]
    assert missing.error == f"no such file: {PIPE_NAME}"
    sf.write(tmp_path / PIPE_NAME, scene(1.0), RATE, format="WAV", subtype="FLOAT")
    for window in (None, 0.5):
        results = captioner.caption([PIPE_NAME], window=window)
        assert results and all(r.ok for r in results), results
    assert not (tmp_path / "PWNED").exists()


def test_a_fifo_is_refused_and_the_others_captioned(captioner, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, scene(1.0), RATE, subtype="FLOAT")
    with fifo_with_writer(tmp_path / "mic.wav") as fifo:
        for window in (None, 1.0):
            bad, ok = captioner.caption([fifo, str(good)], window=window)
            assert "mic.wav: not a regular file (a FIFO" in bad.error
            assert ok.ok and ok.caption


def test_caption_array_refuses_non_finite_samples_with_their_count(captioner):
    wave = scene(1.0)
    wave[[5, 50]] = [np.nan, np.inf]
    with pytest.raises(AudioError, match=r"^audio array: 2 of 16000 samples are NaN or infinite"):
        captioner.caption_array(wave, RATE)
    stereo = np.stack([scene(1.0), scene(1.0)])
    stereo[1, 7] = -np.inf
    with pytest.raises(AudioError, match="1 of 32000 samples"):
        captioner.caption_array(stereo, 44100)


def test_a_nan_window_is_refused_and_the_other_windows_captioned(captioner, tmp_path):
    wave = scene(3.0)
    wave[RATE + 100 : RATE + 110] = np.nan  # inside the second 1 s window only
    path = tmp_path / "nan.wav"
    sf.write(path, wave, RATE, subtype="FLOAT")
    results = captioner.caption([str(path)], window=1.0)
    assert [(r.start, r.ok) for r in results] == [(0.0, True), (1.0, False), (2.0, True)]
    assert results[1].error == (
        "window 1.00-2.00 s: 10 of 16000 samples (at 16000 Hz) are NaN or infinite"
    )
    assert results[0].caption and results[2].caption
    (whole,) = captioner.caption([str(path)])
    assert whole.error == f"{path}: 10 of 48000 samples are NaN or infinite"
