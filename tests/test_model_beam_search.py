"""Beam search with cross-attention keys/values held once per clip gives HF's default tokens,
and a transformers release it was not tested with takes HF's default path, saying so once."""

import logging
import re
from pathlib import Path

import pytest
import torch
from caption_fixtures import tiny_decoder

import aac.model as aac_model
from aac.model import CaptionModel, beam_shared_attention, generate_cache_kwarg

PAD, BOS, EOS = 1, 0, 2
ROOT = Path(__file__).resolve().parents[1]


def random_model() -> CaptionModel:
    torch.manual_seed(0)
    model = CaptionModel(8, 30, tiny_decoder(max_length=12), PAD, BOS, EOS).eval()
    with torch.no_grad():  # large random weights: captions that differ from clip to clip
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.4)
    return model


def padded_clips() -> tuple:
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 9, 8, generator=g)  # (B, T, D)
    mask = torch.arange(9)[None] < torch.tensor([9, 6, 4])[:, None]  # (B, T): two padded
    return feats, mask


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.fixture
def clips():
    return padded_clips()


@pytest.fixture
def untested_release(monkeypatch):
    """transformers reports a release outside SHARED_CROSS_ATTENTION_TESTED."""
    import transformers

    aac_model.shared_cross_attention_supported.cache_clear()
    monkeypatch.setattr(transformers, "__version__", "99.1.0")
    yield
    aac_model.shared_cross_attention_supported.cache_clear()


def default_beam_search(model, feats, mask):
    return model.bart.generate(
        encoder_outputs=model.encode(feats, mask),
        attention_mask=mask.long(),
        num_beams=4,
        max_length=model.conf.max_target_length + 1,
        decoder_start_token_id=BOS,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        do_sample=False,
    )


def shared_beam_search(model, feats, mask):
    with beam_shared_attention(model.bart):
        return model.bart.generate(**model.generation_inputs(feats, mask, num_beams=4))


def test_shared_cross_attention_masks_padded_frames_as_the_default_does(model, clips):
    """transformers 5 builds no mask for an attention function without a mask function:
    padded frames were attended to and padded clips got other tokens than HF's default."""
    feats, mask = clips
    inputs = model.generation_inputs(feats, mask, num_beams=4)
    cross = inputs[generate_cache_kwarg(model.bart)].cross_attention_cache
    assert cross.layers[0].keys.shape[0] == 3  # (B, H, T, d): once per clip, not per beam
    ours = shared_beam_search(model, feats, mask)
    assert torch.equal(ours, default_beam_search(model, feats, mask))
    assert len({tuple(row.tolist()) for row in ours}) == 3
    noisy = feats.clone()
    noisy[~mask] = 1e3  # what padded frames hold must not matter
    assert torch.equal(shared_beam_search(model, noisy, mask), ours)


def test_untested_transformers_release_takes_the_default_path_with_one_warning(
    model, clips, untested_release, caplog
):
    feats, mask = clips
    with caplog.at_level(logging.WARNING, logger="aac.model"):
        inputs = model.generation_inputs(feats, mask, num_beams=4)
        assert generate_cache_kwarg(model.bart) not in inputs  # HF builds its own cache
        with beam_shared_attention(model.bart):
            assert model.bart.config._attn_implementation == "sdpa"
            ours = model.bart.generate(**inputs)
        shared_beam_search(model, feats, mask)
    warnings = [r.getMessage() for r in caplog.records if r.name == "aac.model"]
    assert len(warnings) == 1 and "99.1.0" in warnings[0] and "\n" not in warnings[0]
    assert torch.equal(ours, default_beam_search(model, feats, mask))


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-latest.txt"])
def test_pinned_transformers_releases_are_tested_ones(requirements, monkeypatch):
    """Both stacks CI runs get the shared cross-attention path (no silent fallback there)."""
    import transformers

    pin = re.search(
        r"^transformers==(\S+)", (ROOT / "tools" / requirements).read_text(), re.MULTILINE
    )
    aac_model.shared_cross_attention_supported.cache_clear()
    monkeypatch.setattr(transformers, "__version__", pin.group(1))
    try:
        assert aac_model.shared_cross_attention_supported()
    finally:
        aac_model.shared_cross_attention_supported.cache_clear()
