"""Captioner API: batch-vs-single identity, unreadable clips, windows, packed models."""

import hashlib

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from caption_fixtures import tiny_decoder

from aac import Captioner
from aac.packing import PackError, pack_model
from aac.testing import make_random_exp_dir

RATE = 16000
TINY = tiny_decoder(d_model=32, layers=2, max_length=10)


def make_waves(n, seed=0):
    """Clips of different lengths and spectra, so captions differ between clips."""
    rng = np.random.default_rng(seed)
    waves = []
    for i in range(n):
        t = np.arange(int(RATE * (0.4 + 0.3 * i))) / RATE
        tone = np.sin(2 * np.pi * (200 + 900 * i) * t) * (0.9 if i % 2 else 0.05)
        waves.append((tone + rng.normal(0, 0.3 * (i % 3), t.shape)).astype(np.float32))
    return waves


@pytest.fixture(scope="module")
def tiny_exp(tmp_path_factory):
    torch.set_num_threads(1)
    return make_random_exp_dir(
        tmp_path_factory.mktemp("exp"), encoder="logmel", model_conf=TINY, seed=3, weight_scale=10
    )


@pytest.fixture(scope="module")
def captioner(tiny_exp):
    return Captioner.from_pretrained(tiny_exp, batch_size=3)


def test_batched_captions_equal_one_at_a_time(captioner):
    waves = make_waves(7)
    batched = captioner.caption_waves(waves)
    single = [captioner.caption_waves([w])[0] for w in waves]
    assert batched == single
    assert len(set(batched)) >= 3, "captions should depend on the clip for this test to bite"


def test_caption_files_with_a_broken_one(captioner, tmp_path):
    waves = make_waves(3)
    paths = [str(tmp_path / f"c{i}.wav") for i in range(3)]
    for p, w in zip(paths, waves):
        sf.write(p, w, RATE, subtype="FLOAT")  # exact samples
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not really a wave file")
    files = [paths[0], str(tmp_path / "broken.wav"), paths[1], str(tmp_path / "gone.wav"), paths[2]]
    results = captioner.caption(files)
    assert [r.file for r in results] == files
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert "broken.wav" in results[1].error and "gone.wav" in results[3].error
    assert [r.caption for r in results if r.ok] == captioner.caption_waves(waves)


def test_caption_array_resamples_and_mixes_stereo(captioner):
    wave = make_waves(3)[2]
    ref = captioner.caption_array(wave, RATE)
    up = np.interp(np.arange(len(wave) * 2) / 2, np.arange(len(wave)), wave).astype(np.float32)
    stereo = np.stack([up, up])  # (C, T) at 32 kHz
    assert captioner.caption_array(stereo, 2 * RATE) == captioner.caption_array(up, 2 * RATE)
    assert isinstance(ref, str) and ref


def test_sliding_windows_on_a_long_file(captioner, tmp_path):
    long = np.concatenate(make_waves(4))  # 0.4 + 0.7 + 1.0 + 1.3 = 3.4 s
    sf.write(tmp_path / "long.wav", long, RATE, subtype="FLOAT")
    results = captioner.caption([str(tmp_path / "long.wav")], window=1.0, hop=0.5)
    assert [(r.start, r.end) for r in results][:2] == [(0.0, 1.0), (0.5, 1.5)]
    assert results[-1].end == pytest.approx(3.4)
    assert [r.start for r in results] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.4]  # last ends at 3.4
    pieces = [long[int(r.start * RATE) : int(r.end * RATE)] for r in results]
    expect = captioner.caption_waves(pieces)
    assert [r.caption for r in results] == expect


def test_packed_model_captions_like_the_exp_dir(tiny_exp, captioner, tmp_path):
    pack_model(tiny_exp, tmp_path / "m.zip")
    packed = Captioner.from_pretrained(tmp_path / "m.zip", batch_size=2)
    waves = make_waves(4)
    assert packed.caption_waves(waves) == captioner.caption_waves(waves)


def test_encoder_checkpoint_sha256_mismatch_is_refused(tiny_exp, tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    for name in ("tokenizer.model", "best.pt", "config.yaml"):
        (exp / name).write_bytes((tiny_exp / name).read_bytes())
    config = yaml.safe_load((exp / "config.yaml").read_text())
    config["encoder"].update(
        name="pann_cnn14",
        checkpoint=str(tmp_path / "moved.pth"),
        checkpoint_sha256=hashlib.sha256(b"original").hexdigest(),
    )
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "other.pth").write_bytes(b"another checkpoint")
    with pytest.raises(PackError, match="does not match this model"):
        Captioner.from_pretrained(exp, encoder_checkpoint=tmp_path / "other.pth")
    with pytest.raises(PackError, match="needs the pann_cnn14 encoder checkpoint"):
        Captioner.from_pretrained(exp)


def test_not_a_model_path(tmp_path):
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(PackError, match="neither an experiment directory"):
        Captioner.from_pretrained(tmp_path / "model.txt")


def test_bf16_and_int8_variants_leave_the_original_alone(captioner):
    waves = make_waves(3)
    ref = captioner.caption_waves(waves)
    bf16 = captioner.variant(dtype="bfloat16")
    assert bf16.loaded.model.proj.weight.dtype == torch.bfloat16
    assert all(c for c in bf16.caption_waves(waves))
    int8 = captioner.variant(quantize="int8")
    assert "quantized" in type(int8.loaded.model.proj).__module__
    assert all(c for c in int8.caption_waves(waves))
    assert captioner.loaded.model.proj.weight.dtype == torch.float32
    assert captioner.caption_waves(waves) == ref
    with pytest.raises(ValueError, match="dtype must be one of"):
        captioner.variant(dtype="float16")
