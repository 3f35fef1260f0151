"""`logmel`: a cheap, deterministic log-mel filterbank "encoder" with no weights.

Used by the built-in mini recipe (official checkpoints cannot be fetched offline) and as
a sanity baseline. 64 slaney mel bins at 16 kHz from 25 ms Hann frames every 10 ms
(frames fully inside the clip, as Kaldi's snip-edges), natural log of (power + 1e-6),
mapped to roughly zero mean / unit range with fixed constants, then `group` consecutive
frames averaged: 100 Hz / 4 = 25 Hz, (B, T', 64), or (B, T', 128) with `deltas: true`
(first differences of the grouped frames). Each clip is computed on its own samples,
so features never depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aac.encoders.base import AudioEncoder
from aac.encoders.frontends import hann_periodic, mel_filterbank

WIN, HOP = 400, 160
LOG_FLOOR = 1e-6
# ln(mel power) of speech-level audio spans about -14 (silence floor) to +4
OFFSET, SCALE = -5.0, 4.0


@dataclass
class LogMelConf:
    n_mels: int = 64
    group: int = 4  # frames averaged per output frame: 100 Hz / group
    deltas: bool = False
    fmin: float = 0.0
    fmax: float = 8000.0


class LogMel(AudioEncoder):
    name = "logmel"
    sample_rate = 16000
    has_weights = False
    pretraining = "none"
    clips_per_call = {"cpu": None, "cuda": None}  # per-clip work is small: never split

    def __init__(self, conf: LogMelConf):
        super().__init__()
        if conf.group < 1 or conf.n_mels < 1:
            raise ValueError(
                f"logmel: group and n_mels must be >= 1, got {conf.group}, {conf.n_mels}"
            )
        self.conf = conf
        self.frame_rate = 100.0 / conf.group
        self.output_dim = conf.n_mels * (2 if conf.deltas else 1)
        self.min_samples = WIN + (conf.group - 1) * HOP
        self.register_buffer(
            "window", torch.from_numpy(hann_periodic(WIN)).float(), persistent=False
        )
        mel = mel_filterbank(self.sample_rate, WIN, conf.n_mels, conf.fmin, conf.fmax)
        self.register_buffer("mel_matrix", torch.from_numpy(mel), persistent=False)  # (M, F)

    @property
    def chunk_context(self) -> int:
        """One step covers a frame's window overlap; deltas read one more frame each side."""
        return 2 if self.conf.deltas else 1

    def num_frames(self, num_samples: int) -> int:
        return (1 + (max(num_samples, self.min_samples) - WIN) // HOP) // self.conf.group

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        with torch.autocast(wave.device.type, enabled=False):
            spec = torch.stft(
                wave.float(), WIN, HOP, WIN, self.window, center=False, return_complex=True
            )
            power = spec.real**2 + spec.imag**2  # (B, F, T)
            x = torch.log(torch.matmul(self.mel_matrix, power) + LOG_FLOOR)  # (B, M, T)
            x = (x - OFFSET) / SCALE
            g = self.conf.group
            t = x.shape[-1] // g * g
            x = x[..., :t].unflatten(-1, (t // g, g)).mean(-1).transpose(1, 2)  # (B, T', M)
            if self.conf.deltas:
                padded = F.pad(x.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)
                x = torch.cat([x, (padded[:, 2:] - padded[:, :-2]) / 2], dim=-1)
            return x


def build_logmel(checkpoint, random_init, trust, conf: LogMelConf, load):
    return LogMel(conf)
