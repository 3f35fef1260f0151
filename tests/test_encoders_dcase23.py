"""DCASE 2023 baseline Cnn14: official key set, strict loading, frontend, pins."""

import importlib.util

import numpy as np
import pytest
import torch

from aac.encoders import build_encoder
from aac.encoders.dcase23 import HOP, LOG_OFFSET, N_FFT, NUM_MELS, WIN

CHANNELS = [64, 128, 256, 512, 1024, 2048]


def official_dcase23_keys(out_dim=300):
    """From felixgontier/dcase-2023-baseline audio_encoders.py CNN14Encoder (8 modules per block)."""
    t = {}

    def bn(prefix, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            t[f"{prefix}.{name}"] = (c,)
        t[f"{prefix}.num_batches_tracked"] = ()

    bn("bn0", 64)
    c_in = 1
    for b, c in enumerate(CHANNELS):
        t[f"cnn.{8 * b}.weight"] = (c, c_in, 3, 3)
        bn(f"cnn.{8 * b + 1}", c)
        t[f"cnn.{8 * b + 3}.weight"] = (c, c, 3, 3)
        bn(f"cnn.{8 * b + 4}", c)
        c_in = c
    t.update(
        {
            "fc.1.weight": (2048, 2048),
            "fc.1.bias": (2048,),
            "fc2.weight": (out_dim, 2048),
            "fc2.bias": (out_dim,),
        }
    )
    return t


def synthetic_state(table, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in table.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            out[k] = torch.rand(s, generator=g) + 0.5
        else:
            fan_in = int(np.prod(s[1:])) if len(s) > 1 else 1
            out[k] = torch.randn(s, generator=g) / fan_in**0.5
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("d23") / "audio_encoder.pth"
    torch.save(synthetic_state(official_dcase23_keys(), seed=4), path)  # a raw state dict
    return str(path)


def test_official_keys_strict_both_ways(checkpoint):
    enc = build_encoder("dcase23_cnn14", checkpoint=checkpoint)
    assert {k: tuple(v.shape) for k, v in enc.state_dict().items()} == official_dcase23_keys()


def test_out_dim_follows_checkpoint(tmp_path):
    path = tmp_path / "enc.pth"
    torch.save(synthetic_state(official_dcase23_keys(out_dim=128)), path)
    enc = build_encoder("dcase23_cnn14", checkpoint=str(path))
    assert enc.fc2.out_features == 128


def test_frames_and_pins(checkpoint):
    enc = build_encoder("dcase23_cnn14", checkpoint=checkpoint)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 44100 * 3, generator=g) * 0.1
    with torch.no_grad():
        feats, n = enc(x)
    assert enc.sample_rate == 44100 and n.tolist() == [enc.num_frames(44100 * 3)] == [2]
    np.testing.assert_allclose(
        [feats.mean().item(), feats.std().item(), feats[0, 0, :3].sum().item()],
        PINNED,
        rtol=1e-3,
        atol=1e-5,
    )


PINNED = [0.62402, 0.94495, 3.854366]


def test_frontend_matches_librosa():
    if importlib.util.find_spec("librosa") is None:
        pytest.skip("librosa (test-only reference) is not installed")
    import librosa

    enc = build_encoder("dcase23_cnn14", random_init=True)
    g = np.random.default_rng(0)
    y = (g.standard_normal(44100) * 0.1).astype(np.float32)
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=44100,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=WIN,
        n_mels=NUM_MELS,
        pad_mode="constant",
    )
    ref = np.log(ref + LOG_OFFSET).T  # (T, M)
    got = enc.logmel(torch.from_numpy(y)[None])[0].numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-3
