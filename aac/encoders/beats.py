"""BEATs (Chen et al. 2023) as a frame-feature encoder (`beats`).

Checkpoints `BEATs_iter3_plus_AS2M.pt` / `..._finetuned_on_AS2M_cpt1.pt` are
`{"cfg": dict, "model": state_dict}`; the model is built from `cfg` (never from constants
here, which only serve --random-init). The module names mirror the official state dict:
`patch_embedding`, `layer_norm`, `post_extract_proj`, `encoder.pos_conv.0.weight_{g,v}`,
`encoder.layers.N.self_attn.*`, `predictor` (fine-tuned only). Newer PyTorch saves the
weight-normed conv as `parametrizations.weight.original{0,1}`: both spellings load.
The relative-position table is shared by all layers and stored once per layer. cfg values
this module cannot follow (activation_fn "glu", deep_norm with layer_norm_first) are
refused. Frames equal an independent port of the official code to float tolerance
(tests/test_encoders_beats_reference.py).

Frontend: kaldi fbank through torchaudio (128 bins, 25/10 ms, waveform x 2^15), then
(fbank - 15.41663) / (2 x 6.55582), always in float32 (values overflow float16).
Tokens: 16x16 patches of (time, mel), 8 per 160 ms, time-major order as the official
`extract_features` returns them: (B, 8 T', 768) at 50 tokens/s; with `freq_pool: true`
the 8 frequency tokens of a time step are averaged: (B, T', 768) at 6.25 Hz.

Padding: with `padding: group` (default) clips of different lengths are run in
equal-length groups, which is exact. With `padding: mask` a padded batch runs at once
with a token padding mask by whole time patches (zeroed before the positional
convolution, -inf in attention); valid tokens then equal one-clip-at-a-time outputs to
float tolerance (tested). This differs from the official padding-mask path, which maps
the sample mask onto tokens as if they were a plain time sequence (ignoring the 8
frequency tokens per step), so a partial last patch is half masked: see
`aac.testing.official_token_mask`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from aac.checkpoint_io import CheckpointError
from aac.config import choice
from aac.encoders.base import AudioEncoder, mark_random_init
from aac.encoders.state_dict import load_strict, state_dict_of

FBANK_MEAN, FBANK_STD = 15.41663, 6.55582
# BEATsConfig defaults, overridden by ckpt["cfg"]; the iter3 values only for random init.
CFG_DEFAULTS = dict(
    input_patch_size=16,
    embed_dim=512,
    conv_bias=False,
    encoder_layers=12,
    encoder_embed_dim=768,
    encoder_ffn_embed_dim=3072,
    encoder_attention_heads=12,
    activation_fn="gelu",
    layer_norm_first=False,
    deep_norm=False,
    conv_pos=128,
    conv_pos_groups=16,
    relative_position_embedding=False,
    num_buckets=320,
    max_distance=1280,
    gru_rel_pos=False,
    finetuned_model=False,
    predictor_class=527,
)
ITER3_CFG = dict(
    deep_norm=True, relative_position_embedding=True, max_distance=800, gru_rel_pos=True
)


def _gelu(x):
    return F.gelu(x.float()).type_as(x)  # in float32, as the official code does


def _gelu_accurate(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


# cfg["activation_fn"] of the FFN, as the official get_activation_fn defines them. "glu"
# is left out: it makes fc1 a gated layer with other weights; no released checkpoint uses it.
ACTIVATIONS = {
    "gelu": _gelu,
    "gelu_accurate": _gelu_accurate,
    "relu": F.relu,
    "tanh": torch.tanh,
    "linear": torch.nn.Identity(),
}
ACTIVATIONS["gelu_fast"] = ACTIVATIONS["gelu_accurate"]  # old official alias

PADDINGS = ("group", "mask")  # how a batch of clips of different lengths runs


@dataclass
class BeatsConf:
    freq_pool: bool = False  # average the 8 frequency tokens of each time step
    padding: str = choice("group", PADDINGS)  # group: exact, equal-length groups; mask: one batch
    seed: int = 0


class _WeightNormConv(nn.Module):
    """Conv1d with weight norm over dim 2 (legacy `weight_g`/`weight_v` names)."""

    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.groups, self.kernel = groups, kernel
        self.bias = nn.Parameter(torch.zeros(dim))
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(dim, dim // groups, kernel) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        # the norm over (out, in) per tap, as a sum over a (out*in, K) view: torch's
        # norm over dims (0, 1) takes 8x longer for the same figure
        norm = self.weight_v.reshape(-1, self.kernel).square().sum(0).sqrt().view(1, 1, -1)
        weight = self.weight_v * (self.weight_g / norm)
        x = F.conv1d(x, weight, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            x = x[:, :, :-1]  # keep T frames for an even kernel
        return F.gelu(x)


class _Attention(nn.Module):
    def __init__(self, cfg: dict, table: Optional[nn.Embedding]):
        super().__init__()
        dim, heads = cfg["encoder_embed_dim"], cfg["encoder_attention_heads"]
        self.heads, self.head_dim = heads, dim // heads
        self.scaling = self.head_dim**-0.5
        self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.q_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        if table is not None:
            self.relative_attention_bias = table  # one module shared by every layer
        self.gru_rel_pos = cfg["gru_rel_pos"]
        if self.gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def forward(self, x, pos_bias, key_mask):  # x (B, T, C), pos_bias (H, T, T), key_mask (B, T)
        # The official code scales q by 1/32, subtracts the row maximum and scales logits
        # back up to stay in fp16 range; softmax is invariant to both, so one fused
        # scaled_dot_product_attention computes the same thing (to float rounding) without
        # five passes over the (B, H, T, T) logits.
        b, t, c = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)
        k = self.k_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        bias = None
        if pos_bias is not None:
            bias = pos_bias[None]  # (1, H, T, T)
            if self.gru_rel_pos:  # gates from the unscaled query
                gates = torch.sigmoid(self.grep_linear(q).view(b, self.heads, t, 2, 4).sum(-1))
                gate_a, gate_b = gates.chunk(2, dim=-1)  # (B, H, T, 1) each
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
            bias = bias.to(q.dtype)
        if key_mask is not None:
            pad = torch.zeros(b, 1, 1, t, dtype=q.dtype, device=q.device)
            pad = pad.masked_fill(key_mask[:, None, None, :], float("-inf"))  # (B, 1, 1, T)
            bias = pad if bias is None else bias + pad
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scaling)
        return self.out_proj(attn.transpose(1, 2).reshape(b, t, c))  # (B, T, C)


class _Layer(nn.Module):
    def __init__(self, cfg: dict, table: Optional[nn.Embedding]):
        super().__init__()
        dim = cfg["encoder_embed_dim"]
        self.self_attn = _Attention(cfg, table)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, cfg["encoder_ffn_embed_dim"])
        self.fc2 = nn.Linear(cfg["encoder_ffn_embed_dim"], dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.activation_fn = cfg["activation_fn"]  # a name, so the module stays picklable
        self.pre_norm = cfg["layer_norm_first"]
        self.alpha = math.pow(2 * cfg["encoder_layers"], 0.25) if cfg["deep_norm"] else 1.0

    def _ffn(self, x):
        return self.fc2(ACTIVATIONS[self.activation_fn](self.fc1(x)))

    def forward(self, x, pos_bias, key_mask):
        if self.pre_norm:
            x = x + self.self_attn(self.self_attn_layer_norm(x), pos_bias, key_mask)
            return x + self._ffn(self.final_layer_norm(x))
        x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, pos_bias, key_mask))
        return self.final_layer_norm(x * self.alpha + self._ffn(x))


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5-style bidirectional bucket of (key - query) for all pairs: long (T, T)."""
    pos = torch.arange(length)
    rel = pos[None, :] - pos[:, None]
    half = num_buckets // 2
    buckets = (rel > 0).long() * half
    rel = rel.abs()
    exact = half // 2
    far = (
        exact
        + (
            torch.log(rel.float().clamp(min=1) / exact)
            / math.log(max_distance / exact)
            * (half - exact)
        ).long()
    )
    far = far.clamp(max=half - 1)
    return buckets + torch.where(rel < exact, rel, far)


