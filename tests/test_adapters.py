"""The Conformer adapter and the text-embedding head of the caption model (aac.adapters)."""

import dataclasses

import pytest
import torch

from aac.adapters import NoTextEmbeddingHead
from aac.dataset import lengths_to_mask
from aac.model import CaptionModel, ModelConf

SMALL = dict(d_model=16, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32)


def build(seed=0, vocab=30, **keys):
    torch.manual_seed(seed)
    conf = ModelConf(**{**SMALL, "dropout": 0.0, "attention_dropout": 0.0, **keys})
    return CaptionModel(8, vocab, conf, pad_id=1, bos_id=0, eos_id=2).eval()


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(3, 7, 8, generator=g)  # (B, T, D)
    mask = lengths_to_mask(torch.tensor([7, 4, 2]))
    labels = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 1], [10, 2, 1, 1]])
    return feats, mask, labels


def test_default_model_has_exactly_the_parameters_of_the_paper_model():
    plain = build().state_dict()
    levered = build(conformer_layers=2, conformer_heads=2, text_embedding_dim=12).state_dict()
    assert not any(k.startswith(("adapter.", "text_head.")) for k in plain)
    base = {k: v for k, v in levered.items() if not k.startswith(("adapter.", "text_head."))}
    assert base.keys() == plain.keys() and len(levered) > len(plain)
    # the levers are built after BART: the paper's weights start from the same values
    assert all(torch.equal(base[k], plain[k]) for k in plain)
    assert build().adapter is None and build().text_head is None
    assert dataclasses.asdict(ModelConf())["conformer_layers"] == 0


def test_conformer_adapter_changes_frames_and_keeps_their_shape():
    feats, mask, _ = batch()
    plain = build().encode(feats, mask).last_hidden_state
    with_adapter = build(conformer_layers=1, conformer_heads=2, conformer_kernel=3)
    out = with_adapter.encode(feats, mask).last_hidden_state
    assert out.shape == plain.shape == (3, 7, 16)
    assert not torch.allclose(out, plain)
    assert torch.all(out[~mask] == 0)  # padded frames stay zero for cross-attention
    # padding does not leak into real frames: clip 2 alone gives the same frames
    alone = with_adapter.encode(feats[2:, :2], mask[2:, :2]).last_hidden_state
    assert torch.allclose(alone[0], out[2, :2], atol=1e-5)


def test_embed_audio_is_l2_normalised_and_needs_a_head():
    feats, mask, _ = batch()
    emb = build(text_embedding_dim=12).embed_audio(feats, mask)
    assert emb.shape == (3, 12)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    with pytest.raises(NoTextEmbeddingHead, match="text_embedding_dim"):
        build().embed_audio(feats, mask)


def test_forward_with_embed_returns_the_same_nll_and_embedding():
    model = build(text_embedding_dim=12)
    feats, mask, labels = batch()
    nll, count, emb = model(feats, mask, labels, reduce=False, embed=True)
    assert torch.equal(nll, model(feats, mask, labels, reduce=False)[0])
    assert int(count) == int((labels != 1).sum())
    assert torch.allclose(emb, model.embed_audio(feats, mask))
