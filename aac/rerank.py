"""Candidate captions and their re-ranking: N captions per clip, the one with the best score.

    conf = DecodeConf(candidates=CandidatesConf(mode="sampling", num=50))
    reranker = Reranker(conf, scorer)          # scorer: aac.scorers (head or ATCL), or None
    best = reranker.choose(model, feats, mask, ids, texts, waves)   # index per clip

Off by default (`candidates.mode: off`): one beam-search caption per clip, the paper's
setting. `beam` keeps all `num` best hypotheses of the beam search (num <= beam);
`sampling` draws `num` captions with nucleus sampling (temperature, top_p; no top-k), the
DCASE 2023 system's T 0.5, p 0.95, N 50. The N candidates of a clip share its
cross-attention keys/values, as the beam search does (`aac.model.beam_search_cache`).

The score of candidate c of clip a is

    logprob_weight * mean log p(token | a, previous tokens) + similarity_weight * cos(a, c)

The log-probability is the caption model's own (temperature 1), over the caption's tokens
and its eos, by one teacher-forced pass over the candidates: sampling's tempered scores
and beam search's length penalty never enter it. The cosine similarity comes from a
scorer: the caption model's text-embedding head or an ATCL experiment (aac.scorers); with
similarity_weight 0 no scorer is needed. Ties go to the earlier candidate.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch

from aac.config import ConfigError, choice

CANDIDATE_MODES = ("off", "beam", "sampling")
SCORERS = ("head", "atcl")
DEFAULT_SAMPLES = 50  # the DCASE 2023 system's N


@dataclass
class CandidatesConf:
    mode: str = choice("off", CANDIDATE_MODES)
    num: int = 0  # candidates per clip; 0 = the beam width (beam) or 50 (sampling)
    temperature: float = 0.5  # sampling only
    top_p: float = 0.95  # sampling only: nucleus mass
    seed: int = 0  # sampling only: each batch draws from a generator seeded with it


@dataclass
class RerankConf:
    logprob_weight: float = 0.3
    similarity_weight: float = 0.7
    scorer: str = choice("head", SCORERS)  # head: the caption model's; atcl: atcl_exp
    atcl_exp: Optional[str] = None  # aac-pretrain-encoder --task atcl --output-dir


@dataclass
class DecodeConf:
    """The decode config (`aac-decode --decode-config`): candidates and their re-ranking."""

    candidates: CandidatesConf = field(default_factory=CandidatesConf)
    rerank: RerankConf = field(default_factory=RerankConf)

    @property
    def active(self) -> bool:
        return self.candidates.mode != "off"

    @property
    def needs_scorer(self) -> bool:
        return self.active and self.rerank.similarity_weight != 0


def candidate_count(conf: CandidatesConf, beam: int) -> int:
    if conf.num:
        return conf.num
    return beam if conf.mode == "beam" else DEFAULT_SAMPLES


def check_decode_conf(conf: DecodeConf, beam: int, source: str) -> None:
    """Value checks the schema cannot make; names the key and `source`."""
    c, r = conf.candidates, conf.rerank
    bad = []
    if c.num < 0:
        bad.append(f"candidates.num must be >= 0 (0: the default), got {c.num}")
    if c.mode == "beam" and candidate_count(c, beam) > beam:
        bad.append(f"candidates.num {c.num} is more than the beam width {beam}")
    if not c.temperature > 0:
        bad.append(f"candidates.temperature must be > 0, got {c.temperature}")
    if not 0 < c.top_p <= 1:
        bad.append(f"candidates.top_p must be in (0, 1], got {c.top_p}")
    if min(r.logprob_weight, r.similarity_weight) < 0:
        bad.append("rerank.logprob_weight and similarity_weight must be >= 0")
    if conf.needs_scorer and r.scorer == "atcl" and not r.atcl_exp:
        bad.append("rerank.scorer atcl needs rerank.atcl_exp (an ATCL experiment directory)")
    if bad:
        raise ConfigError(f"{source}: {bad[0]}")


def search_kwargs(conf: CandidatesConf, beam: int) -> dict:
    """`generate` settings that return `candidate_count` captions per clip, clip-major."""
    num = candidate_count(conf, beam)
    if conf.mode == "beam":
        return dict(num_beams=beam, num_return_sequences=num)
    return dict(
        num_beams=1,
        do_sample=True,
        temperature=conf.temperature,
        top_p=conf.top_p,
        top_k=0,  # HF's default top-k of 50 would cut the nucleus
        num_return_sequences=num,
    )


@contextmanager
def seeded(seed: int, device: torch.device):
    """Draws inside the block come from `seed`; the caller's random state is left as it was."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@torch.inference_mode()
