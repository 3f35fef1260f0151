"""Audio-text similarity for re-ranking candidate captions (aac.rerank), and its settings.

    conf = decode_conf_from_args(args, beam=4)    # --decode-config YAML < the flags
    reranker = build_reranker(conf, loaded, device="cpu")   # None while candidates are off

Two scorers, both giving L2-normalised embeddings of one space:
  head  the caption model's text-embedding head (`model.text_embedding_dim` > 0, trained
        with the caption loss): `model.embed_audio(feats, mask)` against the frozen
        sentence embeddings of the candidates (`text_embedding.model_dir` of the
        experiment's config.yaml; unset: the bundled all-MiniLM-L6-v2)
  atcl  an `aac-pretrain-encoder --task atcl` experiment: its audio encoder and head on
        the clip's audio (the first `crop_seconds`, as its retrieval evaluation), its text
        projection of the frozen embeddings of its own text encoder
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from aac.config import ConfigError, build, load_yaml
from aac.errors import AacError
from aac.rerank import DecodeConf, Reranker, check_decode_conf


class ScorerError(AacError):
    """A scorer that this experiment cannot provide."""


class HeadScorer:
    """The caption model's own audio embedding against its frozen sentence embeddings."""

    needs_waves = False

    def __init__(self, text_model_dir: Optional[str] = None, device: str = "cpu"):
        from aac.pretrain.text_encoder import TextEncoder

        self.encoder = TextEncoder(text_model_dir, device)

    def audio(self, model, feats, mask, waves=None) -> torch.Tensor:
        return F.normalize(model.embed_audio(feats, mask).float(), dim=-1)  # (B, E)

    def text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder.embed(list(texts))  # (C, E), normalised


class AtclScorer:
    """An ATCL experiment's audio and text embeddings (its selected run's best.pt)."""

    needs_waves = True

    def __init__(self, exp_dir: str, device: str = "cpu"):
        from aac.pretrain.expdir import load_task_run
        from aac.pretrain.text_encoder import TextEncoder

        _, conf, model = load_task_run(exp_dir, "atcl", "aac-pretrain-encoder --task mlac")
        self.model, self.device = model.to(device), device
        self.sample_rate = int(model.encoder.sample_rate)
        self.crop = int(round(conf.crop_seconds * self.sample_rate))
        self.encoder = TextEncoder(conf.atcl.text_encoder or None, device)

    @torch.no_grad()
    def audio(self, model, feats, mask, waves: Sequence) -> torch.Tensor:
        """Mono waves at `sample_rate` -> (B, E): the first `crop_seconds`, zero-padded."""
        batch = np.zeros((len(waves), self.crop), dtype=np.float32)
        lengths = []
        for i, wave in enumerate(waves):
            wave = np.asarray(wave, dtype=np.float32)[: self.crop]
            batch[i, : len(wave)] = wave
            lengths.append(max(1, len(wave)))
        wave_t = torch.from_numpy(batch).to(self.device)
        out = self.model(wave_t, torch.tensor(lengths, dtype=torch.long))
        return F.normalize(out.float(), dim=-1)

    @torch.no_grad()
    def text(self, texts: Sequence[str]) -> torch.Tensor:
        emb = self.encoder.embed(list(texts)).to(self.device)  # (C, H)
        return F.normalize(self.model.embed_text(emb).float(), dim=-1).cpu()  # (C, E)


def head_scorer(loaded, device: str) -> HeadScorer:
    """The head scorer of an experiment, or ScorerError when its model has no head."""
    if int(getattr(loaded.model.conf, "text_embedding_dim", 0) or 0) <= 0:
        raise ScorerError(
            "rerank.scorer head: this experiment's model has no text-embedding head "
            "(model.text_embedding_dim 0); train with one, or use rerank.scorer atcl"
        )
    block = loaded.config.get("text_embedding") or {}
    return HeadScorer(block.get("model_dir"), device)


def build_reranker(conf: DecodeConf, loaded, device: str = "cpu") -> Optional[Reranker]:
    """The reranker of `conf` for a loaded experiment; None while candidates are off."""
    if not conf.active:
        return None
    scorer = None
    if conf.needs_scorer:
        if conf.rerank.scorer == "head":
            scorer = head_scorer(loaded, device)
        else:
            scorer = AtclScorer(conf.rerank.atcl_exp, device)
    return Reranker(conf, scorer)


# command-line flags (aac.cli.add_rerank_options) -> decode-config keys
FLAG_KEYS = {
    "candidates": "candidates.mode",
    "num_candidates": "candidates.num",
    "rerank_scorer": "rerank.scorer",
    "atcl_exp": "rerank.atcl_exp",
}


def decode_conf_from_args(args, beam: int) -> DecodeConf:
    """--decode-config YAML (strict) < the re-ranking flags that were given; checked."""
    path = getattr(args, "decode_config", None)
    data = load_yaml(path) if path else {}
    source = str(path) if path else "defaults"
    given = {
        k: getattr(args, n) for n, k in FLAG_KEYS.items() if getattr(args, n, None) is not None
    }
    for key, value in given.items():  # already typed by argparse: set, not parsed as YAML
        section, name = key.split(".")
        block = data.setdefault(section, {})
        if not isinstance(block, dict):
            raise ConfigError(f"{source}: {section} must be a mapping, got {block!r}")
        block[name] = value
    source += " + command-line flags" if given else ""
    conf = build(DecodeConf, data, source)
    if conf.rerank.atcl_exp and not Path(conf.rerank.atcl_exp).is_dir():
        raise ConfigError(f"{source}: rerank.atcl_exp {conf.rerank.atcl_exp}: no such directory")
    check_decode_conf(conf, beam, source)
    return conf
