"""Pre-training configuration (strict YAML through aac.config).

The optimiser block is the captioning config's `OptimConf` (AdamW, warm-up, decay,
clipping, AMP on CUDA, gradient accumulation) and the loop keys (log_interval,
checkpoint_interval, num_workers) are the same too, checked by the same
`aac.expconf.loop_checks`: both run through one loop (aac.train.loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from aac.config import choice
from aac.expconf import OptimConf, fraction, loop_checks, non_negative, positive, raise_failed

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
    pooling: str = choice("mean", POOLINGS)  # over valid frames; meanmax: their sum, as PANN
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
    task: str = choice("atcl", TASKS)
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
    checkpoint_interval: int = 0  # steps between mid-epoch last.pt saves; 0 = per epoch only
    num_classes: int = 0  # MLAC: filled in from the training labels
    classes: List[str] = field(default_factory=list)  # MLAC: label of each output


def check_conf(conf: PretrainConf, source: str) -> None:
    """Value checks the type and choice checks cannot do; names the file and the key."""
    a, h = conf.atcl, conf.head
    checks = loop_checks(conf) + [
        (
            positive(a.tau) and all(positive(t) for t in a.tau_grid),
            "atcl.tau and atcl.tau_grid",
            "> 0",
            [a.tau, *a.tau_grid],
        ),
        (positive(conf.crop_seconds), "crop_seconds", "> 0", conf.crop_seconds),
        (conf.optim.batch_size >= 2, "optim.batch_size", ">= 2", conf.optim.batch_size),
        (conf.keep_nbest >= 1, "keep_nbest", ">= 1", conf.keep_nbest),
        (h.embed_dim >= 1, "head.embed_dim", ">= 1", h.embed_dim),
        (h.hidden_dim >= 0, "head.hidden_dim", ">= 0 (0: one linear layer)", h.hidden_dim),
        (fraction(h.dropout), "head.dropout", "in [0, 1)", h.dropout),
        (
            non_negative(conf.augment.mixup_alpha),
            "augment.mixup_alpha",
            "a finite number >= 0",
            conf.augment.mixup_alpha,
        ),
    ]
    raise_failed(checks, source)