def candidate_logprobs(model, feats: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor):
    """Mean token log-probability (B*N,) of candidates `ids` (B*N, L), which start with bos.

    One teacher-forced decoder pass; tokens after eos (pad) are left out, eos counts.
    The candidates of a clip read its cross-attention keys/values once
    (`beam_search_cache`), as in generation.
    """
    from transformers.modeling_outputs import BaseModelOutput

    from aac.model import (
        beam_search_cache,
        beam_shared_attention,
        generate_cache_kwarg,
        shared_cross_attention_supported,
    )

    per_clip = ids.size(0) // feats.size(0)
    labels = ids[:, 1:]  # (B*N, L-1)
    hidden = model.encode(feats, mask).last_hidden_state  # (B, T, d)
    extra = {}
    if per_clip > 1 and shared_cross_attention_supported():
        extra = {generate_cache_kwarg(model.bart): beam_search_cache(model.bart, hidden)}
    with beam_shared_attention(model.bart):
        out = model.bart(
            encoder_outputs=BaseModelOutput(hidden.repeat_interleave(per_clip, 0)),
            attention_mask=mask.long().repeat_interleave(per_clip, 0),
            decoder_input_ids=model.decoder_inputs(labels),
            decoder_attention_mask=(labels != model.pad_id).long(),
            use_cache=bool(extra),
            **extra,
        )
    logp = torch.log_softmax(out.logits.float(), dim=-1)  # (B*N, L-1, V)
    tokens = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (B*N, L-1)
    keep = (labels != model.pad_id).float()
    return (tokens * keep).sum(1) / keep.sum(1).clamp(min=1)


def combined_scores(conf: RerankConf, logprob: torch.Tensor, similarity: Optional[torch.Tensor]):
    """logprob_weight * logprob + similarity_weight * similarity, both (B*N,)."""
    score = conf.logprob_weight * logprob.float()
    if similarity is not None and conf.similarity_weight:
        score = score + conf.similarity_weight * similarity.float().to(score.device)
    return score


def best_per_clip(scores: torch.Tensor, per_clip: int) -> List[int]:
    """Index of each clip's highest score within its `per_clip` candidates (first on ties)."""
    return [int(i) for i in scores.view(-1, per_clip).argmax(dim=1)]


class Reranker:
    """Chooses one caption among each clip's candidates (see the module docstring).

    `scorer` provides `audio(model, feats, mask, waves) -> (B, E)` and `text(texts) ->
    (C, E)`, both L2-normalised, and `needs_waves` (True: `waves` are mono arrays at
    `scorer.sample_rate`).
    """

    def __init__(self, conf: DecodeConf, scorer=None):
        if conf.needs_scorer and scorer is None:
            raise ConfigError("rerank.similarity_weight > 0 needs a similarity scorer")
        self.conf, self.scorer = conf, scorer

    @property
    def needs_waves(self) -> bool:
        return bool(self.scorer is not None and self.scorer.needs_waves)

    def similarity(self, model, feats, mask, texts: Sequence[str], waves=None) -> torch.Tensor:
        """cos(audio of clip b, text of candidate c of b), (B*N,), clip-major."""
        per_clip = len(texts) // feats.size(0)
        audio = self.scorer.audio(model, feats, mask, waves).float().cpu()  # (B, E)
        distinct = sorted(set(texts))
        table = self.scorer.text(distinct).float().cpu()  # (C, E)
        if table.size(1) != audio.size(1):
            raise ConfigError(
                f"the scorer's audio embeddings have {audio.size(1)} dims, its text "
                f"embeddings {table.size(1)}: they are not one space"
            )
        row = {t: i for i, t in enumerate(distinct)}
        text = table[torch.tensor([row[t] for t in texts])]  # (B*N, E)
        return (audio.repeat_interleave(per_clip, 0) * text).sum(1)

    def choose(self, model, feats, mask, ids, texts: Sequence[str], waves=None) -> List[int]:
        per_clip = ids.size(0) // feats.size(0)
        logprob = candidate_logprobs(model, feats, mask, ids).cpu()
        sim = None
        if self.conf.needs_scorer:
            sim = self.similarity(model, feats, mask, texts, waves)
        return best_per_clip(combined_scores(self.conf.rerank, logprob, sim), per_clip)
