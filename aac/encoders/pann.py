"""PANN Cnn14 (Kong et al. 2020) as a frame-feature encoder: `pann_cnn14`, `pann_cnn14_16k`.

Checkpoints `Cnn14_mAP=0.431.pth` (32 kHz) and `Cnn14_16k_mAP=0.438.pth` (16 kHz) are
`{"model": state_dict, ...}`. The module names below mirror that state dict so it loads
with `strict=True`, frontend included: the STFT kernels and the mel matrix come from the
checkpoint (their shapes tell 16 kHz from 32 kHz).

Frames: output of the 6th conv block averaged over frequency, before time pooling,
(B, T', 2048) at 100 Hz / 32 = 3.125 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aac.checkpoint_io import CheckpointError
from aac.encoders.base import AudioEncoder, mark_random_init
from aac.encoders.frontends import mel_filterbank, stft_kernels
from aac.encoders.state_dict import load_strict, state_dict_of

# sample rate -> (n_fft, hop, fmin, fmax), from the PANN training configs
PANN_FRONTENDS = {32000: (1024, 320, 50, 14000), 16000: (512, 160, 50, 8000)}
CHANNELS = (64, 128, 256, 512, 1024, 2048)
NUM_MELS = 64
NUM_CLASSES = 527


@dataclass
class PannConf:
    seed: int = 0  # weights of a --random-init encoder, identical in every parallel job


class _Stft(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)


class _Spectrogram(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft = n_fft
        self.stft = _Stft(n_fft, hop)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave[:, None, :]  # (B, 1, N)
        pad = self.n_fft // 2
        x = F.pad(x, (pad, pad), mode="reflect")  # centred frames, as librosa/torchlibrosa
        real = self.stft.conv_real(x)  # (B, F, T)
        imag = self.stft.conv_imag(x)
        return (real**2 + imag**2).transpose(1, 2)  # power (B, T, F)


class _LogMel(nn.Module):
    def __init__(self, n_fft: int, n_mels: int):
        super().__init__()
        self.melW = nn.Parameter(torch.zeros(n_fft // 2 + 1, n_mels), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(power, self.melW)  # (B, T, M)
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))  # dB, ref 1.0, no top_db


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
        else:
            x = conv_bn_relu(conv_bn_relu(x, self.conv1, self.bn1), self.conv2, self.bn2)
        return F.avg_pool2d(x, pool) if pool > 1 else x


def conv_bn_relu(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """relu(bn(conv(x))) for inference, in fewer passes; equal to float rounding.

    Batch norm with running statistics is a per-channel scale and shift. Early blocks have
    large maps and small kernels: the scale goes into the kernel (a few MB, folded on the
    fly), so the maps are not read twice more for batch norm. Late blocks have tiny maps
    (2 frequency bins) and large kernels (75 MB in block 6), where oneDNN's direct
    convolution runs at a third of matmul speed for one clip: there the convolution is
    one matrix product over unfolded 3x3 patches, then the scale and shift. So is the
    first convolution (one input channel: 9 values per patch), 6x faster that way.
    """
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)  # (C_out,)
    shift = bn.bias - bn.running_mean * scale
    b, c_in, h, w = x.shape  # (B, C_in, T, F)
    if c_in == 1 or h * w <= 64 or b * h * w <= 256:  # measured on 2 cores: matmul wins
        patches = F.unfold(x, 3, padding=1)  # (B, 9 C_in, T F)
        y = conv.weight.reshape(conv.out_channels, -1) @ patches  # (B, C_out, T F)
        y = torch.addcmul(shift[:, None], y, scale[:, None])
        return F.relu_(y).view(b, -1, h, w)
    weight = conv.weight * scale[:, None, None, None]
    return F.relu_(F.conv2d(x, weight, shift, padding=1))


class PannCnn14(AudioEncoder):
    output_dim = 2048
    has_weights = True
    pretraining = "AudioSet tagging"
    # 12 3x3 convolutions between 5 2x2 poolings see about 126 STFT frames on each side,
    # under 5 output steps: 6 steps make chunks equal the whole clip to float rounding.
    chunk_context = 6
    # CPU (2 cores): block 1's maps are 16 MB per 10 s clip at 32 kHz; in calls of 16
    # clips the fastest setting ran at 0.24 s per clip, in calls of 4 at 0.18 s with 25%
    # less peak memory. CUDA: not measured, so calls are not split (the batch bounds them).
    clips_per_call = {"cpu": 4, "cuda": None}

    def __init__(self, name: str, sample_rate: int):
        super().__init__()
        n_fft, hop, fmin, fmax = PANN_FRONTENDS[sample_rate]
        self.name, self.sample_rate, self.hop = name, sample_rate, hop
        self.frame_rate = sample_rate / hop / 32
        # 32 STFT frames survive five (2, 2) poolings as one output frame
        self.min_samples = 31 * hop
        self.spectrogram_extractor = _Spectrogram(n_fft, hop)
        self.logmel_extractor = _LogMel(n_fft, NUM_MELS)
        self.bn0 = nn.BatchNorm2d(NUM_MELS)
        for i, (c_in, c_out) in enumerate(zip((1,) + CHANNELS[:-1], CHANNELS), 1):
            setattr(self, f"conv_block{i}", ConvBlock(c_in, c_out))
        # Unused for frames; present so the official checkpoint loads strictly.
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, NUM_CLASSES)
        self._set_frontend(n_fft, fmin, fmax)

    def _set_frontend(self, n_fft: int, fmin: float, fmax: float) -> None:
        real, imag = stft_kernels(n_fft)
        stft = self.spectrogram_extractor.stft
        stft.conv_real.weight.data.copy_(torch.from_numpy(real)[:, None, :])
        stft.conv_imag.weight.data.copy_(torch.from_numpy(imag)[:, None, :])
        mel = mel_filterbank(self.sample_rate, n_fft, NUM_MELS, fmin, fmax)
        self.logmel_extractor.melW.data.copy_(torch.from_numpy(mel).T)

    def num_frames(self, num_samples: int) -> int:
        frames = max(num_samples, self.min_samples) // self.hop + 1
        return frames >> 5

    def logmel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) -> normalised log-mel (B, 1, T, 64)."""
        x = self.logmel_extractor(self.spectrogram_extractor(wave))[:, None]  # (B, 1, T, M)
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)  # batch norm over mel bins

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.logmel(wave)
        for i in range(1, 7):
            x = getattr(self, f"conv_block{i}")(x, pool=2 if i < 6 else 1)
        return x.mean(dim=3).transpose(1, 2)  # (B, 2048, T', F') -> (B, T', 2048)


