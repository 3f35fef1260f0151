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

from aac.config import ConfigError, choice
from aac.frames import STRIDE_FACTORS
from aac.model import ModelConf

LR_DECAYS = ("linear", "cosine", "constant")  # after warm-up (aac.train.scheduler)
VALID_METRICS = ("cider_d_simple", "loss")  # what picks the best epoch; lower is better for loss
AUDIO_POSITIONS = ("sinusoidal", "none")  # model.audio_positions
# model keys that only change how the weights are trained, not what they mean: a
# fine-tuning run may set them (every other model key comes from its --init-from run)
REGULARISATION_KEYS = (
    "conformer_dropout",
    "dropout",
    "attention_dropout",
    "activation_dropout",
    "input_dropout",
    "label_smoothing",
)


@dataclass
class OptimConf:
    """AdamW and its schedule; shared by caption training and encoder pre-training."""

    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_steps: int = 0
    warmup_ratio: Optional[float] = None  # fraction of all steps; wins over warmup_steps
    decay: str = choice("linear", LR_DECAYS)
    epochs: int = 10
    batch_size: int = 32  # global: split across DDP ranks
    grad_clip: float = 1.0  # max grad norm; 0 disables
    amp: bool = True  # only takes effect on CUDA
    accum_grad: int = 1


@dataclass
class ValidConf:
    # cider_d_simple: CIDEr-D on normalised text without the PTB tokenizer (not the
    # scored CIDEr-D, which aac-score computes after PTB tokenization) | loss (lower is better)
    metric: str = choice("cider_d_simple", VALID_METRICS)
    keep_nbest: int = 3
    beam: int = 1  # 1 = greedy, faster for per-epoch model selection
    max_clips: int = 0  # 0 = the whole validation set
    batch_size: int = 32
    max_length: Optional[int] = None


MIX_MODES = ("concat", "sum")  # mixup.mode (aac.dataset: how two clips' frames are mixed)


@dataclass
class TextEmbeddingConf:
    """Auxiliary InfoNCE between the model's audio embedding (model.text_embedding_dim) and
    the frozen sentence embedding of the reference caption; the training loss is token NLL
    + weight * InfoNCE. 0 = off."""

    weight: float = 0.0
    temperature: float = 0.07
    model_dir: Optional[str] = None  # HF sentence-embedding dir; null = bundled all-MiniLM-L6-v2


@dataclass
class MixupConf:
    """Extra training items: two clips' cached frames mixed, with the caption of the mixture
    from a Kaldi text file `<clipA>+<clipB> <caption>` (null = off)."""

    captions: Optional[str] = None
    mode: str = choice("concat", MIX_MODES)  # concat: A's frames then B's; sum: frame-wise sum


@dataclass
class SpecAugmentConf:
    """Time and channel masking of the cached frames of training batches (0 masks = off)."""

    time_masks: int = 0  # masks per clip
    time_width: int = 0  # each mask covers 0..time_width frames (after downsample)
    channel_masks: int = 0
    channel_width: int = 0  # each mask covers 0..channel_width feature channels


@dataclass
class TrainConf:
    model: ModelConf = field(default_factory=ModelConf)
    optim: OptimConf = field(default_factory=OptimConf)
    valid: ValidConf = field(default_factory=ValidConf)
    text_embedding: TextEmbeddingConf = field(default_factory=TextEmbeddingConf)
    mixup: MixupConf = field(default_factory=MixupConf)
    spec_augment: SpecAugmentConf = field(default_factory=SpecAugmentConf)
    # best.pt = the mean of the weights of the n best epochs by validation metric (n <=
    # valid.keep_nbest); 0 = best.pt holds the single best epoch
    average_best: int = 0
    downsample: int = choice(1, STRIDE_FACTORS)  # frame stride before cross-attention
    seed: int = 0
    num_workers: int = 0
    log_interval: int = 50  # steps between train.log lines
    checkpoint_interval: int = 0  # steps between mid-epoch last.pt saves; 0 = per epoch only
    encoder: dict = field(default_factory=dict)  # copied from the feature cache attributes
    enc_dim: int = 0
    tokenizer: str = ""


def positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def fraction(x: float) -> bool:
    return math.isfinite(x) and 0 <= x < 1


