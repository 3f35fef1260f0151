"""Symmetric InfoNCE (CLIP/CLAP style) for audio-text contrastive learning.

    loss = (CE(S, diag) + CE(S^T, diag)) / 2,  S = a t^T / tau,  a, t L2-normalised (B, E)

Row i of S scores audio i against every caption of the batch; its positive is caption i.
Under DDP the embeddings of all ranks are gathered first (with gradients), so every
rank scores the global batch, as one process would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(audio: torch.Tensor, text: torch.Tensor, tau) -> torch.Tensor:
    """audio, text: (B, E), row i of each a positive pair; tau: float or 0-d tensor."""
    audio = F.normalize(audio.float(), dim=-1)
    text = F.normalize(text.float(), dim=-1)
    logits = audio @ text.t() / tau  # (B, B)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def gather_with_grad(x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """(b, E) on each rank -> (world * b, E) in rank order; gradients flow back to each rank."""
    if not enabled:
        return x
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(x), dim=0)
