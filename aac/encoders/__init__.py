"""Pretrained (frozen) audio encoders behind one registry.

    from aac.encoders import ENCODERS, build_encoder
    enc = build_encoder("pann_cnn14", checkpoint="Cnn14_mAP=0.431.pth")
    feats, feat_lengths = enc(wave, wave_lengths)  # (B, T) at enc.sample_rate -> (B, T', D)

| name | checkpoint | rate | frames |
|---|---|---|---|
| `pann_cnn14` | `Cnn14_mAP=0.431.pth` | 32 kHz | (T', 2048) at 3.125 Hz |
| `pann_cnn14_16k` | `Cnn14_16k_mAP=0.438.pth` | 16 kHz | (T', 2048) at 3.125 Hz |
| `dcase23_cnn14` | DCASE 2023 baseline `audio_encoder.pth` | 44.1 kHz | (T', 2048) at 0.78 Hz |
| `beats` | `BEATs_iter3_plus_AS2M*.pt` | 16 kHz | (8T', 768) at 50 Hz |
| `logmel` | none (no weights) | 16 kHz | (T', 64) at 25 Hz |
| `cnn_small` | `aac-export-encoder` output | 16 kHz | (T', 128) at 3.125 Hz |

An encoder with weights needs a checkpoint, or `random_init=True`, which logs a warning
and sets `enc.random_init` (recorded in every feature cache). Checkpoints load with
`torch.load(weights_only=True)`; full unpickling needs `trust_checkpoint=True`.
Encoders are built frozen (eval mode, no gradients); `set_trainable(enc)` unfreezes one
for pre-training (`aac.pretrain`).

What an encoder is (weights or none, chunking context, pre-training label, clips per call
by device) is declared once on its class (`aac.encoders.base`); `ENCODERS[name].cls`
reaches it without building a model. Adding an encoder: its module here, one line in
ENCODERS, and its official checkpoints in `aac/official_encoders.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from aac.checkpoint_io import CheckpointError, file_sha256, load_checkpoint
from aac.config import ConfigError, build
from aac.encoders.base import AudioEncoder, set_trainable
from aac.encoders.beats import Beats, BeatsConf, build_beats
from aac.encoders.dcase23 import Dcase23Cnn14, Dcase23Conf, build_dcase23
from aac.encoders.logmel import LogMel, LogMelConf, build_logmel
from aac.encoders.pann import PannCnn14, PannConf, build_pann
from aac.encoders.small_cnn import SmallCnn, SmallCnnConf, build_small_cnn

__all__ = [
    "ENCODERS",
    "build_encoder",
    "encoder_class",
    "pretraining_of",
    "AudioEncoder",
    "CheckpointError",
    "set_trainable",
]


@dataclass(frozen=True)
class EncoderEntry:
    cls: type  # the AudioEncoder subclass; its class attributes are the encoder's facts
    conf: type  # dataclass validating `encoder_conf`
    build: Callable  # (checkpoint, random_init, trust, conf, load) -> AudioEncoder

    @property
    def has_weights(self) -> bool:
        return self.cls.has_weights


ENCODERS = {
    "pann_cnn14": EncoderEntry(PannCnn14, PannConf, lambda *a: build_pann("pann_cnn14", 32000, *a)),
    "pann_cnn14_16k": EncoderEntry(
        PannCnn14, PannConf, lambda *a: build_pann("pann_cnn14_16k", 16000, *a)
    ),
    "dcase23_cnn14": EncoderEntry(Dcase23Cnn14, Dcase23Conf, build_dcase23),
    "beats": EncoderEntry(Beats, BeatsConf, build_beats),
    "logmel": EncoderEntry(LogMel, LogMelConf, build_logmel),
    "cnn_small": EncoderEntry(SmallCnn, SmallCnnConf, build_small_cnn),
}


def encoder_class(name: str) -> type:
    """The AudioEncoder subclass registered as `name` (ValueError naming the known ones)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r} (known: {', '.join(ENCODERS)})")
    return ENCODERS[name].cls


def pretraining_of(name: str, checkpoint: Optional[str] = None) -> str:
    """Pre-training tasks of encoder `name` with weights from `checkpoint`; "unknown" for
    a name this registry does not hold (an experiment from another toolkit version)."""
    if name not in ENCODERS:
        return "unknown"
    return ENCODERS[name].cls.pretraining_tasks(checkpoint or "")


def _load(path, trust):
    return load_checkpoint(path, trust), str(path)


def build_encoder(
    name: str,
    checkpoint: Optional[str] = None,
    random_init: bool = False,
    trust_checkpoint: bool = False,
    conf: Optional[dict] = None,
) -> AudioEncoder:
    """Build a frozen encoder in eval mode; see the module docstring."""
    encoder_class(name)  # refuses an unknown name
    entry = ENCODERS[name]
    enc_conf: Any = build(entry.conf, conf or {}, source=f"encoder_conf of {name}")
    if not entry.has_weights:
        if checkpoint is not None:
            raise ConfigError(f"encoder {name!r} has no weights; do not pass a checkpoint")
    elif checkpoint is None and not random_init:
        raise ConfigError(
            f"encoder {name!r} needs --encoder-checkpoint PATH (the official weights); "
            f"--random-init gives random features for ablations only"
        )
    elif checkpoint is not None and random_init:
        raise ConfigError(f"encoder {name!r}: give either a checkpoint or random_init, not both")
    model = entry.build(checkpoint, random_init, trust_checkpoint, enc_conf, _load)
    if checkpoint is not None:
        model.checkpoint = os.path.abspath(checkpoint)
        model.checkpoint_sha256 = file_sha256(checkpoint)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
