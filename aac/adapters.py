"""Optional pieces of the caption model around the projected frames (all off by default).

    adapter = ConformerAdapter(d_model=768, layers=2, heads=8, ffn_dim=1024, kernel=31)
    hidden = adapter(hidden, feat_mask)          # (B, T, d_model) -> (B, T, d_model)
    head = TextEmbeddingHead(d_model=768, dim=384)
    emb = head(hidden, feat_mask)                # (B, 384), L2-normalised

`ConformerAdapter` sits between the projected frames and the BART decoder, as in
BEATs-Conformer-BART (Wu et al., DCASE 2023): frames see each other (self-attention and a
depthwise convolution) before the decoder cross-attends to them. It is
`torchaudio.models.Conformer`, with the frame mask turned into the lengths it takes.

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


class ConformerAdapter(nn.Module):
    def __init__(
        self, d_model: int, layers: int, heads: int, ffn_dim: int, kernel: int, dropout: float
    ):
        super().__init__()
        from torchaudio.models import Conformer

        self.conformer = Conformer(
            input_dim=d_model,
            num_heads=heads,
            ffn_dim=ffn_dim,
            num_layers=layers,
            depthwise_conv_kernel_size=kernel,
            dropout=dropout,
        )

    def forward(self, hidden: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, d), (B, T) bool -> (B, T, d); padded frames stay out of attention.

        torchaudio's Conformer takes lengths, so the mask must be a prefix mask (the
        only kind `aac.dataset.lengths_to_mask` and the captioning path make)."""
        lengths = feat_mask.sum(dim=1).clamp(min=1)  # (B,)
        out, _ = self.conformer(hidden, lengths)
        return out


class TextEmbeddingHead(nn.Module):
    """Masked mean of (B, T, d) frames -> Linear(d, d) + GELU + Linear(d, E) -> L2 norm."""

    def __init__(self, d_model: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, dim))

    def forward(self, hidden: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        weights = feat_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, d)
        return F.normalize(self.net(pooled).float(), dim=-1)  # (B, E)