class _Encoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        dim = cfg["encoder_embed_dim"]
        self.cfg = cfg
        self.pos_conv = nn.Sequential(_WeightNormConv(dim, cfg["conv_pos"], cfg["conv_pos_groups"]))
        table = None
        if cfg["relative_position_embedding"]:
            table = nn.Embedding(cfg["num_buckets"], cfg["encoder_attention_heads"])
        self.layers = nn.ModuleList(_Layer(cfg, table) for _ in range(cfg["encoder_layers"]))
        self.layer_norm = nn.LayerNorm(dim)

    def forward(self, x, key_mask=None):  # (B, T, C)
        if key_mask is not None:
            x = x.masked_fill(key_mask[..., None], 0.0)
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        if not self.cfg["layer_norm_first"]:
            x = self.layer_norm(x)
        pos_bias = None
        if self.cfg["relative_position_embedding"]:
            buckets = relative_buckets(
                x.shape[1], self.cfg["num_buckets"], self.cfg["max_distance"]
            )
            table = self.layers[0].self_attn.relative_attention_bias
            pos_bias = table(buckets.to(x.device)).permute(2, 0, 1)  # (H, T, T)
        for layer in self.layers:
            x = layer(x, pos_bias, key_mask)
        return self.layer_norm(x) if self.cfg["layer_norm_first"] else x


