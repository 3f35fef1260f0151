"""Chunked encoding of long clips (aac.encoders.chunking) against whole-clip encoding."""

import numpy as np
import pytest
import torch

from aac.encoders import build_encoder
from aac.encoders.chunking import chunk_geometry, encode_chunked


def waves(rate, seconds, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(rate * s) for s in seconds])
    return 0.1 * torch.randn(len(seconds), int(lengths.max()), generator=g), lengths


@pytest.mark.parametrize("conf", [{}, {"deltas": True}, {"group": 3}])
def test_logmel_chunks_equal_whole_clip_to_float_rounding(conf):
    """Chunks see the same frames; only the matrix shapes (and so BLAS's summation order)
    differ from the whole clip, by up to 9e-8 at values of order 1 (AMD EPYC)."""
    enc = build_encoder("logmel", conf=conf)
    wave, lengths = waves(16000, [7.3, 0.2, 3.0, 12.01])  # long, shorter than a chunk, ...
    full, full_len = enc(wave, lengths)
    for chunk in (0.5, 1.0, 2.37):
        feats, feat_len = encode_chunked(enc, wave, lengths, chunk_seconds=chunk)
        assert torch.equal(feat_len, full_len)
        torch.testing.assert_close(feats, full, rtol=0, atol=1e-6, msg=f"chunk {chunk} s")


def test_no_chunking_when_disabled_or_short():
    enc = build_encoder("logmel")
    wave, lengths = waves(16000, [1.0, 0.5])
    for chunk in (None, 0, 10.0):
        feats, _ = encode_chunked(enc, wave, lengths, chunk_seconds=chunk)
        assert torch.equal(feats, enc(wave, lengths)[0])  # the same call: identical


def test_chunk_boundaries_align_with_frames():
    for name, step in (
        ("logmel", 640),
        ("pann_cnn14", 10240),
        ("pann_cnn14_16k", 5120),
        ("dcase23_cnn14", 56448),
        ("beats", 2560),
    ):
        enc = build_encoder(name, random_init=name != "logmel")
        assert chunk_geometry(enc)[0] == step, name


def test_pann_chunks_equal_whole_clip_within_rounding():
    torch.manual_seed(0)
    enc = build_encoder("pann_cnn14_16k", random_init=True)
    wave, lengths = waves(16000, [9.0])
    full, full_len = enc(wave, lengths)  # (1, T', 2048)
    feats, feat_len = encode_chunked(enc, wave, lengths, chunk_seconds=1.0)
    assert torch.equal(feat_len, full_len)
    scale = full.abs().max()
    assert (feats - full).abs().max() <= 1e-5 * scale


def test_beats_chunks_are_independent_windows():
    """Documented behaviour: each chunk is encoded on its own samples only."""
    torch.manual_seed(0)
    enc = build_encoder("beats", random_init=True)
    wave, lengths = waves(16000, [3.2])
    step = chunk_geometry(enc)[0]
    feats, feat_len = encode_chunked(enc, wave, lengths, chunk_seconds=1.6)  # 10 patches
    first, _ = enc(wave[:, : 10 * step + 240], torch.tensor([10 * step + 240]))
    per_step = enc.num_frames(10 * step + 240) // 10
    np.testing.assert_allclose(feats[0, : 10 * per_step], first[0, : 10 * per_step], atol=1e-5)
    assert int(feat_len[0]) == enc.num_frames(int(lengths[0]))


def test_captioning_encodes_long_clips_in_the_chunks_the_cache_recorded(monkeypatch):
    from aac.captioning import encode_waves
    from aac.encoders import chunking

    enc = build_encoder("logmel")
    wave, lengths = waves(16000, [9.0, 2.0])
    clips = [wave[0].numpy(), wave[1, : int(lengths[1])].numpy()]
    seen = []
    real = chunking.encode_chunked

    def spy(encoder, batch, lens, chunk_seconds=60.0):
        seen.append(chunk_seconds)
        return real(encoder, batch, lens, chunk_seconds)

    monkeypatch.setattr(chunking, "encode_chunked", spy)
    feats, feat_len = encode_waves(enc, clips, extract_stride=2, chunk_seconds=1.5)
    full, full_len = enc(wave, lengths)
    assert seen == [1.5]
    assert torch.equal(feat_len, (full_len + 1) // 2)
    torch.testing.assert_close(feats, full[:, ::2], rtol=0, atol=1e-6)  # chunked vs whole


def test_cnn_small_chunks_match_the_whole_clip():
    enc = build_encoder("cnn_small", random_init=True)
    wave, lengths = waves(16000, [13.0, 7.0])
    full, full_len = enc(wave, lengths)
    feats, feat_len = encode_chunked(enc, wave, lengths, chunk_seconds=2.0)
    assert torch.equal(feat_len, full_len)
    assert torch.allclose(feats, full, atol=1e-6 * float(full.abs().max()))
