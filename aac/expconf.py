"""The experiment config schema: what `exp/<name>/config.yaml` holds (strict YAML).

Written by training, read by decoding, packing, the Captioner and the results tables, so
it sits below all of them. `encoder`, `enc_dim` and `tokenizer` are filled in by
`aac-train` from the feature cache attributes and the tokenizer path, so the stored
`config.yaml` is enough to rebuild the model for decoding.

`downsample` has one meaning: the frame stride applied to the cached features before
cross-attention (the paper's Table 2). Striding already applied when the cache was
written is the cache's `extract_stride` (kept in the `encoder:` block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from aac.model import ModelConf


@dataclass
class OptimConf:
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_steps: int = 0
    warmup_ratio: Optional[float] = None  # fraction of all steps; wins over warmup_steps
    decay: str = "linear"  # after warm-up: linear | cosine | constant
    epochs: int = 10
    batch_size: int = 32  # global: split across DDP ranks
    grad_clip: float = 1.0  # max grad norm; 0 disables
    amp: bool = True  # only takes effect on CUDA
    accum_grad: int = 1


@dataclass
class ValidConf:
    metric: str = "cider_d"  # cider_d | loss (lower is better for loss)
    keep_nbest: int = 3
    beam: int = 1  # 1 = greedy, faster for per-epoch model selection
    max_clips: int = 0  # 0 = the whole validation set
    batch_size: int = 32
    max_length: Optional[int] = None


@dataclass
class TrainConf:
    model: ModelConf = field(default_factory=ModelConf)
    optim: OptimConf = field(default_factory=OptimConf)
    valid: ValidConf = field(default_factory=ValidConf)
    downsample: int = 1  # frame stride before cross-attention: 1, 2, 4 or 8
    seed: int = 0
    num_workers: int = 0
    log_interval: int = 50  # steps between train.log lines
    checkpoint_interval: int = 0  # steps between mid-epoch last.pt saves; 0 = per epoch only
    encoder: dict = field(default_factory=dict)  # copied from the feature cache attributes
    enc_dim: int = 0
    tokenizer: str = ""


def check_conf(conf: TrainConf, source: str) -> None:
    """Value checks the type checker cannot do; names the offending key."""
    from aac.config import ConfigError

    o, m = conf.optim, conf.model
    checks = [
        (conf.downsample in (1, 2, 4, 8), "downsample must be 1, 2, 4 or 8"),
        (o.decay in ("linear", "cosine", "constant"), "optim.decay must be linear|cosine|constant"),
        (o.epochs >= 1 and o.batch_size >= 1 and o.accum_grad >= 1,
         "optim.epochs, optim.batch_size and optim.accum_grad must be >= 1"),
        (len(o.betas) == 2, "optim.betas must have two values"),
        (conf.valid.metric in ("cider_d", "loss"), "valid.metric must be cider_d or loss"),
        (m.d_model % m.decoder_attention_heads == 0,
         "model.d_model must be divisible by model.decoder_attention_heads"),
        (m.audio_positions in ("sinusoidal", "none"), "model.audio_positions must be sinusoidal or none"),
        (o.warmup_ratio is None or 0 <= o.warmup_ratio < 1, "optim.warmup_ratio must be in [0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
