"""Optional pieces of the caption model around the projected frames (all off by default).

    adapter = ConformerAdapter(d_model=768, layers=2, heads=8, ffn_dim=1024, kernel=31)
    hidden = adapter(hidden, feat_mask)          # (B, T, d_model) -> (B, T, d_model)
    head = TextEmbeddingHead(d_model=768, dim=384)
    emb = head(hidden, feat_mask)                # (B, 384), L2-normalised

`ConformerAdapter` sits between the projected frames and the BART decoder, as in
BEATs-Conformer-BART (Wu et al., DCASE 2023): frames see each other (self-attention and a
depthwise convolution) before the decoder cross-attends to them.

`TextEmbeddingHead` pools the audio-side frames (mean over real frames) and projects them
into a sentence-embedding space, for the auxiliary InfoNCE loss against frozen sentence
embeddings of the reference captions (aac.train.trainer) and for re-ranking candidates.
A model whose `ModelConf` leaves both off holds neither module, so its parameters are
exactly those of the paper's model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aac.errors import AacError


class NoTextEmbeddingHead(AacError, RuntimeError):
    """`embed_audio` on a model trained without a text-embedding head."""


def _feed_forward(d: int, ffn_dim: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.LayerNorm(d),
        nn.Linear(d, ffn_dim),
        nn.SiLU(),
        nn.Dropout(dropout),
        nn.Linear(ffn_dim, d),
        nn.Dropout(dropout),
    )


class ConformerBlock(nn.Module):
    """x + FF/2, + MHSA, + Conv, + FF/2, LayerNorm (Gulati et al. 2020), padding-exact.

    Unlike torchaudio's Conformer (BatchNorm in the convolution, padded frames convolved
    with real ones), padded frames are zeroed before the depthwise convolution and the
    convolution is normalised with LayerNorm, so a clip's frames do not depend on what it
    was batched with: batched decoding equals one clip at a time. Positions come from the
    sinusoids added to the projected frames (model.audio_positions)."""

    def __init__(self, d: int, heads: int, ffn_dim: int, kernel: int, dropout: float):
        super().__init__()
        self.ff1, self.ff2 = _feed_forward(d, ffn_dim, dropout), _feed_forward(d, ffn_dim, dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.conv_norm = nn.LayerNorm(d)
        self.pointwise_in = nn.Conv1d(d, 2 * d, 1)
        self.depthwise = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.depthwise_norm = nn.LayerNorm(d)
        self.pointwise_out = nn.Conv1d(d, d, 1)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(d)

    def convolution(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.pointwise_in(self.conv_norm(x).transpose(1, 2)), dim=1)  # (B, d, T)
        y = self.depthwise(y * keep.transpose(1, 2))  # padded frames contribute zeros
        y = F.silu(self.depthwise_norm(y.transpose(1, 2)))  # (B, T, d)
        return self.dropout(self.pointwise_out(y.transpose(1, 2)).transpose(1, 2))

    def forward(self, x: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        keep = feat_mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        x = x + 0.5 * self.ff1(x)
        h = self.attn_norm(x)
        attended, _ = self.attn(h, h, h, key_padding_mask=~feat_mask, need_weights=False)
        x = x + self.dropout(attended)
        x = x + self.convolution(x, keep)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x) * keep  # (B, T, d)


class ConformerAdapter(nn.Module):
    """`layers` Conformer blocks over the projected frames: (B, T, d) -> (B, T, d)."""

    def __init__(
        self, d_model: int, layers: int, heads: int, ffn_dim: int, kernel: int, dropout: float
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, heads, ffn_dim, kernel, dropout) for _ in range(layers)
        )

    def forward(self, hidden: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        hidden = hidden * feat_mask.unsqueeze(-1).to(hidden.dtype)
        for block in self.blocks:
            hidden = block(hidden, feat_mask)
        return hidden


class TextEmbeddingHead(nn.Module):
    """Masked mean of (B, T, d) frames -> Linear(d, d) + GELU + Linear(d, E) -> L2 norm."""

    def __init__(self, d_model: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, dim))

    def forward(self, hidden: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        weights = feat_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, d)
        return F.normalize(self.net(pooled).float(), dim=-1)  # (B, E)
