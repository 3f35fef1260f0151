"""Training-only levers of caption training: SpecAugment-style masking and the frozen
sentence embeddings of the training captions (for the text-embedding loss).

    feats = spec_augment(feats, feat_mask, conf.spec_augment)   # (B, T, D), masks zeroed
    table = caption_embeddings(captions, conf.text_embedding, exp_dir / "text_embeddings.pt")
    items = IndexedItems(train_set)                             # items carry their index

Masking draws from torch's global RNG, which last.pt saves and restores, so a resumed
run masks exactly as an uninterrupted one. It is applied to training batches only
(`CaptionTask.loss`); validation and decoding never see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch


def _draw(high: int, n: int) -> torch.Tensor:
    """n integers uniform in 0..high (inclusive), from the global RNG."""
    return torch.randint(0, high + 1, (n,))


def spec_augment(feats: torch.Tensor, feat_mask: torch.Tensor, conf) -> torch.Tensor:
    """A copy of `feats` (B, T, D) with, per clip, `time_masks` spans of 0..time_width real
    frames and `channel_masks` spans of 0..channel_width channels set to 0."""
    if not (conf.time_masks and conf.time_width) and not (
        conf.channel_masks and conf.channel_width
    ):
        return feats
    b, _, d = feats.shape
    keep = torch.ones_like(feats, dtype=torch.bool)  # (B, T, D)
    lengths = feat_mask.sum(dim=1).tolist()  # real frames per clip
    for i in range(b):
        if conf.time_width:
            for w in _draw(min(conf.time_width, int(lengths[i])), conf.time_masks).tolist():
                start = int(_draw(int(lengths[i]) - w, 1))
                keep[i, start : start + w, :] = False
        if conf.channel_width:
            for w in _draw(min(conf.channel_width, d), conf.channel_masks).tolist():
                start = int(_draw(d - w, 1))
                keep[i, :, start : start + w] = False
    return feats * keep.to(feats.dtype)


class IndexedItems(torch.utils.data.Dataset):
    """Items of `dataset` with their index appended, so a batch can look up per-item data
    (the text-embedding table): (frames, token ids) -> (frames, token ids, i)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return (*self.dataset[i], i)


def text_model_dim(model_dir: Optional[str]) -> int:
    """Embedding size (hidden_size) of a HF sentence-embedding dir (None = the bundled one),
    read from its config.json without loading the weights."""
    import json

    from aac.pretrain.text_encoder import resolve_model_dir

    config = json.loads((resolve_model_dir(model_dir) / "config.json").read_text("utf-8"))
    return int(config["hidden_size"])


def caption_embeddings(
    captions: Sequence[str], conf, cache_file: Optional[Path], device: str = "cpu"
) -> torch.Tensor:
    """(N, E) frozen sentence embeddings of the N training captions (mixture captions
    included); each distinct caption is embedded once and kept in `cache_file`."""
    from aac.pretrain.text_encoder import cached_embeddings

    return cached_embeddings(list(captions), conf.model_dir, cache_file, device)