def loop_checks(conf) -> list:
    """(ok, key, what, value) of what the training loop reads: `conf.optim` (an OptimConf)
    and the top-level log_interval, checkpoint_interval, num_workers. Both configs use it."""
    o = conf.optim
    return [
        (positive(o.lr), "optim.lr", "a positive finite number", o.lr),
        (
            non_negative(o.weight_decay),
            "optim.weight_decay",
            "a finite number >= 0",
            o.weight_decay,
        ),
        (
            len(o.betas) == 2 and all(fraction(b) for b in o.betas),
            "optim.betas",
            "two numbers in [0, 1)",
            o.betas,
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
        (
            min(o.epochs, o.batch_size, o.accum_grad) >= 1,
            "optim.epochs/batch_size/accum_grad",
            ">= 1",
            (o.epochs, o.batch_size, o.accum_grad),
        ),
        (conf.log_interval >= 1, "log_interval", ">= 1", conf.log_interval),
        (conf.checkpoint_interval >= 0, "checkpoint_interval", ">= 0", conf.checkpoint_interval),
        (conf.num_workers >= 0, "num_workers", ">= 0", conf.num_workers),
    ]


def raise_failed(checks: list, source: str) -> None:
    """ConfigError naming the file and the key of the first failed (ok, key, what, value)."""
    for ok, key, what, value in checks:
        if not ok:
            raise ConfigError(f"{source}: {key} must be {what}, got {value!r}")


def _model_checks(m: ModelConf) -> list:
    heads = m.decoder_attention_heads
    checks = [
        (m.max_target_length >= 2, "model.max_target_length", ">= 2", m.max_target_length),
        (
            min(m.d_model, m.decoder_layers, heads, m.decoder_ffn_dim) >= 1,
            "model.d_model/decoder_layers/decoder_attention_heads/decoder_ffn_dim",
            ">= 1",
            (m.d_model, m.decoder_layers, heads, m.decoder_ffn_dim),
        ),
        (
            heads < 1 or m.d_model % heads == 0,
            "model.d_model",
            f"divisible by model.decoder_attention_heads ({heads})",
            m.d_model,
        ),
        (
            m.audio_positions in AUDIO_POSITIONS,
            "model.audio_positions",
            " or ".join(AUDIO_POSITIONS),
            m.audio_positions,
        ),
    ]
    cheads = m.conformer_heads
    checks += [
        (
            m.text_embedding_dim >= 0,
            "model.text_embedding_dim",
            ">= 0 (0 = no head)",
            m.text_embedding_dim,
        ),
        (
            m.conformer_layers >= 0,
            "model.conformer_layers",
            ">= 0 (0 = no adapter)",
            m.conformer_layers,
        ),
        (
            m.conformer_layers == 0 or (cheads >= 1 and m.d_model % cheads == 0),
            "model.conformer_heads",
            f">= 1 and a divisor of model.d_model ({m.d_model})",
            cheads,
        ),
        (
            m.conformer_layers == 0 or (m.conformer_kernel % 2 == 1 and m.conformer_ffn_dim >= 1),
            "model.conformer_kernel/conformer_ffn_dim",
            "an odd kernel and a ffn size >= 1",
            (m.conformer_kernel, m.conformer_ffn_dim),
        ),
    ]
    for key in REGULARISATION_KEYS:
        value = getattr(m, key)
        checks.append((fraction(value), f"model.{key}", "in [0, 1)", value))
    return checks


def _lever_checks(conf: "TrainConf") -> list:
    t, s, n = conf.text_embedding, conf.spec_augment, conf.average_best
    return [
        (non_negative(t.weight), "text_embedding.weight", "a finite number >= 0", t.weight),
        (
            positive(t.temperature),
            "text_embedding.temperature",
            "a positive finite number",
            t.temperature,
        ),
        (
            min(s.time_masks, s.time_width, s.channel_masks, s.channel_width) >= 0,
            "spec_augment.time_masks/time_width/channel_masks/channel_width",
            ">= 0",
            (s.time_masks, s.time_width, s.channel_masks, s.channel_width),
        ),
        (
            0 <= n <= conf.valid.keep_nbest,
            "average_best",
            f"in 0..valid.keep_nbest ({conf.valid.keep_nbest}): only kept epochs can be averaged",
            n,
        ),
    ]


def check_conf(conf: TrainConf, source: str) -> None:
    """Value checks the type and choice checks cannot do; names the file and the key."""
    v = conf.valid
    raise_failed(
        loop_checks(conf)
        + _model_checks(conf.model)
        + _lever_checks(conf)
        + [
            (
                min(v.keep_nbest, v.beam, v.batch_size) >= 1,
                "valid.keep_nbest/beam/batch_size",
                ">= 1",
                (v.keep_nbest, v.beam, v.batch_size),
            ),
            (v.max_clips >= 0, "valid.max_clips", ">= 0 (0 = all)", v.max_clips),
        ],
        source,
    )
