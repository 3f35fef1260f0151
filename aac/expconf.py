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

import math
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
    # cider_d_simple: CIDEr-D on normalised text without the PTB tokenizer (not the
    # scored CIDEr-D, which aac-score computes after PTB tokenization) | loss (lower is better)
    metric: str = "cider_d_simple"
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


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _number_checks(conf: TrainConf) -> list:
    """(ok, key, what) for every number a typo or a sign slip can make meaningless."""
    o, m, v = conf.optim, conf.model, conf.valid
    positive = lambda x: _finite(x) and x > 0  # noqa: E731
    non_negative = lambda x: _finite(x) and x >= 0  # noqa: E731
    fraction = lambda x: _finite(x) and 0 <= x < 1  # noqa: E731
    checks = [
        (positive(o.lr), "optim.lr", "a positive finite number", o.lr),
        (
            non_negative(o.weight_decay),
            "optim.weight_decay",
            "a finite number >= 0",
            o.weight_decay,
        ),
        (positive(o.eps), "optim.eps", "a positive finite number", o.eps),
        (
            non_negative(o.grad_clip),
            "optim.grad_clip",
            "a finite number >= 0 (0 disables)",
            o.grad_clip,
        ),
        (o.warmup_steps >= 0, "optim.warmup_steps", ">= 0", o.warmup_steps),
        (
            o.warmup_ratio is None or fraction(o.warmup_ratio),
            "optim.warmup_ratio",
            "in [0, 1)",
            o.warmup_ratio,
        ),
        (m.max_target_length >= 2, "model.max_target_length", ">= 2", m.max_target_length),
        (
            min(m.d_model, m.decoder_layers, m.decoder_attention_heads, m.decoder_ffn_dim) >= 1,
            "model.d_model/decoder_layers/decoder_attention_heads/decoder_ffn_dim",
            ">= 1",
            (m.d_model, m.decoder_layers, m.decoder_attention_heads, m.decoder_ffn_dim),
        ),
        (
            v.keep_nbest >= 1 and v.beam >= 1 and v.batch_size >= 1,
            "valid.keep_nbest/beam/batch_size",
            ">= 1",
            (v.keep_nbest, v.beam, v.batch_size),
        ),
        (v.max_clips >= 0, "valid.max_clips", ">= 0 (0 = all)", v.max_clips),
        (conf.log_interval >= 1, "log_interval", ">= 1", conf.log_interval),
        (conf.checkpoint_interval >= 0, "checkpoint_interval", ">= 0", conf.checkpoint_interval),
        (conf.num_workers >= 0, "num_workers", ">= 0", conf.num_workers),
    ]
    checks += [(all(fraction(b) for b in o.betas), "optim.betas", "two numbers in [0, 1)", o.betas)]
    for key in (
        "dropout",
        "attention_dropout",
        "activation_dropout",
        "input_dropout",
        "label_smoothing",
    ):
        value = getattr(m, key)
        checks.append((fraction(value), f"model.{key}", "in [0, 1)", value))
    return checks


def check_conf(conf: TrainConf, source: str) -> None:
    """Value checks the type checker cannot do; names the file and the offending key."""
    from aac.config import ConfigError

    o, m = conf.optim, conf.model
    checks = [
        (conf.downsample in (1, 2, 4, 8), "downsample must be 1, 2, 4 or 8"),
        (o.decay in ("linear", "cosine", "constant"), "optim.decay must be linear|cosine|constant"),
        (
            o.epochs >= 1 and o.batch_size >= 1 and o.accum_grad >= 1,
            "optim.epochs, optim.batch_size and optim.accum_grad must be >= 1",
        ),
        (len(o.betas) == 2, "optim.betas must have two values"),
        (
            conf.valid.metric in ("cider_d_simple", "loss"),
            "valid.metric must be cider_d_simple or loss",
        ),
        (
            m.audio_positions in ("sinusoidal", "none"),
            "model.audio_positions must be sinusoidal or none",
        ),
    ]
    checks += [
        (ok, f"{key} must be {what}, got {value!r}")
        for ok, key, what, value in _number_checks(conf)
    ]
    checks.append(
        (
            m.decoder_attention_heads < 1 or m.d_model % m.decoder_attention_heads == 0,
            "model.d_model must be divisible by model.decoder_attention_heads",
        )
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
