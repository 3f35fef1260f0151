"""Candidate captions and re-ranking (aac.rerank): the pick, shared keys/values (the head
scorer on a real caption model: tests/test_scorers.py)."""

import dataclasses

import pytest
import torch
from caption_fixtures import tiny_decoder

import aac.model
from aac.captioning import generate_captions
from aac.expdir import load_model_from_expdir
from aac.rerank import (
    CandidatesConf,
    DecodeConf,
    RerankConf,
    Reranker,
    best_per_clip,
    candidate_logprobs,
    combined_scores,
)
from aac.testing import make_random_exp_dir

TEXTS = ["a dog barks", "rain falls on a roof", "a siren wails", "birds sing"]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.set_num_threads(1)
    exp = make_random_exp_dir(
        tmp_path_factory.mktemp("exp"),
        model_conf=tiny_decoder(max_length=24),
        seed=3,
        weight_scale=3,
    )
    return load_model_from_expdir(exp)


def frames(loaded, lengths=(9, 6, 12), seed=0):
    """Random cache-level frames (B, T, D) with lengths (B,), and their mask."""
    g = torch.Generator().manual_seed(seed)
    dim = loaded.model.proj.in_features
    feats = torch.randn(len(lengths), max(lengths), dim, generator=g)
    lengths = torch.tensor(lengths)
    mask = torch.arange(feats.size(1))[None] < lengths[:, None]
    return feats * mask[..., None], lengths, mask


def candidate_ids(tokenizer, texts):
    """Token ids (N, L) as `generate` returns them: bos, tokens, eos, then pad."""
    rows = [[tokenizer.bos_id, *tokenizer.encode(t), tokenizer.eos_id] for t in texts]
    out = torch.full((len(rows), max(map(len, rows))), tokenizer.pad_id)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


class FixedScorer:
    """Audio embedding e0 for every clip; text embeddings given per caption."""

    needs_waves = False

    def __init__(self, table):
        self.table = table

    def audio(self, model, feats, mask, waves=None):
        return torch.tensor([[1.0, 0.0]]).expand(feats.size(0), 2)

    def text(self, texts):
        return torch.stack([self.table[t] for t in texts])


def test_combined_score_by_hand():
    logprob = torch.tensor([-0.2, -1.0, -0.5, -0.3, -0.4, -2.0])
    sim = torch.tensor([0.1, 0.9, 0.3, 0.5, 0.2, 0.95])
    # clip 0: 0.01, 0.33, 0.06; clip 1: 0.26, 0.02, 0.065 (0.3 * logprob + 0.7 * sim)
    assert best_per_clip(combined_scores(RerankConf(), logprob, sim), 3) == [1, 0]
    only_logprob = RerankConf(logprob_weight=1.0, similarity_weight=0.0)
    assert best_per_clip(combined_scores(only_logprob, logprob, sim), 3) == [0, 0]


def test_logprobs_are_the_models_token_likelihood(loaded, monkeypatch):
    model, tok = loaded.model, loaded.tokenizer
    feats, _, mask = frames(loaded)
    ids = candidate_ids(tok, TEXTS[:2] * 3)  # (B*N, L): 2 candidates per clip
    ours = candidate_logprobs(model, feats, mask, ids)
    by_hand = []
    for row, clip in zip(ids, [0, 0, 1, 1, 2, 2]):
        labels = row[1:][None]
        with torch.no_grad():
            by_hand.append(-model(feats[clip : clip + 1], mask[clip : clip + 1], labels))
    assert torch.allclose(ours, torch.stack(by_hand).flatten(), atol=1e-5)
    monkeypatch.setattr(aac.model, "shared_cross_attention_supported", lambda: False)
    assert torch.allclose(candidate_logprobs(model, feats, mask, ids), ours, atol=1e-5)


def test_reranker_picks_the_candidate_with_the_higher_combined_score(loaded):
    model, tok = loaded.model, loaded.tokenizer
    feats, _, mask = frames(loaded, (8, 10))
    texts = TEXTS[:3] * 2  # 3 candidates for each of 2 clips
    ids = candidate_ids(tok, texts)
    logprob = candidate_logprobs(model, feats, mask, ids)
    # the least likely candidate of clip 0 gets the highest similarity
    worst = int(logprob[:3].argmin())
    sims = {t: (0.9 if i == worst else 0.1 * i) for i, t in enumerate(texts[:3])}
    table = {t: torch.tensor([s, (1 - s * s) ** 0.5]) for t, s in sims.items()}
    sim = torch.tensor([sims[t] for t in texts])
    for weights in ((0.3, 0.7), (1.0, 0.0), (0.0, 1.0)):
        conf = DecodeConf(CandidatesConf(mode="beam"), RerankConf(*weights))
        chosen = Reranker(conf, FixedScorer(table)).choose(model, feats, mask, ids, texts)
        score = weights[0] * logprob + weights[1] * sim
        assert chosen == [int(score[:3].argmax()), int(score[3:].argmax())]
    assert chosen[0] == worst  # similarity alone overrules the log-probability


class Recording(Reranker):
    """A reranker that keeps the candidates it was given."""

    def choose(self, model, feats, mask, ids, texts, waves=None):
        self.ids, self.texts = ids.clone(), list(texts)
        return super().choose(model, feats, mask, ids, texts, waves)


def candidates_of(loaded, conf, beam=4):
    feats, lengths, _ = frames(loaded)
    reranker = Recording(conf)
    chosen = generate_captions(
        loaded.model, loaded.tokenizer, feats, lengths, beam, None, 1, reranker
    )
    per_clip = len(reranker.texts) // len(chosen)
    for b, caption in enumerate(chosen):
        assert caption in reranker.texts[b * per_clip : (b + 1) * per_clip]
    return reranker.ids, reranker.texts


@pytest.mark.parametrize("mode,num", [("beam", 4), ("sampling", 8)])
def test_shared_keys_values_give_the_same_candidates_as_unshared(loaded, monkeypatch, mode, num):
    conf = DecodeConf(CandidatesConf(mode=mode, num=num, seed=7), RerankConf(1.0, 0.0))
    built = []
    real_cache = aac.model.beam_search_cache
    monkeypatch.setattr(
        aac.model,
        "beam_search_cache",
        lambda bart, h: built.append(h.shape[0]) or real_cache(bart, h),
    )
    shared_ids, shared_texts = candidates_of(loaded, conf)
    assert built and set(built) == {3}  # keys/values of 3 clips, not of 3 x num rows
    assert shared_ids.shape[0] == 3 * num and len(set(shared_texts)) > 3
    monkeypatch.setattr(aac.model, "shared_cross_attention_supported", lambda: False)
    built.clear()
    unshared_ids, _ = candidates_of(loaded, conf)
    assert not built and torch.equal(shared_ids, unshared_ids)
    if mode == "sampling":  # the seed decides the draws
        other = dataclasses.replace(conf, candidates=dataclasses.replace(conf.candidates, seed=8))
        assert not torch.equal(candidates_of(loaded, other)[0], shared_ids)


def test_candidates_off_is_the_paper_beam_search(loaded):
    feats, lengths, _ = frames(loaded)
    model, tok = loaded.model, loaded.tokenizer
    plain = generate_captions(model, tok, feats, lengths, 4)
    off = generate_captions(model, tok, feats, lengths, 4, None, 1, Reranker(DecodeConf()))
    assert off == plain
    top = DecodeConf(CandidatesConf(mode="beam", num=1), RerankConf(1.0, 0.0))
    assert generate_captions(model, tok, feats, lengths, 4, None, 1, Reranker(top)) == plain
