"""The one captioning path: audio -> encoder -> frame strides -> beam search -> text.

    engine = CaptionEngine.from_loaded(load_model_from_expdir("exp/x"), encoder, beam=4)
    captions = engine.run(durations, batch_size=32, load=read_batch, source="audio")

Every caller goes through here: stage 6 decoding (from cached features or from audio),
training validation, the `Captioner` API and the benchmark. What each step does:
  encode_waves       mono waves -> encoder -> extraction stride: what the feature cache holds
  generate_captions  cache-level frames -> `downsample` stride (config.yaml) -> padded frames
                     masked -> beam search (the package's only call of HF `generate`) -> text;
                     with a reranker (aac.rerank, off by default): N candidates per clip
                     (beam hypotheses or nucleus samples), the best combined score kept
  CaptionEngine.run  clips grouped in length-sorted batches (longest first, ties by id),
                     loading untimed, encode + generate timed per batch; one grad mode
                     (inference_mode) and one autocast rule for all callers
Padded frames never reach a clip's result: the encoder runs each length on its own
(aac.encoders.base) and cross-attention masks padding, so batched captions equal
one-at-a-time captions up to last-bit rounding of matrix products on near ties.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Callable, Dict, Hashable, List, Optional, Sequence

import numpy as np
import torch

from aac.config import COMPUTE_DTYPES
from aac.feature_info import extract_stride as extract_stride_of
from aac.frames import stride_frames
from aac.model import beam_shared_attention
from aac.prepack import prepack_linears
from aac.rerank import Reranker, search_kwargs, seeded

EMPTY_CAPTION = "<empty>"  # Kaldi text needs a non-empty value
DTYPES = dict(zip(COMPUTE_DTYPES, (None, torch.bfloat16)))  # name -> autocast dtype


def build_encoder_from_info(
    encoder_info: dict, device: str = "cpu", checkpoint=None, trust: bool = False
):
    """The frozen encoder the experiment's features came from (`encoder:` of config.yaml).

    `checkpoint` overrides the recorded path (the Captioner verifies it by SHA-256 first).
    """
    from aac.config import ConfigError
    from aac.encoders import build_encoder

    if not encoder_info.get("name"):
        raise ConfigError("the experiment config has no encoder name; decode from features")
    encoder = build_encoder(
        encoder_info["name"],
        checkpoint=checkpoint or encoder_info.get("checkpoint") or None,
        random_init=bool(encoder_info.get("random_init")),
        trust_checkpoint=trust,
        conf=encoder_info.get("conf") or None,
    )
    return encoder.to(device).eval()


def _pad(arrays: Sequence, device) -> tuple:
    """List of (T_i, ...) arrays -> zero-padded (B, T, ...) float32 tensor and lengths (B,)."""
    tensors = [torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in arrays]
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True).to(device), lengths


@torch.inference_mode()
def encode_waves(
    encoder,
    waves: Sequence,
    extract_stride: int = 1,
    device: str = "cpu",
    chunk_seconds: Optional[float] = None,
):
    """Mono waves (T_i,) at encoder.sample_rate -> cache-level frames (B, T', D), lengths (B,).

    The one place audio becomes features when captioning: exactly what the feature cache
    would hold for these clips (the encoder, long clips in chunks of `chunk_seconds` as the
    cache recorded, then the cache's extraction stride). Chunking keeps memory flat in clip
    length (aac.encoders.chunking).
    """
    from aac.encoders.chunking import encode_chunked

    batch, lengths = _pad(waves, device)  # (B, samples), (B,)
    feats, feat_lengths = encode_chunked(encoder, batch, lengths, chunk_seconds)  # (B, T, D)
    return stride_frames(feats, feat_lengths, extract_stride)


@torch.inference_mode()
def generate_captions(
    model,
    tokenizer,
    feats: torch.Tensor,
    lengths,
    beam: int = 4,
    max_length: Optional[int] = None,
    stride: int = 1,
    reranker: Optional[Reranker] = None,
    waves: Optional[Sequence] = None,
) -> List[str]:
    """Cache-level frames (B, T, D) with lengths (B,) -> one caption per clip.

    Applies the model's frame stride (`downsample` of config.yaml) first; padded frames
    are masked. This holds the package's only call of HF `generate`. With a `reranker`
    whose candidates are on, N candidates per clip are generated and the reranker picks
    one (aac.rerank); `waves` are the clips' audio for a scorer that needs it.
    """
    device = next(model.parameters()).device
    feats, lengths = stride_frames(feats.to(device), torch.as_tensor(lengths).to(device), stride)
    mask = torch.arange(feats.size(1), device=device)[None, :] < lengths[:, None]  # (B, T)
    active = reranker is not None and reranker.conf.active
    search = search_kwargs(reranker.conf.candidates, beam) if active else {"num_beams": beam}
    draws = seeded(reranker.conf.candidates.seed, device) if active else nullcontext()
    with beam_shared_attention(model.bart), draws:  # cross-attention keys/values once per clip
        inputs = model.generation_inputs(feats, mask, max_length=max_length, **search)
        ids = model.bart.generate(**inputs)  # (B*N, L): a clip's candidates in a row
    texts = [tokenizer.decode(row.tolist()) or EMPTY_CAPTION for row in ids]
    if not active:
        return texts
    best = reranker.choose(model, feats, mask, ids, texts, waves)
    per_clip = len(texts) // len(best)
    return [texts[b * per_clip + i] for b, i in enumerate(best)]


def length_sorted_batches(lengths: Dict[Hashable, float], batch_size: int) -> List[list]:
    """Keys grouped into batches of similar length (longest first), ties by key."""
    order = sorted(lengths, key=lambda k: (-lengths[k], k))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class CaptionEngine:
    """A caption model with its decoding settings, and the encoder when captioning audio.

    `prepack=True` (callers that own an inference-only model: the Captioner, aac-decode,
    the paper RTF) packs the model's and encoder's Linear weights for oneDNN in place
    (aac.prepack; CPU, eval mode); training validation leaves its live model alone.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        encoder=None,
        extract_stride: int = 1,
        stride: int = 1,
        beam: int = 4,
        max_length: Optional[int] = None,
        dtype: str = "float32",
        chunk_seconds: Optional[float] = None,
        reranker: Optional[Reranker] = None,
        prepack: bool = False,
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.model, self.tokenizer, self.encoder = model, tokenizer, encoder
        if prepack:  # inference-only callers: Linear weights packed once for oneDNN (CPU)
            for module in (model, encoder):
                if module is not None:
                    prepack_linears(module)
        self.extract_stride, self.stride = int(extract_stride), int(stride)
        self.beam, self.max_length, self.dtype = beam, max_length, dtype
        self.chunk_seconds, self.reranker = chunk_seconds, reranker

    @classmethod
    def from_loaded(cls, loaded, encoder=None, stride: Optional[int] = None, **kwargs):
        """From `aac.expdir.load_model_from_expdir`: strides as the experiment recorded them."""
        return cls(
            loaded.model,
            loaded.tokenizer,
            encoder=encoder,
            extract_stride=extract_stride_of(loaded.encoder_info),
            stride=stride or loaded.downsample,
            chunk_seconds=loaded.encoder_info.get("chunk_seconds"),
            **kwargs,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _autocast(self):
        dt = DTYPES[self.dtype]
        return nullcontext() if dt is None else torch.autocast(self.device.type, dtype=dt)

    def encode(self, waves: Sequence):
        """Mono waves at the encoder's rate -> cache-level frames (B, T', D), lengths (B,)."""
        if self.encoder is None:
            raise ValueError("this caption engine has no encoder; caption features instead")
        with self._autocast():
            feats, lengths = encode_waves(
                self.encoder, waves, self.extract_stride, self.device, self.chunk_seconds
            )
        return feats.float(), lengths

    def caption_features(self, feats: torch.Tensor, lengths, waves=None) -> List[str]:
        """`waves`: the clips' audio at the reranker scorer's rate, when it needs audio."""
        with self._autocast():
            return generate_captions(
                self.model,
                self.tokenizer,
                feats,
                lengths,
                self.beam,
                self.max_length,
                self.stride,
                self.reranker,
                waves,
            )

    def _scorer_waves(self, keys, inputs, source: str, load_waves) -> Optional[Sequence]:
        """The batch's audio for a reranker scorer that needs it (untimed, as all reading)."""
        if self.reranker is None or not self.reranker.needs_waves:
            return None
        if load_waves is not None:
            return load_waves(keys)
        rate = self.reranker.scorer.sample_rate
        if source == "audio" and self.encoder is not None:  # waves at the encoder's rate
            from aac.audio import resample

            return [resample(np.asarray(w), self.encoder.sample_rate, rate) for w in inputs]
        raise ValueError(
            f"the reranker's scorer needs the clips' audio at {rate} Hz: pass load_waves"
        )

    def run(
        self,
        lengths: Dict[Hashable, float],
        batch_size: int,
        load: Callable[[list], Sequence],
        source: str,
        timer: Optional[Callable[[list, float, float], None]] = None,
        load_waves: Optional[Callable[[list], Sequence]] = None,
    ) -> Dict[Hashable, str]:
        """Captions for every key of `lengths` (seconds or frames: they only order batches).

        `load(keys)` returns the batch's inputs, untimed: mono waves (source="audio") or
        cache-level frames (T, D) (source="features"). `timer(keys, encode_s, generate_s)`
        is called per batch; CUDA work is synchronised before each clock reading.
        `load_waves(keys)`: mono waves at the reranker scorer's rate, for a scorer that
        embeds audio itself (ATCL); untimed like `load`.
        """
        if source not in ("audio", "features"):
            raise ValueError(f"source must be audio or features, got {source!r}")
        captions = {}
        for keys in length_sorted_batches(lengths, batch_size):
            inputs = load(keys)
            waves = self._scorer_waves(keys, inputs, source, load_waves)
            if source == "features":
                feats, feat_lengths = _pad(inputs, self.device)  # (B, T, D), (B,)
            _sync(self.device)
            start = time.perf_counter()
            if source == "audio":
                feats, feat_lengths = self.encode(inputs)
            _sync(self.device)
            encoded = time.perf_counter()
            batch_captions = self.caption_features(feats, feat_lengths, waves)
            _sync(self.device)
            if timer is not None:
                timer(keys, encoded - start, time.perf_counter() - encoded)
            captions.update(zip(keys, batch_captions))
        return captions
