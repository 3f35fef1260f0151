"""Audio encoder + frame pooling + task head, the model that pre-training trains.

    model = PretrainModel(encoder, conf, out_dim)          # out_dim: text dim or classes
    emb = model(wave, lengths)                              # (B, L) -> (B, out) ATCL / logits MLAC

The encoder runs `encode` on the whole equal-length batch (the crops of aac.pretrain.data),
then pooling uses each clip's valid frames only: mean, max, or their sum ("meanmax", as
PANN's clip head). ATCL: a projection (MLP or linear) to `embed_dim`, a trainable linear
map of the frozen text embeddings to the same space, and the temperature (learnable as
log(1/tau) when `atcl.learn_tau`). MLAC: a linear classifier (logits; BCE outside).
Training-time masks (SpecAugment style) zero random frame spans and feature channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aac.encoders import AudioEncoder


def frame_mask(encoder: AudioEncoder, lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) valid samples -> (B, frames) bool, True on frames computed from real audio."""
    valid = torch.tensor([max(1, min(frames, encoder.num_frames(int(n)))) for n in lengths])
    return torch.arange(frames)[None, :] < valid[:, None]


def pool_frames(x: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """x (B, T, D), mask (B, T) -> (B, D)."""
    m = mask.unsqueeze(-1).to(x.dtype)
    mean = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
    if how == "mean":
        return mean
    peak = x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    return peak if how == "max" else mean + peak


def spec_masks(x: torch.Tensor, aug, generator: torch.Generator) -> torch.Tensor:
    """Zero `time_masks` spans of frames and `channel_masks` bands of channels per clip."""
    b, t, d = x.shape
    keep = torch.ones(b, t, d)
    for what, count, width, size in (
        ("t", aug.time_masks, aug.time_mask_frames, t),
        ("c", aug.channel_masks, aug.channel_mask_width, d),
    ):
        for _ in range(count):
            w = torch.randint(0, width + 1, (b,), generator=generator)
            s = (torch.rand(b, generator=generator) * (size - w + 1).clamp(min=1)).long()
            idx = torch.arange(size)[None, :]
            band = (idx >= s[:, None]) & (idx < (s + w)[:, None])  # (B, size)
            keep = keep * (~(band[:, :, None] if what == "t" else band[:, None, :])).float()
    return x * keep.to(x.device, x.dtype)


class PretrainModel(nn.Module):
    def __init__(self, encoder: AudioEncoder, conf, out_dim: int, text_dim: int = 0):
        super().__init__()
        self.encoder, self.conf = encoder, conf
        d, h = encoder.output_dim, conf.head
        self.dropout = nn.Dropout(h.dropout)
        if conf.task == "atcl":
            if h.hidden_dim > 0:
                self.head = nn.Sequential(
                    nn.Linear(d, h.hidden_dim), nn.ReLU(), nn.Linear(h.hidden_dim, h.embed_dim)
                )
            else:
                self.head = nn.Linear(d, h.embed_dim)
            self.text_proj = (
                nn.Linear(text_dim, h.embed_dim) if conf.atcl.text_projection else nn.Identity()
            )
            self.log_inv_tau = nn.Parameter(
                torch.tensor(math.log(1.0 / conf.atcl.tau)), requires_grad=conf.atcl.learn_tau
            )
        else:
            self.head = nn.Linear(d, out_dim)
        self.mask_rng = torch.Generator().manual_seed(conf.seed + 1)

    @property
    def tau(self) -> torch.Tensor:
        return torch.exp(-self.log_inv_tau.clamp(max=math.log(100.0)))  # tau >= 0.01

    def pooled(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, L) crops -> (B, D) pooled encoder frames."""
        frames = self.encoder.encode(wave)  # (B, T', D)
        mask = frame_mask(self.encoder, lengths, frames.shape[1]).to(frames.device)
        if self.training:
            frames = spec_masks(frames, self.conf.augment, self.mask_rng)
        return pool_frames(frames, mask, self.conf.head.pooling)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pooled(wave, lengths)))

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        return self.text_proj(text)
