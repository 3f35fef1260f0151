"""aac-caption on hostile inputs (pipe-like names, FIFOs) and non-finite audio."""

import io
import json
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder
from hostile_inputs import PIPE_NAME, fifo_with_writer

from aac.bin.caption import main
from aac.testing import make_random_exp_dir

RATE = 16000


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    torch.set_num_threads(1)
    return make_random_exp_dir(
        tmp_path_factory.mktemp("exp"),
        encoder="logmel",
        model_conf=tiny_decoder(d_model=32, layers=1, max_length=8),
    )


def tone(seconds):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def run(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_a_file_named_like_a_pipe_is_read_as_a_file(exp, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / PIPE_NAME, tone(1.0), RATE, format="WAV", subtype="FLOAT")
    rc, out, err = run(capsys, [str(exp), PIPE_NAME, "--format", "json", "--quiet"])
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and row["file"] == PIPE_NAME and row["caption"], err
    assert not (tmp_path / "PWNED").exists()


def test_a_fifo_gets_an_error_line_and_the_rest_is_captioned(exp, tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, tone(1.0), RATE)
    with fifo_with_writer(tmp_path / "mic.wav") as fifo:
        rc, out, err = run(capsys, [str(exp), fifo, str(good), "--format", "json", "--quiet"])
        assert rc == 0
        bad, ok = [json.loads(line) for line in out.splitlines()]
        assert "not a regular file (a FIFO" in bad["error"] and ok["caption"]
        assert f"ERROR {fifo}: {fifo}: not a regular file (a FIFO" in err
        rc, out, err = run(capsys, [str(exp), "--stream", fifo, "--window", "1"])
        assert rc == 2 and out == ""
        assert err.strip().startswith("aac-caption: error:") and "a FIFO" in err
        assert len(err.strip().splitlines()) == 1


def test_a_nan_window_of_a_float_wav_is_an_error_line(exp, tmp_path, capsys):
    wave = tone(3.0)
    wave[2 * RATE + 5] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, wave, RATE, subtype="FLOAT")
    rc, out, err = run(capsys, [str(exp), str(path), "--window", "1", "--format", "json"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0
    assert [r["caption"] is not None for r in rows] == [True, True, False]
    message = "window 2.00-3.00 s: 1 of 16000 samples (at 16000 Hz) are NaN or infinite"
    assert rows[2]["error"] == message
    assert f"ERROR {path}: {message}" in err
    rc, out, err = run(capsys, [str(exp), str(path), "--quiet"])  # whole file: refused
    assert rc == 1 and out == ""
    assert f"ERROR {path}: {path}: 1 of 48000 samples are NaN or infinite" in err


@pytest.mark.parametrize("source", ["stdin", "wav"])
def test_stream_refuses_nan_windows_and_carries_on(exp, tmp_path, monkeypatch, capsys, source):
    wave = tone(3.0)
    wave[RATE + 10 : RATE + 20] = np.nan  # the second 1 s window
    if source == "stdin":
        stdin = type("Stdin", (), {"buffer": io.BytesIO(wave.astype("<f4").tobytes())})()
        monkeypatch.setattr(sys, "stdin", stdin)
        src = ["--stream", "-", "--pcm-format", "f32le"]
    else:
        sf.write(tmp_path / "nan.wav", wave, RATE, subtype="FLOAT")
        src = ["--stream", str(tmp_path / "nan.wav"), "--stream-timeout", "0.2"]
    rc, out, err = run(capsys, [str(exp), *src, "--window", "1", "--no-skip"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0
    assert [(r["start"], r["caption"] is not None) for r in rows] == [
        (0.0, True),
        (1.0, False),
        (2.0, True),
    ]
    assert rows[1]["error"] == "10 of 16000 samples are NaN or infinite"
    assert "ERROR" in err and "1.00-2.00 s: 10 of 16000 samples are NaN or infinite" in err
    assert "2 window(s) captioned, 0 skipped to keep up, 1 refused" in err