def pann_rate_of(state: dict, path: str) -> int:
    """Sample rate implied by the STFT kernel size stored in a Cnn14 checkpoint."""
    key = "spectrogram_extractor.stft.conv_real.weight"
    if key not in state:
        raise CheckpointError(f"{path}: not a Cnn14 checkpoint: key {key!r} is missing")
    n_fft = state[key].shape[-1]
    for rate, (fft, *_rest) in PANN_FRONTENDS.items():
        if fft == n_fft:
            return rate
    raise CheckpointError(f"{path}: Cnn14 STFT kernel of {n_fft} taps matches no known PANN rate")


def build_pann(name: str, sample_rate: int, checkpoint, random_init, trust, conf: PannConf, load):
    with torch.random.fork_rng():
        torch.manual_seed(conf.seed)
        model = PannCnn14(name, sample_rate)
    if checkpoint is None:
        return mark_random_init(model)
    obj, path = load(checkpoint, trust)
    state = state_dict_of(obj, path, "model")
    rate = pann_rate_of(state, path)
    if rate != sample_rate:
        other = [n for n, r in (("pann_cnn14", 32000), ("pann_cnn14_16k", 16000)) if r == rate]
        raise CheckpointError(
            f"{path}: this is a {rate} Hz Cnn14 checkpoint (STFT kernel shape), but encoder "
            f"{name!r} runs at {sample_rate} Hz; use --encoder {other[0]}"
        )
    load_strict(model, state, path, name)
    return model
