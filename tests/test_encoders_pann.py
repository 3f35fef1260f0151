"""PANN Cnn14: official key set, strict loading, rate check, reference equality, pins."""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from aac.encoders import CheckpointError, build_encoder

CHANNELS = [64, 128, 256, 512, 1024, 2048]


def official_cnn14_keys(n_fft):
    """Key -> shape table written from qiuqiangkong/audioset_tagging_cnn pytorch/models.py Cnn14."""
    bins = n_fft // 2 + 1
    table = {
        "spectrogram_extractor.stft.conv_real.weight": (bins, 1, n_fft),
        "spectrogram_extractor.stft.conv_imag.weight": (bins, 1, n_fft),
        "logmel_extractor.melW": (bins, 64),
    }

    def bn(prefix, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            table[f"{prefix}.{name}"] = (c,)
        table[f"{prefix}.num_batches_tracked"] = ()

    bn("bn0", 64)
    c_in = 1
    for i, c in enumerate(CHANNELS, 1):
        table[f"conv_block{i}.conv1.weight"] = (c, c_in, 3, 3)
        table[f"conv_block{i}.conv2.weight"] = (c, c, 3, 3)
        bn(f"conv_block{i}.bn1", c)
        bn(f"conv_block{i}.bn2", c)
        c_in = c
    table.update(
        {
            "fc1.weight": (2048, 2048),
            "fc1.bias": (2048,),
            "fc_audioset.weight": (527, 2048),
            "fc_audioset.bias": (527,),
        }
    )
    return table


def synthetic_state(table, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in table.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif "stft" in key or "melW" in key:
            state[key] = torch.rand(shape, generator=g) * 0.1
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return state


def fixed_wave(rate, seconds=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(rate * seconds)) / rate
    return (0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(len(t), generator=g))[None]


@pytest.mark.parametrize("name,n_fft", [("pann_cnn14", 1024), ("pann_cnn14_16k", 512)])
def test_official_keys_load_strict_both_ways(tmp_path, name, n_fft):
    table = official_cnn14_keys(n_fft)
    path = tmp_path / "ckpt.pth"
    torch.save({"model": synthetic_state(table), "iteration": 0}, path)
    enc = build_encoder(name, checkpoint=str(path))
    got = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert got == table  # every key and shape, both directions
    assert enc.checkpoint_sha256 is not None and len(enc.checkpoint_sha256) == 64
    assert not enc.random_init


def test_rate_mismatch_refused(tmp_path):
    path = tmp_path / "Cnn14_16k.pth"
    torch.save({"model": synthetic_state(official_cnn14_keys(512))}, path)
    with pytest.raises(CheckpointError, match=r"16000 Hz Cnn14.*pann_cnn14_16k"):
        build_encoder("pann_cnn14", checkpoint=str(path))


def test_frames_and_batch_invariance(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": synthetic_state(official_cnn14_keys(512))}, path)
    enc = build_encoder("pann_cnn14_16k", checkpoint=str(path))
    assert enc.frame_rate == 3.125 and enc.output_dim == 2048
    a, b = fixed_wave(16000, 1.3, 1)[0], fixed_wave(16000, 0.9, 2)[0]
    batch = torch.nn.utils.rnn.pad_sequence([a, b], batch_first=True)
    with torch.no_grad():
        feats, lengths = enc(batch, torch.tensor([len(a), len(b)]))
        alone, _ = enc(b[None])
    assert lengths.tolist() == [enc.num_frames(len(a)), enc.num_frames(len(b))]
    assert torch.allclose(feats[1, : lengths[1]], alone[0], atol=1e-5)
    assert torch.all(feats[1, lengths[1] :] == 0)


def test_pinned_output(tmp_path):
    """Regression pin: synthetic seeded weights, fixed 1 s input, 16 kHz Cnn14."""
    path = tmp_path / "ckpt.pth"
    torch.save({"model": synthetic_state(official_cnn14_keys(512), seed=3)}, path)
    enc = build_encoder("pann_cnn14_16k", checkpoint=str(path))
    with torch.no_grad():
        feats, lengths = enc(fixed_wave(16000))
    assert feats.shape == (1, 3, 2048) and lengths.tolist() == [3]
    np.testing.assert_allclose(
        [feats.mean().item(), feats.std().item(), feats[0, 0, :3].sum().item()],
        PINNED,
        rtol=1e-3,
        atol=1e-5,
    )


PINNED = [0.589856, 0.918784, 1.483531]
# The README's bound against panns-inference, relative to the largest output. Measured
# 2.2e-8 at outputs up to 0.18 (AMD EPYC, 1 thread): float32 summation order only.
REL_TOL = 1e-6


def _import_reference():
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or importlib.util.find_spec("torchlibrosa") is None:
        pytest.skip("panns-inference (test-only reference) is not installed")
    pkg_dir = Path(spec.origin).parent
    # A bare package object: importing panns_inference itself downloads a label file.
    pkg = types.ModuleType("_panns_ref")
    pkg.__path__ = [str(pkg_dir)]
    sys.modules.setdefault("_panns_ref", pkg)
    return importlib.import_module("_panns_ref.models")


@pytest.mark.parametrize(
    "rate,cfg", [(16000, (512, 160, 64, 50, 8000)), (32000, (1024, 320, 64, 50, 14000))]
)
def test_matches_panns_inference_reference(tmp_path, rate, cfg):
    models = _import_reference()
    torch.manual_seed(0)
    ref = models.Cnn14(rate, *cfg, classes_num=527).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random weights and BN statistics, frontend kept from torchlibrosa
        for key, value in ref.state_dict().items():
            if "extractor" in key or key.endswith("num_batches_tracked"):
                continue
            if key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=g) + 0.5)
            else:
                value.copy_(torch.randn(value.shape, generator=g) * 0.05)
    path = tmp_path / "ref.pth"
    torch.save({"model": ref.state_dict()}, path)
    enc = build_encoder("pann_cnn14" if rate == 32000 else "pann_cnn14_16k", checkpoint=str(path))
    wave = fixed_wave(rate, 1.5)
    with torch.no_grad():
        x = ref.logmel_extractor(ref.spectrogram_extractor(wave))
        x = ref.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(1, 7):
            x = getattr(ref, f"conv_block{i}")(
                x, pool_size=(2, 2) if i < 6 else (1, 1), pool_type="avg"
            )
        expected = x.mean(dim=3).transpose(1, 2)
        got, _ = enc(wave)
    diff, scale = (got - expected).abs().max().item(), expected.abs().max().item()
    print(f"PANN {rate} Hz max abs diff vs panns_inference: {diff:.3g} (scale {scale:.3g})")
    assert got.shape == expected.shape
    assert diff <= REL_TOL * scale  # README: "within 1e-6 of the largest output"


def test_own_frontend_matches_torchlibrosa():
    """--random-init PANN builds the frontend itself; it must equal the official one."""
    models = _import_reference()
    ref = models.Cnn14(16000, 512, 160, 64, 50, 8000, 527)
    enc = build_encoder("pann_cnn14_16k", random_init=True)
    for key in (
        "spectrogram_extractor.stft.conv_real.weight",
        "spectrogram_extractor.stft.conv_imag.weight",
        "logmel_extractor.melW",
    ):
        diff = (enc.state_dict()[key] - ref.state_dict()[key]).abs().max().item()
        assert diff < 1e-5, key


@pytest.mark.parametrize("shape", [(1, 64, 40, 16), (3, 64, 6, 2)], ids=["conv", "matmul"])
def test_inference_conv_block_equals_module_path(shape):
    """The folded/unfolded inference path (both branches) equals conv -> bn -> relu."""
    from aac.encoders.pann import ConvBlock

    torch.manual_seed(0)
    block = ConvBlock(64, 32).eval()
    for bn in (block.bn1, block.bn2):  # non-trivial running statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(shape)
    with torch.enable_grad():
        expected = block(x, pool=2)  # grad mode: the module path
    with torch.inference_mode():
        got = block(x, pool=2)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected.detach(), atol=1e-5, rtol=1e-5)
