"""aac.audio: path vs wav.scp entry points, non-regular files, block reads, the streaming
resampler, non-finite counts and the one WAV header parser."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from hostile_inputs import PIPE_NAME, fifo_with_writer, read_sizes

from aac import audio
from aac.audio import (
    AudioError,
    MonoBlocks,
    Resampler,
    audio_duration,
    file_duration,
    load_audio,
    load_audio_file,
    load_mono,
    load_mono_file,
    read_wav_header,
    resample,
    to_mono,
)


def noise(frames, channels=1, seed=0):
    x = np.random.default_rng(seed).normal(0, 0.2, (frames, channels)).astype(np.float32)
    return x[:, 0] if channels == 1 else x


@pytest.mark.parametrize(
    "orig,new", [(44100, 16000), (22050, 16000), (48000, 16000), (8000, 16000), (8012, 16000)]
)
def test_block_resampler_equals_whole_signal_resample(orig, new):
    rng = np.random.default_rng(orig)
    x = noise(orig * 2 + 37, seed=1)
    whole = resample(x, orig, new)
    r, out, i = Resampler(orig, new), [], 0
    while i < len(x):
        n = int(rng.integers(1, 7000))
        out.append(r(x[i : i + n]))
        i += n
    got = np.concatenate(out + [r.flush()])
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1e-5)
    assert len(r.kept) == 0 and r.flush().size == 0


def test_file_is_read_in_bounded_blocks_and_equals_the_whole_read(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    stereo = noise(44100 * 7, channels=2)
    sf.write(path, stereo, 44100, subtype="FLOAT")
    sizes = read_sizes(monkeypatch)
    mono = load_mono(str(path), 16000)  # the wav.scp entry point, a plain file
    assert len(sizes) > 1 and all(0 < n <= audio.BLOCK_FRAMES for n in sizes), sizes
    expected = resample(to_mono(stereo.T), 44100, 16000)
    np.testing.assert_allclose(mono, expected, atol=1e-5)
    blocks = MonoBlocks(str(path), 16000, block_frames=10000)
    np.testing.assert_allclose(np.concatenate(list(blocks)), expected, atol=1e-5)
    assert blocks.frames == 44100 * 7 and blocks.file_rate == 44100


def test_a_path_is_never_run_as_a_pipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for call in (load_audio_file, file_duration, lambda p: load_mono_file(p, 16000)):
        with pytest.raises(AudioError, match="no such file"):
            call(PIPE_NAME)
    sf.write(tmp_path / PIPE_NAME, noise(1600), 16000, format="WAV", subtype="FLOAT")
    wave, rate = load_audio_file(PIPE_NAME)  # a file of that name: read as a file
    assert rate == 16000 and wave.shape == (1, 1600)
    assert not (tmp_path / "PWNED").exists()
    # a wav.scp value the user wrote is still a pipe
    wave, _ = load_audio(f"cat '{PIPE_NAME}' |")
    assert wave.shape == (1, 1600)


def test_fifos_are_refused_unopened(tmp_path):
    with fifo_with_writer(tmp_path / "live.wav") as fifo:
        for call in (
            load_audio,
            load_audio_file,
            audio_duration,
            file_duration,
            lambda p: load_mono(p, 16000),
            lambda p: list(MonoBlocks(p, 16000)),
        ):
            with pytest.raises(AudioError, match=r"live\.wav: not a regular file \(a FIFO"):
                call(fifo)
    with pytest.raises(AudioError, match="not a regular file .a directory"):
        load_audio_file(str(tmp_path))


def test_non_finite_samples_are_counted(tmp_path):
    path = tmp_path / "nan.wav"
    x = noise(8000)
    x[[3, 10, 500]] = [np.nan, np.inf, -np.inf]
    sf.write(path, x, 16000, subtype="FLOAT")
    for call in (load_audio, lambda p: load_mono(p, 16000), lambda p: load_mono_file(p, 8000)):
        with pytest.raises(AudioError, match=r"nan\.wav: 3 of 8000 samples are NaN or infinite"):
            call(str(path))


def wav_bytes(fmt_body: bytes, data: bytes, extra=b"", data_size=None) -> bytes:
    size = len(data) if data_size is None else data_size
    chunks = extra + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    chunks += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_one_wav_header_parser(tmp_path):
    import aac.streaming

    assert aac.streaming.read_wav_header is audio.read_wav_header
    pcm = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    big_list = b"LIST" + struct.pack("<I", 0x7FFFFFF0)  # claims 2 GB: skipped by seeking
    h = read_wav_header(io.BytesIO(wav_bytes(pcm, b"\0" * 8)), "a.wav")
    assert (h.rate, h.channels, h.fmt, h.block_align, h.data_size) == (16000, 2, "s16le", 4, 8)
    ext = (
        struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 32000, 4, 32, 22, 32, 0)
        + struct.pack("<H", 3)
        + b"\0" * 14
    )
    h = read_wav_header(io.BytesIO(wav_bytes(ext, b"", data_size=0)), "b.wav")
    assert (h.rate, h.fmt, h.data_size) == (8000, "f32le", 0)  # a file still being written
    with pytest.raises(AudioError, match="c.wav: no data chunk"):
        read_wav_header(io.BytesIO(wav_bytes(pcm, b"", extra=big_list)[:60]), "c.wav")
    with pytest.raises(AudioError, match="d.wav: not a RIFF/WAVE file"):
        read_wav_header(io.BytesIO(b"OggS" + b"\0" * 40), "d.wav")
    path = tmp_path / "cut.wav"  # the truncation check uses the same parser
    path.write_bytes(wav_bytes(pcm, b"\0" * 40, data_size=400))
    assert audio.wav_header_frames(str(path)) == (100, 10)
