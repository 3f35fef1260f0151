"""`cnn_small`: a small trainable CNN audio encoder (about 0.1M parameters).

Too small to matter on real corpora; it exists so encoder pre-training (`aac.pretrain`:
audio-text contrastive learning or tagging) runs end to end on 2 CPU cores with the mini
corpus, and so captioning can then use the result:

    aac-pretrain-encoder --task atcl ... ; aac-export-encoder ... --output cnn_small.pt
    aac-extract-feats --encoder cnn_small --checkpoint cnn_small.pt ...

Frontend: the `logmel` encoder (64 slaney mel bins at 16 kHz, 25 Hz after averaging 4
frames; no weights). Body: one 3x3 conv + batch norm + ReLU per block, each of the first
three blocks followed by 2x2 average pooling (time and frequency), then the mean over
frequency: (B, T', 128) at 25 / 8 = 3.125 Hz, the frame rate of PANN Cnn14.
A checkpoint is the plain state dict of this module (what `aac-export-encoder` writes),
loaded strictly; `random_init` uses `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from aac.config import ConfigError
from aac.encoders.base import AudioEncoder, mark_random_init
from aac.encoders.logmel import HOP, WIN, LogMel, LogMelConf
from aac.encoders.state_dict import load_strict, state_dict_of

GROUP = 4  # log-mel frames averaged by the frontend: 100 Hz -> 25 Hz


@dataclass
class SmallCnnConf:
    n_mels: int = 64
    channels: List[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pooled_blocks: int = 3  # the first blocks halve time and frequency
    seed: int = 0


class SmallCnn(AudioEncoder):
    name = "cnn_small"
    sample_rate = 16000
    has_weights = True
    pretraining = "ATCL or MLAC (aac-pretrain-encoder)"
    chunk_context = 2  # 3x3 convolutions between 3 poolings: under 2 output steps each side
    clips_per_call = {"cpu": None, "cuda": None}  # small maps: calls are not split

    def __init__(self, conf: SmallCnnConf):
        super().__init__()
        if not conf.channels or not 0 <= conf.pooled_blocks <= len(conf.channels):
            raise ConfigError(
                f"cnn_small: need channels and 0 <= pooled_blocks <= "
                f"{len(conf.channels)}, got {conf.channels}, {conf.pooled_blocks}"
            )
        self.conf = conf
        self.frontend = LogMel(LogMelConf(n_mels=conf.n_mels, group=GROUP))
        self.pool = 2**conf.pooled_blocks
        self.frame_rate = self.frontend.frame_rate / self.pool
        self.output_dim = conf.channels[-1]
        # at least one output frame: `pool` frontend frames
        self.min_samples = WIN + (self.pool * GROUP - 1) * HOP
        self.bn0 = nn.BatchNorm2d(conf.n_mels)  # per-mel-bin input normalisation
        ins = [1] + list(conf.channels[:-1])
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 3, padding=1, bias=False) for i, o in zip(ins, conf.channels)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(o) for o in conf.channels)

    def num_frames(self, num_samples: int) -> int:
        frames = self.frontend.num_frames(max(num_samples, self.min_samples))
        for _ in range(self.conf.pooled_blocks):
            frames //= 2
        return frames

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.frontend.encode(wave)  # (B, T, M)
        x = self.bn0(x.transpose(1, 2)[..., None]).squeeze(-1)  # (B, M, T)
        x = x.transpose(1, 2)[:, None]  # (B, 1, T, M)
        for b, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
            if b < self.conf.pooled_blocks:
                x = F.avg_pool2d(x, 2)  # (B, C, T/2, M/2)
        return x.mean(dim=3).transpose(1, 2)  # (B, T', C)


def build_small_cnn(checkpoint, random_init, trust, conf: SmallCnnConf, load):
    with torch.random.fork_rng():
        torch.manual_seed(conf.seed)
        model = SmallCnn(conf)
    if checkpoint is None:
        return mark_random_init(model)
    obj, path = load(checkpoint, trust)
    load_strict(model, state_dict_of(obj, path, None), path, "cnn_small")
    return model