class Beats(AudioEncoder):
    name = "beats"
    sample_rate = 16000
    min_samples = 400 + 15 * 160  # 16 fbank frames make one patch
    has_weights = True
    pretraining = "masked audio-token prediction"
    # Attention over the whole clip: no finite context makes chunks exact, so chunks are
    # independent windows (see aac.encoders.chunking).
    chunk_context = 0
    # CPU (2 cores): 0.356 s per 10 s clip in pairs, 0.410 s in calls of 8 (the attention
    # bias is 12 MB per clip). CUDA: not measured, so calls are not split.
    clips_per_call = {"cpu": 2, "cuda": None}

    def __init__(self, cfg: dict, conf: BeatsConf):
        super().__init__()
        if conf.padding not in PADDINGS:  # a BeatsConf built in code skips build()'s check
            raise ValueError(f"beats: padding must be one of {PADDINGS}, got {conf.padding!r}")
        self.cfg, self.conf = cfg, conf
        patch, embed, dim = cfg["input_patch_size"], cfg["embed_dim"], cfg["encoder_embed_dim"]
        self.patch = patch
        self.freq_tokens = 128 // patch
        self.frame_rate = 100.0 / patch * (1 if conf.freq_pool else self.freq_tokens)
        self.output_dim = dim
        self.post_extract_proj = nn.Linear(embed, dim) if embed != dim else None
        self.patch_embedding = nn.Conv2d(1, embed, patch, stride=patch, bias=cfg["conv_bias"])
        self.encoder = _Encoder(cfg)
        self.layer_norm = nn.LayerNorm(embed)
        if cfg["finetuned_model"]:  # AudioSet classifier: loaded, not used for frames
            self.predictor = nn.Linear(dim, cfg["predictor_class"])

    @property
    def frames_per_step(self) -> int:
        """Output frames per 16-frame patch: its 8 frequency tokens, or 1 when pooled."""
        return 1 if self.conf.freq_pool else self.freq_tokens

    @classmethod
    def pretraining_tasks(cls, checkpoint: str = "") -> str:
        """The fine-tuned checkpoints (`..._finetuned_on_AS2M...`) also did AudioSet tagging."""
        name = os.path.basename(checkpoint).lower()
        tuned = "finetuned" in name or "fine_tuned" in name
        return cls.pretraining + (" + AudioSet tagging" if tuned else "")

    def fbank_frames(self, num_samples: int) -> int:
        return 1 + (max(num_samples, self.min_samples) - 400) // 160

    def num_frames(self, num_samples: int) -> int:
        steps = self.fbank_frames(num_samples) // self.patch
        return steps if self.conf.freq_pool else steps * self.freq_tokens

    def fbank(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) -> normalised kaldi fbank (B, frames, 128), float32 whatever autocast says."""
        import torchaudio.compliance.kaldi as kaldi

        with torch.autocast(wave.device.type, enabled=False):
            banks = [
                kaldi.fbank(
                    w[None].float() * 2**15,
                    num_mel_bins=128,
                    sample_frequency=16000,
                    frame_length=25,
                    frame_shift=10,
                )
                for w in wave
            ]
            return (torch.stack(banks) - FBANK_MEAN) / (2 * FBANK_STD)

    def tokens(self, fbank: torch.Tensor, key_mask=None) -> torch.Tensor:
        """(B, frames, 128) -> (B, 8 T', C) in time-major token order."""
        x = self.patch_embedding(
            fbank[:, None].to(self.patch_embedding.weight.dtype)
        )  # (B, E, T', 8)
        x = self.layer_norm(x.flatten(2).transpose(1, 2))  # (B, 8 T', E)
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        return self.encoder(x, key_mask)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if not self.conf.freq_pool:
            return x
        b, n, c = x.shape
        return x.view(b, n // self.freq_tokens, self.freq_tokens, c).mean(2)  # (B, T', C)

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        return self._pool(self.tokens(self.fbank(wave)))

    def forward(self, wave, wave_lengths=None):
        if self.conf.padding == "group" or wave_lengths is None:
            return super().forward(wave, wave_lengths)
        wave, lengths = self.pad_short(wave, wave_lengths.to("cpu", torch.long))
        steps = torch.tensor([self.fbank_frames(int(n)) // self.patch for n in lengths])
        fbank = self.fbank(wave)
        fbank = fbank[:, : fbank.shape[1] // self.patch * self.patch]
        total = fbank.shape[1] // self.patch
        pad_steps = torch.arange(total)[None, :] >= steps[:, None]  # (B, T')
        key_mask = pad_steps.repeat_interleave(self.freq_tokens, dim=1).to(wave.device)
        x = self._pool(self.tokens(fbank, key_mask))
        per_step = 1 if self.conf.freq_pool else self.freq_tokens
        out_lengths = steps * per_step
        keep = torch.arange(x.shape[1])[None, :] < out_lengths[:, None]
        return x * keep[..., None].to(x), out_lengths


def normalise_beats_state(state: dict, cfg: dict, path: str) -> dict:
    """Map new weight-norm names to legacy ones; fill the per-layer shared position table."""
    out = {}
    for key, value in state.items():
        key = key.replace("pos_conv.0.parametrizations.weight.original0", "pos_conv.0.weight_g")
        key = key.replace("pos_conv.0.parametrizations.weight.original1", "pos_conv.0.weight_v")
        out[key] = value
    if cfg["relative_position_embedding"]:
        first = "encoder.layers.0.self_attn.relative_attention_bias.weight"
        if first not in out:
            raise CheckpointError(f"{path}: not a beats checkpoint: key {first!r} is missing")
        for i in range(1, cfg["encoder_layers"]):
            out.setdefault(
                f"encoder.layers.{i}.self_attn.relative_attention_bias.weight", out[first]
            )
    return out


def check_cfg(cfg: dict, path: str) -> None:
    """Refuse cfg values this module would otherwise run differently from the official code."""
    if cfg["activation_fn"] not in ACTIVATIONS:
        raise CheckpointError(
            f"{path}: cfg activation_fn={cfg['activation_fn']!r} is not supported "
            f"(known: {', '.join(ACTIVATIONS)})"
        )
    if cfg["deep_norm"] and cfg["layer_norm_first"]:
        raise CheckpointError(
            f"{path}: cfg sets both deep_norm and layer_norm_first; BEATs allows one"
        )


def build_beats(checkpoint, random_init, trust, conf: BeatsConf, load):
    cfg, state, path = dict(CFG_DEFAULTS), None, None
    if checkpoint is None:
        cfg.update(ITER3_CFG)
    else:
        obj, path = load(checkpoint, trust)
        if not isinstance(obj, dict) or not isinstance(obj.get("cfg"), dict):
            raise CheckpointError(
                f"{path}: not a BEATs checkpoint: no 'cfg' dict (keys: {sorted(obj)[:5] if isinstance(obj, dict) else type(obj).__name__})"
            )
        cfg.update(obj["cfg"])  # unknown training-only keys (dropouts, ...) are harmless
        check_cfg(cfg, path)
        state = normalise_beats_state(state_dict_of(obj, path, "model"), cfg, path)
    with torch.random.fork_rng():
        torch.manual_seed(conf.seed)
        model = Beats(cfg, conf)
    if state is None:
        return mark_random_init(model)
    load_strict(model, state, path, model.name)
    return model
