"""Stage 3 on long clips: read block by block, same features; FIFOs in wav.scp refused."""

import numpy as np
import soundfile as sf
import torch
from hostile_inputs import fifo_with_writer, read_sizes

import aac.audio
from aac.audio import load_mono
from aac.encoders import build_encoder
from aac.encoders.chunking import encode_blocks, encode_chunked
from aac.features import FeatureReader
from aac.features.extract import extract_features

RATE = 16000


def noise(seconds, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * RATE)).astype(np.float32)


def test_a_long_clip_is_encoded_from_bounded_reads(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    enc = build_encoder("logmel")
    long_wave, short_wave = noise(12.3), noise(0.7, seed=1)
    sf.write(tmp_path / "long.wav", long_wave, RATE, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", short_wave, RATE, subtype="FLOAT")
    clips = [("long", str(tmp_path / "long.wav")), ("short", str(tmp_path / "short.wav"))]
    monkeypatch.setattr(aac.audio, "BLOCK_FRAMES", 1 << 14)
    sizes = read_sizes(monkeypatch)
    result = extract_features(enc, clips, str(tmp_path / "feats.h5"), chunk_seconds=1.0)
    assert result.written == 2 and not result.skipped
    assert len(sizes) > 1 and all(0 < n <= 1 << 14 for n in sizes), sizes
    with FeatureReader(result.output) as feats:
        for clip_id, wave in (("long", long_wave), ("short", short_wave)):
            w = torch.from_numpy(wave)[None]
            expected, _ = encode_chunked(enc, w, torch.tensor([w.shape[1]]), chunk_seconds=1.0)
            np.testing.assert_allclose(feats[clip_id], expected[0].numpy(), atol=1e-5)


def test_encode_blocks_equals_encode_chunked_on_the_whole_clip():
    torch.set_num_threads(1)
    enc = build_encoder("logmel", conf={"deltas": True})
    wave = torch.from_numpy(noise(7.77, seed=2))
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(wave), 9))
    blocks = [wave[a:b] for a, b in zip([0, *cuts], [*cuts, len(wave)])]
    for chunk in (0.5, 2.37):
        whole, _ = encode_chunked(enc, wave[None], chunk_seconds=chunk)
        assert torch.equal(encode_blocks(enc, iter(blocks), chunk), whole[0])


def test_a_fifo_in_wav_scp_is_skipped_with_its_reason(tmp_path):
    enc = build_encoder("logmel")
    sf.write(tmp_path / "ok.wav", noise(0.5), RATE)
    with fifo_with_writer(tmp_path / "live.wav") as fifo:
        clips = [("live", fifo), ("ok", str(tmp_path / "ok.wav"))]
        result = extract_features(enc, clips, str(tmp_path / "feats.h5"))
    assert result.written == 1 and list(result.skipped) == ["live"]
    assert "not a regular file (a FIFO" in result.skipped["live"]
    assert load_mono(f"cat {tmp_path}/ok.wav |", RATE).shape == (8000,)  # pipes still work
