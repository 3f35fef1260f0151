"""The `AudioEncoder` interface every registry entry implements.

    feats, feat_lengths = enc(wave, wave_lengths)  # (B, T) -> (B, T', D), (B,)

Padding policy (why features never depend on the batch): convolutional frontends see
the padded tail through their receptive field and through batch-norm shifts, so
cropping the output of a padded batch is not exact. `forward` therefore runs each
group of clips with the same valid length as one batch on exactly those samples; a
batch of equal-length clips (AudioCaps' 10 s clips) stays one batch, mixed lengths
cost one call per length (and one per `clips_per_call` clips). Outputs are zero beyond each
clip's `feat_lengths`.
Clips shorter than `min_samples` are zero-padded at the end up to `min_samples`.

What an encoder is, said once on its class (tests/test_encoders.py checks that every
registered encoder declares each of ENCODER_FACTS itself, not through this base class):
  - `has_weights`: False for a fixed signal-processing frontend (no checkpoint, no random
    init; `logmel`); `build_encoder` and packing read it.
  - `chunk_context`: steps of real audio on each side of a chunk (`aac.encoders.chunking`);
    `frames_per_step` output frames per step (1, or BEATs' 8 frequency tokens).
  - `pretraining`: its pre-training tasks as results tables print them
    (`pretraining_tasks(checkpoint)` when the checkpoint file decides, as for BEATs).
  - `clips_per_call`: most clips per encoder call by device type (`max_clips(device)`);
    None or a missing device type: a whole equal-length group (the caller's batch).
"""

from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

import torch
from torch import nn

log = logging.getLogger(__name__)

# Declared by every registered encoder class (see the module docstring).
ENCODER_FACTS = ("has_weights", "chunk_context", "pretraining", "clips_per_call")


class AudioEncoder(nn.Module):
    """Frozen waveform -> frame-feature encoder; subclasses implement `encode` and `num_frames`."""

    name: str = ""
    sample_rate: int = 16000
    frame_rate: float = 1.0  # frames per second of output, before any downsampling
    output_dim: int = 0
    min_samples: int = 1
    frames_per_step: int = 1
    # ENCODER_FACTS: no defaults here, each encoder class states its own.
    has_weights: bool
    chunk_context: int
    pretraining: str
    clips_per_call: Dict[str, Optional[int]]

    def __init__(self):
        super().__init__()
        self.checkpoint: Optional[str] = None
        self.checkpoint_sha256: Optional[str] = None
        self.random_init = False

    def num_frames(self, num_samples: int) -> int:
        """Output frames for a clip of `num_samples` samples (after min-length padding)."""
        raise NotImplementedError

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, T) equal-length clips -> (B, T', D)."""
        raise NotImplementedError

    @classmethod
    def pretraining_tasks(cls, checkpoint: str = "") -> str:
        """Pre-training tasks of this encoder with weights from `checkpoint` (a path)."""
        return cls.pretraining

    def max_clips(self, device: torch.device) -> Optional[int]:
        """Most clips per `encode` call on `device` (None: no limit)."""
        return self.clips_per_call.get(torch.device(device).type)

    def pad_short(self, wave: torch.Tensor, lengths: torch.Tensor):
        """Zero-pad clips shorter than `min_samples` (the model cannot see less)."""
        if wave.shape[1] < self.min_samples:
            wave = nn.functional.pad(wave, (0, self.min_samples - wave.shape[1]))
        return wave, lengths.clamp(min=self.min_samples)

    def forward(
        self, wave: torch.Tensor, wave_lengths: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if wave.dim() != 2:
            raise ValueError(f"{self.name}: expected wave (B, T), got shape {tuple(wave.shape)}")
        if wave_lengths is None:
            wave_lengths = torch.full((wave.shape[0],), wave.shape[1], dtype=torch.long)
        wave_lengths = wave_lengths.to("cpu", torch.long)
        wave, wave_lengths = self.pad_short(wave, wave_lengths)
        outputs, out_lengths = [None] * wave.shape[0], torch.zeros_like(wave_lengths)
        limit = self.max_clips(wave.device)
        for length in torch.unique(wave_lengths).tolist():
            group = (wave_lengths == length).nonzero().squeeze(1)
            for idx in group.split(limit or len(group)):
                feats = self.encode(wave[idx.to(wave.device), :length])  # (b, T', D)
                for j, i in enumerate(idx.tolist()):
                    outputs[i] = feats[j]
                    out_lengths[i] = feats.shape[1]
        t_max = int(out_lengths.max())
        out = outputs[0].new_zeros((len(outputs), t_max, outputs[0].shape[-1]))
        for i, f in enumerate(outputs):
            out[i, : f.shape[0]] = f
        return out, out_lengths

    def describe(self) -> dict:
        """The facts a feature cache records about this encoder."""
        return {
            "encoder": self.name,
            "checkpoint": self.checkpoint or "",
            "checkpoint_sha256": self.checkpoint_sha256 or "",
            "random_init": bool(self.random_init),
            "sample_rate": int(self.sample_rate),
            "encoder_frame_rate": float(self.frame_rate),
            "dim": int(self.output_dim),
        }


def mark_random_init(model: "AudioEncoder") -> "AudioEncoder":
    """Flag a model built without a checkpoint, loudly: it must never pass for a pretrained one."""
    model.random_init = True
    random_init_warning(model.name)
    return model


def random_init_warning(name: str) -> str:
    msg = (
        f"RANDOM INIT: encoder {name!r} has randomly initialised weights (no checkpoint); "
        f"its features are NOT those of a pretrained model"
    )
    log.warning(msg)
    return msg


# Fixed signal-processing weights stored as parameters (PANN's STFT kernels and mel matrix):
# pre-training never updates them, so a trained encoder keeps the frontend it was built with.
FRONTEND_PARAMETERS = ("stft.", "melW")


def set_trainable(model: "AudioEncoder", trainable: bool = True) -> "AudioEncoder":
    """Unfreeze an encoder for pre-training (`trainable=False` freezes it again).

    `build_encoder` always returns a frozen encoder in eval mode, which is what feature
    extraction and captioning need. Pre-training (`aac.pretrain`) calls this once after
    building: every parameter except the fixed frontend ones (FRONTEND_PARAMETERS) gets
    `requires_grad`, and the module goes to train mode (batch-norm statistics update,
    dropout on); the trainer still switches `train()`/`eval()` around validation.
    """
    for name, p in model.named_parameters():
        p.requires_grad_(trainable and not any(m in name for m in FRONTEND_PARAMETERS))
    return model.train(trainable)
