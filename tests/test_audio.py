import shutil

import numpy as np
import pytest
import soundfile as sf

from aac.audio import AudioError, audio_duration, load_audio, load_mono, resample, spec_kind


def tone(rate, seconds=0.5, channels=1, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def test_spec_kinds():
    assert spec_kind("/data/a b (1).wav") == "file"
    assert spec_kind("sox in.flac -t wav - |") == "pipe"
    assert spec_kind("/x/feats.ark:1234") == "ark"
    assert spec_kind("/x/feats.ark:12[0:100]") == "ark"
    assert spec_kind("/x/odd:name.wav") == "file"


@pytest.mark.parametrize("rate", [8000, 8012, 11025, 44100, 48000])
def test_odd_rates_stereo_and_quirky_names(tmp_path, rate):
    path = tmp_path / "a b (1) & c#'é.flac"
    sf.write(path, tone(rate, channels=2), rate)
    wave, sr = load_audio(str(path))
    assert sr == rate and wave.shape == (2, int(rate * 0.5))
    mono = load_mono(str(path), 16000)
    assert mono.dtype == np.float32 and abs(len(mono) - 8000) <= 1
    assert audio_duration(str(path)) == pytest.approx(0.5, abs=1e-3)


def test_resample_preserves_tone_energy():
    x = tone(44100, seconds=1.0)
    y = resample(x, 44100, 16000)
    assert len(y) == 16000
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav"):
        load_audio(str(tmp_path / "missing.wav"))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(AudioError, match="corrupt.wav: cannot read"):
        load_audio(str(corrupt))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(str(empty))
    nan = tmp_path / "nan.wav"
    x = tone(16000)
    x[10] = np.nan
    sf.write(nan, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(str(nan))


def test_kaldi_ark_offset(tmp_path):
    kaldiio = pytest.importorskip("kaldiio")
    x = (tone(16000) * 32767).astype(np.int16)
    ark = tmp_path / "audio.ark"
    scp = tmp_path / "audio.scp"
    kaldiio.save_ark(str(ark), {"utt1": (16000, x)}, scp=str(scp))
    spec = scp.read_text().split(None, 1)[1].strip()
    wave, sr = load_audio(spec)
    assert sr == 16000 and wave.shape == (1, 8000)
    np.testing.assert_allclose(wave[0], x / 32768.0, atol=1e-6)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_kaldi_pipe_with_sox(tmp_path):
    src = tmp_path / "in put.flac"
    sf.write(src, tone(32000), 32000)
    wave, sr = load_audio(f"sox '{src}' -t wav - |")
    assert sr == 32000 and wave.shape == (1, 16000)


def test_failing_pipe_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError):
        load_audio(f"cat {tmp_path}/nothing.wav |")


def test_failing_pipe_names_command_status_and_stderr(tmp_path):
    with pytest.raises(AudioError, match=r"^pipe command failed \(exit 1\): false: no stderr$"):
        load_audio("false |")
    with pytest.raises(
        AudioError,
        match=r"pipe command failed \(exit 1\): cat .*nothing\.wav: "
        r".*No such file or directory",
    ):
        load_audio(f"cat {tmp_path}/nothing.wav |")


def test_pipe_output_is_read_like_the_file(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(16000), 16000, subtype="PCM_16")
    piped, rate = load_audio(f"cat '{path}' |")
    assert rate == 16000 and np.array_equal(piped, load_audio(str(path))[0])


def test_missing_file_says_no_such_file(tmp_path):
    missing = tmp_path / "gone.wav"
    with pytest.raises(AudioError, match=f"^no such file: {missing}$"):
        load_audio(str(missing))
    with pytest.raises(AudioError, match="no such file"):
        audio_duration(str(missing))


def test_truncated_wav_warns_with_both_lengths(tmp_path, caplog):
    path = tmp_path / "cut.wav"
    sf.write(path, tone(32000), 16000, subtype="PCM_16")  # 16000 frames of 2 bytes
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2 * 5000])
    with caplog.at_level("WARNING", logger="aac.audio"):
        wave, _ = load_audio(str(path))
    assert wave.shape == (1, 11000)
    assert (
        f"{path}: truncated WAV: header says 16000 frames, data holds 11000 frames" in caplog.text
    )
    caplog.clear()
    sf.write(path, tone(32000), 16000, subtype="PCM_16")
    with caplog.at_level("WARNING", logger="aac.audio"):
        load_audio(str(path))
    assert "truncated" not in caplog.text
