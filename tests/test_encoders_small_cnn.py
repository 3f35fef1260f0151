"""cnn_small: shapes, frozen by default, trainable on request, strict checkpoint round trip."""

import pytest
import torch

from aac.checkpoint_io import CheckpointError, save_atomic
from aac.config import ConfigError
from aac.encoders import ENCODERS, build_encoder, set_trainable


def test_cnn_small_shapes_and_frame_count():
    enc = build_encoder("cnn_small", random_init=True)
    assert "cnn_small" in ENCODERS and enc.random_init
    assert 50_000 < sum(p.numel() for p in enc.parameters()) < 500_000
    wave = torch.randn(2, 16000 * 3)
    feats, lengths = enc(wave, torch.tensor([16000 * 3, 16000 * 2]))
    assert feats.shape == (2, enc.num_frames(16000 * 3), enc.output_dim)
    assert lengths.tolist() == [enc.num_frames(16000 * 3), enc.num_frames(16000 * 2)]
    assert enc.frame_rate == pytest.approx(3.125)
    short, _ = enc(torch.randn(1, 100))  # padded to min_samples: one frame
    assert short.shape[1] == 1


def test_built_frozen_then_trainable_then_frozen_again():
    enc = build_encoder("cnn_small", random_init=True)
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    set_trainable(enc)
    assert enc.training and all(p.requires_grad for p in enc.parameters())
    enc.encode(torch.randn(2, 16000)).sum().backward()
    assert enc.convs[0].weight.grad is not None
    set_trainable(enc, False)
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())


def test_checkpoint_round_trip_is_strict(tmp_path):
    enc = build_encoder("cnn_small", random_init=True, conf={"seed": 3})
    state = {k: v + 0.5 if v.is_floating_point() else v for k, v in enc.state_dict().items()}
    save_atomic(state, tmp_path / "enc.pt")
    loaded = build_encoder("cnn_small", checkpoint=str(tmp_path / "enc.pt"))
    assert not loaded.random_init and loaded.checkpoint_sha256
    assert torch.equal(loaded.convs[0].weight, state["convs.0.weight"])
    del state["bns.0.bias"]
    save_atomic(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bns.0.bias"):
        build_encoder("cnn_small", checkpoint=str(tmp_path / "bad.pt"))
    with pytest.raises(ConfigError, match="checkpoint"):
        build_encoder("cnn_small")
