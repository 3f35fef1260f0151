"""Registry, logmel, checkpoint safety and error messages."""

import argparse
import logging

import numpy as np
import pytest
import torch

from aac.config import ConfigError
from aac.encoders import ENCODERS, CheckpointError, build_encoder


def test_registry_names():
    assert {"pann_cnn14", "pann_cnn14_16k", "dcase23_cnn14", "beats", "logmel"} <= set(ENCODERS)
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("nope")


def test_weights_need_checkpoint_or_explicit_random_init(caplog):
    with pytest.raises(ConfigError, match="needs --encoder-checkpoint"):
        build_encoder("beats")
    with caplog.at_level(logging.WARNING):
        enc = build_encoder("pann_cnn14_16k", random_init=True)
    assert enc.random_init and enc.checkpoint_sha256 is None
    assert "RANDOM INIT" in caplog.text
    with pytest.raises(ConfigError, match="no weights"):
        build_encoder("logmel", checkpoint="x.pt")


def test_logmel_shapes_batch_invariance_and_content():
    enc = build_encoder("logmel")
    assert (enc.sample_rate, enc.frame_rate, enc.output_dim) == (16000, 25.0, 64)
    t = torch.arange(16000) / 16000
    low, high = torch.sin(2 * np.pi * 500 * t) * 0.5, torch.sin(2 * np.pi * 4000 * t)[:12000] * 0.5
    batch = torch.nn.utils.rnn.pad_sequence([low, high], batch_first=True)
    feats, n = enc(batch, torch.tensor([16000, 12000]))
    alone, m = enc(high[None])
    assert n.tolist() == [enc.num_frames(16000), enc.num_frames(12000)] == [24, 18]
    torch.testing.assert_close(feats[1, :18], alone[0])
    # The tone's mel bin dominates: events are visible in the features.
    assert feats[0, :24].mean(0).argmax() < feats[1, :18].mean(0).argmax()
    deltas = build_encoder("logmel", conf={"deltas": True})
    assert deltas(low[None])[0].shape == (1, 24, 128)
    with pytest.raises(ConfigError, match="unknown key"):
        build_encoder("logmel", conf={"nmels": 3})


def test_short_clip_is_padded():
    enc = build_encoder("logmel")
    feats, n = enc(torch.ones(1, 100) * 0.1)
    assert n.tolist() == [1] and feats.shape == (1, 1, 64)


def _logmel_free_model_state():
    return build_encoder("pann_cnn14_16k", random_init=True).state_dict()


def test_untrusted_pickle_needs_trust_flag(tmp_path):
    state = {"model": _logmel_free_model_state(), "args": argparse.Namespace(lr=1)}
    path = tmp_path / "pickled.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"pickled\.pth.*--trust-checkpoint"):
        build_encoder("pann_cnn14_16k", checkpoint=str(path))
    enc = build_encoder("pann_cnn14_16k", checkpoint=str(path), trust_checkpoint=True)
    assert not enc.random_init


def test_truncated_and_wrong_files_name_file_and_key(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"model": _logmel_free_model_state()}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:100000])
    with pytest.raises(CheckpointError, match=r"truncated\.pth: cannot read checkpoint"):
        build_encoder("pann_cnn14_16k", checkpoint=str(truncated))
    state = _logmel_free_model_state()
    del state["bn0.weight"]
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": state}, wrong)
    with pytest.raises(CheckpointError, match=r"wrong\.pth.*'bn0\.weight' \(64,\) is missing"):
        build_encoder("pann_cnn14_16k", checkpoint=str(wrong))
    torch.save({"weights": state}, wrong)
    with pytest.raises(CheckpointError, match=r"wrong\.pth.*'model'"):
        build_encoder("pann_cnn14_16k", checkpoint=str(wrong))
    with pytest.raises(CheckpointError, match="not found"):
        build_encoder("beats", checkpoint=str(tmp_path / "missing.pt"))


def test_clips_per_call_splits_equal_length_groups_per_device_without_changing_frames():
    enc = build_encoder("logmel")
    waves = torch.randn(5, 4000)
    lengths = torch.tensor([4000, 4000, 4000, 3000, 4000])
    whole, whole_lengths = enc(waves, lengths)
    calls = []
    encode = enc.encode
    enc.encode = lambda w: calls.append(w.shape[0]) or encode(w)
    enc.clips_per_call = {"cpu": 2, "cuda": None}
    split, split_lengths = enc(waves, lengths)
    assert sorted(calls) == [1, 2, 2]  # 4 clips of 4000 in pairs, the 3000 one alone
    assert torch.equal(split_lengths, whole_lengths)
    torch.testing.assert_close(split, whole)  # other call shapes: equal to float rounding
    enc.clips_per_call = {"cpu": None, "cuda": 2}  # a limit for another device type
    calls.clear()
    enc(waves, lengths)
    assert sorted(calls) == [1, 4]
    pann = ENCODERS["pann_cnn14"].cls
    assert pann.clips_per_call == {"cpu": 4, "cuda": None}
    assert ENCODERS["beats"].cls.clips_per_call == {"cpu": 2, "cuda": None}


def test_every_registered_encoder_declares_its_facts_on_its_class():
    """ENCODER_FACTS are stated by each encoder class itself, never inherited from the base;
    the built encoder then gives each a usable value (and a chunking geometry)."""
    from aac.encoders.base import ENCODER_FACTS, AudioEncoder
    from aac.encoders.chunking import chunk_geometry

    for name, entry in ENCODERS.items():
        own = entry.cls.__mro__[: entry.cls.__mro__.index(AudioEncoder)]
        for fact in ENCODER_FACTS:
            assert any(fact in vars(k) for k in own), f"{name} does not declare {fact}"
        enc = build_encoder(name, random_init=entry.has_weights)
        assert isinstance(enc, entry.cls) and enc.has_weights is entry.has_weights
        assert isinstance(enc.chunk_context, int) and enc.chunk_context >= 0, name
        assert isinstance(enc.pretraining, str) and enc.pretraining, name
        assert set(enc.clips_per_call) == {"cpu", "cuda"}, name
        assert all(v is None or v >= 1 for v in enc.clips_per_call.values()), name
        step, fps, context, _ = chunk_geometry(enc)
        assert step > 0 and fps >= 1 and context == enc.chunk_context, name
    assert [n for n, e in ENCODERS.items() if not e.has_weights] == ["logmel"]


def test_pretraining_label_comes_from_the_class_and_the_checkpoint():
    from aac.encoders import pretraining_of

    assert pretraining_of("pann_cnn14") == "AudioSet tagging"
    assert pretraining_of("beats", "/w/BEATs_iter3_plus_AS2M.pt") == "masked audio-token prediction"
    assert pretraining_of("beats", "/w/BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt") == (
        "masked audio-token prediction + AudioSet tagging"
    )
    assert pretraining_of("not_registered") == "unknown"
