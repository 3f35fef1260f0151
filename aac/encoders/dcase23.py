"""The DCASE 2023 task 6 baseline audio encoder (`dcase23_cnn14`).

A Cnn14 fine-tuned contrastively for language-based retrieval (task 6b) and used frozen by
the task 6a captioning baseline. Its checkpoint `audio_encoder.pth` (zenodo 7752975) is a
raw state dict: `bn0.*`, `cnn.N.*` (an `nn.Sequential` of 6 blocks of
conv-bn-relu-conv-bn-relu-avgpool-dropout, so block b has convs at 8b and 8b+3 and batch
norms at 8b+1 and 8b+4), `fc.1.*` and `fc2.*` (the retrieval projection, 300-d).

Unlike PANN, block 6 pools (2, 2) too, and the frontend is not in the checkpoint: the
baseline computes librosa log-mels at 44.1 kHz: 40 ms Hann window (1764 samples) in a
2048-point FFT, 20 ms hop (882), centred frames zero-padded (librosa >= 0.10 default;
`pad_mode: reflect` reproduces older librosa), power spectrum, 64 slaney mel bins
0-22050 Hz, natural log of (mel + 2.2e-16). Frames: (B, T', 2048) at 50 Hz / 64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aac.encoders.base import AudioEncoder, mark_random_init
from aac.encoders.frontends import hann_periodic, mel_filterbank
from aac.encoders.state_dict import load_strict, state_dict_of

SAMPLE_RATE = 44100
WIN, HOP, N_FFT, NUM_MELS = 1764, 882, 2048, 64
LOG_OFFSET = float(np.spacing(1))
CHANNELS = (64, 128, 256, 512, 1024, 2048)


@dataclass
class Dcase23Conf:
    pad_mode: str = "constant"  # librosa centre padding: "constant" (>= 0.10) or "reflect"
    out_dim: int = 300  # width of fc2 for --random-init; a checkpoint sets its own
    seed: int = 0


def _cnn_layers():
    layers = []
    for c_in, c_out in zip((1,) + CHANNELS[:-1], CHANNELS):
        layers += [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Dropout(0.2),
        ]
    return nn.Sequential(*layers)


class Dcase23Cnn14(AudioEncoder):
    name = "dcase23_cnn14"
    sample_rate = SAMPLE_RATE
    frame_rate = SAMPLE_RATE / HOP / 64
    output_dim = 2048
    min_samples = 63 * HOP  # 64 STFT frames survive six (2, 2) poolings as one frame
    has_weights = True
    pretraining = "AudioSet tagging + audio-text contrastive"
    # Cnn14's 12 3x3 convolutions between 6 2x2 poolings: under 2 output steps each side.
    chunk_context = 4
    clips_per_call = {"cpu": None, "cuda": None}  # not measured: calls are not split

    def __init__(self, conf: Dcase23Conf):
        super().__init__()
        if conf.pad_mode not in ("constant", "reflect"):
            raise ValueError(
                f"dcase23_cnn14: pad_mode must be constant or reflect, got {conf.pad_mode!r}"
            )
        self.pad_mode = conf.pad_mode
        self.bn0 = nn.BatchNorm2d(NUM_MELS)
        self.cnn = _cnn_layers()
        self.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(2048, 2048), nn.ReLU(), nn.Dropout(0.5))
        self.fc2 = nn.Linear(2048, conf.out_dim)
        # Frontend constants are not in the checkpoint: non-persistent buffers.
        self.register_buffer(
            "window", torch.from_numpy(hann_periodic(WIN)).float(), persistent=False
        )
        mel = mel_filterbank(SAMPLE_RATE, N_FFT, NUM_MELS)
        self.register_buffer("mel_matrix", torch.from_numpy(mel), persistent=False)  # (M, F)

    def num_frames(self, num_samples: int) -> int:
        return (max(num_samples, self.min_samples) // HOP + 1) >> 6

    def logmel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) -> natural-log mel (B, T, 64), computed in float32."""
        with torch.autocast(wave.device.type, enabled=False):
            spec = torch.stft(
                wave.float(),
                N_FFT,
                HOP,
                WIN,
                self.window,
                center=True,
                pad_mode=self.pad_mode,
                return_complex=True,
            )  # (B, F, T)
            power = spec.real**2 + spec.imag**2
            mel = torch.matmul(self.mel_matrix, power)  # (B, M, T)
            return torch.log(mel + LOG_OFFSET).transpose(1, 2)

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.logmel(wave)[:, None]  # (B, 1, T, M)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = self.cnn(x)  # (B, 2048, T/64, 1)
        return x.mean(dim=3).transpose(1, 2)  # (B, T', 2048)


def build_dcase23(checkpoint, random_init, trust, conf: Dcase23Conf, load):
    state = None
    if checkpoint is not None:
        obj, path = load(checkpoint, trust)
        state = state_dict_of(obj, path, None)
        if "fc2.weight" in state:  # the projection width is the checkpoint's business
            conf = Dcase23Conf(
                pad_mode=conf.pad_mode, out_dim=int(state["fc2.weight"].shape[0]), seed=conf.seed
            )
    with torch.random.fork_rng():
        torch.manual_seed(conf.seed)
        model = Dcase23Cnn14(conf)
    if state is None:
        return mark_random_init(model)
    load_strict(model, state, path, model.name)
    return model
