"""Learning-rate schedule: linear warm-up, then linear/cosine decay to zero or constant."""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, warmup: int, total: int, decay: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


def build_scheduler(optimizer, optim_conf, total_steps: int):
    warmup = optim_conf.warmup_steps
    if optim_conf.warmup_ratio is not None:
        warmup = int(round(optim_conf.warmup_ratio * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, total_steps, optim_conf.decay)
    )
