"""Learning-rate schedule: linear warm-up, then linear/cosine decay to zero or constant.

The decay names are `aac.expconf.LR_DECAYS`, checked when the config is read; any other
name is an error here too, never a silent linear decay.
"""

from __future__ import annotations

import math

import torch

from aac.expconf import LR_DECAYS


def lr_factor(step: int, warmup: int, total: int, decay: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if decay == "linear":
        return max(0.0, 1.0 - progress)
    raise ValueError(f"unknown LR decay {decay!r} (one of {LR_DECAYS})")


def build_scheduler(optimizer, optim_conf, total_steps: int):
    if optim_conf.decay not in LR_DECAYS:
        raise ValueError(f"optim.decay {optim_conf.decay!r} is not one of {LR_DECAYS}")
    warmup = optim_conf.warmup_steps
    if optim_conf.warmup_ratio is not None:
        warmup = int(round(optim_conf.warmup_ratio * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, total_steps, optim_conf.decay)
    )
