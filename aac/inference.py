"""Rebuild a trained caption model from its experiment directory alone, and caption features.

Stable API (used by `aac-decode` and the `Captioner`):

    loaded = load_model_from_expdir("exp/clotho_ft", checkpoint="best", device="cpu")
    captions = generate_captions(loaded, feats, feat_lengths, beam=4)

`feats` (B, T, D) are frame features exactly as the feature cache stores them (encoder
output after the cache's own downsampling); `generate_captions` applies the training-time
frame striding (`config.yaml: downsample`) itself unless told otherwise. Padded frames
(beyond `feat_lengths`) are masked, so batched results equal one-at-a-time results.
`loaded.encoder_info` names the encoder, checkpoint and rates the features came from.
"""

from __future__ import annotations

import json

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch

from aac.config import build, load_yaml
from aac.dataset import lengths_to_mask
from aac.model import CaptionModel
from aac.tokenizer import CaptionTokenizer
from aac.checkpoint_io import load_checkpoint
from aac.train.conf import TrainConf

ENCODER_INFO_KEYS = ("name", "checkpoint", "checkpoint_sha256", "random_init",
                     "sample_rate", "frame_rate", "downsample")
EMPTY_CAPTION = "<empty>"  # Kaldi text needs a non-empty value


@dataclass
class LoadedModel:
    model: CaptionModel
    tokenizer: CaptionTokenizer
    config: dict  # the experiment's resolved config.yaml
    encoder_info: dict  # name, checkpoint, checkpoint_sha256, random_init, rates, downsample
    device: str = "cpu"

    @property
    def downsample(self) -> int:
        """Training-time frame striding applied on top of the cached features."""
        return int(self.config.get("downsample", 1))


def encoder_info_from_attrs(attrs: dict) -> dict:
    """Feature-cache attributes -> the `encoder:` block stored in config.yaml."""
    info = {key: attrs.get(key) for key in ENCODER_INFO_KEYS}
    info["name"] = attrs.get("encoder", attrs.get("name"))
    info["dim"] = attrs.get("dim")
    # The options the features were extracted with (e.g. BEATs freq_pool): decoding from
    # audio must rebuild the very same encoder.
    info["conf"] = json.loads(attrs.get("encoder_conf") or "{}")
    return info


def resolve_checkpoint(exp_dir: Path, checkpoint: str) -> Path:
    if checkpoint == "best":
        return exp_dir / "best.pt"
    if checkpoint == "last":
        return exp_dir / "checkpoints" / "last.pt"
    return Path(checkpoint)


def load_model_from_expdir(exp_dir: str | os.PathLike, checkpoint: str = "best",
                           device: str = "cpu", trust: bool = False) -> LoadedModel:
    """Model + tokenizer + config from exp_dir/{config.yaml,tokenizer.model,best.pt}.

    `checkpoint`: "best", "last" or a path to any checkpoint holding a "model" state dict.
    `trust`: allow full unpickling of that checkpoint (--trust-checkpoint).
    """
    exp_dir = Path(exp_dir)
    conf_path = exp_dir / "config.yaml"
    conf = build(TrainConf, load_yaml(conf_path), str(conf_path))
    if conf.enc_dim <= 0:
        raise ValueError(f"{conf_path}: enc_dim missing; was this written by aac-train?")
    tokenizer = CaptionTokenizer(exp_dir / "tokenizer.model")
    model = CaptionModel(conf.enc_dim, tokenizer.vocab_size, conf.model,
                         tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)
    ckpt_path = resolve_checkpoint(exp_dir, checkpoint)
    state = load_checkpoint(ckpt_path, trust=trust)
    if "model" not in state:
        raise ValueError(f"{ckpt_path}: no 'model' weights in this checkpoint")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ValueError(f"{ckpt_path}: weights do not fit {conf_path}: {e}") from None
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, config=load_yaml(conf_path),
                       encoder_info=dict(conf.encoder), device=device)


def stride_frames(feats: torch.Tensor, lengths: torch.Tensor, k: int):
    """Frame striding: (B, T, D), (B,) -> (B, ceil(T/k), D), ceil(len/k)."""
    if k == 1:
        return feats, lengths
    return feats[:, ::k], (lengths + k - 1) // k


@torch.no_grad()
def decode_batch(model: CaptionModel, tokenizer: CaptionTokenizer, feats: torch.Tensor,
                 lengths: torch.Tensor, beam: int = 4, max_length: Optional[int] = None) -> List[str]:
    """Captions for already-strided features (B, T, D) with lengths (B,)."""
    device = next(model.parameters()).device
    feats, lengths = feats.to(device), lengths.to(device)
    mask = lengths_to_mask(lengths, feats.size(1))  # (B, T)
    ids = model.generate(feats, mask, num_beams=beam, max_length=max_length)  # (B, L)
    return [tokenizer.decode(row.tolist()) or EMPTY_CAPTION for row in ids]


def generate_captions(loaded: LoadedModel, feats: torch.Tensor, feat_lengths: torch.Tensor,
                      beam: int = 4, max_length: Optional[int] = None,
                      downsample: Optional[int] = None) -> List[str]:
    """Captions for cache-level features (B, T, D) with lengths (B,); one string per clip."""
    k = loaded.downsample if downsample is None else downsample
    feats, feat_lengths = stride_frames(feats, torch.as_tensor(feat_lengths), k)
    return decode_batch(loaded.model, loaded.tokenizer, feats, feat_lengths, beam, max_length)


def build_encoder_from_info(encoder_info: dict, device: str = "cpu", trust: bool = False):
    """The frozen audio encoder the features of this experiment came from."""
    from aac.encoders import build_encoder

    if not encoder_info.get("name"):
        raise ValueError("the experiment config has no encoder name; decode from features")
    encoder = build_encoder(encoder_info["name"], checkpoint=encoder_info.get("checkpoint") or None,
                            random_init=bool(encoder_info.get("random_init")),
                            conf=encoder_info.get("conf") or None, trust_checkpoint=trust)
    return encoder.to(device).eval()


@torch.no_grad()
def encode_waves(loaded: LoadedModel, encoder, waves: List[torch.Tensor]):
    """Mono waves at encoder.sample_rate -> cache-level features (B, T, D) and lengths (B,)."""
    from aac.encoders import downsample_frames

    lengths = torch.tensor([len(w) for w in waves], device=loaded.device)
    batch = torch.zeros(len(waves), int(lengths.max()), device=loaded.device)  # (B, samples)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w.to(loaded.device)
    feats, feat_lengths = encoder(batch, lengths)  # (B, T, D), (B,)
    k = int(loaded.encoder_info.get("downsample") or 1)
    if k > 1:  # the cache was written after this downsampling; reproduce it
        feats, feat_lengths = downsample_frames(feats, feat_lengths, k)
    return feats, feat_lengths
