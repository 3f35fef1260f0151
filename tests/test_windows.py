"""Input gathering and sliding windows (aac.windows)."""

import numpy as np
import pytest
import soundfile as sf

from aac.windows import InputError, check_window, gather_audio_files, sliding_windows


def test_windows_cover_recording_with_full_length_windows():
    rate = 100
    wins = sliding_windows(25 * rate, rate, window_s=10, hop_s=5)
    assert [(w.start_s, w.end_s) for w in wins] == [(0, 10), (5, 15), (10, 20), (15, 25)]
    wins = sliding_windows(23 * rate, rate, window_s=10, hop_s=5)
    # the hop grid stops at 10-20 s; one extra window ends exactly at the end
    assert [(w.start_s, w.end_s) for w in wins] == [(0, 10), (5, 15), (10, 20), (13, 23)]
    assert all(w.end - w.start == 10 * rate for w in wins)


def test_short_recording_is_one_window_and_bad_args_raise():
    (w,) = sliding_windows(350, 100, window_s=10, hop_s=5)
    assert (w.start, w.end, w.end_s) == (0, 350, 3.5)
    with pytest.raises(ValueError):
        sliding_windows(100, 100, window_s=0, hop_s=1)
    with pytest.raises(ValueError):
        sliding_windows(0, 100, window_s=1, hop_s=1)


def test_hop_larger_than_window_leaves_gaps_but_covers_end():
    wins = sliding_windows(10 * 8, 8, window_s=2, hop_s=3)
    assert [w.start_s for w in wins] == [0, 3, 6, 8]


def test_gather_recurses_sorted_and_keeps_named_files(tmp_path):
    tone = np.zeros(160, dtype=np.float32)
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    sf.write(tmp_path / "d" / "b.wav", tone, 16000)
    sf.write(tmp_path / "d" / "sub" / "a.flac", tone, 16000)
    sf.write(tmp_path / "d" / "sub" / "c.ogg", tone, 16000)
    sf.write(tmp_path / "d" / ".hidden" / "x.wav", tone, 16000)
    (tmp_path / "d" / "notes.txt").write_text("not audio")
    (tmp_path / "odd.bin").write_bytes(b"named explicitly")
    files = gather_audio_files([tmp_path / "odd.bin", tmp_path / "d"])
    rel = [str(p).replace(str(tmp_path) + "/", "") for p in files]
    assert rel == ["odd.bin", "d/b.wav", "d/sub/a.flac", "d/sub/c.ogg"]


def test_gather_errors_name_the_path(tmp_path):
    with pytest.raises(InputError, match="missing.wav: no such file"):
        gather_audio_files([tmp_path / "missing.wav"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no audio"):
        gather_audio_files([tmp_path / "empty"])


@pytest.mark.parametrize(
    "window, hop, rate, min_samples, message",
    [
        (float("nan"), None, None, None, "--window nan"),
        (2.0, float("inf"), None, None, "--hop inf"),
        (0.0, None, None, None, "--window 0.0"),
        (2.0, 3.0, None, None, "longer than --window"),
        (0.01, None, 16000, 400, "shorter than the encoder's smallest input (0.025 s)"),
    ],
)
def test_check_window_refuses_windows_that_cannot_work(window, hop, rate, min_samples, message):
    with pytest.raises(InputError) as e:
        check_window(window, hop, rate, min_samples)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "accepted, refused, message",
    [
        # hop == window is the longest hop without gaps; one sample longer leaves one
        ((2.0, 2.0, None, None), (2.0, 2.0 + 1 / 16000, None, None), "longer than --window"),
        # a window of exactly the encoder's smallest input; one sample shorter is too short
        ((0.025, None, 16000, 400), (399 / 16000, None, 16000, 400), "smallest input"),
    ],
    ids=["hop", "min_samples"],
)
def test_check_window_limits_are_exactly_where_they_are_said_to_be(accepted, refused, message):
    check_window(*accepted)  # no error
    with pytest.raises(InputError, match=message):
        check_window(*refused)
