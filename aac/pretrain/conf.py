"""Pre-training configuration (strict YAML through aac.config).

The optimiser block is the captioning trainer's `OptimConf` (AdamW, warm-up, decay,
clipping, AMP on CUDA, gradient accumulation), so the two trainers read the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from aac.config import ConfigError
from aac.train.conf import OptimConf

TASKS = ("atcl", "mlac")
POOLINGS = ("mean", "max", "meanmax")


@dataclass
class EncoderConf:
    name: str = "cnn_small"  # any key of aac.encoders.ENCODERS
    checkpoint: Optional[str] = None  # initial weights; None = random init
    conf: dict = field(default_factory=dict)  # the encoder's own options (encoder_conf)
    trust_checkpoint: bool = False


@dataclass
class HeadConf:
    pooling: str = "mean"  # over valid frames: mean | max | meanmax (their sum, as PANN)
    embed_dim: int = 256  # ATCL: shared audio-text embedding width
    hidden_dim: int = 512  # ATCL: audio projection MLP width; 0 = a single linear layer
    dropout: float = 0.0


@dataclass
class AtclConf:
    tau: float = 0.07  # InfoNCE temperature (initial value when learnable)
    learn_tau: bool = True
    tau_grid: List[float] = field(default_factory=list)  # one run per value, best kept
    text_encoder: str = ""  # HF sentence-embedding model dir; "" = bundled all-MiniLM-L6-v2
    text_projection: bool = True  # trainable linear map of the frozen text embeddings


@dataclass
class AugmentConf:
    """SpecAugment-style masks on the encoder's frames (B, T', D) and waveform mixup."""

    time_masks: int = 0
    time_mask_frames: int = 2  # widest time mask
    channel_masks: int = 0
    channel_mask_width: int = 8  # widest feature-channel mask
    mixup_alpha: float = 0.0  # MLAC only: Beta(a, a) mixing of waves and targets; 0 = off


@dataclass
class PretrainConf:
    task: str = "atcl"
    encoder: EncoderConf = field(default_factory=EncoderConf)
    head: HeadConf = field(default_factory=HeadConf)
    atcl: AtclConf = field(default_factory=AtclConf)
    augment: AugmentConf = field(default_factory=AugmentConf)
    optim: OptimConf = field(default_factory=OptimConf)
    crop_seconds: float = 10.0  # training crops (random) and evaluation windows (first)
    audio_in_memory: bool = False  # keep decoded waves in RAM (small corpora, num_workers 0)
    balanced_sampling: bool = True  # MLAC: class-balanced batches
    keep_nbest: int = 1
    seed: int = 0
    num_workers: int = 0
    log_interval: int = 50
    num_classes: int = 0  # MLAC: filled in from the training labels
    classes: List[str] = field(default_factory=list)  # MLAC: label of each output


def check_conf(conf: PretrainConf, source: str) -> None:
    """Value checks the type checker cannot do; names the offending key."""
    checks = [
        (conf.task in TASKS, f"task must be one of {TASKS}"),
        (conf.head.pooling in POOLINGS, f"head.pooling must be one of {POOLINGS}"),
        (
            conf.atcl.tau > 0 and all(t > 0 for t in conf.atcl.tau_grid),
            "atcl.tau and atcl.tau_grid must be > 0",
        ),
        (conf.crop_seconds > 0, "crop_seconds must be > 0"),
        (
            conf.optim.epochs >= 1 and conf.optim.batch_size >= 2,
            "optim.epochs must be >= 1 and optim.batch_size >= 2",
        ),
        (
            conf.optim.decay in ("linear", "cosine", "constant"),
            "optim.decay must be linear|cosine|constant",
        ),
        (conf.augment.mixup_alpha >= 0, "augment.mixup_alpha must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
